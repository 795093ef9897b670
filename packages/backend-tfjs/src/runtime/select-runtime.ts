/**
 * Chooses the TensorFlow.js backend that training and inference run on.
 */
import { readdirSync } from 'node:fs';

import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '@ft/core';
// The umbrella package registers the gradient of every op and the chained tensor methods
// (`x.mul(y)`). tfjs-core alone registers neither when Node loads its CommonJS build.
import '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernelFixes } from './wasm-kernels.js';
import { activateWebGpu, probeWebGpu, type WebGpuAdapter } from './webgpu.js';

/** The runtime a config requests: `auto` picks tfjs-node when installed, else wasm. */
export type RuntimeRequest = 'auto' | 'node' | 'wasm' | 'cpu';

/**
 * The device a config requests. `webgpu` uses any WebGPU adapter, a software one included.
 * `gpu` uses tfjs-node-gpu when installed, else a hardware WebGPU adapter. `auto` uses a hardware
 * WebGPU adapter when the runtime is auto and one is found, else the CPU.
 */
export type DeviceRequest = 'auto' | 'cpu' | 'gpu' | 'webgpu';

/** The runtime in use after `selectRuntime`. */
export interface SelectedRuntime {
  name: 'tfjs-node' | 'tfjs-node-gpu' | 'wasm' | 'cpu' | 'webgpu';
  /**
   * One line for logs and reports, for example "TensorFlow.js 4.22.0 on wasm (SIMD, 1 thread)" or
   * "TensorFlow.js 4.22.0 on webgpu (llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), Vulkan, software)".
   */
  description: string;
  /** True on tfjs-node-gpu and on a hardware WebGPU adapter. A software adapter computes on the CPU. */
  accelerator: boolean;
}

const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';
const TFJS_NODE_GPU_PACKAGE = '@tensorflow/tfjs-node-gpu';

/**
 * Sets the TensorFlow.js backend for `request` on `device`, waits until it is ready and makes
 * sure the gradients of every op are registered.
 *
 * - `auto` uses @tensorflow/tfjs-node when it can be imported, else wasm with the kernel fixes.
 * - `node` throws when @tensorflow/tfjs-node cannot be imported.
 * - `wasm` and `cpu` use those backends, which ship with this package.
 *
 * See `DeviceRequest` for the devices. A device that cannot be had raises a BackendError with
 * code BACKEND_NOT_INSTALLED, and a device that the runtime cannot run on raises BACKEND_INVALID.
 *
 * `log` receives one or two lines that name the chosen runtime and device and the reason for them.
 */
export async function selectRuntime(request: RuntimeRequest, log: (message: string) => void, device: DeviceRequest = 'auto'): Promise<SelectedRuntime> {
  // Production mode silences tfjs's console banners (the cpu backend's "install tfjs-node"
  // notice); this function reports the runtime through `log` instead.
  tf.env().set('PROD', true);
  checkCombination(request, device);

  switch (device) {
    case 'webgpu': {
      const runtime = await useWebGpu('webgpu');
      log(`Device webgpu: using ${runtime.description}.`);
      return runtime;
    }
    case 'gpu':
      return selectGpu(request, log);
    case 'auto':
      if (request === 'auto') {
        const adapter = await hardwareWebGpuAdapter(log);
        if (adapter !== null) {
          try {
            const runtime = await useWebGpu('auto');
            log(`Device auto: found the WebGPU adapter ${adapter.label}, using ${runtime.description}.`);
            return runtime;
          } catch (error) {
            log(`Device auto: ${errorMessage(error)} Training runs on the CPU instead.`);
          }
        }
      }
      return selectCpuRuntime(request, log);
    case 'cpu':
      return selectCpuRuntime(request, log);
    default:
      throw new Error(`Unknown device '${String(device)}'. Expected 'auto', 'cpu', 'gpu' or 'webgpu'.`);
  }
}

/** Rejects a runtime that cannot run on the requested device. */
function checkCombination(request: RuntimeRequest, device: DeviceRequest): void {
  const gpuRuntimes: Record<'gpu' | 'webgpu', RuntimeRequest[]> = { gpu: ['auto', 'node'], webgpu: ['auto'] };
  if ((device === 'gpu' || device === 'webgpu') && !gpuRuntimes[device].includes(request)) {
    const fix =
      device === 'gpu'
        ? 'Set backend.runtime to auto (WebGPU or tfjs-node-gpu) or node (tfjs-node-gpu only), or set backend.device to cpu.'
        : 'Set backend.runtime to auto, or set backend.device to cpu.';
    throw new BackendError('BACKEND_INVALID', `backend.device: ${device} cannot run on backend.runtime: ${request}, which runs on the CPU. ${fix}`);
  }
}

