/**
 * Entry of a data-parallel worker thread: starts its own backend, builds a replica of the model
 * and serves the requests of {@link ParallelModel} one at a time, in the order they arrive.
 */
import { parentPort, workerData } from 'node:worker_threads';

import type { ModelHandle } from '../../backend/backend.js';
import { loadBackendDescriptor, parseBackendOptions } from '../../backend/load-backend.js';
import { silentLogger } from '../../logging/logger.js';
import type { NamedArrays } from '../../tensors/named-arrays.js';
import type { WorkerInit, WorkerRequest, WorkerResponse } from './protocol.js';

/** Returns the ArrayBuffers of `arrays` for a transfer list, copying any array that shares its buffer. */
function ownedForTransfer(arrays: NamedArrays): { arrays: NamedArrays; transfer: ArrayBuffer[] } {
  const owned: NamedArrays = {};
  const transfer: ArrayBuffer[] = [];
  for (const [name, array] of Object.entries(arrays)) {
    const data = array.data;
    const standalone = data.buffer instanceof ArrayBuffer && data.byteOffset === 0 && data.byteLength === data.buffer.byteLength;
    const copy = standalone ? data : data.slice();
    owned[name] = { ...array, data: copy } as NamedArrays[string];
    transfer.push(copy.buffer as ArrayBuffer);
  }
  return { arrays: owned, transfer };
}

function errorFields(error: unknown): { name: string; message: string; stack?: string } {
  if (error instanceof Error) {
    return { name: error.name, message: error.message, ...(error.stack === undefined ? {} : { stack: error.stack }) };
  }
  return { name: 'Error', message: String(error) };
}

async function start(init: WorkerInit): Promise<ModelHandle> {
  const descriptor = await loadBackendDescriptor(init.backendType, init.searchFrom);
  const options = parseBackendOptions(descriptor, init.backendSection);
  const backend = await descriptor.create(options, { logger: silentLogger });
  return backend.buildModel(init.description);
}

async function handle(model: ModelHandle, request: WorkerRequest): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'importState':
      await model.importState(request.state);
      return { result: null, transfer: [] };
    case 'computeGradients': {
      const { loss, outputLosses, gradients } = await model.computeGradients(request.batch, request.options);
      const owned = ownedForTransfer(gradients);
      return { result: { loss, outputLosses, gradients: owned.arrays }, transfer: owned.transfer };
    }
    case 'applyGradients':
      await model.applyGradients(request.gradients, request.learningRate);
      return { result: null, transfer: [] };
    case 'exportState':
    case 'exportWeights': {
      const owned = ownedForTransfer(request.type === 'exportState' ? await model.exportState() : await model.exportWeights());
      return { result: owned.arrays, transfer: owned.transfer };
    }
  }
}

const port = parentPort;
if (port === null) {
  throw new Error('worker.js is the entry of a data-parallel worker thread; ParallelModel starts it, it cannot run on its own.');
}

const ready = start(workerData as WorkerInit);
ready.then(
  () => port.postMessage({ id: 0, ok: true, result: null } satisfies WorkerResponse),
  (error: unknown) => port.postMessage({ id: 0, ok: false, error: errorFields(error) } satisfies WorkerResponse),
);

// Requests run one after another, because a backend model is not safe for concurrent calls.
let queue: Promise<unknown> = ready.catch(() => undefined);
port.on('message', (request: WorkerRequest) => {
  queue = queue.then(async () => {
    try {
      const { result, transfer } = await handle(await ready, request);
      port.postMessage({ id: request.id, ok: true, result } satisfies WorkerResponse, transfer);
    } catch (error) {
      port.postMessage({ id: request.id, ok: false, error: errorFields(error) } satisfies WorkerResponse);
    }
  });
});
