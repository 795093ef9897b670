/**
 * Checks BertEncoder against a plain JavaScript BERT forward pass in float64, on the wasm backend
 * (with the kernel fixes) and on the cpu backend.
 */
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-core/dist/register_all_gradients.js';
import '@tensorflow/tfjs-backend-cpu';
import type { BertArchitecture, NamedArrays } from '@ft/core';
import { registerWasmKernelFixes } from '../runtime/wasm-kernels.js';
import { BertEncoder, bertWeightShapes, type BertReduceOutput } from './bert.js';

/** Maximum absolute difference allowed between the encoder and the float64 reference. */
const FORWARD_TOLERANCE = 1e-4;

/** Relative tolerance between wasm and cpu gradients, with a floor of 1% of the tensor's largest element. */
const GRADIENT_RELATIVE_TOLERANCE = 1e-4;

const TINY_ARCHITECTURE: BertArchitecture = {
  vocab_size: 50,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  intermediate_size: 32,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 32,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

/** Three rows: no padding, some padding, and a single token. */
const INPUT_IDS = [
  [2, 17, 33, 5, 49, 8, 3],
  [2, 40, 11, 3, 0, 0, 0],
  [2, 0, 0, 0, 0, 0, 0],
];
const ATTENTION_MASK = [
  [1, 1, 1, 1, 1, 1, 1],
  [1, 1, 1, 1, 0, 0, 0],
  [1, 0, 0, 0, 0, 0, 0],
];

type BackendName = 'cpu' | 'wasm';

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

/**
 * Random weights large enough that attention, GELU and LayerNorm are far from linear:
 * matrices in ±0.5, biases in ±0.2, LayerNorm scales in 1 ± 0.2.
 */
function randomWeights(architecture: BertArchitecture, seed: number): NamedArrays {
  const next = randomGenerator(seed);
  const weights: NamedArrays = {};
  for (const [name, shape] of bertWeightShapes(architecture)) {
    const size = shape.reduce((product, dimension) => product * dimension, 1);
    const data = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      if (name.endsWith('LayerNorm.weight')) {
        data[i] = 1 + 0.2 * next();
      } else if (name.endsWith('.bias')) {
        data[i] = 0.2 * next();
      } else {
        data[i] = 0.5 * next();
      }
    }
    weights[name] = { dtype: 'float32', shape, data };
  }
  return weights;
}

// ---------------------------------------------------------------------------------------------
// Reference forward pass: float64, one loop per formula, no tfjs.
// ---------------------------------------------------------------------------------------------

interface ReferenceOutput {
  /** [batch][position] -> hidden vector. */
  sequence: Float64Array[][];
  clsPooled: Float64Array[];
  mean: Float64Array[];
  lastHiddenCls: Float64Array[];
}

/** erf through erfc with fractional error below 1.2e-7 (Numerical Recipes, erfcc). */
function erf(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const polynomial =
    -z * z -
    1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
  const erfc = t * Math.exp(polynomial);
  return x >= 0 ? 1 - erfc : erfc - 1;
}

function activate(x: number, act: BertArchitecture['hidden_act']): number {
  if (act === 'gelu') {
    return 0.5 * x * (1 + erf(x / Math.SQRT2));
  }
  if (act === 'gelu_new') {
    return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
  }
  return Math.max(0, x);
}

/** y = W·x + b for a torch-layout weight W [out, in]. */
function dense(weights: NamedArrays, name: string, x: Float64Array): Float64Array {
  const weight = weights[`${name}.weight`]!;
  const bias = weights[`${name}.bias`]!.data;
  const [outFeatures, inFeatures] = weight.shape as [number, number];
  const y = new Float64Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    let sum = bias[o]!;
    for (let i = 0; i < inFeatures; i++) {
      sum += weight.data[o * inFeatures + i]! * x[i]!;
    }
    y[o] = sum;
  }
  return y;
}

function layerNorm(weights: NamedArrays, name: string, x: Float64Array, eps: number): Float64Array {
  const gamma = weights[`${name}.weight`]!.data;
  const beta = weights[`${name}.bias`]!.data;
  const mean = x.reduce((sum, value) => sum + value, 0) / x.length;
  const variance = x.reduce((sum, value) => sum + (value - mean) ** 2, 0) / x.length;
  return x.map((value, i) => ((value - mean) / Math.sqrt(variance + eps)) * gamma[i]! + beta[i]!);
}

function addVectors(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((value, i) => value + b[i]!);
}

