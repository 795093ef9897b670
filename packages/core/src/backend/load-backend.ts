import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { z } from 'zod';

import { BackendError, ConfigError } from '../errors.js';
import { closestKey, toConfigIssues } from '../config/issues.js';
import type { BackendDescriptor } from './backend.js';

/** Packages behind the built-in backend names; any other `backend.type` is read as an npm package name. */
export const BUILTIN_BACKEND_PACKAGES: Readonly<Record<string, string>> = {
  tfjs: '@ft/backend-tfjs',
  onnx: '@ft/backend-onnx',
};

/** Keys of the `backend` section that core itself reads, which are removed before a backend's schema validates the rest. */
const CORE_BACKEND_KEYS = ['type', 'cache_dir', 'trainer'];

/** Returns the npm package name that serves `backend.type`. */
export function backendPackageName(type: string): string {
  return BUILTIN_BACKEND_PACKAGES[type] ?? type;
}

function isDescriptor(value: unknown): value is BackendDescriptor {
  if (typeof value !== 'object' || value === null) {
    return false;
  }
  const candidate = value as Partial<BackendDescriptor>;
  return typeof candidate.name === 'string' && typeof candidate.create === 'function' && candidate.optionsSchema instanceof z.ZodType;
}

/**
 * Imports the backend package for `type` and returns its descriptor. The package is resolved
 * from `searchFrom` first (a user's project) and then from core's own location (the packages
 * installed next to `ft`).
 */
export async function loadBackendDescriptor(type: string, searchFrom: string = process.cwd()): Promise<BackendDescriptor> {
  const packageName = backendPackageName(type);

  let resolved: string | undefined;
  for (const base of [path.join(searchFrom, 'package.json'), import.meta.url]) {
    try {
      resolved = createRequire(base).resolve(packageName);
      break;
    } catch {
      // Try the next location; the error below lists what was tried.
    }
  }
  if (resolved === undefined) {
    const known = Object.keys(BUILTIN_BACKEND_PACKAGES).join(', ');
    const message =
      BUILTIN_BACKEND_PACKAGES[type] !== undefined
        ? `backend.type "${type}" needs the package ${packageName}, which is not installed next to @ft/core. Install it, or use another built-in backend: ${known}.`
        : `backend.type "${type}" is not a built-in backend (${known}), and no package named "${packageName}" is installed. Use a built-in backend, or install the npm package of a third-party ft backend and give its name.`;
    throw new BackendError('BACKEND_NOT_INSTALLED', message);
  }

  let module: { default?: unknown };
  try {
    module = (await import(pathToFileURL(resolved).href)) as { default?: unknown };
  } catch (error) {
    throw new BackendError('BACKEND_INVALID', `Failed to load backend package ${packageName} from ${resolved}: ${(error as Error).message}`, { cause: error });
  }

  if (!isDescriptor(module.default)) {
    throw new BackendError(
      'BACKEND_INVALID',
      `Package ${packageName} is not an ft backend: its default export must be an object with name, optionsSchema (a zod schema) and create().`,
    );
  }
  return module.default;
}

/** Validates the backend-specific keys of a `backend` section with the descriptor's schema, reporting paths under `backend`. */
export function parseBackendOptions<Options>(descriptor: BackendDescriptor<Options>, section: Record<string, unknown>, source?: string): Options {
  const own = Object.fromEntries(Object.entries(section).filter(([key]) => !CORE_BACKEND_KEYS.includes(key)));
  const result = descriptor.optionsSchema.safeParse(own);
  if (!result.success) {
    // Core's keys are removed before the backend's schema runs, so a misspelt core key gets its hint here.
    const issues = toConfigIssues(descriptor.optionsSchema, own, result.error.issues, ['backend']).map((issue) => {
      const key = issue.path[1];
      const suggestion = typeof key === 'string' ? closestKey(key, CORE_BACKEND_KEYS) : undefined;
      return issue.message.startsWith('unknown key') && !issue.message.includes('Did you mean') && suggestion !== undefined
        ? { ...issue, message: `unknown key. Did you mean \`${suggestion}\`?` }
        : issue;
    });
    throw new ConfigError(issues, source);
  }
  return result.data;
}
