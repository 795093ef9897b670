// Model shapes shared by the benchmarks, as BertArchitecture objects over bert-base-uncased's defaults.
import { BERT_BASE_ARCHITECTURE, combinerSchema, gradientClippingSchema, optimizerSchema } from '@ft/core';

/** BERT-mini (google/bert_uncased_L-4_H-256_A-4): the shape the PyTorch reference runs by default. */
export const BERT_MINI = { ...BERT_BASE_ARCHITECTURE, hidden_size: 256, num_hidden_layers: 4, num_attention_heads: 4, intermediate_size: 1024 };

/**
 * Returns token ids and an attention mask for `rows` × `length` tokens. Rows get different
 * lengths so that masking does real work, and the rest of each row is padding.
 */
export function tokenBatch(rows, length) {
  const ids = new Int32Array(rows * length);
  const mask = new Int32Array(rows * length);
  for (let row = 0; row < rows; row++) {
    const used = length - ((row * 7) % (length / 2));
    for (let position = 0; position < used; position++) {
      ids[row * length + position] = position === 0 ? 101 : 1000 + ((row * 31 + position * 17) % 20000);
      mask[row * length + position] = 1;
    }
  }
  return { ids, mask };
}

/**
 * Returns the ModelDescription the benchmarks fine-tune: a trainable BERT encoder with `weights`
 * (CLS pooling), the default combiner, a 2-class category head, AdamW and default clipping.
 */
export function bertClassifierDescription(architecture, weights, { mixedPrecision = false } = {}) {
  return {
    inputs: [{ name: 'text', kind: 'text', encoder: { type: 'bert', architecture, weights, trainable: true, reduceOutput: 'cls_pooled' } }],
    combiner: combinerSchema.parse({}),
    outputs: [{ name: 'label', kind: 'category', numClasses: 2, lossWeight: 1, classWeights: null }],
    optimizer: optimizerSchema.parse({ type: 'adamw' }),
    gradientClipping: gradientClippingSchema.parse({}),
    seed: 1,
    mixedPrecision,
  };
}
