import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { TextTokenizer } from './tokenizer.js';
import { buildBertTokenizerJson, loadBertTokenizer, parseVocabTxt } from './wordpiece.js';

const BERT_BASE_UNCASED_FOLDER = fileURLToPath(new URL('../../test/fixtures/bert-base-uncased-vocab/', import.meta.url));

/** The vocabulary of BertTokenizationTest in Hugging Face transformers (`tests/models/bert/test_tokenization_bert.py`). */
const TRANSFORMERS_TEST_VOCAB = [
  '[UNK]', '[CLS]', '[SEP]', '[PAD]', '[MASK]', 'want', '##want', '##ed', 'wa', 'un', 'runn', '##ing', ',', 'low', 'lowest',
];

let bertBaseUncased: TextTokenizer;
let folder: string;

beforeAll(async () => {
  bertBaseUncased = await loadBertTokenizer(BERT_BASE_UNCASED_FOLDER);
});

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'ft-wordpiece-'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

function encodeOne(tokenizer: TextTokenizer, text: string): number[] {
  return [...tokenizer.encodeBatch([text], 512).ids];
}

async function writeVocabFolder(tokens: readonly string[], tokenizerConfig?: Record<string, unknown>): Promise<string> {
  await writeFile(join(folder, 'vocab.txt'), tokens.join('\n') + '\n');
  if (tokenizerConfig !== undefined) {
    await writeFile(join(folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig));
  }
  return folder;
}

describe('loadBertTokenizer on bert-base-uncased', () => {
  it('encodes Hello, World!', () => {
    expect(bertBaseUncased.tokenize('Hello, World!')).toEqual(['[CLS]', 'hello', ',', 'world', '!', '[SEP]']);
    expect(encodeOne(bertBaseUncased, 'Hello, World!')).toEqual([101, 7592, 1010, 2088, 999, 102]);
  });

  it('splits unaffable greedily', () => {
    // Greedy longest-match-first takes "una" because this vocabulary has it (id 14477).
    expect(bertBaseUncased.tokenize('unaffable')).toEqual(['[CLS]', 'una', '##ffa', '##ble', '[SEP]']);
    expect(encodeOne(bertBaseUncased, 'unaffable')).toEqual([101, 14477, 20961, 3468, 102]);
  });

  it('lowercases and strips accents', () => {
    expect(bertBaseUncased.tokenize('UNwant\u00E9d,running')).toEqual(['[CLS]', 'unwanted', ',', 'running', '[SEP]']);
    expect(bertBaseUncased.tokenize('na\u00EFve caf\u00E9 \u00DCn\u00EFc\u00F6d\u00E9')).toEqual(['[CLS]', 'naive', 'cafe', 'unicode', '[SEP]']);
  });

  it('splits Chinese characters', () => {
    expect(bertBaseUncased.tokenize('ah\u535A\u63A8zz')).toEqual(['[CLS]', 'ah', '\u535A', '[UNK]', 'z', '##z', '[SEP]']);
    expect(bertBaseUncased.tokenize('\u4E2D\u56FD\u4EBA')).toEqual(['[CLS]', '\u4E2D', '\u56FD', '\u4EBA', '[SEP]']);
  });

  it('matches the special tokens in text', () => {
    expect(bertBaseUncased.tokenize('a [MASK] b')).toEqual(['[CLS]', 'a', '[MASK]', 'b', '[SEP]']);
  });

  // Expected ids produced by Hugging Face's tokenizer for bert-base-uncased, as recorded in
  // the tokenizer tests of huggingface/transformers.js (tests/models/bert/test_tokenization_bert.js).
  const huggingFaceCases: Array<[string, number[]]> = [
    ['How are you doing?', [101, 2129, 2024, 2017, 2725, 1029, 102]],
    ["You should've done this", [101, 2017, 2323, 1005, 2310, 2589, 2023, 102]],
    ['The company was founded in 2016.', [101, 1996, 2194, 2001, 2631, 1999, 2355, 1012, 102]],
    ["A\n'll !!to?'d''d of, can't.", [101, 1037, 1005, 2222, 999, 999, 2000, 1029, 1005, 1040, 1005, 1005, 1040, 1997, 1010, 2064, 1005, 1056, 1012, 102]],
    ['def main():\n\tpass', [101, 13366, 2364, 1006, 1007, 1024, 3413, 102]],
    ['let a = obj.toString();\ntoString();', [101, 2292, 1037, 1027, 27885, 3501, 1012, 2000, 3367, 4892, 1006, 1007, 1025, 2000, 3367, 4892, 1006, 1007, 1025, 102]],
    ['This\n\nis\na\ntest.', [101, 2023, 2003, 1037, 3231, 1012, 102]],
    ['UNwant\u00E9d,running', [101, 18162, 1010, 2770, 102]],
    ['1\u00002\uFFFD3', [101, 13138, 102]],
    ['\u751F\u6D3B\u7684\u771F\u8C1B\u662F', [101, 1910, 100, 1916, 1921, 100, 100, 102]],
    ['   leading space', [101, 2877, 2686, 102]],
    ['trailing space   ', [101, 12542, 2686, 102]],
    ['Hi  Hello', [101, 7632, 7592, 102]],
    ['test $1 R2 #3 \u20AC4 \u00A35 \u00A56 \u20A37 \u20B98 \u20B19 test', [101, 3231, 1002, 1015, 1054, 2475, 1001, 1017, 1574, 2549, 27813, 1071, 2575, 100, 1576, 2620, 1575, 2683, 3231, 102]],
    ['I bought an apple for $1.00 at the store.', [101, 1045, 4149, 2019, 6207, 2005, 1002, 1015, 1012, 4002, 2012, 1996, 3573, 1012, 102]],
    ['you\u2026  ', [101, 2017, 1529, 102]],
    ['you\u2026\u00A0\u00A0you\u2026\u00A0\u00A0', [101, 2017, 1529, 2017, 1529, 102]],
    ['weird \uFF5E edge \uFF5E case', [101, 6881, 1995, 3341, 1995, 2553, 102]],
    ['\u2581This \u2581is \u2581a \u2581test \u2581.', [101, 100, 100, 100, 100, 100, 1012, 102]],
    ['ah\u535A\u63A8zz', [101, 6289, 1786, 100, 1062, 2480, 102]],
    ['H\u00E9llo', [101, 7592, 102]],
    [' \tHeLLo!how  \n Are yoU?  ', [101, 7592, 999, 2129, 2024, 2017, 1029, 102]],
    [' \tH\u00E4LLo!how  \n Are yoU?  ', [101, 2534, 2080, 999, 2129, 2024, 2017, 1029, 102]],
    [' \n\t ', [101, 102]],
  ];

  it.each(huggingFaceCases)('encodes %j like Hugging Face', (text, expected) => {
    expect(encodeOne(bertBaseUncased, text)).toEqual(expected);
  });

  it('reports vocabulary size, pad id and kind', () => {
    expect(bertBaseUncased.vocabSize).toBe(30522);
    expect(bertBaseUncased.padTokenId).toBe(0);
    expect(bertBaseUncased.kind).toBe('wordpiece');
  });
});