function referenceBert(architecture: BertArchitecture, weights: NamedArrays, ids: number[][], mask: number[][]): ReferenceOutput {
  const hiddenSize = architecture.hidden_size;
  const heads = architecture.num_attention_heads;
  const headSize = hiddenSize / heads;
  const eps = architecture.layer_norm_eps;
  const row = (name: string, index: number) =>
    Float64Array.from(weights[name]!.data.subarray(index * hiddenSize, (index + 1) * hiddenSize));

  const sequence: Float64Array[][] = [];
  for (let b = 0; b < ids.length; b++) {
    const tokens = ids[b]!;
    const keyMask = mask[b]!;

    // Embeddings: word + position + token type 0, then LayerNorm.
    let hidden = tokens.map((id, position) => {
      const summed = addVectors(addVectors(row('embeddings.word_embeddings.weight', id), row('embeddings.position_embeddings.weight', position)), row('embeddings.token_type_embeddings.weight', 0));
      return layerNorm(weights, 'embeddings.LayerNorm', summed, eps);
    });

    for (let layer = 0; layer < architecture.num_hidden_layers; layer++) {
      const prefix = `encoder.layer.${layer}`;
      const queries = hidden.map((x) => dense(weights, `${prefix}.attention.self.query`, x));
      const keys = hidden.map((x) => dense(weights, `${prefix}.attention.self.key`, x));
      const values = hidden.map((x) => dense(weights, `${prefix}.attention.self.value`, x));
      const anyKey = keyMask.some((value) => value === 1);

      const attended = hidden.map((_, i) => {
        const context = new Float64Array(hiddenSize);
        for (let h = 0; h < heads; h++) {
          // Softmax runs over the unmasked keys only. With no unmasked key, every key gets equal weight.
          const scores = keys.map((key, j) => {
            if (anyKey && keyMask[j] === 0) {
              return -Infinity;
            }
            let dot = 0;
            for (let d = 0; d < headSize; d++) {
              dot += queries[i]![h * headSize + d]! * key[h * headSize + d]!;
            }
            return anyKey ? dot / Math.sqrt(headSize) : 0;
          });
          const maxScore = Math.max(...scores);
          const exponentials = scores.map((score) => Math.exp(score - maxScore));
          const total = exponentials.reduce((sum, value) => sum + value, 0);
          for (let j = 0; j < keys.length; j++) {
            const probability = exponentials[j]! / total;
            for (let d = 0; d < headSize; d++) {
              context[h * headSize + d]! += probability * values[j]![h * headSize + d]!;
            }
          }
        }
        return context;
      });

      hidden = hidden.map((x, i) => {
        const attentionOutput = layerNorm(weights, `${prefix}.attention.output.LayerNorm`, addVectors(dense(weights, `${prefix}.attention.output.dense`, attended[i]!), x), eps);
        const intermediate = dense(weights, `${prefix}.intermediate.dense`, attentionOutput).map((value) => activate(value, architecture.hidden_act));
        return layerNorm(weights, `${prefix}.output.LayerNorm`, addVectors(dense(weights, `${prefix}.output.dense`, intermediate), attentionOutput), eps);
      });
    }
    sequence.push(hidden);
  }

  const clsPooled = sequence.map((hidden) => dense(weights, 'pooler.dense', hidden[0]!).map(Math.tanh));
  const lastHiddenCls = sequence.map((hidden) => hidden[0]!);
  const mean = sequence.map((hidden, b) => {
    const sum = new Float64Array(hiddenSize);
    let count = 0;
    hidden.forEach((vector, position) => {
      if (mask[b]![position] === 1) {
        count += 1;
        vector.forEach((value, d) => (sum[d]! += value));
      }
    });
    return sum.map((value) => value / Math.max(count, 1));
  });
  return { sequence, clsPooled, mean, lastHiddenCls };
}

// ---------------------------------------------------------------------------------------------

function expectVectorClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number, label: string): void {
  expect(actual.length, `${label}: length`).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const difference = Math.abs(actual[i]! - expected[i]!);
    if (!(difference <= tolerance)) {
      expect.fail(`${label}: element ${i} is ${actual[i]}, expected ${expected[i]} within ${tolerance}`);
    }
  }
}

function inputTensors(): { ids: tf.Tensor2D; mask: tf.Tensor2D } {
  return { ids: tf.tensor2d(INPUT_IDS, undefined, 'int32'), mask: tf.tensor2d(ATTENTION_MASK, undefined, 'int32') };
}

