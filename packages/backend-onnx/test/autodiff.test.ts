import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { gradients } from '../src/graph/autodiff.js';
import { GraphBuilder, type Value } from '../src/graph/builder.js';
import { checkGradient } from './graph-test-utils.js';

/** Float32 central differences with step 1e-2 agree with exact gradients to about 1e-3. */
const TOLERANCE = 2e-3;

type Build = (builder: GraphBuilder, values: Record<string, Value>) => Value;

const cases: { name: string; inputs: Record<string, { shape: number[]; values?: Float32Array }>; build: Build; fixed?: () => Record<string, ort.Tensor> }[] = [
  { name: 'Add with broadcasting', inputs: { a: { shape: [2, 3] }, b: { shape: [3] } }, build: (b, v) => b.add(v.a!, v.b!) },
  { name: 'Add over a size-1 axis', inputs: { a: { shape: [2, 3] }, b: { shape: [2, 1] } }, build: (b, v) => b.add(v.a!, v.b!) },
  { name: 'Sub', inputs: { a: { shape: [3] }, b: { shape: [2, 3] } }, build: (b, v) => b.sub(v.a!, v.b!) },
  { name: 'Mul', inputs: { a: { shape: [2, 3] }, b: { shape: [1, 3] } }, build: (b, v) => b.mul(v.a!, v.b!) },
  {
    name: 'Div',
    inputs: { a: { shape: [2, 3] }, b: { shape: [3], values: Float32Array.of(1.5, -2, 0.8) } },
    build: (b, v) => b.div(v.a!, v.b!),
  },
  { name: 'MatMul 2-D', inputs: { a: { shape: [2, 3] }, b: { shape: [3, 4] } }, build: (b, v) => b.matMul(v.a!, v.b!) },
  { name: 'MatMul 3-D by 2-D', inputs: { a: { shape: [2, 2, 3] }, b: { shape: [3, 2] } }, build: (b, v) => b.matMul(v.a!, v.b!) },
  { name: 'MatMul batched', inputs: { a: { shape: [2, 2, 3] }, b: { shape: [2, 3, 2] } }, build: (b, v) => b.matMul(v.a!, v.b!) },
  { name: 'Gemm with transB', inputs: { a: { shape: [2, 3] }, w: { shape: [4, 3] }, c: { shape: [4] } }, build: (b, v) => b.gemm(v.a!, v.w!, v.c!, true) },
  { name: 'Gemm', inputs: { a: { shape: [2, 3] }, w: { shape: [3, 4] } }, build: (b, v) => b.gemm(v.a!, v.w!, null, false) },
  { name: 'Relu', inputs: { x: { shape: [6], values: Float32Array.of(-1, -0.3, 0.2, 0.5, 1.2, -2) } }, build: (b, v) => b.unary('Relu', v.x!) },
  { name: 'Tanh', inputs: { x: { shape: [2, 3] } }, build: (b, v) => b.unary('Tanh', v.x!) },
  { name: 'Sigmoid', inputs: { x: { shape: [2, 3] } }, build: (b, v) => b.unary('Sigmoid', v.x!) },
  {
    name: 'GELU via Erf',
    inputs: { x: { shape: [2, 3] } },
    build: (b, v) => b.mul(b.scale(v.x!, 0.5), b.add(b.constant(1), b.unary('Erf', b.scale(v.x!, Math.SQRT1_2)))),
  },
  { name: 'Exp and Log', inputs: { x: { shape: [4], values: Float32Array.of(0.5, 1, 1.5, 2) } }, build: (b, v) => b.unary('Log', b.add(b.unary('Exp', v.x!), v.x!)) },
  { name: 'Abs and Neg', inputs: { x: { shape: [4], values: Float32Array.of(-0.5, 0.7, -1.5, 2) } }, build: (b, v) => b.unary('Neg', b.unary('Abs', v.x!)) },
  { name: 'Softplus', inputs: { x: { shape: [2, 3] } }, build: (b, v) => b.unary('Softplus', b.scale(v.x!, 3)) },
  { name: 'Sqrt', inputs: { x: { shape: [3], values: Float32Array.of(0.5, 1, 2) } }, build: (b, v) => b.unary('Sqrt', v.x!) },
  { name: 'Softmax', inputs: { x: { shape: [2, 4] } }, build: (b, v) => b.softmax(b.scale(v.x!, 2)) },
  { name: 'LogSoftmax', inputs: { x: { shape: [2, 4] } }, build: (b, v) => b.logSoftmax(b.scale(v.x!, 2), 1) },
  { name: 'Softmax on axis 0', inputs: { x: { shape: [3, 2] } }, build: (b, v) => b.softmax(v.x!, 0) },
  { name: 'ReduceMean', inputs: { x: { shape: [2, 3, 2] } }, build: (b, v) => b.reduceMean(v.x!, [1]) },
  { name: 'ReduceMean keepdims', inputs: { x: { shape: [2, 3] } }, build: (b, v) => b.mul(b.reduceMean(v.x!, [-1], true), v.x!) },
  { name: 'ReduceSum', inputs: { x: { shape: [2, 3, 2] } }, build: (b, v) => b.reduceSum(v.x!, [0, 2]) },
  {
    name: 'LayerNormalization',
    inputs: { x: { shape: [2, 2, 4] }, scale: { shape: [4] }, bias: { shape: [4] } },
    build: (b, v) => b.layerNormalization(v.x!, v.scale!, v.bias!, 1e-5),
  },
  { name: 'Concat', inputs: { a: { shape: [2, 1] }, b: { shape: [2, 3] } }, build: (b, v) => b.mul(b.concat([v.a!, v.b!], 1), b.concat([v.b!, v.a!], 1)) },
  { name: 'Reshape', inputs: { x: { shape: [2, 6] } }, build: (b, v) => b.mul(b.reshape(v.x!, [0, 2, 3]), b.reshape(v.x!, [2, 2, 3])) },
  { name: 'Transpose', inputs: { x: { shape: [2, 3, 4] } }, build: (b, v) => b.mul(b.transpose(v.x!, [2, 0, 1]), b.transpose(v.x!, [2, 0, 1])) },
  {
    name: 'Gather with repeated indices',
    inputs: { table: { shape: [5, 3] } },
    build: (b, v) => b.mul(b.gather(v.table!, v.ids!), b.gather(v.table!, v.ids!)),
    fixed: () => ({ ids: new ort.Tensor('int32', Int32Array.of(1, 3, 1, 0), [2, 2]) }),
  },
  {
    name: 'Slice',
    inputs: { x: { shape: [2, 4, 3] } },
    build: (b, v) => b.mul(b.slice(v.x!, [1], [3], [1]), b.slice(v.x!, [0], [2], [1])),
  },
  {
    name: 'Where for masking',
    inputs: { a: { shape: [2, 3] }, b: { shape: [3] } },
    build: (b, v) => b.where(v.mask!, v.a!, b.unary('Tanh', v.b!)),
    fixed: () => ({ mask: new ort.Tensor('bool', [true, false, true, false, false, true], [2, 3]) }),
  },
  {
    name: 'Dropout as a mask input',
    inputs: { x: { shape: [2, 3] } },
    build: (b, v) => b.mul(b.unary('Tanh', v.x!), v.keep!),
    fixed: () => ({ keep: new ort.Tensor('float32', [2, 0, 2, 2, 0, 0], [2, 3]) }),
  },
  {
    name: 'attention with an additive mask',
    inputs: { q: { shape: [1, 2, 3, 2] }, k: { shape: [1, 2, 3, 2] }, v: { shape: [1, 2, 3, 2] } },
    build: (b, v) => {
      const scores = b.add(b.scale(b.matMul(v.q!, b.transposeLast(v.k!)), 0.5), v.additive!);
      return b.matMul(b.softmax(scores), v.v!);
    },
    fixed: () => ({ additive: new ort.Tensor('float32', [0, 0, -3.4028234663852886e38], [1, 1, 1, 3]) }),
  },
];