describe('known differences from Hugging Face', () => {
  // Hugging Face's BertNormalizer removes unassigned code points (category Cn), giving "abcd" -> abc ##d.
  it('keeps an unassigned code point', () => {
    expect(bertBaseUncased.tokenize('ab\u0378cd')).toEqual(['[CLS]', '[UNK]', '[SEP]']);
  });

  // Hugging Face splits CJK characters of all planes, giving a [UNK] b.
  it('keeps an astral CJK character inside a word', () => {
    expect(bertBaseUncased.tokenize('a\u{20000}b')).toEqual(['[CLS]', '[UNK]', '[SEP]']);
  });
});

describe('encodeBatch', () => {
  it('pads to the longest row with id 0 and mask 0', () => {
    const batch = bertBaseUncased.encodeBatch(['hello world', 'hello', ''], 16);

    expect(batch.rows).toBe(3);
    expect(batch.sequenceLength).toBe(4);
    expect([...batch.ids]).toEqual([101, 7592, 2088, 102, 101, 7592, 102, 0, 101, 102, 0, 0]);
    expect([...batch.attentionMask]).toEqual([1, 1, 1, 1, 1, 1, 1, 0, 1, 1, 0, 0]);
  });

  it('truncates and keeps [SEP] last', () => {
    const batch = bertBaseUncased.encodeBatch(['how are you doing today', 'hi'], 5);

    expect(batch.sequenceLength).toBe(5);
    expect([...batch.ids.subarray(0, 5)]).toEqual([101, 2129, 2024, 2017, 102]);
    expect([...batch.ids.subarray(5, 10)]).toEqual([101, 7632, 102, 0, 0]);
    expect([...batch.attentionMask]).toEqual([1, 1, 1, 1, 1, 1, 1, 1, 0, 0]);
  });

  it('returns an empty batch for no texts', () => {
    const batch = bertBaseUncased.encodeBatch([], 8);
    expect(batch.rows).toBe(0);
    expect(batch.ids.length).toBe(0);
  });

  it('rejects a maximum length without room for text', () => {
    expect(() => bertBaseUncased.encodeBatch(['hello'], 2)).toThrow(/maxSequenceLength must be an integer above 2/);
    expect(() => bertBaseUncased.encodeBatch(['hello'], 4.5)).toThrow(/got 4.5/);
  });

  it('rejects a text that is not a string', () => {
    expect(() => bertBaseUncased.encodeBatch(['ok', undefined as unknown as string], 8)).toThrow(/texts\[1\] is undefined, expected a string/);
  });

  it('encodes 10k sentences within seconds', async () => {
    const csv = await readFile(fileURLToPath(new URL('../../test/fixtures/sst2-sample.csv', import.meta.url)), 'utf8');
    const lines = csv.split('\n').slice(1).filter((line) => line.length > 0);
    const texts = Array.from({ length: 10_000 }, (_, index) => lines[index % lines.length] as string);

    const started = performance.now();
    const batch = bertBaseUncased.encodeBatch(texts, 128);
    const elapsed = performance.now() - started;

    expect(batch.rows).toBe(10_000);
    expect(elapsed).toBeLessThan(10_000);
  });
});

