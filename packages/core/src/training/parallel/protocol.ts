import type { TrainStepOptions } from '../../backend/backend.js';
import type { ModelDescription, TrainingBatch } from '../../backend/model-description.js';
import type { NamedArrays } from '../../tensors/named-arrays.js';

/** Start-up data of a worker thread: what it needs to start a backend and build its replica. */
export interface WorkerInit {
  readonly rank: number;
  /** `backend.type`, imported by package name as {@link loadBackendDescriptor} does. */
  readonly backendType: string;
  /** The whole `backend` section; the worker validates the backend's own keys again. */
  readonly backendSection: Record<string, unknown>;
  readonly description: ModelDescription;
  /** Folder from which the backend package is resolved first, normally the working directory. */
  readonly searchFrom: string;
}

/** A request from the main thread to one worker; `id` pairs it with its response. */
export type WorkerRequest =
  | { readonly id: number; readonly type: 'importState'; readonly state: NamedArrays }
  | { readonly id: number; readonly type: 'computeGradients'; readonly batch: TrainingBatch; readonly options?: TrainStepOptions }
  | { readonly id: number; readonly type: 'applyGradients'; readonly gradients: NamedArrays; readonly learningRate: number }
  | { readonly id: number; readonly type: 'exportState' }
  | { readonly id: number; readonly type: 'exportWeights' };

/** A worker's response: the result of request `id`, or the error it raised. Id 0 is the reply to the start-up. */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly result: unknown }
  | { readonly id: number; readonly ok: false; readonly error: { readonly name: string; readonly message: string; readonly stack?: string } };
