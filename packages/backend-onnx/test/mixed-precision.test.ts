/**
 * Mixed precision in the ONNX graphs: float16 matrix products, loss scaling and overflow skips.
 *
 * These tests run on ONNX Runtime's CPU provider, which computes float16 nodes by converting
 * around float32 kernels, so every product is rounded to half precision exactly as on a GPU,
 * and Inf appears where float16 overflows. `webgpu.test.ts` repeats the training checks on
 * the WebGPU provider.
 */
import type { NamedArrays } from '@ft/core';
import { describe, expect, it } from 'vitest';

import { OnnxModel } from '../src/model/onnx-model.js';
import { DEFAULT_SESSION_SETTINGS } from '../src/runtime/session.js';
import { mixedPrecisionBatch, mixedPrecisionDescription } from './mixed-precision-fixtures.js';

/** Largest finite float16 value. Larger results round to Inf. */
const FLOAT16_MAX = 65504;

const build = (mixedPrecision: boolean, lossWeight = 1) => OnnxModel.build(mixedPrecisionDescription(mixedPrecision, lossWeight), DEFAULT_SESSION_SETTINGS);

/** Largest absolute difference between two gradients, relative to the largest magnitude of `expected`. */
function relativeError(actual: Float32Array, expected: Float32Array): number {
  let difference = 0;
  let magnitude = 0;
  for (let i = 0; i < expected.length; i++) {
    difference = Math.max(difference, Math.abs(actual[i]! - expected[i]!));
    magnitude = Math.max(magnitude, Math.abs(expected[i]!));
  }
  return difference / magnitude;
}

function countZeros(data: Float32Array): number {
  return data.reduce((count, value) => count + (value === 0 ? 1 : 0), 0);
}

function expectSameState(actual: NamedArrays, expected: NamedArrays): void {
  expect(Object.keys(actual).sort()).toEqual(Object.keys(expected).sort());
  for (const [name, array] of Object.entries(expected)) {
    expect(actual[name]!.data, name).toEqual(array.data);
  }
}

describe('mixed-precision ONNX graphs', () => {
  it('match float32 within float16 rounding', async () => {
    const full = await build(false);
    const mixed = await build(true);
    for (let step = 0; step < 5; step++) {
      const expected = await full.trainStep(mixedPrecisionBatch(step), 1e-3);
      const actual = await mixed.trainStep(mixedPrecisionBatch(step), 1e-3, { lossScale: 1024 });
      expect(actual.gradientsFinite).toBeUndefined();
      // float16 keeps 11 significant bits (relative rounding 4.9e-4), and the loss is about 1.1.
      expect(Math.abs(actual.loss - expected.loss), `step ${step}: ${actual.loss} vs ${expected.loss}`).toBeLessThan(5e-3);
    }

    const expectedGradients = (await full.computeGradients(mixedPrecisionBatch(9))).gradients;
    const actualGradients = (await mixed.computeGradients(mixedPrecisionBatch(9), { lossScale: 1024 })).gradients;
    for (const [name, gradient] of Object.entries(expectedGradients)) {
      // Softmax ignores a shift shared by all scores, so the key bias has a zero gradient and only rounding noise to compare.
      if (name.endsWith('attention.self.key.bias')) {
        continue;
      }
      expect(relativeError(actualGradients[name]!.data as Float32Array, gradient.data as Float32Array), name).toBeLessThan(2e-2);
    }
    full.dispose();
    mixed.dispose();
  });

  it('keep small gradients when scaled', async () => {
    // A loss weight of 2⁻²⁰ pushes the encoder's gradients below float16's smallest subnormal (6e-8).
    const lossWeight = 2 ** -20;
    const name = 'encoders.text.encoder.layer.0.attention.self.query.weight';
    // A fresh model per call, so that all three draw the same dropout masks.
    const gradients = async (mixedPrecision: boolean, lossScale?: number) => {
      const model = await build(mixedPrecision, lossWeight);
      const result = await model.computeGradients(mixedPrecisionBatch(1), lossScale === undefined ? undefined : { lossScale });
      model.dispose();
      return result.gradients;
    };
    const expected = await gradients(false);
    const unscaled = await gradients(true, 1);
    const scaled = await gradients(true, 2 ** 20);

    const reference = expected[name]!.data as Float32Array;
    expect(countZeros(reference)).toBe(0);
    expect(countZeros(unscaled[name]!.data as Float32Array)).toBeGreaterThan(reference.length / 2);
    // Rounding through both layers' float16 products: 2.8e-2 measured.
    expect(relativeError(scaled[name]!.data as Float32Array, reference)).toBeLessThan(5e-2);
  });

  // With global-norm clipping the overflow check reads the squared norm, without it a plain sum.
  it.each([1, null])('skip an overflowed update, clipglobalnorm %s', async (clipGlobalNorm) => {
    const model = await OnnxModel.build(mixedPrecisionDescription(true, 1, clipGlobalNorm), DEFAULT_SESSION_SETTINGS);
    await model.trainStep(mixedPrecisionBatch(0), 1e-3, { lossScale: 1 });
    const before = await model.exportState();

    // Scaled past float16's range, the backward products overflow to Inf.
    const overflow = await model.trainStep(mixedPrecisionBatch(1), 1e-3, { lossScale: FLOAT16_MAX * 2 ** 10 });
    expect(overflow.gradientsFinite).toBe(false);
    expect(Number.isFinite(overflow.loss)).toBe(true);
    const after = await model.exportState();
    // The dropout counters moved on, as after any step; weights, slots and the step count did not.
    for (const state of [before, after]) {
      for (const key of Object.keys(state).filter((key) => key.startsWith('random.'))) {
        delete state[key];
      }
    }
    expectSameState(after, before);
    expect(after['optimizer.step']!.data[0]).toBe(1);

    const clean = await model.trainStep(mixedPrecisionBatch(1), 1e-3, { lossScale: 256 });
    expect(clean.gradientsFinite).toBeUndefined();
    expect((await model.exportState())['optimizer.step']!.data[0]).toBe(2);
    model.dispose();
  });

  it('reject invalid loss scales', async () => {
    const full = await build(false);
    await expect(full.trainStep(mixedPrecisionBatch(0), 1e-3, { lossScale: 8 })).rejects.toThrow(/mixedPrecision: true/);
    full.dispose();
    const mixed = await build(true);
    await expect(mixed.trainStep(mixedPrecisionBatch(0), 1e-3, { lossScale: 0 })).rejects.toThrow(/positive finite/);
    mixed.dispose();
  });
});
