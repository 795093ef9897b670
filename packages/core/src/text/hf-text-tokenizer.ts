/**
 * Wraps a Hugging Face `tokenizer.json` definition, run by `@huggingface/tokenizers`, as a TextTokenizer.
 */
import { createHash } from 'node:crypto';

import { Tokenizer } from '@huggingface/tokenizers';

import { FtError } from '../errors.js';
import type { TextTokenizer, TokenizedBatch } from './tokenizer.js';

/** The parts of a `tokenizer.json` file that ft reads; the library reads the rest. */
export interface TokenizerJson {
  readonly added_tokens: readonly AddedTokenJson[];
  readonly normalizer: Record<string, unknown> | null;
  readonly pre_tokenizer: Record<string, unknown> | null;
  readonly post_processor: Record<string, unknown> | null;
  readonly decoder: Record<string, unknown> | null;
  readonly model: { readonly type?: string; readonly vocab: unknown; readonly [key: string]: unknown };
  readonly padding?: { readonly pad_id?: number } | null;
  readonly [key: string]: unknown;
}

export interface AddedTokenJson {
  readonly id: number;
  readonly content: string;
  readonly single_word: boolean;
  readonly lstrip: boolean;
  readonly rstrip: boolean;
  readonly normalized: boolean;
  readonly special: boolean;
}

export interface HfTextTokenizerSettings {
  /** Value of `TextTokenizer.kind`, for example `wordpiece`. */
  readonly kind: string;
  readonly tokenizerJson: TokenizerJson;
  /** Contents of `tokenizer_config.json`, or `{}`. */
  readonly tokenizerConfig: Record<string, unknown>;
  readonly padTokenId: number;
  /** Loader options that change the ids; they go into the fingerprint. */
  readonly options: Record<string, unknown>;
  /** File or folder named in error messages. */
  readonly source: string;
}

/** `tokenizer_config.json` keys that `@huggingface/tokenizers` 0.2 reads when it encodes text. */
const ENCODING_CONFIG_KEYS = ['remove_space', 'do_lowercase_and_remove_accent', 'eos_token'];

/**
 * Creates a TextTokenizer that runs `tokenizerJson` with `@huggingface/tokenizers`.
 *
 * `encodeBatch` encodes each text without special tokens, truncates it so that the special
 * tokens of the post-processor's single-sequence template still fit, then adds them itself.
 */
export function createHfTextTokenizer(settings: HfTextTokenizerSettings): TextTokenizer {
  const { tokenizerJson, tokenizerConfig, padTokenId, source } = settings;
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const { prefixIds, suffixIds } = readSpecialTokenTemplate(tokenizerJson.post_processor, source);
  const specialCount = prefixIds.length + suffixIds.length;

  const encodingConfig: Record<string, unknown> = {};
  for (const key of ENCODING_CONFIG_KEYS.filter((candidate) => candidate in tokenizerConfig)) {
    encodingConfig[key] = tokenizerConfig[key];
  }
  const fingerprint = createHash('sha256')
    .update(JSON.stringify({ kind: settings.kind, tokenizer: tokenizerJson, config: encodingConfig, options: settings.options }))
    .digest('hex');

  function encodeContent(text: string): number[] {
    return tokenizer.encode(text, { add_special_tokens: false }).ids;
  }

  function encodeBatch(texts: readonly string[], maxSequenceLength: number): TokenizedBatch {
    if (!Number.isInteger(maxSequenceLength) || maxSequenceLength <= specialCount) {
      throw new RangeError(
        `encodeBatch: maxSequenceLength must be an integer above ${specialCount} (the special tokens this tokenizer adds), got ${maxSequenceLength}.`,
      );
    }
    const contentLength = maxSequenceLength - specialCount;

    const rows: number[][] = new Array<number[]>(texts.length);
    let longest = 0;
    for (let row = 0; row < texts.length; row++) {
      const text = texts[row];
      if (typeof text !== 'string') {
        throw new TypeError(`encodeBatch: texts[${row}] is ${text === null ? 'null' : typeof text}, expected a string.`);
      }
      const ids = encodeContent(text);
      if (ids.length > contentLength) {
        ids.length = contentLength;
      }
      rows[row] = ids;
      longest = Math.max(longest, ids.length + specialCount);
    }

    // A batch of empty texts without special tokens still gets one padding column, so backends never see a zero-length axis.
    const sequenceLength = texts.length > 0 ? Math.max(longest, 1) : 0;
    const ids = new Int32Array(texts.length * sequenceLength).fill(padTokenId);
    const attentionMask = new Int32Array(texts.length * sequenceLength);
    for (let row = 0; row < texts.length; row++) {
      let position = row * sequenceLength;
      const start = position;
      for (const id of prefixIds) ids[position++] = id;
      for (const id of rows[row] as number[]) ids[position++] = id;
      for (const id of suffixIds) ids[position++] = id;
      attentionMask.fill(1, start, position);
    }
    return { ids, attentionMask, rows: texts.length, sequenceLength };
  }

  return {
    kind: settings.kind,
    vocabSize: computeVocabSize(tokenizerJson),
    padTokenId,
    fingerprint,
    encodeBatch,
    tokenize: (text: string) => tokenizer.tokenize(text, { add_special_tokens: true }),
  };
}

