import type { InputBatch, TargetBatch, TrainingBatch } from '../../backend/model-description.js';
import type { NamedArrays } from '../../tensors/named-arrays.js';

/**
 * Returns rows [start, end) of `batch` as a batch of their own, with fresh arrays that can be
 * transferred to a worker. Text inputs are cut to the longest text of those rows, as
 * `makeBatch` does, so a shard equals the batch that `makeBatch` builds from the same rows.
 */
export function sliceBatch(batch: TrainingBatch, start: number, end: number): TrainingBatch {
  const rows = end - start;
  const inputs: Record<string, InputBatch> = {};
  for (const [name, input] of Object.entries(batch.inputs)) {
    switch (input.kind) {
      case 'text': {
        const width = input.sequenceLength;
        let longest = 1;
        for (let row = start; row < end; row++) {
          let length = 0;
          for (let j = 0; j < width; j++) {
            length += input.attentionMask[row * width + j]!;
          }
          longest = Math.max(longest, length);
        }
        const ids = new Int32Array(rows * longest);
        const attentionMask = new Int32Array(rows * longest);
        for (let row = start; row < end; row++) {
          ids.set(input.ids.subarray(row * width, row * width + longest), (row - start) * longest);
          attentionMask.set(input.attentionMask.subarray(row * width, row * width + longest), (row - start) * longest);
        }
        inputs[name] = { kind: 'text', ids, attentionMask, sequenceLength: longest };
        break;
      }
      case 'embedding':
        inputs[name] = { kind: 'embedding', values: input.values.slice(start * input.size, end * input.size), size: input.size };
        break;
      case 'category':
        inputs[name] = { kind: 'category', indices: input.indices.slice(start, end) };
        break;
      case 'number':
        inputs[name] = { kind: 'number', values: input.values.slice(start, end) };
        break;
    }
  }

  const targets: Record<string, TargetBatch> = {};
  for (const [name, target] of Object.entries(batch.targets)) {
    targets[name] = target.kind === 'category' ? { kind: 'category', indices: target.indices.slice(start, end) } : { kind: target.kind, values: target.values.slice(start, end) };
  }
  return { rows, inputs, targets };
}

/** Splits a global batch into consecutive shards of at most `shardRows` rows: shard k has rows [k·shardRows, (k+1)·shardRows). */
export function shardBatch(batch: TrainingBatch, shardRows: number, shards: number): TrainingBatch[] {
  const result: TrainingBatch[] = [];
  for (let k = 0; k < shards; k++) {
    const start = Math.min(k * shardRows, batch.rows);
    const end = Math.min((k + 1) * shardRows, batch.rows);
    result.push(sliceBatch(batch, start, end));
  }
  return result;
}

/**
 * Averages the gradients of several shards, weighting each by its rows, so the result equals the
 * gradient of the whole batch even when the last shard is shorter. The sum runs in float32 in
 * shard order (shard 0 + shard 1 + …), so every run gives the same bits. Shards without rows
 * are skipped. The result lives in SharedArrayBuffers, so it can be posted to every worker
 * without a copy.
 */
export function averageGradients(shards: readonly { readonly rows: number; readonly gradients: NamedArrays }[]): NamedArrays {
  const used = shards.filter((shard) => shard.rows > 0);
  const totalRows = used.reduce((sum, shard) => sum + shard.rows, 0);
  const first = used[0];
  if (first === undefined) {
    throw new RangeError('averageGradients: every shard is empty, so there is no gradient to average.');
  }

  const average: NamedArrays = {};
  for (const [name, array] of Object.entries(first.gradients)) {
    const data = new Float32Array(new SharedArrayBuffer(array.data.length * Float32Array.BYTES_PER_ELEMENT));
    for (const shard of used) {
      const source = shard.gradients[name];
      if (source === undefined || source.data.length !== data.length) {
        throw new RangeError(`averageGradients: gradient "${name}" is missing or has another size in one shard; every replica must build the same model.`);
      }
      const weight = Math.fround(shard.rows / totalRows);
      for (let i = 0; i < data.length; i++) {
        data[i] = data[i]! + Math.fround(source.data[i]! * weight);
      }
    }
    average[name] = { dtype: 'float32', shape: [...array.shape], data };
  }
  return average;
}
