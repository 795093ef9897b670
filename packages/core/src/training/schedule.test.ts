import { describe, expect, it } from 'vitest';

import { learningRateSchedulerSchema } from '../config/trainer.js';
import { learningRateAt, warmupSteps } from './schedule.js';

const scheduler = (keys: Record<string, unknown>) => learningRateSchedulerSchema.parse(keys);

describe('learningRateAt', () => {
  it('linear warmup and decay match Hugging Face', () => {
    // transformers tests/optimization/test_optimization.py: get_linear_schedule_with_warmup(base 10, warmup 2, total 10).
    const config = scheduler({ warmup_fraction: 0.2, decay: 'linear' });
    const rates = Array.from({ length: 10 }, (_, step) => learningRateAt(step, config, { baseLearningRate: 10, totalSteps: 10, stepsPerCheckpoint: 5 }));
    const expected = [0, 5, 10, 8.75, 7.5, 6.25, 5, 3.75, 2.5, 1.25];
    rates.forEach((rate, step) => expect(rate, `step ${step}`).toBeCloseTo(expected[step]!, 12));
  });

  it('linear decay reaches zero after the last step', () => {
    const config = scheduler({ warmup_fraction: 0.1, decay: 'linear' });
    const context = { baseLearningRate: 1e-3, totalSteps: 217, stepsPerCheckpoint: 217 };
    expect(learningRateAt(217, config, context)).toBe(0);
    expect(learningRateAt(216, config, context)).toBeGreaterThan(0);
  });

  it('first warmup step uses rate zero', () => {
    const config = scheduler({ warmup_fraction: 0.5 });
    expect(learningRateAt(0, config, { baseLearningRate: 1, totalSteps: 8, stepsPerCheckpoint: 8 })).toBe(0);
    expect(learningRateAt(4, config, { baseLearningRate: 1, totalSteps: 8, stepsPerCheckpoint: 8 })).toBe(1);
  });

  it('cosine matches Hugging Face without restarts', () => {
    // transformers: get_cosine_schedule_with_warmup(base 10, warmup 2, total 10) gives
    // [0.0, 5.0, 10.0, 9.61, 8.53, 6.91, 5.0, 3.08, 1.46, 0.38], compared there with a tolerance of 1e-2.
    const config = scheduler({ warmup_fraction: 0.2, decay: 'cosine' });
    const expected = [0.0, 5.0, 10.0, 9.61, 8.53, 6.91, 5.0, 3.08, 1.46, 0.38];
    expected.forEach((value, step) => {
      const rate = learningRateAt(step, config, { baseLearningRate: 10, totalSteps: 10, stepsPerCheckpoint: 10 });
      expect(Math.abs(rate - value), `step ${step}: ${rate}`).toBeLessThanOrEqual(1e-2);
    });
  });

  it('cosine restarts every t_0 steps', () => {
    const config = scheduler({ decay: 'cosine', t_0: 4, t_mult: 2, eta_min: 0.1 });
    const context = { baseLearningRate: 1, totalSteps: 20, stepsPerCheckpoint: 4 };
    expect(learningRateAt(0, config, context)).toBe(1);
    expect(learningRateAt(2, config, context)).toBeCloseTo(0.55, 12);
    expect(learningRateAt(4, config, context)).toBe(1);
    expect(learningRateAt(8, config, context)).toBeCloseTo(0.55, 12);
    expect(learningRateAt(12, config, context)).toBe(1);
  });

  it('exact warmup keeps the fraction like Ludwig', () => {
    // W = 0.25 × 10 = 2.5: rates 0, 0.4, 0.8 during warmup, then linear decay from ceil(W) = 3.
    const config = scheduler({ warmup_fraction: 0.25, warmup_rounding: 'exact', decay: 'linear' });
    const context = { baseLearningRate: 1, totalSteps: 10, stepsPerCheckpoint: 5 };
    expect(learningRateAt(1, config, context)).toBeCloseTo(0.4, 12);
    expect(learningRateAt(2, config, context)).toBeCloseTo(0.8, 12);
    expect(learningRateAt(3, config, context)).toBeCloseTo(1, 12);
    expect(learningRateAt(4, config, context)).toBeCloseTo((7.5 - 1) / 7.5, 12);
  });

  it('cosine restarts every checkpoint like Ludwig', () => {
    const config = scheduler({ decay: 'cosine', t_0: 'checkpoint' });
    const context = { baseLearningRate: 1, totalSteps: 30, stepsPerCheckpoint: 10 };
    expect(learningRateAt(5, config, context)).toBeCloseTo(0.5, 12);
    expect(learningRateAt(10, config, context)).toBe(1);
    expect(learningRateAt(25, config, context)).toBeCloseTo(0.5, 12);
  });

  it('exponential decays per decay_steps', () => {
    const smooth = scheduler({ decay: 'exponential', decay_rate: 0.5, decay_steps: 10 });
    const staircase = scheduler({ decay: 'exponential', decay_rate: 0.5, decay_steps: 10, staircase: true });
    const context = { baseLearningRate: 1, totalSteps: 100, stepsPerCheckpoint: 10 };
    expect(learningRateAt(0, smooth, context)).toBe(1);
    expect(learningRateAt(5, smooth, context)).toBeCloseTo(Math.SQRT1_2, 12);
    expect(learningRateAt(20, smooth, context)).toBeCloseTo(0.25, 12);
    expect(learningRateAt(19, staircase, context)).toBe(0.5);
  });
});

describe('warmupSteps', () => {
  it('rounds the fraction up to whole steps', () => {
    expect(warmupSteps(scheduler({ warmup_fraction: 0.1 }), { baseLearningRate: 1, totalSteps: 2165, stepsPerCheckpoint: 217 })).toBe(217);
    expect(warmupSteps(scheduler({ warmup_fraction: 0.2 }), { baseLearningRate: 1, totalSteps: 10, stepsPerCheckpoint: 5 })).toBe(2);
  });

  it('takes the longer of fraction and evaluations', () => {
    expect(warmupSteps(scheduler({ warmup_fraction: 0.1, warmup_evaluations: 2 }), { baseLearningRate: 1, totalSteps: 100, stepsPerCheckpoint: 10 })).toBe(20);
  });
});
