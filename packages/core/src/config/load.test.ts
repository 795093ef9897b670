import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';
import { z } from 'zod';

import { parseBackendOptions } from '../backend/load-backend.js';
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
    ['ludwig training section', { ...minimal, training: { epochs: 3 } }, 'training: this key moved to `trainer`; move it there.'],
    ['ludwig model_type', { ...minimal, model_type: 'ecd' }, "model_type: unknown key: ft trains encoder-combiner-decoder models (Ludwig's ecd) only; remove model_type."],
    ['sample size and ratio', { ...minimal, preprocessing: { sample_ratio: 0.5, sample_size: 10 } }, 'preprocessing.sample_size: cannot be combined with sample_ratio; keep one of the two.'],
    ['oversampling a category output', { ...minimal, preprocessing: { oversample_minority: 0.5 } }, 'preprocessing.oversample_minority: needs exactly one output feature, of type binary (found 1 output(s), 0 binary).'],
    ['two balancing keys', { ...minimal, output_features: [{ name: 'label', type: 'binary' }], preprocessing: { oversample_minority: 0.5, undersample_majority: 0.5 } }, 'preprocessing.undersample_majority: cannot be combined with oversample_minority; keep one of the two.'],
    ['stratify by text', { ...minimal, preprocessing: { split: { type: 'stratify', column: 'sentence' } } }, 'preprocessing.split.column: is the column of text feature "sentence"; stratify by a category or binary column.'],
    ['stratify without column', { ...minimal, preprocessing: { split: { type: 'stratify' } } }, 'preprocessing.split.column: required key is missing'],
    ['bad defaults section', { ...minimal, defaults: { text: { name: 'x' } } }, 'defaults.text.name: unknown key.'],
    // Unknown keys in every section, with the closest valid key.
    ['misspelt input feature key', { ...minimal, input_features: [{ name: 's', type: 'text', encodr: {} }] }, 'input_features[0].encodr: unknown key. Did you mean `encoder`?'],
    ['misspelt output feature key', { ...minimal, output_features: [{ name: 'label', type: 'category', top_j: 2 }] }, 'output_features[0].top_j: unknown key. Did you mean `top_k`?'],
    ['misspelt combiner key', { ...minimal, combiner: { dropuot: 0.1 } }, 'combiner.dropuot: unknown key. Did you mean `dropout`?'],
    ['misspelt preprocessing key', { ...minimal, preprocessing: { sample_ration: 0.5 } }, 'preprocessing.sample_ration: unknown key. Did you mean `sample_ratio`?'],
    ['misspelt defaults type', { ...minimal, defaults: { txt: {} } }, 'defaults.txt: unknown key. Did you mean `text`?'],
    ['misspelt defaults section', { ...minimal, defaults: { text: { encodr: {} } } }, 'defaults.text.encodr: unknown key. Did you mean `encoder`?'],
    ['misspelt dataset key', { ...minimal, dataset: { training_set: 'a.csv', valdation_set: 'b.csv' } }, 'dataset.valdation_set: unknown key. Did you mean `validation_set`?'],
    ['misspelt key set in defaults', { ...minimal, defaults: { text: { encoder: { type: 'bert', pretrained_model_name_or_path: 'p', trainabel: true } } } }, 'input_features[0].encoder.trainabel: unknown key. Did you mean `trainable`? The value comes from defaults.text.encoder.trainabel.'],
    // Wrong types, one per section.
    ['input features not a list', { ...minimal, input_features: { name: 's', type: 'text' } }, 'input_features: expected list, got {"name":"s","type":"text"} (a mapping).'],
    ['feature name not a string', { ...minimal, input_features: [{ name: 5, type: 'text' }] }, 'input_features[0].name: expected string, got 5 (a number).'],
    ['top_k as a string', { ...minimal, output_features: [{ name: 'label', type: 'category', top_k: '3' }] }, 'output_features[0].top_k: expected number, got "3" (a string). Write 3 without quotes.'],
    ['combiner layers as a word', { ...minimal, combiner: { num_fc_layers: 'two' } }, 'combiner.num_fc_layers: expected number, got "two" (a string).'],
    ['mixed precision as a word', { ...minimal, trainer: { use_mixed_precision: 'yes' } }, 'trainer.use_mixed_precision: expected boolean, got "yes" (a string). Write true or false, without quotes.'],
    ['fractional batch size', { ...minimal, trainer: { batch_size: 3.5 } }, 'trainer.batch_size: got 3.5; expected an integer >0 or "auto".'],
    ['sample ratio as a word', { ...minimal, preprocessing: { sample_ratio: 'half' } }, 'preprocessing.sample_ratio: expected number, got "half" (a string).'],
    ['defaults as a list', { ...minimal, defaults: { text: [] } }, 'defaults.text: expected mapping, got [] (a list).'],
    ['backend as a string', { ...minimal, backend: 'tfjs' }, 'backend: expected mapping, got "tfjs" (a string).'],
    ['dataset as a number', { ...minimal, dataset: 5 }, 'dataset: got 5; expected a string or a mapping with the keys training_set, validation_set, test_set.'],
    ['dataset without training set', { ...minimal, dataset: { test_set: 'b.csv' } }, 'dataset.training_set: required key is missing; expected string.'],
    ['learning rate as a word', { ...minimal, trainer: { learning_rate: 'fast' } }, 'trainer.learning_rate: got "fast"; expected a number >0 and <=1 or "auto".'],
    ['t_0 as a word', { ...minimal, trainer: { learning_rate_scheduler: { t_0: 'sometimes' } } }, 'trainer.learning_rate_scheduler.t_0: got "sometimes"; expected an integer >0, "checkpoint" or null.'],
    ['config as a list', [1, 2], '(config root): expected mapping, got [1,2] (a list).'],
    // Numbers out of range.
    ['negative epochs', { ...minimal, trainer: { epochs: -2 } }, 'trainer.epochs: expected number to be >0, got -2.'],
    ['dropout above 1', { ...minimal, combiner: { dropout: 1.5 } }, 'combiner.dropout: expected number to be <1, got 1.5.'],
    ['beta of 1', { ...minimal, trainer: { optimizer: { type: 'adamw', betas: [0.9, 1.0] } } }, 'trainer.optimizer.betas[1]: expected number to be <1, got 1.'],
    ['negative beta', { ...minimal, trainer: { optimizer: { type: 'adam', betas: [-0.1, 0.999] } } }, 'trainer.optimizer.betas[0]: expected number to be >=0, got -0.1.'],
    ['warmup fraction of 2', { ...minimal, trainer: { learning_rate_scheduler: { warmup_fraction: 2 } } }, 'trainer.learning_rate_scheduler.warmup_fraction: expected number to be <=1, got 2.'],
    ['learning rate of 0', { ...minimal, trainer: { learning_rate: 0 } }, 'trainer.learning_rate: expected number to be >0, got 0.'],
    ['early stop below -1', { ...minimal, trainer: { early_stop: -2 } }, 'trainer.early_stop: expected number to be >=-1, got -2.'],
    ['threshold above 1', { ...minimal, output_features: [{ name: 'y', type: 'binary', threshold: 1.5 }] }, 'output_features[0].threshold: expected number to be <=1, got 1.5.'],
    ['two split probabilities', { ...minimal, preprocessing: { split: { type: 'random', probabilities: [0.5, 0.5] } } }, 'preprocessing.split.probabilities: expected list to have >=3 items, got [0.5,0.5].'],
    ['negative class weight', { ...minimal, output_features: [{ name: 'label', type: 'category', loss: { class_weights: { a: -1 } } }] }, 'output_features[0].loss.class_weights.a: expected number to be >=0, got -1.'],
    // Values outside an enum.
    ['unknown activation', { ...minimal, combiner: { activation: 'swish' } }, 'combiner.activation: got "swish"; allowed: "relu", "tanh", "sigmoid", "gelu", "linear".'],
    ['unknown norm', { ...minimal, combiner: { norm: 'batch' } }, 'combiner.norm: got "batch"; allowed: "layer".'],
    ['unknown split type', { ...minimal, preprocessing: { split: { type: 'stratified' } } }, 'preprocessing.split.type: got "stratified"; allowed: "random", "fixed", "stratify".'],
    ['misspelt optimizer type', { ...minimal, trainer: { optimizer: { type: 'adamW' } } }, 'trainer.optimizer.type: got "adamW"; allowed: "adamw", "adam", "sgd", "rmsprop", "adagrad". Did you mean "adamw"?'],
    ['unknown number loss', { ...minimal, output_features: [{ name: 'y', type: 'number', loss: { type: 'hinge' } }] }, 'output_features[0].loss.type: got "hinge"; allowed: "mean_squared_error", "mean_absolute_error".'],
    ['unknown category loss', { ...minimal, output_features: [{ name: 'y', type: 'category', loss: { type: 'hinge' } }] }, 'output_features[0].loss.type: got "hinge"; allowed: "softmax_cross_entropy".'],
    ['unknown reduce_output', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'p', reduce_output: 'max' } }] }, 'input_features[0].encoder.reduce_output: got "max"; allowed: "cls_pooled", "mean".'],
    // Keys that moved in Ludwig 0.7.
    ['moved optimizer type', { ...minimal, trainer: { optimizer_type: 'sgd' } }, 'trainer.optimizer_type: this key moved to `trainer.optimizer.type`; move it there.'],
    ['moved warmup epochs', { ...minimal, trainer: { learning_rate_warmup_epochs: 1 } }, 'trainer.learning_rate_warmup_epochs: this key moved to `trainer.learning_rate_scheduler.warmup_evaluations`; move it there.'],
    ['moved weight decay', { ...minimal, trainer: { weight_decay: 0.1 } }, 'trainer.weight_decay: this key moved to `trainer.optimizer.weight_decay`; move it there.'],
    // Missing keys and empty lists.
    ['feature without name', { ...minimal, input_features: [{ type: 'text' }] }, 'input_features[0].name: required key is missing; expected string.'],
    ['feature without type', { ...minimal, input_features: [{ name: 's' }] }, 'input_features[0].type: required key is missing; set it to one of "text", "category", "binary", "number".'],
    ['output without type', { ...minimal, output_features: [{ name: 'label' }] }, 'output_features[0].type: required key is missing; set it to one of "category", "binary", "number".'],
    ['empty feature name', { ...minimal, input_features: [{ name: '', type: 'text' }] }, 'input_features[0].name: a feature name must not be empty, got "".'],
    ['empty input list', { ...minimal, input_features: [] }, 'input_features: at least one input feature is required, got [].'],
    ['empty output list', { ...minimal, output_features: [] }, 'output_features: at least one output feature is required, got [].'],
    ['encoder type missing in defaults', { ...minimal, defaults: { text: { encoder: { trainable: true } } } }, 'input_features[0].encoder.type: required key is missing; set it to one of "bert", "universal_sentence_encoder". This block comes from defaults.text.encoder.'],
    // Rules across keys.
    ['duplicate input names', { ...minimal, input_features: [{ name: 'a', type: 'text' }, { name: 'a', type: 'category' }] }, 'input_features[1].name: feature name "a" is already used by input_features[0]; give each feature a unique name.'],
    ['checkpoint cadences in reverse order', { ...minimal, trainer: { checkpoints_per_epoch: 4, steps_per_checkpoint: 10 } }, 'trainer.checkpoints_per_epoch: cannot be set together with steps_per_checkpoint (10); keep one of the two.'],
    ['metric of combined', { ...minimal, trainer: { validation_field: 'combined', validation_metric: 'accuracy' } }, 'trainer.validation_metric: validation_field "combined" only has the metric "loss".'],
    ['misspelt binary metric', { ...minimal, output_features: [{ name: 'y', type: 'binary' }], trainer: { validation_metric: 'auc' } }, 'trainer.validation_metric: not a metric of binary output "y"; allowed: loss, accuracy, precision, recall, specificity, roc_auc (default roc_auc).'],
    ['trainable encoder from defaults', { ...minimal, defaults: { text: { encoder: { type: 'universal_sentence_encoder', trainable: true } } } }, 'input_features[0].encoder.trainable: universal_sentence_encoder is a frozen graph model and cannot be fine-tuned; set trainable: false, or use a bert encoder to fine-tune. The value comes from defaults.text.encoder.trainable.'],
    ['attention heads not dividing', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'p', hidden_size: 100, num_attention_heads: 12 } }] }, 'input_features[0].encoder.num_attention_heads: hidden_size 100 must be divisible by num_attention_heads 12; set num_attention_heads to a divisor of 100, such as 10, or change hidden_size.'],
  ];

  it.each(cases)('%s', (_name, raw, expected) => {
    const lines = issuesOf(raw);
    expect(lines.some((line) => line.startsWith(expected)), `issues were:\n${lines.join('\n')}`).toBe(true);
  });
});

