import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { createTinyBertCheckpoint } from '@ft/core/testing';
import { describe, expect, it } from 'vitest';

import { EXAMPLE_DIRECTORY, runCli, workspace } from './helpers.js';

const data = (file: string): string => JSON.stringify(path.join(EXAMPLE_DIRECTORY, file));

// Dropout is on (trainable encoder), so an exact match also proves the random state resumes.
const CONFIG = `dataset:
  training_set: ${data('train.csv')}
  validation_set: ${data('dev.csv')}
  test_set: ${data('test.csv')}
preprocessing:
  sample_ratio: 0.02
input_features:
  - name: sentence
    type: text
    encoder: {type: bert, pretrained_model_name_or_path: ./tiny-bert, trainable: true}
    preprocessing: {max_sequence_length: 32}
output_features:
  - name: label
    type: category
trainer:
  epochs: 6
  batch_size: 8
  learning_rate: 0.0005
  steps_per_checkpoint: 5
  early_stop: -1
  learning_rate_scheduler: {warmup_fraction: 0.1, decay: linear}
`;

async function prepare(): Promise<string> {
  const folder = await workspace({ 'config.yaml': CONFIG });
  await createTinyBertCheckpoint(path.join(folder, 'tiny-bert'), { seed: 4 });
  return folder;
}

async function readJson(file: string): Promise<unknown> {
  return JSON.parse(await readFile(file, 'utf8')) as unknown;
}

describe('ft train --resume', () => {
  it('ends like an uninterrupted run after SIGKILL', async () => {
    const reference = await prepare();
    const uninterrupted = await runCli(['train', '--config', 'config.yaml'], { cwd: reference });
    expect(uninterrupted.code, uninterrupted.stderr).toBe(0);

    const folder = await prepare();
    let evaluations = 0;
    let killed = false;
    const first = await runCli(['train', '--config', 'config.yaml'], {
      cwd: folder,
      onStderr: (text, child) => {
        // Each evaluation logs an "Epoch N:" line; after the second one a checkpoint surely exists.
        evaluations += text.match(/^Epoch \d+:/gm)?.length ?? 0;
        if (!killed && evaluations >= 2) {
          killed = true;
          child.kill('SIGKILL');
        }
      },
    });
    expect(killed).toBe(true);
    expect(first.code).toBe(null);

    const resumed = await runCli(['train', '--resume', 'results/experiment_run'], { cwd: folder });
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stderr).toMatch(/Resuming at step \d+ of 108/);

    const expected = await readJson(path.join(reference, 'results/experiment_run/test_statistics.json'));
    const actual = await readJson(path.join(folder, 'results/experiment_run/test_statistics.json'));
    expect(actual).toEqual(expected);
    const expectedHistory = await readJson(path.join(reference, 'results/experiment_run/training_statistics.json'));
    const actualHistory = await readJson(path.join(folder, 'results/experiment_run/training_statistics.json'));
    expect(actualHistory).toEqual(expectedHistory);
  });

  it('rejects a folder without a run', async () => {
    const folder = await workspace({});
    const result = await runCli(['train', '--resume', 'results/nothing'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Cannot resume from .*results\/nothing: .*description\.json is missing or unreadable/);
  });
});
