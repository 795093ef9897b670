/**
 * The ONNX graphs of one model: forward, training step (forward, backward, clipping and
 * optimizer update in one graph), gradients only, and update only.
 *
 * Graph inputs and outputs follow one naming scheme, which `onnx-model.ts` feeds and reads.
 * Inputs: weights by their weight names, `input.<input>` (or `input.<input>.ids` and `.mask`
 * for a trainable text encoder), `target.<output>`, `dropout.<site>`,
 * `optimizer.<weight>.<slot>`, `optimizer_scalar.<name>` and, for mixed precision, `loss_scale`.
 * Outputs: `logits.<output>`, `loss`, `loss.<output>`, `gradient.<weight>`, `updated.<weight>`,
 * `updated.optimizer.<weight>.<slot>` and, for mixed precision, `gradients_finite`.
 *
 * With `mixedPrecision`, matrix products run in float16 (see `GraphBuilderOptions`), the
 * backward pass starts from the loss scale instead of 1, and the gradients are divided by it
 * again before clipping and the update. The training step's `gradients_finite` is false when
 * any gradient overflowed; the model then discards the step's outputs.
 */
import { ENCODER_WEIGHT_PREFIX, type ModelDescription, type OutputDescription } from '@ft/core';

import { gradients } from '../graph/autodiff.js';
import { GraphBuilder, type Shape, type Value } from '../graph/builder.js';
import { buildBertForward } from '../encoders/bert-graph.js';
import { buildGlobalNormScaling, buildGradientClipping, buildOptimizerUpdate, optimizerScalarNames, optimizerSlots, type Slot } from '../optimizers/update.js';
import { activate, applyDropoutMask, linear2d, type Activation } from './layers.js';

/** `predict` is the forward pass with probabilities out, for a standalone exported model. */
export type GraphMode = 'forward' | 'train' | 'gradients' | 'predict';

/** The symbolic batch dimension of every graph. */
export const BATCH_DIM = 'batch';

export function sequenceDim(inputName: string): string {
  return `sequence.${inputName}`;
}

export interface ModelGraphSpec {
  readonly description: ModelDescription;
  /** Shapes of the trainable weights, in a fixed order; the graphs read them as inputs. */
  readonly weightShapes: ReadonlyMap<string, readonly number[]>;
  /** Text inputs whose frozen encoder runs in its own session, with its output width. */
  readonly frozenTextWidths: ReadonlyMap<string, number>;
  /** Weights stored in the model as initializers instead of read as inputs; used by export. */
  readonly constantWeights?: ReadonlyMap<string, { readonly shape: readonly number[]; readonly data: Float32Array }>;
  /** Scale and offset that turn each number output back into column units (export only). */
  readonly numberOutputUnits?: ReadonlyMap<string, { readonly scale: number; readonly offset: number }>;
  /** Scale and offset of each number input's training normalization, applied as (x − offset) / scale (export only). */
  readonly numberInputUnits?: ReadonlyMap<string, { readonly scale: number; readonly offset: number }>;
}

/** Graph input names of an exported model, which plain ONNX Runtime users feed. */
export function exportedInputName(input: string, part?: 'input_ids' | 'attention_mask'): string {
  return part === undefined ? input : `${input}_${part}`;
}

/** A dropout mask that the training graph reads as input `dropout.<site>`. */
export interface DropoutSite {
  readonly inputName: string;
  readonly rate: number;
  readonly shape: Shape;
  /** Whose call counter seeds the mask: the combiner (`model`) or a text input's encoder. */
  readonly counter: string;
}

export interface BuiltGraph {
  readonly bytes: Uint8Array;
  readonly dropoutSites: readonly DropoutSite[];
}

export interface CombinerLayer {
  readonly outputSize: number;
  readonly activation: Activation;
  readonly dropout: number;
}

/** Resolves the combiner's fully connected layers from `fc_layers` or `num_fc_layers`. */
export function combinerLayers(description: ModelDescription): CombinerLayer[] {
  const combiner = description.combiner;
  const layers = combiner.fc_layers ?? Array.from({ length: combiner.num_fc_layers }, () => ({ output_size: combiner.output_size }));
  return layers.map((layer: { output_size: number; activation?: Activation; dropout?: number }) => ({
    outputSize: layer.output_size,
    activation: layer.activation ?? combiner.activation,
    dropout: layer.dropout ?? combiner.dropout,
  }));
}

