/**
 * Core's training loop with dynamic loss scaling on a mixed-precision ONNX model: skipped
 * updates, scale growth, and a resume that continues with the saved scale.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import {
  CheckpointStore,
  createRecordingLogger,
  makeBatch,
  ParallelModel,
  Random,
  silentLogger,
  train,
  trainerSchema,
  type PreparedSplit,
  type ResolvedTrainerConfig,
  type TrainingProgress,
  type TrainOptions,
} from '@ft/core';
import { describe, expect, it } from 'vitest';

import { OnnxModel } from '../src/model/onnx-model.js';
import { DEFAULT_SESSION_SETTINGS } from '../src/runtime/session.js';
import { mixedPrecisionBatch, mixedPrecisionDescription } from './mixed-precision-fixtures.js';

/** Concatenates the four-row batches `offsets` into one split. */
function split(name: 'training' | 'validation', offsets: readonly number[]): PreparedSplit {
  const batches = offsets.map((offset) => mixedPrecisionBatch(offset));
  const join = <T extends Float32Array | Int32Array>(parts: T[], make: (length: number) => T): T => {
    const joined = make(parts.reduce((length, part) => length + part.length, 0));
    let offset = 0;
    for (const part of parts) {
      joined.set(part, offset);
      offset += part.length;
    }
    return joined;
  };
  const text = batches.map((batch) => batch.inputs.text!) as Extract<PreparedSplit['inputs'][string], { kind: 'text' }>[];
  const numbers = batches.map((batch) => batch.inputs.x!) as Extract<PreparedSplit['inputs'][string], { kind: 'number' }>[];
  const labels = batches.map((batch) => batch.targets.label!) as Extract<PreparedSplit['targets'][string], { kind: 'category' }>[];
  return {
    split: name,
    rows: batches.length * 4,
    inputs: {
      text: {
        kind: 'text',
        ids: join(text.map((part) => part.ids), (length) => new Int32Array(length)),
        attentionMask: join(text.map((part) => part.attentionMask), (length) => new Int32Array(length)),
        sequenceLength: 6,
      },
      x: { kind: 'number', values: join(numbers.map((part) => part.values), (length) => new Float32Array(length)) },
    },
    targets: { label: { kind: 'category', indices: join(labels.map((part) => part.indices), (length) => new Int32Array(length)) } },
  };
}

function trainerConfig(accumulation = 1): ResolvedTrainerConfig {
  const parsed = trainerSchema.parse({ epochs: 6, batch_size: 4, learning_rate: 1e-3, steps_per_checkpoint: 4, use_mixed_precision: true });
  return { ...parsed, batch_size: 4, gradient_accumulation_steps: accumulation, eval_batch_size: 8, effective_batch_size: 4 * accumulation };
}

/** A start far above float16's range, so the first updates overflow, and a short growth interval, so the scale also grows. */
const LOSS_SCALING = { initialScale: 2 ** 20, growthInterval: 3 };

async function run(overrides: Partial<TrainOptions> = {}) {
  const model = await OnnxModel.build(mixedPrecisionDescription(true), DEFAULT_SESSION_SETTINGS);
  try {
    return await train({
      trainer: trainerConfig(),
      baseLearningRate: 1e-3,
      model,
      outputs: mixedPrecisionDescription(true).outputs,
      metricSettings: { label: { topK: 3, threshold: 0.5, toColumnUnits: (value) => value } },
      training: split('training', [0, 1, 2, 3]),
      validation: split('validation', [7, 8]),
      test: null,
      validationTarget: { field: 'label', metric: 'loss', goal: 'min' },
      random: new Random(5),
      logger: silentLogger,
      lossScaling: LOSS_SCALING,
      ...overrides,
    });
  } finally {
    model.dispose();
  }
}

