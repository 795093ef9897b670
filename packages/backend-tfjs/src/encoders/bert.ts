/**
 * A BERT encoder built from tfjs-core ops, with weights named as in Hugging Face `BertModel`
 * (without the `bert.` prefix), so checkpoints convert name for name.
 *
 * Linear weights are stored as torch stores them, `[out, in]`, and applied as y = x·Wᵀ + b.
 * Every matMul is 2-D or has equal batch dimensions, because the BatchMatMul gradient of
 * tfjs-core 4.22 does not reduce broadcast batch dimensions.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BertArchitecture, NamedArray, NamedArrays } from '@ft/core';

/** Reduction of the last hidden state to one vector per sequence, chosen per `apply` call. */
export type BertReduceOutput = 'cls_pooled' | 'mean' | 'last_hidden_cls';

export interface BertCreateOptions {
  /** Whether the weights receive gradients. A frozen encoder also never applies dropout. */
  trainable: boolean;
  /** Seeds the random initialization and the dropout masks. */
  seed: number;
}

export interface BertApplyOptions {
  /** Enables dropout, but only on a trainable encoder. */
  training: boolean;
  reduceOutput: BertReduceOutput;
}

export interface BertOutput {
  /** The last hidden state, `[batch, length, hidden_size]`. */
  sequenceOutput: tf.Tensor3D;
  /** One vector per sequence, `[batch, hidden_size]`, as chosen by `reduceOutput`. */
  pooled: tf.Tensor2D;
}

/**
 * The additive attention mask value for padded keys: the most negative float32, as Hugging Face
 * uses `torch.finfo(dtype).min`. A row with every key masked then gets uniform attention.
 */
const MASKED_SCORE = -3.4028234663852886e38;

const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

let instanceCount = 0;

/** Returns the name and shape of every weight of a BertModel, in Hugging Face state_dict order. */
export function bertWeightShapes(architecture: BertArchitecture): Map<string, number[]> {
  const hidden = architecture.hidden_size;
  const intermediate = architecture.intermediate_size;
  const shapes = new Map<string, number[]>([
    ['embeddings.word_embeddings.weight', [architecture.vocab_size, hidden]],
    ['embeddings.position_embeddings.weight', [architecture.max_position_embeddings, hidden]],
    ['embeddings.token_type_embeddings.weight', [architecture.type_vocab_size, hidden]],
    ['embeddings.LayerNorm.weight', [hidden]],
    ['embeddings.LayerNorm.bias', [hidden]],
  ]);

  for (let layer = 0; layer < architecture.num_hidden_layers; layer++) {
    const prefix = `encoder.layer.${layer}`;
    for (const projection of ['query', 'key', 'value']) {
      shapes.set(`${prefix}.attention.self.${projection}.weight`, [hidden, hidden]);
      shapes.set(`${prefix}.attention.self.${projection}.bias`, [hidden]);
    }
    shapes.set(`${prefix}.attention.output.dense.weight`, [hidden, hidden]);
    shapes.set(`${prefix}.attention.output.dense.bias`, [hidden]);
    shapes.set(`${prefix}.attention.output.LayerNorm.weight`, [hidden]);
    shapes.set(`${prefix}.attention.output.LayerNorm.bias`, [hidden]);
    shapes.set(`${prefix}.intermediate.dense.weight`, [intermediate, hidden]);
    shapes.set(`${prefix}.intermediate.dense.bias`, [intermediate]);
    shapes.set(`${prefix}.output.dense.weight`, [hidden, intermediate]);
    shapes.set(`${prefix}.output.dense.bias`, [hidden]);
    shapes.set(`${prefix}.output.LayerNorm.weight`, [hidden]);
    shapes.set(`${prefix}.output.LayerNorm.bias`, [hidden]);
  }

  shapes.set('pooler.dense.weight', [hidden, hidden]);
  shapes.set('pooler.dense.bias', [hidden]);
  return shapes;
}

export class BertEncoder {
  /** The weights keyed by their Hugging Face names. */
  readonly variables: Map<string, tf.Variable>;
  readonly architecture: BertArchitecture;
  readonly trainable: boolean;
  private readonly seed: number;
  /** Dropout calls so far; each call's mask is seeded by it, so checkpoints save and restore it. */
  dropoutCalls = 0;
  private disposed = false;

