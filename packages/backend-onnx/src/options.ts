import { z } from 'zod';

/** Keys of the `backend` section that the ONNX backend reads. */
export const onnxOptionsSchema = z.strictObject({
  device: z
    .enum(['auto', 'cpu', 'webgpu', 'cuda'])
    .default('auto')
    .describe('auto uses CUDA when its ONNX Runtime provider is installed and works, else the CPU; cpu, webgpu and cuda fail when unavailable.'),
  intra_op_threads: z
    .int()
    .positive()
    .optional()
    .describe('Threads ONNX Runtime uses inside one op; defaults to the number of CPU cores of the machine the run starts on.'),
  graph_optimization_level: z
    .enum(['disabled', 'basic', 'extended', 'all'])
    .default('all')
    .describe("ONNX Runtime graph optimizations applied when a session loads; all is ONNX Runtime's default."),
});

export type OnnxOptions = z.output<typeof onnxOptionsSchema>;
