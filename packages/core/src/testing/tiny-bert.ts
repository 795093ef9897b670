/**
 * A small random BERT checkpoint on disk, for tests that need a real model folder.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

import seedrandom from 'seedrandom';

import { BERT_BASE_ARCHITECTURE, type BertArchitecture } from '../checkpoint/bert-config.js';
import { expectedBertWeightShapes, saveBertCheckpoint } from '../checkpoint/hf-folder.js';
import { shapeSize, type NamedArrays } from '../tensors/named-arrays.js';
import { buildBertTokenizerJson } from '../text/wordpiece.js';

export interface TinyBertOptions {
  /** Seed of the weights; the same seed and architecture give the same files. Defaults to 0. */
  readonly seed?: number;
  /** Overrides of the tiny architecture; `vocab_size` always equals the length of the written vocabulary. */
  readonly architecture?: Partial<Omit<BertArchitecture, 'vocab_size'>>;
  /** Also writes `tokenizer.json`, built as Hugging Face converts `vocab.txt`. Defaults to false. */
  readonly writeTokenizerJson?: boolean;
}

export interface TinyBertCheckpoint {
  readonly folder: string;
  readonly architecture: BertArchitecture;
  /** Tokens of `vocab.txt`; the index is the id. */
  readonly vocab: readonly string[];
  readonly weights: NamedArrays;
}

/** Special tokens at the ids bert-base-uncased gives them relative to each other: [PAD] is 0. */
export const TINY_BERT_SPECIAL_TOKENS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'] as const;

const TINY_BERT_WORDS = [
  'the', 'a', 'an', 'and', 'but', 'or', 'not', 'no', 'is', 'was', 'are', 'be', 'it', 'this', 'that', 'i', 'you',
  'of', 'to', 'in', 'on', 'with', 'for', 'very', 'so', 'too', 'movie', 'film', 'story', 'plot', 'acting', 'actor',
  'good', 'great', 'best', 'fun', 'funny', 'love', 'brilliant', 'bad', 'worst', 'boring', 'dull', 'awful', 'sad',
  'hate', 'terrible', 'hello', 'world',
];

const TINY_BERT_SUBWORDS = ['##s', '##ed', '##ing', '##ly', '##er', '##est', '##y', "##n't"];

const PUNCTUATION = ['.', ',', '!', '?', "'", '-', ':', ';', '(', ')'];

const LETTERS = [...'abcdefghijklmnopqrstuvwxyz'];

/** The vocabulary of the tiny checkpoint: special tokens, words, subwords, punctuation, digits, then every lowercase letter alone and as `##` continuation, so lowercase ASCII text never becomes [UNK]. */
export const TINY_BERT_VOCAB: readonly string[] = [
  ...TINY_BERT_SPECIAL_TOKENS,
  ...TINY_BERT_WORDS,
  ...TINY_BERT_SUBWORDS,
  ...PUNCTUATION,
  ...[...'0123456789'],
  ...LETTERS.filter((letter) => !TINY_BERT_WORDS.includes(letter)),
  ...LETTERS.map((letter) => `##${letter}`),
];

const TINY_ARCHITECTURE: Omit<BertArchitecture, 'vocab_size'> = {
  ...BERT_BASE_ARCHITECTURE,
  hidden_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 64,
  max_position_embeddings: 64,
};

/**
 * Writes a small random BERT checkpoint to `folder`: `config.json`, `model.safetensors`,
 * `vocab.txt`, `tokenizer_config.json` and, on request, `tokenizer.json`.
 *
 * Weights and biases are drawn from N(0, 0.02) and LayerNorm weights from 1 + N(0, 0.02),
 * so that a wrong mapping of any tensor changes the model output.
 */
export async function createTinyBertCheckpoint(folder: string, options: TinyBertOptions = {}): Promise<TinyBertCheckpoint> {
  const architecture: BertArchitecture = {
    ...TINY_ARCHITECTURE,
    ...options.architecture,
    vocab_size: TINY_BERT_VOCAB.length,
  };
  const weights = createRandomBertWeights(architecture, options.seed ?? 0);

  await mkdir(folder, { recursive: true });
  await saveBertCheckpoint(folder, architecture, weights);
  await writeFile(join(folder, 'vocab.txt'), TINY_BERT_VOCAB.join('\n') + '\n', 'utf8');

  const tokenizerConfig = {
    tokenizer_class: 'BertTokenizer',
    do_lower_case: true,
    model_max_length: architecture.max_position_embeddings,
  };
  await writeFile(join(folder, 'tokenizer_config.json'), JSON.stringify(tokenizerConfig, null, 2) + '\n', 'utf8');

  if (options.writeTokenizerJson === true) {
    const tokenizerJson = buildBertTokenizerJson(TINY_BERT_VOCAB, { lowercase: true });
    await writeFile(join(folder, 'tokenizer.json'), JSON.stringify(tokenizerJson, null, 2) + '\n', 'utf8');
  }

  return { folder, architecture, vocab: TINY_BERT_VOCAB, weights };
}

/** Creates seeded random BertModel weights for `architecture`, in the order of `expectedBertWeightShapes`. */
export function createRandomBertWeights(architecture: BertArchitecture, seed: number): NamedArrays {
  const random = seedrandom(String(seed));
  const standardDeviation = 0.02;

  // Box-Muller transform; 1 - random() lies in (0, 1], so the logarithm stays finite.
  const normal = (): number => Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());

  const weights: NamedArrays = {};
  for (const [name, shape] of Object.entries(expectedBertWeightShapes(architecture))) {
    const data = new Float32Array(shapeSize(shape));
    const mean = name.endsWith('LayerNorm.weight') ? 1 : 0;
    for (let index = 0; index < data.length; index++) {
      data[index] = mean + standardDeviation * normal();
    }
    weights[name] = { dtype: 'float32', shape, data };
  }
  return weights;
}