/** Runs the encoder once and reads sequenceOutput as [batch][position][hidden] and pooled as [batch][hidden]. */
function runEncoder(encoder: BertEncoder, reduceOutput: BertReduceOutput, training = false): { sequence: number[][][]; pooled: number[][] } {
  const { ids, mask } = inputTensors();
  const output = encoder.apply(ids, mask, { training, reduceOutput });
  const result = { sequence: output.sequenceOutput.arraySync(), pooled: output.pooled.arraySync() };
  tf.dispose([ids, mask, output.sequenceOutput, output.pooled]);
  return result;
}

beforeAll(async () => {
  registerWasmKernelFixes();
  await tf.setBackend('cpu');
  await tf.setBackend('wasm');
  await tf.ready();
});

afterEach(() => {
  tf.disposeVariables();
});

describe('BertEncoder forward pass', () => {
  const weights = randomWeights(TINY_ARCHITECTURE, 1);
  const reference = referenceBert(TINY_ARCHITECTURE, weights, INPUT_IDS, ATTENTION_MASK);

  for (const backendName of ['wasm', 'cpu'] as const) {
    it(`matches the reference on ${backendName}`, async () => {
      await tf.setBackend(backendName);
      const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });

      const { sequence, pooled } = runEncoder(encoder, 'cls_pooled');

      // Outputs at padded positions are not used by anything, so only real tokens are compared.
      INPUT_IDS.forEach((tokens, b) => {
        tokens.forEach((_, position) => {
          if (ATTENTION_MASK[b]![position] === 1) {
            expectVectorClose(sequence[b]![position]!, reference.sequence[b]![position]!, FORWARD_TOLERANCE, `sequence [${b}, ${position}]`);
          }
        });
        expectVectorClose(pooled[b]!, reference.clsPooled[b]!, FORWARD_TOLERANCE, `pooled row ${b}`);
      });
      encoder.dispose();
    });
  }

  it('reduces by masked mean and by the CLS hidden state', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });

    const mean = runEncoder(encoder, 'mean').pooled;
    const cls = runEncoder(encoder, 'last_hidden_cls').pooled;

    INPUT_IDS.forEach((_, b) => {
      expectVectorClose(mean[b]!, reference.mean[b]!, FORWARD_TOLERANCE, `mean row ${b}`);
      expectVectorClose(cls[b]!, reference.lastHiddenCls[b]!, FORWARD_TOLERANCE, `CLS row ${b}`);
    });
    encoder.dispose();
  });

  for (const hiddenAct of ['gelu_new', 'relu'] as const) {
    it(`matches the reference with ${hiddenAct}`, async () => {
      await tf.setBackend('wasm');
      const architecture: BertArchitecture = { ...TINY_ARCHITECTURE, hidden_act: hiddenAct };
      const expected = referenceBert(architecture, weights, INPUT_IDS, ATTENTION_MASK);
      const encoder = BertEncoder.create(architecture, weights, { trainable: true, seed: 0 });

      const { pooled } = runEncoder(encoder, 'cls_pooled');

      INPUT_IDS.forEach((_, b) => expectVectorClose(pooled[b]!, expected.clsPooled[b]!, FORWARD_TOLERANCE, `pooled row ${b}`));
      encoder.dispose();
    });
  }

  it('frees every intermediate tensor', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });
    const { ids, mask } = inputTensors();
    const before = tf.memory().numTensors;

    const output = encoder.apply(ids, mask, { training: true, reduceOutput: 'mean' });
    tf.dispose([output.sequenceOutput, output.pooled]);

    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([ids, mask]);
    encoder.dispose();
  });
});

