import path from 'node:path';

import { Document, isMap, isScalar, type Pair, type YAMLMap } from 'yaml';

import { FALSE_STRINGS, TRUE_STRINGS } from '../data/booleans.js';
import { FIXED_SPLIT_VALUES } from '../data/split.js';
import { readCsv } from '../data/csv.js';
import { FtError } from '../errors.js';
import type { FeatureType } from './features.js';
import { validateConfig } from './load.js';
import type { FtConfigInput } from './schema.js';

/** Request of `ft init-config`: the data and the column or columns to predict. */
export interface InitConfigRequest {
  /** CSV file with a header row. */
  readonly dataset: string;
  /** Column or columns to predict. */
  readonly target: string | readonly string[];
  /** Path the config will be written to, which `dataset` is made relative to; default `config.yaml` in the working directory. */
  readonly configPath?: string;
}

export interface InitConfigResult {
  readonly config: FtConfigInput;
  /** The config as YAML, with comments on the choices a user may want to change. */
  readonly yaml: string;
  /** One line per column on what was inferred, and why. */
  readonly notes: string[];
}


/** Integer columns with at most this many distinct values, some repeated, are read as category codes (a 1-5 rating). */
const MAX_INTEGER_CODES = 10;
/** Distinct values above which a string column is not a category: max(20, 5% of the rows). */
const categoryLimit = (rows: number): number => Math.max(20, Math.ceil(rows * 0.05));
/** Mean length, in characters, above which string values are text rather than labels. */
const MIN_TEXT_LENGTH = 30;
/** Maximum length of a value in an id-like string column. A UUID has 36 characters. */
const MAX_ID_LENGTH = 64;
const ID_NAME = /^(id|uuid|guid|key|index|idx|row|row_?id|.+_id|.+Id)$/i;

/** Summary of one column's values. */
interface ColumnStats {
  readonly name: string;
  readonly rows: number;
  /** Non-empty values, trimmed. */
  readonly values: readonly string[];
  readonly distinct: readonly string[];
}

type Inference =
  | { readonly kind: 'feature'; readonly type: FeatureType; readonly reason: string }
  | { readonly kind: 'skip'; readonly reason: string }
  | { readonly kind: 'split'; readonly reason: string };

function columnStats(name: string, rows: readonly Readonly<Record<string, string>>[]): ColumnStats {
  const values = rows.map((row) => (row[name] ?? '').trim()).filter((value) => value !== '');
  return { name, rows: rows.length, values, distinct: [...new Set(values)] };
}

const isNumber = (value: string): boolean => Number.isFinite(Number(value));
const isInteger = (value: string): boolean => /^[-+]?\d+$/.test(value);
const meanLength = (values: readonly string[]): number => values.reduce((sum, value) => sum + value.length, 0) / Math.max(1, values.length);

function looksBoolean(distinct: readonly string[]): boolean {
  if (distinct.length !== 2) {
    return false;
  }
  const [a, b] = distinct.map((value) => value.toLowerCase()) as [string, string];
  return (TRUE_STRINGS.has(a) && FALSE_STRINGS.has(b)) || (FALSE_STRINGS.has(a) && TRUE_STRINGS.has(b));
}

function listValues(distinct: readonly string[]): string {
  const firstFive = [...distinct].sort().slice(0, 5).join(', ');
  return distinct.length > 5 ? `${firstFive}, ...` : firstFive;
}

/** Returns why a column looks like a row id (every row has its own key-like value), or undefined when it does not. */
function looksLikeId(stats: ColumnStats): string | undefined {
  if (stats.values.length !== stats.rows || stats.distinct.length !== stats.rows) {
    return undefined;
  }
  const namedLikeId = ID_NAME.test(stats.name);
  if (stats.values.every(isInteger)) {
    const numbers = stats.values.map(Number);
    // Ids count up with few gaps; an all-distinct integer measurement spreads wider.
    const dense = Math.max(...numbers) - Math.min(...numbers) + 1 <= 2 * stats.rows;
    return namedLikeId || (stats.rows >= 20 && dense) ? `every one of the ${stats.rows} rows has its own integer` : undefined;
  }
  if (stats.values.every(isNumber)) {
    return undefined;
  }
  const keyLike = stats.values.every((value) => value.length <= MAX_ID_LENGTH && !/\s/.test(value));
  return keyLike && (namedLikeId || stats.rows >= 20) ? `every one of the ${stats.rows} rows has its own short string without spaces` : undefined;
}

