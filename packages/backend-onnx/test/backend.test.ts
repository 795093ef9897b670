import os from 'node:os';

import { BackendError, createRecordingLogger, loadBackendDescriptor, parseBackendOptions } from '@ft/core';
import { describe, expect, it } from 'vitest';

import onnxBackend from '../src/index.js';

describe('ONNX backend descriptor', () => {
  it('fills defaults', () => {
    expect(onnxBackend.optionsSchema.parse({})).toEqual({ device: 'auto', graph_optimization_level: 'all' });
  });

  it('rejects unknown keys and devices with the key path', () => {
    expect(() => parseBackendOptions(onnxBackend, { type: 'onnx', device: 'tpu' })).toThrow(/backend\.device/);
    expect(() => parseBackendOptions(onnxBackend, { type: 'onnx', threads: 2 })).toThrow(/threads/);
    expect(() => parseBackendOptions(onnxBackend, { type: 'onnx', intra_op_threads: 0 })).toThrow(/backend\.intra_op_threads/);
  });

  it('core loads it for type onnx', async () => {
    const descriptor = await loadBackendDescriptor('onnx');
    expect(descriptor.name).toBe('onnx');
  });

  it('describes runtime, device and threads', async () => {
    const backend = await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cpu', intra_op_threads: 2 }), { logger: createRecordingLogger() });
    expect(backend.description).toMatch(/^ONNX Runtime 1\.\d+\.\d+ on cpu \(2 threads\)$/);
    expect(backend.capabilities.encoders.bert).toEqual({ trainable: true });
    expect(backend.capabilities.accelerator).toBe(false);
  });

  it('explains float32 on the CPU', async () => {
    const backend = await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cpu' }), { logger: createRecordingLogger() });
    expect(backend.capabilities.mixedPrecision).toBe(false);
    expect(backend.capabilities.mixedPrecisionUnavailableReason).toBe(
      "the ONNX backend on the CPU trains in float32, because ONNX Runtime's CPU provider computes float16 ops by converting them to float32",
    );
  });

  it('auto without a GPU provider uses the CPU', async () => {
    const logger = createRecordingLogger();
    const backend = await onnxBackend.create(onnxBackend.optionsSchema.parse({}), { logger });
    // NOTE: on a machine with a working CUDA provider this picks cuda; the test machine has none.
    expect(backend.description).toContain(`on cpu (${os.availableParallelism()} thread`);
    expect(logger.records.some((record) => record.level === 'info' && record.message.includes('runs on the CPU'))).toBe(true);
    expect(logger.records.filter((record) => record.level === 'warn')).toEqual([]);
  });

  // CUDA is the device that is never available here: the CUDA provider library is not
  // installed. WebGPU may be, where a Vulkan driver (such as CI's software one) is present.
  it('an unavailable device is a BackendError naming the fix', async () => {
    const failure = onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cuda' }), { logger: createRecordingLogger() });
    await expect(failure).rejects.toThrow(BackendError);
    await expect(onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cuda' }), { logger: createRecordingLogger() })).rejects.toThrow(
      /backend\.device cuda is not available: .*set backend\.device to cpu/,
    );
    await expect(onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cuda' }), { logger: createRecordingLogger() })).rejects.toThrow(
      "onnxruntime-node's CUDA provider library is not installed",
    );
  });
});
