import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  combinerSchema,
  createRecordingLogger,
  makeBatch,
  ParallelModel,
  Random,
  readSafetensors,
  trainerSchema,
  trainRun,
  WorkerFailedError,
  type ModelDescription,
  type NamedArrays,
  type PreparedSplit,
} from '@ft/core';
import { describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';

const loadBackend = async () => tfjsBackend;
const failingBackendPath = fileURLToPath(new URL('./fixtures/failing-backend.mjs', import.meta.url));

/** Writes a CSV of two noisy numeric inputs and a label that depends on their sum. */
async function syntheticCsv(rows: number, seed: number): Promise<string> {
  const random = new Random(seed);
  const lines = ['x1,x2,label'];
  for (let i = 0; i < rows; i++) {
    const x1 = random.next() * 4 - 2;
    const x2 = random.next() * 4 - 2;
    const noise = random.next() * 0.6 - 0.3;
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x1 + x2 + noise > 0 ? 'up' : 'down'}`);
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'ft-parallel-data-'));
  const file = path.join(folder, 'data.csv');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

interface RunSettings {
  readonly workers: number;
  readonly batchSize: number;
  readonly scaling: 'constant' | 'sqrt' | 'linear';
  readonly backendType?: string;
}

/** Trains on 200 synthetic rows (140 training rows) without dropout, recording every step's learning rate. */
async function run(settings: RunSettings) {
  const dataset = await syntheticCsv(200, 11);
  const logger = createRecordingLogger();
  const outputDirectory = await mkdtemp(path.join(tmpdir(), 'ft-parallel-results-'));
  const learningRates: number[] = [];
  const config = {
    input_features: [
      { name: 'x1', type: 'number' },
      { name: 'x2', type: 'number' },
    ],
    output_features: [{ name: 'label', type: 'category' }],
    combiner: { num_fc_layers: 1, output_size: 8, dropout: 0 },
    trainer: { batch_size: settings.batchSize, learning_rate: 0.01, epochs: 2, learning_rate_scaling: settings.scaling },
    backend: { type: settings.backendType ?? 'tfjs', runtime: 'wasm', trainer: { num_workers: settings.workers } },
  };
  const callbacks = { onStep: (event: { learningRate: number }) => learningRates.push(event.learningRate) };
  const result = await trainRun({ config, dataset, outputDirectory, logger, loadBackend, randomSeed: 5, callbacks });
  const weights = await readSafetensors(path.join(result.runDirectory, 'model', 'model.safetensors'));
  return { result, logger, learningRates, weights };
}

function maxAbsoluteDifference(a: NamedArrays, b: NamedArrays): number {
  let max = 0;
  for (const [name, array] of Object.entries(a)) {
    const other = b[name];
    expect(other, `weight ${name} is missing`).toBeDefined();
    expect(other!.data.length).toBe(array.data.length);
    for (let i = 0; i < array.data.length; i++) {
      max = Math.max(max, Math.abs(array.data[i]! - other!.data[i]!));
    }
  }
  return max;
}

describe('data-parallel training on tfjs', () => {
  it('matches one worker with twice the batch', async () => {
    const single = await run({ workers: 1, batchSize: 16, scaling: 'constant' });
    const parallel = await run({ workers: 2, batchSize: 8, scaling: 'constant' });

    expect(parallel.learningRates).toEqual(single.learningRates);
    expect(Object.keys(parallel.weights).sort()).toEqual(Object.keys(single.weights).sort());
    expect(maxAbsoluteDifference(parallel.weights, single.weights)).toBeLessThan(1e-5);
    expect(parallel.result.bestEpoch).toBe(single.result.bestEpoch);
  });

  it('counts steps per worker and records the effective batch', async () => {
    const { result, logger } = await run({ workers: 2, batchSize: 8, scaling: 'constant' });
    // 140 training rows in steps of 8 rows on each of 2 workers: 9 steps per epoch.
    expect(logger.records.some((record) => record.message.startsWith('Training for 18 steps, about 2 epoch(s) of 9 steps (batch size 8 on each of 2 workers'))).toBe(true);
    const hyperparameters = JSON.parse(await readFile(path.join(result.runDirectory, 'model', 'model_hyperparameters.json'), 'utf8')) as { trainer: { effective_batch_size: number; batch_size: number } };
    expect(hyperparameters.trainer.batch_size).toBe(8);
    expect(hyperparameters.trainer.effective_batch_size).toBe(16);
  });

  it('doubles the base rate with linear scaling', async () => {
    const constant = await run({ workers: 2, batchSize: 8, scaling: 'constant' });
    const linear = await run({ workers: 2, batchSize: 8, scaling: 'linear' });

    expect(linear.result.learningRate).toBe(0.02);
    expect(linear.learningRates).toHaveLength(constant.learningRates.length);
    linear.learningRates.forEach((rate, index) => expect(rate).toBeCloseTo(2 * constant.learningRates[index]!, 12));
    const description = JSON.parse(await readFile(path.join(linear.result.runDirectory, 'description.json'), 'utf8')) as {
      data_parallel: { num_workers: number; learning_rate: number; scaled_learning_rate: number; effective_batch_size: number };
    };
    expect(description.data_parallel).toMatchObject({ num_workers: 2, learning_rate: 0.01, scaled_learning_rate: 0.02, effective_batch_size: 16 });
    expect(linear.result.config.trainer.learning_rate).toBe(0.01);
  });

  it('keeps replicas bit-identical', async () => {
    const backend = await tfjsBackend.create(tfjsBackend.optionsSchema.parse({ runtime: 'wasm' }), { logger: createRecordingLogger() });
    const trainer = trainerSchema.parse({});
    const description: ModelDescription = {
      inputs: [
        { name: 'x1', kind: 'number' },
        { name: 'x2', kind: 'number' },
      ],
      // Dropout on, so the check also covers replicas whose random draws see different shards.
      combiner: combinerSchema.parse({ num_fc_layers: 2, output_size: 16, dropout: 0.2 }),
      outputs: [{ name: 'label', kind: 'category', numClasses: 3, lossWeight: 1, classWeights: null }],
      optimizer: trainer.optimizer,
      gradientClipping: trainer.gradient_clipping,
      seed: 3,
      mixedPrecision: false,
    };
    const local = await backend.buildModel(description);
    const model = await ParallelModel.start({ local, workers: 2, backendType: 'tfjs', backendSection: { type: 'tfjs', runtime: 'wasm' }, description, logger: createRecordingLogger() });
    try {
      const random = new Random(9);
      const rows = 64;
      const split: PreparedSplit = {
        split: 'training',
        rows,
        inputs: {
          x1: { kind: 'number', values: Float32Array.from({ length: rows }, () => random.next() * 2 - 1) },
          x2: { kind: 'number', values: Float32Array.from({ length: rows }, () => random.next() * 2 - 1) },
        },
        targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, () => Math.floor(random.next() * 3)) } },
      };
      // Steps of 16 rows and a last one of 11 rows, which gives the workers shards of 6 and 5 rows.
      for (const start of [0, 16, 32, 48]) {
        const end = start === 48 ? 59 : start + 16;
        await model.trainStep(makeBatch(split, Array.from({ length: end - start }, (_, index) => start + index)), 0.05);
      }

      const main = await model.exportReplicaWeights(0);
      const worker = await model.exportReplicaWeights(1);
      const initial = await (await backend.buildModel(description)).exportWeights();
      expect(maxAbsoluteDifference(main, initial)).toBeGreaterThan(0);
      expect(Object.keys(worker).sort()).toEqual(Object.keys(main).sort());
      for (const [name, array] of Object.entries(main)) {
        expect(Buffer.from(worker[name]!.data.buffer).equals(Buffer.from(array.data.buffer)), `weight ${name} differs between the replicas`).toBe(true);
      }
    } finally {
      model.dispose();
      await backend.dispose();
    }
  });

  it('stops with a clear error when a worker throws', async () => {
    const error = await run({ workers: 2, batchSize: 8, scaling: 'constant', backendType: failingBackendPath }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(WorkerFailedError);
    const failure = error as WorkerFailedError;
    expect(failure.code).toBe('WORKER_FAILED');
    expect(failure.rank).toBe(1);
    expect(failure.message).toContain('Data-parallel worker 1 failed during computeGradients: Error: injected failure in computeGradients');
    expect(failure.message).toContain('The latest checkpoint (step 2)');

    const directory = failure.message.match(/is in (\S+);/)?.[1];
    expect(directory).toBeDefined();
    const latest = JSON.parse(await readFile(path.join(directory!, 'latest.json'), 'utf8')) as { progress: { step: number } };
    expect(latest.progress.step).toBe(2);
  });
});
