import path from 'node:path';

import type { FtConfig } from '../config/schema.js';
import { DataError } from '../errors.js';
import type { Random } from '../training/random.js';
import { readCsv, type Table } from './csv.js';
import { balanceTraining, type Balancing } from './balance.js';
import { fixedSplit, randomSplit, stratifiedSplit, type SplitIndices } from './split.js';

export type SplitName = 'training' | 'validation' | 'test';

/** Rows of one split, with where each row came from. */
export interface RowSet {
  readonly split: SplitName;
  readonly file: string;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, string>>[];
  readonly lines: readonly number[];
}

/** Data files given on the command line or in the config's `dataset` key. */
export interface DatasetSources {
  readonly dataset?: string;
  readonly trainingSet?: string;
  readonly validationSet?: string;
  readonly testSet?: string;
}

/**
 * Resolves the data files of a run: command-line files win over the config's `dataset` key,
 * whose paths are relative to the config file.
 */
export function resolveDatasetSources(config: FtConfig, baseDirectory: string, overrides: DatasetSources): DatasetSources {
  if (overrides.dataset !== undefined || overrides.trainingSet !== undefined) {
    return overrides;
  }
  const dataset = config.dataset;
  if (dataset === undefined) {
    throw new DataError(
      'No data given: pass --dataset data.csv (or --training_set, --validation_set, --test_set), or add a `dataset` key to the config.',
    );
  }
  const resolve = (file: string | undefined): string | undefined => (file === undefined ? undefined : path.resolve(baseDirectory, file));
  if (typeof dataset === 'string') {
    return { dataset: resolve(dataset) };
  }
  return { trainingSet: resolve(dataset.training_set), validationSet: resolve(dataset.validation_set), testSet: resolve(dataset.test_set) };
}

function subset(table: Table, split: SplitName, indices: readonly number[]): RowSet {
  return {
    split,
    file: table.file,
    columns: table.columns,
    rows: indices.map((index) => table.rows[index]!),
    lines: indices.map((index) => table.lines[index]!),
  };
}

function whole(table: Table, split: SplitName): RowSet {
  return { split, file: table.file, columns: table.columns, rows: table.rows, lines: table.lines };
}

function sample(table: Table, ratio: number, size: number | null, random: Random): Table {
  if (ratio >= 1 && (size === null || size >= table.rows.length)) {
    return table;
  }
  const keep = size ?? Math.floor(table.rows.length * ratio);
  if (keep < 1) {
    throw new DataError(`preprocessing.sample_ratio ${ratio} keeps no row of the ${table.rows.length} in ${table.file}; raise it.`);
  }
  const indices = random.permutation(table.rows.length).slice(0, keep).sort((a, b) => a - b);
  return { ...table, rows: indices.map((index) => table.rows[index]!), lines: indices.map((index) => table.lines[index]!) };
}

/** Reads the data files and returns the training, validation and test rows. */
export async function loadSplits(
  config: FtConfig,
  sources: DatasetSources,
  random: Random,
): Promise<{ training: RowSet; validation: RowSet | null; test: RowSet | null }> {
  const { sample_ratio: ratio, sample_size: size } = config.preprocessing;

  let splits: { training: RowSet; validation: RowSet | null; test: RowSet | null };
  if (sources.trainingSet !== undefined) {
    const training = sample(await readCsv(sources.trainingSet), ratio, size, random);
    const validation = sources.validationSet === undefined ? null : sample(await readCsv(sources.validationSet), ratio, size, random);
    const test = sources.testSet === undefined ? null : sample(await readCsv(sources.testSet), ratio, size, random);
    splits = {
      training: whole(training, 'training'),
      validation: validation === null ? null : whole(validation, 'validation'),
      test: test === null ? null : whole(test, 'test'),
    };
  } else {
    const table = sample(await readCsv(sources.dataset!), ratio, size, random);
    const splitConfig = config.preprocessing.split;
    let indices: SplitIndices;
    switch (splitConfig.type) {
      case 'fixed':
        indices = fixedSplit(table, splitConfig.column);
        break;
      case 'stratify':
        indices = stratifiedSplit(table, splitConfig.column, splitConfig.probabilities, random);
        break;
      case 'random':
        indices = randomSplit(table.rows.length, splitConfig.probabilities, random);
        break;
    }
    if (indices.training.length === 0) {
      throw new DataError(`The split of ${table.file} leaves no training rows; check preprocessing.split.`);
    }
    splits = {
      training: subset(table, 'training', indices.training),
      validation: indices.validation.length === 0 ? null : subset(table, 'validation', indices.validation),
      test: indices.test.length === 0 ? null : subset(table, 'test', indices.test),
    };
  }

  // Rebalance the training rows only, so validation and test metrics describe the real data.
  const { oversample_minority: oversample, undersample_majority: undersample } = config.preprocessing;
  const target = config.output_features[0]!;
  if (oversample !== null || undersample !== null) {
    const balancing: Balancing = oversample !== null ? { kind: 'oversample_minority', ratio: oversample } : { kind: 'undersample_majority', ratio: undersample! };
    const fallbackTrueLabel = target.type === 'binary' ? (target.preprocessing.fallback_true_label ?? null) : null;
    splits.training = balanceTraining(splits.training, target.column ?? target.name, fallbackTrueLabel, balancing, random);
  }
  return splits;
}
