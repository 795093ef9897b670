/**
 * Chooses the TensorFlow.js backend that training and inference run on.
 */
import * as tf from '@tensorflow/tfjs-core';
import { BackendError } from '@ft/core';
// The umbrella package registers the gradient of every op and the chained tensor methods
// (`x.mul(y)`). tfjs-core alone registers neither when Node loads its CommonJS build.
import '@tensorflow/tfjs';
import { getThreadsCount } from '@tensorflow/tfjs-backend-wasm';
import { registerWasmKernelFixes } from './wasm-kernels.js';

/** The runtime a config requests: `auto` picks tfjs-node when installed, else wasm. */
export type RuntimeRequest = 'auto' | 'node' | 'wasm' | 'cpu';

/** The runtime in use after `selectRuntime`. */
export interface SelectedRuntime {
  name: 'tfjs-node' | 'wasm' | 'cpu';
  /** One line for logs and reports, for example "TensorFlow.js 4.22.0 on wasm (SIMD, 1 thread)". */
  description: string;
}

const TFJS_NODE_PACKAGE = '@tensorflow/tfjs-node';

/**
 * Sets the TensorFlow.js backend for `request`, waits until it is ready and makes sure the
 * gradients of every op are registered.
 *
 * - `auto` uses @tensorflow/tfjs-node when it can be imported, else wasm with the kernel fixes.
 * - `node` throws when @tensorflow/tfjs-node cannot be imported.
 * - `wasm` and `cpu` use those backends, which ship with this package.
 *
 * `log` receives one line that names the chosen runtime and the reason for it.
 */
export async function selectRuntime(request: RuntimeRequest, log: (message: string) => void): Promise<SelectedRuntime> {
  // Production mode silences tfjs's console banners (the cpu backend's "install tfjs-node"
  // notice); this function reports the runtime through `log` instead.
  tf.env().set('PROD', true);

  let runtime: SelectedRuntime;
  switch (request) {
    case 'auto': {
      const nodeImport = await importTfjsNode();
      if (nodeImport.ok) {
        runtime = await useTfjsNode(nodeImport.module);
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
      const nodeImport = await importTfjsNode();
      if (!nodeImport.ok) {
        throw new BackendError(
          'BACKEND_NOT_INSTALLED',
          `backend.runtime: node needs ${TFJS_NODE_PACKAGE}, which could not be imported (${nodeImport.reason}). ` +
            `Install it with \`npm install ${TFJS_NODE_PACKAGE}\`, or set the runtime to auto or wasm.`,
        );
      }
      runtime = await useTfjsNode(nodeImport.module);
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

type TfjsNodeImport = { ok: true; module: Record<string, unknown> } | { ok: false; reason: string };

async function importTfjsNode(): Promise<TfjsNodeImport> {
  // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
  const specifier: string = TFJS_NODE_PACKAGE;
  try {
    const module = (await import(specifier)) as Record<string, unknown>;
    return { ok: true, module };
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : errorMessage(error);
    return { ok: false, reason };
  }
}

// NOTE: untested against a real tfjs-node install. The backend name 'tensorflow' and the
// `version['tfjs-node']` field are assumed from tfjs-node 4.x.
async function useTfjsNode(module: Record<string, unknown>): Promise<SelectedRuntime> {
  // tfjs-node registers its backend under the name 'tensorflow' when it is imported.
  await activateBackend('tensorflow');
  const versions = (module['version'] ?? {}) as Record<string, string | undefined>;
  const nodeVersion = versions['tfjs-node'];
  const suffix = nodeVersion === undefined ? '' : ` ${nodeVersion}`;
  return {
    name: 'tfjs-node',
    description: `TensorFlow.js ${tf.version_core} on tfjs-node${suffix} (native TensorFlow)`,
  };
}

async function useWasm(): Promise<SelectedRuntime> {
  registerWasmKernelFixes();
  await activateBackend('wasm');

  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  const threads = getThreadsCount();
  const features = [simd ? 'SIMD' : 'no SIMD', `${threads} thread${threads === 1 ? '' : 's'}`];
  return { name: 'wasm', description: `TensorFlow.js ${tf.version_core} on wasm (${features.join(', ')})` };
}

async function useCpu(): Promise<SelectedRuntime> {
  await import('@tensorflow/tfjs-backend-cpu');
  await activateBackend('cpu');
  return { name: 'cpu', description: `TensorFlow.js ${tf.version_core} on cpu (pure JavaScript)` };
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