/** Infers how to use one column; `isTarget` columns are never skipped and never text. */
function inferColumn(stats: ColumnStats, isTarget: boolean): Inference {
  const { distinct, values } = stats;
  if (values.length === 0) {
    return isTarget ? { kind: 'feature', type: 'category', reason: 'the column is empty, so nothing could be inferred' } : { kind: 'skip', reason: 'skipped: the column is empty' };
  }
  if (!isTarget && stats.name.toLowerCase() === 'split' && distinct.every((value) => FIXED_SPLIT_VALUES[value.toLowerCase()] !== undefined)) {
    return { kind: 'split', reason: `used as the fixed split column (values ${listValues(distinct)}), so preprocessing.split is {type: fixed}` };
  }
  if (!isTarget) {
    const idReason = looksLikeId(stats);
    if (idReason !== undefined) {
      return { kind: 'skip', reason: `skipped as a row id: ${idReason}` };
    }
    if (distinct.length === 1) {
      return { kind: 'skip', reason: `skipped: every row holds "${distinct[0]}", so it cannot help predict anything` };
    }
  }

  if (looksBoolean(distinct)) {
    return { kind: 'feature', type: 'binary', reason: `binary: two values that read as booleans (${listValues(distinct)})` };
  }
  if (values.every(isNumber)) {
    const codes = values.every(isInteger) && distinct.length <= MAX_INTEGER_CODES && distinct.length < values.length;
    return codes
      ? { kind: 'feature', type: 'category', reason: `category: ${distinct.length} repeated integer codes (${listValues(distinct)})` }
      : { kind: 'feature', type: 'number', reason: `number: numeric, with ${distinct.length} distinct values` };
  }

  const averageLength = Math.round(meanLength(values));
  const withSpaces = values.filter((value) => /\s/.test(value)).length;
  const mostlyDistinct = distinct.length > values.length / 2;
  const textLike = averageLength > MIN_TEXT_LENGTH || (withSpaces > values.length / 2 && mostlyDistinct);
  if (isTarget) {
    const hint = textLike ? ' It looks like free text; ft predicts categories, binary values and numbers, not text.' : '';
    return { kind: 'feature', type: 'category', reason: `category: ${distinct.length} distinct values (${listValues(distinct)}).${hint}` };
  }
  if (textLike) {
    return { kind: 'feature', type: 'text', reason: `text: ${distinct.length} distinct values with a mean length of ${averageLength} characters` };
  }
  if (distinct.length <= categoryLimit(stats.rows)) {
    return { kind: 'feature', type: 'category', reason: `category: ${distinct.length} distinct short values (${listValues(distinct)})` };
  }
  return {
    kind: 'feature',
    type: 'text',
    reason: `text: ${distinct.length} distinct values are too many for a category (at most ${categoryLimit(stats.rows)} for ${stats.rows} rows); make it a category if the values are labels`,
  };
}

/** Returns `file` relative to `folder` with forward slashes, as a config writes paths. */
function relativePath(folder: string, file: string): string {
  const relative = path.relative(folder, file);
  return path.isAbsolute(relative) ? relative : relative.split(path.sep).join('/');
}

function inputFeature(name: string, type: FeatureType): Record<string, unknown> {
  if (type === 'text') {
    return { name, type, encoder: { type: 'universal_sentence_encoder', trainable: false }, preprocessing: { cache_encoder_embeddings: true } };
  }
  return { name, type };
}

const FROZEN_LEARNING_RATE_COMMENT = [
  ' The text encoders are frozen and their embeddings cached, so only the small head trains;',
  ' it takes far larger steps than the 2e-5 that `auto` picks for frozen pretrained encoders.',
].join('\n');

