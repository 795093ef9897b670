import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

// NOTE: ajv 6 is not a dependency of @ft/core; it is installed for ESLint and validates draft-07,
// the dialect that configJsonSchema() writes. If it disappears from node_modules this import fails.
import Ajv from 'ajv';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';

import { parseBackendOptions } from '../backend/load-backend.js';
import { configJsonSchema, JSON_SCHEMA_DIALECT, type JsonSchema } from './json-schema.js';
import { validateConfig } from './load.js';

const EXAMPLES = new URL('../../../../examples/sst2/', import.meta.url);

/** A stand-in for a backend's options schema, shaped like the tfjs backend's. */
const tfjsLikeOptions = z.strictObject({
  runtime: z.enum(['auto', 'node', 'wasm', 'cpu']).default('auto').describe('TensorFlow.js runtime to run on.'),
  device: z.enum(['auto', 'cpu']).default('auto').describe('Device to run on.'),
});

const schema = configJsonSchema({ tfjs: tfjsLikeOptions });
const validate = new Ajv({ allErrors: true }).compile(schema);

const minimal = {
  input_features: [{ name: 'sentence', type: 'text' }],
  output_features: [{ name: 'label', type: 'category' }],
};

/** Returns ajv's errors as `path: message` lines, or [] when `config` is valid. */
function errorsOf(config: unknown): string[] {
  return validate(config) ? [] : (validate.errors ?? []).map((error) => `${error.dataPath}: ${error.message} ${JSON.stringify(error.params)}`);
}

/** Validates `config` as `ft train` does before reading data: the config, then the backend's own keys. */
function validateLikeTrain(config: unknown): void {
  const validated = validateConfig(config);
  const descriptor = { name: 'tfjs', optionsSchema: tfjsLikeOptions, create: () => Promise.reject(new Error('not used')) };
  if (validated.backend.type === 'tfjs') {
    parseBackendOptions(descriptor, validated.backend);
  }
}

async function readExample(name: string): Promise<unknown> {
  return parse(await readFile(fileURLToPath(new URL(name, EXAMPLES)), 'utf8'));
}

