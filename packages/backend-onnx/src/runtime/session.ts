import * as ort from 'onnxruntime-node';

/** Settings of every session of one backend: device, threads and graph optimization. */
export interface SessionSettings {
  /** ONNX Runtime execution provider names in order of preference, for example `['cpu']`. */
  readonly executionProviders: readonly string[];
  readonly intraOpNumThreads: number;
  readonly graphOptimizationLevel: 'disabled' | 'basic' | 'extended' | 'all';
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = { executionProviders: ['cpu'], intraOpNumThreads: 1, graphOptimizationLevel: 'all' };

/** Creates an inference session on a model built in memory. */
export function createSession(model: Uint8Array, settings: SessionSettings): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(model, {
    executionProviders: [...settings.executionProviders],
    intraOpNumThreads: settings.intraOpNumThreads,
    // One model runs at a time per session, so parallel execution of branches only adds threads.
    executionMode: 'sequential',
    graphOptimizationLevel: settings.graphOptimizationLevel,
    // Level 3 prints errors only. At the default level 2, every WebGPU session prints that
    // shape ops were placed on the CPU, which ONNX Runtime does on purpose.
    logSeverityLevel: 3,
  });
}

/**
 * Returns `data`, or a copy when it lives in a SharedArrayBuffer: onnxruntime-node 1.31 fails
 * with "Invalid argument" on shared memory, which data-parallel training uses for gradients.
 */
function unshared<T extends Float32Array | Int32Array>(data: T): T {
  return data.buffer instanceof SharedArrayBuffer ? (data.slice() as T) : data;
}

export function floatTensor(data: Float32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('float32', unshared(data), shape);
}

export function int32Tensor(data: Int32Array, shape: readonly number[]): ort.Tensor {
  return new ort.Tensor('int32', unshared(data), shape);
}

/** Returns the float32 data of a session output, or throws naming the missing output. */
export function outputData(results: ort.InferenceSession.OnnxValueMapType, name: string): Float32Array {
  const tensor = results[name];
  if (tensor === undefined) {
    throw new Error(`The ONNX session returned no output "${name}".`);
  }
  return tensor.data as Float32Array;
}
