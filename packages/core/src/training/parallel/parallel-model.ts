import { Worker } from 'node:worker_threads';

import type { ForwardOutputs, ModelHandle, TrainStepOptions, TrainStepResult } from '../../backend/backend.js';
import type { Batch, ModelDescription, TrainingBatch } from '../../backend/model-description.js';
import { FtError } from '../../errors.js';
import type { Logger } from '../../logging/logger.js';
import type { NamedArrays } from '../../tensors/named-arrays.js';
import { trainStepFromAverage } from './averaged-step.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './protocol.js';
import { averageGradients, shardBatch } from './shards.js';

/** Raised when a data-parallel worker throws, dies or stops responding; names the worker's rank and its error. */
export class WorkerFailedError extends FtError {
  readonly rank: number;

  constructor(rank: number, message: string, options?: { cause?: unknown }) {
    super('WORKER_FAILED', message, options);
    this.name = 'WorkerFailedError';
    this.rank = rank;
  }
}

export interface ParallelModelOptions {
  /** The replica of rank 0, on the main thread; evaluation, checkpoints and results use it. */
  readonly local: ModelHandle;
  /** Replicas in all, rank 0 included; `workers − 1` worker threads are started. */
  readonly workers: number;
  readonly backendType: string;
  /** The whole `backend` section of the config. */
  readonly backendSection: Record<string, unknown>;
  /** The description `local` was built from, so every replica has the same layers. */
  readonly description: ModelDescription;
  /** Folder from which workers resolve the backend package first; default the working directory. */
  readonly searchFrom?: string;
  readonly logger: Logger;
  /** Milliseconds a worker may take to start its backend and build its replica. */
  readonly startTimeoutMs?: number;
  /** Milliseconds a worker may take for one request, such as the gradients of one shard. */
  readonly requestTimeoutMs?: number;
}

// NOTE: both limits are guesses meant to catch a hung worker, not to bound slow but healthy
// steps. A large encoder on a slow CPU may need a higher requestTimeoutMs.
const DEFAULT_START_TIMEOUT_MS = 10 * 60 * 1000;
const DEFAULT_REQUEST_TIMEOUT_MS = 30 * 60 * 1000;

interface PendingRequest {
  readonly operation: string;
  readonly resolve: (result: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

/** One worker thread with its replica, and the requests sent to it that await a response. */
class WorkerReplica {
  private readonly worker: Worker;
  private readonly pending = new Map<number, PendingRequest>();
  private nextId = 1;
  private failure: WorkerFailedError | null = null;
  private closing = false;
  readonly ready: Promise<unknown>;

  constructor(
    readonly rank: number,
    init: WorkerInit,
    private readonly startTimeoutMs: number,
    private readonly requestTimeoutMs: number,
  ) {
    this.worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: init });
    this.ready = this.register(0, 'start-up', startTimeoutMs);
    this.worker.on('message', (response: WorkerResponse) => this.settle(response));
    this.worker.on('error', (error: Error) => this.fail(`threw an uncaught ${error.name}: ${error.message}`, error));
    this.worker.on('messageerror', (error: Error) => this.fail(`sent a message that could not be deserialized: ${error.message}`, error));
    this.worker.on('exit', (code: number) => {
      if (!this.closing) {
        this.fail(`exited unexpectedly with code ${code}`);
      }
    });
  }