describe('loadBertTokenizer settings', () => {
  it('tokenizes like the transformers test vocabulary', async () => {
    const tokenizer = await loadBertTokenizer(await writeVocabFolder(TRANSFORMERS_TEST_VOCAB));

    expect(tokenizer.tokenize('UNwant\u00E9d,running')).toEqual(['[CLS]', 'un', '##want', '##ed', ',', 'runn', '##ing', '[SEP]']);
    expect(encodeOne(tokenizer, 'UNwant\u00E9d,running')).toEqual([1, 9, 6, 7, 12, 10, 11, 2]);
    expect(tokenizer.tokenize('unwantedX running')).toEqual(['[CLS]', '[UNK]', 'runn', '##ing', '[SEP]']);
    expect(tokenizer.padTokenId).toBe(3);
  });

  it('keeps case with lowercase false', async () => {
    const tokenizer = await loadBertTokenizer(await writeVocabFolder([...TRANSFORMERS_TEST_VOCAB, 'Want']), { lowercase: false });
    expect(tokenizer.tokenize('Want want WANT')).toEqual(['[CLS]', 'Want', 'want', '[UNK]', '[SEP]']);
  });

  it('reads do_lower_case and strip_accents from tokenizer_config.json', async () => {
    const vocab = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', 'h\u00E4llo', 'hallo', 'H\u00E4llo'];
    await writeVocabFolder(vocab, { do_lower_case: true, strip_accents: false });
    expect((await loadBertTokenizer(folder)).tokenize('H\u00E4LLo')).toEqual(['[CLS]', 'h\u00E4llo', '[SEP]']);

    await writeVocabFolder(vocab, { do_lower_case: false });
    expect((await loadBertTokenizer(folder)).tokenize('H\u00E4llo')).toEqual(['[CLS]', 'H\u00E4llo', '[SEP]']);
    expect((await loadBertTokenizer(folder, { lowercase: true })).tokenize('H\u00E4llo')).toEqual(['[CLS]', 'hallo', '[SEP]']);
  });

  it('reads special token names from tokenizer_config.json', async () => {
    const vocab = ['<pad>', '<unk>', '<cls>', '<sep>', 'hello'];
    await writeVocabFolder(vocab, {
      unk_token: '<unk>',
      cls_token: { content: '<cls>', __type: 'AddedToken' },
      sep_token: '<sep>',
      pad_token: '<pad>',
    });

    const tokenizer = await loadBertTokenizer(folder);
    expect(encodeOne(tokenizer, 'hello world')).toEqual([2, 4, 1, 3]);
    expect(tokenizer.padTokenId).toBe(0);
  });

  it('gives the same ids from tokenizer.json as from vocab.txt', async () => {
    const vocab = parseVocabTxt(await readFile(join(BERT_BASE_UNCASED_FOLDER, 'vocab.txt'), 'utf8'));
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(buildBertTokenizerJson(vocab)));
    const fromJson = await loadBertTokenizer(folder);

    const texts = ['Hello, World!', 'unaffable', 'ah\u535A\u63A8zz', 'a [MASK] b', 'na\u00EFve caf\u00E9'];
    const expected = bertBaseUncased.encodeBatch(texts, 32);
    const actual = fromJson.encodeBatch(texts, 32);
    expect(actual.ids).toEqual(expected.ids);
    expect(actual.attentionMask).toEqual(expected.attentionMask);
    expect(fromJson.vocabSize).toBe(30522);
  });

  it('applies the lowercase option to tokenizer.json', async () => {
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(buildBertTokenizerJson(TRANSFORMERS_TEST_VOCAB)));

    expect((await loadBertTokenizer(folder)).tokenize('WANT')).toEqual(['[CLS]', 'want', '[SEP]']);
    expect((await loadBertTokenizer(folder, { lowercase: false })).tokenize('WANT')).toEqual(['[CLS]', '[UNK]', '[SEP]']);
  });

  it('takes the pad id from tokenizer.json padding', async () => {
    const json = { ...buildBertTokenizerJson(TRANSFORMERS_TEST_VOCAB), padding: { pad_id: 4, pad_token: '[MASK]' } };
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(json));
    expect((await loadBertTokenizer(folder)).padTokenId).toBe(4);
  });
});