describe('BertEncoder weights', () => {
  it('round-trips through exportWeights', async () => {
    await tf.setBackend('wasm');
    const weights = randomWeights(TINY_ARCHITECTURE, 2);
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: false, seed: 0 });

    const exported = await encoder.exportWeights();

    expect(Object.keys(exported)).toEqual(Object.keys(weights));
    for (const [name, array] of Object.entries(weights)) {
      expect(exported[name]!.dtype, name).toBe('float32');
      expect(exported[name]!.shape, name).toEqual(array.shape);
      expect(exported[name]!.data, name).toEqual(array.data);
    }
    encoder.dispose();
  });

  it('names the variables like Hugging Face BertModel', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, null, { trainable: true, seed: 3 });

    const names = [...encoder.variables.keys()];

    expect(names).toHaveLength(5 + 16 * TINY_ARCHITECTURE.num_hidden_layers + 2);
    expect(names).toContain('embeddings.word_embeddings.weight');
    expect(names).toContain('encoder.layer.1.attention.self.value.bias');
    expect(names).toContain('encoder.layer.1.output.LayerNorm.weight');
    expect(names).toContain('pooler.dense.weight');
    expect(encoder.variables.get('encoder.layer.0.intermediate.dense.weight')!.shape).toEqual([32, 16]);
    expect(encoder.variables.get('encoder.layer.0.output.dense.weight')!.shape).toEqual([16, 32]);
    encoder.dispose();
  });

  it('initializes randomly like Hugging Face', async () => {
    await tf.setBackend('wasm');
    const architecture: BertArchitecture = { ...TINY_ARCHITECTURE, vocab_size: 400, pad_token_id: 3 };
    const first = await BertEncoder.create(architecture, null, { trainable: true, seed: 7 }).exportWeights();
    const same = await BertEncoder.create(architecture, null, { trainable: true, seed: 7 }).exportWeights();
    const other = await BertEncoder.create(architecture, null, { trainable: true, seed: 8 }).exportWeights();

    const words = first['embeddings.word_embeddings.weight']!.data;
    const padRow = words.subarray(3 * 16, 4 * 16);
    expect(Array.from(padRow)).toEqual(new Array(16).fill(0));
    const standardDeviation = Math.sqrt(Array.from(words).reduce((sum, value) => sum + value * value, 0) / (words.length - 16));
    expect(standardDeviation).toBeGreaterThan(0.018);
    expect(standardDeviation).toBeLessThan(0.022);
    expect(Array.from(first['encoder.layer.0.attention.self.query.bias']!.data)).toEqual(new Array(16).fill(0));
    expect(Array.from(first['encoder.layer.0.output.LayerNorm.weight']!.data)).toEqual(new Array(16).fill(1));
    expect(Array.from(first['embeddings.LayerNorm.bias']!.data)).toEqual(new Array(16).fill(0));
    expect(same['pooler.dense.weight']!.data).toEqual(first['pooler.dense.weight']!.data);
    expect(other['pooler.dense.weight']!.data).not.toEqual(first['pooler.dense.weight']!.data);
  });

  it('lists missing and wrong weights in one error', () => {
    const weights = randomWeights(TINY_ARCHITECTURE, 4);
    delete weights['pooler.dense.bias'];
    weights['encoder.layer.1.attention.self.query.weight'] = { dtype: 'float32', shape: [16, 8], data: new Float32Array(128) };
    weights['embeddings.LayerNorm.weight'] = { dtype: 'int32', shape: [16], data: new Int32Array(16) };

    const create = () => BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });

    expect(create).toThrow(/Missing \(1\): pooler\.dense\.bias/);
    expect(create).toThrow(/encoder\.layer\.1\.attention\.self\.query\.weight has shape \[16, 8\], expected \[16, 16\]/);
    expect(create).toThrow(/embeddings\.LayerNorm\.weight has dtype int32, expected float32/);
  });

  it('points at an unremoved name prefix', () => {
    const prefixed = Object.fromEntries(Object.entries(randomWeights(TINY_ARCHITECTURE, 5)).map(([name, array]) => [`bert.${name}`, array]));

    expect(() => BertEncoder.create(TINY_ARCHITECTURE, prefixed, { trainable: true, seed: 0 })).toThrow(
      /Names that BertModel does not have \(39\): bert\.embeddings\.word_embeddings\.weight/,
    );
  });

  it('rejects an inconsistent architecture', () => {
    const architecture: BertArchitecture = { ...TINY_ARCHITECTURE, num_attention_heads: 5 };

    expect(() => BertEncoder.create(architecture, null, { trainable: true, seed: 0 })).toThrow(
      /hidden_size 16 must be a multiple of num_attention_heads 5/,
    );
  });

  it('rejects ids outside the vocabulary and overlong inputs', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, null, { trainable: true, seed: 0 });
    const options = { training: false, reduceOutput: 'cls_pooled' } as const;
    const badIds = tf.tensor2d([[2, 50]], undefined, 'int32');
    const longIds = tf.zeros([1, 33], 'int32') as tf.Tensor2D;

    expect(() => encoder.apply(badIds, tf.onesLike(badIds), options)).toThrow(/input id 50 is outside the vocabulary \[0, 50\)/);
    expect(() => encoder.apply(longIds, tf.onesLike(longIds), options)).toThrow(/length 33 exceeds max_position_embeddings 32/);
    tf.dispose([badIds, longIds]);
    encoder.dispose();
  });
});

