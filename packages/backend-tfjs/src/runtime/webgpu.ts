/**
 * Finds a WebGPU adapter through Dawn's Node bindings (the optional `webgpu` package) and makes it
 * the TensorFlow.js backend through the optional `@tensorflow/tfjs-backend-webgpu` package.
 */
import { createRequire } from 'node:module';

import * as tf from '@tensorflow/tfjs-core';

import { registerWebGpuKernelFixes } from './webgpu-kernels.js';

export const DAWN_PACKAGE = 'webgpu';
export const TFJS_WEBGPU_PACKAGE = '@tensorflow/tfjs-backend-webgpu';

/** The members of the WebGPU `GPUAdapterInfo` that this module reads. */
interface AdapterInfo {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  /** Set by Dawn for CPU adapters such as Mesa's lavapipe (llvmpipe) or SwiftShader. */
  isFallbackAdapter?: boolean;
}

interface Adapter {
  info?: AdapterInfo;
  isFallbackAdapter?: boolean;
}

interface Gpu {
  requestAdapter(options?: { powerPreference?: 'low-power' | 'high-performance' }): Promise<Adapter | null>;
}

interface DawnModule {
  create(flags: string[]): Gpu;
  globals: Record<string, unknown>;
}

/** A WebGPU adapter that Dawn found, described for logs and errors. */
export interface WebGpuAdapter {
  /** For example "llvmpipe: Mesa 25.0.7 (LLVM 15.0.6), Vulkan, software". */
  label: string;
  /** True for a CPU implementation of the graphics API, such as Mesa's lavapipe. */
  software: boolean;
}

/** The result of `probeWebGpu`: an adapter, or the reason and fix when there is none. */
export type WebGpuProbe = { ok: true; adapter: WebGpuAdapter } | { ok: false; reason: string; fix: string };

/** The graphics API that ft requests from Dawn: Vulkan on Linux, Dawn's default elsewhere. */
const GRAPHICS_API: string | null = process.platform === 'linux' ? 'vulkan' : null;

/** State shared by every probe in this process, because Dawn and tfjs keep one GPU per process. */
let dawn: { module: DawnModule; gpu: Gpu } | null = null;
let probeResult: Promise<WebGpuProbe> | null = null;

/**
 * Loads Dawn and requests a high-performance adapter, the same request that
 * @tensorflow/tfjs-backend-webgpu makes. The result is cached for the process.
 *
 * Installs nothing global, so a probe that finds only a software adapter leaves the process as it was.
 */
export function probeWebGpu(): Promise<WebGpuProbe> {
  probeResult ??= probeOnce();
  return probeResult;
}

async function probeOnce(): Promise<WebGpuProbe> {
  const installFix = `Install the optional dependencies with \`npm install ${DAWN_PACKAGE} ${TFJS_WEBGPU_PACKAGE}@${tf.version_core}\`.`;

  const dawnImport = await importOptional(DAWN_PACKAGE);
  if (!dawnImport.ok) {
    return { ok: false, reason: `${DAWN_PACKAGE} (Dawn for Node.js) could not be loaded: ${dawnImport.reason}`, fix: installFix };
  }
  const tfjsImport = resolvable(TFJS_WEBGPU_PACKAGE);
  if (!tfjsImport.ok) {
    return { ok: false, reason: `${TFJS_WEBGPU_PACKAGE} could not be found: ${tfjsImport.reason}`, fix: installFix };
  }

  const module = dawnImport.module as unknown as DawnModule;
  let gpu: Gpu;
  let adapter: Adapter | null;
  try {
    gpu = module.create(GRAPHICS_API === null ? [] : [`backend=${GRAPHICS_API}`]);
    adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  } catch (error) {
    return { ok: false, reason: `Dawn failed to request an adapter: ${errorMessage(error)}`, fix: driverFix() };
  }
  if (adapter === null) {
    const api = GRAPHICS_API === 'vulkan' ? 'Vulkan' : 'WebGPU';
    return { ok: false, reason: `Dawn found no ${api} adapter`, fix: driverFix() };
  }

  dawn = { module, gpu };
  return { ok: true, adapter: describeAdapter(adapter) };
}

