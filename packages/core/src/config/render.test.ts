import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { loadConfigFile, validateConfig } from './load.js';
import { renderConfig, renderConfigYaml } from './render.js';

const EXAMPLE = fileURLToPath(new URL('../../../../examples/sst2/config.yaml', import.meta.url));

const minimal = {
  input_features: [
    { name: 'sentence', type: 'text' },
    { name: 'genre', type: 'category' },
    { name: 'flag', type: 'binary' },
    { name: 'year', type: 'number' },
  ],
  output_features: [
    { name: 'label', type: 'category' },
    { name: 'score', type: 'number' },
  ],
};

describe('renderConfig', () => {
  it('resolves learning_rate auto', () => {
    const rendered = renderConfig(validateConfig(minimal));
    expect(rendered.trainer.learning_rate).toBe(2e-5);
  });

  it('keeps a numeric learning rate', () => {
    const rendered = renderConfig(validateConfig({ ...minimal, trainer: { learning_rate: 0.003 } }));
    expect(rendered.trainer.learning_rate).toBe(0.003);
  });

  it('resolves evaluation settings', () => {
    const rendered = renderConfig(validateConfig({ ...minimal, trainer: { batch_size: 256 } }));
    expect(rendered.trainer.eval_batch_size).toBe(256);
    expect(rendered.trainer.validation_field).toBe('label');
    expect(rendered.trainer.validation_metric).toBe('accuracy');
  });

  it('uses the metric of the validation field', () => {
    const rendered = renderConfig(validateConfig({ ...minimal, trainer: { validation_field: 'score' } }));
    expect(rendered.trainer.validation_metric).toBe('mean_squared_error');
    expect(renderConfig(validateConfig({ ...minimal, trainer: { validation_field: 'combined' } })).trainer.validation_metric).toBe('loss');
  });

  it('fills missing-value strategies by role', () => {
    const rendered = renderConfig(validateConfig(minimal));
    const strategies = [...rendered.input_features, ...rendered.output_features].map((feature) => (feature.preprocessing as { missing_value_strategy?: string }).missing_value_strategy);
    expect(strategies).toEqual(['fill_with_const', 'fill_with_const', 'fill_with_false', 'fill_with_const', 'drop_row', 'drop_row']);
  });

  it('merges backend options', () => {
    const rendered = renderConfig(validateConfig(minimal), { backendOptions: { runtime: 'auto', device: 'auto' } });
    expect(rendered.backend).toEqual({ type: 'tfjs', trainer: { num_workers: 1, strategy: 'local' }, runtime: 'auto', device: 'auto' });
  });

  it('is unchanged by validating it again', () => {
    const rendered = renderConfig(validateConfig({ ...minimal, defaults: { text: { preprocessing: { max_sequence_length: 64 } } } }));
    expect(validateConfig(rendered)).toEqual(rendered);
    expect(renderConfig(validateConfig(rendered))).toEqual(rendered);
  });
});

describe('renderConfigYaml', () => {
  it('renders the example with a header', async () => {
    const loaded = await loadConfigFile(EXAMPLE);
    const yaml = renderConfigYaml(loaded.config, { source: 'examples/sst2/config.yaml' });
    const lines = yaml.split('\n');
    expect(lines[0]).toBe('# Full config of examples/sst2/config.yaml, rendered by ft render-config: every default filled in,');
    expect(yaml).toContain('# learning_rate 0.001: set in the config.\n');
    expect(yaml).toContain('\ndataset:\n  training_set: train.csv\n');
    expect(yaml).toContain('\n  learning_rate: 0.001\n');
    expect(yaml).toContain('\n  eval_batch_size: 128\n');
  });

  it('reads back as the same config', async () => {
    const loaded = await loadConfigFile(EXAMPLE);
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-render-'));
    const file = path.join(folder, 'rendered.yaml');
    await writeFile(file, renderConfigYaml(loaded.config));
    expect((await loadConfigFile(file)).config).toEqual(renderConfig(loaded.config));
  });

  it('explains the reason for auto', () => {
    const yaml = renderConfigYaml(validateConfig(minimal));
    expect(yaml).toContain('# learning_rate 0.00002: auto: every pretrained encoder is frozen.');
    expect(parse(yaml).trainer.learning_rate).toBe(2e-5);
  });

  it('notes ignored bert architecture keys', () => {
    const config = validateConfig({ ...minimal, input_features: [{ name: 's', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: 'bert-mini' } }] });
    expect(renderConfigYaml(config)).toContain("takes its architecture from the checkpoint's config.json");
  });
});
