import type { ModelHandle } from '../backend/backend.js';
import type { OutputDescription } from '../backend/model-description.js';
import type { MetricGoal } from '../config/metrics-catalog.js';
import type { TrainerConfig } from '../config/trainer.js';
import { batchIndices, makeBatch, type PreparedSplit } from '../data/batcher.js';
import type { SplitName } from '../data/sources.js';
import type { Logger } from '../logging/logger.js';
import type { NamedArrays } from '../tensors/named-arrays.js';
import { evaluateSplit, type SplitMetrics } from './evaluate.js';
import type { OutputMetricSettings } from './metrics.js';
import type { Random } from './random.js';
import { learningRateAt, warmupSteps, type ScheduleContext } from './schedule.js';

/** Step accounting of a run. A step is one optimizer update on one batch. */
export interface TrainingPlan {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly epochs: number;
  readonly warmupSteps: number;
}

/** Progress of one training step, reported to callbacks. */
export interface StepEvent {
  readonly step: number;
  readonly totalSteps: number;
  readonly epoch: number;
  readonly loss: number;
  readonly learningRate: number;
  readonly rows: number;
}

/** Metrics of one evaluation, reported at the end of every epoch. */
export interface EvaluationEvent {
  readonly epoch: number;
  readonly step: number;
  readonly metrics: Partial<Record<SplitName, SplitMetrics>>;
  readonly improved: boolean;
  readonly validationValue: number;
}

/** Hooks the training loop calls; the CLI draws its progress bar from them. */
export interface TrainingCallbacks {
  onTrainStart?(plan: TrainingPlan): void;
  onStep?(event: StepEvent): void;
  onEvaluationStart?(epoch: number): void;
  onEvaluation?(event: EvaluationEvent): void;
  onTrainEnd?(reason: StopReason): void;
}

/** Reason training stopped, logged at the end of a run. */
export type StopReason = 'completed' | 'early_stopping' | 'interrupted' | 'non_finite_loss';

/** Per-split metric histories, one entry per evaluation, in the layout of Ludwig's `training_statistics.json`. */
export type TrainingStatistics = Record<SplitName, Record<string, Record<string, number[]>>>;

export interface TrainingResult {
  readonly plan: TrainingPlan;
  readonly stopReason: StopReason;
  readonly statistics: TrainingStatistics;
  /** Learning rate and loss of every step, for plots. */
  readonly steps: { readonly learningRate: number[]; readonly loss: number[] };
  readonly bestEpoch: number;
  readonly bestValidationValue: number;
}

export interface TrainOptions {
  readonly trainer: TrainerConfig;
  readonly baseLearningRate: number;
  readonly model: ModelHandle;
  readonly outputs: readonly OutputDescription[];
  readonly metricSettings: Readonly<Record<string, OutputMetricSettings>>;
  readonly training: PreparedSplit;
  readonly validation: PreparedSplit | null;
  readonly test: PreparedSplit | null;
  /** Output feature (or `combined`) and metric that select the best epoch, and whether larger is better. */
  readonly validationTarget: { readonly field: string; readonly metric: string; readonly goal: MetricGoal };
  readonly random: Random;
  readonly logger: Logger;
  readonly callbacks?: TrainingCallbacks;
  /** Aborting finishes the current step, keeps the best weights and returns with reason `interrupted`. */
  readonly signal?: AbortSignal;
}

/** Works out steps per epoch, total steps, epochs and warmup for a training split of `rows` rows. */
export function planTraining(trainer: TrainerConfig, rows: number): TrainingPlan {
  const stepsPerEpoch = batchIndices(Array.from({ length: rows }, (_, index) => index), trainer.batch_size).length;
  const totalSteps = trainer.train_steps ?? trainer.epochs * stepsPerEpoch;
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);
  const context: ScheduleContext = { baseLearningRate: 1, totalSteps, stepsPerEpoch };
  return { stepsPerEpoch, totalSteps, epochs, warmupSteps: warmupSteps(trainer.learning_rate_scheduler, context) };
}

function isBetter(value: number, best: number, goal: MetricGoal): boolean {
  if (Number.isNaN(value)) {
    return false;
  }
  return goal === 'max' ? value > best : value < best;
}

function record(statistics: TrainingStatistics, split: SplitName, metrics: SplitMetrics): void {
  for (const [feature, values] of Object.entries(metrics)) {
    const featureStatistics = (statistics[split][feature] ??= {});
    for (const [metric, value] of Object.entries(values)) {
      (featureStatistics[metric] ??= []).push(value);
    }
  }
}

/**
 * Trains a built model: shuffled batches each epoch, the scheduled learning rate at every
 * step, evaluation of the validation and test splits after every epoch, early stopping on the
 * validation metric, and the best epoch's weights restored at the end.
 */
