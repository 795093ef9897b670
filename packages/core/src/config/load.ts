import { readFile } from 'node:fs/promises';
import path from 'node:path';

import { parseDocument } from 'yaml';

import { ConfigError, FtError, formatKeyPath, type ConfigIssue } from '../errors.js';
import { toConfigIssues } from './issues.js';
import { mergeFeatureDefaults } from './merge-defaults.js';
import { DEFAULT_VALIDATION_METRIC, OUTPUT_METRICS } from './metrics-catalog.js';
import { configSchema, type FtConfig } from './schema.js';

/** A validated config and where it came from. */
export interface LoadedConfig {
  readonly config: FtConfig;
  /** Absolute path of the YAML file, or undefined for a config passed as an object. */
  readonly path: string | undefined;
  /** Folder that relative paths in the config are resolved against. */
  readonly baseDirectory: string;
}

/** Reads a YAML config file and validates it; see {@link validateConfig}. */
export async function loadConfigFile(configPath: string): Promise<LoadedConfig> {
  const absolutePath = path.resolve(configPath);
  let text: string;
  try {
    text = await readFile(absolutePath, 'utf8');
  } catch (error) {
    throw new FtError('FILE_NOT_FOUND', `Cannot read config file ${absolutePath}: ${(error as Error).message}`, { cause: error });
  }

  const document = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (document.errors.length > 0) {
    const issues = document.errors.map((error): ConfigIssue => ({ path: [], message: `YAML syntax error: ${error.message}` }));
    throw new ConfigError(issues, absolutePath);
  }

  const raw: unknown = document.toJS();
  const config = validateConfig(raw, absolutePath);
  return { config, path: absolutePath, baseDirectory: path.dirname(absolutePath) };
}

/**
 * Validates a raw config (parsed YAML or an object from code) and returns it with every default
 * filled in. `defaults` are merged into the features first. Every problem found is reported in
 * one {@link ConfigError}, each with its key path, the value and what is allowed.
 */
export function validateConfig(raw: unknown, source?: string): FtConfig {
  if (raw === null || raw === undefined) {
    throw new ConfigError([{ path: [], message: 'the config is empty; it needs at least input_features and output_features.' }], source);
  }

  const merged = mergeFeatureDefaults(raw);
  const result = configSchema.safeParse(merged);
  if (!result.success) {
    throw new ConfigError(noteDefaultsOrigin(raw, toConfigIssues(configSchema, merged, result.error.issues)), source);
  }

  const issues = checkCrossFieldRules(result.data);
  if (issues.length > 0) {
    throw new ConfigError(noteDefaultsOrigin(raw, issues), source);
  }
  return result.data;
}

/** Feature sections that `defaults.<type>` is merged into, per feature list. */
const MERGED_SECTIONS: Readonly<Record<string, readonly string[]>> = {
  input_features: ['encoder', 'preprocessing'],
  output_features: ['decoder', 'loss', 'preprocessing'],
};

function childAt(value: unknown, path: readonly (string | number)[]): unknown {
  let current = value;
  for (const key of path) {
    if (typeof current !== 'object' || current === null) {
      return undefined;
    }
    current = (current as Record<string | number, unknown>)[key];
  }
  return current;
}

/**
 * Adds to an issue inside a feature's encoder, decoder, loss or preprocessing block where the
 * value came from when `defaults` merged it in, because the feature as written does not show it.
 */
function noteDefaultsOrigin(raw: unknown, issues: readonly ConfigIssue[]): ConfigIssue[] {
  return issues.map((issue) => {
    const [list, index, section, ...rest] = issue.path;
    if (typeof list !== 'string' || typeof index !== 'number' || typeof section !== 'string' || !MERGED_SECTIONS[list]?.includes(section)) {
      return issue;
    }
    const feature = childAt(raw, [list, index]);
    const type = childAt(feature, ['type']);
    const block = typeof type === 'string' ? childAt(raw, ['defaults', type, section]) : undefined;
    if (typeof block !== 'object' || block === null) {
      return issue;
    }

    const own = childAt(feature, [section]);
    const ownType = childAt(own, ['type']);
    const blockType = childAt(block, ['type']);
    // A block of another type replaces the default whole, so nothing in it came from defaults.
    if (childAt(own, rest) !== undefined || (ownType !== undefined && blockType !== undefined && ownType !== blockType)) {
      return issue;
    }
    const origin = ['defaults', type, section, ...rest].join('.');
    if (childAt(block, rest) !== undefined) {
      return { ...issue, message: `${issue.message} The value comes from ${origin}.` };
    }
    return own === undefined ? { ...issue, message: `${issue.message} This block comes from defaults.${String(type)}.${section}.` } : issue;
  });
}

/** Returns the divisor of `value` closest to `target`, the smaller one on a tie. */
function nearestDivisor(value: number, target: number): number {
  let best = 1;
  for (let divisor = 1; divisor <= value; divisor++) {
    if (value % divisor === 0 && Math.abs(divisor - target) < Math.abs(best - target)) {
      best = divisor;
    }
  }
  return best;
}

