/**
 * Training on ONNX Runtime's WebGPU provider, in float32 and in mixed precision, against the
 * CPU provider.
 *
 * Without a WebGPU adapter these tests are skipped, unless FT_REQUIRE_WEBGPU=1 makes them fail.
 * CI provides one through Mesa's software Vulkan driver (lavapipe), which also supports
 * `shader-f16`, so the float16 kernels that a GPU would run are exercised there.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createRecordingLogger, silentLogger, trainRun } from '@ft/core';
import { createTinyBertCheckpoint } from '@ft/core/testing';
import { describe, expect, it } from 'vitest';

import onnxBackend from '../src/index.js';
import { OnnxModel } from '../src/model/onnx-model.js';
import { probeHalfPrecision, selectDevice } from '../src/runtime/device.js';
import { DEFAULT_SESSION_SETTINGS } from '../src/runtime/session.js';
import { mixedPrecisionBatch, mixedPrecisionDescription } from './mixed-precision-fixtures.js';

const failure = await selectDevice('webgpu', silentLogger).then(
  () => null,
  (error: Error) => error.message,
);
const webGpuRequired = process.env['FT_REQUIRE_WEBGPU'] === '1';
const skip = failure !== null && !webGpuRequired;
if (skip) {
  console.warn(`ONNX WebGPU tests skipped: ${failure} Set FT_REQUIRE_WEBGPU=1 to make this a failure.`);
}

const WEBGPU_SETTINGS = { ...DEFAULT_SESSION_SETTINGS, executionProviders: ['webgpu'] };
const STEPS = 5;
/** Float32 kernels that sum in another order: 1e-7 measured on lavapipe. */
const FLOAT32_TOLERANCE = 1e-5;
/** float16 products against float32 ones on a loss of about 1.1, as in the CPU-provider test. */
const HALF_TOLERANCE = 5e-3;

describe.skipIf(skip)('ONNX backend on WebGPU', () => {
  it('reports float16 support', async () => {
    expect(await probeHalfPrecision('webgpu')).toBeNull();
    const backend = await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'webgpu' }), { logger: createRecordingLogger() });
    expect(backend.capabilities).toMatchObject({ mixedPrecision: true, accelerator: true });
    await backend.dispose();
  });

  it('matches CPU losses in float32', async () => {
    const cpu = await OnnxModel.build(mixedPrecisionDescription(false), DEFAULT_SESSION_SETTINGS);
    const gpu = await OnnxModel.build(mixedPrecisionDescription(false), WEBGPU_SETTINGS);
    for (let step = 0; step < STEPS; step++) {
      const expected = await cpu.trainStep(mixedPrecisionBatch(step), 1e-3);
      const actual = await gpu.trainStep(mixedPrecisionBatch(step), 1e-3);
      expect(Math.abs(actual.loss - expected.loss), `step ${step}: ${actual.loss} vs ${expected.loss}`).toBeLessThan(FLOAT32_TOLERANCE);
    }
    cpu.dispose();
    gpu.dispose();
  });

  it('trains and skips in mixed precision', async () => {
    const reference = await OnnxModel.build(mixedPrecisionDescription(false), DEFAULT_SESSION_SETTINGS);
    const mixed = await OnnxModel.build(mixedPrecisionDescription(true), WEBGPU_SETTINGS);
    for (let step = 0; step < STEPS; step++) {
      const expected = await reference.trainStep(mixedPrecisionBatch(step), 1e-3);
      const actual = await mixed.trainStep(mixedPrecisionBatch(step), 1e-3, { lossScale: 1024 });
      expect(actual.gradientsFinite).toBeUndefined();
      expect(Math.abs(actual.loss - expected.loss), `step ${step}: ${actual.loss} vs ${expected.loss}`).toBeLessThan(HALF_TOLERANCE);
    }

    const before = await mixed.exportState();
    const overflow = await mixed.trainStep(mixedPrecisionBatch(STEPS), 1e-3, { lossScale: 2 ** 30 });
    expect(overflow.gradientsFinite).toBe(false);
    const after = await mixed.exportState();
    for (const name of Object.keys(before).filter((key) => !key.startsWith('random.'))) {
      expect(after[name]!.data, name).toEqual(before[name]!.data);
    }
    reference.dispose();
    mixed.dispose();
  });

  it('runs use_mixed_precision end to end', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-onnx-webgpu-amp-'));
    const checkpoint = await createTinyBertCheckpoint(path.join(folder, 'bert'), { seed: 4 });
    const words = ['good', 'great', 'fun', 'bad', 'dull', 'awful'];
    const lines = Array.from({ length: 36 }, (_, row) => `the movie was ${words[row % 6]},${row % 6 < 3 ? 'pos' : 'neg'},${[0, 0, 0, 0, 1, 2][row % 6]}`);
    const dataset = path.join(folder, 'data.csv');
    await writeFile(dataset, ['text,label,split', ...lines].join('\n') + '\n');

    const logger = createRecordingLogger();
    const result = await trainRun({
      config: {
        input_features: [{ name: 'text', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: checkpoint.folder } }],
        output_features: [{ name: 'label', type: 'category' }],
        combiner: { num_fc_layers: 1, output_size: 8 },
        trainer: { epochs: 2, batch_size: 6, learning_rate: 1e-3, use_mixed_precision: true },
        preprocessing: { split: { type: 'fixed' } },
        backend: { type: 'onnx', device: 'webgpu' },
      },
      dataset,
      outputDirectory: path.join(folder, 'results'),
      logger,
      loadBackend: async () => onnxBackend,
      randomSeed: 3,
    });

    const messages = logger.records.map((record) => record.message);
    expect(messages.some((message) => message.includes('training in float32'))).toBe(false);
    expect(messages.some((message) => message.startsWith('Mixed precision: half-precision compute'))).toBe(true);
    const description = JSON.parse(await readFile(path.join(result.runDirectory, 'description.json'), 'utf8'));
    expect(description.mixed_precision).toMatchObject({ enabled: true, final_loss_scale: expect.any(Number), skipped_updates: expect.any(Number) });
    expect(result.stopReason).toBe('completed');
  });
});
