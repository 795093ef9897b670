import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createRecordingLogger, Random, resolveBatchSizes, trainerSchema, trainRun, type TrainingBatch } from '@ft/core';
import { describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';
import { TfjsModel } from '../src/model/tfjs-model.js';
import { selectRuntime } from '../src/runtime/select-runtime.js';

const loadBackend = async () => tfjsBackend;

/** Writes a CSV of two noisy numeric inputs and a label that depends on their sum. */
async function syntheticCsv(rows: number, seed: number, targetScale = 1): Promise<string> {
  const random = new Random(seed);
  const lines = ['x1,x2,label,score'];
  for (let i = 0; i < rows; i++) {
    const x1 = random.next() * 4 - 2;
    const x2 = random.next() * 4 - 2;
    const noise = random.next() * 0.6 - 0.3;
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x1 + x2 + noise > 0 ? 'up' : 'down'},${((x1 - x2) * targetScale).toExponential(4)}`);
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'ft-training-'));
  const file = path.join(folder, 'data.csv');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

function config(trainer: Record<string, unknown>, outputs: unknown[] = [{ name: 'label', type: 'category' }]) {
  return {
    input_features: [
      { name: 'x1', type: 'number' },
      { name: 'x2', type: 'number' },
    ],
    output_features: outputs,
    combiner: { num_fc_layers: 1, output_size: 8 },
    trainer: { batch_size: 16, learning_rate: 0.05, ...trainer },
  };
}

async function run(trainer: Record<string, unknown>, options: { rows?: number; outputs?: unknown[]; targetScale?: number } = {}) {
  const dataset = await syntheticCsv(options.rows ?? 200, 11, options.targetScale);
  const logger = createRecordingLogger();
  const outputDirectory = await mkdtemp(path.join(tmpdir(), 'ft-results-'));
  const result = await trainRun({ config: config(trainer, options.outputs), dataset, outputDirectory, logger, loadBackend, randomSeed: 5 });
  return { result, logger, outputDirectory };
}

describe('training loop on tfjs', () => {
  it('learns a separable problem', async () => {
    const { result } = await run({ epochs: 8 });
    expect(result.finalMetrics.test!.label!.accuracy).toBeGreaterThan(0.85);
  });

  it('is deterministic for one seed', async () => {
    const first = await run({ epochs: 2 });
    const second = await run({ epochs: 2 });
    expect(second.result.finalMetrics).toEqual(first.result.finalMetrics);
    expect(second.result.statistics).toEqual(first.result.statistics);
  });

  it('stops early after evaluations without improvement', async () => {
    // A learning rate of 1e-9 leaves the accuracy unchanged, so only the first evaluation improves.
    const { result, logger } = await run({ epochs: 20, learning_rate: 1e-9, early_stop: 2 });
    expect(result.stopReason).toBe('early_stopping');
    expect(result.statistics.validation.label!.accuracy).toHaveLength(3);
    expect(logger.records.some((record) => record.message.startsWith('Stopping early: validation label accuracy has not improved for 2 evaluation(s).'))).toBe(true);
  });

  it('evaluates every steps_per_checkpoint steps', async () => {
    // 140 training rows in batches of 16: 9 steps per epoch, 18 in all, evaluated at 4, 8, 12, 16 and 18.
    const { result, outputDirectory } = await run({ epochs: 2, steps_per_checkpoint: 4, early_stop: -1 });
    expect(result.statistics.validation.label!.accuracy).toHaveLength(5);
    const statistics = JSON.parse(await readFile(path.join(result.runDirectory, 'training_statistics.json'), 'utf8')) as { evaluation_steps: number[] };
    expect(statistics.evaluation_steps).toEqual([4, 8, 12, 16, 18]);
    const latest = JSON.parse(await readFile(path.join(result.runDirectory, 'model/training_checkpoints/latest.json'), 'utf8')) as { weights_file: string; progress: { step: number } };
    expect(latest.progress.step).toBe(18);
    expect(latest.weights_file).toBe('latest-18.safetensors');
    expect(outputDirectory).not.toBe('');
  });

  it('cuts the learning rate on a plateau', async () => {
    const { result, logger } = await run({
      epochs: 6,
      learning_rate: 1e-9,
      early_stop: -1,
      learning_rate_scheduler: { reduce_on_plateau: 2, reduce_on_plateau_patience: 1, reduce_on_plateau_rate: 0.5, reduce_eval_metric: 'accuracy', reduce_eval_split: 'validation' },
    });
    const cuts = logger.records.filter((record) => record.message.includes('learning rate scaled by'));
    expect(cuts.map((record) => record.message.match(/scaled by ([\d.]+)/)![1])).toEqual(['0.5', '0.25']);
    expect(result.stopReason).toBe('completed');
  });

  it('stops on a non-finite loss before any evaluation', async () => {
    await expect(
      run({ epochs: 2, learning_rate: 0.5, gradient_clipping: { clipglobalnorm: null } }, { outputs: [{ name: 'score', type: 'number', preprocessing: { normalization: null } }], targetScale: 1e30 }),
    ).rejects.toThrow('Training diverged before the first evaluation, so no weights were saved.');
  });
});

describe('batch_size auto', () => {
  it('tunes and records the size', async () => {
    const { result, logger } = await run({ epochs: 1, batch_size: 'auto', eval_batch_size: 'auto' });
    const messages = logger.records.map((record) => record.message);
    expect(messages).toContainEqual(expect.stringMatching(/^Tuning the training batch size up to 28 \(max 1024, 20% of 140 rows, 128 on a CPU\)\.$/));
    expect(messages).toContainEqual(expect.stringMatching(/^ {2}batch size 1: [\d.]+ rows\/s\.$/));
    expect(messages).toContainEqual(expect.stringMatching(/^Selected training batch size \d+\.$/));
    expect(typeof result.config.trainer.batch_size).toBe('number');
    expect(result.config.trainer.batch_size).toBeLessThanOrEqual(16);
    expect(result.config.trainer.eval_batch_size).toBeGreaterThanOrEqual(result.config.trainer.batch_size as number);
    const saved = JSON.parse(await readFile(path.join(result.runDirectory, 'model/model_hyperparameters.json'), 'utf8')) as { trainer: { batch_size: unknown } };
    expect(saved.trainer.batch_size).toBe(result.config.trainer.batch_size);
  });

  it('leaves weights and optimizer unchanged', async () => {
    await selectRuntime('wasm', () => {});
    const model = await TfjsModel.build({
      inputs: [{ name: 'x', kind: 'number' }],
      combiner: { type: 'concat', num_fc_layers: 1, output_size: 4, fc_layers: null, dropout: 0.5, activation: 'relu', norm: null, use_bias: true },
      outputs: [{ name: 'y', kind: 'number', lossWeight: 1, loss: 'mean_squared_error' }],
      optimizer: { type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false },
      gradientClipping: { clipglobalnorm: null, clipnorm: null, clipvalue: null },
      seed: 1,
      mixedPrecision: false,
    });
    const rows = 200;
    const training = {
      split: 'training' as const,
      rows,
      inputs: { x: { kind: 'number' as const, values: Float32Array.from({ length: rows }, (_, i) => i / rows) } },
      targets: { y: { kind: 'number' as const, values: Float32Array.from({ length: rows }, (_, i) => (2 * i) / rows) } },
    };
    const before = await model.exportState();
    const tuned = await resolveBatchSizes(trainerSchema.parse({ batch_size: 'auto' }), { model, backend: await tfjsBackend.create(tfjsBackend.optionsSchema.parse({}), { logger: createRecordingLogger() }), training, logger: createRecordingLogger() });
    expect(tuned.trials.training.length).toBeGreaterThan(0);
    expect(await model.exportState()).toEqual(before);
    model.dispose();
  });
});

describe('gradient accumulation', () => {
  it('two halves equal one full batch', async () => {
    await selectRuntime('wasm', () => {});
    const description = {
      inputs: [{ name: 'x', kind: 'number' as const }],
      combiner: { type: 'concat' as const, num_fc_layers: 1, output_size: 4, fc_layers: null, dropout: 0, activation: 'tanh' as const, norm: null, use_bias: true },
      outputs: [{ name: 'y', kind: 'number' as const, lossWeight: 1, loss: 'mean_squared_error' as const }],
      optimizer: { type: 'sgd' as const, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false },
      gradientClipping: { clipglobalnorm: null, clipnorm: null, clipvalue: null },
      seed: 3,
      mixedPrecision: false,
    };
    const batch = (values: number[]): TrainingBatch => ({
      rows: values.length,
      inputs: { x: { kind: 'number', values: Float32Array.from(values) } },
      targets: { y: { kind: 'number', values: Float32Array.from(values, (value) => value * 3 - 1) } },
    });

    const whole = await TfjsModel.build(description);
    const halves = await TfjsModel.build(description);
    await whole.trainStep(batch([0.1, 0.5, -0.3, 0.9]), 0.1);
    const first = await halves.computeGradients(batch([0.1, 0.5]));
    const second = await halves.computeGradients(batch([-0.3, 0.9]));
    const averaged = Object.fromEntries(
      Object.entries(first.gradients).map(([name, array]) => [
        name,
        { dtype: 'float32' as const, shape: array.shape, data: Float32Array.from(array.data, (value, i) => (value + second.gradients[name]!.data[i]!) / 2) },
      ]),
    );
    await halves.applyGradients(averaged, 0.1);

    const expected = await whole.exportWeights();
    const actual = await halves.exportWeights();
    for (const [name, array] of Object.entries(expected)) {
      Array.from(array.data).forEach((value, i) => expect(actual[name]!.data[i], `${name}[${i}]`).toBeCloseTo(value, 6));
    }
    whole.dispose();
    halves.dispose();
  });
});
