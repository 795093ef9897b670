import { gradientClippingSchema, optimizerSchema, referenceOptimizerStep, type OptimizerConfig, type ReferenceOptimizerState } from '@ft/core';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { GraphBuilder, type Value } from '../src/graph/builder.js';
import { buildGradientClipping, buildOptimizerUpdate, optimizerScalarNames, optimizerScalars, optimizerSlots, type Slot } from '../src/optimizers/update.js';

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
  { type: 'sgd' },
  { type: 'rmsprop', momentum: 0.5, weight_decay: 0.01 },
  { type: 'rmsprop', centered: true, alpha: 0.9 },
  { type: 'adagrad', lr_decay: 0.01, weight_decay: 0.01, initial_accumulator_value: 0.1 },
] as const;

async function updateSession(config: OptimizerConfig, shape: number[]) {
  const builder = new GraphBuilder('update');
  const weight = builder.input('w', 'float32', shape);
  const gradient = builder.input('g', 'float32', shape);
  const slots: Partial<Record<Slot, Value>> = {};
  for (const { slot } of optimizerSlots(config)) {
    slots[slot] = builder.input(`slot.${slot}`, 'float32', shape);
  }
  const scalars = Object.fromEntries(optimizerScalarNames(config).map((name) => [name, builder.input(`scalar.${name}`, 'float32', [])]));
  const updated = buildOptimizerUpdate(builder, config, weight, gradient, slots, scalars);
  builder.output(updated.weight, 'new_w');
  for (const [slot, value] of Object.entries(updated.slots)) {
    builder.output(value, `new_slot.${slot}`);
  }
  return ort.InferenceSession.create(builder.toBytes());
}

describe('graph optimizer updates against the PyTorch reference', () => {
  it.each(configs)('$type %#', async (settings) => {
    const config = optimizerSchema.parse(settings);
    const shape = [3, 4];
    const session = await updateSession(config, shape);
    const initial = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i + 1) * 0.5);
    // A float32 reference rounds stored state as the graph does; the arithmetic stays float64.
    const reference = Float32Array.from(initial);
    const state: ReferenceOptimizerState = { step: 0 };
    let weight: Float32Array = Float32Array.from(initial);
    const slots: Record<string, Float32Array> = Object.fromEntries(optimizerSlots(config).map(({ slot, initialValue }) => [slot, new Float32Array(12).fill(initialValue)]));

    // Warmup starts at learning rate 0: the moments still move, the weights (but for decay) do not.
    const learningRates = [0, 0.01, 0.02, 0.03, 0.02, 0.01];
    for (const [step, learningRate] of learningRates.entries()) {
      const gradient = Float32Array.from(reference, (w, i) => w * w - 0.1 * (i % 3) + 0.05 * step);
      referenceOptimizerStep(config, reference, gradient, state, learningRate);

      const feeds: Record<string, ort.Tensor> = { w: new ort.Tensor('float32', weight, shape), g: new ort.Tensor('float32', gradient, shape) };
      for (const [slot, data] of Object.entries(slots)) {
        feeds[`slot.${slot}`] = new ort.Tensor('float32', data, shape);
      }
      for (const [name, value] of Object.entries(optimizerScalars(config, step + 1, learningRate))) {
        feeds[`scalar.${name}`] = new ort.Tensor('float32', Float32Array.of(value), []);
      }
      const results = await session.run(feeds);
      weight = results.new_w!.data as Float32Array;
      for (const slot of Object.keys(slots)) {
        slots[slot] = results[`new_slot.${slot}`]!.data as Float32Array;
      }
      expectClose(weight, reference, `step ${step}`);
    }
    await session.release();
  });
});

describe('graph gradient clipping', () => {
  async function clip(settings: Record<string, unknown>, gradients: number[][]): Promise<Float32Array[]> {
    const builder = new GraphBuilder('clip');
    const inputs = gradients.map((values, index) => builder.input(`g${index}`, 'float32', [values.length]));
    buildGradientClipping(builder, inputs, gradientClippingSchema.parse(settings)).forEach((value, index) => builder.output(value, `out${index}`));
    const session = await ort.InferenceSession.create(builder.toBytes());
    const feeds = Object.fromEntries(gradients.map((values, index) => [`g${index}`, new ort.Tensor('float32', Float32Array.from(values), [values.length])]));
    const results = await session.run(feeds);
    return gradients.map((_, index) => results[`out${index}`]!.data as Float32Array);
  }

  it('scales to the global norm like clip_grad_norm_', async () => {
    const [a, b] = await clip({ clipglobalnorm: 1 }, [[3, 0], [0, 4]]);
    // Norm 5 scaled to 1 / (5 + 1e-6).
    const scale = 1 / (5 + 1e-6);
    expectClose(a!, [3 * scale, 0], 'a');
    expectClose(b!, [0, 4 * scale], 'b');
  });

  it('leaves small gradients unchanged', async () => {
    const [a] = await clip({ clipglobalnorm: 0.5 }, [[0.1, 0.2]]);
    expectClose(a!, [0.1, 0.2], 'a');
  });

  it('applies clipnorm after clipglobalnorm, then clipvalue', async () => {
    const [a] = await clip({ clipglobalnorm: 10, clipnorm: 1, clipvalue: 0.7 }, [[-3, 4]]);
    // Norm 5 is under 10, clipnorm scales to [-0.6, 0.8], clipvalue caps 0.8 at 0.7.
    expectClose(a!, [-3 / (5 + 1e-6), 0.7], 'a');
  });
});
