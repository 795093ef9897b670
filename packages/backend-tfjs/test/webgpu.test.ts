/**
 * Training on the tfjs `webgpu` backend against the `cpu` and `wasm` backends.
 *
 * tfjs has one active backend per process, and vitest runs each test file in its own process, so
 * this file switches backends with `selectRuntime` and builds a new model after every switch.
 * Without a WebGPU adapter the WebGPU tests are skipped, unless FT_REQUIRE_WEBGPU=1 makes them fail.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { BackendError, combinerSchema, createRecordingLogger, gradientClippingSchema, optimizerSchema, type ModelDescription, type NamedArrays, type TrainingBatch } from '@ft/core';
import { createTinyBertCheckpoint, type TinyBertCheckpoint } from '@ft/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';
import { TfjsModel } from '../src/model/tfjs-model.js';
import { tfjsOptionsSchema } from '../src/options.js';
import { selectRuntime, type DeviceRequest, type RuntimeRequest } from '../src/runtime/select-runtime.js';
import { probeWebGpu } from '../src/runtime/webgpu.js';

const probe = await probeWebGpu();
const webGpuRequired = process.env['FT_REQUIRE_WEBGPU'] === '1';
const skipWebGpu = !probe.ok && !webGpuRequired;
const skipNote = !probe.ok && !webGpuRequired ? ` (skipped: ${probe.reason})` : '';
if (skipWebGpu) {
  console.warn(`WebGPU tests skipped: ${probe.reason}. ${probe.fix} Set FT_REQUIRE_WEBGPU=1 to make this a failure.`);
}
const softwareAdapter = probe.ok && probe.adapter.software;

const STEPS = 6;
const LEARNING_RATE = 1e-3;
/** Relative tolerance on losses. Float32 kernels that sum in another order differ by about 1e-7 here. */
const LOSS_TOLERANCE = 1e-4;
/** Absolute tolerance on logits, which lie within ±1 for this model. */
const LOGIT_TOLERANCE = 1e-4;
/** Absolute tolerance on exported weights and Adam moments after the same steps. */
const STATE_TOLERANCE = 1e-5;

function description(checkpoint: TinyBertCheckpoint): ModelDescription {
  return {
    inputs: [
      {
        name: 'text',
        kind: 'text',
        encoder: { type: 'bert', architecture: checkpoint.architecture, weights: checkpoint.weights, trainable: true, reduceOutput: 'cls_pooled' },
      },
    ],
    combiner: combinerSchema.parse({ num_fc_layers: 1, output_size: 8 }),
    outputs: [{ name: 'label', kind: 'category', numClasses: 3, lossWeight: 1, classWeights: null }],
    optimizer: optimizerSchema.parse({ type: 'adamw' }),
    // Clipping by global norm sums one square per weight with tf.addN, which covers the webgpu AddN fix.
    gradientClipping: gradientClippingSchema.parse({ clipglobalnorm: 1 }),
    seed: 1,
    mixedPrecision: false,
  };
}

/** Eight rows of twelve tokens with 0 to 3 padding tokens at the end, and three classes. */
function textBatch(): TrainingBatch {
  const rows = 8;
  const length = 12;
  const ids = Int32Array.from({ length: rows * length }, (_, i) => (i % length === 0 ? 2 : 5 + ((i * 7) % 60)));
  const attentionMask = Int32Array.from({ length: rows * length }, (_, i) => (i % length < length - (Math.floor(i / length) % 4) ? 1 : 0));
  return {
    rows,
    inputs: { text: { kind: 'text', ids, attentionMask, sequenceLength: length } },
    targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => i % 3) } },
  };
}

interface TrainingTrace {
  runtime: string;
  losses: number[];
  /** Milliseconds per step; the first step includes kernel compilation. */
  stepMilliseconds: number[];
  logits: Float32Array;
  /** Weights, optimizer slots and counters after training, as a checkpoint stores them. */
  state: NamedArrays;
}

