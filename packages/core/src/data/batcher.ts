import type { InputBatch, TargetBatch, TrainingBatch } from '../backend/model-description.js';
import type { SplitName } from './sources.js';

/** A split ready for the model: every input as arrays (token ids, cached embeddings, indices or values) and every target. */
export interface PreparedSplit {
  readonly split: SplitName;
  readonly rows: number;
  readonly inputs: Readonly<Record<string, InputBatch>>;
  readonly targets: Readonly<Record<string, TargetBatch>>;
}

/**
 * Gathers the rows `indices` of a prepared split into one batch. Text inputs are cut to the
 * longest row of the batch, because attention cost grows with the padded length and most
 * batches are far shorter than the longest text of the dataset.
 */
export function makeBatch(prepared: PreparedSplit, indices: readonly number[]): TrainingBatch {
  const rows = indices.length;
  const inputs: Record<string, InputBatch> = {};

  for (const [name, input] of Object.entries(prepared.inputs)) {
    switch (input.kind) {
      case 'text': {
        const width = input.sequenceLength;
        let longest = 1;
        for (const index of indices) {
          let length = 0;
          for (let j = 0; j < width; j++) {
            length += input.attentionMask[index * width + j]!;
          }
          longest = Math.max(longest, length);
        }
        const ids = new Int32Array(rows * longest);
        const attentionMask = new Int32Array(rows * longest);
        indices.forEach((index, row) => {
          ids.set(input.ids.subarray(index * width, index * width + longest), row * longest);
          attentionMask.set(input.attentionMask.subarray(index * width, index * width + longest), row * longest);
        });
        inputs[name] = { kind: 'text', ids, attentionMask, sequenceLength: longest };
        break;
      }
      case 'embedding': {
        const values = new Float32Array(rows * input.size);
        indices.forEach((index, row) => values.set(input.values.subarray(index * input.size, (index + 1) * input.size), row * input.size));
        inputs[name] = { kind: 'embedding', values, size: input.size };
        break;
      }
      case 'category':
        inputs[name] = { kind: 'category', indices: Int32Array.from(indices, (index) => input.indices[index]!) };
        break;
      case 'number':
        inputs[name] = { kind: 'number', values: Float32Array.from(indices, (index) => input.values[index]!) };
        break;
    }
  }

  const targets: Record<string, TargetBatch> = {};
  for (const [name, target] of Object.entries(prepared.targets)) {
    targets[name] =
      target.kind === 'category'
        ? { kind: 'category', indices: Int32Array.from(indices, (index) => target.indices[index]!) }
        : { kind: target.kind, values: Float32Array.from(indices, (index) => target.values[index]!) };
  }
  return { rows, inputs, targets };
}

/**
 * Splits `order` into batches of `batchSize` rows. The last batch is dropped only when it holds
 * a single row and batches are larger than one, because a one-row batch gives a noisy update
 * and breaks normalization over the batch.
 */
export function batchIndices(order: readonly number[], batchSize: number): number[][] {
  const batches: number[][] = [];
  for (let start = 0; start < order.length; start += batchSize) {
    batches.push(order.slice(start, start + batchSize));
  }
  const last = batches[batches.length - 1];
  if (batches.length > 1 && batchSize > 1 && last !== undefined && last.length === 1) {
    batches.pop();
  }
  return batches;
}