  private constructor(architecture: BertArchitecture, variables: Map<string, tf.Variable>, options: BertCreateOptions) {
    this.architecture = architecture;
    this.variables = variables;
    this.trainable = options.trainable;
    this.seed = options.seed;
  }

  /**
   * Creates an encoder from `weights`, or with random weights when `weights` is null.
   *
   * The random initialization follows Hugging Face `BertPreTrainedModel._init_weights`. Matrices
   * and embeddings are drawn from normal(0, initializer_range), and the `pad_token_id` row of the
   * word embeddings is zeroed. Biases start at zero, LayerNorm scales at one.
   *
   * Throws when the architecture is inconsistent, or when `weights` lacks a weight or holds one
   * with the wrong shape or dtype. Names that BertModel does not have are ignored.
   */
  static create(architecture: BertArchitecture, weights: NamedArrays | null, options: BertCreateOptions): BertEncoder {
    validateArchitecture(architecture);
    const shapes = bertWeightShapes(architecture);
    if (weights !== null) {
      validateWeights(weights, shapes);
    }

    instanceCount += 1;
    const scope = `bert_${instanceCount}`;
    const variables = new Map<string, tf.Variable>();
    let index = 0;
    for (const [name, shape] of shapes) {
      const initialValue =
        weights === null
          ? initialWeight(name, shape, architecture, options.seed + index)
          : tf.tensor(weights[name]!.data, shape, 'float32');
      variables.set(name, tf.variable(initialValue, options.trainable, `${scope}/${name}`));
      initialValue.dispose();
      index += 1;
    }
    return new BertEncoder(architecture, variables, options);
  }

  /**
   * Runs the encoder on token ids `[batch, length]` with an attention mask of the same shape
   * (1 for tokens, 0 for padding). Token type ids are all 0 and position ids run from 0.
   *
   * Throws when the shapes or dtypes are wrong, the sequence is longer than
   * `max_position_embeddings`, or an id lies outside the vocabulary.
   */
  apply(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D, options: BertApplyOptions): BertOutput {
    this.assertUsable();
    this.validateInputs(inputIds, attentionMask);
    const dropoutActive = options.training && this.trainable;

    return tf.tidy(() => {
      const maskFloat = tf.cast(attentionMask, 'float32');
      let hidden = this.embed(inputIds, dropoutActive);

      // Shape [batch, 1, 1, length], so the mask broadcasts over heads and query positions.
      const [batch, length] = inputIds.shape;
      const additiveMask = tf.mul(tf.sub(1, tf.reshape(maskFloat, [batch, 1, 1, length])), MASKED_SCORE);
      for (let layer = 0; layer < this.architecture.num_hidden_layers; layer++) {
        hidden = this.encoderLayer(layer, hidden, additiveMask, dropoutActive);
      }

      const sequenceOutput = hidden as tf.Tensor3D;
      const pooled = this.reduce(sequenceOutput, maskFloat, options.reduceOutput);
      return { sequenceOutput, pooled };
    });
  }

  /** Copies every weight out under its Hugging Face name, reading asynchronously as WebGPU requires in Node. */
  async exportWeights(): Promise<NamedArrays> {
    this.assertUsable();
    const weights: NamedArrays = {};
    for (const [name, variable] of this.variables) {
      const array: NamedArray = { dtype: 'float32', shape: [...variable.shape], data: (await variable.data<'float32'>()).slice() };
      weights[name] = array;
    }
    return weights;
  }

  /** Frees the weights; the encoder cannot be used afterwards. */
  dispose(): void {
    if (this.disposed) {
      return;
    }
    for (const variable of this.variables.values()) {
      variable.dispose();
    }
    this.disposed = true;
  }

  private assertUsable(): void {
    if (this.disposed) {
      throw new Error('This BertEncoder was used after dispose(). Create a new encoder.');
    }
  }