describe('configJsonSchema validation', () => {
  it.each(['config.yaml', 'bert.yaml'])('accepts examples/sst2/%s', async (name) => {
    expect(errorsOf(await readExample(name))).toEqual([]);
  });

  const valid: [string, unknown][] = [
    ['minimal config', minimal],
    ['encoder type from defaults', { ...minimal, defaults: { text: { encoder: { type: 'bert', pretrained_model_name_or_path: 'p' } } }, input_features: [{ name: 's', type: 'text', encoder: { trainable: true } }] }],
    ['backend options without type', { ...minimal, backend: { runtime: 'wasm', cache_dir: '/tmp/cache' } }],
    ['third-party backend keys', { ...minimal, backend: { type: 'ft-backend-custom', threads: 4 } }],
    ['learning rate auto', { ...minimal, trainer: { learning_rate: 'auto' } }],
    ['dataset files', { ...minimal, dataset: { training_set: 'a.csv', test_set: 'b.csv' } }],
    ['fixed split', { ...minimal, preprocessing: { split: { type: 'fixed' } } }],
    ['cosine restarts per checkpoint', { ...minimal, trainer: { learning_rate_scheduler: { decay: 'cosine', t_0: 'checkpoint' } } }],
  ];
  it.each(valid)('accepts %s', (_name, config) => {
    expect(errorsOf(config)).toEqual([]);
    // The JSON Schema must never reject a config that ft itself accepts.
    expect(() => validateLikeTrain(config)).not.toThrow();
  });

  const invalid: [string, unknown, string][] = [
    ['typo at trainer level', { ...minimal, trainer: { epoch: 3 } }, '.trainer: should NOT have additional properties {"additionalProperty":"epoch"}'],
    ['typo at top level', { ...minimal, trainr: {} }, ': should NOT have additional properties {"additionalProperty":"trainr"}'],
    ['typo in an encoder', { ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert', trainabel: true } }] }, 'should NOT have additional properties {"additionalProperty":"trainabel"}'],
    ['typo in a defaults block', { ...minimal, defaults: { text: { encoder: { trainabel: true } } } }, 'should NOT have additional properties {"additionalProperty":"trainabel"}'],
    ['typo in tfjs options', { ...minimal, backend: { type: 'tfjs', runtme: 'wasm' } }, 'should NOT have additional properties {"additionalProperty":"runtme"}'],
    ['bad tfjs runtime', { ...minimal, backend: { runtime: 'gpu' } }, '.backend.runtime: should be equal to one of the allowed values'],
    ['negative epochs', { ...minimal, trainer: { epochs: -1 } }, '.trainer.epochs: should be > 0'],
    ['unknown decay', { ...minimal, trainer: { learning_rate_scheduler: { decay: 'step' } } }, '.trainer.learning_rate_scheduler.decay: should be equal to one of the allowed values'],
    ['missing output features', { input_features: minimal.input_features }, ": should have required property 'output_features'"],
    ['empty input features', { ...minimal, input_features: [] }, '.input_features: should NOT have fewer than 1 items'],
    ['missing feature name', { ...minimal, output_features: [{ type: 'category' }] }, "should have required property 'name'"],
    ['dropout out of range', { ...minimal, combiner: { dropout: 1.5 } }, '.combiner.dropout: should be < 1'],
  ];
  it.each(invalid)('rejects %s', (_name, config, expected) => {
    const errors = errorsOf(config);
    expect(errors.some((error) => error.includes(expected)), `errors were:\n${errors.join('\n')}`).toBe(true);
    expect(() => validateLikeTrain(config)).toThrow();
  });
});

/** Calls `visit` on every property schema with its dotted key path; union branches share their parent's path. */
function walkProperties(node: JsonSchema, path: string, visit: (path: string, property: JsonSchema) => void): void {
  for (const [key, property] of Object.entries(node.properties ?? {})) {
    visit(`${path}${key}`, property);
    walkProperties(property, `${path}${key}.`, visit);
  }
  for (const branch of [...(node.anyOf ?? []), ...(node.oneOf ?? [])]) {
    walkProperties(branch, path, visit);
  }
  const items = node.items;
  if (items !== undefined && !Array.isArray(items)) {
    walkProperties(items, path.replace(/\.$/, '[].'), visit);
  }
}

describe('configJsonSchema structure', () => {
  it('uses draft-07 for yaml-language-server', () => {
    expect(schema.$schema).toBe(JSON_SCHEMA_DIALECT);
    expect(JSON_SCHEMA_DIALECT).toBe('http://json-schema.org/draft-07/schema#');
  });

  it('requires only the feature lists at the root', () => {
    expect(schema.required).toEqual(['input_features', 'output_features']);
    expect(schema.additionalProperties).toBe(false);
  });

  it('rejects unknown trainer keys', () => {
    expect(schema.properties?.trainer?.additionalProperties).toBe(false);
    expect(schema.properties?.trainer?.properties?.learning_rate_scheduler?.additionalProperties).toBe(false);
  });

  it('lists enum values', () => {
    const scheduler = schema.properties?.trainer?.properties?.learning_rate_scheduler?.properties;
    expect(scheduler?.decay?.anyOf?.[0]?.enum).toEqual(['linear', 'cosine', 'exponential']);
    expect(schema.properties?.combiner?.properties?.activation?.enum).toEqual(['relu', 'tanh', 'sigmoid', 'gelu', 'linear']);
  });

  it('gives defaults of the input type', () => {
    const trainer = schema.properties?.trainer?.properties;
    expect(trainer?.epochs?.default).toBe(100);
    expect(trainer?.learning_rate?.default).toBe('auto');
    expect(trainer?.epochs?.maximum).toBeUndefined();
  });

  it('describes every key', () => {
    const undescribed: string[] = [];
    walkProperties(schema, '', (path, property) => {
      if (typeof property.description !== 'string' || property.description.length < 10) {
        undescribed.push(path);
      }
    });
    expect(undescribed).toEqual([]);
  });

  it('adds backend keys per backend type', () => {
    const branches = schema.properties?.backend?.anyOf ?? [];
    expect(branches.map((branch) => branch.title)).toEqual(['tfjs backend', 'other backend']);
    expect(Object.keys(branches[0]?.properties ?? {})).toEqual(['type', 'cache_dir', 'trainer', 'runtime', 'device']);
    expect(branches[0]?.additionalProperties).toBe(false);
  });

  it('keeps the backend section open without backend schemas', () => {
    const open = configJsonSchema().properties?.backend;
    expect(open?.anyOf).toBeUndefined();
    expect(Object.keys(open?.properties ?? {})).toEqual(['type', 'cache_dir', 'trainer']);
  });
});
