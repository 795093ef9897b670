import { describe, expect, it } from 'vitest';

import type { TrainingBatch } from '../../backend/model-description.js';
import { makeBatch, type PreparedSplit } from '../../data/batcher.js';
import { averageGradients, shardBatch, sliceBatch } from './shards.js';

/** Five rows: a text input padded to width 4 whose lengths are 1, 3, 2, 1, 2, and one input or target of every other kind. */
const split: PreparedSplit = {
  split: 'training',
  rows: 5,
  inputs: {
    text: {
      kind: 'text',
      sequenceLength: 4,
      ids: Int32Array.from([5, 0, 0, 0, 6, 7, 8, 0, 9, 10, 0, 0, 11, 0, 0, 0, 12, 13, 0, 0]),
      attentionMask: Int32Array.from([1, 0, 0, 0, 1, 1, 1, 0, 1, 1, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]),
    },
    embedding: { kind: 'embedding', size: 2, values: Float32Array.from([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]) },
    category: { kind: 'category', indices: Int32Array.from([1, 2, 3, 4, 5]) },
    number: { kind: 'number', values: Float32Array.from([0.1, 0.2, 0.3, 0.4, 0.5]) },
  },
  targets: {
    label: { kind: 'category', indices: Int32Array.from([0, 1, 0, 1, 0]) },
    flag: { kind: 'binary', values: Float32Array.from([1, 0, 1, 0, 1]) },
    score: { kind: 'number', values: Float32Array.from([10, 20, 30, 40, 50]) },
  },
};

describe('sliceBatch', () => {
  it('equals makeBatch of the same rows', () => {
    const whole: TrainingBatch = makeBatch(split, [0, 1, 2, 3, 4]);
    for (const [start, end] of [
      [0, 2],
      [2, 5],
      [3, 4],
      [0, 5],
    ] as const) {
      const rows = Array.from({ length: end - start }, (_, index) => start + index);
      expect(sliceBatch(whole, start, end)).toEqual(makeBatch(split, rows));
    }
  });

  it('trims text to the longest row of the shard', () => {
    const shard = sliceBatch(makeBatch(split, [0, 1, 2, 3, 4]), 3, 5);
    const text = shard.inputs.text!;
    expect(text.kind).toBe('text');
    expect(text.kind === 'text' ? text.sequenceLength : null).toBe(2);
  });
});

describe('shardBatch', () => {
  it('gives shard k rows [k·s, (k+1)·s)', () => {
    const shards = shardBatch(makeBatch(split, [0, 1, 2, 3, 4]), 3, 2);
    expect(shards.map((shard) => shard.rows)).toEqual([3, 2]);
    expect(shards[1]!.targets.score).toEqual({ kind: 'number', values: Float32Array.from([40, 50]) });
  });

  it('leaves trailing shards empty when rows run out', () => {
    expect(shardBatch(makeBatch(split, [0, 1]), 2, 3).map((shard) => shard.rows)).toEqual([2, 0, 0]);
  });
});

describe('averageGradients', () => {
  const gradient = (values: number[]) => ({ w: { dtype: 'float32' as const, shape: [values.length], data: Float32Array.from(values) } });

  it('weights each shard by its rows', () => {
    const average = averageGradients([
      { rows: 3, gradients: gradient([1, 2]) },
      { rows: 1, gradients: gradient([5, -2]) },
    ]);
    expect(Array.from(average.w!.data)).toEqual([2, 1]);
    expect(average.w!.data.buffer).toBeInstanceOf(SharedArrayBuffer);
  });

  it('skips empty shards', () => {
    const average = averageGradients([
      { rows: 2, gradients: gradient([1, 3]) },
      { rows: 0, gradients: {} },
    ]);
    expect(Array.from(average.w!.data)).toEqual([1, 3]);
  });

  it('sums in float32 in shard order', () => {
    const values = [0.1, 1e8, -1e8, 0.3];
    const shards = values.map((value) => ({ rows: 1, gradients: gradient([value]) }));
    let expected = 0;
    for (const value of values) {
      expected = Math.fround(expected + Math.fround(Math.fround(value) * Math.fround(1 / 4)));
    }
    expect(averageGradients(shards).w!.data[0]).toBe(expected);
  });

  it('rejects shards of different models', () => {
    expect(() =>
      averageGradients([
        { rows: 1, gradients: gradient([1, 2]) },
        { rows: 1, gradients: gradient([1]) },
      ]),
    ).toThrow('gradient "w" is missing or has another size in one shard');
  });
});