/** Returns the ids that the post-processor puts before and after a single sequence. */
function readSpecialTokenTemplate(
  postProcessor: Record<string, unknown> | null,
  source: string,
): { prefixIds: number[]; suffixIds: number[] } {
  if (postProcessor === null) {
    return { prefixIds: [], suffixIds: [] };
  }

  const type = postProcessor.type;
  if (type === 'BertProcessing' || type === 'RobertaProcessing') {
    const cls = postProcessor.cls as [string, number];
    const sep = postProcessor.sep as [string, number];
    return { prefixIds: [cls[1]], suffixIds: [sep[1]] };
  }
  if (type !== 'TemplateProcessing') {
    throw new FtError('UNSUPPORTED', 
      `${source}: post_processor type ${JSON.stringify(type)} is not supported; ft reads TemplateProcessing, BertProcessing, RobertaProcessing or null.`,
    );
  }

  const single = postProcessor.single as Array<Record<string, { id: string }>>;
  const specialTokens = (postProcessor.special_tokens ?? {}) as Record<string, { ids: number[] }>;
  const prefixIds: number[] = [];
  const suffixIds: number[] = [];
  let sequenceSeen = false;
  for (const item of single) {
    if (item.Sequence !== undefined) {
      if (sequenceSeen) {
        throw new FtError('CHECKPOINT_INVALID', `${source}: the TemplateProcessing single template contains more than one sequence.`);
      }
      sequenceSeen = true;
      continue;
    }

    const name = item.SpecialToken?.id;
    const special = name === undefined ? undefined : specialTokens[name];
    if (special === undefined) {
      throw new FtError('CHECKPOINT_INVALID', `${source}: the TemplateProcessing single template uses special token ${JSON.stringify(name)}, which special_tokens does not define.`);
    }
    (sequenceSeen ? suffixIds : prefixIds).push(...special.ids);
  }
  if (!sequenceSeen) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: the TemplateProcessing single template has no $A sequence.`);
  }
  return { prefixIds, suffixIds };
}

/** Returns one more than the largest id of the model vocabulary and the added tokens. */
function computeVocabSize(tokenizerJson: TokenizerJson): number {
  const vocab = tokenizerJson.model.vocab;
  let maxId = -1;
  if (Array.isArray(vocab)) {
    maxId = vocab.length - 1;
  } else if (vocab !== null && typeof vocab === 'object') {
    for (const id of Object.values(vocab as Record<string, number>)) {
      maxId = Math.max(maxId, id);
    }
  }
  for (const token of tokenizerJson.added_tokens) {
    maxId = Math.max(maxId, token.id);
  }
  return maxId + 1;
}
