import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { EXAMPLE_DIRECTORY, runCli, workspace } from './helpers.js';

const EXAMPLE_CONFIG = path.join(EXAMPLE_DIRECTORY, 'config.yaml');
const EXAMPLE_TRAIN = path.join(EXAMPLE_DIRECTORY, 'train.csv');
const COMMITTED_SCHEMA = fileURLToPath(new URL('../../../schema/ft-config.schema.json', import.meta.url));

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

describe('ft schema', () => {
  it('prints the committed schema', async () => {
    const folder = await workspace({});
    const result = await runCli(['schema'], { cwd: folder });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe(await readFile(COMMITTED_SCHEMA, 'utf8'));
  });

  it('includes the backend options', async () => {
    const folder = await workspace({});
    const result = await runCli(['schema'], { cwd: folder });
    const schema = JSON.parse(result.stdout) as { properties: { backend: { anyOf: { properties: Record<string, unknown> }[] } } };
    const branches = schema.properties.backend.anyOf.map((branch) => Object.keys(branch.properties ?? {}).join(','));
    expect(branches).toContain('type,cache_dir,trainer,runtime,device');
    expect(branches).toContain('type,cache_dir,trainer,device,intra_op_threads,graph_optimization_level');
  });

  it('writes to a file', async () => {
    const folder = await workspace({});
    const result = await runCli(['schema', '-o', 'schema.json'], { cwd: folder });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('');
    expect(await readFile(path.join(folder, 'schema.json'), 'utf8')).toBe(await readFile(COMMITTED_SCHEMA, 'utf8'));
  });
});

