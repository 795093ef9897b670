import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

import { createTinyBertCheckpoint } from '@ft/core/testing';
import { describe, expect, it } from 'vitest';

import { EXAMPLE_DIRECTORY, runCli, workspace } from './helpers.js';

const data = (file: string): string => JSON.stringify(path.join(EXAMPLE_DIRECTORY, file));

const DATASET = `dataset:
  training_set: ${data('train.csv')}
  validation_set: ${data('dev.csv')}
  test_set: ${data('test.csv')}
preprocessing:
  sample_ratio: 0.04
`;

describe('ft train on ONNX Runtime', () => {
  it('trains on embeddings cached by tfjs', async () => {
    const folder = await workspace({
      'config.yaml': `${DATASET}input_features:
  - name: sentence
    type: text
    encoder: {type: universal_sentence_encoder}
    preprocessing: {cache_encoder_embeddings: true}
output_features:
  - name: label
    type: category
trainer:
  epochs: 15
  batch_size: 16
  learning_rate: 0.003
  early_stop: -1
backend: {type: onnx}
`,
    });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/Backend: ONNX Runtime [\d.]+ on cpu/);
    expect(result.stderr).toMatch(/Backend "onnx" has no universal_sentence_encoder encoder; computing its cached embeddings with TensorFlow\.js/);
    const statistics = JSON.parse(await readFile(path.join(folder, 'results/experiment_run/test_statistics.json'), 'utf8')) as Record<string, Record<string, Record<string, number>>>;
    expect(statistics.test!.label!.accuracy).toBeGreaterThan(0.65);

    const exported = await runCli(['export', 'onnx', 'results/experiment_run'], { cwd: folder });
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toContain('sentence (float32): Universal Sentence Encoder embeddings, [batch, 512]');
    expect(await readdir(path.join(folder, 'results/experiment_run/onnx'))).toContain('model.onnx');
  });

  it('export names a missing run folder', async () => {
    const folder = await workspace({});
    const result = await runCli(['export', 'onnx', 'results/nothing'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/model_hyperparameters\.json is missing\. Pass the run folder that `ft train` wrote/);
  });

  it('fine-tunes a bert encoder', async () => {
    const folder = await workspace({
      'config.yaml': `${DATASET}input_features:
  - name: sentence
    type: text
    encoder: {type: bert, pretrained_model_name_or_path: ./tiny-bert, trainable: true}
    preprocessing: {max_sequence_length: 32}
output_features:
  - name: label
    type: category
trainer:
  epochs: 1
  batch_size: 16
backend: {type: onnx}
`,
    });
    await createTinyBertCheckpoint(path.join(folder, 'tiny-bert'), { seed: 3 });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('bert encoder (trainable), wordpiece tokenizer');
    const files = await readdir(path.join(folder, 'results/experiment_run/model/encoders/sentence'));
    expect(files).toEqual(expect.arrayContaining(['config.json', 'model.safetensors', 'vocab.txt']));
  });
});
