import type { ForwardOutputs, ModelHandle, TrainStepOptions, TrainStepResult } from '../../backend/backend.js';
import type { Batch, TrainingBatch } from '../../backend/model-description.js';
import type { NamedArrays } from '../../tensors/named-arrays.js';
import type { Logger } from '../../logging/logger.js';
import { trainStepFromAverage } from './averaged-step.js';
import type { Mpi } from './mpi.js';
import { sliceBatch } from './shards.js';

export interface MpiParallelModelOptions {
  /** This rank's replica. */
  readonly local: ModelHandle;
  readonly mpi: Mpi;
  readonly logger: Logger;
  /**
   * The caller's stop request. When it is aborted on any rank, {@link MpiParallelModel.signal}
   * is aborted on every rank after the same step, so all ranks stop together.
   */
  readonly signal?: AbortSignal;
}

/**
 * A model replicated over the ranks of an MPI job (`strategy: mpi`) for synchronous
 * data-parallel training. Every rank is a whole `ft train` process with the same data, the same
 * shuffled order and its own replica.
 *
 * Each training batch contains the rows of all ranks. Rank k takes rows [k·s, (k+1)·s) with
 * s = ceil(rows / size), as {@link ParallelModel} does. The ranks sum gradient × rows and the
 * row counts with `MPI_Allreduce`, divide, and apply the same average with the same optimizer
 * update, so all replicas keep the same weights. Forward passes, exports and imports use the
 * local replica alone; rank 0 broadcasts its initial state in {@link start}.
 */
export class MpiParallelModel implements ModelHandle {
  private readonly stop = new AbortController();

  private constructor(
    private readonly local: ModelHandle,
    private readonly mpi: Mpi,
    private readonly callerSignal: AbortSignal | undefined,
  ) {}

  /** Ranks in the MPI job. */
  get workers(): number {
    return this.mpi.size;
  }

  /** Aborted on every rank after the first step that ends with the caller's signal aborted on any rank. */
  get signal(): AbortSignal {
    return this.stop.signal;
  }

  /** Wraps `local` and overwrites its state (weights, optimizer state and random state) with that of rank 0. */
  static async start(options: MpiParallelModelOptions): Promise<MpiParallelModel> {
    const model = new MpiParallelModel(options.local, options.mpi, options.signal);
    const state = await options.local.exportState();
    broadcastArrays(options.mpi, state);
    await options.local.importState(state);
    options.logger.info(`Data-parallel training on ${options.mpi.size} MPI ranks; this is rank ${options.mpi.rank}.`);
    return model;
  }

  forward(batch: Batch): Promise<ForwardOutputs> {
    return this.local.forward(batch);
  }

  trainStep(batch: TrainingBatch, learningRate: number, options?: TrainStepOptions): Promise<TrainStepResult> {
    return trainStepFromAverage(this, batch, learningRate, options);
  }

  /** Computes the gradients of this rank's shard and returns the row-weighted average over all ranks, and the loss over the whole batch. */
  async computeGradients(batch: TrainingBatch, options?: TrainStepOptions): Promise<TrainStepResult & { readonly gradients: NamedArrays }> {
    const { rank, size } = this.mpi;
    const shardRows = Math.ceil(batch.rows / size);
    const start = Math.min(rank * shardRows, batch.rows);
    const end = Math.min((rank + 1) * shardRows, batch.rows);
    const rows = end - start;

    // A rank whose shard is empty (the last short batch of an epoch) still has to take part in
    // the allreduce with gradients of the right shapes. It computes them on one row and
    // weights them by 0 rows.
    const shard = rows > 0 ? sliceBatch(batch, start, end) : sliceBatch(batch, 0, 1);
    const result = await this.local.computeGradients(shard, options);

    const names = Object.keys(result.gradients).sort();
    const outputNames = Object.keys(result.outputLosses).sort();

    // Scalars in float64: rows, the stop flag, loss × rows and each output's loss × rows.
    const scalars = new Float64Array(3 + outputNames.length);
    scalars[0] = rows;
    scalars[1] = this.callerSignal?.aborted === true ? 1 : 0;
    scalars[2] = result.loss * rows;
    outputNames.forEach((name, index) => {
      scalars[3 + index] = result.outputLosses[name]! * rows;
    });
    this.mpi.allreduceSum(scalars);
    const totalRows = scalars[0]!;

    // Gradients in float32, packed into one buffer so the step needs one MPI_Allreduce.
    let length = 0;
    for (const name of names) {
      length += result.gradients[name]!.data.length;
    }
    const packed = new Float32Array(length);
    let offset = 0;
    for (const name of names) {
      const data = result.gradients[name]!.data;
      for (let i = 0; i < data.length; i++) {
        packed[offset + i] = data[i]! * rows;
      }
      offset += data.length;
    }
    this.mpi.allreduceSum(packed);

    const gradients: NamedArrays = {};
    offset = 0;
    for (const name of names) {
      const array = result.gradients[name]!;
      const data = new Float32Array(array.data.length);
      for (let i = 0; i < data.length; i++) {
        data[i] = packed[offset + i]! / totalRows;
      }
      offset += data.length;
      gradients[name] = { dtype: 'float32', shape: [...array.shape], data };
    }

    const outputLosses: Record<string, number> = {};
    outputNames.forEach((name, index) => {
      outputLosses[name] = scalars[3 + index]! / totalRows;
    });
    if (scalars[1]! > 0) {
      this.stop.abort();
    }
    return { loss: scalars[2]! / totalRows, outputLosses, gradients };
  }

  /** Applies the averaged gradients to this rank's replica; every rank applies the same values. */
  applyGradients(gradients: NamedArrays, learningRate: number): Promise<void> {
    return this.local.applyGradients(gradients, learningRate);
  }

  exportWeights(): Promise<NamedArrays> {
    return this.local.exportWeights();
  }

  exportState(): Promise<NamedArrays> {
    return this.local.exportState();
  }

  /** Restores `state` on this rank only; every rank reads the same checkpoint when it resumes. */
  importState(state: NamedArrays): Promise<void> {
    return this.local.importState(state);
  }

  /** Disposes this rank's replica. */
  dispose(): void {
    this.local.dispose();
  }
}

/**
 * Overwrites every array of `arrays` with rank 0's, in name order. First every rank compares the
 * count of its arrays and a position-weighted sum of their sizes with rank 0's, because
 * `MPI_Bcast` of buffers of other sizes would fail or corrupt memory. The check catches a
 * different model, though not two layouts that happen to give the same sum.
 */
export function broadcastArrays(mpi: Mpi, arrays: NamedArrays): void {
  const names = Object.keys(arrays).sort();
  const layout = [names.length, names.reduce((sum, name, index) => sum + arrays[name]!.data.length * (index + 1), 0)];
  const rootLayout = broadcastNumbers(mpi, layout);
  const mismatches = new Float64Array([rootLayout[0] === layout[0] && rootLayout[1] === layout[1] ? 0 : 1]);
  mpi.allreduceSum(mismatches);
  if (mismatches[0]! > 0) {
    throw new Error(
      `The model state of ${mismatches[0]} MPI rank(s) has other arrays than rank 0's (this is rank ${mpi.rank}, with ${names.length} arrays); every rank must build the same model from the same config and data.`,
    );
  }
  for (const name of names) {
    mpi.broadcast(arrays[name]!.data, 0);
  }
}

/** Returns `values` with rank 0's numbers on every rank. */
export function broadcastNumbers(mpi: Mpi, values: readonly number[]): number[] {
  const buffer = Float64Array.from(values);
  mpi.broadcast(buffer, 0);
  return Array.from(buffer);
}
