/** A tiny BERT model with a number input, and batches for it, shared by the mixed-precision tests. */
import { combinerSchema, gradientClippingSchema, optimizerSchema, type ModelDescription, type TrainingBatch } from '@ft/core';
import { createRandomBertWeights } from '@ft/core/testing';

const tinyBert = {
  vocab_size: 40,
  hidden_size: 16,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 32,
  hidden_act: 'gelu' as const,
  hidden_dropout_prob: 0.1,
  attention_probs_dropout_prob: 0.1,
  max_position_embeddings: 16,
  type_vocab_size: 2,
  initializer_range: 0.02,
  layer_norm_eps: 1e-12,
  pad_token_id: 0,
};

export function mixedPrecisionDescription(mixedPrecision: boolean, lossWeight = 1, clipGlobalNorm: number | null = 1): ModelDescription {
  return {
    inputs: [
      { name: 'text', kind: 'text', encoder: { type: 'bert', architecture: tinyBert, weights: createRandomBertWeights(tinyBert, 3), trainable: true, reduceOutput: 'cls_pooled' } },
      { name: 'x', kind: 'number' },
    ],
    combiner: combinerSchema.parse({ num_fc_layers: 1, output_size: 8, activation: 'tanh' }),
    outputs: [{ name: 'label', kind: 'category', numClasses: 3, lossWeight, classWeights: null }],
    optimizer: optimizerSchema.parse({ type: 'adamw' }),
    gradientClipping: gradientClippingSchema.parse({ clipglobalnorm: clipGlobalNorm }),
    seed: 2,
    mixedPrecision,
  };
}

/** Returns token `position` of a row: [CLS] (id 2) first, padding (id 0) at the end of rows 2 and 3, words elsewhere. */
function tokenId(row: number, position: number, offset: number): number {
  if (position === 0) {
    return 2;
  }
  if (row >= 2 && position >= 4) {
    return 0;
  }
  return 4 + (((row * 6 + position) * 7 + offset * 5) % 35);
}

/** Four rows of six tokens, two of them padded, with three classes. */
export function mixedPrecisionBatch(offset: number): TrainingBatch {
  const ids = Int32Array.from({ length: 24 }, (_, i) => tokenId(Math.floor(i / 6), i % 6, offset));
  const attentionMask = Int32Array.from(ids, (id) => (id === 0 ? 0 : 1));
  return {
    rows: 4,
    inputs: { text: { kind: 'text', ids, attentionMask, sequenceLength: 6 }, x: { kind: 'number', values: Float32Array.of(0.5, -1, 2, offset % 3) } },
    targets: { label: { kind: 'category', indices: Int32Array.of(0, 1, 2, offset % 3) } },
  };
}