  /** Sends a request; the buffers in `transfer` move to the worker and become unusable here. */
  request(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.failure !== null) {
      return Promise.reject(this.failure);
    }
    const result = this.register(message.id, message.type, this.requestTimeoutMs);
    this.worker.postMessage(message, transfer);
    return result;
  }

  newId(): number {
    return this.nextId++;
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(new WorkerFailedError(this.rank, `Data-parallel worker ${this.rank} was stopped before it finished ${pending.operation}.`));
    }
    this.pending.clear();
    await this.worker.terminate();
  }

  private register(id: number, operation: string, timeoutMs: number): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.fail(`did not finish ${operation} within ${timeoutMs / 1000} s, so it was stopped`);
        void this.worker.terminate();
      }, timeoutMs);
      this.pending.set(id, { operation, resolve, reject, timer });
    });
  }

  private settle(response: WorkerResponse): void {
    const pending = this.pending.get(response.id);
    if (pending === undefined) {
      return;
    }
    this.pending.delete(response.id);
    clearTimeout(pending.timer);
    if (response.ok) {
      pending.resolve(response.result);
      return;
    }
    const { name, message, stack } = response.error;
    const cause = Object.assign(new Error(message), { name, stack });
    pending.reject(new WorkerFailedError(this.rank, `Data-parallel worker ${this.rank} failed during ${pending.operation}: ${name}: ${message}`, { cause }));
  }

  /** Marks the worker as failed and rejects every request that awaits it, so no caller hangs. */
  private fail(reason: string, cause?: unknown): void {
    if (this.failure !== null) {
      return;
    }
    this.failure = new WorkerFailedError(this.rank, `Data-parallel worker ${this.rank} ${reason}.`, cause === undefined ? undefined : { cause });
    for (const pending of this.pending.values()) {
      clearTimeout(pending.timer);
      pending.reject(
        new WorkerFailedError(this.rank, `Data-parallel worker ${this.rank} ${reason} during ${pending.operation}.`, cause === undefined ? undefined : { cause }),
      );
    }
    this.pending.clear();
  }
}

/** Copies `arrays` into SharedArrayBuffers, unless they already are, so every worker can read them without a copy. */
function toShared(arrays: NamedArrays): NamedArrays {
  const shared: NamedArrays = {};
  for (const [name, array] of Object.entries(arrays)) {
    if (array.data.buffer instanceof SharedArrayBuffer) {
      shared[name] = array;
      continue;
    }
    const data = new Float32Array(new SharedArrayBuffer(array.data.length * Float32Array.BYTES_PER_ELEMENT));
    data.set(array.data);
    shared[name] = { dtype: 'float32', shape: [...array.shape], data };
  }
  return shared;
}

/** Returns the buffers of a batch's arrays, for a transfer list. */
function batchBuffers(batch: TrainingBatch): ArrayBuffer[] {
  const buffers: ArrayBuffer[] = [];
  for (const input of Object.values(batch.inputs)) {
    if (input.kind === 'text') {
      buffers.push(input.ids.buffer as ArrayBuffer, input.attentionMask.buffer as ArrayBuffer);
    } else {
      buffers.push((input.kind === 'category' ? input.indices : input.values).buffer as ArrayBuffer);
    }
  }
  for (const target of Object.values(batch.targets)) {
    buffers.push((target.kind === 'category' ? target.indices : target.values).buffer as ArrayBuffer);
  }
  return buffers;
}

type ShardResult = TrainStepResult & { readonly rows: number; readonly gradients: NamedArrays };

/**
 * A model replicated over `workers` replicas for synchronous data-parallel training: rank 0 on
 * the main thread and one worker thread per other rank, each with its own backend instance.
 *
 * Each training batch is split into one shard per replica. Shard k has rows [k·s, (k+1)·s)
 * with s = ceil(rows / workers), which is `batch_size` for every full step. Every replica
 * computes the gradients of its shard at the same time. Their row-weighted average, summed in
 * float32 in rank order, is then applied by every replica with the same optimizer update, so
 * all replicas keep bit-identical weights. Forward passes, exports and evaluation use rank 0
 * alone.
 */
export class ParallelModel implements ModelHandle {
  private constructor(
    private readonly local: ModelHandle,
    private readonly replicas: readonly WorkerReplica[],
  ) {}

  /** Replicas in all, rank 0 included. */
  get workers(): number {
    return this.replicas.length + 1;
  }

  /**
   * Starts `workers − 1` worker threads, builds a replica in each, and copies the state of
   * `local` (weights, optimizer state and random state) into all of them.
   */
  static async start(options: ParallelModelOptions): Promise<ParallelModel> {
    if (!Number.isInteger(options.workers) || options.workers < 2) {
      throw new RangeError(`ParallelModel.start: workers must be an integer of at least 2, got ${options.workers}; train a single model directly instead.`);
    }
    const startTimeoutMs = options.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS;
    const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const replicas: WorkerReplica[] = [];
    for (let rank = 1; rank < options.workers; rank++) {
      const init: WorkerInit = {
        rank,
        backendType: options.backendType,
        backendSection: options.backendSection,
        description: options.description,
        searchFrom: options.searchFrom ?? process.cwd(),
      };
      replicas.push(new WorkerReplica(rank, init, startTimeoutMs, requestTimeoutMs));
    }
    const model = new ParallelModel(options.local, replicas);
    try {
      await Promise.all(replicas.map((replica) => replica.ready));
      await model.importState(await options.local.exportState());
    } catch (error) {
      await model.close();
      throw error;
    }
    options.logger.info(`Data-parallel training on ${options.workers} replicas: the main thread and ${replicas.length} worker thread(s).`);
    return model;
  }

