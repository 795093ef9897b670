import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { combinerSchema, createRecordingLogger, gradientClippingSchema, optimizerSchema, type ModelDescription, type ModelHandle, type TrainingBatch } from '@ft/core';
import { createRandomBertWeights, createTinyBertCheckpoint } from '@ft/core/testing';
import tfjsBackend, { TfjsModel, selectRuntime } from '@ft/backend-tfjs';
import { beforeAll, describe, expect, it } from 'vitest';

import { OnnxModel } from '../src/model/onnx-model.js';
import { DEFAULT_SESSION_SETTINGS } from '../src/runtime/session.js';

const tinyBert = {
  vocab_size: 40,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  hidden_act: 'gelu' as const,
  hidden_dropout_prob: 0,
  attention_probs_dropout_prob: 0,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

function headDescription(): ModelDescription {
  return {
    inputs: [
      { name: 'x', kind: 'number' },
      { name: 'color', kind: 'category', vocabularySize: 3 },
      { name: 'sentence', kind: 'embedding', size: 12 },
    ],
    combiner: combinerSchema.parse({ fc_layers: [{ output_size: 8, activation: 'gelu' }, { output_size: 6 }], norm: 'layer' }),
    outputs: [
      { name: 'label', kind: 'category', numClasses: 3, lossWeight: 1, classWeights: [1, 2, 0.5] },
      { name: 'flag', kind: 'binary', lossWeight: 0.7, positiveClassWeight: 2 },
      { name: 'score', kind: 'number', lossWeight: 0.5, loss: 'mean_absolute_error' },
    ],
    optimizer: optimizerSchema.parse({ type: 'adamw', weight_decay: 0.01 }),
    gradientClipping: gradientClippingSchema.parse({ clipglobalnorm: 0.5 }),
    seed: 4,
    mixedPrecision: false,
  };
}

function headBatch(rows: number, offset: number): TrainingBatch {
  const x = Float32Array.from({ length: rows }, (_, i) => Math.sin(i * 1.3 + offset) * 2);
  return {
    rows,
    inputs: {
      x: { kind: 'number', values: x },
      color: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => (i + offset) % 3) },
      sentence: { kind: 'embedding', size: 12, values: Float32Array.from({ length: rows * 12 }, (_, i) => Math.cos(i * 0.7 + offset)) },
    },
    targets: {
      label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => (i * 7 + offset) % 3) },
      flag: { kind: 'binary', values: Float32Array.from(x, (value) => (value > 0 ? 1 : 0)) },
      score: { kind: 'number', values: Float32Array.from(x, (value) => value * 3 - 1) },
    },
  };
}

function textBatch(offset: number): TrainingBatch {
  // Row 2 is padded, so masking matters; ids stay inside the 40-token vocabulary.
  const ids = Int32Array.of(2, 7 + offset, 9, 3, 0, 0, 2, 11, 12 + offset, 13, 14, 3, 2, 5, 3, 0, 0, 0);
  const mask = Int32Array.from(ids, (id, i) => (id === 0 && i % 6 !== 0 ? 0 : 1));
  return {
    rows: 3,
    inputs: { text: { kind: 'text', ids, attentionMask: mask, sequenceLength: 6 }, x: { kind: 'number', values: Float32Array.of(0.5, -1, 2) } },
    targets: { label: { kind: 'category', indices: Int32Array.of(0, 1, 1) } },
  };
}

function textDescription(trainable: boolean, reduceOutput: 'cls_pooled' | 'mean'): ModelDescription {
  return {
    inputs: [
      { name: 'text', kind: 'text', encoder: { type: 'bert', architecture: tinyBert, weights: createRandomBertWeights(tinyBert, 3), trainable, reduceOutput } },
      { name: 'x', kind: 'number' },
    ],
    combiner: combinerSchema.parse({ num_fc_layers: 1, output_size: 8, activation: 'tanh' }),
    outputs: [{ name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: null }],
    optimizer: optimizerSchema.parse({ type: 'adamw' }),
    gradientClipping: gradientClippingSchema.parse({ clipglobalnorm: null }),
    seed: 2,
    mixedPrecision: false,
  };
}

/** Builds both models and gives the ONNX model the tfjs model's initial state. */
async function buildPair(description: ModelDescription): Promise<{ tfjs: ModelHandle; onnx: ModelHandle }> {
  const tfjs = await TfjsModel.build(description);
  const onnx = await OnnxModel.build(description, DEFAULT_SESSION_SETTINGS);
  await onnx.importState(await tfjs.exportState());
  return { tfjs, onnx };
}