describe('ft render-config', () => {
  it('renders the bundled example', async () => {
    const folder = await workspace({});
    const result = await runCli(['render-config', '-c', EXAMPLE_CONFIG], { cwd: folder });
    expect(result.code).toBe(0);
    expect(result.stdout.startsWith(`# Full config of ${EXAMPLE_CONFIG}, rendered by ft render-config`)).toBe(true);
    const rendered = parse(result.stdout) as { trainer: Record<string, unknown>; backend: Record<string, unknown> };
    expect(rendered.trainer.learning_rate).toBe(0.001);
    expect(rendered.trainer.eval_batch_size).toBe(128);
    expect(rendered.trainer.validation_metric).toBe('accuracy');
    expect(rendered.backend).toEqual({ type: 'tfjs', trainer: { num_workers: 1, strategy: 'local' }, runtime: 'auto', device: 'auto' });
  });

  it('resolves learning_rate auto', async () => {
    const folder = await workspace({ 'config.yaml': config() });
    const result = await runCli(['render-config', '--config', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('# learning_rate 0.00002: auto: every pretrained encoder is frozen.\n');
    expect((parse(result.stdout) as { trainer: { learning_rate: number } }).trainer.learning_rate).toBe(2e-5);
  });

  it('writes a file that validates', async () => {
    const folder = await workspace({ 'config.yaml': config(), 'data.csv': GOOD_DATA });
    const written = await runCli(['render-config', '-c', 'config.yaml', '-o', 'rendered.yaml'], { cwd: folder });
    expect(written.code).toBe(0);
    const again = await runCli(['render-config', '-c', 'rendered.yaml'], { cwd: folder });
    expect(again.code).toBe(0);
    expect(parse(again.stdout)).toEqual(parse(await readFile(path.join(folder, 'rendered.yaml'), 'utf8')));
  });

  it('fails like ft train on an invalid config', async () => {
    const folder = await workspace({ 'config.yaml': config('trainr:\n  epochs: 1\n'), 'data.csv': GOOD_DATA });
    const rendered = await runCli(['render-config', '-c', 'config.yaml'], { cwd: folder });
    const trained = await runCli(['train', '--config', 'config.yaml'], { cwd: folder });
    expect(rendered.code).toBe(2);
    expect(rendered.stderr).toContain('config.yaml:\n  trainr: unknown key. Did you mean `trainer`?');
    expect(rendered.stderr).toBe(trained.stderr);
    expect(rendered.stdout).toBe('');
  });

  it('rejects invalid backend options', async () => {
    const folder = await workspace({ 'config.yaml': config('backend:\n  type: tfjs\n  runtime: gpu\n') });
    const result = await runCli(['render-config', '-c', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('backend.runtime: got "gpu"; allowed: "auto", "node", "wasm", "cpu".');
  });

  it('rejects a missing config file', async () => {
    const folder = await workspace({});
    const result = await runCli(['render-config', '-c', 'nope.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Cannot read config file .*nope\.yaml/);
  });
});

describe('ft init-config', () => {
  it('writes a config for the bundled example data', async () => {
    const folder = await workspace({});
    const result = await runCli(['init-config', '--dataset', EXAMPLE_TRAIN, '--target', 'label', '-o', 'config.yaml'], { cwd: folder });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Wrote config.yaml. Inferred from');
    expect(result.stdout).toContain('  label: output, binary: two values that read as booleans (0, 1).\n');
    expect(result.stdout).toMatch(/ {2}sentence: text: \d+ distinct values with a mean length of \d+ characters\.\n/);

    const written = parse(await readFile(path.join(folder, 'config.yaml'), 'utf8')) as { dataset: string; input_features: { type: string }[]; output_features: { type: string }[] };
    expect(path.resolve(folder, written.dataset)).toBe(EXAMPLE_TRAIN);
    expect(written.input_features.map((feature) => feature.type)).toEqual(['text']);
    expect(written.output_features.map((feature) => feature.type)).toEqual(['binary']);

    const rendered = await runCli(['render-config', '-c', 'config.yaml'], { cwd: folder });
    expect(rendered.code).toBe(0);
  });

  it('keeps an existing file without --force', async () => {
    const folder = await workspace({ 'data.csv': GOOD_DATA, 'config.yaml': '# mine\n' });
    const result = await runCli(['init-config', '--dataset', 'data.csv', '--target', 'label'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('config.yaml already exists; pass --force to overwrite it, or choose another file with --output.');
    expect(await readFile(path.join(folder, 'config.yaml'), 'utf8')).toBe('# mine\n');
  });

  it('overwrites with --force', async () => {
    const folder = await workspace({ 'data.csv': GOOD_DATA, 'config.yaml': '# mine\n' });
    const result = await runCli(['init-config', '--dataset', 'data.csv', '--target', 'label', '--force'], { cwd: folder });
    expect(result.code).toBe(0);
    expect(await readFile(path.join(folder, 'config.yaml'), 'utf8')).toContain('dataset: data.csv\n');
  });

  it('takes several targets', async () => {
    const rows = Array.from({ length: 30 }, (_, index) => `${index * 1.5},${index % 2},${index * 2.5 + 1}`);
    const folder = await workspace({ 'data.csv': `x,y,z\n${rows.join('\n')}\n` });
    const result = await runCli(['init-config', '--dataset', 'data.csv', '--target', 'y', 'z'], { cwd: folder });
    expect(result.code).toBe(0);
    const written = parse(await readFile(path.join(folder, 'config.yaml'), 'utf8')) as { output_features: unknown[] };
    expect(written.output_features).toEqual([
      { name: 'y', type: 'binary' },
      { name: 'z', type: 'number' },
    ]);
  });

  it('rejects an unknown target column', async () => {
    const folder = await workspace({ 'data.csv': GOOD_DATA });
    const result = await runCli(['init-config', '--dataset', 'data.csv', '--target', 'labels'], { cwd: folder });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/Target column "labels" not found in .*data\.csv; its columns are sentence, label\./);
  });

  it('rejects a missing data file', async () => {
    const folder = await workspace({});
    const result = await runCli(['init-config', '--dataset', 'nope.csv', '--target', 'label'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toMatch(/Data file not found: .*nope\.csv/);
  });

  it('needs --target', async () => {
    const folder = await workspace({ 'data.csv': GOOD_DATA });
    const result = await runCli(['init-config', '--dataset', 'data.csv'], { cwd: folder });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("required option '--target <columns...>' not specified");
  });

  it('reports an unwritable output', async () => {
    const folder = await workspace({ 'data.csv': GOOD_DATA });
    await writeFile(path.join(folder, 'blocker'), '');
    const result = await runCli(['init-config', '--dataset', 'data.csv', '--target', 'label', '-o', 'blocker/config.yaml'], { cwd: folder });
    expect(result.code).toBe(3);
    expect(result.stderr).toContain('Cannot write blocker/config.yaml:');
  });
});
