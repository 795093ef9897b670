import * as tf from '@tensorflow/tfjs-core';
import {
  ENCODER_WEIGHT_PREFIX,
  type Batch,
  type ForwardOutputs,
  type InputBatch,
  type ModelDescription,
  type ModelHandle,
  type NamedArrays,
  type TrainingBatch,
  type TrainStepResult,
  DROPOUT_CALLS_STATE_KEY,
  ENCODER_DROPOUT_CALLS_STATE_PREFIX,
} from '@ft/core';

import { BertEncoder } from '../encoders/bert.js';
import { UniversalSentenceEncoder } from '../encoders/universal-sentence-encoder.js';
import { clipGradients, TfjsOptimizer } from '../optimizers/optimizer.js';
import { activate, glorotUniform, layerNorm, linear } from './layers.js';

const MODEL_DROPOUT_KEY = DROPOUT_CALLS_STATE_KEY;
const ENCODER_DROPOUT_PREFIX = ENCODER_DROPOUT_CALLS_STATE_PREFIX;

type TextEncoder = { kind: 'bert'; encoder: BertEncoder } | { kind: 'use'; encoder: UniversalSentenceEncoder };

interface FullyConnectedLayer {
  readonly prefix: string;
  readonly activation: 'relu' | 'tanh' | 'sigmoid' | 'gelu' | 'linear';
  readonly dropout: number;
  readonly norm: boolean;
}

/**
 * The model that a description specifies: one encoder per input, a concat combiner with optional
 * fully connected layers, and one linear head per output, trained with the configured loss
 * and optimizer. Weights are named as in the exported safetensors file.
 */
export class TfjsModel implements ModelHandle {
  private readonly weights = new Map<string, tf.Variable>();
  private readonly encoders = new Map<string, TextEncoder>();
  private readonly fcLayers: FullyConnectedLayer[] = [];
  private readonly optimizer: TfjsOptimizer;
  private dropoutCalls = 0;

  private constructor(private readonly description: ModelDescription) {
    this.optimizer = new TfjsOptimizer(description.optimizer);
  }

  static async build(description: ModelDescription): Promise<TfjsModel> {
    const model = new TfjsModel(description);
    await model.buildLayers();
    return model;
  }

  private async buildLayers(): Promise<void> {
    const { description } = this;
    let seed = description.seed;
    let width = 0;

    for (const input of description.inputs) {
      switch (input.kind) {
        case 'text':
          if (input.encoder.type === 'bert') {
            const encoder = BertEncoder.create(input.encoder.architecture, input.encoder.weights, { trainable: input.encoder.trainable, seed: seed++ });
            this.encoders.set(input.name, { kind: 'bert', encoder });
            for (const [name, variable] of encoder.variables) {
              this.weights.set(`${ENCODER_WEIGHT_PREFIX}${input.name}.${name}`, variable);
            }
            width += input.encoder.architecture.hidden_size;
          } else {
            this.encoders.set(input.name, { kind: 'use', encoder: await UniversalSentenceEncoder.load(input.encoder.modelDirectory) });
            width += UniversalSentenceEncoder.outputSize;
          }
          break;
        case 'embedding':
          width += input.size;
          break;
        case 'category':
          width += input.vocabularySize;
          break;
        case 'number':
          width += 1;
          break;
      }
    }

    const combiner = description.combiner;
    const layers: { output_size: number; activation?: FullyConnectedLayer['activation']; dropout?: number }[] =
      combiner.fc_layers ?? Array.from({ length: combiner.num_fc_layers }, () => ({ output_size: combiner.output_size }));
    layers.forEach((layer, index) => {
      const prefix = `combiner.fc_layers.${index}`;
      this.addWeight(`${prefix}.weight`, glorotUniform(layer.output_size, width, seed++));
      if (combiner.use_bias) {
        this.addWeight(`${prefix}.bias`, tf.zeros([layer.output_size]));
      }
      if (combiner.norm === 'layer') {
        this.addWeight(`${prefix}.layer_norm.weight`, tf.ones([layer.output_size]));
        this.addWeight(`${prefix}.layer_norm.bias`, tf.zeros([layer.output_size]));
      }
      this.fcLayers.push({ prefix, activation: layer.activation ?? combiner.activation, dropout: layer.dropout ?? combiner.dropout, norm: combiner.norm === 'layer' });
      width = layer.output_size;
    });

    for (const output of description.outputs) {
      const size = output.kind === 'category' ? output.numClasses : 1;
      this.addWeight(`heads.${output.name}.weight`, glorotUniform(size, width, seed++));
      this.addWeight(`heads.${output.name}.bias`, tf.zeros([size]));
    }
  }