export async function train(options: TrainOptions): Promise<TrainingResult> {
  const { trainer, model, logger, callbacks = {} } = options;
  const plan = planTraining(trainer, options.training.rows);
  const schedule: ScheduleContext = { baseLearningRate: options.baseLearningRate, totalSteps: plan.totalSteps, stepsPerEpoch: plan.stepsPerEpoch };
  const evalBatchSize = trainer.eval_batch_size ?? Math.max(trainer.batch_size, 128);
  const target = options.validationTarget;
  const selectionSplit: SplitName = options.validation !== null ? 'validation' : 'training';

  logger.info(`Training for ${plan.totalSteps} steps, about ${plan.epochs} epoch(s) of ${plan.stepsPerEpoch} steps (batch size ${trainer.batch_size}, ${options.training.rows} training rows).`);
  if (plan.warmupSteps > 0) {
    logger.info(`Learning rate warms up over ${plan.warmupSteps} steps to ${options.baseLearningRate}.`);
  }
  if (trainer.early_stop > 0) {
    logger.info(`Early stopping after ${trainer.early_stop} epoch(s) without improvement of ${selectionSplit} ${target.field} ${target.metric}.`);
  }
  if (options.validation === null) {
    logger.warn('No validation split: the best epoch is chosen on the training split, which favours overfitting.');
  }
  callbacks.onTrainStart?.(plan);

  const statistics: TrainingStatistics = { training: {}, validation: {}, test: {} };
  const steps = { learningRate: [] as number[], loss: [] as number[] };
  let best = { value: target.goal === 'max' ? -Infinity : Infinity, epoch: -1, state: null as NamedArrays | null };
  let epochsWithoutImprovement = 0;
  let stopReason: StopReason = 'completed';
  let step = 0;

  for (let epoch = 0; epoch < plan.epochs && stopReason === 'completed'; epoch++) {
    // Train one epoch.
    const order = trainer.should_shuffle ? options.random.permutation(options.training.rows) : Array.from({ length: options.training.rows }, (_, index) => index);
    let lossSum = 0;
    let lossRows = 0;
    const outputLossSums: Record<string, number> = {};
    for (const indices of batchIndices(order, trainer.batch_size)) {
      if (step >= plan.totalSteps) {
        break;
      }
      const learningRate = learningRateAt(step, trainer.learning_rate_scheduler, schedule);
      const result = await model.trainStep(makeBatch(options.training, indices), learningRate);
      if (!Number.isFinite(result.loss)) {
        logger.error(`Loss became ${result.loss} at step ${step + 1} (epoch ${epoch + 1}); stopping and keeping the best weights so far. Lower the learning rate or check the data for extreme values.`);
        stopReason = 'non_finite_loss';
        break;
      }

      step += 1;
      steps.learningRate.push(learningRate);
      steps.loss.push(result.loss);
      lossSum += result.loss * indices.length;
      lossRows += indices.length;
      for (const [name, value] of Object.entries(result.outputLosses)) {
        outputLossSums[name] = (outputLossSums[name] ?? 0) + value * indices.length;
      }
      callbacks.onStep?.({ step, totalSteps: plan.totalSteps, epoch, loss: result.loss, learningRate, rows: indices.length });

      // Backend calls can finish without giving the event loop a turn, which would hold back
      // signal handlers (Ctrl-C) and timers until the end of training.
      await new Promise((resolve) => setImmediate(resolve));
      if (options.signal?.aborted) {
        stopReason = 'interrupted';
        break;
      }
    }
    if (lossRows === 0) {
      break;
    }

    // Evaluate. Training metrics come from the losses of this epoch's steps, so they include
    // dropout. A full pass over the training split would cost as much as the epoch itself.
    callbacks.onEvaluationStart?.(epoch);
    const trainingMetrics: SplitMetrics = { combined: { loss: lossSum / lossRows } };
    for (const [name, sum] of Object.entries(outputLossSums)) {
      trainingMetrics[name] = { loss: sum / lossRows };
    }
    const metrics: Partial<Record<SplitName, SplitMetrics>> = { training: trainingMetrics };
    for (const prepared of [options.validation, options.test]) {
      if (prepared !== null) {
        metrics[prepared.split] = (await evaluateSplit(model, prepared, options.outputs, options.metricSettings, evalBatchSize)).metrics;
      }
    }
    for (const [split, values] of Object.entries(metrics)) {
      record(statistics, split as SplitName, values);
    }

    // Keep the best epoch's weights in memory; restoring them is cheaper than reloading a file.
    const value = metrics[selectionSplit]?.[target.field]?.[target.metric] ?? Number.NaN;
    const improved = isBetter(value, best.value, target.goal);
    if (improved) {
      best = { value, epoch, state: await model.exportState() };
      epochsWithoutImprovement = 0;
    } else {
      epochsWithoutImprovement += 1;
    }
    callbacks.onEvaluation?.({ epoch, step, metrics, improved, validationValue: value });

    if (stopReason === 'completed' && trainer.early_stop > 0 && epochsWithoutImprovement >= trainer.early_stop) {
      logger.info(`Stopping early: ${selectionSplit} ${target.field} ${target.metric} has not improved for ${trainer.early_stop} epoch(s).`);
      stopReason = 'early_stopping';
    }
  }

  if (best.state !== null) {
    await model.importState(best.state);
    logger.info(`Restored the weights of epoch ${best.epoch + 1}, the best by ${selectionSplit} ${target.field} ${target.metric} (${formatMetric(best.value)}).`);
  }
  callbacks.onTrainEnd?.(stopReason);
  return { plan, stopReason, statistics, steps, bestEpoch: best.epoch, bestValidationValue: best.value };
}

function formatMetric(value: number): string {
  return Number.isFinite(value) ? value.toFixed(4) : String(value);
}
