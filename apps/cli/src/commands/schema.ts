import { configJsonSchema, loadBackendDescriptor } from '@ft/core';

import { printOutput, writeOutputFile } from './write-output.js';

export interface SchemaCommandOptions {
  /** File to write; stdout when unset. */
  readonly output?: string;
}

/**
 * Runs `ft schema`: prints the JSON Schema of a config, with the built-in backends' own keys in
 * the `backend` section, for editors and other tools.
 */
export async function schemaCommand(options: SchemaCommandOptions): Promise<void> {
  const tfjs = await loadBackendDescriptor('tfjs');
  const onnx = await loadBackendDescriptor('onnx');
  const text = `${JSON.stringify(configJsonSchema({ tfjs: tfjs.optionsSchema, onnx: onnx.optionsSchema }), null, 2)}\n`;
  if (options.output === undefined) {
    printOutput(text);
    return;
  }
  await writeOutputFile(options.output, text);
  process.stderr.write(`Wrote the config JSON Schema to ${options.output}\n`);
}
