import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { BackendError, type Logger } from '@ft/core';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type DeviceRequest = 'auto' | 'cpu' | 'webgpu' | 'cuda';
export type Device = 'cpu' | 'webgpu' | 'cuda';

/** Returns a one-node model for checking that an execution provider loads and runs `opType` on `[2, 2]` tensors. */
function probeModel(opType: 'Relu' | 'MatMul', elemType: number): Uint8Array {
  const tensor = { elemType, shape: { dim: [{ dimValue: 2 }, { dimValue: 2 }] } };
  const inputs = opType === 'MatMul' ? ['a', 'b'] : ['a'];
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'probe',
      node: [{ opType, input: inputs, output: ['y'] }],
      input: inputs.map((name) => ({ name, type: { tensorType: tensor } })),
      output: [{ name: 'y', type: { tensorType: tensor } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** float16 bit patterns of 1, 2, 3 and 4. */
const HALF_ONE_TO_FOUR = Uint16Array.of(0x3c00, 0x4000, 0x4200, 0x4400);
/** float16 bit patterns of the product [[1, 2], [3, 4]] × [[1, 2], [3, 4]] = [[7, 10], [15, 22]]. */
const HALF_SQUARED = [0x4700, 0x4900, 0x4b80, 0x4d80];

/**
 * Checks that `device` multiplies float16 matrices and returns null, or the reason it cannot.
 * WebGPU needs the adapter's `shader-f16` feature for this.
 */
export async function probeHalfPrecision(device: Device): Promise<string | null> {
  try {
    const session = await ort.InferenceSession.create(probeModel('MatMul', onnx.TensorProto.DataType.FLOAT16), { executionProviders: [device] });
    const matrix = new ort.Tensor('float16', HALF_ONE_TO_FOUR, [2, 2]);
    const { y } = await session.run({ a: matrix, b: matrix });
    await session.release();
    const product = [...(y!.data as Uint16Array)];
    return product.every((bits, index) => bits === HALF_SQUARED[index]) ? null : `a float16 product came out wrong (${product.join(', ')})`;
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  }
}

/** Creates a session on `device` and runs it once; returns the error message on failure. */
async function probe(device: Device): Promise<string | null> {
  const known = ort.listSupportedBackends().map((backend) => backend.name);
  if (!known.includes(device)) {
    return `this build of onnxruntime-node ${ort.env.versions.node ?? ''} does not list it (it lists ${known.join(', ')})`;
  }
  try {
    const session = await ort.InferenceSession.create(probeModel('Relu', onnx.TensorProto.DataType.FLOAT), { executionProviders: [device] });
    await session.run({ a: new ort.Tensor('float32', Float32Array.of(-1, 1, -2, 2), [2, 2]) });
    await session.release();
    return null;
  } catch (error) {
    return (error as Error).message.split('\n')[0]!;
  }
}

/**
 * Returns whether onnxruntime-node's CUDA provider library is installed. Its install script downloads
 * it, and `onnxruntime-node-install=skip` in .npmrc leaves it out. Checking the file first keeps
 * `auto` from printing the native loader's error on every CPU-only machine.
 */
function cudaProviderInstalled(): boolean {
  try {
    const entry = createRequire(import.meta.url).resolve('onnxruntime-node');
    const binary = path.join(path.dirname(entry), '..', 'bin');
    return readdirSync(binary).some((napi) => existsSync(path.join(binary, napi, process.platform, process.arch, 'libonnxruntime_providers_cuda.so')));
  } catch {
    return false;
  }
}

/**
 * Picks the execution provider. An explicit device that fails raises a BackendError with the
 * reason and the fix. `auto` tries CUDA when its provider is installed, and otherwise logs that
 * it uses the CPU.
 */
export async function selectDevice(request: DeviceRequest, logger: Pick<Logger, 'info' | 'warn'>): Promise<Device> {
  if (request === 'cpu') {
    return 'cpu';
  }

  if (request === 'auto') {
    if (!cudaProviderInstalled()) {
      // This is the usual case on a machine without a GPU, so it is logged as info.
      logger.info('Device auto: no CUDA provider for ONNX Runtime is installed, so the ONNX backend runs on the CPU.');
      return 'cpu';
    }
    const failure = await probe('cuda');
    if (failure === null) {
      return 'cuda';
    }
    logger.warn(`backend.device is auto and CUDA failed (${failure}), so the ONNX backend runs on the CPU.`);
    return 'cpu';
  }

  // Without the provider library, ONNX Runtime would print its own loader error before failing.
  const failure = request === 'cuda' && !cudaProviderInstalled() ? "onnxruntime-node's CUDA provider library is not installed" : await probe(request);
  if (failure !== null) {
    const fix =
      request === 'cuda'
        ? 'Install onnxruntime-node without `onnxruntime-node-install=skip` on a machine with CUDA 12 and cuDNN 9, or set backend.device to cpu.'
        : 'WebGPU needs a GPU driver with Vulkan (Linux), Metal (macOS) or Direct3D 12 (Windows); otherwise set backend.device to cpu.';
    throw new BackendError('BACKEND_INVALID', `backend.device ${request} is not available: ${failure}. ${fix}`);
  }
  return request;
}
