import { combinerSchema, gradientClippingSchema, optimizerSchema, type ModelDescription, type TrainingBatch } from '@ft/core';
import { describe, expect, it } from 'vitest';

import { OnnxModel } from '../src/model/onnx-model.js';
import { DEFAULT_SESSION_SETTINGS } from '../src/runtime/session.js';

function description(overrides: Partial<ModelDescription> = {}): ModelDescription {
  return {
    inputs: [
      { name: 'x', kind: 'number' },
      { name: 'color', kind: 'category', vocabularySize: 3 },
      { name: 'vector', kind: 'embedding', size: 4 },
    ],
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
    inputs: {
      x: { kind: 'number', values: x },
      color: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => i % 3) },
      vector: { kind: 'embedding', size: 4, values: Float32Array.from({ length: rows * 4 }, (_, i) => Math.cos(i + offset)) },
    },
    targets: {
      label: { kind: 'category', indices: Int32Array.from(x, (value) => (value > 0 ? 1 : 0)) },
      score: { kind: 'number', values: Float32Array.from(x, (value) => 2 * value) },
    },
  };
}

const build = (overrides: Partial<ModelDescription> = {}) => OnnxModel.build(description(overrides), DEFAULT_SESSION_SETTINGS);

describe('OnnxModel', () => {
  it('learns a separable problem', async () => {
    const model = await build();
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
    const model = await build();
    const result = await model.trainStep(batch(16), 0);
    expect(result.loss).toBeCloseTo(result.outputLosses.label! + 0.5 * result.outputLosses.score!, 5);
    model.dispose();
  });

  it('restores exported state exactly', async () => {
    const model = await build({ combiner: combinerSchema.parse({ num_fc_layers: 2, output_size: 8, dropout: 0.3, norm: 'layer' }) });
    await model.trainStep(batch(32), 0.01);
    const state = await model.exportState();
    const afterSave = await model.trainStep(batch(32, 1), 0.01);

    await model.importState(state);
    const replayed = await model.trainStep(batch(32, 1), 0.01);
    expect(replayed.loss).toBe(afterSave.loss);
    expect(Object.keys(state)).toContain('optimizer.heads.label.weight.exp_avg');
    expect(Object.keys(state)).toContain('combiner.fc_layers.1.layer_norm.weight');
    expect(state['random.dropout_calls']!.data[0]).toBe(2);
    model.dispose();
  });

  it('forward returns logits per output', async () => {
    const model = await build();
    const outputs = await model.forward(batch(5));
    expect(outputs.label).toHaveLength(10);
    expect(outputs.score).toHaveLength(5);
    model.dispose();
  });

  it('trainStep equals computeGradients then applyGradients', async () => {
    const settings = { gradientClipping: gradientClippingSchema.parse({ clipglobalnorm: 0.1, clipvalue: 0.01 }) };
    const whole = await build(settings);
    const split = await build(settings);
    const stepped = await whole.trainStep(batch(16), 0.01);
    const computed = await split.computeGradients(batch(16));
    await split.applyGradients(computed.gradients, 0.01);
    expect(computed.loss).toBe(stepped.loss);
    expect(Object.keys(computed.gradients)).toContain('heads.score.bias');

    const expected = await whole.exportState();
    const actual = await split.exportState();
    for (const [name, array] of Object.entries(expected)) {
      Array.from(array.data).forEach((value, i) => expect(actual[name]!.data[i], `${name}[${i}]`).toBeCloseTo(value, 6));
    }
    whole.dispose();
    split.dispose();
  });

  it('uses class weights and binary positive weights', async () => {
    const model = await build({
      inputs: [{ name: 'x', kind: 'number' }],
      combiner: combinerSchema.parse({}),
      outputs: [
        { name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: [1, 3] },
        { name: 'flag', kind: 'binary', lossWeight: 2, positiveClassWeight: 4 },
      ],
    });
    const rows: TrainingBatch = {
      rows: 3,
      inputs: { x: { kind: 'number', values: Float32Array.of(0.5, -1, 2) } },
      targets: { label: { kind: 'category', indices: Int32Array.of(1, 0, 1) }, flag: { kind: 'binary', values: Float32Array.of(1, 0, 0) } },
    };
    const logits = await model.forward(rows);
    const result = await model.computeGradients(rows);

    const logSoftmax = (a: number, b: number, pick: number) => (pick === 0 ? a : b) - Math.log(Math.exp(a) + Math.exp(b));
    const labels = [1, 0, 1];
    const weights = labels.map((label) => [1, 3][label]!);
    const crossEntropy = labels.reduce((sum, label, row) => sum - weights[row]! * logSoftmax(logits.label![2 * row]!, logits.label![2 * row + 1]!, label), 0) / 7;
    expect(result.outputLosses.label).toBeCloseTo(crossEntropy, 5);

    const softplus = (z: number) => Math.log1p(Math.exp(z));
    const flags = [1, 0, 0];
    const bce = flags.reduce((sum, y, row) => sum + y * 4 * softplus(-logits.flag![row]!) + (1 - y) * softplus(logits.flag![row]!), 0) / 3;
    expect(result.outputLosses.flag).toBeCloseTo(bce, 5);
    model.dispose();
  });

  it('names a missing input', async () => {
    const model = await build();
    const incomplete = { ...batch(2), inputs: { x: batch(2).inputs.x! } };
    await expect(model.forward(incomplete)).rejects.toThrow('Batch has no data for input "color".');
    model.dispose();
  });
});
