import { trainRun, type LogLevel } from '@ft/core';
import pc from 'picocolors';

import { TerminalProgress } from '../progress.js';
import { renderSummary } from '../summary.js';

/** Options of `ft train`, named like Ludwig's flags. */
export interface TrainCommandOptions {
  readonly config?: string;
  readonly resume?: string;
  readonly dataset?: string;
  readonly training_set?: string;
  readonly validation_set?: string;
  readonly test_set?: string;
  readonly output_directory: string;
  readonly experiment_name: string;
  readonly random_seed: number;
  readonly logging_level: LogLevel;
}

/**
 * Returns a SIGINT handler. The first call aborts `controller`, so training stops after the
 * current step and saves. Any later call runs `second`, which exits at once.
 */
export function createInterruptHandler(controller: AbortController, actions: { first: () => void; second: () => void }): () => void {
  return () => {
    if (controller.signal.aborted) {
      actions.second();
      return;
    }
    controller.abort();
    actions.first();
  };
}

/**
 * Runs `ft train`. The first Ctrl-C lets the current step finish and saves the results of the
 * best epoch so far; a second one exits at once.
 */
export async function trainCommand(options: TrainCommandOptions, argv: readonly string[]): Promise<void> {
  const progress = new TerminalProgress(options.logging_level);
  const logger = progress.logger(options.logging_level);
  const controller = new AbortController();
  const onInterrupt = createInterruptHandler(controller, {
    first: () => logger.warn('Interrupted: finishing the current step and saving the best weights. Press Ctrl-C again to exit at once.'),
    second: () => {
      progress.stop();
      process.stderr.write('\nInterrupted twice; exiting without saving.\n');
      process.exit(130);
    },
  });
  process.on('SIGINT', onInterrupt);

  try {
    const result = await trainRun({
      ...(options.config === undefined ? {} : { configPath: options.config }),
      ...(options.resume === undefined ? {} : { resumeFrom: options.resume }),
      ...(options.dataset === undefined ? {} : { dataset: options.dataset }),
      ...(options.training_set === undefined ? {} : { trainingSet: options.training_set }),
      ...(options.validation_set === undefined ? {} : { validationSet: options.validation_set }),
      ...(options.test_set === undefined ? {} : { testSet: options.test_set }),
      outputDirectory: options.output_directory,
      experimentName: options.experiment_name,
      randomSeed: options.random_seed,
      logger,
      callbacks: progress,
      signal: controller.signal,
      command: argv.slice(1),
    });
    progress.stop();
    if (result.rank !== 0) {
      // With strategy: mpi, rank 0 prints the summary for the whole job.
      return;
    }

    process.stdout.write(`\n${renderSummary(result.finalMetrics)}\n`);
    const stopped = result.stopReason === 'completed' ? '' : ` (stopped: ${result.stopReason.replaceAll('_', ' ')})`;
    process.stdout.write(`\n${pc.bold('Results')}${stopped}: ${result.runDirectory}\n`);
    process.stdout.write(`  model: ${result.runDirectory}/model\n  plots: ${result.runDirectory}/plots\n`);
  } finally {
    progress.stop();
    process.off('SIGINT', onInterrupt);
  }
}
