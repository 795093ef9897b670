import { describe, expect, it } from 'vitest';

import { optimizerSchema } from '../../config/trainer.js';
import { referenceOptimizerStep, type ReferenceOptimizerState } from './reference.js';

/** Minimises the mean squared error to `target`, the problem of transformers' `test_adam_w`. */
function run(config: ReturnType<typeof optimizerSchema.parse>, steps: number, learningRate: number): Float64Array {
  const weights = Float64Array.of(0.1, -0.2, -0.1);
  const target = [0.4, 0.2, -0.5];
  const state: ReferenceOptimizerState = { step: 0 };
  for (let step = 0; step < steps; step++) {
    const gradient = Float64Array.from(weights, (w, i) => (2 * (w - target[i]!)) / 3);
    referenceOptimizerStep(config, weights, gradient, state, learningRate);
  }
  return weights;
}

describe('referenceOptimizerStep', () => {
  it('adamw first step moves each weight by lr', () => {
    // With bias correction, Adam's first update is lr · sign(g) (up to eps).
    const weights = run(optimizerSchema.parse({ type: 'adamw', weight_decay: 0 }), 1, 0.2);
    expect(Array.from(weights)).toEqual([expect.closeTo(0.3, 7), expect.closeTo(0.0, 7), expect.closeTo(-0.3, 7)]);
  });

  it('adamw reaches the target as in transformers test_adam_w', () => {
    const weights = run(optimizerSchema.parse({ type: 'adamw', weight_decay: 0 }), 100, 0.2);
    // A plain float64 transcription of torch.optim.AdamW's algorithm gives these values.
    expect(weights[0]).toBeCloseTo(0.401177, 5);
    expect(weights[1]).toBeCloseTo(0.201738, 5);
    expect(weights[2]).toBeCloseTo(-0.501738, 5);
  });

  it('adamw decays weights before the Adam step', () => {
    const config = optimizerSchema.parse({ type: 'adamw', weight_decay: 0.5 });
    const weights = Float64Array.of(2);
    referenceOptimizerStep(config, weights, Float64Array.of(0), { step: 0 }, 0.1);
    // Zero gradient: only the decay acts, θ·(1 − lr·λ).
    expect(weights[0]).toBeCloseTo(2 * (1 - 0.05), 12);
  });

  it('learning rate zero still updates the moments', () => {
    const config = optimizerSchema.parse({ type: 'adamw' });
    const weights = Float64Array.of(1);
    const state: ReferenceOptimizerState = { step: 0 };
    referenceOptimizerStep(config, weights, Float64Array.of(0.5), state, 0);
    expect(weights[0]).toBe(1);
    expect(state.firstMoment![0]).toBeCloseTo(0.05, 12);
    expect(state.secondMoment![0]).toBeCloseTo(0.00025, 12);
  });

  it('rmsprop follows the running square average', () => {
    const config = optimizerSchema.parse({ type: 'rmsprop', alpha: 0.9, eps: 1e-300 });
    const weights = Float64Array.of(1);
    const state: ReferenceOptimizerState = { step: 0 };
    referenceOptimizerStep(config, weights, Float64Array.of(2), state, 0.1);
    // v = 0.1 · 4 = 0.4; step 2 / sqrt(0.4).
    expect(weights[0]).toBeCloseTo(1 - (0.1 * 2) / Math.sqrt(0.4), 12);
  });

  it('centered rmsprop with momentum', () => {
    const config = optimizerSchema.parse({ type: 'rmsprop', alpha: 0.5, eps: 1e-300, centered: true, momentum: 0.5 });
    const weights = Float64Array.of(0);
    const state: ReferenceOptimizerState = { step: 0 };
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 1);
    // v = 0.5, mean gradient 0.5, variance 0.5 − 0.25 = 0.25, step 1 / 0.5 = 2, buffer 2.
    expect(weights[0]).toBeCloseTo(-2, 12);
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 1);
    // v = 0.75, mean 0.75, variance 0.1875, step 1 / sqrt(0.1875), buffer 0.5 · 2 + step.
    expect(weights[0]).toBeCloseTo(-2 - (1 + 1 / Math.sqrt(0.1875)), 12);
  });

  it('adagrad accumulates squares and decays the rate', () => {
    const config = optimizerSchema.parse({ type: 'adagrad', lr_decay: 0.5, eps: 1e-300, initial_accumulator_value: 1 });
    const weights = Float64Array.of(0);
    const state: ReferenceOptimizerState = { step: 0 };
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 1);
    // sum = 1 + 1 = 2, rate 1.
    expect(weights[0]).toBeCloseTo(-1 / Math.sqrt(2), 12);
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 1);
    // sum = 3, rate 1 / (1 + 0.5).
    expect(weights[0]).toBeCloseTo(-1 / Math.sqrt(2) - 1 / 1.5 / Math.sqrt(3), 12);
  });

  it('sgd with momentum and nesterov', () => {
    const config = optimizerSchema.parse({ type: 'sgd', momentum: 0.9, nesterov: true });
    const weights = Float64Array.of(1);
    const state: ReferenceOptimizerState = { step: 0 };
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 0.1);
    // b1 = g = 1; update g + μ·b = 1.9.
    expect(weights[0]).toBeCloseTo(1 - 0.19, 12);
    referenceOptimizerStep(config, weights, Float64Array.of(1), state, 0.1);
    // b2 = 0.9 + 1 = 1.9; update 1 + 0.9·1.9 = 2.71.
    expect(weights[0]).toBeCloseTo(0.81 - 0.271, 12);
  });
});
