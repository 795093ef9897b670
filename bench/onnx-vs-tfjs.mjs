// Times the ONNX Runtime backend against the TensorFlow.js backend in one process:
// a frozen BERT-mini-shaped encoder forward pass (random weights, batch 16 × sequence 128) and
// a head-only training step (batch 32 on 512-dim embeddings, AdamW, default clipping).
//
//   npm run build && node bench/onnx-vs-tfjs.mjs
import os from 'node:os';

import onnxBackend from '@ft/backend-onnx';
import tfjsBackend from '@ft/backend-tfjs';
import { combinerSchema, createRecordingLogger, gradientClippingSchema, optimizerSchema } from '@ft/core';
import { createRandomBertWeights } from '@ft/core/testing';

const BERT_MINI = {
  vocab_size: 30522,
  hidden_size: 256,
  num_hidden_layers: 4,
  num_attention_heads: 4,
  intermediate_size: 1024,
  hidden_act: 'gelu',
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 512,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

/** Returns the median milliseconds of `runs` calls after `warmup` untimed calls. */
async function median(run, { warmup, runs }) {
  for (let i = 0; i < warmup; i++) {
    await run(i);
  }
  const times = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    await run(warmup + i);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

function tokenBatch(rows, length) {
  const ids = new Int32Array(rows * length);
  const mask = new Int32Array(rows * length);
  for (let row = 0; row < rows; row++) {
    // Rows get different lengths so masking does real work; the rest is padding.
    const used = length - ((row * 7) % (length / 2));
    for (let position = 0; position < used; position++) {
      ids[row * length + position] = position === 0 ? 101 : 1000 + ((row * 31 + position * 17) % 20000);
      mask[row * length + position] = 1;
    }
  }
  return { ids, mask };
}

function headDescription() {
  return {
    inputs: [{ name: 'sentence', kind: 'embedding', size: 512 }],
    combiner: combinerSchema.parse({}),
    outputs: [{ name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: null }],
    optimizer: optimizerSchema.parse({ type: 'adamw' }),
    gradientClipping: gradientClippingSchema.parse({}),
    seed: 1,
    mixedPrecision: false,
  };
}

function headBatch(rows, offset) {
  return {
    rows,
    inputs: { sentence: { kind: 'embedding', size: 512, values: Float32Array.from({ length: rows * 512 }, (_, i) => Math.sin(i * 0.37 + offset)) } },
    targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => (i + offset) % 2) } },
  };
}

const logger = createRecordingLogger();
const backends = {
  onnx: await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cpu' }), { logger }),
  tfjs: await tfjsBackend.create(tfjsBackend.optionsSchema.parse({}), { logger }),
};
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}`);
for (const [name, backend] of Object.entries(backends)) {
  console.log(`${name}: ${backend.description}`);
}

const weights = createRandomBertWeights(BERT_MINI, 1);
const { ids, mask } = tokenBatch(16, 128);
const results = {};
for (const [name, backend] of Object.entries(backends)) {
  const encoder = await backend.buildEncoder({ type: 'bert', architecture: BERT_MINI, weights, trainable: false, reduceOutput: 'cls_pooled' });
  results[`${name} forward`] = await median(() => encoder.encode(ids, mask, 16, 128), { warmup: 2, runs: 7 });
  encoder.dispose();
}

// Batches are made before timing, so only the step itself is measured.
const headBatches = Array.from({ length: 8 }, (_, offset) => headBatch(32, offset));
for (const [name, backend] of Object.entries(backends)) {
  const model = await backend.buildModel(headDescription());
  results[`${name} train step`] = await median((step) => model.trainStep(headBatches[step % 8], 1e-3), { warmup: 20, runs: 200 });
  model.dispose();
}

for (const [label, milliseconds] of Object.entries(results)) {
  console.log(`${label}: ${milliseconds.toFixed(2)} ms (median)`);
}
console.log(`BERT-mini forward, batch 16 × 128: tfjs / onnx = ${(results['tfjs forward'] / results['onnx forward']).toFixed(1)}`);
console.log(`head train step, batch 32 × 512: tfjs / onnx = ${(results['tfjs train step'] / results['onnx train step']).toFixed(1)}`);