  private addWeight(name: string, initial: tf.Tensor): void {
    // tfjs variable names are global to the process, so weights keep auto-generated ones and
    // this model maps its own names to them.
    this.weights.set(name, tf.variable(initial, true));
    initial.dispose();
  }

  /** Variables the optimizer updates: everything except the weights of frozen encoders. */
  private trainableWeights(): Map<string, tf.Variable> {
    const frozenPrefixes = this.description.inputs
      .filter((input) => input.kind === 'text' && !input.encoder.trainable)
      .map((input) => `${ENCODER_WEIGHT_PREFIX}${input.name}.`);
    return new Map([...this.weights].filter(([name]) => !frozenPrefixes.some((prefix) => name.startsWith(prefix))));
  }

  /**
   * Runs the frozen graph-model encoders of a batch. They execute asynchronously, so they
   * cannot run inside a gradient tape; being frozen, their embeddings enter it as constants.
   */
  private async runGraphEncoders(batch: Batch): Promise<Map<string, tf.Tensor2D>> {
    const precomputed = new Map<string, tf.Tensor2D>();
    for (const [name, text] of this.encoders) {
      const input = batch.inputs[name];
      if (text.kind === 'use' && input?.kind === 'text') {
        precomputed.set(name, await text.encoder.embed(input.ids, input.attentionMask, batch.rows, input.sequenceLength));
      }
    }
    return precomputed;
  }

  private combineSync(batch: Batch, training: boolean, precomputed: ReadonlyMap<string, tf.Tensor2D>): tf.Tensor2D {
    const parts: tf.Tensor2D[] = [];
    for (const input of this.description.inputs) {
      const data = batch.inputs[input.name];
      if (data === undefined) {
        throw new Error(`Batch has no data for input "${input.name}".`);
      }
      parts.push(this.encodeInput(input.name, data, batch.rows, training, precomputed));
    }

    let hidden = parts.length === 1 ? parts[0]! : tf.concat(parts, 1);
    for (const layer of this.fcLayers) {
      hidden = linear(hidden, this.weights.get(`${layer.prefix}.weight`)!, this.weights.get(`${layer.prefix}.bias`));
      if (layer.norm) {
        hidden = layerNorm(hidden, this.weights.get(`${layer.prefix}.layer_norm.weight`)!, this.weights.get(`${layer.prefix}.layer_norm.bias`)!);
      }
      hidden = activate(hidden, layer.activation) as tf.Tensor2D;
      if (training && layer.dropout > 0) {
        hidden = tf.dropout(hidden, layer.dropout, undefined, this.description.seed + 7919 * ++this.dropoutCalls) as tf.Tensor2D;
      }
    }
    return hidden;
  }

  private encodeInput(name: string, data: InputBatch, rows: number, training: boolean, precomputed: ReadonlyMap<string, tf.Tensor2D>): tf.Tensor2D {
    switch (data.kind) {
      case 'text': {
        const text = this.encoders.get(name);
        if (text?.kind === 'use') {
          return precomputed.get(name)!.clone();
        }
        if (text?.kind !== 'bert') {
          throw new Error(`Input "${name}" has token ids but no text encoder.`);
        }
        const ids = tf.tensor2d(data.ids, [rows, data.sequenceLength], 'int32');
        const mask = tf.tensor2d(data.attentionMask, [rows, data.sequenceLength], 'int32');
        const reduceOutput = (this.description.inputs.find((input) => input.name === name) as { encoder: { reduceOutput: 'cls_pooled' | 'mean' } }).encoder.reduceOutput;
        return text.encoder.apply(ids, mask, { training, reduceOutput }).pooled;
      }
      case 'embedding':
        return tf.tensor2d(data.values, [rows, data.size]);
      case 'category': {
        const size = (this.description.inputs.find((input) => input.name === name) as { vocabularySize: number }).vocabularySize;
        return tf.oneHot(tf.tensor1d(data.indices, 'int32'), size).toFloat() as tf.Tensor2D;
      }
      case 'number':
        return tf.tensor2d(data.values, [rows, 1]);
    }
  }