  private validateInputs(inputIds: tf.Tensor2D, attentionMask: tf.Tensor2D): void {
    if (inputIds.rank !== 2 || inputIds.dtype !== 'int32') {
      throw new Error(`BERT inputIds must be an int32 [batch, length] tensor, but got ${inputIds.dtype} [${inputIds.shape.join(', ')}].`);
    }
    if (attentionMask.dtype !== 'int32' || !tf.util.arraysEqual(attentionMask.shape, inputIds.shape)) {
      throw new Error(
        `BERT attentionMask must be int32 with the shape of inputIds [${inputIds.shape.join(', ')}], ` +
          `but got ${attentionMask.dtype} [${attentionMask.shape.join(', ')}].`,
      );
    }
    const length = inputIds.shape[1];
    if (length > this.architecture.max_position_embeddings) {
      throw new Error(
        `BERT input length ${length} exceeds max_position_embeddings ${this.architecture.max_position_embeddings}. Truncate the input.`,
      );
    }

    // An out-of-range id would read past the embedding table on some backends instead of failing.
    const vocabularySize = this.architecture.vocab_size;
    const ids = inputIds.dataSync<'int32'>();
    for (const id of ids) {
      if (id < 0 || id >= vocabularySize) {
        throw new Error(`BERT input id ${id} is outside the vocabulary [0, ${vocabularySize}). Check the tokenizer and vocab_size.`);
      }
    }
  }

  private weight(name: string): tf.Variable {
    const variable = this.variables.get(name);
    if (variable === undefined) {
      throw new Error(`BERT weight ${name} does not exist.`);
    }
    return variable;
  }

  /** Sums word, position and token type 0 embeddings, then applies LayerNorm and dropout. */
  private embed(inputIds: tf.Tensor2D, dropoutActive: boolean): tf.Tensor {
    const [, length] = inputIds.shape;
    const hiddenSize = this.architecture.hidden_size;

    const words = tf.gather(this.weight('embeddings.word_embeddings.weight'), inputIds);
    const positions = tf.slice(this.weight('embeddings.position_embeddings.weight'), [0, 0], [length, hiddenSize]);
    const tokenType = tf.slice(this.weight('embeddings.token_type_embeddings.weight'), [0, 0], [1, hiddenSize]);
    const summed = tf.add(tf.add(words, positions), tokenType);

    const normalized = this.layerNorm('embeddings.LayerNorm', summed);
    return this.dropout(normalized, this.architecture.hidden_dropout_prob, dropoutActive);
  }

  private encoderLayer(layer: number, hidden: tf.Tensor, additiveMask: tf.Tensor, dropoutActive: boolean): tf.Tensor {
    const prefix = `encoder.layer.${layer}`;
    const { hidden_dropout_prob: hiddenDropout } = this.architecture;

    const context = this.selfAttention(prefix, hidden, additiveMask, dropoutActive);
    const attentionDense = this.dropout(this.linear(`${prefix}.attention.output.dense`, context), hiddenDropout, dropoutActive);
    const attentionOutput = this.layerNorm(`${prefix}.attention.output.LayerNorm`, tf.add(attentionDense, hidden));

    const intermediate = this.activation(this.linear(`${prefix}.intermediate.dense`, attentionOutput));
    const outputDense = this.dropout(this.linear(`${prefix}.output.dense`, intermediate), hiddenDropout, dropoutActive);
    return this.layerNorm(`${prefix}.output.LayerNorm`, tf.add(outputDense, attentionOutput));
  }

  /** Computes multi-head scaled dot-product attention and returns the merged context `[batch, length, hidden]`. */
  private selfAttention(prefix: string, hidden: tf.Tensor, additiveMask: tf.Tensor, dropoutActive: boolean): tf.Tensor {
    const [batch, length, hiddenSize] = hidden.shape as [number, number, number];
    const heads = this.architecture.num_attention_heads;
    const headSize = hiddenSize / heads;

    const splitHeads = (x: tf.Tensor) => tf.transpose(tf.reshape(x, [batch, length, heads, headSize]), [0, 2, 1, 3]);
    const query = splitHeads(this.linear(`${prefix}.attention.self.query`, hidden));
    const key = splitHeads(this.linear(`${prefix}.attention.self.key`, hidden));
    const value = splitHeads(this.linear(`${prefix}.attention.self.value`, hidden));

    const scores = tf.add(tf.div(tf.matMul(query, key, false, true), Math.sqrt(headSize)), additiveMask);
    const probabilities = this.dropout(tf.softmax(scores), this.architecture.attention_probs_dropout_prob, dropoutActive);

    const context = tf.matMul(probabilities, value);
    return tf.reshape(tf.transpose(context, [0, 2, 1, 3]), [batch, length, hiddenSize]);
  }

