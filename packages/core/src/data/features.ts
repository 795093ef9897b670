import type { InputFeature, OutputFeature } from '../config/features.js';
import type { FtConfig } from '../config/schema.js';
import type { InputBatch, TargetBatch } from '../backend/model-description.js';
import { DataError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { readBoolean } from './booleans.js';
import type { RowSet, SplitName } from './sources.js';

/** Statistics a run learned about each column from the training split, saved as `training_set_metadata.json`. */
export type FeatureMetadata =
  | { readonly type: 'text'; readonly column: string }
  | { readonly type: 'category'; readonly column: string; readonly vocabulary: readonly string[]; readonly frequencies: readonly number[] }
  | { readonly type: 'binary'; readonly column: string; readonly fallbackTrueLabel: string | null }
  | {
      readonly type: 'number';
      readonly column: string;
      readonly mean: number;
      readonly std: number;
      readonly min: number;
      readonly max: number;
      readonly normalization: 'zscore' | 'minmax' | null;
    };

/** One split after missing values are handled and every non-text column is encoded. */
export interface EncodedSplit {
  readonly split: SplitName;
  readonly file: string;
  readonly rows: number;
  /** Raw texts per text input, tokenized later by the encoder's tokenizer. */
  readonly texts: Readonly<Record<string, readonly string[]>>;
  readonly inputs: Readonly<Record<string, InputBatch>>;
  readonly targets: Readonly<Record<string, TargetBatch>>;
}

/** Unknown category values of an input map to this entry, which is always index 0. */
export const UNKNOWN_CATEGORY = '<UNK>';


type Feature = InputFeature | OutputFeature;
type Role = 'input' | 'output';

const columnOf = (feature: Feature): string => feature.column ?? feature.name;
const isMissing = (value: string | undefined): boolean => value === undefined || value.trim() === '';

function where(rows: RowSet, index: number): string {
  return `${rows.file}, line ${rows.lines[index]}`;
}

/** Missing-value strategy after role defaults: outputs drop rows without a target, inputs fill. */
/** Returns the missing-value strategy of a feature that leaves it unset: outputs drop rows without a target, inputs are filled. */
export function defaultMissingValueStrategy(type: Feature['type'], role: Role): string {
  if (role === 'output') {
    return 'drop_row';
  }
  return { text: 'fill_with_const', category: 'fill_with_const', binary: 'fill_with_false', number: 'fill_with_const' }[type];
}

function missingStrategy(feature: Feature, role: Role): string {
  const configured = (feature.preprocessing as { missing_value_strategy?: string }).missing_value_strategy;
  return configured ?? defaultMissingValueStrategy(feature.type, role);
}

function checkColumns(features: readonly Feature[], rows: RowSet): void {
  for (const feature of features) {
    const column = columnOf(feature);
    if (!rows.columns.includes(column)) {
      throw new DataError(
        `Column "${column}" of feature "${feature.name}" not found in ${rows.file}; its columns are ${rows.columns.join(', ')}. Fix the column name, or set \`column\` on the feature.`,
      );
    }
  }
}

function parseBinary(value: string, fallbackTrueLabel: string | null, rows: RowSet, index: number, feature: Feature): number {
  const parsed = readBoolean(value, fallbackTrueLabel);
  if (parsed !== undefined) {
    return parsed ? 1 : 0;
  }
  throw new DataError(
    `${where(rows, index)}: binary feature "${feature.name}" contains "${value}", which is not a boolean (true/false, yes/no, 1/0). Set preprocessing.fallback_true_label to the value that means true, or make the feature a category.`,
  );
}

function parseNumber(value: string, rows: RowSet, index: number, feature: Feature): number {
  const number = Number(value.trim());
  if (!Number.isFinite(number)) {
    throw new DataError(`${where(rows, index)}: number feature "${feature.name}" contains "${value}", which is not a finite number.`);
  }
  return number;
}

/** Returns the rows of a split to keep after `drop_row` strategies, logging how many were dropped. */
function rowsToKeep(features: readonly [Feature, Role][], rows: RowSet, logger: Logger): number[] {
  const keep: number[] = [];
  const dropped = new Map<string, number>();
  rows.rows.forEach((row, index) => {
    const droppingFeature = features.find(([feature, role]) => missingStrategy(feature, role) === 'drop_row' && isMissing(row[columnOf(feature)]));
    if (droppingFeature === undefined) {
      keep.push(index);
    } else {
      const name = droppingFeature[0].name;
      dropped.set(name, (dropped.get(name) ?? 0) + 1);
    }
  });
  for (const [name, count] of dropped) {
    logger.warn(`Dropped ${count} row(s) of ${rows.file} (${rows.split}) with no value for "${name}".`);
  }
  return keep;
}

/** Orders strings by UTF-16 code units, which unlike localeCompare does not depend on the machine's locale. */
function compareCodePoints(a: string, b: string): number {
  if (a === b) {
    return 0;
  }
  return a < b ? -1 : 1;
}

function mode(values: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const value of values) {
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  let best = '';
  let bestCount = -1;
  for (const [value, count] of counts) {
    if (count > bestCount) {
      best = value;
      bestCount = count;
    }
  }
  return best;
}

/** Builds the metadata of every feature from the training rows. */
function buildMetadata(features: readonly [Feature, Role][], training: RowSet, keep: readonly number[]): Record<string, FeatureMetadata> {
  const metadata: Record<string, FeatureMetadata> = {};
  for (const [feature, role] of features) {
    const column = columnOf(feature);
    const present = keep.map((index) => training.rows[index]![column]!).filter((value) => !isMissing(value));

    switch (feature.type) {
      case 'text':
        metadata[feature.name] = { type: 'text', column };
        break;
      case 'category': {
        const counts = new Map<string, number>();
        for (const value of present) {
          counts.set(value.trim(), (counts.get(value.trim()) ?? 0) + 1);
        }
        const fixed = feature.preprocessing.vocab;
        // Frequent classes first, then by name, so the vocabulary does not depend on row order.
        const learned = [...counts.keys()].sort((a, b) => counts.get(b)! - counts.get(a)! || compareCodePoints(a, b));
        let vocabulary = fixed !== undefined ? [...fixed] : learned;
        if (role === 'input') {
          vocabulary = [UNKNOWN_CATEGORY, ...vocabulary.filter((value) => value !== UNKNOWN_CATEGORY)];
        } else if (vocabulary.length < 2) {
          throw new DataError(
            `Category output "${feature.name}" has ${vocabulary.length} distinct value(s) in the training data of ${training.file}; a classifier needs at least 2.`,
          );
        }
        metadata[feature.name] = { type: 'category', column, vocabulary, frequencies: vocabulary.map((value) => counts.get(value) ?? 0) };
        break;
      }
      case 'binary':
        metadata[feature.name] = { type: 'binary', column, fallbackTrueLabel: feature.preprocessing.fallback_true_label ?? null };
        break;
      case 'number': {
        const values = present.map((value) => Number(value.trim())).filter(Number.isFinite);
        const mean = values.reduce((sum, value) => sum + value, 0) / Math.max(1, values.length);
        const variance = values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / Math.max(1, values.length - 1);
        metadata[feature.name] = {
          type: 'number',
          column,
          mean,
          std: Math.sqrt(variance),
          min: values.length === 0 ? 0 : Math.min(...values),
          max: values.length === 0 ? 0 : Math.max(...values),
          normalization: feature.preprocessing.normalization,
        };
        break;
      }
    }
  }
  return metadata;
}

function normalize(value: number, metadata: Extract<FeatureMetadata, { type: 'number' }>): number {
  if (metadata.normalization === 'zscore') {
    return metadata.std === 0 ? 0 : (value - metadata.mean) / metadata.std;
  }
  if (metadata.normalization === 'minmax') {
    return metadata.max === metadata.min ? 0 : (value - metadata.min) / (metadata.max - metadata.min);
  }
  return value;
}

/** Undoes number normalization, so predictions and metrics are in the column's own units. */
export function denormalize(value: number, metadata: Extract<FeatureMetadata, { type: 'number' }>): number {
  if (metadata.normalization === 'zscore') {
    return value * metadata.std + metadata.mean;
  }
  if (metadata.normalization === 'minmax') {
    return value * (metadata.max - metadata.min) + metadata.min;
  }
  return value;
}

function encodeSplit(
  features: readonly [Feature, Role][],
  metadata: Record<string, FeatureMetadata>,
  rows: RowSet,
  keep: readonly number[],
): EncodedSplit {
  const texts: Record<string, string[]> = {};
  const inputs: Record<string, InputBatch> = {};
  const targets: Record<string, TargetBatch> = {};

  for (const [feature, role] of features) {
    const column = columnOf(feature);
    const strategy = missingStrategy(feature, role);
    const meta = metadata[feature.name]!;
    const raw = keep.map((index) => rows.rows[index]![column]!);

    if (feature.type === 'text') {
      texts[feature.name] = raw.map((value) => (isMissing(value) ? feature.preprocessing.fill_value : value));
      continue;
    }

    if (meta.type === 'category') {
      // The most frequent class is index 0 of an output vocabulary and index 1 of an input one, after <UNK>.
      const mostFrequent = meta.vocabulary[role === 'input' ? 1 : 0] ?? UNKNOWN_CATEGORY;
      const fill = strategy === 'fill_with_mode' ? mostFrequent : (feature.preprocessing as { fill_value: string }).fill_value;
      const lookup = new Map(meta.vocabulary.map((value, index) => [value, index]));
      const indices = new Int32Array(raw.length);
      raw.forEach((value, position) => {
        const label = isMissing(value) ? fill : value.trim();
        const index = lookup.get(label);
        if (index !== undefined) {
          indices[position] = index;
        } else if (role === 'input') {
          indices[position] = 0;
        } else {
          const source = (feature.preprocessing as { vocab?: string[] }).vocab !== undefined ? 'preprocessing.vocab' : 'the training data';
          throw new DataError(
            `${where(rows, keep[position]!)}: category output "${feature.name}" contains "${label}", which is not in its vocabulary from ${source} (${meta.vocabulary.join(', ')}). Add the class to preprocessing.vocab, make sure the training split contains it, or fix the row.`,
          );
        }
      });
      if (role === 'input') {
        inputs[feature.name] = { kind: 'category', indices };
      } else {
        targets[feature.name] = { kind: 'category', indices };
      }
      continue;
    }

    const values = new Float32Array(raw.length);
    if (meta.type === 'binary') {
      const fill = strategy === 'fill_with_mode' ? mode(raw.filter((value) => !isMissing(value))) : 'false';
      raw.forEach((value, position) => {
        values[position] = parseBinary(isMissing(value) ? fill : value, meta.fallbackTrueLabel, rows, keep[position]!, feature);
      });
      if (role === 'input') {
        inputs[feature.name] = { kind: 'number', values };
      } else {
        targets[feature.name] = { kind: 'binary', values };
      }
      continue;
    }

    if (meta.type === 'number') {
      const fill = strategy === 'fill_with_mean' ? meta.mean : (feature.preprocessing as { fill_value: number }).fill_value;
      raw.forEach((value, position) => {
        values[position] = normalize(isMissing(value) ? fill : parseNumber(value, rows, keep[position]!, feature), meta);
      });
      if (role === 'input') {
        inputs[feature.name] = { kind: 'number', values };
      } else {
        targets[feature.name] = { kind: 'number', values };
      }
    }
  }

  return { split: rows.split, file: rows.file, rows: keep.length, texts, inputs, targets };
}

/**
 * Checks the columns of every split, applies the missing-value strategies, learns feature
 * metadata from the training split and encodes every split with it.
 */
export function encodeSplits(
  config: FtConfig,
  splits: { training: RowSet; validation: RowSet | null; test: RowSet | null },
  logger: Logger,
): { metadata: Record<string, FeatureMetadata>; training: EncodedSplit; validation: EncodedSplit | null; test: EncodedSplit | null } {
  const features: [Feature, Role][] = [
    ...config.input_features.map((feature): [Feature, Role] => [feature, 'input']),
    ...config.output_features.map((feature): [Feature, Role] => [feature, 'output']),
  ];
  const all = features.map(([feature]) => feature);

  const present = [splits.training, splits.validation, splits.test].filter((rows): rows is RowSet => rows !== null);
  for (const rows of present) {
    checkColumns(all, rows);
  }

  const keepTraining = rowsToKeep(features, splits.training, logger);
  if (keepTraining.length === 0) {
    throw new DataError(`No training rows of ${splits.training.file} remain after dropping rows with missing values.`);
  }
  const metadata = buildMetadata(features, splits.training, keepTraining);

  const encode = (rows: RowSet | null): EncodedSplit | null => {
    if (rows === null) {
      return null;
    }
    const keep = rows === splits.training ? keepTraining : rowsToKeep(features, rows, logger);
    return keep.length === 0 ? null : encodeSplit(features, metadata, rows, keep);
  };
  return { metadata, training: encode(splits.training)!, validation: encode(splits.validation), test: encode(splits.test) };
}