  private heads(hidden: tf.Tensor2D): Record<string, tf.Tensor2D> {
    const logits: Record<string, tf.Tensor2D> = {};
    for (const output of this.description.outputs) {
      logits[output.name] = linear(hidden, this.weights.get(`heads.${output.name}.weight`)!, this.weights.get(`heads.${output.name}.bias`));
    }
    return logits;
  }

  private losses(logits: Record<string, tf.Tensor2D>, batch: TrainingBatch): { total: tf.Scalar; perOutput: Record<string, tf.Scalar> } {
    const perOutput: Record<string, tf.Scalar> = {};
    let total: tf.Scalar = tf.scalar(0);
    for (const output of this.description.outputs) {
      const target = batch.targets[output.name]!;
      const z = logits[output.name]!;
      let loss: tf.Scalar;
      if (output.kind === 'category' && target.kind === 'category') {
        const labels = tf.oneHot(tf.tensor1d(target.indices, 'int32'), output.numClasses).toFloat();
        const perRow = tf.neg(labels.mul(tf.logSoftmax(z)).sum(1));
        if (output.classWeights === null) {
          loss = perRow.mean() as tf.Scalar;
        } else {
          // Weighted mean, as PyTorch's CrossEntropyLoss(weight=...) computes it.
          const rowWeights = tf.tensor1d(Array.from(target.indices, (index) => output.classWeights![index] ?? 1));
          loss = perRow.mul(rowWeights).sum().div(rowWeights.sum()) as tf.Scalar;
        }
      } else if (output.kind === 'binary' && target.kind === 'binary') {
        const y = tf.tensor2d(target.values, [target.values.length, 1]);
        const positiveWeight = output.positiveClassWeight ?? 1;
        // log σ(z) = -softplus(-z) and log(1 - σ(z)) = -softplus(z), both stable for large |z|.
        const perRow = y.mul(tf.softplus(z.neg())).mul(positiveWeight).add(tf.scalar(1).sub(y).mul(tf.softplus(z)));
        loss = perRow.mean() as tf.Scalar;
      } else if (output.kind === 'number' && target.kind === 'number') {
        const difference = z.sub(tf.tensor2d(target.values, [target.values.length, 1]));
        loss = (output.loss === 'mean_squared_error' ? difference.square().mean() : difference.abs().mean()) as tf.Scalar;
      } else {
        throw new Error(`Target of output "${output.name}" has kind ${target.kind}, expected ${output.kind}.`);
      }
      perOutput[output.name] = loss;
      total = total.add(loss.mul(output.lossWeight));
    }
    return { total, perOutput };
  }

  async forward(batch: Batch): Promise<ForwardOutputs> {
    const precomputed = await this.runGraphEncoders(batch);
    const logits = tf.tidy(() => this.heads(this.combineSync(batch, false, precomputed)));
    precomputed.forEach((tensor) => tensor.dispose());
    const outputs: Record<string, Float32Array> = {};
    for (const [name, tensor] of Object.entries(logits)) {
      outputs[name] = (await tensor.data()) as Float32Array;
      tensor.dispose();
    }
    return outputs;
  }

  async trainStep(batch: TrainingBatch, learningRate: number): Promise<TrainStepResult> {
    const { loss, outputLosses, gradients } = await this.gradients(batch);
    this.update(gradients, learningRate);
    return { loss, outputLosses };
  }

  async computeGradients(batch: TrainingBatch): Promise<TrainStepResult & { gradients: NamedArrays }> {
    const { loss, outputLosses, gradients } = await this.gradients(batch);
    const arrays: NamedArrays = {};
    for (const [name, gradient] of Object.entries(gradients)) {
      arrays[name] = { dtype: 'float32', shape: [...gradient.shape], data: (await gradient.data()) as Float32Array };
      gradient.dispose();
    }
    return { loss, outputLosses, gradients: arrays };
  }

