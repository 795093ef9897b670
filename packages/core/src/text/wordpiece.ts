/**
 * BERT WordPiece tokenizers loaded from a Hugging Face model folder.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';

import { FtError } from '../errors.js';
import { createHfTextTokenizer, type AddedTokenJson, type TokenizerJson } from './hf-text-tokenizer.js';
import type { TextTokenizer } from './tokenizer.js';

export interface BertTokenizerOptions {
  /**
   * Lowercases text (and strips accents unless `tokenizer_config.json` sets `strip_accents`).
   * Overrides `do_lower_case` of `tokenizer_config.json`; the default is true.
   */
  readonly lowercase?: boolean;
}

/** Settings of a BERT tokenizer, with the meaning of the same keys in `tokenizer_config.json`. */
export interface BertTokenizerSettings {
  readonly lowercase: boolean;
  /** `null` strips accents exactly when lowercasing, as BertTokenizer does. */
  readonly stripAccents: boolean | null;
  readonly tokenizeChineseChars: boolean;
  readonly unkToken: string;
  readonly clsToken: string;
  readonly sepToken: string;
  readonly padToken: string;
  readonly maskToken: string;
}

export const DEFAULT_BERT_TOKENIZER_SETTINGS: BertTokenizerSettings = {
  lowercase: true,
  stripAccents: null,
  tokenizeChineseChars: true,
  unkToken: '[UNK]',
  clsToken: '[CLS]',
  sepToken: '[SEP]',
  padToken: '[PAD]',
  maskToken: '[MASK]',
};

/**
 * Loads the tokenizer of a BERT model folder.
 *
 * With `tokenizer.json` the file is used as it is (with `tokenizer_config.json` if present).
 * Otherwise the tokenizer is built from `vocab.txt` as Hugging Face's converter builds one
 * for BertTokenizer, reading `do_lower_case`, `strip_accents`, `tokenize_chinese_chars` and
 * the special token names from `tokenizer_config.json`.
 *
 * NOTE: `@huggingface/tokenizers` 0.2 differs from Hugging Face's Rust and Python tokenizers
 * on two rare inputs. It keeps unassigned code points (category Cn), which they remove, and
 * it does not split CJK characters outside the BMP (U+20000 and above) into separate words.
 */
export async function loadBertTokenizer(folder: string, options: BertTokenizerOptions = {}): Promise<TextTokenizer> {
  await requireFolder(folder);

  const configPath = join(folder, 'tokenizer_config.json');
  const tokenizerConfig = (await fileExists(configPath)) ? await readJsonObject(configPath) : {};

  const tokenizerJsonPath = join(folder, 'tokenizer.json');
  if (await fileExists(tokenizerJsonPath)) {
    const tokenizerJson = applyLowercaseOption(await readTokenizerJson(tokenizerJsonPath), options, tokenizerJsonPath);
    return createHfTextTokenizer({
      kind: 'wordpiece',
      tokenizerJson,
      tokenizerConfig,
      padTokenId: findPadTokenId(tokenizerJson, tokenizerConfig, tokenizerJsonPath),
      options: { ...options },
      source: tokenizerJsonPath,
    });
  }

  const vocabPath = join(folder, 'vocab.txt');
  if (!(await fileExists(vocabPath))) {
    throw new FtError('FILE_NOT_FOUND', `${folder}: no tokenizer found; expected tokenizer.json or vocab.txt in the folder.`);
  }
  const settings = readBertTokenizerSettings(tokenizerConfig, options, configPath);
  const tokenizerJson = buildBertTokenizerJson(parseVocabTxt(await readFile(vocabPath, 'utf8')), settings, vocabPath);
  return createHfTextTokenizer({
    kind: 'wordpiece',
    tokenizerJson,
    // The settings from tokenizer_config.json are already in tokenizerJson.
    tokenizerConfig: {},
    padTokenId: tokenIdOrThrow(tokenizerJson, settings.padToken, vocabPath),
    options: { ...options },
    source: vocabPath,
  });
}

/** Splits `vocab.txt` into tokens: one per line, the line number is the id. */
export function parseVocabTxt(text: string): string[] {
  const tokens = text.split(/\r?\n/);
  if (tokens.at(-1) === '') {
    tokens.pop();
  }
  return tokens;
}

