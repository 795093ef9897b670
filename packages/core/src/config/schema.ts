import { z } from 'zod';

import { featureDefaultsSchema, inputFeatureSchema, outputFeatureSchema } from './features.js';
import { trainerSchema } from './trainer.js';

export const combinerSchema = z.strictObject({
  type: z.literal('concat').default('concat'),
  num_fc_layers: z.int().min(0).default(0),
  output_size: z.int().positive().default(256),
  fc_layers: z
    .array(
      z.strictObject({
        output_size: z.int().positive(),
        activation: z.enum(['relu', 'tanh', 'sigmoid', 'gelu', 'linear']).optional(),
        dropout: z.number().min(0).lt(1).optional(),
      }),
    )
    .nullable()
    .default(null)
    .describe('Per-layer settings; overrides num_fc_layers and output_size when set.'),
  dropout: z.number().min(0).lt(1).default(0),
  activation: z.enum(['relu', 'tanh', 'sigmoid', 'gelu', 'linear']).default('relu'),
  norm: z.enum(['layer']).nullable().default(null),
  use_bias: z.boolean().default(true),
});
export type CombinerConfig = z.output<typeof combinerSchema>;

export const splitSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('random'),
    probabilities: z
      .tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)])
      .default([0.7, 0.1, 0.2])
      .refine((p) => Math.abs(p[0] + p[1] + p[2] - 1) < 1e-9, 'training, validation and test probabilities must sum to 1'),
  }),
  z.strictObject({
    type: z.literal('fixed'),
    column: z.string().min(1).default('split').describe('Column holding 0 (training), 1 (validation) or 2 (test) per row.'),
  }),
]);

export const preprocessingSchema = z.strictObject({
  split: splitSchema.default({ type: 'random', probabilities: [0.7, 0.1, 0.2] }),
  sample_ratio: z.number().gt(0).max(1).default(1),
});

export const datasetSchema = z.union([
  z.string().min(1),
  z.strictObject({
    training_set: z.string().min(1),
    validation_set: z.string().min(1).optional(),
    test_set: z.string().min(1).optional(),
  }),
]);

/**
 * Options shared by every backend. A backend package adds its own keys through the schema
 * in its descriptor, which validates the rest of this section.
 */
export const backendSectionSchema = z.looseObject({
  type: z.string().min(1).default('tfjs').describe('tfjs, onnx, or the npm name of a third-party backend package.'),
  cache_dir: z
    .string()
    .min(1)
    .optional()
    .describe('Folder for encoder embedding caches; defaults to $FT_CACHE_DIR, else $XDG_CACHE_HOME/ft, else ~/.cache/ft.'),
});

export const defaultsSchema = z.strictObject({
  text: featureDefaultsSchema.optional(),
  category: featureDefaultsSchema.optional(),
  binary: featureDefaultsSchema.optional(),
  number: featureDefaultsSchema.optional(),
});

/** The whole `ft` config. Its input type is the config as written, its output type the config with every default filled in. */
export const configSchema = z.strictObject({
  input_features: z.array(inputFeatureSchema).min(1, 'at least one input feature is required'),
  output_features: z.array(outputFeatureSchema).min(1, 'at least one output feature is required'),
  defaults: defaultsSchema.default({}),
  combiner: combinerSchema.prefault({}),
  trainer: trainerSchema.prefault({}),
  preprocessing: preprocessingSchema.prefault({}),
  backend: backendSectionSchema.prefault({}),
  dataset: datasetSchema.optional().describe('CSV file, or separate training, validation and test files; paths are relative to the config file.'),
});

export type FtConfigInput = z.input<typeof configSchema>;
export type FtConfig = z.output<typeof configSchema>;
