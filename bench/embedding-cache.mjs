// Times the SST-2 example twice in one process with an empty embedding cache: the first run
// computes the Universal Sentence Encoder embeddings, the second reuses them.
//
//   npm run build && node bench/embedding-cache.mjs
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { trainRun } from '@ft/core';

const config = fileURLToPath(new URL('../examples/sst2/config.yaml', import.meta.url));
const scratch = await mkdtemp(path.join(tmpdir(), 'ft-bench-'));
process.env.FT_CACHE_DIR = path.join(scratch, 'cache');

async function timedRun(label) {
  const started = performance.now();
  const result = await trainRun({ configPath: config, outputDirectory: path.join(scratch, 'results'), experimentName: label });
  const seconds = (performance.now() - started) / 1000;
  const accuracy = result.finalMetrics.test?.label?.accuracy;
  console.log(`${label}: ${seconds.toFixed(1)} s, test accuracy ${accuracy?.toFixed(4)}, best epoch ${result.bestEpoch + 1}`);
  return seconds;
}

const cold = await timedRun('cold-cache');
const warm = await timedRun('warm-cache');
console.log(`warm / cold time ratio: ${(warm / cold).toFixed(3)} (the cached run is ${(cold / warm).toFixed(1)}x faster)`);
await rm(scratch, { recursive: true, force: true });
