/**
 * The forward pass of Hugging Face `BertModel` as ONNX graph nodes, with the same math as the
 * tfjs backend's BertEncoder. GELU is exact (via Erf) and LayerNorm uses the biased variance.
 * Padded keys are masked with the most negative float32, token types are 0 everywhere and
 * positions start at 0.
 *
 * Weights come from a callback, so the same graph serves frozen inference (weights as
 * initializers) and fine-tuning (weights as graph inputs that the gradient reaches).
 */
import type { BertArchitecture } from '@ft/core';

import type { GraphBuilder, Shape, Value } from '../graph/builder.js';
import { applyDropoutMask, gelu, linear, linear2d } from '../model/layers.js';

/**
 * The additive attention mask value for padded keys: the most negative float32, as Hugging Face
 * uses `torch.finfo(dtype).min`. A row with every key masked then gets uniform attention.
 */
const MASKED_SCORE = -3.4028234663852886e38;

export type BertReduceOutput = 'cls_pooled' | 'mean';

export interface BertGraphOptions {
  readonly architecture: BertArchitecture;
  readonly reduceOutput: BertReduceOutput;
  /**
   * Returns the dropout mask input for a dropout site (`embeddings`, `layer.0.attention_probs`,
   * `layer.0.attention_output`, `layer.0.output`) of the given shape, or undefined for none.
   */
  readonly dropoutMask?: (site: string, rate: number, shape: Shape) => Value | undefined;
}

/** Returns the dropout sites of an encoder in the order the forward pass uses them. */
export function bertDropoutSites(architecture: BertArchitecture): { site: string; rate: number; kind: 'hidden' | 'attention' }[] {
  const sites: { site: string; rate: number; kind: 'hidden' | 'attention' }[] = [{ site: 'embeddings', rate: architecture.hidden_dropout_prob, kind: 'hidden' }];
  for (let layer = 0; layer < architecture.num_hidden_layers; layer++) {
    sites.push(
      { site: `layer.${layer}.attention_probs`, rate: architecture.attention_probs_dropout_prob, kind: 'attention' },
      { site: `layer.${layer}.attention_output`, rate: architecture.hidden_dropout_prob, kind: 'hidden' },
      { site: `layer.${layer}.output`, rate: architecture.hidden_dropout_prob, kind: 'hidden' },
    );
  }
  return sites.filter(({ rate }) => rate > 0);
}

/**
 * Adds the encoder on `ids` and `attentionMask` (both `[batch, sequence]`, int32 or int64) and
 * returns the pooled output `[batch, hidden_size]` and the last hidden state.
 */
export function buildBertForward(
  builder: GraphBuilder,
  weight: (name: string) => Value,
  ids: Value,
  attentionMask: Value,
  options: BertGraphOptions,
): { pooled: Value; sequenceOutput: Value } {
  const { architecture } = options;
  const hiddenSize = architecture.hidden_size;
  const [batch, length] = ids.shape as [string | number, string | number];
  const dropout = (x: Value, site: string, rate: number) => (rate > 0 ? applyDropoutMask(builder, x, options.dropoutMask?.(site, rate, x.shape)) : x);

  const maskFloat = builder.cast(attentionMask, 'float32');
  let hidden = builder.scope('embeddings', () => {
    const words = builder.gather(weight('embeddings.word_embeddings.weight'), ids);
    const lengthVector = builder.slice(builder.shapeOf(ids), [1], [2], [0]);
    const positions = builder.slice(weight('embeddings.position_embeddings.weight'), [0], lengthVector, [0], [length, hiddenSize]);
    const tokenType = builder.slice(weight('embeddings.token_type_embeddings.weight'), [0], [1], [0]);
    const summed = builder.add(builder.add(words, positions), tokenType);
    const normalized = layerNorm(builder, weight, 'embeddings.LayerNorm', summed, architecture.layer_norm_eps);
    return dropout(normalized, 'embeddings', architecture.hidden_dropout_prob);
  });

  // Shape [batch, 1, 1, length], so the mask broadcasts over heads and query positions.
  const additiveMask = builder.scale(builder.sub(builder.constant(1), builder.unsqueeze(maskFloat, [1, 2])), MASKED_SCORE);

  for (let layer = 0; layer < architecture.num_hidden_layers; layer++) {
    hidden = builder.scope(`layer${layer}`, () => encoderLayer(builder, weight, layer, hidden, additiveMask, options, dropout));
  }

  const sequenceOutput = hidden;
  const pooled = builder.scope('pooler', () => {
    if (options.reduceOutput === 'cls_pooled') {
      const cls = builder.reshape(builder.slice(sequenceOutput, [0], [1], [1]), [0, hiddenSize], [batch, hiddenSize]);
      return builder.unary('Tanh', linear2d(builder, cls, weight('pooler.dense.weight'), weight('pooler.dense.bias')));
    }
    const weights = builder.unsqueeze(maskFloat, [2]);
    const summed = builder.reduceSum(builder.mul(sequenceOutput, weights), [1]);
    // A row that is all padding gets a zero vector instead of 0/0.
    const counts = builder.max(builder.reduceSum(maskFloat, [1], true), builder.constant(1));
    return builder.div(summed, counts);
  });
  return { pooled, sequenceOutput };
}

