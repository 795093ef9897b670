import type { BackendDescriptor } from '@ft/core';

import { TfjsBackend } from './backend.js';
import { tfjsOptionsSchema, type TfjsOptions } from './options.js';

/** The TensorFlow.js backend of ft, selected by `backend: {type: tfjs}` (the default). */
const tfjsBackend: BackendDescriptor<TfjsOptions> = {
  name: 'tfjs',
  optionsSchema: tfjsOptionsSchema,
  create: (options, context) => TfjsBackend.create(options, context),
};

export default tfjsBackend;
export { TfjsBackend } from './backend.js';
export { TfjsModel } from './model/tfjs-model.js';
export { TfjsOptimizer, clipGradients } from './optimizers/optimizer.js';
export { UniversalSentenceEncoder, loadLocalGraphModel } from './encoders/universal-sentence-encoder.js';
export { BertEncoder } from './encoders/bert.js';
export { selectRuntime, type DeviceRequest, type RuntimeRequest, type SelectedRuntime } from './runtime/select-runtime.js';
export { registerWasmKernelFixes } from './runtime/wasm-kernels.js';
export { probeWebGpu, type WebGpuAdapter, type WebGpuProbe } from './runtime/webgpu.js';
export { registerWebGpuKernelFixes } from './runtime/webgpu-kernels.js';
export { tfjsOptionsSchema, type TfjsOptions } from './options.js';
