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

export const rmspropSchema = z.strictObject({
  type: z.literal('rmsprop'),
  alpha: z.number().min(0).lt(1).default(0.99).describe('Smoothing constant of the squared-gradient average.'),
  eps: z.number().positive().default(1e-8),
  weight_decay: z.number().min(0).default(0),
  momentum: z.number().min(0).default(0),
  centered: z.boolean().default(false).describe('Normalize by an estimate of the gradient variance instead of its second moment.'),
});

export const adagradSchema = z.strictObject({
  type: z.literal('adagrad'),
  lr_decay: z.number().min(0).default(0),
  weight_decay: z.number().min(0).default(0),
  initial_accumulator_value: z.number().min(0).default(0),
  eps: z.number().positive().default(1e-10),
});

export const optimizerSchema = z.discriminatedUnion('type', [adamwSchema, adamSchema, sgdSchema, rmspropSchema, adagradSchema]);
export type OptimizerConfig = z.output<typeof optimizerSchema>;

export const learningRateSchedulerSchema = z.strictObject({
  decay: z.enum(['linear', 'cosine', 'exponential']).nullable().default(null),
  decay_rate: z.number().gt(0).max(1).default(0.96).describe('Exponential decay: the factor applied every decay_steps.'),
  decay_steps: z.int().positive().default(10000),
  staircase: z.boolean().default(false),
  warmup_fraction: z.number().min(0).max(1).default(0).describe('Share of all steps over which the rate rises linearly from 0.'),
  warmup_evaluations: z.number().min(0).default(0).describe('Warmup length in evaluation periods; the longer of the two warmups wins.'),
  warmup_rounding: z
    .enum(['ceil', 'exact'])
    .default('ceil')
    .describe("ceil rounds warmup_fraction × total steps up to whole steps, as Hugging Face's Trainer does; exact keeps the fraction, as Ludwig does."),
  t_0: z
    .union([z.int().positive(), z.literal('checkpoint')])
    .nullable()
    .default(null)
    .describe("Cosine: steps in the first cycle. null runs one cycle over the whole run after warmup (Hugging Face); checkpoint restarts every evaluation period (Ludwig)."),
  t_mult: z.int().positive().default(1),
  eta_min: z.number().min(0).default(0),
  reduce_on_plateau: z.int().min(0).default(0).describe('Maximum number of times the rate is cut when the watched metric stops improving; 0 disables it.'),
  reduce_on_plateau_patience: z.int().min(0).default(10).describe('Evaluations without improvement before a cut.'),
  reduce_on_plateau_rate: z.number().gt(0).lt(1).default(0.1).describe('Factor applied to the rate at each cut.'),
  reduce_eval_metric: z.string().default('loss'),
  reduce_eval_split: z.enum(['training', 'validation', 'test']).default('training'),
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
  gradient_accumulation_steps: z
    .int()
    .positive()
    .default(1)
    .describe('Batches whose gradients are averaged before each optimizer update; the schedule counts updates.'),
  steps_per_checkpoint: z.int().min(0).default(0).describe('Steps between evaluations and checkpoints; 0 means once per epoch.'),
  checkpoints_per_epoch: z.number().min(0).default(0).describe('Evaluations and checkpoints per epoch; 0 means once per epoch.'),
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