/**
 * Builds the `tokenizer.json` definition that Hugging Face's BertConverter
 * (transformers `convert_slow_tokenizer.py`) produces for a BertTokenizer with this vocabulary:
 * BertNormalizer, BertPreTokenizer, WordPiece with `##` continuations, `[CLS] $A [SEP]`,
 * and the special tokens as added tokens that are matched before normalization.
 */
export function buildBertTokenizerJson(
  vocab: readonly string[],
  settings: Partial<BertTokenizerSettings> = {},
  source = 'vocab.txt',
): TokenizerJson {
  const resolved = { ...DEFAULT_BERT_TOKENIZER_SETTINGS, ...settings };

  // As in the Python tokenizer, a token listed twice keeps the id of its last line.
  const vocabIds: Record<string, number> = {};
  vocab.forEach((token, id) => {
    vocabIds[token] = id;
  });

  for (const required of [resolved.unkToken, resolved.clsToken, resolved.sepToken]) {
    if (!(required in vocabIds)) {
      throw new FtError('CHECKPOINT_INVALID', `${source}: the vocabulary has no ${JSON.stringify(required)} token, which a BERT tokenizer needs.`);
    }
  }

  const specialTokens = [resolved.padToken, resolved.unkToken, resolved.clsToken, resolved.sepToken, resolved.maskToken];
  const addedTokens: AddedTokenJson[] = [...new Set(specialTokens)]
    .filter((token) => token in vocabIds)
    .map((token) => ({
      id: vocabIds[token] as number,
      content: token,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    }))
    .sort((left, right) => left.id - right.id);

  const clsId = vocabIds[resolved.clsToken] as number;
  const sepId = vocabIds[resolved.sepToken] as number;
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: {
      type: 'BertNormalizer',
      clean_text: true,
      handle_chinese_chars: resolved.tokenizeChineseChars,
      strip_accents: resolved.stripAccents,
      lowercase: resolved.lowercase,
    },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [
        { SpecialToken: { id: resolved.clsToken, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: resolved.sepToken, type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: resolved.clsToken, type_id: 0 } },
        { Sequence: { id: 'A', type_id: 0 } },
        { SpecialToken: { id: resolved.sepToken, type_id: 0 } },
        { Sequence: { id: 'B', type_id: 1 } },
        { SpecialToken: { id: resolved.sepToken, type_id: 1 } },
      ],
      special_tokens: {
        [resolved.clsToken]: { id: resolved.clsToken, ids: [clsId], tokens: [resolved.clsToken] },
        [resolved.sepToken]: { id: resolved.sepToken, ids: [sepId], tokens: [resolved.sepToken] },
      },
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece',
      unk_token: resolved.unkToken,
      continuing_subword_prefix: '##',
      max_input_chars_per_word: 100,
      vocab: vocabIds,
    },
  };
}

/** Reads the BertTokenizer settings of `tokenizer_config.json`; `options.lowercase` wins over `do_lower_case`. */
export function readBertTokenizerSettings(
  tokenizerConfig: Record<string, unknown>,
  options: BertTokenizerOptions,
  source: string,
): BertTokenizerSettings {
  const defaults = DEFAULT_BERT_TOKENIZER_SETTINGS;
  const lowercase = options.lowercase ?? readBoolean(tokenizerConfig, 'do_lower_case', source) ?? defaults.lowercase;

  const stripAccents = tokenizerConfig.strip_accents ?? null;
  if (stripAccents !== null && typeof stripAccents !== 'boolean') {
    throw new FtError('CHECKPOINT_INVALID', `${source}: strip_accents is ${JSON.stringify(stripAccents)}; expected true, false or null.`);
  }

  return {
    lowercase,
    stripAccents,
    tokenizeChineseChars: readBoolean(tokenizerConfig, 'tokenize_chinese_chars', source) ?? defaults.tokenizeChineseChars,
    unkToken: readTokenName(tokenizerConfig, 'unk_token', source) ?? defaults.unkToken,
    clsToken: readTokenName(tokenizerConfig, 'cls_token', source) ?? defaults.clsToken,
    sepToken: readTokenName(tokenizerConfig, 'sep_token', source) ?? defaults.sepToken,
    padToken: readTokenName(tokenizerConfig, 'pad_token', source) ?? defaults.padToken,
    maskToken: readTokenName(tokenizerConfig, 'mask_token', source) ?? defaults.maskToken,
  };
}

