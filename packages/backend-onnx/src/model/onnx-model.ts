import {
  ENCODER_WEIGHT_PREFIX,
  expectedBertWeightShapes,
  FtError,
  Random,
  type Batch,
  type ForwardOutputs,
  type ModelDescription,
  type ModelHandle,
  type NamedArray,
  type NamedArrays,
  type TrainingBatch,
  type TrainStepOptions,
  type TrainStepResult,
  DROPOUT_CALLS_STATE_KEY,
  ENCODER_DROPOUT_CALLS_STATE_PREFIX,
} from '@ft/core';
import type * as ort from 'onnxruntime-node';

import { FrozenBertEncoder, checkBertInputs, checkBertWeightShapes, initialBertWeights } from '../encoders/bert-encoder.js';
import { optimizerScalars, optimizerSlots } from '../optimizers/update.js';
import { createSession, floatTensor, int32Tensor, outputData, type SessionSettings } from '../runtime/session.js';
import { dropoutMask } from './dropout-masks.js';
import { BATCH_DIM, buildModelGraph, buildUpdateGraph, combinerLayers, sequenceDim, type DropoutSite, type GraphMode, type ModelGraphSpec } from './model-graph.js';

const MODEL_DROPOUT_KEY = DROPOUT_CALLS_STATE_KEY;
const ENCODER_DROPOUT_PREFIX = ENCODER_DROPOUT_CALLS_STATE_PREFIX;
/** Counter name of the combiner's dropout masks; encoders count under their input name. */
const MODEL_COUNTER = 'model';

interface Weight {
  readonly shape: readonly number[];
  data: Float32Array;
}

interface LoadedSession {
  readonly session: ort.InferenceSession;
  readonly dropoutSites: readonly DropoutSite[];
}

/** Glorot (Xavier) uniform initialization of a `[out, in]` weight, seeded. */
function glorotUniform(outputSize: number, inputSize: number, seed: number): Float32Array {
  const random = new Random(`glorot:${seed}`);
  const limit = Math.sqrt(6 / (inputSize + outputSize));
  return Float32Array.from({ length: outputSize * inputSize }, () => (random.next() * 2 - 1) * limit);
}

/**
 * A model whose training step is one ONNX graph: forward, backward, gradient clipping and the
 * optimizer update run in a single session call. Weights and optimizer state live on the
 * JavaScript side as Float32Arrays and go in and out of that call. Frozen BERT encoders run
 * first in their own session, and their outputs enter the graph as inputs.
 */
export class OnnxModel implements ModelHandle {
  /** Every weight, by exported name; frozen encoder weights included. */
  private readonly weights = new Map<string, Weight>();
  /** Names of the weights the optimizer updates, in graph input order. */
  private readonly trainableNames: string[] = [];
  /** Optimizer slots by state key `optimizer.<weight>.<slot>`. */
  private readonly slots = new Map<string, Float32Array>();
  private readonly frozenEncoders = new Map<string, FrozenBertEncoder>();
  private readonly dropoutCalls = new Map<string, number>([[MODEL_COUNTER, 0]]);
  private readonly sessions = new Map<GraphMode | 'update', Promise<LoadedSession>>();
  private step = 0;
  private disposed = false;

  private constructor(
    private readonly description: ModelDescription,
    private readonly settings: SessionSettings,
  ) {}

  static async build(description: ModelDescription, settings: SessionSettings): Promise<OnnxModel> {
    const model = new OnnxModel(description, settings);
    await model.buildWeights();
    model.resetSlots();
    return model;
  }

