/**
 * Kernel fixes for the TensorFlow.js `webgpu` backend (tfjs-backend-webgpu 4.22).
 *
 * `AddN` compiles one shader that binds every input as a storage buffer, so it fails when it has
 * more inputs than the device's `maxStorageBuffersPerShaderStage` limit minus one for the output.
 * That limit is 8 unless the device was requested with a higher one, and tfjs does not request
 * it. The failure is a WebGPU validation error, which Dawn prints while tfjs returns a wrong
 * result without throwing. Gradient clipping by global norm sums one square per weight with
 * `tf.addN`, which gave wrong losses from the second step on. The wrapper sums the inputs in
 * chunks that fit the limit.
 */
import * as tf from '@tensorflow/tfjs-core';

const BACKEND_NAME = 'webgpu';

/** Mark on our `AddN` kernelFunc. `Symbol.for` keeps it the same across module copies. */
const WRAPPED_MARK = Symbol.for('ft.backend-tfjs.webgpuAddNWrapper');

/** The members of `WebGPUBackend` (tfjs-backend-webgpu 4.22) that the wrapper uses. */
interface WebGpuBackendInternals {
  device: { limits: { maxStorageBuffersPerShaderStage: number } };
  disposeData(dataId: tf.DataId): boolean;
}

type KernelParams = Parameters<tf.KernelFunc>[0];

/**
 * Wraps the `AddN` kernel of the `webgpu` backend. Registers nothing for other backends.
 *
 * Safe to call more than once, before or after `tf.setBackend('webgpu')`, but only after
 * @tensorflow/tfjs-backend-webgpu registered its kernels.
 */
export function registerWebGpuKernelFixes(): void {
  wrapAddN();
}

function wrapAddN(): void {
  const original = tf.getKernel(tf.AddN, BACKEND_NAME);
  if (original === undefined) {
    throw new Error(
      'The webgpu AddN kernel is not registered, so it cannot be wrapped. ' +
        'Check that @tensorflow/tfjs-backend-webgpu is installed and was imported while navigator.gpu existed.',
    );
  }
  if ((original.kernelFunc as unknown as Record<symbol, unknown>)[WRAPPED_MARK] === true) {
    return;
  }

  const kernelFunc = ((params: KernelParams) => addNInChunks(params, original)) as tf.KernelFunc;
  Object.defineProperty(kernelFunc, WRAPPED_MARK, { value: true });

  tf.unregisterKernel(tf.AddN, BACKEND_NAME);
  tf.registerKernel({
    kernelName: tf.AddN,
    backendName: BACKEND_NAME,
    ...(original.setupFunc === undefined ? {} : { setupFunc: original.setupFunc }),
    ...(original.disposeFunc === undefined ? {} : { disposeFunc: original.disposeFunc }),
    kernelFunc,
  });
}

/**
 * Sums the inputs of `AddN` with the original kernel, at most `limit` inputs per call: partial
 * sums of consecutive chunks, then sums of the partial sums, until one call takes all that remain.
 */
function addNInChunks(params: KernelParams, original: tf.KernelConfig): tf.TensorInfo {
  // AddN passes its inputs as an array, not as a map of names.
  const inputs = params.inputs as unknown as tf.TensorInfo[];
  const backend = params.backend as unknown as WebGpuBackendInternals;
  // The output takes one of the stage's storage buffers.
  const limit = Math.max(2, backend.device.limits.maxStorageBuffersPerShaderStage - 1);
  if (inputs.length <= limit) {
    return original.kernelFunc(params) as tf.TensorInfo;
  }

  const partialSums: tf.TensorInfo[] = [];
  try {
    let remaining = inputs;
    while (remaining.length > limit) {
      const next: tf.TensorInfo[] = [];
      for (let start = 0; start < remaining.length; start += limit) {
        const chunk = remaining.slice(start, start + limit);
        if (chunk.length === 1) {
          next.push(chunk[0]!);
          continue;
        }
        const sum = original.kernelFunc({ ...params, inputs: chunk as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
        partialSums.push(sum);
        next.push(sum);
      }
      remaining = next;
    }
    return original.kernelFunc({ ...params, inputs: remaining as unknown as tf.NamedTensorInfoMap }) as tf.TensorInfo;
  } finally {
    for (const sum of partialSums) {
      backend.disposeData(sum.dataId);
    }
  }
}
