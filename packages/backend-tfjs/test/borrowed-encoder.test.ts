import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRecordingLogger, trainRun, type BackendDescriptor } from '@ft/core';
import { describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';

const EXAMPLE = fileURLToPath(new URL('../../../examples/sst2/', import.meta.url));

/** The tfjs backend with its Universal Sentence Encoder hidden, standing in for a backend that lacks it. */
const withoutUse: BackendDescriptor = {
  name: 'tfjs-without-use',
  optionsSchema: tfjsBackend.optionsSchema,
  async create(options, context) {
    const backend = await tfjsBackend.create(options as never, context);
    const { universal_sentence_encoder: _hidden, ...encoders } = backend.capabilities.encoders;
    return Object.assign(Object.create(Object.getPrototypeOf(backend) as object) as typeof backend, backend, {
      capabilities: { ...backend.capabilities, encoders },
    });
  },
};

describe('encoder borrowed for the cache', () => {
  it('another backend fills the cache', async () => {
    const logger = createRecordingLogger();
    process.env.FT_CACHE_DIR = await mkdtemp(path.join(tmpdir(), 'ft-cache-'));
    const result = await trainRun({
      config: {
        dataset: { training_set: path.join(EXAMPLE, 'train.csv'), test_set: path.join(EXAMPLE, 'test.csv') },
        preprocessing: { sample_ratio: 0.01 },
        input_features: [{ name: 'sentence', type: 'text', preprocessing: { cache_encoder_embeddings: true } }],
        output_features: [{ name: 'label', type: 'category' }],
        trainer: { epochs: 1 },
        backend: { type: 'limited' },
      },
      outputDirectory: await mkdtemp(path.join(tmpdir(), 'ft-results-')),
      logger,
      loadBackend: async (type) => (type === 'limited' ? withoutUse : tfjsBackend),
    });
    expect(result.stopReason).toBe('completed');
    expect(logger.records.map((record) => record.message)).toContainEqual(expect.stringMatching(/^Backend "limited" has no universal_sentence_encoder encoder; computing its cached embeddings with TensorFlow\.js/));
    delete process.env.FT_CACHE_DIR;
  });

  it('an uncached frozen encoder still needs the backend', async () => {
    await expect(
      trainRun({
        config: {
          dataset: { training_set: path.join(EXAMPLE, 'train.csv') },
          input_features: [{ name: 'sentence', type: 'text' }],
          output_features: [{ name: 'label', type: 'category' }],
          backend: { type: 'limited' },
        },
        loadBackend: async () => withoutUse,
      }),
    ).rejects.toThrow('input_features[0].encoder.type: backend "tfjs-without-use" has no universal_sentence_encoder encoder');
  });
});