/** Writes `config` as YAML with a header and a comment on the learning rate. */
function toYaml(config: FtConfigInput, datasetPath: string, configPath: string, hasText: boolean): string {
  const document = new Document(config);
  document.commentBefore = [
    ` Starting config written by ft init-config from ${datasetPath}.`,
    ' Check the inferred feature types, then train with',
    `   npx ft train --config ${configPath}`,
  ].join('\n');

  if (isMap(document.contents)) {
    const sections = document.contents.items as Pair[];
    sections.slice(1).forEach((pair) => {
      if (isScalar(pair.key)) {
        pair.key.spaceBefore = true;
      }
    });
  }
  const trainer = document.get('trainer', true) as YAMLMap | undefined;
  const learningRate = trainer?.items.find((pair) => isScalar(pair.key) && pair.key.value === 'learning_rate');
  if (learningRate !== undefined && isScalar(learningRate.key)) {
    learningRate.key.commentBefore = hasText ? FROZEN_LEARNING_RATE_COMMENT : ' auto picks 1e-3 when there is no text input.';
  }
  return document.toString({ lineWidth: 0 });
}

/**
 * Reads a CSV file and writes a starting config: a feature per useful column with an inferred
 * type, the target column(s) as outputs and trainer settings for a frozen text encoder. Id-like
 * and constant columns are skipped, and a `split` column becomes the fixed split. Rejects a
 * target that is not a column of the file, and data that leaves no input column.
 */
export async function initConfig(request: InitConfigRequest): Promise<InitConfigResult> {
  const datasetFile = path.resolve(request.dataset);
  const configFile = path.resolve(request.configPath ?? 'config.yaml');
  const table = await readCsv(datasetFile);
  const targets = typeof request.target === 'string' ? [request.target] : [...request.target];

  if (targets.length === 0) {
    throw new FtError('CONFIG_INVALID', `No target column given; name one of the columns of ${datasetFile}: ${table.columns.join(', ')}.`);
  }
  for (const target of targets) {
    if (!table.columns.includes(target)) {
      throw new FtError('CONFIG_INVALID', `Target column "${target}" not found in ${datasetFile}; its columns are ${table.columns.join(', ')}.`);
    }
  }

  const notes: string[] = [];
  const inputs: Record<string, unknown>[] = [];
  const outputs: Record<string, unknown>[] = [];
  let splitColumn: string | undefined;
  for (const column of table.columns) {
    const isTarget = targets.includes(column);
    const inference = inferColumn(columnStats(column, table.rows), isTarget);
    notes.push(`${column}: ${isTarget && inference.kind === 'feature' ? `output, ${inference.reason}` : inference.reason}.`);
    if (inference.kind === 'split') {
      splitColumn = column;
    } else if (inference.kind === 'feature' && isTarget) {
      outputs.push({ name: column, type: inference.type === 'text' ? 'category' : inference.type });
    } else if (inference.kind === 'feature') {
      inputs.push(inputFeature(column, inference.type));
    }
  }
  if (inputs.length === 0) {
    throw new FtError('CONFIG_INVALID', `No input column left in ${datasetFile} besides the target; every other column was skipped:\n  ${notes.join('\n  ')}`);
  }

  const hasText = inputs.some((feature) => feature.type === 'text');
  const datasetPath = relativePath(path.dirname(configFile), datasetFile);
  const config: Record<string, unknown> = { dataset: datasetPath, input_features: inputs, output_features: outputs };
  if (splitColumn !== undefined) {
    config.preprocessing = { split: splitColumn === 'split' ? { type: 'fixed' } : { type: 'fixed', column: splitColumn } };
  }
  config.trainer = { epochs: 10, batch_size: 32, learning_rate: hasText ? 0.001 : 'auto' };

  // Catches an inference that produced a config ft would reject, before the user sees it.
  validateConfig(config);
  const configInput = config as FtConfigInput;
  return { config: configInput, yaml: toYaml(configInput, datasetPath, relativePath(process.cwd(), configFile), hasText), notes };
}
