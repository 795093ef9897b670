import { totalmem } from 'node:os';

import type { TrainerConfig } from '../config/trainer.js';
import { FtError } from '../errors.js';
import type { Logger } from '../logging/logger.js';

/** A batch size that `batch_size: auto` may still pick, and `gradient_accumulation_steps: auto` alike. */
export type MaybeAuto = number | 'auto';

/**
 * Fills in whichever of `batch_size` and `gradient_accumulation_steps` is `auto` from
 * `effective_batch_size = batch_size × gradient_accumulation_steps × workers`, as Ludwig does:
 * - batch size auto, the other two set: `batch_size = max(floor(ebs / ga / workers), 1)`;
 * - accumulation auto, batch size set: `ga = max(floor(ebs / bs / workers), 1)`, or 1 when ebs is auto;
 * - otherwise both stay as they are (an auto batch size is then tuned).
 */
export function renderBatchSizeAndAccumulation(
  effectiveBatchSize: MaybeAuto,
  batchSize: MaybeAuto,
  accumulation: MaybeAuto,
  workers: number,
): { batchSize: MaybeAuto; accumulation: MaybeAuto } {
  if (batchSize === 'auto' && effectiveBatchSize !== 'auto' && accumulation !== 'auto') {
    return { batchSize: Math.max(Math.floor(effectiveBatchSize / accumulation / workers), 1), accumulation };
  }
  if (accumulation === 'auto' && batchSize !== 'auto') {
    return { batchSize, accumulation: effectiveBatchSize === 'auto' ? 1 : Math.max(Math.floor(effectiveBatchSize / batchSize / workers), 1) };
  }
  return { batchSize, accumulation };
}

/** Returns the evaluation batch size used when `eval_batch_size` is unset: at least the training batch, and at least 128 rows. */
export function defaultEvalBatchSize(trainingBatchSize: number): number {
  return Math.max(trainingBatchSize, 128);
}

/** Largest batch size the tuner may try on a CPU, where larger batches only add memory. */
export const MAX_CPU_BATCH_SIZE = 128;
/** Largest share of the training rows that one batch may hold, so an epoch keeps several steps. */
export const MAX_DATASET_FRACTION = 0.2;
/** Doublings tried at most. */
const MAX_TRIALS = 20;

export interface BatchSizeTuningOptions {
  /** Measures rows per second at `batchSize`; throws on out-of-memory. */
  readonly measure: (batchSize: number) => Promise<number>;
  readonly datasetRows: number;
  readonly maxBatchSize: number;
  /** True when the backend runs on a CPU, which caps the size at {@link MAX_CPU_BATCH_SIZE}. */
  readonly onCpu: boolean;
  /** Share of `totalMemory` the process may use. */
  readonly maxMemoryFraction: number;
  readonly logger: Logger;
  /** Name of the tuned setting in logs: "training" or "evaluation". */
  readonly purpose: string;
  /** First size tried; later sizes double it. Defaults to 1. */
  readonly startBatchSize?: number;
  /** Whether the 20% cap applies; the embedding pass, which never trains, is only capped by the rows. */
  readonly capByDataset?: boolean;
  /** Memory probes; tests replace them. */
  readonly memoryUsed?: () => number;
  readonly totalMemory?: number;
}

export interface BatchSizeTrial {
  readonly batchSize: number;
  readonly rowsPerSecond: number | null;
  readonly outcome: 'ok' | 'slower' | 'out_of_memory';
}

/** Returns whether an error means that a backend ran out of memory, rather than a bug. */
export function isOutOfMemoryError(error: unknown): boolean {
  const message = error instanceof Error ? `${error.name} ${error.message}` : String(error);
  return /out of memory|OOM|Array buffer allocation failed|WebAssembly\.Memory|Cannot allocate memory|failed to allocate|bad_alloc/i.test(message);
}

