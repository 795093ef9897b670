import type { LearningRateSchedulerConfig } from '../config/trainer.js';

/** Everything a learning-rate schedule needs besides the step: the run's length in steps. */
export interface ScheduleContext {
  readonly baseLearningRate: number;
  readonly totalSteps: number;
  readonly stepsPerEpoch: number;
}

/**
 * Returns the number of warmup steps: `ceil(warmup_fraction × total_steps)`, or
 * `warmup_evaluations × steps_per_epoch` when that is longer. Rounding up to a whole step
 * follows Hugging Face's Trainer, so a schedule here matches `get_linear_schedule_with_warmup`
 * given the same integer warmup.
 */
export function warmupSteps(config: LearningRateSchedulerConfig, context: ScheduleContext): number {
  const fromFraction = Math.ceil(config.warmup_fraction * context.totalSteps - 1e-9);
  const fromEvaluations = Math.ceil(config.warmup_evaluations * context.stepsPerEpoch - 1e-9);
  return Math.min(Math.max(fromFraction, fromEvaluations, 0), context.totalSteps);
}

/**
 * Learning rate of optimizer update `step` (0-based).
 *
 * - Warmup rises linearly from 0: update 0 uses a rate of 0, update `warmup` the full rate.
 * - `linear` decays to exactly 0 at `step = total_steps`, the step after the last update,
 *   as Hugging Face's linear schedule does.
 * - `cosine` follows one half cosine from the base rate to `eta_min` over the steps after warmup;
 *   with `t_0` set it restarts every `t_0` steps, each cycle `t_mult` times longer (SGDR).
 * - `exponential` multiplies by `decay_rate` every `decay_steps` steps after warmup,
 *   in whole jumps when `staircase` is set.
 */
export function learningRateAt(step: number, config: LearningRateSchedulerConfig, context: ScheduleContext): number {
  const base = context.baseLearningRate;
  const warmup = warmupSteps(config, context);

  if (step < warmup) {
    return (base * step) / Math.max(1, warmup);
  }

  const decayStep = step - warmup;
  const decaySteps = Math.max(1, context.totalSteps - warmup);
  switch (config.decay) {
    case null:
      return base;
    case 'linear':
      return base * Math.max(0, (context.totalSteps - step) / decaySteps);
    case 'exponential': {
      const exponent = decayStep / config.decay_steps;
      return base * config.decay_rate ** (config.staircase ? Math.floor(exponent) : exponent);
    }
    case 'cosine': {
      let cycleLength = config.t_0 ?? decaySteps;
      let position = decayStep;
      while (config.t_0 !== null && position >= cycleLength) {
        position -= cycleLength;
        cycleLength *= config.t_mult;
      }
      const progress = Math.min(1, position / cycleLength);
      return config.eta_min + ((base - config.eta_min) * (1 + Math.cos(Math.PI * progress))) / 2;
    }
  }
}