/** Picks the runtime for device `cpu`, and for device `auto` when no hardware WebGPU adapter is used. */
async function selectCpuRuntime(request: RuntimeRequest, log: (message: string) => void): Promise<SelectedRuntime> {
  let runtime: SelectedRuntime;
  switch (request) {
    case 'auto': {
      const nodeImport = await importTfjsNode(TFJS_NODE_PACKAGE);
      if (nodeImport.ok) {
        runtime = await useTfjsNode(nodeImport.module, 'tfjs-node');
        log(`Runtime auto: ${TFJS_NODE_PACKAGE} is installed, using ${runtime.description}.`);
      } else {
        runtime = await useWasm();
        log(
          `Runtime auto: ${TFJS_NODE_PACKAGE} could not be imported (${nodeImport.reason}), using ${runtime.description}. ` +
            `Install ${TFJS_NODE_PACKAGE} for native speed.`,
        );
      }
      break;
    }
    case 'node': {
      const nodeImport = await importTfjsNode(TFJS_NODE_PACKAGE);
      if (!nodeImport.ok) {
        throw new BackendError(
          'BACKEND_NOT_INSTALLED',
          `backend.runtime: node needs ${TFJS_NODE_PACKAGE}, which could not be imported (${nodeImport.reason}). ` +
            `Install it with \`npm install ${TFJS_NODE_PACKAGE}\`, or set the runtime to auto or wasm.`,
        );
      }
      runtime = await useTfjsNode(nodeImport.module, 'tfjs-node');
      log(`Runtime node: using ${runtime.description}.`);
      break;
    }
    case 'wasm':
      runtime = await useWasm();
      log(`Runtime wasm: using ${runtime.description}.`);
      break;
    case 'cpu':
      runtime = await useCpu();
      log(`Runtime cpu: using ${runtime.description}.`);
      break;
    default:
      throw new Error(`Unknown runtime '${String(request)}'. Expected 'auto', 'node', 'wasm' or 'cpu'.`);
  }

  return runtime;
}

/** Picks tfjs-node-gpu when it is installed, else a hardware WebGPU adapter (runtime auto only). */
async function selectGpu(request: RuntimeRequest, log: (message: string) => void): Promise<SelectedRuntime> {
  const nodeGpuImport = await importTfjsNode(TFJS_NODE_GPU_PACKAGE);
  if (nodeGpuImport.ok) {
    const runtime = await useTfjsNode(nodeGpuImport.module, 'tfjs-node-gpu');
    log(`Device gpu: ${TFJS_NODE_GPU_PACKAGE} is installed, using ${runtime.description}.`);
    return runtime;
  }
  if (request === 'node') {
    throw new BackendError(
      'BACKEND_NOT_INSTALLED',
      `backend.device: gpu with backend.runtime: node needs ${TFJS_NODE_GPU_PACKAGE}, which could not be imported ` +
        `(${nodeGpuImport.reason}). Install it with \`npm install ${TFJS_NODE_GPU_PACKAGE}\` on a machine with CUDA, ` +
        'or set backend.runtime to auto to use a GPU through WebGPU.',
    );
  }
  const runtime = await useWebGpu('gpu');
  log(`Device gpu: ${TFJS_NODE_GPU_PACKAGE} could not be imported (${nodeGpuImport.reason}), using ${runtime.description}.`);
  return runtime;
}

function hasLinuxGpuDeviceNode(): boolean {
  const entries = (folder: string): string[] => {
    try {
      return readdirSync(folder);
    } catch {
      return [];
    }
  };
  return entries('/dev/dri').some((name) => name.startsWith('renderD')) || entries('/dev').some((name) => /^nvidia\d+$/.test(name));
}

/**
 * Returns the WebGPU adapter when it is a hardware one, else null after logging why device auto
 * stays on the CPU.
 */
