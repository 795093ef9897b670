import type { BackendDescriptor } from '@ft/core';

import { OnnxBackend } from './backend.js';
import { onnxOptionsSchema, type OnnxOptions } from './options.js';

/** The ONNX Runtime backend of ft, selected by `backend: {type: onnx}`. */
const onnxBackend: BackendDescriptor<OnnxOptions> = {
  name: 'onnx',
  optionsSchema: onnxOptionsSchema,
  create: (options, context) => OnnxBackend.create(options, context),
};

export default onnxBackend;
export { OnnxBackend } from './backend.js';
export { OnnxModel } from './model/onnx-model.js';
export { FrozenBertEncoder, buildFrozenBertModel } from './encoders/bert-encoder.js';
export { buildBertForward, type BertGraphOptions } from './encoders/bert-graph.js';
export { GraphBuilder, GraphShapeError, OPSET_VERSION, type DType, type Dim, type Shape, type Value } from './graph/builder.js';
export { gradients, DIFFERENTIABLE_OPS } from './graph/autodiff.js';
export { selectDevice, type Device, type DeviceRequest } from './runtime/device.js';
export { onnxOptionsSchema, type OnnxOptions } from './options.js';
export { exportOnnxModel, type OnnxExportSummary } from './export.js';