/** Builds the forward, training-step or gradient graph of a model. */
export function buildModelGraph(spec: ModelGraphSpec, mode: GraphMode): BuiltGraph {
  const { description } = spec;
  // An exported model stays in float32, so it runs alike on every runtime and device.
  const halfPrecision = description.mixedPrecision && mode !== 'predict';
  const builder = new GraphBuilder(`ft_${mode}`, { matMulPrecision: halfPrecision ? 'float16' : 'float32' });
  const training = mode === 'train' || mode === 'gradients';
  const dropoutSites: DropoutSite[] = [];
  const dropoutMask = (site: string, rate: number, shape: Shape, counter: string): Value | undefined => {
    if (!training || rate <= 0) {
      return undefined;
    }
    const inputName = `dropout.${site}`;
    dropoutSites.push({ inputName, rate, shape, counter });
    return builder.input(inputName, 'float32', shape);
  };

  const weights = new Map<string, Value>();
  for (const [name, shape] of spec.weightShapes) {
    weights.set(name, builder.input(name, 'float32', shape));
  }
  for (const [name, { shape, data }] of spec.constantWeights ?? []) {
    weights.set(name, builder.initializer(name, 'float32', shape, data));
  }
  const weight = (name: string) => {
    const value = weights.get(name);
    if (value === undefined) {
      throw new Error(`The model graph needs weight "${name}", which the model does not have.`);
    }
    return value;
  };

  const parts = description.inputs.map((input) => builder.scope(`inputs.${input.name}`, () => encodeInput(builder, spec, input, weight, dropoutMask, mode === 'predict')));
  let hidden = parts.length === 1 ? parts[0]! : builder.concat(parts, 1);

  combinerLayers(description).forEach((layer, index) => {
    hidden = builder.scope(`combiner.fc${index}`, () => {
      const prefix = `combiner.fc_layers.${index}`;
      let x = linear2d(builder, hidden, weight(`${prefix}.weight`), description.combiner.use_bias ? weight(`${prefix}.bias`) : undefined);
      if (description.combiner.norm === 'layer') {
        // torch.nn.LayerNorm's default epsilon, as the tfjs backend uses.
        x = builder.layerNormalization(x, weight(`${prefix}.layer_norm.weight`), weight(`${prefix}.layer_norm.bias`), 1e-5);
      }
      x = activate(builder, x, layer.activation);
      return applyDropoutMask(builder, x, dropoutMask(`combiner.${index}`, layer.dropout, x.shape, 'model'));
    });
  });

  const logits: Record<string, Value> = {};
  for (const output of description.outputs) {
    logits[output.name] = builder.scope(`heads.${output.name}`, () => linear2d(builder, hidden, weight(`heads.${output.name}.weight`), weight(`heads.${output.name}.bias`)));
  }

  if (mode === 'forward') {
    for (const [name, value] of Object.entries(logits)) {
      builder.output(value, `logits.${name}`);
    }
    return { bytes: builder.toBytes(), dropoutSites };
  }
  if (mode === 'predict') {
    addPredictions(builder, spec, logits);
    return { bytes: builder.toBytes('Exported by @ft/backend-onnx.'), dropoutSites };
  }

  const total = builder.scope('loss', () => {
    let sum: Value | undefined;
    for (const output of description.outputs) {
      const loss = builder.scope(output.name, () => outputLoss(builder, output, logits[output.name]!));
      builder.output(loss, `loss.${output.name}`);
      const weighted = builder.scale(loss, output.lossWeight);
      sum = sum === undefined ? weighted : builder.add(sum, weighted);
    }
    return sum!;
  });
  builder.output(total, 'loss');

  const trainable = [...spec.weightShapes.keys()].map((name) => weights.get(name)!);
  const lossScale = halfPrecision ? builder.input('loss_scale', 'float32', []) : undefined;
  const gradientMap = gradients(builder, total, trainable, lossScale);
  let weightGradients = trainable.map((value) => gradientMap.get(value.name)!);
  if (lossScale !== undefined) {
    const inverse = builder.div(builder.constant(1), lossScale);
    weightGradients = builder.scope('unscale', () => weightGradients.map((gradient) => builder.mul(gradient, inverse)));
  }
  if (mode === 'gradients') {
    // The caller checks returned gradients for overflow after averaging or accumulating them.
    trainable.forEach((value, index) => builder.output(weightGradients[index]!, `gradient.${value.name}`));
  } else {
    const squaredNorm = addOptimizerUpdate(builder, spec, weights, weightGradients);
    if (lossScale !== undefined) {
      // Global-norm clipping has already summed the squared gradients, and that sum serves the check as well.
      const total = squaredNorm ?? weightGradients.map((gradient) => builder.sumAll(gradient)).reduce((sum, value) => builder.add(sum, value));
      builder.output(finiteFlag(builder, total), 'gradients_finite');
    }
  }
  return { bytes: builder.toBytes(), dropoutSites };
}

