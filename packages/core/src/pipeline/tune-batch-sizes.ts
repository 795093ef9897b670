import type { Backend, ModelHandle } from '../backend/backend.js';
import type { InputBatch, TrainingBatch } from '../backend/model-description.js';
import type { ResolvedTrainerConfig, TrainerConfig } from '../config/trainer.js';
import { makeBatch, type PreparedSplit } from '../data/batcher.js';
import type { Logger } from '../logging/logger.js';
import { checkBatchSettings, defaultEvalBatchSize, renderBatchSizeAndAccumulation, tuneBatchSize, type BatchSizeTrial } from '../training/batch-size.js';

/** Timed steps per trial; the median is kept, because the first steps of a size include warm-up work. */
const TIMED_STEPS = 3;

/**
 * Builds a batch of `rows` training rows in which every text input is as long as the longest
 * text of the split. That is the worst case for time and memory, so a tuned size also fits the
 * longest batches of training.
 */
function worstCaseBatch(training: PreparedSplit, rows: number): TrainingBatch {
  const indices = Array.from({ length: rows }, (_, index) => index % training.rows);
  const batch = makeBatch(training, indices);
  const inputs: Record<string, InputBatch> = { ...batch.inputs };
  for (const [name, input] of Object.entries(training.inputs)) {
    if (input.kind !== 'text') {
      continue;
    }
    const width = input.sequenceLength;
    const ids = new Int32Array(rows * width);
    indices.forEach((index, row) => ids.set(input.ids.subarray(index * width, (index + 1) * width), row * width));
    inputs[name] = { kind: 'text', ids, attentionMask: new Int32Array(rows * width).fill(1), sequenceLength: width };
  }
  return { ...batch, inputs };
}

async function medianSeconds(run: () => Promise<unknown>): Promise<number> {
  await run();
  const times: number[] = [];
  for (let step = 0; step < TIMED_STEPS; step++) {
    const started = performance.now();
    await run();
    times.push((performance.now() - started) / 1000);
  }
  times.sort((a, b) => a - b);
  return Math.max(times[Math.floor(times.length / 2)]!, 1e-9);
}

export interface TunedBatchSizes {
  readonly trainer: ResolvedTrainerConfig;
  readonly trials: { readonly training: readonly BatchSizeTrial[]; readonly evaluation: readonly BatchSizeTrial[] };
}

/**
 * Replaces every `auto` batch setting of the trainer by a number, measuring throughput on the
 * built model where needed. `batch_size` is per worker, so with `workers` data-parallel workers
 * the effective batch size is `batch_size × gradient_accumulation_steps × workers`. The model's
 * weights and optimizer state are restored afterwards,
 * so tuning leaves no trace on training.
 */
export async function resolveBatchSizes(
  trainer: TrainerConfig,
  context: { model: ModelHandle; backend: Backend; training: PreparedSplit; logger: Logger; workers?: number },
): Promise<TunedBatchSizes> {
  checkBatchSettings(trainer);
  const { model, training, logger } = context;
  const workers = context.workers ?? 1;
  const onCpu = context.backend.capabilities.accelerator !== true;
  const trials: { training: BatchSizeTrial[]; evaluation: BatchSizeTrial[] } = { training: [], evaluation: [] };

  let { batchSize, accumulation } = renderBatchSizeAndAccumulation(trainer.effective_batch_size, trainer.batch_size, trainer.gradient_accumulation_steps, workers);
  const snapshot = batchSize === 'auto' || trainer.eval_batch_size === 'auto' ? await model.exportState() : null;
  try {
    if (batchSize === 'auto') {
      const tuned = await tuneBatchSize({
        measure: async (rows) => {
          const batch = worstCaseBatch(training, rows);
          return rows / (await medianSeconds(() => model.trainStep(batch, 0)));
        },
        datasetRows: training.rows,
        maxBatchSize: trainer.effective_batch_size === 'auto' ? trainer.max_batch_size : Math.min(trainer.max_batch_size, Math.max(1, Math.floor(trainer.effective_batch_size / workers))),
        onCpu,
        maxMemoryFraction: trainer.max_memory_fraction,
        logger,
        purpose: 'training',
      });
      batchSize = tuned.batchSize;
      trials.training = tuned.trials;
      accumulation = renderBatchSizeAndAccumulation(trainer.effective_batch_size, batchSize, accumulation, workers).accumulation;
    }

    let evalBatchSize: number;
    if (trainer.eval_batch_size === 'auto') {
      const tuned = await tuneBatchSize({
        measure: async (rows) => {
          const batch = worstCaseBatch(training, rows);
          return rows / (await medianSeconds(() => model.forward(batch)));
        },
        datasetRows: training.rows,
        maxBatchSize: trainer.max_batch_size,
        onCpu,
        maxMemoryFraction: trainer.max_memory_fraction,
        logger,
        purpose: 'evaluation',
      });
      // Evaluation never uses fewer rows per pass than training, which is known to fit.
      evalBatchSize = Math.max(tuned.batchSize, batchSize as number);
      trials.evaluation = tuned.trials;
    } else {
      evalBatchSize = trainer.eval_batch_size ?? defaultEvalBatchSize(batchSize as number);
    }

    const resolvedAccumulation = accumulation === 'auto' ? 1 : accumulation;
    return {
      trainer: {
        ...trainer,
        batch_size: batchSize as number,
        gradient_accumulation_steps: resolvedAccumulation,
        eval_batch_size: evalBatchSize,
        effective_batch_size: (batchSize as number) * resolvedAccumulation * workers,
      },
      trials,
    };
  } finally {
    if (snapshot !== null) {
      await model.importState(snapshot);
    }
  }
}
