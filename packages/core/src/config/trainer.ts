import { z } from 'zod';

const betas = () =>
  z
    .tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)])
    .default([0.9, 0.999])
    .describe('Decay rates of the first and second moment estimates.');

export const adamwSchema = z.strictObject({
  type: z.literal('adamw'),
  betas: betas(),
  eps: z.number().positive().default(1e-8),
  weight_decay: z.number().min(0).default(0.01).describe("Decoupled weight decay, as in PyTorch's AdamW (its default is 0.01)."),
  amsgrad: z.boolean().default(false),
});

export const adamSchema = z.strictObject({
  type: z.literal('adam'),
  betas: betas(),
  eps: z.number().positive().default(1e-8),
  weight_decay: z.number().min(0).default(0).describe('L2 penalty added to the gradient, as in PyTorch\'s Adam.'),
  amsgrad: z.boolean().default(false),
});

export const sgdSchema = z.strictObject({
  type: z.literal('sgd'),
  momentum: z.number().min(0).default(0),
  dampening: z.number().min(0).default(0),
  weight_decay: z.number().min(0).default(0),
  nesterov: z.boolean().default(false),
});

export const optimizerSchema = z.discriminatedUnion('type', [adamwSchema, adamSchema, sgdSchema]);
export type OptimizerConfig = z.output<typeof optimizerSchema>;

export const learningRateSchedulerSchema = z.strictObject({
  decay: z.enum(['linear', 'cosine', 'exponential']).nullable().default(null),
  decay_rate: z.number().gt(0).max(1).default(0.96).describe('Exponential decay: the factor applied every decay_steps.'),
  decay_steps: z.int().positive().default(10000),
  staircase: z.boolean().default(false),
  warmup_fraction: z.number().min(0).max(1).default(0).describe('Share of all steps over which the rate rises linearly from 0.'),
  warmup_evaluations: z.number().min(0).default(0).describe('Warmup length in evaluation periods (epochs); the longer warmup wins.'),
  t_0: z.int().positive().nullable().default(null).describe('Cosine: steps in the first cycle; null uses the whole run after warmup.'),
  t_mult: z.int().positive().default(1),
  eta_min: z.number().min(0).default(0),
});
export type LearningRateSchedulerConfig = z.output<typeof learningRateSchedulerSchema>;

export const gradientClippingSchema = z.strictObject({
  clipglobalnorm: z.number().positive().nullable().default(0.5),
  clipnorm: z.number().positive().nullable().default(null),
  clipvalue: z.number().positive().nullable().default(null),
});
export type GradientClippingConfig = z.output<typeof gradientClippingSchema>;

export const trainerSchema = z.strictObject({
  epochs: z.int().positive().default(100),
  train_steps: z.int().positive().nullable().default(null).describe('Total steps; overrides epochs when set.'),
  batch_size: z.int().positive().default(32),
  eval_batch_size: z.int().positive().nullable().default(null).describe('Rows per forward pass in evaluation; null uses max(batch_size, 128).'),
  learning_rate: z
    .union([z.number().gt(0).max(1), z.literal('auto')])
    .default('auto')
    .describe('A number, or auto: 1e-5 with a trainable pretrained encoder, 2e-5 with frozen ones, 1e-4 without, 1e-3 with no text input.'),
  learning_rate_scheduler: learningRateSchedulerSchema.prefault({}),
  learning_rate_scaling: z.enum(['constant', 'sqrt', 'linear']).default('linear'),
  optimizer: optimizerSchema.default({ type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false }),
  gradient_clipping: gradientClippingSchema.prefault({}),
  use_mixed_precision: z.boolean().default(false),
  early_stop: z.int().min(-1).default(5).describe('Evaluations without improvement before training stops; -1 disables it.'),
  validation_field: z.string().nullable().default(null),
  validation_metric: z.string().nullable().default(null),
  should_shuffle: z.boolean().default(true),
});
export type TrainerConfig = z.output<typeof trainerSchema>;