function applyLowercaseOption(tokenizerJson: TokenizerJson, options: BertTokenizerOptions, source: string): TokenizerJson {
  if (options.lowercase === undefined) {
    return tokenizerJson;
  }
  const normalizer = tokenizerJson.normalizer;
  if (normalizer?.type !== 'BertNormalizer') {
    throw new FtError('CONFIG_INVALID', 
      `${source}: the lowercase option only applies to a BertNormalizer, but the normalizer is ${JSON.stringify(normalizer?.type ?? null)}. Remove the option or edit tokenizer.json.`,
    );
  }
  return { ...tokenizerJson, normalizer: { ...normalizer, lowercase: options.lowercase } };
}

async function readTokenizerJson(path: string): Promise<TokenizerJson> {
  const json = await readJsonObject(path);
  const model = json.model as Record<string, unknown> | undefined;
  if (model === undefined || model === null || typeof model !== 'object') {
    throw new FtError('CHECKPOINT_INVALID', `${path}: invalid tokenizer.json, the "model" object is missing.`);
  }
  if (model.type !== undefined && model.type !== 'WordPiece') {
    throw new FtError('UNSUPPORTED', `${path}: the tokenizer model is ${JSON.stringify(model.type)}, but a BERT tokenizer uses WordPiece.`);
  }

  // The library requires these keys to be present, and HF writes null for absent components.
  return {
    normalizer: null,
    pre_tokenizer: null,
    post_processor: null,
    decoder: null,
    ...json,
    added_tokens: Array.isArray(json.added_tokens) ? (json.added_tokens as AddedTokenJson[]) : [],
    model: model as TokenizerJson['model'],
  };
}

/** Takes the pad id from `padding.pad_id`, else the `pad_token` of `tokenizer_config.json`, else `[PAD]`. */
function findPadTokenId(tokenizerJson: TokenizerJson, tokenizerConfig: Record<string, unknown>, source: string): number {
  const padId = tokenizerJson.padding?.pad_id;
  if (typeof padId === 'number') {
    return padId;
  }
  const padToken = readTokenName(tokenizerConfig, 'pad_token', source) ?? DEFAULT_BERT_TOKENIZER_SETTINGS.padToken;
  return tokenIdOrThrow(tokenizerJson, padToken, source);
}

function tokenIdOrThrow(tokenizerJson: TokenizerJson, token: string, source: string): number {
  const added = tokenizerJson.added_tokens.find((candidate) => candidate.content === token);
  if (added !== undefined) {
    return added.id;
  }
  const id = (tokenizerJson.model.vocab as Record<string, number>)[token];
  if (typeof id !== 'number') {
    throw new FtError('CHECKPOINT_INVALID', `${source}: the vocabulary has no pad token ${JSON.stringify(token)}; set pad_token in tokenizer_config.json to a token it has.`);
  }
  return id;
}

function readBoolean(config: Record<string, unknown>, key: string, source: string): boolean | undefined {
  const value = config[key];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value !== 'boolean') {
    throw new FtError('CHECKPOINT_INVALID', `${source}: ${key} is ${JSON.stringify(value)}; expected true or false.`);
  }
  return value;
}

/** Reads a special token, written either as a string or as an AddedToken object with `content`. */
function readTokenName(config: Record<string, unknown>, key: string, source: string): string | undefined {
  const value = config[key];
  if (value === undefined || value === null) {
    return undefined;
  }
  if (typeof value === 'string') {
    return value;
  }
  if (typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  throw new FtError('CHECKPOINT_INVALID', `${source}: ${key} is ${JSON.stringify(value)}; expected a string or an object with "content".`);
}

async function requireFolder(folder: string): Promise<void> {
  const info = await stat(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new FtError('FILE_NOT_FOUND', `Tokenizer folder not found: ${folder}`);
    }
    throw error;
  });
  if (!info.isDirectory()) {
    throw new FtError('FILE_NOT_FOUND', `${folder} is not a folder; pass the model folder that contains tokenizer.json or vocab.txt.`);
  }
}

async function fileExists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return false;
    }
    throw error;
  }
}

async function readJsonObject(path: string): Promise<Record<string, unknown>> {
  const text = await readFile(path, 'utf8');
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new FtError('CHECKPOINT_INVALID', `${path}: invalid JSON (${(error as Error).message}).`);
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new FtError('CHECKPOINT_INVALID', `${path}: expected a JSON object.`);
  }
  return json as Record<string, unknown>;
}