describe('BertEncoder gradients', () => {
  const weights = randomWeights(TINY_ARCHITECTURE, 6);
  const lossWeights = Float32Array.from({ length: INPUT_IDS.length * TINY_ARCHITECTURE.hidden_size }, randomGenerator(7));

  /** Returns the gradient of sum(pooled · lossWeights) for every variable, by Hugging Face name. */
  async function gradientsOn(backendName: BackendName): Promise<Map<string, Float32Array>> {
    await tf.setBackend(backendName);
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });
    const { ids, mask } = inputTensors();
    const variables = [...encoder.variables.values()];

    const { value, grads } = tf.variableGrads(() => {
      const { pooled } = encoder.apply(ids, mask, { training: false, reduceOutput: 'cls_pooled' });
      return tf.sum(tf.mul(pooled, tf.tensor2d(lossWeights, pooled.shape)));
    }, variables);

    const byName = new Map<string, Float32Array>();
    for (const [name, variable] of encoder.variables) {
      byName.set(name, grads[variable.name]!.dataSync<'float32'>().slice());
    }
    tf.dispose([value, ids, mask, ...Object.values(grads)]);
    encoder.dispose();
    return byName;
  }

  it('reach every variable on wasm and match cpu', async () => {
    const wasmGradients = await gradientsOn('wasm');
    const cpuGradients = await gradientsOn('cpu');

    expect([...wasmGradients.keys()]).toEqual([...bertWeightShapes(TINY_ARCHITECTURE).keys()]);
    const largest = Math.max(...[...cpuGradients.values()].map((gradient) => gradient.reduce((max, value) => Math.max(max, Math.abs(value)), 0)));
    for (const [name, gradient] of wasmGradients) {
      expect(gradient.every(Number.isFinite), `${name}: finite`).toBe(true);

      // The key bias adds the same q·b to every score of a query, which softmax cancels, so its
      // exact gradient is zero and both backends return only rounding noise.
      if (name.endsWith('attention.self.key.bias')) {
        expect(gradient.every((value) => Math.abs(value) <= 1e-5 * largest), `${name}: zero up to rounding`).toBe(true);
        continue;
      }
      expect(gradient.some((value) => value !== 0), `${name}: non-zero`).toBe(true);

      const expected = cpuGradients.get(name)!;
      const floor = 0.01 * expected.reduce((max, value) => Math.max(max, Math.abs(value)), 0);
      for (let i = 0; i < expected.length; i++) {
        const allowed = GRADIENT_RELATIVE_TOLERANCE * Math.max(Math.abs(expected[i]!), floor);
        if (!(Math.abs(gradient[i]! - expected[i]!) <= allowed)) {
          expect.fail(`${name}: element ${i} is ${gradient[i]} on wasm and ${expected[i]} on cpu, allowed ${allowed}`);
        }
      }
    }
  });
});

describe('BertEncoder dropout', () => {
  const weights = randomWeights(TINY_ARCHITECTURE, 8);

  it('is never applied to a frozen encoder', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: false, seed: 0 });

    const first = runEncoder(encoder, 'cls_pooled', true);
    const second = runEncoder(encoder, 'cls_pooled', true);
    const evaluation = runEncoder(encoder, 'cls_pooled', false);

    expect(second).toEqual(first);
    expect(first).toEqual(evaluation);
    expect([...encoder.variables.values()].every((variable) => !variable.trainable)).toBe(true);
    encoder.dispose();
  });

  it('changes outputs of a trainable encoder in training', async () => {
    await tf.setBackend('wasm');
    const encoder = BertEncoder.create(TINY_ARCHITECTURE, weights, { trainable: true, seed: 0 });

    const first = runEncoder(encoder, 'cls_pooled', true);
    const second = runEncoder(encoder, 'cls_pooled', true);
    const evaluation = runEncoder(encoder, 'cls_pooled', false);
    const evaluationAgain = runEncoder(encoder, 'cls_pooled', false);

    expect(second.pooled).not.toEqual(first.pooled);
    expect(first.pooled).not.toEqual(evaluation.pooled);
    expect(evaluationAgain).toEqual(evaluation);
    encoder.dispose();
  });
});