/**
 * Picks a batch size by measuring throughput at 1, 2, 4, … rows and keeping the last size before
 * throughput drops. It also stops at an out-of-memory error and at the caps: `max_batch_size`,
 * 20% of the training rows and 128 on a CPU. It stops before a trial would take the process
 * past `max_memory_fraction` of the machine's memory, assuming memory grows in proportion to
 * the batch size. Returns the chosen size and every trial, for the log and the resolved config.
 */
export async function tuneBatchSize(options: BatchSizeTuningOptions): Promise<{ batchSize: number; trials: BatchSizeTrial[] }> {
  const { logger } = options;
  const memoryUsed = options.memoryUsed ?? (() => process.memoryUsage().rss);
  const memoryLimit = options.maxMemoryFraction * (options.totalMemory ?? totalmem());
  const datasetCap = options.capByDataset === false ? options.datasetRows : Math.floor(MAX_DATASET_FRACTION * options.datasetRows);
  const cap = Math.min(options.maxBatchSize, datasetCap, options.onCpu ? MAX_CPU_BATCH_SIZE : Infinity);

  const trials: BatchSizeTrial[] = [];
  let best: number | null = null;
  let bestRowsPerSecond = 0;
  let previousMemory = memoryUsed();
  const limits = [`max ${options.maxBatchSize}`, options.capByDataset === false ? `${options.datasetRows} rows` : `20% of ${options.datasetRows} rows`];
  if (options.onCpu) {
    limits.push(`${MAX_CPU_BATCH_SIZE} on a CPU`);
  }
  logger.info(`Tuning the ${options.purpose} batch size up to ${cap} (${limits.join(', ')}).`);

  for (let batchSize = options.startBatchSize ?? 1; batchSize <= cap && trials.length < MAX_TRIALS; batchSize *= 2) {
    let rowsPerSecond: number;
    try {
      rowsPerSecond = await options.measure(batchSize);
    } catch (error) {
      if (!isOutOfMemoryError(error)) {
        throw error;
      }
      trials.push({ batchSize, rowsPerSecond: null, outcome: 'out_of_memory' });
      logger.info(`  batch size ${batchSize}: out of memory (${(error as Error).message}); keeping ${best ?? 1}.`);
      break;
    }

    if (rowsPerSecond < bestRowsPerSecond) {
      trials.push({ batchSize, rowsPerSecond, outcome: 'slower' });
      logger.info(`  batch size ${batchSize}: ${rowsPerSecond.toFixed(1)} rows/s, slower than ${best}; keeping ${best}.`);
      break;
    }
    trials.push({ batchSize, rowsPerSecond, outcome: 'ok' });
    logger.info(`  batch size ${batchSize}: ${rowsPerSecond.toFixed(1)} rows/s.`);
    best = batchSize;
    bestRowsPerSecond = rowsPerSecond;

    // Doubling the batch roughly doubles what this trial added on top of the earlier ones.
    const memory = memoryUsed();
    const projected = memory + 2 * Math.max(0, memory - previousMemory);
    previousMemory = memory;
    if (projected > memoryLimit && batchSize * 2 <= cap) {
      logger.info(`  stopping: batch size ${batchSize * 2} would need about ${(projected / 2 ** 30).toFixed(1)} GiB, over max_memory_fraction ${options.maxMemoryFraction} of this machine.`);
      break;
    }
  }

  const batchSize = best ?? 1;
  logger.info(`Selected ${options.purpose} batch size ${batchSize}.`);
  return { batchSize, trials };
}

/** Rejects combinations of batch settings that cannot be satisfied, naming the keys. */
export function checkBatchSettings(trainer: Pick<TrainerConfig, 'batch_size' | 'gradient_accumulation_steps' | 'effective_batch_size' | 'max_batch_size'>): void {
  const { batch_size: batchSize, effective_batch_size: effective } = trainer;
  if (batchSize !== 'auto' && effective !== 'auto' && (effective < batchSize || effective % batchSize !== 0)) {
    throw new FtError('CONFIG_INVALID', `trainer.effective_batch_size ${effective} must be a multiple of batch_size ${batchSize}; change one of them.`);
  }
}