  private async buildWeights(): Promise<void> {
    const { description } = this;
    let seed = description.seed;
    let width = 0;

    for (const input of description.inputs) {
      switch (input.kind) {
        case 'text': {
          if (input.encoder.type !== 'bert') {
            throw new FtError(
              'UNSUPPORTED',
              `Input "${input.name}" uses the universal_sentence_encoder, which the ONNX backend cannot run. Set backend.type to tfjs, or cache the embeddings so the input arrives as an embedding.`,
            );
          }
          const { architecture, trainable, reduceOutput } = input.encoder;
          const weights = input.encoder.weights ?? initialBertWeights(architecture, seed);
          checkBertWeightShapes(weights, architecture);
          if (!trainable) {
            this.frozenEncoders.set(input.name, await FrozenBertEncoder.create(architecture, weights, reduceOutput, this.settings, seed));
          } else {
            this.dropoutCalls.set(input.name, 0);
          }
          seed += 1;
          for (const name of Object.keys(expectedBertWeightShapes(architecture))) {
            const array = weights[name]!;
            // Mean pooling never reads the pooler, so like tfjs (which gets no gradient for it) the
            // optimizer leaves it alone instead of decaying it.
            const used = reduceOutput === 'cls_pooled' || !name.startsWith('pooler.');
            this.addWeight(`${ENCODER_WEIGHT_PREFIX}${input.name}.${name}`, array.shape, (array.data as Float32Array).slice(), trainable && used);
          }
          width += architecture.hidden_size;
          break;
        }
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
    combinerLayers(description).forEach((layer, index) => {
      const prefix = `combiner.fc_layers.${index}`;
      this.addWeight(`${prefix}.weight`, [layer.outputSize, width], glorotUniform(layer.outputSize, width, seed++), true);
      if (combiner.use_bias) {
        this.addWeight(`${prefix}.bias`, [layer.outputSize], new Float32Array(layer.outputSize), true);
      }
      if (combiner.norm === 'layer') {
        this.addWeight(`${prefix}.layer_norm.weight`, [layer.outputSize], new Float32Array(layer.outputSize).fill(1), true);
        this.addWeight(`${prefix}.layer_norm.bias`, [layer.outputSize], new Float32Array(layer.outputSize), true);
      }
      width = layer.outputSize;
    });

    for (const output of description.outputs) {
      const size = output.kind === 'category' ? output.numClasses : 1;
      this.addWeight(`heads.${output.name}.weight`, [size, width], glorotUniform(size, width, seed++), true);
      this.addWeight(`heads.${output.name}.bias`, [size], new Float32Array(size), true);
    }
  }

  private addWeight(name: string, shape: readonly number[], data: Float32Array, trainable: boolean): void {
    this.weights.set(name, { shape: [...shape], data });
    if (trainable) {
      this.trainableNames.push(name);
    }
  }

  private resetSlots(): void {
    for (const name of this.trainableNames) {
      for (const { slot, initialValue } of optimizerSlots(this.description.optimizer)) {
        this.slots.set(`optimizer.${name}.${slot}`, new Float32Array(this.weights.get(name)!.data.length).fill(initialValue));
      }
    }
  }

  private graphSpec(): ModelGraphSpec {
    return {
      description: this.description,
      weightShapes: new Map(this.trainableNames.map((name) => [name, this.weights.get(name)!.shape])),
      frozenTextWidths: new Map([...this.frozenEncoders].map(([name, encoder]) => [name, encoder.outputSize])),
    };
  }

  /** Builds and loads a graph on first use; later calls reuse the session. */
  private session(mode: GraphMode | 'update'): Promise<LoadedSession> {
    if (this.disposed) {
      throw new Error('This ONNX model was used after dispose(). Build a new model.');
    }
    let loaded = this.sessions.get(mode);
    if (loaded === undefined) {
      const spec = this.graphSpec();
      const built = mode === 'update' ? { bytes: buildUpdateGraph(spec), dropoutSites: [] } : buildModelGraph(spec, mode);
      loaded = createSession(built.bytes, this.settings).then((session) => ({ session, dropoutSites: built.dropoutSites }));
      this.sessions.set(mode, loaded);
    }
    return loaded;
  }

  // Feeds.

  private async inputFeeds(batch: Batch, feeds: Record<string, ort.Tensor>): Promise<void> {
    for (const input of this.description.inputs) {
      const data = batch.inputs[input.name];
      if (data === undefined) {
        throw new Error(`Batch has no data for input "${input.name}".`);
      }
      if (data.kind !== input.kind && !(input.kind === 'text' && data.kind === 'embedding')) {
        throw new Error(`Batch data of input "${input.name}" has kind ${data.kind}, expected ${input.kind}.`);
      }
      const name = `input.${input.name}`;
      switch (data.kind) {
        case 'embedding':
          checkLength(input.name, data.values.length, batch.rows * data.size);
          feeds[name] = floatTensor(data.values, [batch.rows, data.size]);
          break;
        case 'number':
          checkLength(input.name, data.values.length, batch.rows);
          feeds[name] = floatTensor(data.values, [batch.rows]);
          break;
        case 'category':
          checkLength(input.name, data.indices.length, batch.rows);
          feeds[name] = int32Tensor(data.indices, [batch.rows]);
          break;
        case 'text': {
          const frozen = this.frozenEncoders.get(input.name);
          if (frozen !== undefined) {
            const embeddings = await frozen.encode(data.ids, data.attentionMask, batch.rows, data.sequenceLength);
            feeds[name] = floatTensor(embeddings, [batch.rows, frozen.outputSize]);
          } else if (input.kind === 'text' && input.encoder.type === 'bert') {
            checkBertInputs(input.encoder.architecture, data.ids, data.attentionMask, batch.rows, data.sequenceLength);
            feeds[`${name}.ids`] = int32Tensor(data.ids, [batch.rows, data.sequenceLength]);
            feeds[`${name}.mask`] = int32Tensor(data.attentionMask, [batch.rows, data.sequenceLength]);
          }
          break;
        }
      }
    }
  }

  private targetFeeds(batch: TrainingBatch, feeds: Record<string, ort.Tensor>): void {
    for (const output of this.description.outputs) {
      const target = batch.targets[output.name];
      if (target === undefined) {
        throw new Error(`Batch has no targets for output "${output.name}".`);
      }
      if (target.kind !== output.kind) {
        throw new Error(`Target of output "${output.name}" has kind ${target.kind}, expected ${output.kind}.`);
      }
      const name = `target.${output.name}`;
      if (target.kind === 'category') {
        checkLength(output.name, target.indices.length, batch.rows);
        feeds[name] = int32Tensor(target.indices, [batch.rows]);
      } else {
        checkLength(output.name, target.values.length, batch.rows);
        feeds[name] = floatTensor(target.values, [batch.rows]);
      }
    }
  }

  private weightFeeds(feeds: Record<string, ort.Tensor>): void {
    for (const name of this.trainableNames) {
      const weight = this.weights.get(name)!;
      feeds[name] = floatTensor(weight.data, weight.shape);
    }
  }

  private optimizerFeeds(feeds: Record<string, ort.Tensor>, learningRate: number): void {
    for (const [key, data] of this.slots) {
      const weightName = key.slice('optimizer.'.length, key.lastIndexOf('.'));
      feeds[key] = floatTensor(data, this.weights.get(weightName)!.shape);
    }
    for (const [name, value] of Object.entries(optimizerScalars(this.description.optimizer, this.step + 1, learningRate))) {
      feeds[`optimizer_scalar.${name}`] = floatTensor(Float32Array.of(value), []);
    }
  }

  /** Draws one mask per dropout site, each seeded by the model seed and its counter's next call number. */
  private dropoutFeeds(sites: readonly DropoutSite[], batch: Batch, feeds: Record<string, ort.Tensor>): void {
    const counters = [...this.dropoutCalls.keys()];
    for (const site of sites) {
      const shape = site.shape.map((dimension) => {
        if (typeof dimension === 'number') {
          return dimension;
        }
        if (dimension === BATCH_DIM) {
          return batch.rows;
        }
        const input = this.description.inputs.find((candidate) => sequenceDim(candidate.name) === dimension);
        const data = input === undefined ? undefined : batch.inputs[input.name];
        if (data?.kind !== 'text') {
          throw new Error(`Dropout mask ${site.inputName} has dimension ${dimension}, which no batch input gives.`);
        }
        return data.sequenceLength;
      });
      const call = (this.dropoutCalls.get(site.counter) ?? 0) + 1;
      this.dropoutCalls.set(site.counter, call);
      const seed = this.description.seed + 1_000_003 * counters.indexOf(site.counter);
      feeds[site.inputName] = floatTensor(dropoutMask(shape.reduce((product, size) => product * size, 1), site.rate, seed, call), shape);
    }
  }

  /** Feeds the loss scale to graphs built for mixed precision. Float32 graphs have no such input. */
  private lossScaleFeed(feeds: Record<string, ort.Tensor>, options: TrainStepOptions | undefined): void {
    const scale = options?.lossScale ?? 1;
    if (this.description.mixedPrecision) {
      if (!(scale > 0) || !Number.isFinite(scale)) {
        throw new RangeError(`The loss scale must be a positive finite number, got ${scale}.`);
      }
      feeds.loss_scale = floatTensor(Float32Array.of(scale), []);
    } else if (scale !== 1) {
      throw new Error('A loss scale needs a model built with mixedPrecision: true. Build the model with it, or leave lossScale unset.');
    }
  }

  private losses(results: ort.InferenceSession.OnnxValueMapType): TrainStepResult {
    const outputLosses: Record<string, number> = {};
    for (const output of this.description.outputs) {
      outputLosses[output.name] = outputData(results, `loss.${output.name}`)[0]!;
    }
    return { loss: outputData(results, 'loss')[0]!, outputLosses };
  }

  /** Takes the updated weights and optimizer slots out of a training or update run. */
  private storeUpdate(results: ort.InferenceSession.OnnxValueMapType): void {
    for (const name of this.trainableNames) {
      this.weights.get(name)!.data = outputData(results, `updated.${name}`);
    }
    for (const key of this.slots.keys()) {
      this.slots.set(key, outputData(results, `updated.${key}`));
    }
    this.step += 1;
  }

  // ModelHandle.

  async forward(batch: Batch): Promise<ForwardOutputs> {
    const { session } = await this.session('forward');
    const feeds: Record<string, ort.Tensor> = {};
    await this.inputFeeds(batch, feeds);
    this.weightFeeds(feeds);
    const results = await session.run(feeds);
    return Object.fromEntries(this.description.outputs.map((output) => [output.name, outputData(results, `logits.${output.name}`)]));
  }

  async trainStep(batch: TrainingBatch, learningRate: number, options?: TrainStepOptions): Promise<TrainStepResult> {
    const { session, dropoutSites } = await this.session('train');
    const feeds: Record<string, ort.Tensor> = {};
    await this.inputFeeds(batch, feeds);
    this.targetFeeds(batch, feeds);
    this.weightFeeds(feeds);
    this.optimizerFeeds(feeds, learningRate);
    this.dropoutFeeds(dropoutSites, batch, feeds);
    this.lossScaleFeed(feeds, options);

    const results = await session.run(feeds);
    // An overflowed step keeps the weights, the optimizer slots and the step count as they were.
    if (this.description.mixedPrecision && !Number(outputData(results, 'gradients_finite')[0])) {
      return { ...this.losses(results), gradientsFinite: false };
    }
    this.storeUpdate(results);
    return this.losses(results);
  }

  async computeGradients(batch: TrainingBatch, options?: TrainStepOptions): Promise<TrainStepResult & { gradients: NamedArrays }> {
    const { session, dropoutSites } = await this.session('gradients');
    const feeds: Record<string, ort.Tensor> = {};
    await this.inputFeeds(batch, feeds);
    this.targetFeeds(batch, feeds);
    this.weightFeeds(feeds);
    this.dropoutFeeds(dropoutSites, batch, feeds);
    this.lossScaleFeed(feeds, options);

    const results = await session.run(feeds);
    const gradients: NamedArrays = {};
    for (const name of this.trainableNames) {
      gradients[name] = { dtype: 'float32', shape: [...this.weights.get(name)!.shape], data: outputData(results, `gradient.${name}`) };
    }
    return { ...this.losses(results), gradients };
  }

  async applyGradients(gradients: NamedArrays, learningRate: number): Promise<void> {
    const { session } = await this.session('update');
    const feeds: Record<string, ort.Tensor> = {};
    const missing = this.trainableNames.filter((name) => gradients[name] === undefined);
    if (missing.length > 0) {
      throw new Error(`applyGradients: gradients are missing for ${missing.join(', ')}. Pass every weight that computeGradients returned.`);
    }
    for (const name of this.trainableNames) {
      const gradient = gradients[name]!;
      const weight = this.weights.get(name)!;
      if (gradient.dtype !== 'float32' || gradient.data.length !== weight.data.length) {
        throw new Error(`applyGradients: the gradient of ${name} must be float32 [${weight.shape.join(', ')}], got ${gradient.dtype} [${gradient.shape.join(', ')}].`);
      }
      feeds[`gradient.${name}`] = floatTensor(gradient.data, weight.shape);
    }
    this.weightFeeds(feeds);
    this.optimizerFeeds(feeds, learningRate);

    this.storeUpdate(await session.run(feeds));
  }

  async exportWeights(): Promise<NamedArrays> {
    const weights: NamedArrays = {};
    for (const [name, weight] of this.weights) {
      weights[name] = { dtype: 'float32', shape: [...weight.shape], data: weight.data.slice() };
    }
    return weights;
  }

  async exportState(): Promise<NamedArrays> {
    const state: NamedArrays = await this.exportWeights();
    state['optimizer.step'] = scalarArray(this.step);
    for (const [key, data] of this.slots) {
      const weightName = key.slice('optimizer.'.length, key.lastIndexOf('.'));
      state[key] = { dtype: 'float32', shape: [...this.weights.get(weightName)!.shape], data: data.slice() };
    }
    for (const [counter, calls] of this.dropoutCalls) {
      state[counter === MODEL_COUNTER ? MODEL_DROPOUT_KEY : `${ENCODER_DROPOUT_PREFIX}${counter}`] = scalarArray(calls);
    }
    return state;
  }

  /**
   * Restores what {@link exportState} returned, from this backend or the tfjs backend. Slots
   * that `state` lacks (tfjs creates them at the first update) start from their initial values.
   */
  async importState(state: NamedArrays): Promise<void> {
    for (const [name, weight] of this.weights) {
      const array = state[name];
      if (array === undefined) {
        throw new Error(`importState: state has no weight "${name}".`);
      }
      if (array.dtype !== 'float32' || array.data.length !== weight.data.length) {
        throw new Error(`importState: weight "${name}" must be float32 [${weight.shape.join(', ')}], got ${array.dtype} [${array.shape.join(', ')}].`);
      }
    }
    for (const [name, weight] of this.weights) {
      weight.data = (state[name]!.data as Float32Array).slice();
    }
    await this.reloadFrozenEncoders();

    this.resetSlots();
    for (const key of this.slots.keys()) {
      const array = state[key];
      if (array !== undefined) {
        this.slots.set(key, Float32Array.from(array.data));
      }
    }
    this.step = state['optimizer.step']?.data[0] ?? 0;

    for (const counter of this.dropoutCalls.keys()) {
      const calls = state[counter === MODEL_COUNTER ? MODEL_DROPOUT_KEY : `${ENCODER_DROPOUT_PREFIX}${counter}`]?.data[0];
      if (calls !== undefined) {
        this.dropoutCalls.set(counter, calls);
      }
    }
  }

  /** Rebuilds the session of each frozen encoder whose imported weights differ from the loaded ones. */
  private async reloadFrozenEncoders(): Promise<void> {
    for (const [inputName, encoder] of this.frozenEncoders) {
      const prefix = `${ENCODER_WEIGHT_PREFIX}${inputName}.`;
      const imported: NamedArrays = {};
      let changed = false;
      for (const [name, loaded] of Object.entries(encoder.weights)) {
        const data = this.weights.get(`${prefix}${name}`)?.data ?? (loaded.data as Float32Array);
        imported[name] = { dtype: 'float32', shape: loaded.shape, data };
        changed ||= !arraysEqual(data, loaded.data as Float32Array);
      }
      if (changed) {
        const input = this.description.inputs.find((candidate) => candidate.name === inputName)!;
        const reduceOutput = input.kind === 'text' && input.encoder.type === 'bert' ? input.encoder.reduceOutput : 'cls_pooled';
        encoder.dispose();
        this.frozenEncoders.set(inputName, await FrozenBertEncoder.create(encoder.architecture, imported, reduceOutput, this.settings, 0));
      }
    }
  }

  dispose(): void {
    if (this.disposed) {
      return;
    }
    this.disposed = true;
    for (const encoder of this.frozenEncoders.values()) {
      encoder.dispose();
    }
    for (const loaded of this.sessions.values()) {
      void loaded.then(({ session }) => session.release()).catch(() => undefined);
    }
    this.sessions.clear();
  }
}

function scalarArray(value: number): NamedArray {
  return { dtype: 'float32', shape: [1], data: Float32Array.of(value) };
}

function arraysEqual(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) {
    return false;
  }
  for (let index = 0; index < a.length; index++) {
    if (a[index] !== b[index]) {
      return false;
    }
  }
  return true;
}

function checkLength(name: string, actual: number, expected: number): void {
  if (actual !== expected) {
    throw new Error(`Batch data of "${name}" has ${actual} values, expected ${expected} for this batch.`);
  }
}
