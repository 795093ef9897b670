import { readFileSync } from 'node:fs';

import { Command, InvalidArgumentError, Option } from 'commander';
import { EXIT_CODES, FtError } from '@ft/core';
import pc from 'picocolors';

import { trainCommand, type TrainCommandOptions } from './commands/train.js';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

function parseInteger(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number)) {
    throw new InvalidArgumentError(`expected an integer, got "${value}".`);
  }
  return number;
}

/** Builds the `ft` command-line parser; exported so tests can parse arguments without a process. */
export function createProgram(): Command {
  const program = new Command('ft').description('Declarative fine-tuning: train models from one YAML file.').version(version).showHelpAfterError();

  program
    .command('train')
    .description('Train a model from a config file and save it, its metrics and plots in a run folder.')
    .option('-c, --config <file>', 'YAML config file (required unless --resume is given)')
    .option('--resume <run_directory>', 'continue an interrupted run from its latest checkpoint, with its own config and data')
    .option('--dataset <file>', 'CSV file to split into training, validation and test rows (overrides the config)')
    .option('--training_set <file>', 'CSV file of training rows (overrides the config)')
    .option('--validation_set <file>', 'CSV file of validation rows')
    .option('--test_set <file>', 'CSV file of test rows')
    .option('--output_directory <folder>', 'folder that receives the run folder', 'results')
    .option('--experiment_name <name>', 'prefix of the run folder name', 'experiment')
    .option('--random_seed <seed>', 'seed of the split, shuffling, initialisation and dropout', parseInteger, 42)
    .addOption(new Option('--logging_level <level>', 'least severe log level to print').choices(['debug', 'info', 'warn', 'error', 'silent']).default('info'))
    .action(async (options: TrainCommandOptions) => {
      if (options.config === undefined && options.resume === undefined) {
        throw new FtError('CONFIG_INVALID', 'ft train needs --config <file>, or --resume <run directory> to continue an interrupted run.');
      }
      await trainCommand(options, process.argv);
    });

  program
    .command('render-config')
    .description('Print a config with every default filled in and learning_rate: auto resolved, after checking it as ft train does.')
    .requiredOption('-c, --config <file>', 'YAML config file')
    .option('-o, --output <file>', 'file to write the rendered YAML to (default: standard output)')
    .action(async (options: import('./commands/render-config.js').RenderConfigCommandOptions) => {
      const { renderConfigCommand } = await import('./commands/render-config.js');
      await renderConfigCommand(options);
    });

  program
    .command('init-config')
    .description('Write a starting config for a CSV file, with a feature per useful column and an inferred type for each.')
    .requiredOption('--dataset <file>', 'CSV file with a header row')
    .requiredOption('--target <columns...>', 'column or columns to predict')
    .option('-o, --output <file>', 'config file to write', 'config.yaml')
    .option('--force', 'overwrite the output file if it exists')
    .action(async (options: import('./commands/init-config.js').InitConfigCommandOptions) => {
      const { initConfigCommand } = await import('./commands/init-config.js');
      await initConfigCommand(options);
    });

  program
    .command('schema')
    .description('Print the JSON Schema (draft-07) of a config, for editor completion and checks.')
    .option('-o, --output <file>', 'file to write the schema to (default: standard output)')
    .action(async (options: import('./commands/schema.js').SchemaCommandOptions) => {
      const { schemaCommand } = await import('./commands/schema.js');
      await schemaCommand(options);
    });

  const exportCommand = program.command('export').description('Export a trained model for use without ft.');
  exportCommand
    .command('onnx')
    .description('Write a trained run as model.onnx (token ids or feature values in, probabilities out) plus its tokenizer files.')
    .argument('<run_directory>', 'run folder written by ft train, for example results/experiment_run')
    .option('-o, --output <folder>', 'folder to write the model to (default: <run_directory>/onnx)')
    .action(async (runDirectory: string, options: { output?: string }) => {
      const { exportOnnxCommand } = await import('./commands/export-onnx.js');
      await exportOnnxCommand(runDirectory, options);
    });

  return program;
}

/** Runs the CLI and returns the process exit code; user errors print without a stack trace. */
export async function main(argv: readonly string[]): Promise<number> {
  const program = createProgram().exitOverride();
  try {
    await program.parseAsync([...argv]);
    return EXIT_CODES.success;
  } catch (error) {
    if (error instanceof FtError) {
      process.stderr.write(`${pc.red('error:')} ${error.message}\n`);
      return error.exitCode;
    }
    const commanderError = error as { code?: string; exitCode?: number };
    if (typeof commanderError.code === 'string' && commanderError.code.startsWith('commander.')) {
      return commanderError.exitCode ?? EXIT_CODES.configInvalid;
    }
    process.stderr.write(`${pc.red('internal error:')} ${(error as Error).stack ?? String(error)}\n`);
    return EXIT_CODES.internalError;
  }
}
