import { readFile } from 'node:fs/promises';
import path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import { loadGraphModel, type GraphModel } from '@tensorflow/tfjs-converter';

interface ModelJson {
  readonly modelTopology: object;
  readonly weightsManifest: { readonly paths: string[]; readonly weights: tf.io.WeightsManifestEntry[] }[];
  readonly format?: string;
  readonly generatedBy?: string;
  readonly convertedBy?: string | null;
}

/**
 * Loads a tfjs graph model from a local folder. tfjs's own `file://` loader lives in
 * tfjs-node, which cannot be a dependency, so the model.json and its weight shards are read
 * here and handed to the graph-model loader as in-memory artifacts.
 */
export async function loadLocalGraphModel(directory: string): Promise<GraphModel> {
  const manifestPath = path.join(directory, 'model.json');
  const json = JSON.parse(await readFile(manifestPath, 'utf8')) as ModelJson;

  const weightSpecs: tf.io.WeightsManifestEntry[] = [];
  const shards: Uint8Array[] = [];
  for (const group of json.weightsManifest) {
    weightSpecs.push(...group.weights);
    for (const shard of group.paths) {
      shards.push(await readFile(path.join(directory, shard)));
    }
  }
  const total = shards.reduce((sum, shard) => sum + shard.byteLength, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.byteLength;
  }

  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: json.modelTopology,
    weightSpecs,
    weightData: weightData.buffer,
    ...(json.format === undefined ? {} : { format: json.format }),
    ...(json.generatedBy === undefined ? {} : { generatedBy: json.generatedBy }),
    ...(json.convertedBy === undefined || json.convertedBy === null ? {} : { convertedBy: json.convertedBy }),
  };
  return loadGraphModel({ load: async () => artifacts });
}

/**
 * Universal Sentence Encoder lite: token ids in, one 512-dimensional embedding per row out.
 * The graph takes the ids of a batch as a sparse matrix (`indices` of [row, position] pairs and
 * their `values`), so padding is dropped before the call.
 */
export class UniversalSentenceEncoder {
  static readonly outputSize = 512;

  private constructor(private readonly model: GraphModel) {}

  static async load(directory: string): Promise<UniversalSentenceEncoder> {
    return new UniversalSentenceEncoder(await loadLocalGraphModel(directory));
  }

  /** Encodes `rows` rows of padded ids; returns a `[rows, 512]` tensor that the caller disposes. */
  async embed(ids: Int32Array, attentionMask: Int32Array, rows: number, sequenceLength: number): Promise<tf.Tensor2D> {
    const indices: number[] = [];
    const values: number[] = [];
    for (let row = 0; row < rows; row++) {
      let count = 0;
      for (let position = 0; position < sequenceLength; position++) {
        if (attentionMask[row * sequenceLength + position] === 1) {
          indices.push(row, count);
          values.push(ids[row * sequenceLength + position]!);
          count++;
        }
      }
      // The graph infers the batch size from the largest row index, so a row without tokens
      // (an empty text) still needs one entry. It gets the unknown piece, id 0.
      if (count === 0) {
        indices.push(row, 0);
        values.push(0);
      }
    }

    const indicesTensor = tf.tensor2d(indices, [values.length, 2], 'int32');
    const valuesTensor = tf.tensor1d(values, 'int32');
    try {
      return (await this.model.executeAsync({ indices: indicesTensor, values: valuesTensor })) as tf.Tensor2D;
    } finally {
      indicesTensor.dispose();
      valuesTensor.dispose();
    }
  }

  dispose(): void {
    this.model.dispose();
  }
}
