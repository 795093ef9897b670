import { z } from 'zod';

const betas = () =>
  z
    .tuple([z.number().min(0).lt(1), z.number().min(0).lt(1)])
    .default([0.9, 0.999])
    .describe("Decay rates of the first and second moment estimates; [0.9, 0.999] is PyTorch's default.");

export const adamwSchema = z
  .strictObject({
    type: z.literal('adamw').describe('Adam with decoupled weight decay (Loshchilov and Hutter), the usual choice for fine-tuning transformers.'),
    betas: betas(),
    eps: z.number().positive().default(1e-8).describe("Term added to the denominator for numerical stability; 1e-8 is PyTorch's default."),
    weight_decay: z.number().min(0).default(0.01).describe("Decoupled weight decay, as in PyTorch's AdamW (its default is 0.01)."),
    amsgrad: z.boolean().default(false).describe('Use the maximum of past second moments (the AMSGrad variant).'),
  })
  .describe('AdamW, as PyTorch implements it.');

export const adamSchema = z
  .strictObject({
    type: z.literal('adam').describe('Adam, with weight decay added to the gradient as an L2 penalty.'),
    betas: betas(),
    eps: z.number().positive().default(1e-8).describe("Term added to the denominator for numerical stability; 1e-8 is PyTorch's default."),
    weight_decay: z.number().min(0).default(0).describe("L2 penalty added to the gradient, as in PyTorch's Adam (its default is 0)."),
    amsgrad: z.boolean().default(false).describe('Use the maximum of past second moments (the AMSGrad variant).'),
  })
  .describe('Adam, as PyTorch implements it.');

export const sgdSchema = z
  .strictObject({
    type: z.literal('sgd').describe('Stochastic gradient descent, optionally with momentum.'),
    momentum: z.number().min(0).default(0).describe("Momentum factor; 0 (PyTorch's default) is plain SGD."),
    dampening: z.number().min(0).default(0).describe('Dampening of the momentum: from the second update on, the new gradient enters the buffer scaled by 1 - dampening.'),
    weight_decay: z.number().min(0).default(0).describe('L2 penalty added to the gradient.'),
    nesterov: z.boolean().default(false).describe('Use Nesterov momentum; has an effect only with momentum > 0.'),
  })
  .describe('SGD, as PyTorch implements it.');

export const rmspropSchema = z
  .strictObject({
    type: z.literal('rmsprop').describe('RMSprop: steps scaled by a running average of squared gradients.'),
    alpha: z.number().min(0).lt(1).default(0.99).describe("Smoothing constant of the squared-gradient average; 0.99 is PyTorch's default."),
    eps: z.number().positive().default(1e-8).describe("Term added to the denominator for numerical stability; 1e-8 is PyTorch's default."),
    weight_decay: z.number().min(0).default(0).describe('L2 penalty added to the gradient.'),
    momentum: z.number().min(0).default(0).describe('Momentum factor; 0 turns momentum off.'),
    centered: z.boolean().default(false).describe('Normalize by an estimate of the gradient variance instead of its second moment.'),
  })
  .describe('RMSprop, as PyTorch implements it.');

export const adagradSchema = z
  .strictObject({
    type: z.literal('adagrad').describe('Adagrad: steps scaled by the sum of all past squared gradients.'),
    lr_decay: z.number().min(0).default(0).describe('Learning rate decay: update t uses lr / (1 + (t - 1) × lr_decay).'),
    weight_decay: z.number().min(0).default(0).describe('L2 penalty added to the gradient.'),
    initial_accumulator_value: z.number().min(0).default(0).describe('Starting value of the sum of squared gradients.'),
    eps: z.number().positive().default(1e-10).describe("Term added to the denominator for numerical stability; 1e-10 is PyTorch's default for Adagrad."),
  })
  .describe('Adagrad, as PyTorch implements it.');

export const optimizerSchema = z.discriminatedUnion('type', [adamwSchema, adamSchema, sgdSchema, rmspropSchema, adagradSchema]);
export type OptimizerConfig = z.output<typeof optimizerSchema>;

export const learningRateSchedulerSchema = z.strictObject({
  decay: z
    .enum(['linear', 'cosine', 'exponential'])
    .nullable()
    .default(null)
    .describe('Decay after warmup: linear to 0 at the last update, cosine to eta_min, or exponential by decay_rate; null keeps the rate constant.'),
  decay_rate: z.number().gt(0).max(1).default(0.96).describe("Exponential decay: the factor applied every decay_steps. 0.96 is Ludwig's default."),
  decay_steps: z.int().positive().default(10000).describe("Exponential decay: optimizer updates per decay_rate factor. 10000 is Ludwig's default."),
  staircase: z.boolean().default(false).describe('Exponential decay: apply the factor in whole jumps every decay_steps instead of smoothly.'),
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
    .describe('Cosine: steps in the first cycle. null runs one cycle over the whole run after warmup (Hugging Face); checkpoint restarts every evaluation period (Ludwig).'),
  t_mult: z.int().positive().default(1).describe('Cosine with t_0 set: each cycle is t_mult times longer than the one before; 1 keeps them equal.'),
  eta_min: z.number().min(0).default(0).describe('Cosine: the lowest learning rate, reached at the end of each cycle.'),
  reduce_on_plateau: z.int().min(0).default(0).describe('Maximum number of times the rate is cut when the watched metric stops improving; 0 disables it.'),
  reduce_on_plateau_patience: z.int().min(0).default(10).describe("Evaluations without improvement before a cut; 10 is Ludwig's default."),
  reduce_on_plateau_rate: z.number().gt(0).lt(1).default(0.1).describe("Factor applied to the rate at each cut; 0.1 is Ludwig's default."),
  reduce_eval_metric: z
    .string()
    .default('loss')
    .describe('Metric of the validation_field output that reduce_on_plateau watches, for example loss or accuracy.'),
  reduce_eval_split: z
    .enum(['training', 'validation', 'test'])
    .default('training')
    .describe("Split whose metric reduce_on_plateau watches; training is Ludwig's default."),
});
export type LearningRateSchedulerConfig = z.output<typeof learningRateSchedulerSchema>;