async function hardwareWebGpuAdapter(log: (message: string) => void): Promise<WebGpuAdapter | null> {
  // Probing loads Dawn, which prints native warnings on every run. On Linux a hardware GPU
  // always has a device node, so a machine without one skips the probe.
  if (process.platform === 'linux' && !hasLinuxGpuDeviceNode()) {
    log('Device auto: no GPU device in /dev/dri or /dev/nvidia*, so training runs on the CPU.');
    return null;
  }
  const probe = await probeWebGpu();
  if (!probe.ok) {
    log(`Device auto: no WebGPU adapter (${probe.reason}), so training runs on the CPU.`);
    return null;
  }
  if (probe.adapter.software) {
    log(
      `Device auto: the WebGPU adapter ${probe.adapter.label} emulates a GPU on the CPU, so training runs on the CPU. ` +
        'Set backend.device: webgpu to use it anyway.',
    );
    return null;
  }
  return probe.adapter;
}

/**
 * Activates the tfjs `webgpu` backend, or raises BACKEND_NOT_INSTALLED with the reason and fix.
 * Device `gpu` rejects a software adapter, and device `webgpu` accepts one.
 */
async function useWebGpu(device: DeviceRequest): Promise<SelectedRuntime> {
  const probe = await probeWebGpu();
  if (!probe.ok) {
    throw new BackendError('BACKEND_NOT_INSTALLED', `backend.device: ${device} is not available: ${probe.reason}. ${probe.fix} Or set backend.device to cpu.`);
  }
  if (device === 'gpu' && probe.adapter.software) {
    throw new BackendError(
      'BACKEND_NOT_INSTALLED',
      `backend.device: gpu is not available: the only WebGPU adapter, ${probe.adapter.label}, is a software driver that runs on the CPU, so it was rejected. ` +
        "Install the GPU vendor's Vulkan driver or @tensorflow/tfjs-node-gpu, set backend.device to webgpu to use the software adapter anyway, or set backend.device to cpu.",
    );
  }
  try {
    await activateWebGpu();
  } catch (error) {
    throw new BackendError(
      'BACKEND_NOT_INSTALLED',
      `backend.device: ${device} is not available: the tfjs webgpu backend failed to start on ${probe.adapter.label} (${errorMessage(error)}). Set backend.device to cpu.`,
      { cause: error },
    );
  }
  return { name: 'webgpu', description: `TensorFlow.js ${tf.version_core} on webgpu (${probe.adapter.label})`, accelerator: !probe.adapter.software };
}

type TfjsNodeImport = { ok: true; module: Record<string, unknown> } | { ok: false; reason: string };

async function importTfjsNode(name: string): Promise<TfjsNodeImport> {
  // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
  const specifier: string = name;
  try {
    const module = (await import(specifier)) as Record<string, unknown>;
    return { ok: true, module };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : errorMessage(error);
    return { ok: false, reason };
  }
}

// NOTE: untested against a real tfjs-node or tfjs-node-gpu install. The backend name 'tensorflow'
// and the `version['tfjs-node']` field are assumed from tfjs-node 4.x, and whether tfjs-node-gpu
// found a CUDA device is not checked.
async function useTfjsNode(module: Record<string, unknown>, name: 'tfjs-node' | 'tfjs-node-gpu'): Promise<SelectedRuntime> {
  // tfjs-node and tfjs-node-gpu register their backend under the name 'tensorflow' when imported.
  await activateBackend('tensorflow');
  const versions = (module['version'] ?? {}) as Record<string, string | undefined>;
  const nodeVersion = versions['tfjs-node'];
  const suffix = nodeVersion === undefined ? '' : ` ${nodeVersion}`;
  const device = name === 'tfjs-node-gpu' ? 'native TensorFlow with CUDA' : 'native TensorFlow';
  return {
    name,
    description: `TensorFlow.js ${tf.version_core} on ${name}${suffix} (${device})`,
    accelerator: name === 'tfjs-node-gpu',
  };
}

async function useWasm(): Promise<SelectedRuntime> {
  registerWasmKernelFixes();
  await activateBackend('wasm');

  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = getThreadsCount();
  const features = [simd ? 'SIMD' : 'no SIMD', `${threads} thread${threads === 1 ? '' : 's'}`];
  return { name: 'wasm', description: `TensorFlow.js ${tf.version_core} on wasm (${features.join(', ')})`, accelerator: false };
}

async function useCpu(): Promise<SelectedRuntime> {
  await import('@tensorflow/tfjs-backend-cpu');
  await activateBackend('cpu');
  return { name: 'cpu', description: `TensorFlow.js ${tf.version_core} on cpu (pure JavaScript)`, accelerator: false };
}

async function activateBackend(backendName: string): Promise<void> {
  const activated = await tf.setBackend(backendName);
  if (!activated) {
    throw new Error(`The TensorFlow.js backend '${backendName}' failed to initialize. See the warnings logged above.`);
  }
  await tf.ready();
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
