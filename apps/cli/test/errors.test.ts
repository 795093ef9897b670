import { describe, expect, it } from 'vitest';

import { runCli, workspace } from './helpers.js';

const GOOD_DATA = 'sentence,label\ngood movie,1\nbad movie,0\ngreat film,1\nawful film,0\nfun story,1\ndull plot,0\n';

function config(extra = ''): string {
  return `dataset: data.csv
input_features:
  - name: sentence
    type: text
output_features:
  - name: label
    type: category
${extra}`;
}

describe('ft train rejects bad input', () => {
  it('unknown config key', async () => {
    const folder = await workspace({ 'config.yaml': config('trainr:\n  epochs: 1\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('config.yaml:\n  trainr: unknown key. Did you mean `trainer`?');
  });

  it('wrong value type', async () => {
    const folder = await workspace({ 'config.yaml': config('trainer:\n  batch_size: many\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('trainer.batch_size: got "many"; expected an integer >0 or "auto".');
  });

  it('invalid backend option', async () => {
    const folder = await workspace({ 'config.yaml': config('backend:\n  type: tfjs\n  runtime: gpu\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('backend.runtime: got "gpu"; allowed: "auto", "node", "wasm", "cpu".');
  });

  it('misspelt core backend key', async () => {
    const folder = await workspace({ 'config.yaml': config('backend:\n  type: tfjs\n  cache_dri: /tmp\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('backend.cache_dri: unknown key. Did you mean `cache_dir`?');
  });

  it('backend package not installed', async () => {
    const folder = await workspace({ 'config.yaml': config('backend:\n  type: ft-backend-missing\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(4);
    expect(result.stderr).toContain('backend.type "ft-backend-missing" is not a built-in backend (tfjs, onnx), and no package named "ft-backend-missing" is installed.');
  });

  it('missing column', async () => {
    const folder = await workspace({ 'config.yaml': config(), 'data.csv': 'text,label\ngood,1\nbad,0\n' });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Column "sentence" of feature "sentence" not found in .*data\.csv; its columns are text, label/);
  });

  it('empty data file', async () => {
    const folder = await workspace({ 'config.yaml': config(), 'data.csv': '' });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Data file .*data\.csv is empty; it needs a header row and at least one data row\./);
  });

  it('unknown label in the test split', async () => {
    const folder = await workspace({
      'config.yaml': config().replace('dataset: data.csv', 'dataset:\n  training_set: train.csv\n  test_set: test.csv'),
      'train.csv': GOOD_DATA,
      'test.csv': 'sentence,label\nok movie,1\nmeh,neutral\n',
    });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/test\.csv, line 3: category output "label" contains "neutral", which is not in its vocabulary from the training data \(0, 1\)/);
  });

  it('missing config file', async () => {
    const folder = await workspace({});
    const result = await runCli(['train', '--config', 'nope.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Cannot read config file .*nope\.yaml/);
  });

  it('prints no stack for user errors', async () => {
    const folder = await workspace({ 'config.yaml': config('trainr: {}\n'), 'data.csv': GOOD_DATA });
    const result = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(result.stderr).not.toContain('    at ');
  });
});