/** Rules that span several keys, which the per-key schema cannot express. */
function checkCrossFieldRules(config: FtConfig): ConfigIssue[] {
  const issues: ConfigIssue[] = [];

  const seen = new Map<string, string>();
  const checkName = (name: string, where: (string | number)[]): void => {
    const previous = seen.get(name);
    if (previous !== undefined) {
      issues.push({ path: [...where, 'name'], received: name, message: `feature name "${name}" is already used by ${previous}; give each feature a unique name.` });
    }
    seen.set(name, formatKeyPath(where));
  };
  config.input_features.forEach((feature, index) => checkName(feature.name, ['input_features', index]));
  config.output_features.forEach((feature, index) => checkName(feature.name, ['output_features', index]));

  config.input_features.forEach((feature, index) => {
    if (feature.type !== 'text') {
      return;
    }
    const encoder = feature.encoder;
    if (encoder.type === 'universal_sentence_encoder' && encoder.trainable) {
      issues.push({
        path: ['input_features', index, 'encoder', 'trainable'],
        received: true,
        message: 'universal_sentence_encoder is a frozen graph model and cannot be fine-tuned; set trainable: false, or use a bert encoder to fine-tune.',
      });
    }
    if (encoder.type === 'bert' && encoder.pretrained_model_name_or_path === undefined) {
      issues.push({
        path: ['input_features', index, 'encoder', 'pretrained_model_name_or_path'],
        message: 'missing; point it at a Hugging Face checkpoint folder (config.json, vocab.txt or tokenizer.json, and model.safetensors unless use_pretrained is false), because bert reads its tokenizer from there.',
      });
    }
    if (encoder.type === 'bert' && encoder.hidden_size % encoder.num_attention_heads !== 0) {
      const heads = nearestDivisor(encoder.hidden_size, encoder.num_attention_heads);
      issues.push({
        path: ['input_features', index, 'encoder', 'num_attention_heads'],
        received: encoder.num_attention_heads,
        message: `hidden_size ${encoder.hidden_size} must be divisible by num_attention_heads ${encoder.num_attention_heads}; set num_attention_heads to a divisor of ${encoder.hidden_size}, such as ${heads}, or change hidden_size.`,
      });
    }
  });

  const preprocessing = config.preprocessing;
  if (preprocessing.sample_size !== null && preprocessing.sample_ratio !== 1) {
    issues.push({ path: ['preprocessing', 'sample_size'], received: preprocessing.sample_size, message: 'cannot be combined with sample_ratio; keep one of the two.' });
  }
  for (const key of ['oversample_minority', 'undersample_majority'] as const) {
    if (preprocessing[key] === null) {
      continue;
    }
    if (preprocessing.oversample_minority !== null && preprocessing.undersample_majority !== null && key === 'undersample_majority') {
      issues.push({ path: ['preprocessing', key], received: preprocessing[key], message: 'cannot be combined with oversample_minority; keep one of the two.' });
    }
    const binaryOutputs = config.output_features.filter((feature) => feature.type === 'binary').length;
    if (binaryOutputs !== 1 || config.output_features.length !== 1) {
      issues.push({ path: ['preprocessing', key], received: preprocessing[key], message: `needs exactly one output feature, of type binary (found ${config.output_features.length} output(s), ${binaryOutputs} binary).` });
    }
  }
  if (preprocessing.split.type === 'stratify') {
    const column = preprocessing.split.column;
    const feature = [...config.input_features, ...config.output_features].find((candidate) => (candidate.column ?? candidate.name) === column);
    if (feature !== undefined && feature.type !== 'category' && feature.type !== 'binary') {
      issues.push({ path: ['preprocessing', 'split', 'column'], received: column, message: `is the column of ${feature.type} feature "${feature.name}"; stratify by a category or binary column.` });
    }
  }

  const trainer = config.trainer;
  if (trainer.steps_per_checkpoint !== 0 && trainer.checkpoints_per_epoch !== 0) {
    issues.push({
      path: ['trainer', 'checkpoints_per_epoch'],
      received: trainer.checkpoints_per_epoch,
      message: `cannot be set together with steps_per_checkpoint (${trainer.steps_per_checkpoint}); keep one of the two.`,
    });
  }
  let validationFeature = config.output_features[0];
  if (trainer.validation_field !== null && trainer.validation_field !== 'combined') {
    validationFeature = config.output_features.find((feature) => feature.name === trainer.validation_field);
    if (validationFeature === undefined) {
      const names = config.output_features.map((feature) => `"${feature.name}"`).join(', ');
      issues.push({
        path: ['trainer', 'validation_field'],
        received: trainer.validation_field,
        message: `no output feature has this name; use one of ${names} or "combined".`,
      });
    }
  }
  if (trainer.validation_metric !== null) {
    if (trainer.validation_field === 'combined' && trainer.validation_metric !== 'loss') {
      issues.push({ path: ['trainer', 'validation_metric'], received: trainer.validation_metric, message: 'validation_field "combined" only has the metric "loss".' });
    } else if (validationFeature !== undefined && trainer.validation_field !== 'combined') {
      const allowed = Object.keys(OUTPUT_METRICS[validationFeature.type]);
      if (!allowed.includes(trainer.validation_metric)) {
        issues.push({
          path: ['trainer', 'validation_metric'],
          received: trainer.validation_metric,
          message: `not a metric of ${validationFeature.type} output "${validationFeature.name}"; allowed: ${allowed.join(', ')} (default ${DEFAULT_VALIDATION_METRIC[validationFeature.type]}).`,
        });
      }
    }
  }

  return issues;
}