  async applyGradients(gradients: NamedArrays, learningRate: number): Promise<void> {
    const tensors: Record<string, tf.Tensor> = {};
    for (const [name, array] of Object.entries(gradients)) {
      tensors[name] = tf.tensor(array.data, [...array.shape], 'float32');
    }
    this.update(tensors, learningRate);
  }

  /** Clips gradients, applies one optimizer update and disposes the gradients. */
  private update(gradients: Record<string, tf.Tensor>, learningRate: number): void {
    const clipped = clipGradients(gradients, this.description.gradientClipping);
    this.optimizer.apply(this.trainableWeights(), clipped, learningRate);
    Object.values(gradients).forEach((gradient) => gradient.dispose());
    Object.values(clipped).forEach((gradient) => gradient.dispose());
  }

  /** Runs forward and backward; returns the losses and the gradients of the trainable weights by weight name. */
  private async gradients(batch: TrainingBatch): Promise<TrainStepResult & { gradients: Record<string, tf.Tensor> }> {
    const precomputed = await this.runGraphEncoders(batch);

    const trainable = this.trainableWeights();
    const perOutputValues: Record<string, tf.Scalar> = {};
    const { value, grads } = tf.variableGrads(() => {
      const hidden = this.combineSync(batch, true, precomputed);
      const { total, perOutput } = this.losses(this.heads(hidden), batch);
      for (const [name, loss] of Object.entries(perOutput)) {
        perOutputValues[name] = tf.keep(loss.clone());
      }
      return total;
    }, [...trainable.values()]);
    precomputed.forEach((tensor) => tensor.dispose());

    const byName: Record<string, tf.Tensor> = {};
    for (const [name, variable] of trainable) {
      const gradient = grads[variable.name];
      if (gradient !== undefined) {
        byName[name] = gradient;
      }
    }

    const loss = (await value.data())[0]!;
    value.dispose();
    const outputLosses: Record<string, number> = {};
    for (const [name, tensor] of Object.entries(perOutputValues)) {
      outputLosses[name] = (await tensor.data())[0]!;
      tensor.dispose();
    }
    return { loss, outputLosses, gradients: byName };
  }

  async exportWeights(): Promise<NamedArrays> {
    const weights: NamedArrays = {};
    for (const [name, variable] of this.weights) {
      weights[name] = { dtype: 'float32', shape: [...variable.shape], data: (await variable.data()) as Float32Array };
    }
    return weights;
  }

  async exportState(): Promise<NamedArrays> {
    const random: NamedArrays = { [MODEL_DROPOUT_KEY]: { dtype: 'float32', shape: [1], data: Float32Array.of(this.dropoutCalls) } };
    for (const [name, text] of this.encoders) {
      if (text.kind === 'bert') {
        random[`${ENCODER_DROPOUT_PREFIX}${name}`] = { dtype: 'float32', shape: [1], data: Float32Array.of(text.encoder.dropoutCalls) };
      }
    }
    return { ...(await this.exportWeights()), ...(await this.optimizer.exportState()), ...random };
  }

  async importState(state: NamedArrays): Promise<void> {
    for (const [name, variable] of this.weights) {
      const array = state[name];
      if (array === undefined) {
        throw new Error(`importState: state has no weight "${name}".`);
      }
      tf.tidy(() => variable.assign(tf.tensor(array.data, [...array.shape], 'float32')));
    }
    this.optimizer.importState(state, this.trainableWeights());

    this.dropoutCalls = state[MODEL_DROPOUT_KEY]?.data[0] ?? this.dropoutCalls;
    for (const [name, text] of this.encoders) {
      const calls = state[`${ENCODER_DROPOUT_PREFIX}${name}`]?.data[0];
      if (text.kind === 'bert' && calls !== undefined) {
        text.encoder.dropoutCalls = calls;
      }
    }
  }

  dispose(): void {
    for (const text of this.encoders.values()) {
      text.encoder.dispose();
    }
    for (const [name, variable] of this.weights) {
      if (!name.startsWith(ENCODER_WEIGHT_PREFIX)) {
        variable.dispose();
      }
    }
    this.optimizer.dispose();
  }
}
