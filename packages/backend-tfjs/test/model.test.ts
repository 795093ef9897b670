import * as tf from '@tensorflow/tfjs-core';
import { combinerSchema, gradientClippingSchema, optimizerSchema, type ModelDescription, type TrainingBatch } from '@ft/core';
import { createRandomBertWeights } from '@ft/core/testing';
import { beforeAll, describe, expect, it } from 'vitest';

import { TfjsModel } from '../src/model/tfjs-model.js';
import { selectRuntime } from '../src/runtime/select-runtime.js';

const tinyBert = {
  vocab_size: 40,
  hidden_size: 16,
  num_hidden_layers: 1,
  num_attention_heads: 2,
  intermediate_size: 32,
  hidden_act: 'gelu' as const,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

function description(overrides: Partial<ModelDescription> = {}): ModelDescription {
  return {
    inputs: [{ name: 'x', kind: 'number' }, { name: 'color', kind: 'category', vocabularySize: 3 }],
    combiner: combinerSchema.parse({ num_fc_layers: 1, output_size: 8 }),
    outputs: [
      { name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: null },
      { name: 'score', kind: 'number', lossWeight: 0.5, loss: 'mean_squared_error' },
    ],
    optimizer: optimizerSchema.parse({ type: 'adamw', weight_decay: 0 }),
    gradientClipping: gradientClippingSchema.parse({}),
    seed: 1,
    mixedPrecision: false,
    ...overrides,
  };
}

/** Builds a batch where the label is x > 0 and the score is 2x. */
function batch(rows: number, offset = 0): TrainingBatch {
  const x = Float32Array.from({ length: rows }, (_, i) => Math.sin(i * 1.7 + offset) * 2);
  return {
    rows,
    inputs: { x: { kind: 'number', values: x }, color: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => i % 3) } },
    targets: {
      label: { kind: 'category', indices: Int32Array.from(x, (value) => (value > 0 ? 1 : 0)) },
      score: { kind: 'number', values: Float32Array.from(x, (value) => 2 * value) },
    },
  };
}

describe('TfjsModel', () => {
  beforeAll(async () => {
    await selectRuntime('wasm', () => {});
  });

  it('learns a separable problem', async () => {
    const model = await TfjsModel.build(description());
    const first = await model.trainStep(batch(64), 0.05);
    let last = first;
    for (let step = 1; step < 150; step++) {
      last = await model.trainStep(batch(64, step), 0.05);
    }
    expect(last.loss).toBeLessThan(first.loss / 4);
    expect(Object.keys(last.outputLosses).sort()).toEqual(['label', 'score']);
    model.dispose();
  });

  it('reports the weighted sum of output losses', async () => {
    const model = await TfjsModel.build(description());
    const result = await model.trainStep(batch(16), 0);
    expect(result.loss).toBeCloseTo(result.outputLosses.label! + 0.5 * result.outputLosses.score!, 5);
    model.dispose();
  });

  it('restores exported state exactly', async () => {
    const model = await TfjsModel.build(description());
    await model.trainStep(batch(32), 0.01);
    const state = await model.exportState();
    const afterSave = await model.trainStep(batch(32, 1), 0.01);

    await model.importState(state);
    const replayed = await model.trainStep(batch(32, 1), 0.01);
    expect(replayed.loss).toBe(afterSave.loss);
    expect(Object.keys(state)).toContain('optimizer.heads.label.weight.exp_avg');
    model.dispose();
  });

  it('keeps frozen encoder weights fixed', async () => {
    const weights = createRandomBertWeights(tinyBert, 5);
    const model = await TfjsModel.build(
      description({
        inputs: [{ name: 'text', kind: 'text', encoder: { type: 'bert', architecture: tinyBert, weights, trainable: false, reduceOutput: 'cls_pooled' } }],
        outputs: [{ name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: null }],
      }),
    );
    const textBatch: TrainingBatch = {
      rows: 2,
      inputs: { text: { kind: 'text', ids: Int32Array.of(2, 7, 9, 3, 2, 11, 3, 0), attentionMask: Int32Array.of(1, 1, 1, 1, 1, 1, 1, 0), sequenceLength: 4 } },
      targets: { label: { kind: 'category', indices: Int32Array.of(0, 1) } },
    };
    for (let step = 0; step < 3; step++) {
      await model.trainStep(textBatch, 0.1);
    }
    const exported = await model.exportWeights();
    const name = 'encoders.text.encoder.layer.0.attention.self.query.weight';
    expect(Array.from(exported[name]!.data)).toEqual(Array.from(weights['encoder.layer.0.attention.self.query.weight']!.data));
    model.dispose();
  });

  it('does not leak tensors per step', async () => {
    const model = await TfjsModel.build(description());
    await model.trainStep(batch(8), 0.01);
    await model.forward(batch(8));
    const before = tf.memory().numTensors;
    for (let step = 0; step < 5; step++) {
      await model.trainStep(batch(8, step), 0.01);
      await model.forward(batch(8, step));
    }
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });
});
