import { DataError } from '../errors.js';
import type { Random } from '../training/random.js';
import type { Table } from './csv.js';

/** Row indices of each split. */
export interface SplitIndices {
  readonly training: number[];
  readonly validation: number[];
  readonly test: number[];
}

/** A split needs at least this many rows once it is non-empty, so its metrics mean something. */
const MIN_SPLIT_ROWS = 3;

/**
 * Computes the two cut points of a random split over `rows` shuffled rows: the training split
 * takes `ceil(p0·rows)`, validation `floor(p1·rows)`, test the rest. A validation or test split
 * that would hold fewer than 3 rows (but more than 0) takes rows from training, as Ludwig does.
 */
export function randomSplitCuts(rows: number, probabilities: readonly [number, number, number]): [number, number] {
  let first = Math.ceil(probabilities[0] * rows);
  let second = probabilities[2] === 0 ? rows : first + Math.floor(probabilities[1] * rows);
  first = Math.min(first, rows);
  second = Math.min(Math.max(second, first), rows);

  const test = rows - second;
  if (test > 0 && test < MIN_SPLIT_ROWS) {
    const shift = Math.min(MIN_SPLIT_ROWS - test, first);
    first -= shift;
    second -= shift;
  }
  const validation = second - first;
  if (validation > 0 && validation < MIN_SPLIT_ROWS) {
    first -= Math.min(MIN_SPLIT_ROWS - validation, first);
  }
  return [first, second];
}

/** Splits rows at random with a seeded shuffle. */
export function randomSplit(rows: number, probabilities: readonly [number, number, number], random: Random): SplitIndices {
  const order = random.permutation(rows);
  const [first, second] = randomSplitCuts(rows, probabilities);
  return {
    training: order.slice(0, first).sort((a, b) => a - b),
    validation: order.slice(first, second).sort((a, b) => a - b),
    test: order.slice(second).sort((a, b) => a - b),
  };
}

/** Values a fixed split column may contain, in lower case, and the split each one names. */
export const FIXED_SPLIT_VALUES: Readonly<Record<string, keyof SplitIndices>> = {
  '0': 'training',
  '1': 'validation',
  '2': 'test',
  train: 'training',
  training: 'training',
  validation: 'validation',
  val: 'validation',
  test: 'test',
};

/** Splits rows by a column that contains 0 / 1 / 2 (or training / validation / test) per row. */
export function fixedSplit(table: Table, column: string): SplitIndices {
  if (!table.columns.includes(column)) {
    throw new DataError(
      `Split column "${column}" not found in ${table.file}; its columns are ${table.columns.join(', ')}. Add the column, or set preprocessing.split.column.`,
    );
  }
  const split: SplitIndices = { training: [], validation: [], test: [] };
  table.rows.forEach((row, index) => {
    const value = (row[column] ?? '').trim().toLowerCase();
    const target = FIXED_SPLIT_VALUES[value];
    if (target === undefined) {
      throw new DataError(
        `${table.file}, line ${table.lines[index]}: split column "${column}" contains "${row[column]}"; use 0 (training), 1 (validation) or 2 (test).`,
      );
    }
    split[target].push(index);
  });
  return split;
}

/**
 * Splits rows so that each value of `column` (a class) is spread over the splits in the given
 * proportions, like scikit-learn's stratified `train_test_split`. A class with a single row
 * goes to training.
 */
export function stratifiedSplit(table: Table, column: string, probabilities: readonly [number, number, number], random: Random): SplitIndices {
  if (!table.columns.includes(column)) {
    throw new DataError(
      `Stratify column "${column}" not found in ${table.file}; its columns are ${table.columns.join(', ')}. Set preprocessing.split.column to a category or binary column.`,
    );
  }
  const byClass = new Map<string, number[]>();
  table.rows.forEach((row, index) => {
    const value = (row[column] ?? '').trim();
    byClass.set(value, [...(byClass.get(value) ?? []), index]);
  });

  const split: SplitIndices = { training: [], validation: [], test: [] };
  for (const value of [...byClass.keys()].sort()) {
    const members = byClass.get(value)!;
    if (members.length === 1) {
      split.training.push(members[0]!);
      continue;
    }
    const order = random.permutation(members.length).map((position) => members[position]!);
    const first = Math.ceil(probabilities[0] * members.length);
    const second = probabilities[2] === 0 ? members.length : Math.min(members.length, first + Math.floor(probabilities[1] * members.length));
    split.training.push(...order.slice(0, first));
    split.validation.push(...order.slice(first, second));
    split.test.push(...order.slice(second));
  }
  return { training: split.training.sort((a, b) => a - b), validation: split.validation.sort((a, b) => a - b), test: split.test.sort((a, b) => a - b) };
}
