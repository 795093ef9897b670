// Times the ONNX backend's BERT full fine-tuning step in float32 and in mixed precision
// (float16 matrix products with loss scaling) on each device given, and prints the ratio
// mixed / float32 per device. Both models start from the same weights and train on the same
// batch in one process, taking turns step by step.
//
//   npm run build && node bench/mixed-precision.mjs [runs] [devices] [shape]
//
// devices is a comma-separated list of cpu and webgpu (default cpu,webgpu). shape is mini
// (BERT-mini, batch 16 × sequence 128) or tiny (2 layers, hidden 64, batch 8 × sequence 32).
// A WebGPU adapter is needed for webgpu: a GPU driver, or Mesa's software Vulkan driver.
import os from 'node:os';

import { createRandomBertWeights } from '@ft/core/testing';

import { OnnxModel } from '../packages/backend-onnx/dist/model/onnx-model.js';
import { BERT_MINI, bertClassifierDescription, tokenBatch } from './shapes.mjs';

const runs = Number(process.argv[2] ?? 5);
const devices = (process.argv[3] ?? 'cpu,webgpu').split(',');
const shape = process.argv[4] ?? 'mini';
const threads = os.availableParallelism();

const TINY = { ...BERT_MINI, hidden_size: 64, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 256 };
const architecture = shape === 'tiny' ? TINY : BERT_MINI;
const [rows, length] = shape === 'tiny' ? [8, 32] : [16, 128];
const weights = createRandomBertWeights(architecture, 1);

const { ids, mask } = tokenBatch(rows, length);
const batch = {
  rows,
  inputs: { text: { kind: 'text', ids, attentionMask: mask, sequenceLength: length } },
  targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => i % 2) } },
};

const median = (times) => [...times].sort((a, b) => a - b)[Math.floor(times.length / 2)];

/**
 * Returns the median step times of a float32 and a mixed-precision model on `device`, in
 * milliseconds. The two models take turns, so drift in machine load affects both alike.
 */
async function stepTimes(device) {
  const settings = { executionProviders: [device], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
  const models = [
    { model: await OnnxModel.build(bertClassifierDescription(architecture, weights), settings), options: undefined, times: [] },
    { model: await OnnxModel.build(bertClassifierDescription(architecture, weights, { mixedPrecision: true }), settings), options: { lossScale: 1024 }, times: [] },
  ];
  for (const { model, options } of models) {
    await model.trainStep(batch, 1e-5, options);
  }
  for (let run = 0; run < runs; run++) {
    for (const { model, options, times } of models) {
      const start = performance.now();
      await model.trainStep(batch, 1e-5, options);
      times.push(performance.now() - start);
    }
  }
  for (const { model } of models) {
    model.dispose();
  }
  return models.map(({ times }) => median(times));
}

console.log(`BERT ${shape} (hidden ${architecture.hidden_size}, ${architecture.num_hidden_layers} layers), batch ${rows} × ${length}, median of ${runs} steps, ${threads} threads`);
for (const device of devices) {
  const [float32, mixed] = await stepTimes(device);
  console.log(`${device}: float32 ${float32.toFixed(1)} ms, mixed ${mixed.toFixed(1)} ms, mixed / float32 ${(mixed / float32).toFixed(2)}`);
}