describe('backend.trainer', () => {
  it('defaults to one local worker', () => {
    expect(validateConfig(minimal).backend.trainer).toEqual({ num_workers: 1, strategy: 'local' });
  });

  it('accepts the mpi strategy', () => {
    expect(validateConfig({ ...minimal, backend: { type: 'tfjs', trainer: { strategy: 'mpi' } } }).backend.trainer).toEqual({ num_workers: 1, strategy: 'mpi' });
  });

  it('leaves the key out of the backend options', () => {
    const descriptor = { name: 'strict', optionsSchema: z.strictObject({}), create: () => Promise.reject(new Error('not used')) };
    expect(parseBackendOptions(descriptor, { type: 'strict', cache_dir: '/tmp', trainer: { num_workers: 2 } })).toEqual({});
  });

  const cases: [string, Record<string, unknown>, string][] = [
    ['misspelt key', { num_worker: 2 }, 'backend.trainer.num_worker: unknown key. Did you mean `num_workers`?'],
    ['zero workers', { num_workers: 0 }, 'backend.trainer.num_workers: expected number to be >0, got 0.'],
    ['fractional workers', { num_workers: 1.5 }, 'backend.trainer.num_workers:'],
    ['unknown strategy', { strategy: 'ray' }, 'backend.trainer.strategy: got "ray"; allowed: "local", "mpi".'],
  ];

  it.each(cases)('rejects %s', (_name, trainer, expected) => {
    const lines = issuesOf({ ...minimal, backend: { type: 'tfjs', trainer } });
    expect(lines.some((line) => line.startsWith(expected)), `issues were:\n${lines.join('\n')}`).toBe(true);
  });
});

