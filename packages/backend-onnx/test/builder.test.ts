import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { GraphBuilder, GraphShapeError } from '../src/graph/builder.js';
import { runGraph } from './graph-test-utils.js';

describe('GraphBuilder', () => {
  it('runs a linear layer with a symbolic batch', async () => {
    const builder = new GraphBuilder('linear');
    const x = builder.input('x', 'float32', ['batch', 2]);
    const weight = builder.constant([1, 2, 3, 4, 5, 6], [3, 2], 'weight');
    const bias = builder.constant([0.5, -0.5, 1], [3], 'bias');
    const y = builder.gemm(x, weight, bias, true);
    expect(y.shape).toEqual(['batch', 3]);
    builder.output(builder.unary('Relu', y), 'y');

    const { y: result } = await runGraph(builder, { x: new ort.Tensor('float32', [1, 1, -1, 0], [2, 2]) });
    // Row 1: [1+2, 3+4, 5+6] + bias; row 2: [-1, -3, -5] + bias, then relu.
    expect(Array.from(result!)).toEqual([3.5, 6.5, 12, 0, 0, 0]);
  });

  it('infers broadcast and reduction shapes', () => {
    const builder = new GraphBuilder('shapes');
    const x = builder.input('x', 'float32', ['batch', 'length', 8]);
    const row = builder.input('row', 'float32', [8]);
    expect(builder.add(x, row).shape).toEqual(['batch', 'length', 8]);
    expect(builder.reduceSum(x, [1]).shape).toEqual(['batch', 8]);
    expect(builder.reduceMean(x, [-1], true).shape).toEqual(['batch', 'length', 1]);
    expect(builder.transpose(x, [0, 2, 1]).shape).toEqual(['batch', 8, 'length']);
    expect(builder.reshape(x, [0, 0, 2, 4]).shape).toEqual(['batch', 'length', 2, 4]);
    expect(builder.concat([x, x], 2).shape).toEqual(['batch', 'length', 16]);
  });

  it('names the node in shape errors', () => {
    const builder = new GraphBuilder('errors');
    const a = builder.input('a', 'float32', [2, 3]);
    const b = builder.input('b', 'float32', [4, 5]);
    builder.scope('combiner', () => {
      expect(() => builder.matMul(a, b)).toThrow(/^combiner\/MatMul: inner dimensions differ: \[2, 3\] × \[4, 5\]\.$/);
    });
    expect(() => builder.add(a, b)).toThrow(GraphShapeError);
    expect(() => builder.add(a, b)).toThrow('cannot be broadcast together');
    expect(() => builder.input('a', 'float32', [1])).toThrow('the name "a" is used twice');
  });

  it('computes layer norm, softmax and gather', async () => {
    const builder = new GraphBuilder('mixed');
    const x = builder.input('x', 'float32', [2, 3]);
    const ids = builder.input('ids', 'int32', [2]);
    builder.output(builder.layerNormalization(x, builder.constant([1, 1, 1]), builder.constant([0, 0, 0]), 1e-5), 'norm');
    builder.output(builder.softmax(x), 'probabilities');
    builder.output(builder.gather(x, ids), 'rows');
    builder.output(builder.oneHot(ids, 3), 'one_hot');

    const data = [1, 2, 3, 0, 0, 3];
    const results = await runGraph(builder, { x: new ort.Tensor('float32', data, [2, 3]), ids: new ort.Tensor('int32', [1, 0], [2]) });

    const std = Math.sqrt(2 / 3 + 1e-5);
    expect(results.norm![0]).toBeCloseTo(-1 / std, 5);
    expect(results.norm![2]).toBeCloseTo(1 / std, 5);
    const denominator = Math.exp(1) + Math.exp(2) + Math.exp(3);
    expect(results.probabilities![0]).toBeCloseTo(Math.exp(1) / denominator, 6);
    expect(Array.from(results.rows!)).toEqual([0, 0, 3, 1, 2, 3]);
    expect(Array.from(results.one_hot!)).toEqual([0, 1, 0, 1, 0, 0]);
  });
});