describe('training with dynamic loss scaling', () => {
  it('backs off, then grows the scale', async () => {
    const result = await run();
    const { skippedUpdates, scale } = result.lossScale!;
    expect(result.stopReason).toBe('completed');
    expect(skippedUpdates).toBeGreaterThan(0);
    expect(skippedUpdates).toBeLessThan(result.plan.totalSteps);

    // Each skip halves the scale and each run of 3 clean updates doubles it, so a final scale
    // above 2^(20 − skips) means it grew again after skips.
    expect(Number.isInteger(Math.log2(scale))).toBe(true);
    expect(Math.log2(scale)).toBeGreaterThan(20 - skippedUpdates);

    // Training still learns: the validation loss falls.
    const losses = result.statistics.validation.label!.loss!;
    expect(losses.at(-1)!).toBeLessThan(losses[0]!);
  });

  it('checks accumulated gradients once per update', async () => {
    const result = await run({ trainer: trainerConfig(2) });
    expect(result.stopReason).toBe('completed');
    expect(result.plan.totalUpdates).toBe(12);
    // Both batches of an update use the same scale, so a skip costs one update, not one batch.
    expect(result.lossScale!.skippedUpdates).toBeGreaterThan(0);
    expect(result.lossScale!.skippedUpdates).toBeLessThan(12);
  });

  it('resumes with the saved scale', async () => {
    const uninterrupted = await run({ checkpoints: new CheckpointStore<TrainingProgress>(await mkdtemp(path.join(tmpdir(), 'ft-amp-a-'))) });

    const store = new CheckpointStore<TrainingProgress>(await mkdtemp(path.join(tmpdir(), 'ft-amp-b-')));
    const controller = new AbortController();
    const interrupted = await run({
      checkpoints: store,
      signal: controller.signal,
      callbacks: { onStep: (event) => (event.step === 6 ? controller.abort() : undefined) },
    });
    expect(interrupted.stopReason).toBe('interrupted');
    const latest = (await store.read('latest'))!;
    expect(latest.progress.step).toBe(6);
    expect(latest.progress.lossScale!.scale).toBeLessThan(2 ** 20);
    expect(latest.progress.lossScale!.skippedUpdates).toBeGreaterThan(0);

    const resumed = await run({ checkpoints: store, resume: latest });
    expect(resumed.lossScale).toEqual(uninterrupted.lossScale);
    expect(resumed.steps.loss).toEqual(uninterrupted.steps.loss);
    expect(resumed.statistics).toEqual(uninterrupted.statistics);
  });

  it('skips on every data-parallel replica', async () => {
    const description = mixedPrecisionDescription(true);
    const local = await OnnxModel.build(description, DEFAULT_SESSION_SETTINGS);
    const model = await ParallelModel.start({ local, workers: 2, backendType: 'onnx', backendSection: { type: 'onnx', device: 'cpu' }, description, logger: createRecordingLogger() });
    try {
      const batch = split('training', [0, 1]);
      const rows = Array.from({ length: batch.rows }, (_, index) => index);
      const before = [await model.exportReplicaWeights(0), await model.exportReplicaWeights(1)];

      const overflow = await model.trainStep(makeBatch(batch, rows), 1e-3, { lossScale: 2 ** 30 });
      expect(overflow.gradientsFinite).toBe(false);
      for (const rank of [0, 1]) {
        const weights = await model.exportReplicaWeights(rank);
        for (const [name, array] of Object.entries(before[rank]!)) {
          expect(weights[name]!.data, `rank ${rank} ${name}`).toEqual(array.data);
        }
      }

      const clean = await model.trainStep(makeBatch(batch, rows), 1e-3, { lossScale: 256 });
      expect(clean.gradientsFinite).toBeUndefined();
      const [first, second] = [await model.exportReplicaWeights(0), await model.exportReplicaWeights(1)];
      const name = 'heads.label.weight';
      expect(first[name]!.data).not.toEqual(before[0]![name]!.data);
      expect(second[name]!.data).toEqual(first[name]!.data);
    } finally {
      await model.close();
    }
  });
});