function layerNorm(builder: GraphBuilder, weight: (name: string) => Value, name: string, x: Value, epsilon: number): Value {
  return builder.layerNormalization(x, weight(`${name}.weight`), weight(`${name}.bias`), epsilon);
}

function encoderLayer(
  builder: GraphBuilder,
  weight: (name: string) => Value,
  layer: number,
  hidden: Value,
  additiveMask: Value,
  options: BertGraphOptions,
  dropout: (x: Value, site: string, rate: number) => Value,
): Value {
  const { architecture } = options;
  const prefix = `encoder.layer.${layer}`;
  const dense = (name: string, x: Value) => linear(builder, x, weight(`${prefix}.${name}.weight`), weight(`${prefix}.${name}.bias`));
  const heads = architecture.num_attention_heads;
  const headSize = architecture.hidden_size / heads;
  const [batch, length] = hidden.shape;

  const splitHeads = (x: Value) => builder.transpose(builder.reshape(x, [0, 0, heads, headSize]), [0, 2, 1, 3]);
  const query = splitHeads(dense('attention.self.query', hidden));
  const key = splitHeads(dense('attention.self.key', hidden));
  const value = splitHeads(dense('attention.self.value', hidden));

  const scores = builder.add(builder.div(builder.matMul(query, builder.transposeLast(key)), builder.constant(Math.sqrt(headSize))), additiveMask);
  const probabilities = dropout(builder.softmax(scores), `layer.${layer}.attention_probs`, architecture.attention_probs_dropout_prob);
  const context = builder.reshape(builder.transpose(builder.matMul(probabilities, value), [0, 2, 1, 3]), [0, 0, architecture.hidden_size], [batch!, length!, architecture.hidden_size]);

  const attentionDense = dropout(dense('attention.output.dense', context), `layer.${layer}.attention_output`, architecture.hidden_dropout_prob);
  const attentionOutput = layerNorm(builder, weight, `${prefix}.attention.output.LayerNorm`, builder.add(attentionDense, hidden), architecture.layer_norm_eps);

  const intermediate = activation(builder, dense('intermediate.dense', attentionOutput), architecture.hidden_act);
  const outputDense = dropout(dense('output.dense', intermediate), `layer.${layer}.output`, architecture.hidden_dropout_prob);
  return layerNorm(builder, weight, `${prefix}.output.LayerNorm`, builder.add(outputDense, attentionOutput), architecture.layer_norm_eps);
}

function activation(builder: GraphBuilder, x: Value, hiddenAct: BertArchitecture['hidden_act']): Value {
  switch (hiddenAct) {
    case 'gelu':
      return gelu(builder, x);
    case 'gelu_new': {
      // Tanh approximation: 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
      const cube = builder.mul(builder.mul(x, x), x);
      const inner = builder.scale(builder.add(x, builder.scale(cube, 0.044715)), Math.sqrt(2 / Math.PI));
      return builder.mul(builder.scale(x, 0.5), builder.add(builder.constant(1), builder.unary('Tanh', inner)));
    }
    case 'relu':
      return builder.unary('Relu', x);
    default:
      throw new Error(`Unsupported hidden_act '${String(hiddenAct)}'. Use 'gelu', 'gelu_new' or 'relu'.`);
  }
}
