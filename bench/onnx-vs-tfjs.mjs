// Times the ONNX Runtime backend against the TensorFlow.js backend in one process, and both
// against a PyTorch reference run as a child process on the same machine:
//   - a frozen BERT-mini-shaped encoder forward pass (random weights, batch 16 × sequence 128),
//   - a head-only training step (batch 32 on 512-dim embeddings, AdamW, default clipping),
//   - a full fine-tuning step of that encoder with a 2-class category head (forward, backward,
//     global-norm clipping at 0.5 and AdamW through ModelHandle.trainStep, dropout 0.1).
//
//   npm run build && node bench/onnx-vs-tfjs.mjs
//
// Environment variables:
//   FT_BENCH_SKIP_TFJS_TRAIN=1  skip the tfjs full fine-tuning step, which takes seconds per step.
//   FT_BENCH_PYTHON=PATH        Python with torch for bench/reference/torch_bert_step.py
//                               (default /usr/bin/python3, where Debian's python3-torch installs).
//   FT_BENCH_SKIP_TORCH=1       skip the PyTorch reference.
import { execFile } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

import onnxBackend from '@ft/backend-onnx';
import tfjsBackend from '@ft/backend-tfjs';
import { combinerSchema, createRecordingLogger, gradientClippingSchema, optimizerSchema } from '@ft/core';
import { createRandomBertWeights } from '@ft/core/testing';
import { BERT_MINI, bertClassifierDescription, tokenBatch } from './shapes.mjs';

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

function fineTuneBatch(ids, mask, rows, length) {
  return {
    rows,
    inputs: { text: { kind: 'text', ids, attentionMask: mask, sequenceLength: length } },
    targets: { label: { kind: 'category', indices: Int32Array.from({ length: rows }, (_, i) => i % 2) } },
  };
}

const TORCH_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference', 'torch_bert_step.py');

/**
 * Runs the PyTorch reference on the BERT-mini shape and returns its forward and train-step
 * milliseconds, or null (with the reason printed) when Python or torch is unavailable.
 */
async function runTorchReference() {
  const python = process.env.FT_BENCH_PYTHON ?? '/usr/bin/python3';
  const shape = [BERT_MINI.hidden_size, BERT_MINI.num_hidden_layers, BERT_MINI.num_attention_heads, BERT_MINI.intermediate_size, 128, 16, 10];
  let stdout;
  try {
    ({ stdout } = await promisify(execFile)(python, [TORCH_SCRIPT, ...shape.map(String)], { timeout: 600_000 }));
  } catch (error) {
    const reason = error.code === 'ENOENT' ? `${python} was not found` : (error.stderr?.trim().split('\n').at(-1) ?? error.message);
    console.log(`PyTorch reference skipped: ${reason}. Set FT_BENCH_PYTHON to a Python that has torch.`);
    return null;
  }
  const forward = /forward_ms=([\d.]+)/.exec(stdout);
  const trainStep = /train_step_ms=([\d.]+)/.exec(stdout);
  if (forward === null || trainStep === null) {
    console.log(`PyTorch reference skipped: its output has no forward_ms and train_step_ms:\n${stdout}`);
    return null;
  }
  return { version: stdout.split('\n')[0].trim(), forward: Number(forward[1]), trainStep: Number(trainStep[1]) };
}

const logger = createRecordingLogger();
const backends = {
  onnx: await onnxBackend.create(onnxBackend.optionsSchema.parse({ device: 'cpu' }), { logger }),
  tfjs: await tfjsBackend.create(tfjsBackend.optionsSchema.parse({}), { logger }),
};
console.log(`machine: ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.availableParallelism()} cores, Node ${process.version}, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
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
  results[`${name} head train step`] = await median((step) => model.trainStep(headBatches[step % 8], 1e-3), { warmup: 20, runs: 200 });
  model.dispose();
}

// A full step takes hundreds of milliseconds to seconds, so it gets few repetitions. The first
// call builds and loads the training graph and is never timed.
const skipTfjsFineTune = process.env.FT_BENCH_SKIP_TFJS_TRAIN === '1';
const fineTune = fineTuneBatch(ids, mask, 16, 128);
for (const [name, backend] of Object.entries(backends)) {
  if (name === 'tfjs' && skipTfjsFineTune) {
    console.log('tfjs full fine-tuning step skipped (FT_BENCH_SKIP_TFJS_TRAIN=1).');
    continue;
  }
  const model = await backend.buildModel(bertClassifierDescription(BERT_MINI, weights));
  const repetitions = name === 'tfjs' ? { warmup: 1, runs: 3 } : { warmup: 2, runs: 7 };
  results[`${name} fine-tuning step`] = await median(() => model.trainStep(fineTune, 2e-5), repetitions);
  model.dispose();
}
for (const backend of Object.values(backends)) {
  await backend.dispose();
}

const torch = process.env.FT_BENCH_SKIP_TORCH === '1' ? null : await runTorchReference();

console.log('\nSame run (median ms):');
for (const [label, milliseconds] of Object.entries(results)) {
  console.log(`  ${label}: ${milliseconds.toFixed(2)} ms`);
}
if (torch !== null) {
  console.log(`  ${torch.version}`);
  console.log(`  PyTorch reference forward: ${torch.forward.toFixed(1)} ms (mean of 10)`);
  console.log(`  PyTorch reference train step: ${torch.trainStep.toFixed(1)} ms (mean of 10)`);
}

const ratio = (a, b) => (a === undefined || b === undefined ? 'n/a' : (a / b).toFixed(2));
console.log('\nRatios (same run):');
console.log(`  BERT-mini forward, batch 16 × 128: tfjs / onnx = ${ratio(results['tfjs forward'], results['onnx forward'])}`);
console.log(`  head train step, batch 32 × 512: tfjs / onnx = ${ratio(results['tfjs head train step'], results['onnx head train step'])}`);
console.log(`  BERT-mini fine-tuning step, batch 16 × 128: tfjs / onnx = ${ratio(results['tfjs fine-tuning step'], results['onnx fine-tuning step'])}`);
if (torch !== null) {
  for (const name of Object.keys(backends)) {
    console.log(`  ${name} / PyTorch: forward ${ratio(results[`${name} forward`], torch.forward)}, fine-tuning step ${ratio(results[`${name} fine-tuning step`], torch.trainStep)}`);
  }
}

// Hugging Face transformers could not be installed where this benchmark was written (no PyPI).
// These constants were measured on 2026-12-04 on a 2-vCPU machine recorded as AMD Zen 4, with the
// same shape, 2 threads, random weights and AdamW, by this script's PyTorch reference and its
// Hugging Face counterpart (BertForSequenceClassification).
console.log('\nExternal reference, measured elsewhere on this machine kind (2 vCPU, recorded as Zen 4, 2026-12-04), not in this run:');
console.log('  HF transformers 5.17 BertForSequenceClassification on PyTorch 2.13: forward 88 ms, train step 413 ms');
console.log('  torch_bert_step.py on PyTorch 2.13: forward 102 ms, train step 459 ms');
console.log('  torch_bert_step.py on PyTorch 1.13: forward 335–368 ms, train step 1125–1145 ms');
