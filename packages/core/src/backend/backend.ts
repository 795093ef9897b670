import type { z } from 'zod';

import type { Logger } from '../logging/logger.js';
import type { NamedArrays } from '../tensors/named-arrays.js';
import type { Batch, ModelDescription, TextEncoderDescription, TrainingBatch } from './model-description.js';

/** Capabilities of a backend, which core checks a config against before any work starts. */
export interface BackendCapabilities {
  /** Text encoder types this backend runs, and whether each can be fine-tuned. */
  readonly encoders: Readonly<Record<string, { readonly trainable: boolean }>>;
  /** Whether half-precision training works on the runtime and device in use. */
  readonly mixedPrecision: boolean;
  /** Reason mixed precision is unavailable, shown in the warning when a config requests it. */
  readonly mixedPrecisionUnavailableReason?: string;
  /** True when the model runs on a GPU or other accelerator; `batch_size: auto` caps CPU runs at 128 rows. */
  readonly accelerator?: boolean;
}

/** Outputs of a forward pass: per output feature, row-major logits `[rows × width]` (width 1 for binary and number outputs). */
export type ForwardOutputs = Readonly<Record<string, Float32Array>>;

export interface TrainStepResult {
  /** The weighted sum of the output losses for this batch, averaged over rows. */
  readonly loss: number;
  readonly outputLosses: Readonly<Record<string, number>>;
  /**
   * False when a gradient overflowed to Inf or NaN under loss scaling, in which case
   * {@link ModelHandle.trainStep} left weights and optimizer state unchanged. Absent means true.
   */
  readonly gradientsFinite?: boolean;
}

/**
 * Options of one training step. Core passes them only to a backend whose capabilities report
 * `mixedPrecision: true`, and only when the config turns mixed precision on.
 */
export interface TrainStepOptions {
  /**
   * Factor the loss is multiplied by before backpropagation, so that small half-precision
   * gradients do not flush to zero. The backend divides the gradients by it again before
   * clipping and the update, so results do not depend on it unless a gradient overflows.
   * Default 1.
   */
  readonly lossScale?: number;
}

/** A built model living in a backend's memory. */
export interface ModelHandle {
  /** Runs the model in inference mode (no dropout). */
  forward(batch: Batch): Promise<ForwardOutputs>;
  /**
   * Runs forward, backward and one optimizer update at `learningRate`. Under loss scaling, a
   * step whose gradients are not all finite skips the update and reports `gradientsFinite: false`.
   */
  trainStep(batch: TrainingBatch, learningRate: number, options?: TrainStepOptions): Promise<TrainStepResult>;
  /**
   * Runs forward and backward without updating, and returns the gradients of the trainable
   * weights by weight name, divided by the loss scale again. Used for gradient accumulation and
   * data-parallel training. The caller checks the gradients for overflow.
   */
  computeGradients(batch: TrainingBatch, options?: TrainStepOptions): Promise<TrainStepResult & { readonly gradients: NamedArrays }>;
  /** Clips `gradients` as configured and applies one optimizer update at `learningRate`. */
  applyGradients(gradients: NamedArrays, learningRate: number): Promise<void>;
  /** Exports weights (Hugging Face names for encoders) for saving the model. */
  exportWeights(): Promise<NamedArrays>;
  /**
   * Exports weights, optimizer state and the state of random draws (such as dropout masks)
   * together, so a checkpoint restored with {@link importState} continues exactly.
   */
  exportState(): Promise<NamedArrays>;
  /** Restores what {@link exportState} returned. */
  importState(state: NamedArrays): Promise<void>;
  dispose(): void;
}

/** A frozen encoder used to fill the embedding cache. */
export interface EncoderHandle {
  readonly outputSize: number;
  /** Encodes a batch of token ids into `[rows × outputSize]` embeddings. */
  encode(ids: Int32Array, attentionMask: Int32Array, rows: number, sequenceLength: number): Promise<Float32Array>;
  dispose(): void;
}

/** A started backend: one runtime on one device. */
export interface Backend {
  readonly name: string;
  /** Runtime and device in use, printed at the start of a run, for example "TensorFlow.js 4.22.0 on wasm". */
  readonly description: string;
  readonly capabilities: BackendCapabilities;
  buildModel(description: ModelDescription): Promise<ModelHandle>;
  buildEncoder(encoder: TextEncoderDescription): Promise<EncoderHandle>;
  dispose(): Promise<void>;
}

export interface BackendContext {
  readonly logger: Logger;
}

/**
 * The default export of a backend package. Core finds the package from `backend.type`,
 * validates the rest of the `backend` section with `optionsSchema`, then calls `create`.
 */
export interface BackendDescriptor<Options = unknown> {
  readonly name: string;
  /** Schema of the backend's own keys in the `backend` section (everything but `type`, `cache_dir` and `trainer`). */
  readonly optionsSchema: z.ZodType<Options>;
  create(options: Options, context: BackendContext): Promise<Backend>;
}
