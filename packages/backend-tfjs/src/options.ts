import { z } from 'zod';

/** Keys of the `backend` section that the tfjs backend reads. */
export const tfjsOptionsSchema = z.strictObject({
  runtime: z
    .enum(['auto', 'node', 'wasm', 'cpu'])
    .default('auto')
    .describe('auto uses @tensorflow/tfjs-node when it is installed, else wasm; cpu is the slow pure-JavaScript reference.'),
  device: z.enum(['auto', 'cpu']).default('auto').describe('Only the CPU is supported by this backend for now.'),
});

export type TfjsOptions = z.output<typeof tfjsOptionsSchema>;
