import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { FtError, trainRun } from '@ft/core';
import { describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/sst2/', import.meta.url));

describe('embedding pass interruption', () => {
  it('stops with an interrupted error', async () => {
    const cache = await mkdtemp(path.join(tmpdir(), 'ft-cache-'));
    const controller = new AbortController();
    controller.abort();
    const error = await trainRun({
      config: {
        dataset: { training_set: path.join(EXAMPLE, 'train.csv') },
        preprocessing: { sample_ratio: 0.02 },
        input_features: [{ name: 'sentence', type: 'text', preprocessing: { cache_encoder_embeddings: true } }],
        output_features: [{ name: 'label', type: 'category' }],
        backend: { type: 'tfjs', cache_dir: cache },
      },
      outputDirectory: await mkdtemp(path.join(tmpdir(), 'ft-results-')),
      loadBackend: async () => tfjsBackend,
      signal: controller.signal,
    }).catch((caught: unknown) => caught);

    expect(error).toBeInstanceOf(FtError);
    expect((error as FtError).code).toBe('INTERRUPTED');
    expect((error as FtError).exitCode).toBe(130);
    expect((error as Error).message).toBe('Interrupted while computing embeddings; nothing was trained or saved. Splits already embedded stay in the cache.');
  });
});
