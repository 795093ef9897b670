import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';

import { BackendError } from '@ft/core';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export type DeviceRequest = 'auto' | 'cpu' | 'webgpu' | 'cuda';
export type Device = 'cpu' | 'webgpu' | 'cuda';

/** Returns a one-node model for checking that an execution provider loads and runs. */
function probeModel(): Uint8Array {
  const tensor = { elemType: onnx.TensorProto.DataType.FLOAT, shape: { dim: [{ dimValue: 2 }] } };
  const model = onnx.ModelProto.create({
    irVersion: 8,
    opsetImport: [{ domain: '', version: 17 }],
    graph: {
      name: 'probe',
      node: [{ opType: 'Relu', input: ['x'], output: ['y'] }],
      input: [{ name: 'x', type: { tensorType: tensor } }],
      output: [{ name: 'y', type: { tensorType: tensor } }],
    },
  });
  return onnx.ModelProto.encode(model).finish();
}

/** Creates a session on `device` and runs it once; returns the error message on failure. */
async function probe(device: Device): Promise<string | null> {
  const known = ort.listSupportedBackends().map((backend) => backend.name);
  if (!known.includes(device)) {
    return `this build of onnxruntime-node ${ort.env.versions.node ?? ''} does not list it (it lists ${known.join(', ')})`;
  }
  try {
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [device] });
    await session.run({ x: new ort.Tensor('float32', Float32Array.of(-1, 1), [2]) });
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
 * reason and the fix. `auto` tries CUDA when its provider is installed and otherwise warns and
 * uses the CPU.
 */
export async function selectDevice(request: DeviceRequest, warn: (message: string) => void): Promise<Device> {
  if (request === 'cpu') {
    return 'cpu';
  }

  if (request === 'auto') {
    if (!cudaProviderInstalled()) {
      warn('backend.device is auto and no CUDA provider for ONNX Runtime is installed, so the ONNX backend runs on the CPU. Set backend.device: cpu to silence this warning.');
      return 'cpu';
    }
    const failure = await probe('cuda');
    if (failure === null) {
      return 'cuda';
    }
    warn(`backend.device is auto and CUDA failed (${failure}), so the ONNX backend runs on the CPU.`);
    return 'cpu';
  }

  const failure = await probe(request);
  if (failure !== null) {
    const fix =
      request === 'cuda'
        ? 'Install onnxruntime-node without `onnxruntime-node-install=skip` on a machine with CUDA 12 and cuDNN 9, or set backend.device to cpu.'
        : 'WebGPU needs a GPU driver with Vulkan (Linux), Metal (macOS) or Direct3D 12 (Windows); otherwise set backend.device to cpu.';
    throw new BackendError('BACKEND_INVALID', `backend.device ${request} is not available: ${failure}. ${fix}`);
  }
  return request;
}
