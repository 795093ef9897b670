import { createHash } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

import { writeFileAtomic, writeJsonAtomic } from '../io/atomic-write.js';
import type { NamedArrays } from '../tensors/named-arrays.js';

/** Bumped whenever the layout of cache files changes, so old files are never misread. */
export const EMBEDDING_CACHE_FORMAT_VERSION = 1;

/** Returns the cache folder: `backend.cache_dir`, else `$FT_CACHE_DIR`, else `$XDG_CACHE_HOME/ft`, else `~/.cache/ft`. */
export function defaultCacheDirectory(configured?: string): string {
  if (configured !== undefined) {
    return path.resolve(configured);
  }
  if (process.env.FT_CACHE_DIR) {
    return path.resolve(process.env.FT_CACHE_DIR);
  }
  const base = process.env.XDG_CACHE_HOME ? process.env.XDG_CACHE_HOME : path.join(homedir(), '.cache');
  return path.join(base, 'ft');
}

/** What a cache entry depends on; any change gives a new key. */
export interface EmbeddingCacheKeyParts {
  /** Hash of the encoder's type, architecture and weights. */
  readonly encoderIdentity: string;
  /** Fingerprint of the tokenizer, which covers its vocabulary and normalization. */
  readonly tokenizerFingerprint: string;
  /** The token ids and masks of the split, which cover the data, the split and the text preprocessing. */
  readonly ids: Int32Array;
  readonly attentionMask: Int32Array;
  readonly sequenceLength: number;
}

/**
 * Computes the cache key of one split's embeddings. Hashing the token ids rather than the data
 * file means a key changes exactly when the encoder's input changes: a new file, another split,
 * another `max_sequence_length` or lowercasing all change the ids.
 */
export function embeddingCacheKey(parts: EmbeddingCacheKeyParts): string {
  const hash = createHash('sha256');
  hash.update(`ft-embeddings-v${EMBEDDING_CACHE_FORMAT_VERSION}\n`);
  hash.update(`${parts.encoderIdentity}\n${parts.tokenizerFingerprint}\n${parts.sequenceLength}\n`);
  hash.update(new Uint8Array(parts.ids.buffer, parts.ids.byteOffset, parts.ids.byteLength));
  hash.update(new Uint8Array(parts.attentionMask.buffer, parts.attentionMask.byteOffset, parts.attentionMask.byteLength));
  return hash.digest('hex');
}

/** Hashes named weights in name order, as the identity of an encoder built from them. */
export function hashWeights(label: string, weights: NamedArrays): string {
  const hash = createHash('sha256');
  hash.update(label);
  for (const name of Object.keys(weights).sort()) {
    const array = weights[name]!;
    hash.update(`${name}:${array.dtype}:${array.shape.join('x')}\n`);
    hash.update(new Uint8Array(array.data.buffer, array.data.byteOffset, array.data.byteLength));
  }
  return hash.digest('hex');
}

/** Hashes the files of a model folder, as the identity of an encoder loaded from it. */
export async function hashFiles(label: string, files: readonly string[]): Promise<string> {
  const hash = createHash('sha256');
  hash.update(label);
  for (const file of files) {
    hash.update(`${path.basename(file)}\n`);
    hash.update(await readFile(file));
  }
  return hash.digest('hex');
}

/** Description stored next to the matrix, so a cache folder can be inspected by hand. */
export interface EmbeddingCacheEntry {
  readonly format_version: number;
  readonly rows: number;
  readonly size: number;
  readonly encoder: string;
  readonly created: string;
}

/** The embeddings cache: one float32 matrix file (`<key>.f32`) and one JSON file (`<key>.json`) per split. */
export class EmbeddingCache {
  readonly directory: string;

  constructor(cacheDirectory: string) {
    this.directory = path.join(cacheDirectory, 'embeddings');
  }

  /** Returns the cached `[rows × size]` matrix for `key`, or null when there is none or it does not match. */
  async read(key: string, rows: number): Promise<{ values: Float32Array; size: number } | null> {
    let entry: EmbeddingCacheEntry;
    try {
      entry = JSON.parse(await readFile(path.join(this.directory, `${key}.json`), 'utf8')) as EmbeddingCacheEntry;
    } catch {
      return null;
    }
    if (entry.format_version !== EMBEDDING_CACHE_FORMAT_VERSION || entry.rows !== rows) {
      return null;
    }

    const bytes = await readFile(path.join(this.directory, `${key}.f32`)).catch(() => null);
    if (bytes === null || bytes.byteLength !== rows * entry.size * 4) {
      return null;
    }
    const values = new Float32Array(rows * entry.size);
    new Uint8Array(values.buffer).set(bytes);
    return { values, size: entry.size };
  }

  /** Stores a matrix; the JSON file is written last, so an entry without it is never read. */
  async write(key: string, values: Float32Array, rows: number, size: number, encoder: string): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    await writeFileAtomic(path.join(this.directory, `${key}.f32`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    const entry: EmbeddingCacheEntry = { format_version: EMBEDDING_CACHE_FORMAT_VERSION, rows, size, encoder, created: new Date().toISOString() };
    await writeJsonAtomic(path.join(this.directory, `${key}.json`), entry);
  }
}