  forward(batch: Batch): Promise<ForwardOutputs> {
    return this.local.forward(batch);
  }

  trainStep(batch: TrainingBatch, learningRate: number, options?: TrainStepOptions): Promise<TrainStepResult> {
    return trainStepFromAverage(this, batch, learningRate, options);
  }

  /** Computes the gradients of every shard at once and returns their average, and the loss over the whole batch. */
  async computeGradients(batch: TrainingBatch, options?: TrainStepOptions): Promise<TrainStepResult & { readonly gradients: NamedArrays }> {
    const shards = shardBatch(batch, Math.ceil(batch.rows / this.workers), this.workers);

    // Post the worker shards first, so the workers compute while the main thread does its own.
    const remote = this.replicas.map(async (replica, index): Promise<ShardResult> => {
      const shard = shards[index + 1]!;
      if (shard.rows === 0) {
        return { rows: 0, loss: 0, outputLosses: {}, gradients: {} };
      }
      const id = replica.newId();
      const result = (await replica.request({ id, type: 'computeGradients', batch: shard, ...(options === undefined ? {} : { options }) }, batchBuffers(shard))) as TrainStepResult & { gradients: NamedArrays };
      return { ...result, rows: shard.rows };
    });
    // Without this, a worker that fails while the main thread computes would be an unhandled rejection.
    const settled = Promise.all(remote);
    settled.catch(() => undefined);

    const first = shards[0]!;
    const localResult: ShardResult = { ...(await this.local.computeGradients(first, options)), rows: first.rows };
    const results = [localResult, ...(await settled)];

    let loss = 0;
    const outputLosses: Record<string, number> = {};
    for (const result of results) {
      const weight = result.rows / batch.rows;
      loss += result.loss * weight;
      for (const [name, value] of Object.entries(result.outputLosses)) {
        outputLosses[name] = (outputLosses[name] ?? 0) + value * weight;
      }
    }
    return { loss, outputLosses, gradients: averageGradients(results) };
  }

  /**
   * Applies the same gradients on every replica. The workers apply first and rank 0 last, so
   * when a worker fails, rank 0 still has the weights of the last completed step, which the
   * trainer then saves.
   */
  async applyGradients(gradients: NamedArrays, learningRate: number): Promise<void> {
    const shared = toShared(gradients);
    // The workers update while the main thread updates its own replica. Every replica reads the
    // same averaged gradients and none writes them, so the order does not change any result.
    const remote = Promise.all(this.replicas.map((replica) => replica.request({ id: replica.newId(), type: 'applyGradients', gradients: shared, learningRate })));
    remote.catch(() => undefined);
    await this.local.applyGradients(shared, learningRate);
    await remote;
  }

  exportWeights(): Promise<NamedArrays> {
    return this.local.exportWeights();
  }

  exportState(): Promise<NamedArrays> {
    return this.local.exportState();
  }

  /** Exports the weights of replica `rank` (0 is the main thread), to check that the replicas agree. */
  async exportReplicaWeights(rank: number): Promise<NamedArrays> {
    if (rank === 0) {
      return this.local.exportWeights();
    }
    const replica = this.replicas[rank - 1];
    if (replica === undefined) {
      throw new RangeError(`exportReplicaWeights: rank ${rank} does not exist; ranks run from 0 to ${this.workers - 1}.`);
    }
    return (await replica.request({ id: replica.newId(), type: 'exportWeights' })) as NamedArrays;
  }

  async importState(state: NamedArrays): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.request({ id: replica.newId(), type: 'importState', state })));
    await this.local.importState(state);
  }

  /** Stops the worker threads; rank 0 stays usable, and its owner disposes it. */
  async close(): Promise<void> {
    await Promise.all(this.replicas.map((replica) => replica.close()));
  }

  /** Stops the worker threads without waiting for them, and disposes rank 0. */
  dispose(): void {
    void this.close();
    this.local.dispose();
  }
}