describe('ONNX backend against the tfjs backend', () => {
  beforeAll(async () => {
    await selectRuntime('wasm', () => {});
  });

  it('head model: same losses over 5 AdamW steps', async () => {
    const { tfjs, onnx } = await buildPair(headDescription());
    for (let step = 0; step < 5; step++) {
      const expected = await tfjs.trainStep(headBatch(16, step), 0.01);
      const actual = await onnx.trainStep(headBatch(16, step), 0.01);
      expect(Math.abs(actual.loss - expected.loss), `step ${step}: ${actual.loss} vs ${expected.loss}`).toBeLessThan(1e-5);
      for (const [name, loss] of Object.entries(expected.outputLosses)) {
        expect(Math.abs(actual.outputLosses[name]! - loss), `step ${step} ${name}`).toBeLessThan(1e-5);
      }
    }

    const expectedWeights = await tfjs.exportWeights();
    const actualWeights = await onnx.exportWeights();
    expect(Object.keys(actualWeights).sort()).toEqual(Object.keys(expectedWeights).sort());
    for (const [name, array] of Object.entries(expectedWeights)) {
      array.data.forEach((value, i) => expect(Math.abs(actualWeights[name]!.data[i]! - value), `${name}[${i}]`).toBeLessThan(1e-4));
    }
    const onnxState = await onnx.exportState();
    const tfjsState = await tfjs.exportState();
    expect(Object.keys(onnxState).sort()).toEqual(Object.keys(tfjsState).sort());
    tfjs.dispose();
    onnx.dispose();
  });

  it('head model: same gradients', async () => {
    const { tfjs, onnx } = await buildPair(headDescription());
    const expected = await tfjs.computeGradients(headBatch(8, 1));
    const actual = await onnx.computeGradients(headBatch(8, 1));
    expect(Object.keys(actual.gradients).sort()).toEqual(Object.keys(expected.gradients).sort());
    for (const [name, array] of Object.entries(expected.gradients)) {
      array.data.forEach((value, i) => expect(Math.abs(actual.gradients[name]!.data[i]! - value), `${name}[${i}]`).toBeLessThan(1e-5 + 1e-4 * Math.abs(value)));
    }
    tfjs.dispose();
    onnx.dispose();
  });

  it('frozen BERT input: same losses and frozen weights', async () => {
    const { tfjs, onnx } = await buildPair(textDescription(false, 'cls_pooled'));
    for (let step = 0; step < 3; step++) {
      const expected = await tfjs.trainStep(textBatch(step), 0.01);
      const actual = await onnx.trainStep(textBatch(step), 0.01);
      expect(Math.abs(actual.loss - expected.loss), `step ${step}`).toBeLessThan(1e-5);
    }
    const name = 'encoders.text.encoder.layer.0.attention.self.query.weight';
    expect((await onnx.exportWeights())[name]!.data).toEqual((await tfjs.exportWeights())[name]!.data);
    tfjs.dispose();
    onnx.dispose();
  });

  it.each(['cls_pooled', 'mean'] as const)('trainable BERT (%s): same gradients', async (reduceOutput) => {
    const { tfjs, onnx } = await buildPair(textDescription(true, reduceOutput));
    const expected = await tfjs.computeGradients(textBatch(0));
    const actual = await onnx.computeGradients(textBatch(0));
    expect(Math.abs(actual.loss - expected.loss)).toBeLessThan(1e-6);
    expect(Object.keys(actual.gradients).sort()).toEqual(Object.keys(expected.gradients).sort());
    let largest = 0;
    for (const [name, array] of Object.entries(expected.gradients)) {
      const scale = Math.max(...Array.from(array.data, Math.abs));
      largest = Math.max(largest, scale);
      // Relative to the largest element of each weight's gradient, so near-zero elements do not dominate.
      array.data.forEach((value, i) => expect(Math.abs(actual.gradients[name]!.data[i]! - value), `${name}[${i}]`).toBeLessThanOrEqual(1e-4 * scale + 1e-9));
    }
    expect(largest).toBeGreaterThan(1e-3);
    tfjs.dispose();
    onnx.dispose();
  });

  it('trainable BERT: same losses over 3 AdamW steps', async () => {
    const { tfjs, onnx } = await buildPair(textDescription(true, 'cls_pooled'));
    for (let step = 0; step < 3; step++) {
      const expected = await tfjs.trainStep(textBatch(step), 0.001);
      const actual = await onnx.trainStep(textBatch(step), 0.001);
      expect(Math.abs(actual.loss - expected.loss), `step ${step}`).toBeLessThan(1e-5);
    }
    tfjs.dispose();
    onnx.dispose();
  });

  it.each(['cls_pooled', 'mean'] as const)('frozen encoder (%s) matches tfjs on a tiny checkpoint', async (reduceOutput) => {
    const checkpoint = await createTinyBertCheckpoint(await mkdtemp(path.join(tmpdir(), 'ft-onnx-bert-')), { seed: 3 });
    const logger = createRecordingLogger();
    const onnxBackend = (await import('../src/index.js')).default;
    const onnx = await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cpu' }), { logger });
    const tfjs = await tfjsBackend.create(tfjsBackend.optionsSchema.parse({ runtime: 'wasm' }), { logger });
    const encoder = { type: 'bert' as const, architecture: checkpoint.architecture, weights: checkpoint.weights, trainable: false, reduceOutput };

    // Row 1 is padded after three tokens and row 2 is all padding.
    const ids = Int32Array.of(2, 30, 31, 40, 3, 2, 33, 3, 0, 0, 0, 0, 0, 0, 0);
    const mask = Int32Array.of(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0);
    const expected = await (await tfjs.buildEncoder(encoder)).encode(ids, mask, 3, 5);
    const actual = await (await onnx.buildEncoder(encoder)).encode(ids, mask, 3, 5);
    expect(actual).toHaveLength(3 * checkpoint.architecture.hidden_size);
    actual.forEach((value, i) => expect(Math.abs(value - expected[i]!), `[${i}]`).toBeLessThan(1e-4));
  });
});
