import type { LearningRateSchedulerConfig } from '../config/trainer.js';

/** The run's length, in optimizer updates, which every schedule is a function of. */
export interface ScheduleContext {
  readonly baseLearningRate: number;
  /** Optimizer updates in the whole run. */
  readonly totalSteps: number;
  /** Optimizer updates between two evaluations, the unit of `warmup_evaluations` and of `t_0: checkpoint`. */
  readonly stepsPerCheckpoint: number;
}

/**
 * Returns the warmup length in steps: `warmup_fraction × total_steps` or
 * `warmup_evaluations × steps_per_checkpoint`, whichever is longer. With `warmup_rounding: ceil`
 * (the default) it is rounded up to whole steps, as Hugging Face's Trainer does, so a schedule
 * here matches `get_linear_schedule_with_warmup`. `exact` keeps the fraction, as Ludwig does.
 */
export function warmupSteps(config: LearningRateSchedulerConfig, context: ScheduleContext): number {
  const fromFraction = config.warmup_fraction * context.totalSteps;
  const fromEvaluations = config.warmup_evaluations * context.stepsPerCheckpoint;
  const warmup = Math.min(Math.max(fromFraction, fromEvaluations, 0), context.totalSteps);
  // The epsilon keeps products such as 0.1 × 2170 = 217.00000000000003 from rounding up a step.
  return config.warmup_rounding === 'ceil' ? Math.ceil(warmup - 1e-9) : warmup;
}

/**
 * Learning rate of optimizer update `step` (0-based).
 *
 * - Warmup rises linearly from 0: update 0 uses a rate of 0, update `warmup` the full rate.
 * - `linear` decays to exactly 0 at `step = total_steps`, the step after the last update,
 *   as Hugging Face's linear schedule does.
 * - `cosine` follows one half cosine from the base rate to `eta_min` over the steps after warmup,
 *   as Hugging Face's cosine schedule does. With `t_0` set it restarts every `t_0` steps (or every
 *   evaluation period for `t_0: checkpoint`), each cycle `t_mult` times longer, as PyTorch's
 *   `CosineAnnealingWarmRestarts` does.
 * - `exponential` multiplies by `decay_rate` every `decay_steps` steps after warmup,
 *   in whole jumps when `staircase` is set.
 */
export function learningRateAt(step: number, config: LearningRateSchedulerConfig, context: ScheduleContext): number {
  const base = context.baseLearningRate;
  const warmup = warmupSteps(config, context);

  if (step < warmup) {
    return (base * step) / Math.max(1, warmup);
  }

  const decayStart = Math.ceil(warmup);
  const decayStep = step - decayStart;
  switch (config.decay) {
    case null:
      return base;
    case 'linear':
      return base * Math.max(0, (context.totalSteps - warmup - decayStep) / Math.max(1, context.totalSteps - warmup));
    case 'exponential': {
      const exponent = decayStep / config.decay_steps;
      return base * config.decay_rate ** (config.staircase ? Math.floor(exponent) : exponent);
    }
    case 'cosine': {
      const firstCycle = config.t_0 === 'checkpoint' ? context.stepsPerCheckpoint : config.t_0;
      let cycleLength = firstCycle ?? Math.max(1, context.totalSteps - decayStart);
      let position = decayStep;
      while (firstCycle !== null && position >= cycleLength) {
        position -= cycleLength;
        cycleLength *= config.t_mult;
      }
      const progress = Math.min(1, position / cycleLength);
      return config.eta_min + ((base - config.eta_min) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
  }
}
