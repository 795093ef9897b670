/**
 * Checks the wasm kernel fixes against the pure-JS `cpu` backend on small shapes.
 *
 * Tolerance: |wasm - cpu| <= 1e-5 * |cpu| + 1e-6 for every element. Both backends compute in
 * float32, so differences come only from the order of summation.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import { selectRuntime } from './select-runtime.js';
import { registerWasmKernelFixes } from './wasm-kernels.js';

const RELATIVE_TOLERANCE = 1e-5;
const ABSOLUTE_TOLERANCE = 1e-6;

interface Result {
  shape: number[];
  dtype: tf.DataType;
  values: number[];
}

/** Returns a deterministic generator of floats in [-1, 1) (mulberry32). */
function randomGenerator(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

function randomValues(size: number, seed: number): Float32Array {
  const next = randomGenerator(seed);
  return Float32Array.from({ length: size }, () => next());
}

/** Runs `compute` on `backendName` and reads every output back. */
async function runOn(backendName: 'cpu' | 'wasm', compute: () => tf.Tensor | tf.Tensor[]): Promise<Result[]> {
  await tf.setBackend(backendName);
  const outputs = tf.tidy(compute);
  const list = Array.isArray(outputs) ? outputs : [outputs];
  const results = list.map((tensor) => ({
    shape: tensor.shape,
    dtype: tensor.dtype,
    values: Array.from(tensor.dataSync()),
  }));
  tf.dispose(list);
  return results;
}

function expectClose(actual: Result, expected: Result, label: string): void {
  expect(actual.shape, `${label}: shape`).toEqual(expected.shape);
  expect(actual.values.length, `${label}: element count`).toBe(expected.values.length);
  for (let i = 0; i < expected.values.length; i++) {
    const want = expected.values[i]!;
    const got = actual.values[i]!;
    const allowed = RELATIVE_TOLERANCE * Math.abs(want) + ABSOLUTE_TOLERANCE;
    if (!(Math.abs(got - want) <= allowed)) {
      expect.fail(`${label}: element ${i} is ${got}, expected ${want} within ${allowed}`);
    }
  }
}

/**
 * Runs `compute` on both backends and compares every output of wasm against cpu.
 * `computeOnCpu` replaces `compute` on cpu where the cpu kernel needs the inputs in another form.
 */
async function expectWasmMatchesCpu(
  compute: () => tf.Tensor | tf.Tensor[],
  label: string,
  computeOnCpu: () => tf.Tensor | tf.Tensor[] = compute,
): Promise<Result[]> {
  const expected = await runOn('cpu', computeOnCpu);
  const actual = await runOn('wasm', compute);
  expect(actual.length, `${label}: output count`).toBe(expected.length);
  actual.forEach((result, index) => expectClose(result, expected[index]!, `${label} output ${index}`));
  return actual;
}

/** Returns the shape of a matMul operand as stored, given its shape before the transpose. */
function storedShape(logicalShape: number[], transposed: boolean): number[] {
  if (!transposed) {
    return logicalShape;
  }
  const shape = [...logicalShape];
  const rank = shape.length;
  [shape[rank - 2], shape[rank - 1]] = [shape[rank - 1]!, shape[rank - 2]!];
  return shape;
}

const TRANSPOSE_CASES = [
  { transposeA: false, transposeB: false },
  { transposeA: true, transposeB: false },
  { transposeA: false, transposeB: true },
  { transposeA: true, transposeB: true },
];

/** Operand shapes before any transpose: a is [..., M, K] and b is [..., K, N]. */
const MATMUL_SHAPES: { name: string; a: number[]; b: number[] }[] = [
  { name: '2-D', a: [3, 4], b: [4, 5] },
  { name: '3-D', a: [2, 3, 4], b: [2, 4, 5] },
  { name: '4-D', a: [2, 3, 3, 4], b: [2, 3, 4, 5] },
  { name: 'batched a, 2-D b', a: [2, 3, 4], b: [4, 5] },
  { name: '2-D a, batched b', a: [3, 4], b: [2, 4, 5] },
  { name: 'a batch 1, b batch 2', a: [1, 3, 4], b: [2, 4, 5] },
  { name: 'broadcast 4-D against 3-D', a: [2, 1, 3, 4], b: [3, 4, 5] },
  { name: 'broadcast on both sides', a: [2, 1, 3, 4], b: [1, 3, 4, 5] },
  { name: 'single row and column', a: [2, 1, 6], b: [2, 6, 1] },
];

beforeAll(async () => {
  registerWasmKernelFixes();
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('registerWasmKernelFixes', () => {
  it('is idempotent', () => {
    const segmentSum = tf.getKernel('UnsortedSegmentSum', 'wasm');
    const batchMatMul = tf.getKernel('BatchMatMul', 'wasm');

    registerWasmKernelFixes();

    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBe(segmentSum);
    expect(tf.getKernel('BatchMatMul', 'wasm')).toBe(batchMatMul);
  });
});

describe('UnsortedSegmentSum on wasm', () => {
  const cases: { name: string; shape: number[]; ids: number[]; numSegments: number; dtype: 'float32' | 'int32' }[] = [
    { name: '1-D into one segment', shape: [5], ids: [0, 0, 0, 0, 0], numSegments: 1, dtype: 'float32' },
    { name: '1-D with empty segments', shape: [6], ids: [4, 1, 1, 0, 4, 6], numSegments: 7, dtype: 'float32' },
    { name: '2-D rows', shape: [6, 4], ids: [2, 0, 2, 1, 0, 2], numSegments: 3, dtype: 'float32' },
    { name: '3-D rows', shape: [5, 2, 3], ids: [1, 3, 1, 0, 3], numSegments: 5, dtype: 'float32' },
    { name: 'int32 2-D rows', shape: [4, 3], ids: [1, 1, 0, 2], numSegments: 4, dtype: 'int32' },
    { name: 'out-of-range ids', shape: [5, 2], ids: [-1, 0, 3, 1, 2], numSegments: 3, dtype: 'float32' },
  ];

  for (const { name, shape, ids, numSegments, dtype } of cases) {
    it(`matches cpu: ${name}`, async () => {
      const size = shape.reduce((product, dimension) => product * dimension, 1);
      const values = randomValues(size, 17);
      const data = dtype === 'int32' ? Int32Array.from(values, (value) => Math.round(value * 50)) : values;

      const [wasmResult] = await expectWasmMatchesCpu(
        () => tf.unsortedSegmentSum(tf.tensor(data, shape, dtype), tf.tensor1d(ids, 'int32'), numSegments),
        name,
      );

      // The cpu backend returns float32 even for int32 input; TensorFlow keeps the input dtype.
      expect(wasmResult!.dtype).toBe(dtype);
    });
  }

  it('sums over 2-D segment ids', async () => {
    const x = [
      [1, 2],
      [3, 4],
      [5, 6],
      [7, 8],
    ];

    const [result] = await runOn('wasm', () =>
      tf.unsortedSegmentSum(tf.tensor3d([x.slice(0, 2), x.slice(2, 4)]), tf.tensor2d([[1, 0], [1, 1]], [2, 2], 'int32') as unknown as tf.Tensor1D, 2),
    );

    expect(result!.shape).toEqual([2, 2]);
    expect(result!.values).toEqual([3, 4, 1 + 5 + 7, 2 + 6 + 8]);
  });

  it('gives the gradient of an embedding lookup', async () => {
    const vocabulary = 11;
    const width = 5;
    const ids = [
      [1, 3, 3],
      [0, 10, 1],
    ];
    const table = randomValues(vocabulary * width, 3);
    const weights = randomValues(ids.length * ids[0]!.length * width, 4);

    const [gradient] = await expectWasmMatchesCpu(() => {
      const lookup = (embeddings: tf.Tensor) =>
        tf.sum(tf.mul(tf.gather(embeddings, tf.tensor2d(ids, [2, 3], 'int32')), tf.tensor3d(weights, [2, 3, width])));
      return tf.grad(lookup)(tf.tensor2d(table, [vocabulary, width]));
    }, 'embedding gradient');

    // Row r of the gradient is the sum of the weights at the positions that look up id r.
    const expected = new Float64Array(vocabulary * width);
    ids.flat().forEach((id, position) => {
      for (let j = 0; j < width; j++) {
        expected[id * width + j]! += weights[position * width + j]!;
      }
    });
    expectClose(gradient!, { shape: [vocabulary, width], dtype: 'float32', values: Array.from(expected) }, 'analytic');
  });
});

describe('BatchMatMul on wasm', () => {
  for (const shapes of MATMUL_SHAPES) {
    for (const { transposeA, transposeB } of TRANSPOSE_CASES) {
      it(`matches cpu: ${shapes.name}, transposeA=${transposeA}, transposeB=${transposeB}`, async () => {
        const aShape = storedShape(shapes.a, transposeA);
        const bShape = storedShape(shapes.b, transposeB);
        const aValues = randomValues(aShape.reduce((p, d) => p * d, 1), 5);
        const bValues = randomValues(bShape.reduce((p, d) => p * d, 1), 6);

        const outBatchShape = tf.broadcast_util.assertAndGetBroadcastShape(shapes.a.slice(0, -2), shapes.b.slice(0, -2));

        // The cpu BatchMatMul of tfjs 4.22 only broadcasts a batch of size 1, so the reference
        // gets both operands broadcast to the full output batch shape first.
        await expectWasmMatchesCpu(
          () => tf.matMul(tf.tensor(aValues, aShape), tf.tensor(bValues, bShape), transposeA, transposeB),
          shapes.name,
          () =>
            tf.matMul(
              tf.broadcastTo(tf.tensor(aValues, aShape), [...outBatchShape, ...aShape.slice(-2)]),
              tf.broadcastTo(tf.tensor(bValues, bShape), [...outBatchShape, ...bShape.slice(-2)]),
              transposeA,
              transposeB,
            ),
        );
      });
    }
  }

  it('frees its temporary tensors', async () => {
    await tf.setBackend('wasm');
    const operands = MATMUL_SHAPES.flatMap((shapes) =>
      TRANSPOSE_CASES.map(({ transposeA, transposeB }) => ({
        a: tf.ones(storedShape(shapes.a, transposeA)),
        b: tf.ones(storedShape(shapes.b, transposeB)),
        transposeA,
        transposeB,
      })),
    );
    const before = tf.engine().backend.numDataIds();

    tf.tidy(() => {
      for (const { a, b, transposeA, transposeB } of operands) {
        tf.matMul(a, b, transposeA, transposeB);
      }
    });

    expect(tf.engine().backend.numDataIds()).toBe(before);
    tf.dispose(operands.flatMap(({ a, b }) => [a, b]));
  });

  it('computes a reshaped right operand correctly', async () => {
    // The original wasm kernel caches its XNNPACK operator by tensor id, so the second product,
    // on a reshape that shares the data of the first right operand, used to reuse a stale operator.
    const values = Array.from({ length: 24 }, (_, i) => i);

    await expectWasmMatchesCpu(() => {
      const right = tf.tensor2d(values, [6, 4]);
      const first = tf.matMul(tf.ones([1, 6]), right);
      const second = tf.matMul(tf.ones([1, 4]), tf.reshape(right, [4, 6]));
      return [first, second];
    }, 'reshaped right operand');
  });

  it('handles empty outputs and an empty inner dimension', async () => {
    await expectWasmMatchesCpu(() => tf.matMul(tf.zeros([0, 3]), tf.ones([3, 4])), 'no rows');
    const [product] = await expectWasmMatchesCpu(() => tf.matMul(tf.zeros([2, 0]), tf.ones([0, 3])), 'no inner');
    expect(product!.values).toEqual([0, 0, 0, 0, 0, 0]);
  });

  // The BatchMatMul gradient of tfjs-core 4.22 does not reduce broadcast batch dimensions and
  // fails on every backend, so only shapes with equal batch dimensions are differentiated.
  const gradientShapes = MATMUL_SHAPES.filter(({ name }) => ['2-D', '3-D', '4-D', 'single row and column'].includes(name));
  for (const shapes of gradientShapes) {
    for (const { transposeA, transposeB } of TRANSPOSE_CASES) {
      it(`gradients match cpu: ${shapes.name}, transposeA=${transposeA}, transposeB=${transposeB}`, async () => {
        const aShape = storedShape(shapes.a, transposeA);
        const bShape = storedShape(shapes.b, transposeB);
        const aValues = randomValues(aShape.reduce((p, d) => p * d, 1), 7);
        const bValues = randomValues(bShape.reduce((p, d) => p * d, 1), 8);

        const results = await expectWasmMatchesCpu(() => {
          const loss = (a: tf.Tensor, b: tf.Tensor) => {
            const product = tf.matMul(a, b, transposeA, transposeB);
            // A non-uniform upstream gradient, so a transposed result cannot pass by symmetry.
            const weights = tf.tensor(randomValues(product.size, 9), product.shape);
            return tf.sum(tf.mul(product, weights));
          };
          return tf.grads(loss)([tf.tensor(aValues, aShape), tf.tensor(bValues, bShape)]);
        }, `${shapes.name} gradients`);

        expect(results[0]!.shape).toEqual(aShape);
        expect(results[1]!.shape).toEqual(bShape);
      });
    }
  }
});

// selectRuntime installs the fixes above, so its checks live with them.
describe('selectRuntime', () => {
  const tfjsNodeInstalled = import('@tensorflow/tfjs-node' as string).then(
    () => true,
    () => false,
  );

  it('selects wasm with the kernel fixes', async () => {
    const messages: string[] = [];

    const runtime = await selectRuntime('wasm', (message) => messages.push(message));

    expect(runtime.name).toBe('wasm');
    expect(runtime.description).toMatch(/^TensorFlow\.js 4\.\d+\.\d+ on wasm \((SIMD|no SIMD), \d+ threads?\)$/);
    expect(tf.getBackend()).toBe('wasm');
    expect(tf.getKernel('UnsortedSegmentSum', 'wasm')).toBeDefined();
    expect(tf.getGradient('GatherV2')).toBeDefined();
    expect(messages).toEqual([`Runtime wasm: using ${runtime.description}.`]);
  });

  it('selects cpu', async () => {
    const runtime = await selectRuntime('cpu', () => {});

    expect(runtime.name).toBe('cpu');
    expect(runtime.description).toMatch(/^TensorFlow\.js 4\.\d+\.\d+ on cpu/);
    expect(tf.getBackend()).toBe('cpu');
  });

  it('falls back to wasm on auto without tfjs-node', async (context) => {
    if (await tfjsNodeInstalled) {
      context.skip();
    }
    const messages: string[] = [];

    // Device cpu, because device auto would use a hardware WebGPU adapter where one exists.
    const runtime = await selectRuntime('auto', (message) => messages.push(message), 'cpu');

    expect(runtime.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(messages).toHaveLength(1);
    expect(messages[0]).toContain('@tensorflow/tfjs-node could not be imported');
  });

  it('rejects node without tfjs-node', async (context) => {
    if (await tfjsNodeInstalled) {
      context.skip();
    }

    await expect(selectRuntime('node', () => {})).rejects.toThrow(/npm install @tensorflow\/tfjs-node/);
  });
});
