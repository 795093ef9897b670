import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';

import { loadBertCheckpoint, readSafetensors } from '@ft/core';
import { createTinyBertCheckpoint } from '@ft/core/testing';
import { describe, expect, it } from 'vitest';

import { EXAMPLE_DIRECTORY, runCli, workspace } from './helpers.js';

/** Returns a config for the SST-2 example, sampled down so that a test run embeds a few hundred sentences. */
function sst2Config(extra: string): string {
  const data = (file: string): string => JSON.stringify(path.join(EXAMPLE_DIRECTORY, file));
  return `dataset:
  training_set: ${data('train.csv')}
  validation_set: ${data('dev.csv')}
  test_set: ${data('test.csv')}
preprocessing:
  sample_ratio: 0.04
${extra}`;
}

describe('ft train end to end', () => {
  it('trains on cached frozen embeddings and reuses them', async () => {
    const folder = await workspace({
      'config.yaml': sst2Config(`input_features:
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
`),
    });

    const first = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toContain('computed embeddings for the training split (276 rows)');
    expect(first.stdout).toMatch(/Results: .*experiment_run\n/);

    const statistics = JSON.parse(await readFile(path.join(folder, 'results/experiment_run/test_statistics.json'), 'utf8')) as Record<string, Record<string, Record<string, number>>>;
    // The pretrained encoder separates sentiment well even from 276 rows; chance is 0.5.
    expect(statistics.test!.label!.accuracy).toBeGreaterThan(0.65);

    const second = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toContain('reusing cached embeddings for the training split (276 rows)');
    expect(second.stderr).not.toContain('computed embeddings');
    expect(second.stdout).toMatch(/Results: .*experiment_run_1\n/);

    const files = await readdir(path.join(folder, 'results/experiment_run'));
    expect(files.sort()).toEqual(
      ['description.json', 'model', 'plots', 'test_predictions.csv', 'test_statistics.json', 'training_predictions.csv', 'training_statistics.json', 'validation_predictions.csv'].sort(),
    );
    const plots = await readdir(path.join(folder, 'results/experiment_run/plots'));
    expect(plots.sort()).toEqual(['confusion_matrix_label.svg', 'learning_curves_label.svg', 'training_steps.svg']);
    const resolved = JSON.parse(await readFile(path.join(folder, 'results/experiment_run/model/model_hyperparameters.json'), 'utf8')) as { trainer: { learning_rate: unknown } };
    expect(resolved.trainer.learning_rate).toBe(0.003);
  });

  it('saves the best weights when interrupted', async () => {
    const folder = await workspace({
      'config.yaml': sst2Config(`input_features:
  - name: sentence
    type: text
    encoder: {type: bert, pretrained_model_name_or_path: ./tiny-bert, trainable: true}
    preprocessing: {max_sequence_length: 32}
output_features:
  - name: label
    type: category
trainer:
  epochs: 1000
  batch_size: 8
  early_stop: -1
`),
    });
    await createTinyBertCheckpoint(path.join(folder, 'tiny-bert'), { seed: 4 });

    let interrupted = false;
    const result = await runCli(['train', '--config', 'config.yaml'], {
      cwd: folder,
      onStderr: (text, child) => {
        // Interrupt once the first epoch has been evaluated, so there are best weights to save.
        if (!interrupted && text.includes('Epoch 1:')) {
          interrupted = true;
          child.kill('SIGINT');
        }
      },
    });
    expect(interrupted).toBe(true);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Interrupted: finishing the current step and saving the best weights.');
    expect(result.stdout).toContain('Results (stopped: interrupted)');
    const description = JSON.parse(await readFile(path.join(folder, 'results/experiment_run/description.json'), 'utf8')) as { stop_reason: string };
    expect(description.stop_reason).toBe('interrupted');
    const files = await readdir(path.join(folder, 'results/experiment_run/model'));
    expect(files).toContain('model.safetensors');
  });

  it('fine-tunes a bert encoder and saves it as a Hugging Face folder', async () => {
    const folder = await workspace({
      'config.yaml': sst2Config(`input_features:
  - name: sentence
    type: text
    encoder:
      type: bert
      pretrained_model_name_or_path: ./tiny-bert
    preprocessing:
      max_sequence_length: 32
output_features:
  - name: label
    type: category
defaults:
  text:
    encoder: {type: bert, trainable: true}
trainer:
  epochs: 1
  batch_size: 16
  learning_rate: auto
  learning_rate_scheduler: {warmup_fraction: 0.2, decay: linear}
  optimizer: {type: adamw}
  use_mixed_precision: true
backend: {type: tfjs}
`),
    });
    const checkpoint = await createTinyBertCheckpoint(path.join(folder, 'tiny-bert'), { seed: 3 });

    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('Learning rate 0.00001 (auto: a pretrained encoder is trainable).');
    expect(result.stderr).toContain('use_mixed_precision is on, but the tfjs backend on wasm trains in float32 only; training in float32.');
    expect(result.stderr).toContain('bert encoder (trainable), wordpiece tokenizer');

    const saved = await loadBertCheckpoint(path.join(folder, 'results/experiment_run/model/encoders/sentence'), { loadWeights: true });
    expect(saved.architecture).toEqual(checkpoint.architecture);
    const before = checkpoint.weights['encoder.layer.0.attention.self.query.weight']!.data;
    const after = saved.weights!['encoder.layer.0.attention.self.query.weight']!.data;
    let changed = 0;
    for (let i = 0; i < before.length; i++) {
      changed += before[i] !== after[i] ? 1 : 0;
    }
    expect(changed, 'fine-tuning changes the encoder weights').toBeGreaterThan(before.length / 2);
    const files = await readdir(path.join(folder, 'results/experiment_run/model/encoders/sentence'));
    expect(files).toContain('vocab.txt');

    const all = await readSafetensors(path.join(folder, 'results/experiment_run/model/model.safetensors'));
    expect(Object.keys(all)).toContain('encoders.sentence.embeddings.word_embeddings.weight');
    expect(Object.keys(all)).toContain('heads.label.weight');
  });
});
