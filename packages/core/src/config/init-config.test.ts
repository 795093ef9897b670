import { mkdtemp, mkdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

import { FtError } from '../errors.js';
import { initConfig } from './init-config.js';
import { validateConfig } from './load.js';

const SST2_TRAIN = fileURLToPath(new URL('../../../../examples/sst2/train.csv', import.meta.url));

async function csv(name: string, text: string): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'ft-init-'));
  const file = path.join(folder, name);
  await writeFile(file, text);
  return file;
}

/** Builds CSV text: the `header` line, then `rows` lines made by `row(index)`. */
function table(header: string, rows: number, row: (index: number) => string): string {
  return [header, ...Array.from({ length: rows }, (_, index) => row(index))].join('\n') + '\n';
}

type Feature = { name: string; type: string; encoder?: { type: string }; preprocessing?: Record<string, unknown> };

describe('initConfig', () => {
  it('infers the SST-2 columns', async () => {
    const result = await initConfig({ dataset: SST2_TRAIN, target: 'label', configPath: path.join(path.dirname(SST2_TRAIN), 'generated.yaml') });
    const config = result.config as { dataset: string; input_features: Feature[]; output_features: Feature[]; trainer: Record<string, unknown> };
    expect(config.dataset).toBe('train.csv');
    expect(config.input_features).toEqual([
      { name: 'sentence', type: 'text', encoder: { type: 'universal_sentence_encoder', trainable: false }, preprocessing: { cache_encoder_embeddings: true } },
    ]);
    expect(config.output_features).toEqual([{ name: 'label', type: 'binary' }]);
    expect(config.trainer).toEqual({ epochs: 10, batch_size: 32, learning_rate: 0.001 });
    expect(result.notes[0]).toMatch(/^label: output, binary: two values that read as booleans \(0, 1\)\.$/);
    expect(result.notes[1]).toMatch(/^sentence: text: \d+ distinct values with a mean length of \d+ characters\.$/);
  });

  it('writes valid commented YAML', async () => {
    const result = await initConfig({ dataset: SST2_TRAIN, target: 'label', configPath: path.join(path.dirname(SST2_TRAIN), 'generated.yaml') });
    expect(result.yaml.split('\n')[0]).toBe('# Starting config written by ft init-config from train.csv.');
    expect(result.yaml).toContain('  # The text encoders are frozen and their embeddings cached, so only the small head trains;\n');
    expect(parse(result.yaml)).toEqual(result.config);
    expect(() => validateConfig(parse(result.yaml))).not.toThrow();
  });

  it('infers every feature type', async () => {
    const genres = ['drama', 'comedy', 'horror'];
    const file = await csv(
      'movies.csv',
      table('id,title,review,genre,year_rating,budget,sequel,spam', 60, (index) =>
        [
          index + 1,
          `Film ${index}`,
          `"a long review of film number ${index}, with many words in it"`,
          genres[index % 3],
          (index % 5) + 1,
          (1000.5 + index * 37.25).toFixed(2),
          index % 2 === 0 ? 'yes' : 'no',
          index % 3 === 0 ? 'spam' : 'ham',
        ].join(','),
      ),
    );
    const result = await initConfig({ dataset: file, target: 'spam', configPath: path.join(path.dirname(file), 'config.yaml') });
    const config = result.config as { input_features: Feature[]; output_features: Feature[] };
    expect(config.input_features.map((feature) => [feature.name, feature.type])).toEqual([
      ['title', 'text'],
      ['review', 'text'],
      ['genre', 'category'],
      ['year_rating', 'category'],
      ['budget', 'number'],
      ['sequel', 'binary'],
    ]);
    expect(config.output_features).toEqual([{ name: 'spam', type: 'category' }]);
    expect(result.notes[0]).toBe('id: skipped as a row id: every one of the 60 rows has its own integer.');
  });

  it('uses a split column as the fixed split', async () => {
    const file = await csv('data.csv', table('text,label,split', 30, (index) => `"some words number ${index} here",${index % 2 ? 'pos' : 'neg'},${index % 3}`));
    const result = await initConfig({ dataset: file, target: 'label', configPath: path.join(path.dirname(file), 'config.yaml') });
    const config = result.config as { input_features: Feature[]; preprocessing: unknown };
    expect(config.input_features.map((feature) => feature.name)).toEqual(['text']);
    expect(config.preprocessing).toEqual({ split: { type: 'fixed' } });
    expect(result.notes).toContain('split: used as the fixed split column (values 0, 1, 2), so preprocessing.split is {type: fixed}.');
  });

  it('predicts several targets', async () => {
    const file = await csv('data.csv', table('x,y,z', 40, (index) => `${index * 1.5},${index % 2},${index * 2.5 + 1}`));
    const result = await initConfig({ dataset: file, target: ['y', 'z'], configPath: path.join(path.dirname(file), 'config.yaml') });
    const config = result.config as { input_features: Feature[]; output_features: Feature[]; trainer: Record<string, unknown> };
    expect(config.input_features).toEqual([{ name: 'x', type: 'number' }]);
    expect(config.output_features).toEqual([
      { name: 'y', type: 'binary' },
      { name: 'z', type: 'number' },
    ]);
    expect(config.trainer.learning_rate).toBe('auto');
  });

  it('skips constant columns', async () => {
    const file = await csv('data.csv', table('source,value,label', 10, (index) => `web,${index * 0.5},${index % 2 ? 'a' : 'b'}`));
    const result = await initConfig({ dataset: file, target: 'label' });
    expect(result.notes).toContain('source: skipped: every row holds "web", so it cannot help predict anything.');
  });

  it('writes the dataset path relative to the config', async () => {
    const file = await csv('data.csv', table('a,label', 10, (index) => `${index * 0.5},${index % 2}`));
    const configFolder = path.join(path.dirname(file), 'configs', 'nested');
    await mkdir(configFolder, { recursive: true });
    const result = await initConfig({ dataset: file, target: 'label', configPath: path.join(configFolder, 'config.yaml') });
    expect((result.config as { dataset: string }).dataset).toBe('../../data.csv');
  });

  it('rejects a target that is not a column', async () => {
    const file = await csv('data.csv', 'sentence,label\ngood film,1\nbad film,0\n');
    const error = await initConfig({ dataset: file, target: 'labels' }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(FtError);
    expect((error as FtError).message).toMatch(/^Target column "labels" not found in .*data\.csv; its columns are sentence, label\.$/);
  });

  it('rejects data without inputs', async () => {
    const file = await csv('data.csv', table('id,label', 30, (index) => `${index},${index % 2}`));
    await expect(initConfig({ dataset: file, target: 'label' })).rejects.toThrow(/No input column left in .*data\.csv besides the target/);
  });

  it('rejects a missing file', async () => {
    await expect(initConfig({ dataset: '/nonexistent/data.csv', target: 'label' })).rejects.toThrow('Data file not found: /nonexistent/data.csv');
  });
});