/** Selects a runtime, then trains a fresh model for STEPS AdamW steps and runs it forward. */
async function trace(checkpoint: TinyBertCheckpoint, runtime: RuntimeRequest, device: DeviceRequest): Promise<TrainingTrace> {
  const selected = await selectRuntime(runtime, () => {}, device);
  const model = await TfjsModel.build(description(checkpoint));
  const batch = textBatch();
  const losses: number[] = [];
  const stepMilliseconds: number[] = [];
  for (let step = 0; step < STEPS; step++) {
    const start = performance.now();
    losses.push((await model.trainStep(batch, LEARNING_RATE)).loss);
    stepMilliseconds.push(performance.now() - start);
  }
  const logits = (await model.forward(batch))['label']!;
  const state = await model.exportState();
  model.dispose();
  return { runtime: selected.description, losses, stepMilliseconds, logits, state };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function report(result: TrainingTrace): void {
  const later = result.stepMilliseconds.slice(1);
  console.log(
    `${result.runtime}: first step ${result.stepMilliseconds[0]!.toFixed(0)} ms, ` +
      `median of steps 2-${STEPS} ${median(later).toFixed(1)} ms, losses ${result.losses.map((loss) => loss.toFixed(6)).join(' ')}`,
  );
}

function expectSameTraining(actual: TrainingTrace, expected: TrainingTrace): void {
  expect(actual.losses).toHaveLength(expected.losses.length);
  actual.losses.forEach((loss, step) => {
    const relative = Math.abs(loss - expected.losses[step]!) / Math.abs(expected.losses[step]!);
    expect(relative, `loss at step ${step}: ${loss} on ${actual.runtime}, ${expected.losses[step]} on ${expected.runtime}`).toBeLessThan(LOSS_TOLERANCE);
  });
  // Checkpoints read every weight and slot back from the device.
  expect(Object.keys(actual.state).sort()).toEqual(Object.keys(expected.state).sort());
  for (const [name, array] of Object.entries(expected.state)) {
    const values = actual.state[name]!.data;
    array.data.forEach((value, index) => {
      expect(Math.abs(values[index]! - value), `${name}[${index}] on ${actual.runtime}`).toBeLessThan(STATE_TOLERANCE);
    });
  }
  expect(actual.logits).toHaveLength(expected.logits.length);
  actual.logits.forEach((logit, index) => {
    expect(Math.abs(logit - expected.logits[index]!), `logit ${index}: ${logit} on ${actual.runtime}, ${expected.logits[index]} on ${expected.runtime}`).toBeLessThan(
      LOGIT_TOLERANCE,
    );
  });
}

describe('webgpu device', () => {
  let checkpoint: TinyBertCheckpoint;
  let reference: TrainingTrace;

  beforeAll(async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-webgpu-'));
    checkpoint = await createTinyBertCheckpoint(folder, { seed: 3, architecture: { hidden_dropout_prob: 0, attention_probs_dropout_prob: 0 } });
    reference = await trace(checkpoint, 'cpu', 'cpu');
    report(reference);
  });

  it('wasm trains like cpu', async () => {
    const result = await trace(checkpoint, 'wasm', 'cpu');
    report(result);
    expectSameTraining(result, reference);
    expect(result.losses.at(-1)!).toBeLessThan(result.losses[0]!);
  });

  it.skipIf(skipWebGpu)(`webgpu trains like cpu${skipNote}`, async () => {
    const result = await trace(checkpoint, 'auto', 'webgpu');
    report(result);
    expect(result.runtime).toMatch(/^TensorFlow\.js [\d.]+ on webgpu \(.+\)$/);
    expectSameTraining(result, reference);
  });

  it.skipIf(skipWebGpu)(`webgpu addN sums many inputs${skipNote}`, async () => {
    await selectRuntime('auto', () => {}, 'webgpu');
    // More inputs than the default limit of 8 storage buffers per shader stage.
    const count = 20;
    const sum = tf.tidy(() => tf.addN(Array.from({ length: count }, (_, i) => tf.tensor1d([i, 2 * i, -i]))));
    const expected = (count * (count - 1)) / 2;
    expect(Array.from(await sum.data())).toEqual([expected, 2 * expected, -expected]);
    sum.dispose();
  });

  it.skipIf(skipWebGpu)(`backend description names webgpu${skipNote}`, async () => {
    const logger = createRecordingLogger();
    const backend = await tfjsBackend.create(tfjsOptionsSchema.parse({ device: 'webgpu' }), { logger });
    expect(backend.description).toMatch(/ on webgpu \(/);
    expect(backend.capabilities.mixedPrecision).toBe(false);
    expect(backend.capabilities.mixedPrecisionUnavailableReason).toBe('the tfjs backend on webgpu trains in float32 only');
    // A software adapter such as lavapipe computes on the CPU, so batch_size: auto keeps the CPU cap.
    const hardwareAdapter = probe.ok && !probe.adapter.software;
    expect(backend.capabilities.accelerator).toBe(hardwareAdapter);
    expect(logger.records.some((record) => record.message.startsWith('Device webgpu: using TensorFlow.js'))).toBe(true);
    await backend.dispose();
  });

  it.skipIf(!softwareAdapter)('auto stays on the CPU with a software adapter', async () => {
    const messages: string[] = [];
    const selected = await selectRuntime('auto', (message) => messages.push(message), 'auto');
    expect(selected.name).not.toBe('webgpu');
    expect(selected.accelerator).toBe(false);
    // Without a GPU device node the probe is skipped; with one, the software adapter is named.
    expect(messages[0]).toMatch(/^Device auto: (the WebGPU adapter .+ emulates a GPU on the CPU|no GPU device in \/dev\/dri or \/dev\/nvidia\*), so training runs on the CPU\./);
  });

  it.skipIf(probe.ok && !probe.adapter.software)('gpu rejects a missing or software adapter', async () => {
    const request = selectRuntime('auto', () => {}, 'gpu');
    await expect(request).rejects.toBeInstanceOf(BackendError);
    await expect(request).rejects.toMatchObject({ code: 'BACKEND_NOT_INSTALLED' });
    const reason = probe.ok ? 'is a software driver that runs on the CPU, so it was rejected' : probe.reason;
    await expect(request).rejects.toThrow(reason);
  });

  it('webgpu with runtime wasm is invalid', async () => {
    const request = selectRuntime('wasm', () => {}, 'webgpu');
    await expect(request).rejects.toMatchObject({ code: 'BACKEND_INVALID' });
    await expect(request).rejects.toThrow('backend.device: webgpu cannot run on backend.runtime: wasm');
  });

  it('wasm is no accelerator', async () => {
    const selected = await selectRuntime('wasm', () => {}, 'cpu');
    expect(selected.accelerator).toBe(false);
  });
});
