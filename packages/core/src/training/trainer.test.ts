import { describe, expect, it } from 'vitest';

import { trainerSchema, type ResolvedTrainerConfig } from '../config/trainer.js';
import { planTraining } from './trainer.js';

/** Parses a trainer config and gives it numeric batch settings, as the training loop receives it. */
const trainer = (keys: Record<string, unknown>): ResolvedTrainerConfig => {
  const parsed = trainerSchema.parse(keys);
  const batchSize = parsed.batch_size as number;
  const accumulation = parsed.gradient_accumulation_steps as number;
  return { ...parsed, batch_size: batchSize, gradient_accumulation_steps: accumulation, eval_batch_size: 128, effective_batch_size: batchSize * accumulation };
};

describe('planTraining', () => {
  it('counts batches per epoch and total steps', () => {
    const plan = planTraining(trainer({ epochs: 3, batch_size: 32 }), 100);
    expect(plan).toMatchObject({ stepsPerEpoch: 4, totalSteps: 12, epochs: 3, stepsPerCheckpoint: 4, totalUpdates: 12 });
  });

  it('drops a last batch of one row', () => {
    expect(planTraining(trainer({ epochs: 1, batch_size: 32 }), 65).stepsPerEpoch).toBe(2);
    expect(planTraining(trainer({ epochs: 1, batch_size: 32 }), 66).stepsPerEpoch).toBe(3);
    expect(planTraining(trainer({ epochs: 1, batch_size: 1 }), 5).stepsPerEpoch).toBe(5);
  });

  it('train_steps overrides epochs', () => {
    const plan = planTraining(trainer({ epochs: 100, train_steps: 10, batch_size: 4 }), 16);
    expect(plan.totalSteps).toBe(10);
    expect(plan.epochs).toBe(3);
  });

  it('derives the evaluation period like Ludwig', () => {
    // Ludwig's cases with 1024 steps per epoch.
    const rows = 1024 * 8;
    const period = (keys: Record<string, unknown>) => planTraining(trainer({ batch_size: 8, ...keys }), rows).stepsPerCheckpoint;
    expect(period({ steps_per_checkpoint: 100 })).toBe(100);
    expect(period({ steps_per_checkpoint: 2048 })).toBe(1024);
    expect(period({ checkpoints_per_epoch: 2 })).toBe(512);
    expect(period({ checkpoints_per_epoch: 2.5 })).toBe(409);
    expect(period({ checkpoints_per_epoch: 0.5 })).toBe(1024);
    expect(period({})).toBe(1024);
  });

  it('counts updates with gradient accumulation', () => {
    const plan = planTraining(trainer({ epochs: 2, batch_size: 4, gradient_accumulation_steps: 3, learning_rate_scheduler: { warmup_fraction: 0.5 } }), 40);
    expect(plan.totalSteps).toBe(20);
    expect(plan.totalUpdates).toBe(7);
    expect(plan.warmupUpdates).toBe(4);
  });
});
