import { describe, expect, it } from 'vitest';

import { binaryMetrics, categoryMetrics, numberMetrics, rocAuc } from './metrics.js';

describe('categoryMetrics', () => {
  it('computes accuracy, macro accuracy and loss by hand', () => {
    // Targets [2, 1, 0, 0], predictions [2, 1, 0, 1]: 3 of 4 correct; per-class recall 1, 1, 0.5.
    const logits = Float32Array.from([0, 0, 5, 0, 5, 0, 5, 0, 0, 0, 5, 0]);
    const metrics = categoryMetrics(logits, Int32Array.of(2, 1, 0, 0), 3, 1, null);
    expect(categoryMetrics(logits, Int32Array.of(2, 1, 0, 0), 3, 3, null).hits_at_k).toBeUndefined();
    expect(metrics.accuracy).toBe(0.75);
    expect(metrics.accuracy_macro).toBeCloseTo(0.8333333, 6);
    expect(metrics.hits_at_k).toBe(0.75);
    // One-vs-rest on softmax scores, where a logit of 5 gives the high score and 0 the low one.
    // Class 0: positives rows 2 (high) and 3 (low) against rows 0 and 1 (low): (1 + 1 + 0.5 + 0.5) / 4.
    // Class 1: positive row 1 (high) against rows 0 (low), 2 (low) and 3 (high): (1 + 1 + 0.5) / 3.
    // Class 2: positive row 0 (high) against three low rows: 1.
    expect(metrics.roc_auc).toBeCloseTo((0.75 + 2.5 / 3 + 1) / 3, 6);
    const confident = -Math.log(Math.exp(5) / (Math.exp(5) + 2));
    const wrong = -Math.log(1 / (Math.exp(5) + 2));
    expect(metrics.loss).toBeCloseTo((3 * confident + wrong) / 4, 6);
  });

  it('weights the loss by class', () => {
    const logits = Float32Array.from([0, 0, 0, 0]);
    const metrics = categoryMetrics(logits, Int32Array.of(0, 1), 2, 1, [1, 3]);
    expect(metrics.loss).toBeCloseTo(Math.log(2), 6);
  });
});

describe('rocAuc', () => {
  it('matches the pairwise definition with ties', () => {
    // Pairs (positive, negative): (0.8, 0.1), (0.8, 0.4) and (0.4, 0.1) are won; (0.4, 0.4) is a tie worth 1/2.
    expect(rocAuc([0.1, 0.4, 0.4, 0.8], [0, 0, 1, 1])).toBeCloseTo((3 + 0.5) / 4, 12);
  });

  it('is NaN with one class', () => {
    expect(rocAuc([0.1, 0.2], [1, 1])).toBeNaN();
  });
});

describe('binaryMetrics', () => {
  it('counts the confusion matrix at the threshold', () => {
    // Probabilities sigmoid([2, -2, 1, -1]) = [0.88, 0.12, 0.73, 0.27], targets [1, 0, 0, 1].
    const metrics = binaryMetrics(Float32Array.of(2, -2, 1, -1), Float32Array.of(1, 0, 0, 1), 0.5, null);
    expect(metrics.accuracy).toBe(0.5);
    expect(metrics.precision).toBe(0.5);
    expect(metrics.recall).toBe(0.5);
    expect(metrics.specificity).toBe(0.5);
    expect(metrics.roc_auc).toBe(0.75);
    const expectedLoss = (Math.log1p(Math.exp(-2)) * 2 + Math.log1p(Math.exp(1)) + Math.log1p(Math.exp(1))) / 4;
    expect(metrics.loss).toBeCloseTo(expectedLoss, 6);
  });
});

describe('numberMetrics', () => {
  it('computes errors and r2 in column units', () => {
    const metrics = numberMetrics(Float32Array.of(1, 2, 3), Float32Array.of(1, 2, 5), 'mean_squared_error', (value) => value * 10);
    expect(metrics.loss).toBeCloseTo(4 / 3, 6);
    expect(metrics.mean_squared_error).toBeCloseTo(400 / 3, 4);
    expect(metrics.mean_absolute_error).toBeCloseTo(20 / 3, 4);
    // Targets in column units [10, 20, 50]: mean 80/3, total sum of squares 2600/3, residual sum 400.
    expect(metrics.r2).toBeCloseTo(1 - 400 / (2600 / 3), 6);
  });
});