describe('fingerprint', () => {
  it('is a sha256 hex digest that is stable across loads', async () => {
    const again = await loadBertTokenizer(BERT_BASE_UNCASED_FOLDER);
    expect(bertBaseUncased.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(again.fingerprint).toBe(bertBaseUncased.fingerprint);
  });

  it('changes with the lowercase option', async () => {
    const cased = await loadBertTokenizer(BERT_BASE_UNCASED_FOLDER, { lowercase: false });
    expect(cased.fingerprint).not.toBe(bertBaseUncased.fingerprint);
  });

  it('changes with the vocabulary', async () => {
    const first = await loadBertTokenizer(await writeVocabFolder(TRANSFORMERS_TEST_VOCAB));
    const second = await loadBertTokenizer(await writeVocabFolder([...TRANSFORMERS_TEST_VOCAB, 'extra']));
    expect(second.fingerprint).not.toBe(first.fingerprint);
  });
});

describe('loadBertTokenizer errors', () => {
  it('names a missing folder', async () => {
    const missing = join(folder, 'nope');
    await expect(loadBertTokenizer(missing)).rejects.toThrow(`Tokenizer folder not found: ${missing}`);
    await expect(loadBertTokenizer(missing)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('names a folder without tokenizer files', async () => {
    await expect(loadBertTokenizer(folder)).rejects.toThrow(/no tokenizer found; expected tokenizer\.json or vocab\.txt/);
  });

  it('names the missing [CLS] token', async () => {
    await writeVocabFolder(['[PAD]', '[UNK]', '[SEP]', 'hello']);
    await expect(loadBertTokenizer(folder)).rejects.toThrow(/vocab\.txt: the vocabulary has no "\[CLS\]" token/);
  });

  it('names a missing pad token', async () => {
    await writeVocabFolder(['[UNK]', '[CLS]', '[SEP]', 'hello']);
    await expect(loadBertTokenizer(folder)).rejects.toThrow(/vocab\.txt: the vocabulary has no pad token "\[PAD\]"/);
  });

  it('rejects a tokenizer.json that is not WordPiece', async () => {
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify({ model: { type: 'BPE', vocab: {}, merges: [] } }));
    await expect(loadBertTokenizer(folder)).rejects.toThrow(/tokenizer\.json: the tokenizer model is "BPE", but a BERT tokenizer uses WordPiece/);
  });

  it('rejects invalid JSON in tokenizer_config.json', async () => {
    await writeVocabFolder(TRANSFORMERS_TEST_VOCAB);
    await writeFile(join(folder, 'tokenizer_config.json'), '{ do_lower_case: ');
    await expect(loadBertTokenizer(folder)).rejects.toThrow(/tokenizer_config\.json: invalid JSON/);
  });
});