  /** Applies the torch-layout Linear `name` to the last axis: y = x·Wᵀ + b. */
  private linear(name: string, x: tf.Tensor): tf.Tensor {
    const weight = this.weight(`${name}.weight`);
    const bias = this.weight(`${name}.bias`);
    const [outFeatures, inFeatures] = weight.shape as [number, number];
    const leadingShape = x.shape.slice(0, -1);

    // A 2-D product keeps the matMul gradient free of broadcast batch dimensions.
    const rows = tf.reshape(x, [-1, inFeatures]);
    const projected = tf.add(tf.matMul(rows, weight, false, true), bias);
    return tf.reshape(projected, [...leadingShape, outFeatures]);
  }

  /** LayerNorm over the last axis with the biased variance, as torch.nn.LayerNorm computes it. */
  private layerNorm(name: string, x: tf.Tensor): tf.Tensor {
    const axis = x.rank - 1;
    const mean = tf.mean(x, axis, true);
    const centered = tf.sub(x, mean);
    const variance = tf.mean(tf.square(centered), axis, true);
    const normalized = tf.mul(centered, tf.rsqrt(tf.add(variance, this.architecture.layer_norm_eps)));
    return tf.add(tf.mul(normalized, this.weight(`${name}.weight`)), this.weight(`${name}.bias`));
  }