export const gradientClippingSchema = z.strictObject({
  clipglobalnorm: z
    .number()
    .positive()
    .nullable()
    .default(0.5)
    .describe("Maximum global norm of all gradients together, applied first; null turns it off. 0.5 is Ludwig's default."),
  clipnorm: z.number().positive().nullable().default(null).describe('A second maximum global norm, applied after clipglobalnorm; null turns it off.'),
  clipvalue: z.number().positive().nullable().default(null).describe('Clamp every gradient element into [-clipvalue, clipvalue], applied last; null turns it off.'),
});
export type GradientClippingConfig = z.output<typeof gradientClippingSchema>;

export const trainerSchema = z.strictObject({
  epochs: z
    .int()
    .positive()
    .default(100)
    .describe("Passes over the training data. 100 is Ludwig's default; early_stop usually ends a run sooner."),
  train_steps: z.int().positive().nullable().default(null).describe('Total steps; overrides epochs when set.'),
  batch_size: z
    .union([z.int().positive(), z.literal('auto')])
    .default(32)
    .describe(
      "Training rows per step, or auto to measure training throughput at growing sizes and keep the fastest. 32 is one of the two batch sizes (16 and 32) that BERT's authors recommend for fine-tuning, in their paper's appendix A.3.",
    ),
  max_batch_size: z
    .int()
    .positive()
    .default(1024)
    .describe('Largest batch size that batch_size: auto tries; on a CPU it also stops at 128, and always at 20% of the training rows.'),
  max_memory_fraction: z
    .number()
    .gt(0)
    .max(1)
    .default(0.8)
    .describe("Share of the machine's memory that batch_size: auto may let the process use; it stops growing the batch before a trial would pass it."),
  effective_batch_size: z
    .union([z.int().positive(), z.literal('auto')])
    .default('auto')
    .describe('Rows per optimizer update, batch_size × gradient_accumulation_steps × workers; a number sets whichever of the two is auto.'),
  gradient_accumulation_steps: z
    .union([z.int().positive(), z.literal('auto')])
    .default(1)
    .describe('Batches whose gradients are averaged before each optimizer update, or auto to derive it from effective_batch_size; the schedule counts updates.'),
  steps_per_checkpoint: z.int().min(0).default(0).describe('Steps between evaluations and checkpoints; 0 means once per epoch.'),
  checkpoints_per_epoch: z.number().min(0).default(0).describe('Evaluations and checkpoints per epoch; 0 means once per epoch.'),
  eval_batch_size: z
    .union([z.int().positive(), z.literal('auto')])
    .nullable()
    .default(null)
    .describe('Rows per forward pass in evaluation; null uses max(batch_size, 128), and auto measures forward throughput like batch_size: auto.'),
  learning_rate: z
    .union([z.number().gt(0).max(1), z.literal('auto')])
    .default('auto')
    .describe('A number, or auto: 1e-5 with a trainable pretrained encoder, 2e-5 with frozen ones, 1e-4 without, 1e-3 with no text input.'),
  learning_rate_scheduler: learningRateSchedulerSchema.prefault({}).describe('Warmup, decay and plateau cuts of the learning rate over the run.'),
  learning_rate_scaling: z
    .enum(['constant', 'sqrt', 'linear'])
    .default('linear')
    .describe("Multiplies the learning rate by 1, √n or n for n data-parallel workers; a single process has n = 1. linear is Ludwig's default."),
  optimizer: optimizerSchema
    .default({ type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false })
    .describe('Optimizer and its settings; adamw by default, the usual choice for fine-tuning transformers.'),
  gradient_clipping: gradientClippingSchema.prefault({}).describe('Gradient clipping before each optimizer update.'),
  use_mixed_precision: z
    .boolean()
    .default(false)
    .describe(
      'Run matrix products in float16 with float32 master weights and dynamic loss scaling where the backend and device support it (onnx on webgpu or cuda); elsewhere a warning is logged and training runs in float32.',
    ),
  early_stop: z.int().min(-1).default(5).describe("Evaluations without improvement before training stops; -1 disables it. 5 is Ludwig's default."),
  validation_field: z
    .string()
    .nullable()
    .default(null)
    .describe('Output feature whose validation_metric selects the best weights, or combined for the summed loss; null means the first output feature.'),
  validation_metric: z
    .string()
    .nullable()
    .default(null)
    .describe('Metric that selects the best weights; null means accuracy for category, roc_auc for binary and mean_squared_error for number outputs.'),
  should_shuffle: z.boolean().default(true).describe('Shuffle the training rows every epoch, with the run seed.'),
});
export type TrainerConfig = z.output<typeof trainerSchema>;

/** A trainer config after every `auto` batch setting has been replaced by a number. */
export type ResolvedTrainerConfig = Omit<TrainerConfig, 'batch_size' | 'gradient_accumulation_steps' | 'eval_batch_size' | 'effective_batch_size'> & {
  readonly batch_size: number;
  readonly gradient_accumulation_steps: number;
  readonly eval_batch_size: number;
  readonly effective_batch_size: number;
};
