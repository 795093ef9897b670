import type { BertArchitecture } from '../checkpoint/bert-config.js';
import type { CombinerConfig } from '../config/schema.js';
import type { GradientClippingConfig, OptimizerConfig } from '../config/trainer.js';
import type { NamedArrays } from '../tensors/named-arrays.js';

/** A BERT encoder: architecture, pretrained weights (Hugging Face names without the `bert.` prefix) and how it trains. */
export interface BertEncoderDescription {
  readonly type: 'bert';
  readonly architecture: BertArchitecture;
  /** Pretrained weights, or null to initialise randomly from the architecture. */
  readonly weights: NamedArrays | null;
  readonly trainable: boolean;
  readonly reduceOutput: 'cls_pooled' | 'mean';
}

/** Universal Sentence Encoder lite, a frozen tfjs graph model. */
export interface UniversalSentenceEncoderDescription {
  readonly type: 'universal_sentence_encoder';
  /** Folder with `model.json` and its weight shards. */
  readonly modelDirectory: string;
  readonly trainable: false;
}

export type TextEncoderDescription = BertEncoderDescription | UniversalSentenceEncoderDescription;

/** Prefix of encoder weights in a model's exported weights: `encoders.<input name>.<Hugging Face name>`. */
export const ENCODER_WEIGHT_PREFIX = 'encoders.';

/**
 * State keys of the dropout call counters that seed each dropout mask: one for the combiner and
 * heads, and one per BERT encoder (`<prefix><input name>`). Every backend uses the same keys, so
 * a checkpoint from one backend restores the random state in another.
 */
export const DROPOUT_CALLS_STATE_KEY = 'random.dropout_calls';
export const ENCODER_DROPOUT_CALLS_STATE_PREFIX = 'random.encoder_dropout_calls.';

/** Output width of each text encoder, which the combiner needs before any batch is seen. */
export function textEncoderOutputSize(encoder: TextEncoderDescription): number {
  return encoder.type === 'bert' ? encoder.architecture.hidden_size : 512;
}

/**
 * One input of the model. A text input either runs its encoder on token ids, or, when its
 * embeddings are cached, receives the encoder output directly (`embedding`).
 */
export type InputDescription =
  | { readonly name: string; readonly kind: 'text'; readonly encoder: TextEncoderDescription }
  | { readonly name: string; readonly kind: 'embedding'; readonly size: number }
  | { readonly name: string; readonly kind: 'category'; readonly vocabularySize: number }
  | { readonly name: string; readonly kind: 'number' };

/** One output head with its loss. */
export type OutputDescription =
  | {
      readonly name: string;
      readonly kind: 'category';
      readonly numClasses: number;
      readonly lossWeight: number;
      /** Weight per class index, or null for equal weights. */
      readonly classWeights: readonly number[] | null;
    }
  | { readonly name: string; readonly kind: 'binary'; readonly lossWeight: number; readonly positiveClassWeight: number | null }
  | { readonly name: string; readonly kind: 'number'; readonly lossWeight: number; readonly loss: 'mean_squared_error' | 'mean_absolute_error' };

/** Everything a backend needs to build a trainable model, which never reads YAML or CSV files. */
export interface ModelDescription {
  readonly inputs: readonly InputDescription[];
  readonly combiner: CombinerConfig;
  readonly outputs: readonly OutputDescription[];
  readonly optimizer: OptimizerConfig;
  readonly gradientClipping: GradientClippingConfig;
  /** Seed for weight initialisation and dropout. */
  readonly seed: number;
  /** Whether to compute in half precision; only requested when the backend declares support. */
  readonly mixedPrecision: boolean;
}

/** Per-input arrays of one batch. Row-major; `rows` is the batch size. */
export type InputBatch =
  | { readonly kind: 'text'; readonly ids: Int32Array; readonly attentionMask: Int32Array; readonly sequenceLength: number }
  | { readonly kind: 'embedding'; readonly values: Float32Array; readonly size: number }
  | { readonly kind: 'category'; readonly indices: Int32Array }
  | { readonly kind: 'number'; readonly values: Float32Array };

/** Targets of one batch: class indices for category outputs, 0/1 for binary, values for number outputs. */
export type TargetBatch =
  | { readonly kind: 'category'; readonly indices: Int32Array }
  | { readonly kind: 'binary'; readonly values: Float32Array }
  | { readonly kind: 'number'; readonly values: Float32Array };

export interface Batch {
  readonly rows: number;
  readonly inputs: Readonly<Record<string, InputBatch>>;
}

export interface TrainingBatch extends Batch {
  readonly targets: Readonly<Record<string, TargetBatch>>;
}