  private activation(x: tf.Tensor): tf.Tensor {
    switch (this.architecture.hidden_act) {
      case 'gelu':
        // Exact GELU: 0.5·x·(1 + erf(x/√2)).
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.erf(tf.div(x, Math.SQRT2))));
      case 'gelu_new': {
        // Tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
        const inner = tf.mul(tf.add(x, tf.mul(tf.pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
        return tf.mul(tf.mul(x, 0.5), tf.add(1, tf.tanh(inner)));
      }
      case 'relu':
        return tf.relu(x);
      default:
        throw new Error(`Unsupported hidden_act '${String(this.architecture.hidden_act)}'. Use 'gelu', 'gelu_new' or 'relu'.`);
    }
  }

  private dropout(x: tf.Tensor, rate: number, active: boolean): tf.Tensor {
    if (!active || rate <= 0) {
      return x;
    }
    // A new seed per call keeps masks reproducible for a given encoder seed but different per step.
    this.dropoutCalls += 1;
    return tf.dropout(x, rate, undefined, `${this.seed}:${this.dropoutCalls}`);
  }

  private reduce(sequenceOutput: tf.Tensor3D, maskFloat: tf.Tensor, reduceOutput: BertReduceOutput): tf.Tensor2D {
    const [batch, , hiddenSize] = sequenceOutput.shape;
    switch (reduceOutput) {
      case 'cls_pooled': {
        const cls = tf.reshape(tf.slice(sequenceOutput, [0, 0, 0], [batch, 1, hiddenSize]), [batch, hiddenSize]);
        return tf.tanh(this.linear('pooler.dense', cls)) as tf.Tensor2D;
      }
      case 'last_hidden_cls':
        return tf.reshape(tf.slice(sequenceOutput, [0, 0, 0], [batch, 1, hiddenSize]), [batch, hiddenSize]);
      case 'mean': {
        const weights = tf.expandDims(maskFloat, 2);
        const summed = tf.sum(tf.mul(sequenceOutput, weights), 1);
        // A row that is all padding gets a zero vector instead of 0/0.
        const counts = tf.maximum(tf.sum(maskFloat, 1, true), 1);
        return tf.div(summed, counts) as tf.Tensor2D;
      }
      default:
        throw new Error(`Unknown reduceOutput '${String(reduceOutput)}'. Expected 'cls_pooled', 'mean' or 'last_hidden_cls'.`);
    }
  }
}

function validateArchitecture(architecture: BertArchitecture): void {
  const problems: string[] = [];
  const positiveIntegers: (keyof BertArchitecture)[] = [
    'vocab_size',
    'hidden_size',
    'num_hidden_layers',
    'num_attention_heads',
    'intermediate_size',
    'max_position_embeddings',
    'type_vocab_size',
  ];
  for (const key of positiveIntegers) {
    const value = architecture[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value <= 0) {
      problems.push(`${String(key)} must be a positive integer, got ${String(value)}`);
    }
  }
  if (architecture.hidden_size % architecture.num_attention_heads !== 0) {
    problems.push(
      `hidden_size ${architecture.hidden_size} must be a multiple of num_attention_heads ${architecture.num_attention_heads}`,
    );
  }
  if (!['gelu', 'gelu_new', 'relu'].includes(architecture.hidden_act)) {
    problems.push(`hidden_act '${String(architecture.hidden_act)}' is not one of 'gelu', 'gelu_new', 'relu'`);
  }
  for (const key of ['hidden_dropout_prob', 'attention_probs_dropout_prob'] as const) {
    const value = architecture[key];
    if (!(value >= 0 && value < 1)) {
      problems.push(`${key} must be in [0, 1), got ${String(value)}`);
    }
  }
  if (!(architecture.initializer_range > 0)) {
    problems.push(`initializer_range must be positive, got ${String(architecture.initializer_range)}`);
  }
  if (!(architecture.layer_norm_eps > 0)) {
    problems.push(`layer_norm_eps must be positive, got ${String(architecture.layer_norm_eps)}`);
  }
  if (!Number.isInteger(architecture.pad_token_id) || architecture.pad_token_id < 0 || architecture.pad_token_id >= architecture.vocab_size) {
    problems.push(`pad_token_id must be an id in [0, vocab_size), got ${String(architecture.pad_token_id)}`);
  }
  if (problems.length > 0) {
    throw new Error(`Invalid BERT architecture: ${problems.join('; ')}.`);
  }
}

/** Lists every missing weight and every weight with the wrong shape or dtype in one error. */
function validateWeights(weights: NamedArrays, shapes: Map<string, number[]>): void {
  const missing: string[] = [];
  const wrong: string[] = [];
  for (const [name, shape] of shapes) {
    const array = weights[name];
    if (array === undefined) {
      missing.push(name);
      continue;
    }
    if (array.dtype !== 'float32') {
      wrong.push(`${name} has dtype ${array.dtype}, expected float32`);
    } else if (!tf.util.arraysEqual([...array.shape], shape)) {
      wrong.push(`${name} has shape [${array.shape.join(', ')}], expected [${shape.join(', ')}]`);
    } else if (array.data.length !== tf.util.sizeFromShape(shape)) {
      wrong.push(`${name} has ${array.data.length} values, expected ${tf.util.sizeFromShape(shape)}`);
    }
  }
  if (missing.length === 0 && wrong.length === 0) {
    return;
  }

  const lines = ['BERT weights do not match the architecture.'];
  if (missing.length > 0) {
    lines.push(`Missing (${missing.length}): ${missing.join(', ')}.`);
    // Unknown names next to missing ones usually mean a prefix such as `bert.` was not removed.
    const unknown = Object.keys(weights).filter((name) => !shapes.has(name));
    if (unknown.length > 0) {
      const firstUnknown = unknown.slice(0, 10).join(', ');
      lines.push(`Names that BertModel does not have (${unknown.length}): ${firstUnknown}${unknown.length > 10 ? ', …' : ''}.`);
    }
  }
  if (wrong.length > 0) {
    lines.push(`Wrong (${wrong.length}): ${wrong.join('; ')}.`);
  }
  throw new Error(lines.join('\n'));
}

function initialWeight(name: string, shape: number[], architecture: BertArchitecture, seed: number): tf.Tensor {
  if (name.endsWith('LayerNorm.weight')) {
    return tf.ones(shape);
  }
  if (name.endsWith('.bias')) {
    return tf.zeros(shape);
  }

  const values = tf.randomNormal(shape, 0, architecture.initializer_range, 'float32', seed);
  if (name !== 'embeddings.word_embeddings.weight') {
    return values;
  }
  // nn.Embedding(padding_idx=pad_token_id) starts with a zero row for the padding token.
  const data = values.dataSync<'float32'>().slice();
  values.dispose();
  const rowStart = architecture.pad_token_id * architecture.hidden_size;
  data.fill(0, rowStart, rowStart + architecture.hidden_size);
  return tf.tensor(data, shape, 'float32');
}