/**
 * Returns a bool scalar that is true when `total`, a sum over every gradient element or its
 * square, is finite. One Inf or NaN element makes such a sum Inf or NaN. A sum beyond float32's
 * range counts as an overflow too, and unscaled gradients that large mean divergence anyway.
 */
function finiteFlag(builder: GraphBuilder, total: Value): Value {
  const isInf = builder.op('IsInf', [total], {}, { dtype: 'bool', shape: [] });
  const isNaN = builder.op('IsNaN', [total], {}, { dtype: 'bool', shape: [] });
  return builder.op('Not', [builder.op('Or', [isInf, isNaN], {}, { dtype: 'bool', shape: [] })], {}, { dtype: 'bool', shape: [] });
}

/** Builds the graph that clips fed gradients `gradient.<weight>` and applies one update. */
export function buildUpdateGraph(spec: ModelGraphSpec): Uint8Array {
  const builder = new GraphBuilder('ft_update');
  const weights = new Map<string, Value>();
  const weightGradients: Value[] = [];
  for (const [name, shape] of spec.weightShapes) {
    weights.set(name, builder.input(name, 'float32', shape));
  }
  for (const [name, shape] of spec.weightShapes) {
    weightGradients.push(builder.input(`gradient.${name}`, 'float32', shape));
  }
  addOptimizerUpdate(builder, spec, weights, weightGradients);
  return builder.toBytes();
}

/** Adds clipping and the optimizer update of every weight; returns the squared global norm when global-norm clipping computed it, else null. */
function addOptimizerUpdate(builder: GraphBuilder, spec: ModelGraphSpec, weights: ReadonlyMap<string, Value>, weightGradients: readonly Value[]): Value | null {
  const { optimizer, gradientClipping } = spec.description;
  const scalars = Object.fromEntries(optimizerScalarNames(optimizer).map((name) => [name, builder.input(`optimizer_scalar.${name}`, 'float32', [])]));
  // Without clipvalue, clipping is one scalar factor, which the update applies itself: Adam folds
  // it into scalars, so no op scales the full gradient tensors (30522 × 256 for BERT's embeddings).
  const scaling = gradientClipping.clipvalue === null ? builder.scope('clip', () => buildGlobalNormScaling(builder, weightGradients, gradientClipping)) : null;
  const clipped = gradientClipping.clipvalue === null ? weightGradients : builder.scope('clip', () => buildGradientClipping(builder, weightGradients, gradientClipping));

  [...weights.values()].forEach((weight, index) => {
    builder.scope(`update.${weight.name}`, () => {
      const slots: Partial<Record<Slot, Value>> = {};
      for (const { slot } of optimizerSlots(optimizer)) {
        slots[slot] = builder.input(`optimizer.${weight.name}.${slot}`, 'float32', weight.shape);
      }
      const deferred = scaling === null ? undefined : { scale: scaling.scale, square: scaling.squares[index]! };
      const updated = buildOptimizerUpdate(builder, optimizer, weight, clipped[index]!, slots, scalars, deferred);
      builder.output(updated.weight, `updated.${weight.name}`);
      for (const [slot, value] of Object.entries(updated.slots)) {
        builder.output(value, `updated.optimizer.${weight.name}.${slot}`);
      }
    });
  });
  return scaling?.squaredNorm ?? null;
}

