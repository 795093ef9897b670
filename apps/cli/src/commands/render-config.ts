import { loadBackendDescriptor, loadConfigFile, parseBackendOptions, renderConfigYaml } from '@ft/core';

import { printOutput, writeOutputFile } from './write-output.js';

export interface RenderConfigCommandOptions {
  readonly config: string;
  /** File to write; stdout when unset. */
  readonly output?: string;
}

/**
 * Runs `ft render-config`: validates a config as `ft train` does before reading data, the
 * backend's own keys included, and prints it with every default filled in.
 */
export async function renderConfigCommand(options: RenderConfigCommandOptions): Promise<void> {
  const loaded = await loadConfigFile(options.config);
  const descriptor = await loadBackendDescriptor(loaded.config.backend.type);
  const backendOptions = parseBackendOptions(descriptor, loaded.config.backend, loaded.path) as Record<string, unknown>;
  const text = renderConfigYaml(loaded.config, { source: options.config, backendOptions });
  if (options.output === undefined) {
    printOutput(text);
    return;
  }
  await writeOutputFile(options.output, text);
  process.stderr.write(`Wrote the rendered config to ${options.output}\n`);
}
