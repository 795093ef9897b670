import { expectedBertWeightShapes, Random, shapeSize, type BertArchitecture, type NamedArrays } from '@ft/core';
import type * as ort from 'onnxruntime-node';

import { GraphBuilder, type DType } from '../graph/builder.js';
import { createSession, int32Tensor, outputData, type SessionSettings } from '../runtime/session.js';
import { buildBertForward, type BertReduceOutput } from './bert-graph.js';

/**
 * Returns random BertModel weights as Hugging Face `BertPreTrainedModel._init_weights` draws
 * them: matrices and embeddings from normal(0, initializer_range) with the `pad_token_id` row
 * of the word embeddings zeroed, biases 0 and LayerNorm scales 1.
 */
export function initialBertWeights(architecture: BertArchitecture, seed: number): NamedArrays {
  const random = new Random(`bert:${seed}`);
  // Box-Muller transform; 1 - next() lies in (0, 1], so the logarithm stays finite.
  const normal = () => Math.sqrt(-2 * Math.log(1 - random.next())) * Math.cos(2 * Math.PI * random.next());

  const weights: NamedArrays = {};
  for (const [name, shape] of Object.entries(expectedBertWeightShapes(architecture))) {
    const data = new Float32Array(shapeSize(shape));
    if (name.endsWith('LayerNorm.weight')) {
      data.fill(1);
    } else if (!name.endsWith('.bias')) {
      for (let index = 0; index < data.length; index++) {
        data[index] = architecture.initializer_range * normal();
      }
    }
    if (name === 'embeddings.word_embeddings.weight') {
      // nn.Embedding(padding_idx=pad_token_id) starts with a zero row for the padding token.
      const rowStart = architecture.pad_token_id * architecture.hidden_size;
      data.fill(0, rowStart, rowStart + architecture.hidden_size);
    }
    weights[name] = { dtype: 'float32', shape, data };
  }
  return weights;
}

/**
 * Checks `weights` against the architecture and lists every missing weight and every weight
 * with the wrong shape or dtype in one error. Names that BertModel does not have are ignored.
 */
export function checkBertWeightShapes(weights: NamedArrays, architecture: BertArchitecture): void {
  const problems: string[] = [];
  for (const [name, shape] of Object.entries(expectedBertWeightShapes(architecture))) {
    const array = weights[name];
    if (array === undefined) {
      problems.push(`${name} is missing`);
    } else if (array.dtype !== 'float32' || array.shape.join(',') !== shape.join(',') || array.data.length !== shapeSize(shape)) {
      problems.push(`${name} is ${array.dtype} [${array.shape.join(', ')}], expected float32 [${shape.join(', ')}]`);
    }
  }
  if (problems.length > 0) {
    throw new Error(`BERT weights do not match the architecture: ${problems.join('; ')}.`);
  }
}

export interface FrozenBertModelOptions {
  readonly reduceOutput: BertReduceOutput;
  /** Element type of the token id and attention mask inputs; int64 is what Hugging Face exports use. */
  readonly idsDtype?: DType;
  readonly idsName?: string;
  readonly maskName?: string;
  readonly outputName?: string;
}

/** Builds an inference model of the encoder with the weights stored as initializers. */
export function buildFrozenBertModel(architecture: BertArchitecture, weights: NamedArrays, options: FrozenBertModelOptions): GraphBuilder {
  checkBertWeightShapes(weights, architecture);
  const builder = new GraphBuilder('bert');
  const dtype = options.idsDtype ?? 'int32';
  const ids = builder.input(options.idsName ?? 'input_ids', dtype, ['batch', 'sequence']);
  const mask = builder.input(options.maskName ?? 'attention_mask', dtype, ['batch', 'sequence']);

  const initializers = new Map<string, ReturnType<GraphBuilder['input']>>();
  const weight = (name: string) => {
    let value = initializers.get(name);
    if (value === undefined) {
      const array = weights[name]!;
      value = builder.initializer(name, 'float32', array.shape, array.data as Float32Array);
      initializers.set(name, value);
    }
    return value;
  };

  const { pooled } = buildBertForward(builder, weight, ids, mask, { architecture, reduceOutput: options.reduceOutput });
  builder.output(pooled, options.outputName ?? 'pooled');
  return builder;
}

/**
 * Checks token ids before they reach ONNX Runtime, whose Gather error for an out-of-range id
 * does not say which input caused it.
 */
export function checkBertInputs(architecture: BertArchitecture, ids: Int32Array, attentionMask: Int32Array, rows: number, sequenceLength: number): void {
  if (ids.length !== rows * sequenceLength || attentionMask.length !== ids.length) {
    throw new Error(`BERT inputs must have rows × sequenceLength = ${rows * sequenceLength} ids and mask values, got ${ids.length} and ${attentionMask.length}.`);
  }
  if (sequenceLength > architecture.max_position_embeddings) {
    throw new Error(`BERT input length ${sequenceLength} exceeds max_position_embeddings ${architecture.max_position_embeddings}. Truncate the input.`);
  }
  for (const id of ids) {
    if (id < 0 || id >= architecture.vocab_size) {
      throw new Error(`BERT input id ${id} is outside the vocabulary [0, ${architecture.vocab_size}). Check the tokenizer and vocab_size.`);
    }
  }
}

/** A BERT encoder without gradients, run in its own inference session. */
export class FrozenBertEncoder {
  private constructor(
    readonly architecture: BertArchitecture,
    /** Weights by Hugging Face name, as loaded; never changed. */
    readonly weights: NamedArrays,
    private readonly session: ort.InferenceSession,
  ) {}

  static async create(architecture: BertArchitecture, weights: NamedArrays | null, reduceOutput: BertReduceOutput, settings: SessionSettings, seed: number): Promise<FrozenBertEncoder> {
    const actual = weights ?? initialBertWeights(architecture, seed);
    const model = buildFrozenBertModel(architecture, actual, { reduceOutput }).toBytes();
    return new FrozenBertEncoder(architecture, actual, await createSession(model, settings));
  }

  get outputSize(): number {
    return this.architecture.hidden_size;
  }

  /** Encodes a batch of token ids into row-major `[rows × hidden_size]` vectors. */
  async encode(ids: Int32Array, attentionMask: Int32Array, rows: number, sequenceLength: number): Promise<Float32Array> {
    checkBertInputs(this.architecture, ids, attentionMask, rows, sequenceLength);
    const results = await this.session.run({
      input_ids: int32Tensor(ids, [rows, sequenceLength]),
      attention_mask: int32Tensor(attentionMask, [rows, sequenceLength]),
    });
    return outputData(results, 'pooled');
  }

  dispose(): void {
    void this.session.release();
  }
}
