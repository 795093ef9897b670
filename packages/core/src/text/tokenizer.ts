/** Token ids and attention masks for a batch of texts, padded to one length. */
export interface TokenizedBatch {
  /** Row-major `[rows × sequenceLength]` token ids; padding positions hold the pad id. */
  readonly ids: Int32Array;
  /** Row-major `[rows × sequenceLength]`, 1 for a real token and 0 for padding. */
  readonly attentionMask: Int32Array;
  readonly rows: number;
  readonly sequenceLength: number;
}

/**
 * A tokenizer that core runs once per dataset, so that backends only ever see ids and masks.
 */
export interface TextTokenizer {
  /** Tokenization algorithm, for example `wordpiece` or `unigram`. */
  readonly kind: string;
  readonly vocabSize: number;
  readonly padTokenId: number;
  /**
   * Hash of everything that changes the ids this tokenizer produces (vocabulary, normalization,
   * special tokens), so caches keyed on it go stale when the tokenizer changes.
   */
  readonly fingerprint: string;
  /**
   * Tokenizes `texts`, adds the model's special tokens, truncates to `maxSequenceLength`
   * and pads every row to the longest row of the batch (at most `maxSequenceLength`).
   */
  encodeBatch(texts: readonly string[], maxSequenceLength: number): TokenizedBatch;
  /** Returns the token strings for one text, special tokens included, for logs and tests. */
  tokenize(text: string): string[];
}
