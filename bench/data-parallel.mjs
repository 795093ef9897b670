// Times training throughput (rows/s) of one replica against two local data-parallel replicas
// (the main thread and one worker thread) on the tfjs wasm runtime, which runs one thread per
// replica. The model is BERT-shaped: hidden 128, 2 layers, 2 heads, intermediate 512, the
// bert-base vocabulary, random weights, sequence 64, a 2-class head, AdamW and default clipping,
// with 16 rows per replica per step.
//
//   npm run build && node bench/data-parallel.mjs
//
// Environment variables:
//   FT_BENCH_STEPS=N  timed steps per setting after 2 untimed ones (default 10).

import os from 'node:os';

import tfjsBackend from '@ft/backend-tfjs';
import { BERT_BASE_ARCHITECTURE, createRecordingLogger, ParallelModel } from '@ft/core';
import { createRandomBertWeights } from '@ft/core/testing';

import { bertClassifierDescription } from './shapes.mjs';

const ARCHITECTURE = { ...BERT_BASE_ARCHITECTURE, hidden_size: 128, num_hidden_layers: 2, num_attention_heads: 2, intermediate_size: 512 };
const SEQUENCE_LENGTH = 64;
const ROWS_PER_REPLICA = 16;
const WARMUP_STEPS = 2;
const TIMED_STEPS = Number(process.env.FT_BENCH_STEPS ?? 10);

const description = bertClassifierDescription(ARCHITECTURE, createRandomBertWeights(ARCHITECTURE, 1));

/** Builds a batch of `rows` full-length rows of pseudo-random token ids; `offset` varies it per step. */
function batch(rows, offset) {
  const ids = Int32Array.from({ length: rows * SEQUENCE_LENGTH }, (_, i) => 1000 + ((i * 7919 + offset * 104729) % 20000));
  return {
    rows,
    inputs: { text: { kind: 'text', ids, attentionMask: new Int32Array(rows * SEQUENCE_LENGTH).fill(1), sequenceLength: SEQUENCE_LENGTH } },
    targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => (i + offset) % 2) } },
  };
}

/** Returns rows per second over TIMED_STEPS training steps of `rows` rows, after WARMUP_STEPS untimed steps. */
async function throughput(model, rows) {
  for (let step = 0; step < WARMUP_STEPS; step++) {
    await model.trainStep(batch(rows, step), 1e-4);
  }
  const started = performance.now();
  for (let step = 0; step < TIMED_STEPS; step++) {
    await model.trainStep(batch(rows, WARMUP_STEPS + step), 1e-4);
  }
  return (rows * TIMED_STEPS) / ((performance.now() - started) / 1000);
}

const logger = createRecordingLogger();
const backendSection = { type: 'tfjs', runtime: 'wasm' };
const backend = await tfjsBackend.create(tfjsBackend.optionsSchema.parse({ runtime: 'wasm' }), { logger });
console.log(`${backend.description}; ${os.cpus().length} CPU cores (${os.cpus()[0]?.model ?? 'unknown'}), Node ${process.version}`);
console.log(`BERT hidden ${ARCHITECTURE.hidden_size}, ${ARCHITECTURE.num_hidden_layers} layers, sequence ${SEQUENCE_LENGTH}, ${ROWS_PER_REPLICA} rows per replica, ${TIMED_STEPS} timed steps`);

const single = await backend.buildModel(description);
const singleRate = await throughput(single, ROWS_PER_REPLICA);
single.dispose();
console.log(`1 replica:  ${singleRate.toFixed(1)} rows/s`);

const local = await backend.buildModel(description);
const parallel = await ParallelModel.start({ local, workers: 2, backendType: 'tfjs', backendSection, description, logger });
let parallelRate;
try {
  parallelRate = await throughput(parallel, 2 * ROWS_PER_REPLICA);
} finally {
  parallel.dispose();
}
console.log(`2 replicas: ${parallelRate.toFixed(1)} rows/s`);
console.log(`speed-up:   ${(parallelRate / singleRate).toFixed(2)}×`);
await backend.dispose();
