import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { ConfigError } from '../errors.js';
import { loadConfigFile, validateConfig } from './load.js';
import { resolveLearningRate } from './resolve.js';

const minimal = {
  input_features: [{ name: 'sentence', type: 'text' }],
  output_features: [{ name: 'label', type: 'category' }],
};

function issuesOf(raw: unknown): string[] {
  try {
    validateConfig(raw);
  } catch (error) {
    if (error instanceof ConfigError) {
      return error.message.split('\n').slice(1).map((line) => line.trim());
    }
    throw error;
  }
  throw new Error('expected the config to be rejected');
}

describe('validateConfig', () => {
  it('fills defaults into a minimal config', () => {
    const config = validateConfig(minimal);
    expect(config.trainer.batch_size).toBe(32);
    expect(config.trainer.optimizer).toEqual({ type: 'adamw', betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0.01, amsgrad: false });
    expect(config.input_features[0]).toMatchObject({ encoder: { type: 'universal_sentence_encoder', trainable: false }, preprocessing: { max_sequence_length: 256 } });
    expect(config.backend.type).toBe('tfjs');
    expect(config.preprocessing.split).toEqual({ type: 'random', probabilities: [0.7, 0.1, 0.2] });
  });

  it('accepts the documented example config', () => {
    const config = validateConfig({
      input_features: [{ name: 'sentence', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: './path' } }],
      output_features: [{ name: 'label', type: 'category' }],
      defaults: { text: { encoder: { type: 'bert', trainable: true } } },
      trainer: {
        epochs: 5,
        batch_size: 32,
        learning_rate: 'auto',
        learning_rate_scheduler: { warmup_fraction: 0.2, decay: 'linear' },
        optimizer: { type: 'adamw' },
        use_mixed_precision: true,
      },
      backend: { type: 'tfjs' },
    });
    expect(config.input_features[0]).toMatchObject({ encoder: { type: 'bert', trainable: true, pretrained_model_name_or_path: './path' } });
    expect(resolveLearningRate(config).value).toBe(1e-5);
  });
});

describe('defaults merging', () => {
  it('feature keys win over defaults', () => {
    const config = validateConfig({
      ...minimal,
      defaults: { text: { preprocessing: { max_sequence_length: 64, lowercase: true } } },
      input_features: [{ name: 'sentence', type: 'text', preprocessing: { max_sequence_length: 32 } }],
    });
    expect(config.input_features[0]).toMatchObject({ preprocessing: { max_sequence_length: 32, lowercase: true } });
  });

  it('a different encoder type replaces the default whole', () => {
    const config = validateConfig({
      ...minimal,
      defaults: { text: { encoder: { type: 'bert', pretrained_model_name_or_path: 'tokenizer', trainable: true, use_pretrained: false } } },
      input_features: [
        { name: 'a', type: 'text', encoder: { type: 'universal_sentence_encoder' } },
        { name: 'b', type: 'text', encoder: {} },
      ],
    });
    expect(config.input_features[0]).toMatchObject({ encoder: { type: 'universal_sentence_encoder', trainable: false } });
    expect(config.input_features[1]).toMatchObject({ encoder: { type: 'bert', trainable: true, use_pretrained: false } });
  });
});

describe('learning_rate auto', () => {
  const cases: [string, unknown[], number][] = [
    ['no text input', [{ name: 'x', type: 'number' }], 1e-3],
    ['frozen pretrained encoder', [{ name: 's', type: 'text' }], 2e-5],
    ['trainable pretrained bert', [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'p', trainable: true } }], 1e-5],
    ['frozen pretrained bert', [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'p' } }], 2e-5],
    ['bert from scratch', [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'p', use_pretrained: false, trainable: true } }], 1e-4],
  ];
  it.each(cases)('%s', (_name, inputs, expected) => {
    expect(resolveLearningRate(validateConfig({ ...minimal, input_features: inputs })).value).toBe(expected);
  });
});