function encodeInput(
  builder: GraphBuilder,
  spec: ModelGraphSpec,
  input: ModelDescription['inputs'][number],
  weight: (name: string) => Value,
  dropoutMask: (site: string, rate: number, shape: Shape, counter: string) => Value | undefined,
  exported: boolean,
): Value {
  const name = exported ? exportedInputName(input.name) : `input.${input.name}`;
  switch (input.kind) {
    case 'embedding':
      return builder.input(name, 'float32', [BATCH_DIM, input.size]);
    case 'number': {
      const raw = builder.unsqueeze(builder.input(name, 'float32', [BATCH_DIM]), [1]);
      const units = exported ? spec.numberInputUnits?.get(input.name) : undefined;
      if (units === undefined) {
        return raw;
      }
      // A constant column normalizes to 0 in training, which a scale of 0 reproduces.
      return builder.scale(builder.add(raw, builder.constant(-units.offset)), units.scale === 0 ? 0 : 1 / units.scale);
    }
    case 'category':
      return builder.oneHot(builder.input(name, exported ? 'int64' : 'int32', [BATCH_DIM]), input.vocabularySize);
    case 'text': {
      const frozenWidth = spec.frozenTextWidths.get(input.name);
      if (frozenWidth !== undefined) {
        return builder.input(name, 'float32', [BATCH_DIM, frozenWidth]);
      }
      if (input.encoder.type !== 'bert') {
        throw new Error(`Input "${input.name}": only BERT encoders can be trained in the ONNX graph.`);
      }
      // Exported models take int64 token ids and masks, as Hugging Face tokenizers return them.
      const [idsName, maskName] = exported ? [exportedInputName(input.name, 'input_ids'), exportedInputName(input.name, 'attention_mask')] : [`${name}.ids`, `${name}.mask`];
      const ids = builder.input(idsName, exported ? 'int64' : 'int32', [BATCH_DIM, sequenceDim(input.name)]);
      const mask = builder.input(maskName, exported ? 'int64' : 'int32', [BATCH_DIM, sequenceDim(input.name)]);
      const prefix = `${ENCODER_WEIGHT_PREFIX}${input.name}.`;
      const { pooled } = buildBertForward(builder, (weightName) => weight(`${prefix}${weightName}`), ids, mask, {
        architecture: input.encoder.architecture,
        reduceOutput: input.encoder.reduceOutput,
        dropoutMask: (site, rate, shape) => dropoutMask(`${prefix}${site}`, rate, shape, input.name),
      });
      return pooled;
    }
  }
}

/**
 * Adds the outputs of an exported model: `<output>_probabilities` (softmax) for category
 * outputs, `<output>_probability` (sigmoid) for binary outputs and `<output>_predictions` in
 * column units for number outputs, the values that `<split>_predictions.csv` lists.
 */
function addPredictions(builder: GraphBuilder, spec: ModelGraphSpec, logits: Readonly<Record<string, Value>>): void {
  for (const output of spec.description.outputs) {
    const z = logits[output.name]!;
    if (output.kind === 'category') {
      builder.output(builder.softmax(z, 1), `${output.name}_probabilities`);
    } else if (output.kind === 'binary') {
      builder.output(builder.unary('Sigmoid', z), `${output.name}_probability`);
    } else {
      const units = spec.numberOutputUnits?.get(output.name) ?? { scale: 1, offset: 0 };
      builder.output(builder.add(builder.scale(z, units.scale), builder.constant(units.offset)), `${output.name}_predictions`);
    }
  }
}

/** Adds the loss of one output, averaged over rows, as the tfjs backend computes it. */
function outputLoss(builder: GraphBuilder, output: OutputDescription, logits: Value): Value {
  const targetName = `target.${output.name}`;
  switch (output.kind) {
    case 'category': {
      const target = builder.input(targetName, 'int32', [BATCH_DIM]);
      const labels = builder.oneHot(target, output.numClasses);
      const perRow = builder.unary('Neg', builder.reduceSum(builder.mul(labels, builder.logSoftmax(logits, 1)), [1]));
      if (output.classWeights === null) {
        return builder.reduceMean(perRow, [0]);
      }
      // Weighted mean, as PyTorch's CrossEntropyLoss(weight=...) computes it.
      const rowWeights = builder.gather(builder.constant([...output.classWeights], [output.classWeights.length], 'class_weights'), target);
      return builder.div(builder.sumAll(builder.mul(perRow, rowWeights)), builder.sumAll(rowWeights));
    }
    case 'binary': {
      const y = builder.unsqueeze(builder.input(targetName, 'float32', [BATCH_DIM]), [1]);
      // log σ(z) = -softplus(-z) and log(1 - σ(z)) = -softplus(z), both stable for large |z|.
      const positive = builder.scale(builder.mul(y, builder.unary('Softplus', builder.unary('Neg', logits))), output.positiveClassWeight ?? 1);
      const negative = builder.mul(builder.sub(builder.constant(1), y), builder.unary('Softplus', logits));
      return builder.reduceMean(builder.add(positive, negative), [0, 1]);
    }
    case 'number': {
      const y = builder.unsqueeze(builder.input(targetName, 'float32', [BATCH_DIM]), [1]);
      const difference = builder.sub(logits, y);
      const perRow = output.loss === 'mean_squared_error' ? builder.mul(difference, difference) : builder.unary('Abs', difference);
      return builder.reduceMean(perRow, [0, 1]);
    }
  }
}
