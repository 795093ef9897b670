import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { validateConfig } from '../config/load.js';
import { Random } from '../training/random.js';
import { loadSplits } from './sources.js';

/** 100 rows: 80 with label 0 and 20 with label 1. */
async function imbalancedCsv(): Promise<string> {
  const lines = ['x,label'];
  for (let i = 0; i < 100; i++) {
    lines.push(`${i},${i % 5 === 0 ? 1 : 0}`);
  }
  const folder = await mkdtemp(path.join(tmpdir(), 'ft-sampling-'));
  const file = path.join(folder, 'data.csv');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

function config(preprocessing: Record<string, unknown>) {
  return validateConfig({ input_features: [{ name: 'x', type: 'number' }], output_features: [{ name: 'label', type: 'binary' }], preprocessing });
}

const positives = (rows: readonly Readonly<Record<string, string>>[]) => rows.filter((row) => row.label === '1').length;

describe('loadSplits sampling', () => {
  it('stratify keeps class proportions', async () => {
    const splits = await loadSplits(config({ split: { type: 'stratify', column: 'label' } }), { dataset: await imbalancedCsv() }, new Random(3));
    expect(splits.training.rows).toHaveLength(70);
    expect(positives(splits.training.rows)).toBe(14);
    expect(splits.validation!.rows).toHaveLength(10);
    expect(positives(splits.validation!.rows)).toBe(2);
    expect(splits.test!.rows).toHaveLength(20);
    expect(positives(splits.test!.rows)).toBe(4);
  });

  it('sample_size keeps that many rows', async () => {
    const splits = await loadSplits(config({ sample_size: 30 }), { dataset: await imbalancedCsv() }, new Random(3));
    expect(splits.training.rows.length + splits.validation!.rows.length + splits.test!.rows.length).toBe(30);
  });

  it('oversamples the minority in training only', async () => {
    const splits = await loadSplits(config({ split: { type: 'stratify', column: 'label' }, oversample_minority: 1 }), { dataset: await imbalancedCsv() }, new Random(3));
    expect(positives(splits.training.rows)).toBe(56);
    expect(splits.training.rows).toHaveLength(112);
    expect(positives(splits.test!.rows)).toBe(4);
  });

  it('undersamples the majority in training only', async () => {
    const splits = await loadSplits(config({ split: { type: 'stratify', column: 'label' }, undersample_majority: 0.5 }), { dataset: await imbalancedCsv() }, new Random(3));
    expect(positives(splits.training.rows)).toBe(14);
    expect(splits.training.rows).toHaveLength(14 + 28);
    expect(splits.test!.rows).toHaveLength(20);
  });

  it('balances a target read with fallback_true_label', async () => {
    const lines = ['x,label', ...Array.from({ length: 50 }, (_, i) => `${i},${i % 5 === 0 ? 'spam' : 'ham'}`)];
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-sampling-'));
    const file = path.join(folder, 'data.csv');
    await writeFile(file, `${lines.join('\n')}\n`);
    const spamConfig = validateConfig({
      input_features: [{ name: 'x', type: 'number' }],
      output_features: [{ name: 'label', type: 'binary', preprocessing: { fallback_true_label: 'spam' } }],
      preprocessing: { oversample_minority: 1 },
    });
    const splits = await loadSplits(spamConfig, { trainingSet: file }, new Random(3));
    expect(splits.training.rows.filter((row) => row.label === 'spam')).toHaveLength(40);
    expect(splits.training.rows).toHaveLength(80);
  });
});
