import { z } from 'zod';

import { featureDefaultsSchema, inputFeatureSchema, outputFeatureSchema } from './features.js';
import { trainerSchema } from './trainer.js';

export const combinerSchema = z.strictObject({
  type: z.literal('concat').default('concat').describe('concat joins the outputs of every input encoder into one vector; it is the only combiner.'),
  num_fc_layers: z
    .int()
    .min(0)
    .default(0)
    .describe("Fully connected layers after the concatenation; 0 (Ludwig's default) feeds the concatenation straight to the output layers."),
  output_size: z.int().positive().default(256).describe("Width of each fully connected layer; 256 is Ludwig's default."),
  fc_layers: z
    .array(
      z.strictObject({
        output_size: z.int().positive().describe('Width of this layer.'),
        activation: z.enum(['relu', 'tanh', 'sigmoid', 'gelu', 'linear']).optional().describe("This layer's activation; unset uses the combiner's."),
        dropout: z.number().min(0).lt(1).optional().describe("This layer's dropout; unset uses the combiner's."),
      }),
    )
    .nullable()
    .default(null)
    .describe('Per-layer settings; overrides num_fc_layers and output_size when set.'),
  dropout: z.number().min(0).lt(1).default(0).describe('Dropout probability after each fully connected layer while training.'),
  activation: z.enum(['relu', 'tanh', 'sigmoid', 'gelu', 'linear']).default('relu').describe('Activation of each fully connected layer.'),
  norm: z.enum(['layer']).nullable().default(null).describe('Normalization in each fully connected layer: layer for layer normalization, null for none.'),
  use_bias: z.boolean().default(true).describe('Give each fully connected layer a bias vector.'),
});
export type CombinerConfig = z.output<typeof combinerSchema>;

export const splitSchema = z.discriminatedUnion('type', [
  z
    .strictObject({
      type: z.literal('random').describe('Assign each row to a split at random, with the run seed.'),
      probabilities: z
        .tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)])
        .default([0.7, 0.1, 0.2])
        .refine((p) => Math.abs(p[0] + p[1] + p[2] - 1) < 1e-9, 'training, validation and test probabilities must sum to 1')
        .describe("Probabilities of training, validation and test, summing to 1; [0.7, 0.1, 0.2] is Ludwig's default."),
    })
    .describe('Random split of one dataset file.'),
  z
    .strictObject({
      type: z.literal('fixed').describe("Read each row's split from a column."),
      column: z.string().min(1).default('split').describe('Column holding 0 (training), 1 (validation) or 2 (test) per row.'),
    })
    .describe('Split given by a column of the dataset file.'),
  z
    .strictObject({
      type: z.literal('stratify').describe('Split at random within each value of a column, so every split keeps its class proportions.'),
      column: z.string().min(1).describe('Column whose values (usually the category or binary target) are spread evenly over the splits.'),
      probabilities: z
        .tuple([z.number().min(0).max(1), z.number().min(0).max(1), z.number().min(0).max(1)])
        .default([0.7, 0.1, 0.2])
        .refine((p) => Math.abs(p[0] + p[1] + p[2] - 1) < 1e-9, 'training, validation and test probabilities must sum to 1')
        .describe('Probabilities of training, validation and test within each class, summing to 1.'),
    })
    .describe('Stratified random split of one dataset file.'),
]);

export const preprocessingSchema = z.strictObject({
  split: splitSchema
    .default({ type: 'random', probabilities: [0.7, 0.1, 0.2] })
    .describe('How one dataset file is divided into training, validation and test rows; unused with separate files.'),
  sample_ratio: z.number().gt(0).max(1).default(1).describe('Share of the rows to keep, drawn with the run seed, for quick experiments on a subset.'),
  sample_size: z.int().positive().nullable().default(null).describe('Number of rows to keep, drawn with the run seed; cannot be combined with sample_ratio.'),
  oversample_minority: z
    .number()
    .gt(0)
    .max(1)
    .nullable()
    .default(null)
    .describe('Repeat random minority rows of the binary output in the training split until minority / majority reaches this ratio.'),
  undersample_majority: z
    .number()
    .gt(0)
    .max(1)
    .nullable()
    .default(null)
    .describe('Drop random majority rows of the binary output in the training split until minority / majority reaches this ratio.'),
});

export const datasetSchema = z.union([
  z.string().min(1).describe('One CSV file, divided by preprocessing.split.'),
  z
    .strictObject({
      training_set: z.string().min(1).describe('CSV file of training rows.'),
      validation_set: z.string().min(1).optional().describe('CSV file of validation rows; without it, the best weights are chosen on the training split.'),
      test_set: z.string().min(1).optional().describe('CSV file of test rows, evaluated but never trained on.'),
    })
    .describe('Separate training, validation and test files.'),
]);

/** Data-parallel settings, a core key of the `backend` section. */
export const dataParallelSchema = z.strictObject({
  num_workers: z
    .int()
    .positive()
    .default(1)
    .describe('Model replicas that train together; each computes gradients on batch_size rows of every step, so a step covers batch_size × num_workers rows.'),
  strategy: z
    .enum(['local', 'mpi'])
    .default('local')
    .describe(
      'local starts num_workers − 1 worker threads next to the main thread, each with its own backend instance, on one machine. mpi runs one ft train process per rank, started by Open MPI\'s mpirun on one or more machines (for example `mpirun -np 2 npx ft train --config config.yaml`), and averages gradients with MPI_Allreduce; num_workers must then be the number of ranks or left at 1, and it needs libmpi.so.40 and the npm package koffi.',
    ),
});
export type DataParallelConfig = z.output<typeof dataParallelSchema>;

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
  trainer: dataParallelSchema
    .prefault({})
    .describe('Data-parallel training: how many model replicas train on separate shards of every batch, and how they are started.'),
});

export const defaultsSchema = z.strictObject({
  text: featureDefaultsSchema.optional().describe('Defaults for every text feature.'),
  category: featureDefaultsSchema.optional().describe('Defaults for every category feature, input or output.'),
  binary: featureDefaultsSchema.optional().describe('Defaults for every binary feature, input or output.'),
  number: featureDefaultsSchema.optional().describe('Defaults for every number feature, input or output.'),
});

/** The whole `ft` config. Its input type is the config as written, its output type the config with every default filled in. */
export const configSchema = z.strictObject({
  input_features: z.array(inputFeatureSchema).min(1, 'at least one input feature is required').describe('Columns the model reads.'),
  output_features: z.array(outputFeatureSchema).min(1, 'at least one output feature is required').describe('Columns the model predicts; their losses are summed.'),
  defaults: defaultsSchema
    .default({})
    .describe("Settings per feature type, merged into every feature of that type; a feature's own keys win, and a block of another type replaces the default whole."),
  combiner: combinerSchema.prefault({}).describe('How the encoder outputs are joined before the output layers.'),
  trainer: trainerSchema.prefault({}).describe('Training length, learning rate, optimizer, evaluation and early stopping.'),
  preprocessing: preprocessingSchema.prefault({}).describe('Dataset-wide preprocessing: the split and row sampling.'),
  backend: backendSectionSchema.prefault({}).describe('Which backend runs the tensors, with its own options.'),
  dataset: datasetSchema.optional().describe('CSV file, or separate training, validation and test files; paths are relative to the config file.'),
});

export type FtConfigInput = z.input<typeof configSchema>;
export type FtConfig = z.output<typeof configSchema>;
