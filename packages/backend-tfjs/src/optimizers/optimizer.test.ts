import * as tf from '@tensorflow/tfjs-core';
import { optimizerSchema, referenceOptimizerStep, type ReferenceOptimizerState } from '@ft/core';
import { beforeAll, describe, expect, it } from 'vitest';

import { selectRuntime } from '../runtime/select-runtime.js';
import { clipGradients, TfjsOptimizer } from './optimizer.js';

const RELATIVE_TOLERANCE = 1e-6;

/** Checks |actual − expected| ≤ 1e-6 · max(|expected|, 1e-3) element by element. */
function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  for (let i = 0; i < expected.length; i++) {
    const scale = Math.max(Math.abs(expected[i]!), 1e-3);
    expect(Math.abs(actual[i]! - expected[i]!), `${label}[${i}]: ${actual[i]} vs ${expected[i]}`).toBeLessThanOrEqual(RELATIVE_TOLERANCE * scale);
  }
}

const configs = [
  { type: 'adamw', weight_decay: 0.01 },
  { type: 'adamw', weight_decay: 0.1, amsgrad: true, betas: [0.8, 0.99] },
  { type: 'adam', weight_decay: 0.01 },
  { type: 'sgd', momentum: 0.9, dampening: 0.1, weight_decay: 0.01 },
  { type: 'sgd', momentum: 0.9, nesterov: true },
  { type: 'rmsprop', momentum: 0.5, weight_decay: 0.01 },
  { type: 'rmsprop', centered: true, alpha: 0.9 },
  { type: 'adagrad', lr_decay: 0.01, weight_decay: 0.01, initial_accumulator_value: 0.1 },
] as const;

describe('TfjsOptimizer against the PyTorch reference', () => {
  beforeAll(async () => {
    await selectRuntime('wasm', () => {});
  });

  it.each(configs)('$type %#', async (settings) => {
    const config = optimizerSchema.parse(settings);
    const initial = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1) * 0.5);
    // A float32 reference rounds stored state as the backend does; the arithmetic stays float64.
    const reference = Float32Array.from(initial);
    const state: ReferenceOptimizerState = { step: 0 };
    const variable = tf.variable(tf.tensor(initial, [3, 4]), true, `optimizer-test-${settings.type}-${Math.random()}`);
    const optimizer = new TfjsOptimizer(config);

    // Warmup starts at learning rate 0: the moments still move, the weights (but for decay) do not.
    const learningRates = [0, 0.01, 0.02, 0.03, 0.02, 0.01];
    learningRates.forEach((learningRate, step) => {
      const gradient = Float32Array.from(reference, (w, i) => w * w - 0.1 * (i % 3) + 0.05 * step);
      referenceOptimizerStep(config, reference, gradient, state, learningRate);
      const gradientTensor = tf.tensor(gradient, [3, 4]);
      optimizer.apply(new Map([['w', variable]]), { w: gradientTensor }, learningRate);
      gradientTensor.dispose();
      expectClose(variable.dataSync(), reference, `step ${step}`);
    });

    const exported = await optimizer.exportState();
    expect(exported['optimizer.step']!.data[0]).toBe(learningRates.length);
    optimizer.dispose();
    variable.dispose();
  });

  it('state survives export and import', async () => {
    const config = optimizerSchema.parse({ type: 'adamw' });
    const variable = tf.variable(tf.tensor1d([1, 2, 3]), true, `optimizer-state-${Math.random()}`);
    const first = new TfjsOptimizer(config);
    const gradient = tf.tensor1d([0.1, -0.2, 0.3]);
    first.apply(new Map([['w', variable]]), { w: gradient }, 0.1);

    const second = new TfjsOptimizer(config);
    second.importState(await first.exportState(), new Map([['w', variable]]));
    const copy = tf.variable(variable.clone(), true, `optimizer-state-copy-${Math.random()}`);
    first.apply(new Map([['w', variable]]), { w: gradient }, 0.1);
    second.apply(new Map([['w', copy]]), { w: gradient }, 0.1);
    expect(Array.from(copy.dataSync())).toEqual(Array.from(variable.dataSync()));
    [first, second].forEach((optimizer) => optimizer.dispose());
    [variable, copy, gradient].forEach((tensor) => tensor.dispose());
  });
});

describe('clipGradients', () => {
  beforeAll(async () => {
    await selectRuntime('wasm', () => {});
  });

  it('scales to the global norm like clip_grad_norm_', () => {
    const gradients = { a: tf.tensor1d([3, 0]), b: tf.tensor1d([0, 4]) };
    const clipped = clipGradients(gradients, { clipglobalnorm: 1, clipnorm: null, clipvalue: null });
    // Norm 5 scaled to 1 / (5 + 1e-6).
    const scale = 1 / (5 + 1e-6);
    expectClose(clipped.a!.dataSync(), [3 * scale, 0], 'a');
    expectClose(clipped.b!.dataSync(), [0, 4 * scale], 'b');
  });

  it('leaves small gradients unchanged', () => {
    const clipped = clipGradients({ a: tf.tensor1d([0.1, 0.2]) }, { clipglobalnorm: 0.5, clipnorm: null, clipvalue: null });
    expectClose(clipped.a!.dataSync(), [0.1, 0.2], 'a');
  });

  it('clips each value', () => {
    const clipped = clipGradients({ a: tf.tensor1d([-3, 0.5, 2]) }, { clipglobalnorm: null, clipnorm: null, clipvalue: 1 });
    expect(Array.from(clipped.a!.dataSync())).toEqual([-1, 0.5, 1]);
  });
});
