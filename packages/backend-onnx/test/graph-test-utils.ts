/**
 * Helpers shared by the graph tests: run a built graph in ONNX Runtime and compare gradients
 * with central finite differences. Not exported from the package.
 */
import * as ort from 'onnxruntime-node';

import { GraphBuilder, staticSize, type Value } from '../src/graph/builder.js';
import { gradients } from '../src/graph/autodiff.js';

export async function runGraph(builder: GraphBuilder, feeds: Record<string, ort.Tensor>): Promise<Record<string, Float32Array>> {
  const session = await ort.InferenceSession.create(builder.toBytes(), { intraOpNumThreads: 1 });
  const results = await session.run(feeds);
  await session.release();
  return Object.fromEntries(Object.entries(results).map(([name, tensor]) => [name, tensor.data as Float32Array]));
}

/** Deterministic values in about [-1, 1], different per `seed`. */
export function testValues(size: number, seed: number): Float32Array {
  return Float32Array.from({ length: size }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233) * 0.9);
}

export interface GradientCheck {
  readonly maxAbsoluteError: number;
  readonly analytic: Record<string, Float32Array>;
  readonly numeric: Record<string, Float64Array>;
}

/**
 * Builds loss = Σ f(inputs) · R for a fixed random R, differentiates it with {@link gradients}
 * and compares with central differences of step `epsilon`, all evaluated by ONNX Runtime.
 * `fixed` inputs (such as indices or masks) are fed but not differentiated.
 */
export async function checkGradient(
  inputs: Record<string, { shape: number[]; values?: Float32Array }>,
  build: (builder: GraphBuilder, values: Record<string, Value>) => Value,
  fixed: Record<string, ort.Tensor> = {},
  epsilon = 1e-2,
): Promise<GradientCheck> {
  const builder = new GraphBuilder('gradient_check');
  const values: Record<string, Value> = {};
  for (const [name, { shape }] of Object.entries(inputs)) {
    values[name] = builder.input(name, 'float32', shape);
  }
  for (const [name, tensor] of Object.entries(fixed)) {
    const dtype = tensor.type as 'float32' | 'bool' | 'int32' | 'int64';
    values[name] = builder.input(name, dtype, tensor.dims);
  }

  const result = build(builder, values);
  const size = staticSize(result.shape)!;
  const weights = builder.constant(Array.from(testValues(size, 99)), result.shape, 'probe');
  const loss = builder.sumAll(builder.mul(result, weights));
  builder.output(loss, 'loss');
  const differentiated = Object.keys(inputs).map((name) => values[name]!);
  const grads = gradients(builder, loss, differentiated);
  for (const value of differentiated) {
    builder.output(grads.get(value.name)!, `grad_${value.name}`);
  }

  const session = await ort.InferenceSession.create(builder.toBytes(), { intraOpNumThreads: 1 });
  const current: Record<string, Float32Array> = {};
  Object.entries(inputs).forEach(([name, { shape, values: given }], index) => {
    current[name] = Float32Array.from(given ?? testValues(staticSize(shape)!, index + 1));
  });
  const feeds = () => ({ ...fixed, ...Object.fromEntries(Object.entries(current).map(([name, data]) => [name, new ort.Tensor('float32', data, inputs[name]!.shape)])) });

  const base = await session.run(feeds());
  const analytic: Record<string, Float32Array> = {};
  const numeric: Record<string, Float64Array> = {};
  let maxAbsoluteError = 0;
  for (const name of Object.keys(inputs)) {
    analytic[name] = base[`grad_${name}`]!.data as Float32Array;
    const data = current[name]!;
    const estimates = new Float64Array(data.length);
    for (let i = 0; i < data.length; i++) {
      const original = data[i]!;
      data[i] = original + epsilon;
      const plus = ((await session.run(feeds())).loss!.data as Float32Array)[0]!;
      data[i] = original - epsilon;
      const minus = ((await session.run(feeds())).loss!.data as Float32Array)[0]!;
      data[i] = original;
      estimates[i] = (plus - minus) / (2 * epsilon);
      maxAbsoluteError = Math.max(maxAbsoluteError, Math.abs(estimates[i]! - analytic[name][i]!));
    }
    numeric[name] = estimates;
  }
  await session.release();
  return { maxAbsoluteError, analytic, numeric };
}