describe('invalid backend options', () => {
  // Shaped like the tfjs backend's options; validateConfig leaves these keys to the backend's schema.
  const descriptor = {
    name: 'tfjs',
    optionsSchema: z.strictObject({ runtime: z.enum(['auto', 'node', 'wasm', 'cpu']).default('auto') }),
    create: () => Promise.reject(new Error('not used')),
  };
  const cases: [string, Record<string, unknown>, string][] = [
    ['misspelt backend key', { type: 'tfjs', runtme: 'wasm' }, 'backend.runtme: unknown key. Did you mean `runtime`?'],
    ['misspelt core trainer key', { type: 'tfjs', trainr: { num_workers: 2 } }, 'backend.trainr: unknown key. Did you mean `trainer`?'],
    ['unknown runtime', { type: 'tfjs', runtime: 'gpu' }, 'backend.runtime: got "gpu"; allowed: "auto", "node", "wasm", "cpu".'],
  ];

  it.each(cases)('%s', (_name, section, expected) => {
    const lines = (() => {
      try {
        parseBackendOptions(descriptor, section);
      } catch (error) {
        if (error instanceof ConfigError) {
          return error.message.split('\n').slice(1).map((line) => line.trim());
        }
        throw error;
      }
      throw new Error('expected the backend options to be rejected');
    })();
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
