import { DataError } from '../errors.js';
import type { Random } from '../training/random.js';
import { readBoolean } from './booleans.js';
import type { RowSet } from './sources.js';

/** How to rebalance a binary target in the training split. */
export type Balancing = { readonly kind: 'oversample_minority' | 'undersample_majority'; readonly ratio: number };


/**
 * Rebalances the training rows of a binary target so that minority rows / majority rows is
 * `ratio`: by repeating randomly drawn minority rows, or by dropping randomly drawn majority rows.
 * Validation and test rows are never rebalanced, so their metrics describe the real data.
 */
export function balanceTraining(rows: RowSet, column: string, fallbackTrueLabel: string | null, balancing: Balancing, random: Random): RowSet {
  const positives: number[] = [];
  const negatives: number[] = [];
  rows.rows.forEach((row, index) => {
    // Values that are not booleans are rejected later by feature encoding, with their line.
    const isTrue = readBoolean(row[column] ?? '', fallbackTrueLabel) === true;
    (isTrue ? positives : negatives).push(index);
  });
  const [minority, majority] = positives.length <= negatives.length ? [positives, negatives] : [negatives, positives];
  if (minority.length === 0) {
    throw new DataError(`Cannot rebalance "${column}" in ${rows.file}: the training split has only one class. Remove preprocessing.${balancing.kind}.`);
  }
  if (minority.length / majority.length >= balancing.ratio) {
    return rows;
  }

  let keep: number[];
  if (balancing.kind === 'oversample_minority') {
    const target = Math.round(balancing.ratio * majority.length);
    const extra = Array.from({ length: target - minority.length }, () => minority[random.nextInt(minority.length)]!);
    keep = [...majority, ...minority, ...extra];
  } else {
    const target = Math.max(1, Math.round(minority.length / balancing.ratio));
    const kept = random.permutation(majority.length).slice(0, target).map((position) => majority[position]!);
    keep = [...minority, ...kept];
  }
  keep.sort((a, b) => a - b);
  return { ...rows, rows: keep.map((index) => rows.rows[index]!), lines: keep.map((index) => rows.lines[index]!) };
}
