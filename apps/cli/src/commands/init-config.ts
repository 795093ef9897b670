import { initConfig } from '@ft/core';

import { writeOutputFile } from './write-output.js';

export interface InitConfigCommandOptions {
  readonly dataset: string;
  readonly target: readonly string[];
  readonly output: string;
  readonly force?: boolean;
}

/**
 * Runs `ft init-config`: infers a starting config from a CSV file, writes it, and prints what
 * was inferred for each column. An existing file is kept unless `force` is set.
 */
export async function initConfigCommand(options: InitConfigCommandOptions): Promise<void> {
  const result = await initConfig({ dataset: options.dataset, target: options.target, configPath: options.output });
  await writeOutputFile(options.output, result.yaml, { exclusive: options.force !== true });

  process.stdout.write(`Wrote ${options.output}. Inferred from ${options.dataset}:\n`);
  for (const note of result.notes) {
    process.stdout.write(`  ${note}\n`);
  }
  process.stdout.write(`Check the feature types, then run: ft train --config ${options.output}\n`);
}