describe('invalid configs', () => {
  const cases: [string, unknown, string][] = [
    ['empty config', null, '(config root): the config is empty'],
    ['missing outputs', { input_features: minimal.input_features }, 'output_features: required key is missing'],
    ['unknown top-level key', { ...minimal, trainr: {} }, 'trainr: unknown key. Did you mean `trainer`?'],
    ['misspelt scheduler key', { ...minimal, trainer: { learning_rate_scheduler: { warmup_fractoin: 0.1 } } }, 'trainer.learning_rate_scheduler.warmup_fractoin: unknown key. Did you mean `warmup_fraction`?'],
    ['moved key', { ...minimal, trainer: { decay_rate: 0.9 } }, 'trainer.decay_rate: this key moved to `trainer.learning_rate_scheduler.decay_rate`'],
    ['wrong type', { ...minimal, trainer: { epochs: 'five' } }, 'trainer.epochs: expected number, got "five" (a string).'],
    ['negative batch size', { ...minimal, trainer: { batch_size: -4 } }, 'trainer.batch_size: expected number to be >0, got -4.'],
    ['unknown decay', { ...minimal, trainer: { learning_rate_scheduler: { decay: 'step' } } }, 'trainer.learning_rate_scheduler.decay: got "step"; allowed: "linear", "cosine", "exponential".'],
    ['unknown encoder type', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bret' } }] }, 'input_features[0].encoder.type: got "bret"; allowed: "bert", "universal_sentence_encoder". Did you mean "bert"?'],
    ['unknown feature type', { ...minimal, input_features: [{ name: 's', type: 'txt' }] }, 'input_features[0].type: got "txt"; allowed: "text", "category", "binary", "number". Did you mean "text"?'],
    ['misspelt encoder key', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert', use_pretrained: false, trainabel: true } }] }, 'input_features[0].encoder.trainabel: unknown key. Did you mean `trainable`?'],
    ['trainable universal sentence encoder', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'universal_sentence_encoder', trainable: true } }] }, 'input_features[0].encoder.trainable: universal_sentence_encoder is a frozen graph model'],
    ['pretrained bert without path', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert' } }] }, 'input_features[0].encoder.pretrained_model_name_or_path: missing; point it at a Hugging Face checkpoint folder'],
    ['duplicate feature names', { ...minimal, output_features: [{ name: 'sentence', type: 'category' }] }, 'output_features[0].name: feature name "sentence" is already used'],
    ['unknown validation field', { ...minimal, trainer: { validation_field: 'labels' } }, 'trainer.validation_field: no output feature has this name; use one of "label" or "combined".'],
    ['metric of another type', { ...minimal, trainer: { validation_metric: 'mean_squared_error' } }, 'trainer.validation_metric: not a metric of category output "label"'],
    ['split probabilities', { ...minimal, preprocessing: { split: { type: 'random', probabilities: [0.5, 0.1, 0.1] } } }, 'preprocessing.split.probabilities: training, validation and test probabilities must sum to 1'],
    ['unknown optimizer', { ...minimal, trainer: { optimizer: { type: 'adamax' } } }, 'trainer.optimizer.type: got "adamax"; allowed: "adamw", "adam", "sgd", "rmsprop", "adagrad".'],
    ['two checkpoint cadences', { ...minimal, trainer: { steps_per_checkpoint: 100, checkpoints_per_epoch: 2 } }, 'trainer.checkpoints_per_epoch: cannot be set together with steps_per_checkpoint (100); keep one of the two.'],
    ['bad defaults section', { ...minimal, defaults: { text: { name: 'x' } } }, 'defaults.text.name: unknown key.'],
  ];

  it.each(cases)('%s', (_name, raw, expected) => {
    const lines = issuesOf(raw);
    expect(lines.some((line) => line.startsWith(expected)), `issues were:\n${lines.join('\n')}`).toBe(true);
  });
});

describe('loadConfigFile', () => {
  it('names the file in YAML syntax errors', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-config-'));
    const file = path.join(folder, 'bad.yaml');
    await writeFile(file, 'input_features: [\n  {name: a\n');
    await expect(loadConfigFile(file)).rejects.toThrow(/Invalid config in .*bad\.yaml:\n {2}\(config root\): YAML syntax error/);
  });

  it('rejects a missing file with its path', async () => {
    await expect(loadConfigFile('/nonexistent/config.yaml')).rejects.toThrow('Cannot read config file /nonexistent/config.yaml');
  });
});