describe('gradient rules against finite differences', () => {
  it.each(cases)('$name', async ({ inputs, build, fixed }) => {
    const check = await checkGradient(inputs, build, fixed?.() ?? {});
    expect(check.maxAbsoluteError).toBeLessThan(TOLERANCE);
    // A rule that returns zeros would pass against a zero numeric gradient, so require signal.
    const magnitude = Math.max(...Object.values(check.numeric).flatMap((values) => Array.from(values, Math.abs)));
    expect(magnitude).toBeGreaterThan(1e-2);
  });
});

describe('gradients', () => {
  it('gives zeros for an unused value', async () => {
    const builder = new GraphBuilder('unused');
    const x = builder.input('x', 'float32', [2]);
    const unused = builder.input('unused', 'float32', [3]);
    const loss = builder.sumAll(builder.mul(x, x));
    const result = gradients(builder, loss, [x, unused]);
    builder.output(result.get('unused')!, 'grad_unused');
    const session = await ort.InferenceSession.create(builder.toBytes());
    const outputs = await session.run({ x: new ort.Tensor('float32', [1, 2], [2]), unused: new ort.Tensor('float32', [1, 2, 3], [3]) });
    expect(Array.from(outputs.grad_unused!.data as Float32Array)).toEqual([0, 0, 0]);
  });

  it('rejects a non-scalar loss and unknown ops', () => {
    const builder = new GraphBuilder('invalid');
    const x = builder.input('x', 'float32', [2]);
    expect(() => gradients(builder, x, [x])).toThrow('must be a scalar');
    const floor = builder.op('Floor', [x], {}, { dtype: 'float32', shape: [2] });
    expect(() => gradients(builder, builder.sumAll(floor), [x])).toThrow(/no gradient rule for Floor/);
  });
});
