// Profiles the ONNX backend's BERT-mini full fine-tuning step (batch 16 × sequence 128, AdamW,
// default clipping, dropout 0.1). It times the forward, gradients, update and training graphs
// separately. Then it runs the training graph under ONNX Runtime's profiler and lists the parts
// of the step, op types and nodes that take the most kernel time.
//
//   npm run build && node bench/onnx-train-profile.mjs [runs]
//
// It reads the backend's build output directly (packages/backend-onnx/dist), because the
// per-graph sessions and feeds are internal to OnnxModel.
import { mkdtemp, readdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

import { createRandomBertWeights } from '@ft/core/testing';
import * as ort from 'onnxruntime-node';

import { buildModelGraph, buildUpdateGraph } from '../packages/backend-onnx/dist/model/model-graph.js';
import { OnnxModel } from '../packages/backend-onnx/dist/model/onnx-model.js';
import { BERT_MINI, bertClassifierDescription, tokenBatch } from './shapes.mjs';

const ROWS = 16;
const LENGTH = 128;
const runs = Number(process.argv[2] ?? 5);
const threads = os.availableParallelism();

const description = bertClassifierDescription(BERT_MINI, createRandomBertWeights(BERT_MINI, 1));

const { ids, mask } = tokenBatch(ROWS, LENGTH);
const batch = {
  rows: ROWS,
  inputs: { text: { kind: 'text', ids, attentionMask: mask, sequenceLength: LENGTH } },
  targets: { label: { kind: 'category', indices: Int32Array.from({ length: ROWS }, (_, i) => i % 2) } },
};

const settings = { executionProviders: ['cpu'], intraOpNumThreads: threads, graphOptimizationLevel: 'all' };
const model = await OnnxModel.build(description, settings);
const spec = model.graphSpec();

/** Returns the feeds that OnnxModel.trainStep would pass, restricted to the inputs of `session`. */
async function feedsFor(session, mode) {
  const feeds = {};
  await model.inputFeeds(batch, feeds);
  model.targetFeeds(batch, feeds);
  model.weightFeeds(feeds);
  model.optimizerFeeds(feeds, 2e-5);
  if (mode === 'update') {
    for (const name of model.trainableNames) {
      const weight = model.weights.get(name);
      feeds[`gradient.${name}`] = new ort.Tensor('float32', new Float32Array(weight.data.length).fill(1e-3), weight.shape);
    }
  }
  const built = mode === 'update' ? { dropoutSites: [] } : buildModelGraph(spec, mode);
  model.dropoutFeeds(built.dropoutSites, batch, feeds);
  return Object.fromEntries(session.inputNames.map((name) => [name, feeds[name]]));
}

async function time(session, feeds) {
  await session.run(feeds);
  const times = [];
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    await session.run(feeds);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

const options = { executionProviders: ['cpu'], intraOpNumThreads: threads, executionMode: 'sequential', graphOptimizationLevel: 'all' };
console.log(`ONNX Runtime ${ort.env.versions.common}, ${threads} threads, load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
for (const mode of ['forward', 'gradients', 'update', 'train']) {
  const bytes = mode === 'update' ? buildUpdateGraph(spec) : buildModelGraph(spec, mode).bytes;
  const session = await ort.InferenceSession.create(bytes, options);
  const feeds = await feedsFor(session, mode);
  console.log(`${mode}: ${(await time(session, feeds)).toFixed(1)} ms (median of ${runs}), ${(bytes.length / 1e6).toFixed(1)} MB graph`);
  await session.release();
}

// One profiled session of the training graph. The profile lists every kernel call.
const folder = await mkdtemp(path.join(os.tmpdir(), 'ft-onnx-profile-'));
const session = await ort.InferenceSession.create(buildModelGraph(spec, 'train').bytes, { ...options, enableProfiling: true, profileFilePrefix: path.join(folder, 'train') });
const feeds = await feedsFor(session, 'train');
for (let run = 0; run < runs + 1; run++) {
  await session.run(feeds);
}
// onnxruntime-node's endProfiling() returns nothing, so the file is found in the folder.
session.endProfiling();
await session.release();
const profileFile = path.join(folder, (await readdir(folder))[0]);

const events = JSON.parse(await readFile(profileFile, 'utf8')).filter((event) => event.cat === 'Node' && event.name.endsWith('_kernel_time'));
const byType = new Map();
const byNode = new Map();
for (const event of events) {
  const type = event.args.op_name;
  byType.set(type, (byType.get(type) ?? 0) + event.dur);
  const node = event.name.replace(/_kernel_time$/, '');
  byNode.set(node, { type, total: (byNode.get(node)?.total ?? 0) + event.dur });
}
// Groups nodes by the part of the step they belong to, from the scopes that model-graph.ts names.
const region = (node) => {
  const part = node.startsWith('grad/') ? 'backward' : node.startsWith('clip/') ? 'clipping' : node.startsWith('update.') || node.startsWith('updated.') ? 'update' : 'forward';
  return node.includes('word_embeddings') || node.includes('embeddings.Gather') ? `${part} (word embeddings)` : part;
};
const byRegion = new Map();
for (const [node, { total: microseconds }] of byNode) {
  byRegion.set(region(node), (byRegion.get(region(node)) ?? 0) + microseconds);
}
const perStep = (microseconds) => (microseconds / (runs + 1) / 1000).toFixed(2);
const total = [...byType.values()].reduce((sum, value) => sum + value, 0);
console.log(`\nprofile ${profileFile}: ${perStep(total)} ms of kernels per step`);
console.log('parts of the step:');
for (const [name, microseconds] of [...byRegion].sort((a, b) => b[1] - a[1])) {
  console.log(`  ${name.padEnd(28)} ${perStep(microseconds).padStart(8)} ms`);
}
console.log('op types by time per step:');
for (const [type, microseconds] of [...byType].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`  ${type.padEnd(28)} ${perStep(microseconds).padStart(8)} ms`);
}
console.log('slowest nodes per step:');
for (const [node, { type, total: microseconds }] of [...byNode].sort((a, b) => b[1].total - a[1].total).slice(0, 30)) {
  console.log(`  ${perStep(microseconds).padStart(8)} ms  ${type.padEnd(20)} ${node}`);
}
model.dispose();
