import { z } from 'zod';

/** Keys of the `backend` section that the tfjs backend reads. */
export const tfjsOptionsSchema = z.strictObject({
  runtime: z
    .enum(['auto', 'node', 'wasm', 'cpu'])
    .default('auto')
    .describe('auto uses @tensorflow/tfjs-node when it is installed, else wasm; cpu is the slow pure-JavaScript reference.'),
  device: z
    .enum(['auto', 'cpu', 'gpu', 'webgpu'])
    .default('auto')
    .describe(
      'auto uses a hardware WebGPU adapter when runtime is auto and one is found, else the CPU; ' +
        'webgpu uses any WebGPU adapter, a software one included; gpu uses @tensorflow/tfjs-node-gpu when installed, else a hardware WebGPU adapter. ' +
        'WebGPU needs the optional packages webgpu and @tensorflow/tfjs-backend-webgpu.',
    ),
});

export type TfjsOptions = z.output<typeof tfjsOptionsSchema>;
