import type { ModelHandle } from '../backend/backend.js';
import type { OutputDescription } from '../backend/model-description.js';
import type { MetricGoal } from '../config/metrics-catalog.js';
import type { ResolvedTrainerConfig as TrainerConfig } from '../config/trainer.js';
import { batchIndices, makeBatch, type PreparedSplit } from '../data/batcher.js';
import type { SplitName } from '../data/sources.js';
import { FtError } from '../errors.js';
import type { Logger } from '../logging/logger.js';
import { allFinite, type NamedArrays } from '../tensors/named-arrays.js';
import type { CheckpointStore } from './checkpoint-store.js';
import { evaluateSplit, type SplitMetrics } from './evaluate.js';
import { LossScaler, type LossScaleOptions, type LossScaleState } from './loss-scale.js';
import type { OutputMetricSettings } from './metrics.js';
import { WorkerFailedError } from './parallel/parallel-model.js';
import { Random, type RandomState } from './random.js';
import { learningRateAt, warmupSteps, type ScheduleContext } from './schedule.js';

/**
 * Step accounting of a run. A step is one batch. With gradient accumulation, an optimizer
 * update happens every `gradient_accumulation_steps` steps, and the learning-rate schedule
 * counts updates, so it still ends at exactly 0.
 */
export interface TrainingPlan {
  readonly stepsPerEpoch: number;
  readonly totalSteps: number;
  readonly epochs: number;
  /** Steps between two evaluations (and checkpoints). */
  readonly stepsPerCheckpoint: number;
  readonly totalUpdates: number;
  readonly warmupUpdates: number;
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

/** Metrics of one evaluation. */
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
export type StopReason = 'completed' | 'early_stopping' | 'interrupted' | 'non_finite_loss' | 'non_finite_weights' | 'non_finite_gradients';

/** Per-split metric histories, one entry per evaluation, in the layout of Ludwig's `training_statistics.json`. */
export type TrainingStatistics = Record<SplitName, Record<string, Record<string, number[]>>>;

/**
 * Everything besides weights and optimizer state that a resumed run needs to continue exactly
 * where it stopped. Counters are "completed" counts: `step` batches have been trained.
 */
export interface TrainingProgress {
  readonly step: number;
  readonly update: number;
  readonly epoch: number;
  /** Batches of the current epoch already trained. */
  readonly batchInEpoch: number;
  /** Random state before the current epoch's shuffle, so a resumed run shuffles the same way. */
  readonly epochRandomState: RandomState;
  readonly statistics: TrainingStatistics;
  readonly history: { readonly learningRate: number[]; readonly loss: number[]; readonly evaluationSteps: number[] };
  readonly best: { readonly value: number | null; readonly epoch: number; readonly step: number };
  readonly evaluationsWithoutImprovement: number;
  readonly plateau: PlateauState;
  /** Sum and rows of step losses since the last evaluation, for the training metrics. */
  readonly pendingLoss: { readonly sum: number; readonly rows: number; readonly outputs: Record<string, number> };
  /** Dynamic loss scale of mixed-precision training, absent when training runs in float32. */
  readonly lossScale?: LossScaleState;
}

/** State of `reduce_on_plateau`. */
export interface PlateauState {
  readonly reductions: number;
  readonly scale: number;
  readonly bestValue: number | null;
  readonly badEvaluations: number;
}

export interface TrainingResult {
  readonly plan: TrainingPlan;
  readonly stopReason: StopReason;
  readonly statistics: TrainingStatistics;
  /** Learning rate and loss of every step, for plots. */
  readonly steps: { readonly learningRate: readonly number[]; readonly loss: readonly number[] };
  /** Training step at each evaluation, matching the entries of `statistics`. */
  readonly evaluationSteps: readonly number[];
  readonly bestEpoch: number;
  /** Step whose weights were restored, or null when no evaluation improved. */
  readonly bestStep: number | null;
  readonly bestValidationValue: number;
  /** Final loss scale and skipped updates, when the run used loss scaling. */
  readonly lossScale: LossScaleState | null;
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
  /** Output feature (or `combined`) and metric that select the best weights, and whether larger is better. */
  readonly validationTarget: { readonly field: string; readonly metric: string; readonly goal: MetricGoal };
  /** Goal of `reduce_eval_metric`, for `reduce_on_plateau`. */
  readonly plateauGoal?: MetricGoal;
  readonly random: Random;
  readonly logger: Logger;
  readonly callbacks?: TrainingCallbacks;
  /** Store of the `latest` and `best` checkpoints; without one, nothing is written and the best weights stay in memory. */
  readonly checkpoints?: CheckpointStore<TrainingProgress>;
  /** Progress and state of a checkpoint to continue from. */
  readonly resume?: { readonly progress: TrainingProgress; readonly state: NamedArrays };
  /** Aborting finishes the current step, saves a checkpoint, restores the best weights and returns with reason `interrupted`. */
  readonly signal?: AbortSignal;
  /**
   * Turns on dynamic loss scaling for a model built with `mixedPrecision: true`: every step
   * passes the current scale to the backend, and an update whose gradients overflow is skipped.
   */
  readonly lossScaling?: LossScaleOptions;
  /**
   * Data-parallel replicas behind `model` (default 1). Each step then takes
   * `batch_size × workers` rows, which `model` splits among its replicas.
   */
  readonly workers?: number;
}

/**
 * Works out steps per epoch, total steps, the evaluation period and the schedule's length for
 * `rows` training rows. With `workers` data-parallel replicas a step takes `batch_size` rows
 * per replica, so an epoch has about `ceil(rows / workers / batch_size)` steps.
 */
export function planTraining(trainer: TrainerConfig, rows: number, workers = 1): TrainingPlan {
  const stepsPerEpoch = batchIndices(Array.from({ length: rows }, (_, index) => index), trainer.batch_size * workers).length;
  const totalSteps = trainer.train_steps ?? trainer.epochs * stepsPerEpoch;
  const epochs = Math.ceil(totalSteps / stepsPerEpoch);

  let stepsPerCheckpoint = stepsPerEpoch;
  if (trainer.steps_per_checkpoint > 0) {
    stepsPerCheckpoint = trainer.steps_per_checkpoint;
  } else if (trainer.checkpoints_per_epoch > 0) {
    stepsPerCheckpoint = Math.max(1, Math.floor(stepsPerEpoch / trainer.checkpoints_per_epoch));
  }
  stepsPerCheckpoint = Math.min(stepsPerCheckpoint, stepsPerEpoch, totalSteps);

  const accumulation = trainer.gradient_accumulation_steps;
  const totalUpdates = Math.ceil(totalSteps / accumulation);
  const context = scheduleContext(trainer, 1, totalUpdates, stepsPerCheckpoint);
  return { stepsPerEpoch, totalSteps, epochs, stepsPerCheckpoint, totalUpdates, warmupUpdates: warmupSteps(trainer.learning_rate_scheduler, context) };
}

function scheduleContext(trainer: TrainerConfig, baseLearningRate: number, totalUpdates: number, stepsPerCheckpoint: number): ScheduleContext {
  return { baseLearningRate, totalSteps: totalUpdates, stepsPerCheckpoint: Math.max(1, Math.ceil(stepsPerCheckpoint / trainer.gradient_accumulation_steps)) };
}

function isBetter(value: number, best: number | null, goal: MetricGoal): boolean {
  if (Number.isNaN(value)) {
    return false;
  }
  if (best === null) {
    return true;
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

function formatMetric(value: number | null): string {
  return value !== null && Number.isFinite(value) ? value.toFixed(4) : String(value);
}

/** Adds `source` into `target` element by element, for accumulating gradients. */
function accumulate(target: NamedArrays, source: NamedArrays): void {
  for (const [name, array] of Object.entries(source)) {
    const sum = target[name];
    if (sum === undefined) {
      target[name] = { dtype: 'float32', shape: [...array.shape], data: Float32Array.from(array.data) };
      continue;
    }
    const data = sum.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      data[i] = data[i]! + array.data[i]!;
    }
  }
}

function scale(arrays: NamedArrays, factor: number): NamedArrays {
  for (const array of Object.values(arrays)) {
    const data = array.data as Float32Array;
    for (let i = 0; i < data.length; i++) {
      data[i] = data[i]! * factor;
    }
  }
  return arrays;
}

/**
 * Trains a built model on shuffled batches, with the scheduled learning rate at every optimizer
 * update. Every evaluation period it evaluates and writes a `latest` checkpoint, and a `best` one
 * whenever the validation metric strictly improves. It stops early after `early_stop`
 * evaluations without improvement, and restores the best weights at the end.
 */
export async function train(options: TrainOptions): Promise<TrainingResult> {
  const { trainer, model, logger, callbacks = {} } = options;
  const workers = options.workers ?? 1;
  const plan = planTraining(trainer, options.training.rows, workers);
  const schedule = scheduleContext(trainer, options.baseLearningRate, plan.totalUpdates, plan.stepsPerCheckpoint);
  const evalBatchSize = trainer.eval_batch_size;
  const accumulation = trainer.gradient_accumulation_steps;
  const target = options.validationTarget;
  const selectionSplit: SplitName = options.validation !== null ? 'validation' : 'training';
  const plateauConfig = trainer.learning_rate_scheduler;
  const seedFromRandom = options.random;

  // Restore or start the progress counters.
  const resumed = options.resume?.progress;
  let step = resumed?.step ?? 0;
  let update = resumed?.update ?? 0;
  let epoch = resumed?.epoch ?? 0;
  let batchInEpoch = resumed?.batchInEpoch ?? 0;
  let epochRandomState: RandomState = resumed?.epochRandomState ?? seedFromRandom.state();
  const statistics: TrainingStatistics = resumed?.statistics ?? { training: {}, validation: {}, test: {} };
  const history = {
    learningRate: [...(resumed?.history.learningRate ?? [])],
    loss: [...(resumed?.history.loss ?? [])],
    evaluationSteps: [...(resumed?.history.evaluationSteps ?? [])],
  };
  let best = resumed?.best ?? { value: null as number | null, epoch: -1, step: 0 };
  let evaluationsWithoutImprovement = resumed?.evaluationsWithoutImprovement ?? 0;
  let plateau: PlateauState = resumed?.plateau ?? { reductions: 0, scale: 1, bestValue: null, badEvaluations: 0 };
  let pendingLoss = { sum: resumed?.pendingLoss.sum ?? 0, rows: resumed?.pendingLoss.rows ?? 0, outputs: { ...(resumed?.pendingLoss.outputs ?? {}) } };
  let bestState: NamedArrays | null = null;
  const scaler = options.lossScaling === undefined ? null : new LossScaler(options.lossScaling, resumed?.lossScale);
  if (options.resume !== undefined) {
    await model.importState(options.resume.state);
    logger.info(`Resuming at step ${step} of ${plan.totalSteps} (epoch ${epoch + 1}).`);
  }

  const batchDescription = workers > 1 ? `batch size ${trainer.batch_size} on each of ${workers} workers` : `batch size ${trainer.batch_size}`;
  logger.info(
    `Training for ${plan.totalSteps} steps, about ${plan.epochs} epoch(s) of ${plan.stepsPerEpoch} steps (${batchDescription}, ${options.training.rows} training rows), evaluating every ${plan.stepsPerCheckpoint} steps.`,
  );
  if (accumulation > 1) {
    logger.info(`Gradients of ${accumulation} batches are averaged per update: ${plan.totalUpdates} optimizer updates, effective batch size ${trainer.batch_size * accumulation * workers}.`);
  }
  if (plan.warmupUpdates > 0) {
    logger.info(`Learning rate warms up over ${plan.warmupUpdates} updates to ${options.baseLearningRate}.`);
  }
  if (trainer.early_stop > 0) {
    logger.info(`Early stopping after ${trainer.early_stop} evaluation(s) without improvement of ${selectionSplit} ${target.field} ${target.metric}.`);
  }
  if (scaler !== null) {
    logger.info(`Mixed precision: half-precision compute with float32 master weights, and a dynamic loss scale starting at ${scaler.scale}.`);
  }
  if (options.validation === null) {
    logger.warn('No validation split: the best weights are chosen on the training split, which favours overfitting. Add a validation_set or a split.');
  }
  callbacks.onTrainStart?.(plan);

  const snapshot = (): TrainingProgress => ({
    step,
    update,
    epoch,
    batchInEpoch,
    epochRandomState,
    statistics,
    history,
    best,
    evaluationsWithoutImprovement,
    plateau,
    pendingLoss,
    ...(scaler === null ? {} : { lossScale: scaler.state() }),
  });

  const saveLatest = async (state: NamedArrays): Promise<void> => {
    await options.checkpoints?.write('latest', state, snapshot(), step);
  };

  // Runs one evaluation; returns a stop reason when training should end.
  const evaluate = async (): Promise<StopReason | null> => {
    callbacks.onEvaluationStart?.(epoch);
    const trainingMetrics: SplitMetrics = { combined: { loss: pendingLoss.sum / Math.max(1, pendingLoss.rows) } };
    for (const [name, sum] of Object.entries(pendingLoss.outputs)) {
      trainingMetrics[name] = { loss: sum / Math.max(1, pendingLoss.rows) };
    }
    pendingLoss = { sum: 0, rows: 0, outputs: {} };
    const metrics: Partial<Record<SplitName, SplitMetrics>> = { training: trainingMetrics };
    for (const prepared of [options.validation, options.test]) {
      if (prepared !== null) {
        metrics[prepared.split] = (await evaluateSplit(model, prepared, options.outputs, options.metricSettings, evalBatchSize)).metrics;
      }
    }
    for (const [split, values] of Object.entries(metrics)) {
      record(statistics, split as SplitName, values);
    }
    history.evaluationSteps.push(step);

    const state = await model.exportState();
    if (!allFinite(state)) {
      logger.error(`A weight became NaN or infinite by step ${step}; stopping and keeping the best weights so far. Lower the learning rate or enable gradient clipping.`);
      return 'non_finite_weights';
    }

    const value = metrics[selectionSplit]?.[target.field]?.[target.metric] ?? Number.NaN;
    const improved = isBetter(value, best.value, target.goal);
    if (improved) {
      best = { value, epoch, step };
      bestState = state;
      evaluationsWithoutImprovement = 0;
    } else {
      evaluationsWithoutImprovement += 1;
    }

    if (plateauConfig.reduce_on_plateau > 0 && plateau.reductions < plateauConfig.reduce_on_plateau) {
      const watched = metrics[plateauConfig.reduce_eval_split]?.[target.field]?.[plateauConfig.reduce_eval_metric] ?? Number.NaN;
      if (isBetter(watched, plateau.bestValue, options.plateauGoal ?? 'min')) {
        plateau = { ...plateau, bestValue: watched, badEvaluations: 0 };
      } else if (plateau.badEvaluations + 1 > plateauConfig.reduce_on_plateau_patience) {
        plateau = { reductions: plateau.reductions + 1, scale: plateau.scale * plateauConfig.reduce_on_plateau_rate, bestValue: plateau.bestValue, badEvaluations: 0 };
        logger.info(`${plateauConfig.reduce_eval_split} ${target.field} ${plateauConfig.reduce_eval_metric} has not improved for ${plateauConfig.reduce_on_plateau_patience + 1} evaluation(s): learning rate scaled by ${plateau.scale} (cut ${plateau.reductions} of ${plateauConfig.reduce_on_plateau}).`);
      } else {
        plateau = { ...plateau, badEvaluations: plateau.badEvaluations + 1 };
      }
    }

    callbacks.onEvaluation?.({ epoch, step, metrics, improved, validationValue: value });
    await saveLatest(state);
    if (improved) {
      await options.checkpoints?.write('best', state, snapshot(), step);
    }

    if (trainer.early_stop > 0 && evaluationsWithoutImprovement >= trainer.early_stop) {
      logger.info(`Stopping early: ${selectionSplit} ${target.field} ${target.metric} has not improved for ${trainer.early_stop} evaluation(s).`);
      return 'early_stopping';
    }
    return null;
  };

  // The main thread's replica still has the weights of the last completed step, because a
  // parallel model applies an update there only after every worker has applied it.
  const saveAfterWorkerFailure = async (failure: WorkerFailedError): Promise<Error> => {
    if (options.checkpoints === undefined) {
      return failure;
    }
    try {
      await saveLatest(await model.exportState());
    } catch (error) {
      logger.error(`Saving a checkpoint after the failure of worker ${failure.rank} failed as well: ${(error as Error).message}`);
      return failure;
    }
    return new WorkerFailedError(
      failure.rank,
      `${failure.message} The latest checkpoint (step ${step}) is in ${options.checkpoints.directory}; fix the cause, then continue with \`ft train --resume <run folder>\`.`,
      { cause: failure.cause },
    );
  };

  let stopReason: StopReason | null = null;
  let accumulated: NamedArrays = {};
  let accumulatedBatches = 0;

  while (stopReason === null && step < plan.totalSteps) {
    // Shuffle the epoch from the state saved at its start, so a resumed epoch gets the same order.
    const random = new Random(0, epochRandomState);
    const order = trainer.should_shuffle ? random.permutation(options.training.rows) : Array.from({ length: options.training.rows }, (_, index) => index);
    const batches = batchIndices(order, trainer.batch_size * workers);

    while (batchInEpoch < batches.length && step < plan.totalSteps && stopReason === null) {
      const indices = batches[batchInEpoch]!;
      const batch = makeBatch(options.training, indices);
      const learningRate = learningRateAt(update, trainer.learning_rate_scheduler, schedule) * plateau.scale;

      // Train one step: a whole update, or one batch of an accumulated update. Under loss
      // scaling an update with overflowed gradients is skipped, and like Hugging Face's Trainer
      // the schedule does not advance for it.
      let loss: number;
      let outputLosses: Readonly<Record<string, number>>;
      let skippedAtScale: number | null = null;
      const stepOptions = scaler === null ? undefined : { lossScale: scaler.scale };
      try {
        if (accumulation === 1) {
          const result = await model.trainStep(batch, learningRate, stepOptions);
          ({ loss, outputLosses } = result);
          const applied = result.gradientsFinite !== false;
          if (applied) {
            update += 1;
          } else {
            skippedAtScale = scaler?.scale ?? 1;
          }
          scaler?.update(applied);
        } else {
          const result = await model.computeGradients(batch, stepOptions);
          ({ loss, outputLosses } = result);
          accumulate(accumulated, result.gradients);
          accumulatedBatches += 1;
          const lastOfRun = step + 1 === plan.totalSteps;
          const atCheckpoint = (step + 1) % plan.stepsPerCheckpoint === 0;
          if (accumulatedBatches === accumulation || lastOfRun || atCheckpoint) {
            const applied = scaler === null || allFinite(accumulated);
            if (applied) {
              await model.applyGradients(scale(accumulated, 1 / accumulatedBatches), learningRate);
              update += 1;
            } else {
              skippedAtScale = scaler.scale;
            }
            scaler?.update(applied);
            accumulated = {};
            accumulatedBatches = 0;
          }
        }
      } catch (error) {
        if (error instanceof WorkerFailedError) {
          throw await saveAfterWorkerFailure(error);
        }
        throw error;
      }
      if (!Number.isFinite(loss)) {
        const fix = scaler === null ? 'Lower the learning rate or check the data for extreme values.' : 'The forward pass may overflow float16: set trainer.use_mixed_precision to false, or lower the learning rate.';
        logger.error(`Loss became ${loss} at step ${step + 1} (epoch ${epoch + 1}); stopping and keeping the best weights so far. ${fix}`);
        stopReason = 'non_finite_loss';
        break;
      }
      if (skippedAtScale !== null) {
        logger.debug(`Step ${step + 1}: a gradient overflowed at loss scale ${skippedAtScale}. Skipped the update and lowered the scale to ${scaler?.scale}.`);
        if (scaler?.exhausted === true) {
          logger.error(
            `Gradients stayed Inf or NaN at step ${step + 1} (epoch ${epoch + 1}) although the loss scale fell to ${scaler.scale}. Stopping and keeping the best weights so far. Lower the learning rate, enable gradient clipping, or set trainer.use_mixed_precision to false.`,
          );
          stopReason = 'non_finite_gradients';
          break;
        }
      }

      step += 1;
      batchInEpoch += 1;
      history.learningRate.push(learningRate);
      history.loss.push(loss);
      pendingLoss.sum += loss * indices.length;
      pendingLoss.rows += indices.length;
      for (const [name, value] of Object.entries(outputLosses)) {
        pendingLoss.outputs[name] = (pendingLoss.outputs[name] ?? 0) + value * indices.length;
      }
      callbacks.onStep?.({ step, totalSteps: plan.totalSteps, epoch, loss, learningRate, rows: indices.length });

      if (step % plan.stepsPerCheckpoint === 0 || step === plan.totalSteps) {
        stopReason = await evaluate();
      }

      // Backend calls can finish without giving the event loop a turn, which would hold back
      // signal handlers (Ctrl-C) and timers until the end of training.
      await new Promise((resolve) => setImmediate(resolve));
      if (stopReason === null && options.signal?.aborted === true) {
        logger.info(`Interrupted at step ${step}; saving a checkpoint.`);
        await saveLatest(await model.exportState());
        stopReason = 'interrupted';
      }
    }

    if (batchInEpoch >= batches.length) {
      epoch += 1;
      batchInEpoch = 0;
      epochRandomState = random.state();
      if (stopReason === null && step % plan.stepsPerCheckpoint !== 0) {
        await saveLatest(await model.exportState());
      }
    }
  }

  // Restore the best weights: from memory, or from the best checkpoint after a resume.
  if (bestState === null && best.value !== null && options.checkpoints !== undefined) {
    bestState = (await options.checkpoints.read('best'))?.state ?? null;
  }
  if (bestState !== null) {
    await model.importState(bestState);
    logger.info(`Restored the weights of step ${best.step} (epoch ${best.epoch + 1}), the best by ${selectionSplit} ${target.field} ${target.metric} (${formatMetric(best.value)}).`);
  } else if (stopReason === 'non_finite_loss' || stopReason === 'non_finite_weights' || stopReason === 'non_finite_gradients') {
    throw new FtError('DATA_INVALID', 'Training diverged before the first evaluation, so no weights were saved. Lower the learning rate, enable gradient clipping, or check the data for extreme values.');
  }

  if (scaler !== null) {
    logger.info(`Mixed precision: ${scaler.skippedUpdates} update(s) skipped for gradient overflow; final loss scale ${scaler.scale}.`);
  }

  const reason = stopReason ?? 'completed';
  callbacks.onTrainEnd?.(reason);
  return {
    plan,
    stopReason: reason,
    statistics,
    steps: { learningRate: history.learningRate, loss: history.loss },
    evaluationSteps: history.evaluationSteps,
    bestEpoch: best.epoch,
    bestStep: best.value === null ? null : best.step,
    bestValidationValue: best.value ?? Number.NaN,
    lossScale: scaler?.state() ?? null,
  };
}