function driverFix(): string {
  if (GRAPHICS_API === 'vulkan') {
    return (
      'Install the Vulkan loader and a driver: the GPU vendor\'s driver, or Mesa\'s software driver for tests ' +
      '(on Debian 12: `apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1`, because Dawn rejects the Mesa 22.3 of bookworm itself).'
    );
  }
  return 'Install a GPU driver with Metal (macOS) or Direct3D 12 (Windows) support.';
}

function describeAdapter(adapter: Adapter): WebGpuAdapter {
  const info = adapter.info ?? {};
  const name = info.description || info.device || info.vendor || 'unnamed adapter';
  const software =
    info.isFallbackAdapter === true ||
    adapter.isFallbackAdapter === true ||
    info.architecture === 'software' ||
    /llvmpipe|lavapipe|swiftshader/i.test(`${info.description ?? ''} ${info.device ?? ''}`);
  const api = GRAPHICS_API === 'vulkan' ? 'Vulkan' : null;
  const details = [name, ...(api === null ? [] : [api]), software ? 'software' : 'hardware'];
  return { label: details.join(', '), software };
}

/**
 * Exposes the probed Dawn adapter to tfjs as `navigator.gpu`, registers the tfjs `webgpu`
 * backend and makes it the active backend. Call only after `probeWebGpu` returned an adapter.
 */
export async function activateWebGpu(): Promise<void> {
  if (dawn === null) {
    throw new Error('activateWebGpu was called before probeWebGpu found an adapter.');
  }
  installNavigatorGpu(dawn.module, dawn.gpu);

  // The package registers its backend on import, but only when `navigator.gpu` exists by then.
  const specifier: string = TFJS_WEBGPU_PACKAGE;
  await import(specifier);
  if (tf.findBackendFactory('webgpu') === null) {
    throw new Error(`${TFJS_WEBGPU_PACKAGE} was imported but registered no 'webgpu' backend. Check that it matches tfjs-core ${tf.version_core}.`);
  }
  registerWebGpuKernelFixes();

  const activated = await tf.setBackend('webgpu');
  if (!activated) {
    throw new Error("The TensorFlow.js backend 'webgpu' failed to initialize. See the warnings logged above.");
  }
  await tf.ready();
}

/**
 * Adds the WebGPU constants (`GPUBufferUsage`, `GPUMapMode`, ...) that tfjs reads from the global
 * scope, and `navigator.gpu`. Existing globals are kept, and Node 21 and later already define
 * `navigator`, so only its `gpu` property is added there.
 */
function installNavigatorGpu(module: DawnModule, gpu: Gpu): void {
  const global = globalThis as Record<string, unknown>;
  for (const [name, value] of Object.entries(module.globals)) {
    if (!(name in global)) {
      global[name] = value;
    }
  }
  const existing = global['navigator'] as Record<string, unknown> | undefined;
  if (existing === undefined) {
    global['navigator'] = { gpu };
  } else if (existing['gpu'] === undefined) {
    Object.defineProperty(existing, 'gpu', { value: gpu, configurable: true });
  }
}

type OptionalImport = { ok: true; module: Record<string, unknown> } | { ok: false; reason: string };

async function importOptional(name: string): Promise<OptionalImport> {
  // A variable specifier keeps TypeScript and bundlers from requiring the optional package.
  const specifier: string = name;
  try {
    return { ok: true, module: (await import(specifier)) as Record<string, unknown> };
  } catch (error) {
    return { ok: false, reason: importFailure(error) };
  }
}

/** Checks that a package resolves without importing it, because importing tfjs-backend-webgpu registers its backend. */
function resolvable(name: string): { ok: true } | { ok: false; reason: string } {
  try {
    createRequire(import.meta.url).resolve(name);
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: importFailure(error) };
  }
}

function importFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  return code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND' ? 'not installed' : errorMessage(error);
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message.split('\n')[0]! : String(error);
}
