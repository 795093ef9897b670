import { readFile } from 'node:fs/promises';
import path from 'node:path';

import type { Backend, BackendDescriptor, ModelHandle } from '../backend/backend.js';
import { BUILTIN_BACKEND_PACKAGES, loadBackendDescriptor, parseBackendOptions } from '../backend/load-backend.js';
import type { InputBatch, InputDescription, ModelDescription, OutputDescription } from '../backend/model-description.js';
import { EmbeddingCache, defaultCacheDirectory } from '../cache/embedding-cache.js';
import { loadConfigFile, validateConfig, type LoadedConfig } from '../config/load.js';
import { DEFAULT_VALIDATION_METRIC, OUTPUT_METRICS } from '../config/metrics-catalog.js';
import { learningRateScale, resolveLearningRate } from '../config/resolve.js';
import type { FtConfig } from '../config/schema.js';
import { denormalize, encodeSplits, loadSplits, resolveDatasetSources, type DatasetSources, type EncodedSplit, type FeatureMetadata, type PreparedSplit, type SplitName } from '../data/index.js';
import { FtError, UnsupportedError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic-write.js';
import type { NamedArrays } from '../tensors/named-arrays.js';
import { CheckpointStore } from '../training/checkpoint-store.js';
import { ParallelModel } from '../training/parallel/parallel-model.js';
import { detectMpiLaunch, Mpi } from '../training/parallel/mpi.js';
import { broadcastNumbers, MpiParallelModel } from '../training/parallel/mpi-model.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { createRunDirectory } from '../results/run-directory.js';
import { writeRunResults } from '../results/write-results.js';
import { evaluateSplit, type SplitMetrics, type SplitPredictions } from '../training/evaluate.js';
import type { OutputMetricSettings } from '../training/metrics.js';
import { Random } from '../training/random.js';
import { train, type StopReason, type TrainingCallbacks, type TrainingProgress, type TrainingStatistics } from '../training/trainer.js';
import { prepareTextInput, type PreparedTextInput, type ProgressListener } from './text-inputs.js';
import { resolveBatchSizes } from './tune-batch-sizes.js';

/** Request to train: a config (file or object), the data, and the folder for results. */
export interface TrainRunRequest extends DatasetSources {
  /** Path of a YAML config file. */
  readonly configPath?: string;
  /** A config object, used when `configPath` is not given. Relative paths resolve against the working directory. */
  readonly config?: unknown;
  /** Folder that receives `<experimentName>_run[_N]`; default `results`. */
  readonly outputDirectory?: string;
  readonly experimentName?: string;
  /** Seed of the split, shuffling, initialisation and dropout; default 42. */
  readonly randomSeed?: number;
  readonly logger?: Logger;
  readonly callbacks?: TrainingCallbacks & { onProgress?: ProgressListener };
  /** Aborting stops after the current step; the run still saves the best weights and its results. */
  readonly signal?: AbortSignal;
  /** Loads the backend for `backend.type`; tests inject one, the default imports the package. */
  readonly loadBackend?: (type: string) => Promise<BackendDescriptor>;
  /** Command line that started the run, recorded in `description.json`. */
  readonly command?: readonly string[];
  /**
   * Run folder of an interrupted run to continue from its `latest` checkpoint. The config, data
   * files and seed come from that run's `description.json`; the results go to the same folder.
   */
  readonly resumeFrom?: string;
}

/** Data files as `description.json` records them, in the snake_case of ft's other output files. */
interface RecordedDatasetSources {
  readonly dataset?: string;
  readonly training_set?: string;
  readonly validation_set?: string;
  readonly test_set?: string;
}

function recordSources(sources: DatasetSources): RecordedDatasetSources {
  return { dataset: sources.dataset, training_set: sources.trainingSet, validation_set: sources.validationSet, test_set: sources.testSet };
}

function readSources(recorded: RecordedDatasetSources): DatasetSources {
  return {
    ...(recorded.dataset === undefined ? {} : { dataset: recorded.dataset }),
    ...(recorded.training_set === undefined ? {} : { trainingSet: recorded.training_set }),
    ...(recorded.validation_set === undefined ? {} : { validationSet: recorded.validation_set }),
    ...(recorded.test_set === undefined ? {} : { testSet: recorded.test_set }),
  };
}

/** Record that `description.json` keeps from the start of a run, which is everything `resumeFrom` needs. */
interface RunDescription {
  readonly command: readonly string[];
  readonly random_seed: number;
  readonly dataset: RecordedDatasetSources;
  readonly config_file: string | null;
  readonly base_directory: string;
  readonly config: FtConfig;
  readonly started: string;
}

async function readRunDescription(runDirectory: string): Promise<RunDescription> {
  const file = path.join(runDirectory, 'description.json');
  try {
    return JSON.parse(await readFile(file, 'utf8')) as RunDescription;
  } catch (error) {
    throw new FtError('FILE_NOT_FOUND', `Cannot resume from ${runDirectory}: ${file} is missing or unreadable (${(error as Error).message}). Pass the run folder that ft train created, for example results/experiment_run.`, { cause: error });
  }
}

/** Location of a run's results, and its headline numbers. */
export interface TrainRunResult {
  readonly runDirectory: string;
  readonly config: FtConfig;
  readonly learningRate: number;
  readonly backendDescription: string;
  readonly stopReason: StopReason;
  readonly statistics: TrainingStatistics;
  /** Metrics of the best weights on every split, as saved in `test_statistics.json`; empty on MPI ranks other than 0. */
  readonly finalMetrics: Partial<Record<SplitName, SplitMetrics>>;
  readonly bestEpoch: number;
  /**
   * MPI rank of this process with `strategy: mpi`, else 0. Only rank 0 writes the run folder.
   * On other ranks, `runDirectory` is the resumed run's folder, or empty for a new run.
   */
  readonly rank: number;
}

/** Passes on errors only, for MPI ranks other than 0. */
function errorsOnly(logger: Logger): Logger {
  return { debug: () => {}, info: () => {}, warn: () => {}, error: (message) => logger.error(message) };
}

/** Checkpoints that can be read but not written, for MPI ranks other than 0, which read what rank 0 writes. */
class ReadOnlyCheckpointStore<Progress> extends CheckpointStore<Progress> {
  override async write(): Promise<void> {}
}

/**
 * Initialises MPI for `strategy: mpi` and returns the communicator, after checking that `ft`
 * was started by `mpirun` and that `num_workers` is 1 (the default) or the world size.
 */
function startMpi(config: FtConfig): Mpi {
  const launch = detectMpiLaunch();
  if (launch === null) {
    throw new FtError(
      'CONFIG_INVALID',
      'backend.trainer.strategy is mpi, but this process was not started by Open MPI\'s mpirun (OMPI_COMM_WORLD_SIZE is not set). Start every rank with mpirun, for example `mpirun -np 2 npx ft train --config config.yaml`, or use strategy: local.',
    );
  }
  const mpi = Mpi.initialize();
  const requested = config.backend.trainer.num_workers;
  if (requested !== 1 && requested !== mpi.size) {
    throw new FtError(
      'CONFIG_INVALID',
      `backend.trainer.num_workers is ${requested}, but mpirun started ${mpi.size} rank(s). With strategy: mpi, set num_workers to the number of ranks (mpirun -np ${requested}), or leave it out to use the world size.`,
    );
  }
  return mpi;
}

function describeOutputs(config: FtConfig, metadata: Record<string, FeatureMetadata>): OutputDescription[] {
  return config.output_features.map((feature): OutputDescription => {
    const meta = metadata[feature.name]!;
    switch (feature.type) {
      case 'category': {
        const vocabulary = meta.type === 'category' ? meta.vocabulary : [];
        const weights = feature.loss.class_weights;
        return {
          name: feature.name,
          kind: 'category',
          numClasses: vocabulary.length,
          lossWeight: feature.loss.weight,
          classWeights: weights === null ? null : vocabulary.map((label) => weights[label] ?? 1),
        };
      }
      case 'binary':
        return { name: feature.name, kind: 'binary', lossWeight: feature.loss.weight, positiveClassWeight: feature.loss.positive_class_weight };
      case 'number':
        return { name: feature.name, kind: 'number', lossWeight: feature.loss.weight, loss: feature.loss.type };
    }
  });
}

function metricSettings(config: FtConfig, metadata: Record<string, FeatureMetadata>): Record<string, OutputMetricSettings> {
  return Object.fromEntries(
    config.output_features.map((feature) => {
      const meta = metadata[feature.name]!;
      const toColumnUnits = meta.type === 'number' ? (value: number) => denormalize(value, meta) : (value: number) => value;
      const settings: OutputMetricSettings = {
        topK: feature.type === 'category' ? feature.top_k : 1,
        threshold: feature.type === 'binary' ? feature.threshold : 0.5,
        toColumnUnits,
      };
      return [feature.name, settings];
    }),
  );
}

function checkCapabilities(config: FtConfig, descriptor: BackendDescriptor, capabilities: { encoders: Readonly<Record<string, { trainable: boolean }>> }): void {
  config.input_features.forEach((feature, index) => {
    if (feature.type !== 'text') {
      return;
    }
    const support = capabilities.encoders[feature.encoder.type];
    // A frozen encoder whose embeddings are cached never runs inside the model, so another
    // installed backend can fill the cache (see `encoderBackend` in trainRun).
    const cachedElsewhere = !feature.encoder.trainable && feature.preprocessing.cache_encoder_embeddings;
    if (support === undefined && cachedElsewhere) {
      return;
    }
    if (support === undefined) {
      throw new UnsupportedError(
        `input_features[${index}].encoder.type: backend "${descriptor.name}" has no ${feature.encoder.type} encoder; it supports ${Object.keys(capabilities.encoders).join(', ')}. Pick one of those or another backend.`,
      );
    }
    if (feature.encoder.trainable && !support.trainable) {
      throw new UnsupportedError(`input_features[${index}].encoder.trainable: backend "${descriptor.name}" cannot fine-tune ${feature.encoder.type}; set trainable: false.`);
    }
  });
}

/**
 * Trains a model end to end: validates the config and starts the backend before reading any
 * data, prepares the data, trains, and writes the run folder.
 */
export async function trainRun(request: TrainRunRequest): Promise<TrainRunResult> {
  const launch = detectMpiLaunch();
  try {
    return await trainRunOnRank(request);
  } catch (error) {
    // A rank that stops while the others wait in MPI_Allreduce would leave them waiting forever,
    // so an error on any rank ends the whole job. mpiStarted is true, so MPI is initialised.
    if (launch !== null && launch.size > 1 && mpiStarted) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      (request.logger ?? silentLogger).error(`MPI rank ${launch.rank} failed, so it aborts the MPI job: ${message}`);
      Mpi.initialize().abort(error instanceof FtError ? error.exitCode : 1);
    }
    throw error;
  }
}

/** Whether this process initialised MPI, after which an error must abort the MPI job. */
let mpiStarted = false;

async function trainRunOnRank(request: TrainRunRequest): Promise<TrainRunResult> {
  let logger = request.logger ?? silentLogger;
  const resumeDirectory = request.resumeFrom === undefined ? undefined : path.resolve(request.resumeFrom);
  const previous = resumeDirectory === undefined ? undefined : await readRunDescription(resumeDirectory);
  const seed = previous?.random_seed ?? request.randomSeed ?? 42;

  // Validate everything that can be checked without data.
  let loaded: LoadedConfig;
  if (previous !== undefined) {
    loaded = { config: validateConfig(previous.config, path.join(resumeDirectory!, 'description.json')), path: previous.config_file ?? undefined, baseDirectory: previous.base_directory };
  } else if (request.configPath !== undefined) {
    loaded = await loadConfigFile(request.configPath);
  } else {
    loaded = { config: validateConfig(request.config), path: undefined, baseDirectory: process.cwd() };
  }
  const config = loaded.config;
  const descriptor = await (request.loadBackend ?? loadBackendDescriptor)(config.backend.type);
  const backendOptions = parseBackendOptions(descriptor, config.backend, loaded.path);
  const sources = previous !== undefined ? readSources(previous.dataset) : resolveDatasetSources(config, loaded.baseDirectory, request);
  const learningRate = resolveLearningRate(config);
  const mpi = config.backend.trainer.strategy === 'mpi' ? startMpi(config) : null;
  mpiStarted ||= mpi !== null;
  const rank = mpi?.rank ?? 0;
  // Only rank 0 logs and reports progress; the other ranks report errors only.
  const callbacks = rank === 0 ? request.callbacks : undefined;
  if (rank !== 0) {
    logger = errorsOnly(logger);
  }
  const workers = mpi?.size ?? config.backend.trainer.num_workers;
  const baseLearningRate = learningRate.value * learningRateScale(config.trainer.learning_rate_scaling, workers);

  const backend = await descriptor.create(backendOptions, { logger });
  const extraBackends: Backend[] = [];
  try {
    logger.info(`Backend: ${backend.description}`);
    checkCapabilities(config, descriptor, backend.capabilities);
    const mixedPrecision = config.trainer.use_mixed_precision && backend.capabilities.mixedPrecision;
    if (config.trainer.use_mixed_precision && !mixedPrecision) {
      logger.warn(`use_mixed_precision is on, but ${backend.capabilities.mixedPrecisionUnavailableReason ?? 'this backend cannot train in half precision'}; training in float32.`);
    }
    logger.info(`Learning rate ${learningRate.value} (${learningRate.reason}).`);
    if (workers > 1) {
      logger.info(`Base learning rate ${baseLearningRate}: ${learningRate.value} scaled by ${config.trainer.learning_rate_scaling} learning_rate_scaling for ${workers} workers.`);
    }

    // Read and encode the data.
    const random = new Random(seed);
    const rowSets = await loadSplits(config, sources, random);
    const { metadata, training, validation, test } = encodeSplits(config, rowSets, logger);
    const encodedSplits = [training, validation, test].filter((split): split is EncodedSplit => split !== null);
    logger.info(`Data: ${encodedSplits.map((split) => `${split.split} ${split.rows} rows`).join(', ')}.`);

    const cache = new EmbeddingCache(defaultCacheDirectory(config.backend.cache_dir));
    const encoderBackend = async (encoderType: string): Promise<Backend> => {
      if (backend.capabilities.encoders[encoderType] !== undefined) {
        return backend;
      }
      const borrowed = await borrowEncoderBackend(encoderType, config.backend.type, request.loadBackend ?? loadBackendDescriptor, logger);
      extraBackends.push(borrowed);
      return borrowed;
    };
    const textInputs: PreparedTextInput[] = [];
    for (const feature of config.input_features) {
      if (feature.type === 'text') {
        const context = {
          encoderBackend,
          baseDirectory: loaded.baseDirectory,
          cache,
          logger,
          seed,
          ...(callbacks?.onProgress ? { onProgress: callbacks.onProgress } : {}),
          ...(request.signal === undefined ? {} : { signal: request.signal }),
        };
        textInputs.push(await prepareTextInput(feature, encodedSplits, context));
      }
    }
    await Promise.all(extraBackends.splice(0).map((extra) => extra.dispose()));

    const prepare = (split: EncodedSplit | null): PreparedSplit | null => {
      if (split === null) {
        return null;
      }
      const inputs: Record<string, InputBatch> = { ...split.inputs };
      for (const text of textInputs) {
        inputs[text.name] = text.splits[split.split]!;
      }
      return { split: split.split, rows: split.rows, inputs, targets: split.targets };
    };
    const prepared = { training: prepare(training)!, validation: prepare(validation), test: prepare(test) };

    // Build the model.
    const inputs: InputDescription[] = config.input_features.map((feature): InputDescription => {
      const text = textInputs.find((candidate) => candidate.name === feature.name);
      if (text !== undefined) {
        const first = text.splits.training!;
        return text.cached && first.kind === 'embedding' ? { name: feature.name, kind: 'embedding', size: first.size } : { name: feature.name, kind: 'text', encoder: text.encoder };
      }
      const meta = metadata[feature.name]!;
      return meta.type === 'category' ? { name: feature.name, kind: 'category', vocabularySize: meta.vocabulary.length } : { name: feature.name, kind: 'number' };
    });
    const outputs = describeOutputs(config, metadata);
    const modelDescription: ModelDescription = {
      inputs,
      combiner: config.combiner,
      outputs,
      optimizer: config.trainer.optimizer,
      gradientClipping: config.trainer.gradient_clipping,
      seed,
      mixedPrecision,
    };
    const localModel = await backend.buildModel(modelDescription);
    let parallel: ParallelModel | null = null;

    try {
      const tuned = await resolveBatchSizes(config.trainer, { model: localModel, backend, training: prepared.training, logger, workers });
      let trainer = tuned.trainer;
      let model: ModelHandle = localModel;
      let signal = request.signal;
      // Replicas start after tuning, so they copy the initial state that tuning restored.
      if (mpi !== null) {
        // Tuning times each rank on its own, so the ranks take rank 0's batch sizes.
        const [batchSize, accumulation, evalBatchSize] = broadcastNumbers(mpi, [trainer.batch_size, trainer.gradient_accumulation_steps, trainer.eval_batch_size]);
        trainer = { ...trainer, batch_size: batchSize!, gradient_accumulation_steps: accumulation!, eval_batch_size: evalBatchSize!, effective_batch_size: batchSize! * accumulation! * workers };
        const mpiModel = await MpiParallelModel.start({ local: localModel, mpi, logger, ...(request.signal === undefined ? {} : { signal: request.signal }) });
        model = mpiModel;
        signal = mpiModel.signal;
      } else if (workers > 1) {
        parallel = await ParallelModel.start({ local: localModel, workers, backendType: config.backend.type, backendSection: config.backend, description: modelDescription, logger });
        model = parallel;
      }
      const validationField = config.trainer.validation_field ?? config.output_features[0]!.name;
      const validationFeature = config.output_features.find((feature) => feature.name === validationField);
      let validationMetric = config.trainer.validation_metric ?? (validationFeature === undefined ? 'loss' : DEFAULT_VALIDATION_METRIC[validationFeature.type]);
      if (prepared.validation === null && validationMetric !== 'loss') {
        // Without a validation split the training split selects the best weights, and only its
        // loss is measured during training.
        logger.warn(`No validation split, so the best weights are chosen by training ${validationField} loss instead of ${validationMetric}.`);
        validationMetric = 'loss';
      }
      const goal = validationFeature === undefined ? 'min' : OUTPUT_METRICS[validationFeature.type][validationMetric] ?? 'min';
      const plateauMetric = config.trainer.learning_rate_scheduler.reduce_eval_metric;
      const plateauGoal = validationFeature === undefined ? 'min' : OUTPUT_METRICS[validationFeature.type][plateauMetric] ?? 'min';
      const settings = metricSettings(config, metadata);

      // Claim the run folder and record how to repeat or resume the run before training starts.
      // Only rank 0 writes; the other MPI ranks read its checkpoints when they resume.
      let runDirectory = resumeDirectory ?? '';
      if (resumeDirectory === undefined && rank === 0) {
        runDirectory = await createRunDirectory(path.resolve(request.outputDirectory ?? 'results'), request.experimentName ?? 'experiment');
      }
      const description: RunDescription = previous ?? {
        command: request.command ?? [],
        random_seed: seed,
        dataset: recordSources(sources),
        config_file: loaded.path ?? null,
        base_directory: loaded.baseDirectory,
        config,
        started: new Date().toISOString(),
      };
      if (previous === undefined && rank === 0) {
        await writeJsonAtomic(path.join(runDirectory, 'description.json'), description);
      }
      const checkpointDirectory = path.join(runDirectory, 'model', 'training_checkpoints');
      let checkpoints: CheckpointStore<TrainingProgress> | undefined;
      if (rank === 0) {
        checkpoints = new CheckpointStore<TrainingProgress>(checkpointDirectory);
      } else if (resumeDirectory !== undefined) {
        checkpoints = new ReadOnlyCheckpointStore<TrainingProgress>(checkpointDirectory);
      }
      let resume: { progress: TrainingProgress; state: NamedArrays } | undefined;
      if (resumeDirectory !== undefined && checkpoints !== undefined) {
        resume = (await checkpoints.read('latest')) ?? undefined;
        if (resume === undefined) {
          throw new FtError('CHECKPOINT_INVALID', `Cannot resume from ${resumeDirectory}: it has no latest checkpoint in ${checkpointDirectory}. The run stopped before its first evaluation; start it again instead.`);
        }
      }
      logger.info(`Results will be written to ${runDirectory}`);

      const result = await train({
        trainer,
        baseLearningRate,
        model,
        outputs,
        metricSettings: settings,
        ...prepared,
        validationTarget: { field: validationField, metric: validationMetric, goal },
        plateauGoal,
        random,
        ...(checkpoints === undefined ? {} : { checkpoints }),
        ...(resume === undefined ? {} : { resume }),
        logger,
        ...(callbacks === undefined ? {} : { callbacks }),
        ...(signal === undefined ? {} : { signal }),
        ...(mixedPrecision ? { lossScaling: {} } : {}),
        workers,
      });

      const resolvedConfig: FtConfig = {
        ...config,
        trainer: { ...trainer, learning_rate: learningRate.value, validation_field: validationField, validation_metric: validationMetric },
      };
      if (rank !== 0) {
        // Every rank has the same weights, so rank 0 alone evaluates them and writes the results.
        return {
          runDirectory,
          config: resolvedConfig,
          learningRate: baseLearningRate,
          backendDescription: backend.description,
          stopReason: result.stopReason,
          statistics: result.statistics,
          finalMetrics: {},
          bestEpoch: result.bestEpoch,
          rank,
        };
      }

      // Evaluate the restored best weights on every split for the final report.
      const evalBatchSize = trainer.eval_batch_size;
      const finalMetrics: Partial<Record<SplitName, SplitMetrics>> = {};
      const predictions: Partial<Record<SplitName, SplitPredictions>> = {};
      for (const split of [prepared.training, prepared.validation, prepared.test]) {
        if (split !== null) {
          const evaluation = await evaluateSplit(model, split, outputs, settings, evalBatchSize);
          finalMetrics[split.split] = evaluation.metrics;
          predictions[split.split] = evaluation.predictions;
        }
      }

      await writeRunResults({
        runDirectory,
        config: resolvedConfig,
        metadata,
        model,
        textInputs,
        outputs,
        prepared,
        statistics: result.statistics,
        steps: result.steps,
        evaluationSteps: result.evaluationSteps,
        bestStep: result.bestStep,
        finalMetrics,
        predictions,
        description: {
          ...description,
          resumed: resumeDirectory !== undefined,
          backend: backend.description,
          node_version: process.version,
          stop_reason: result.stopReason,
          best_epoch: result.bestEpoch + 1,
          batch_size_tuning: tuned.trials,
          mixed_precision:
            result.lossScale === null
              ? { enabled: false, requested: config.trainer.use_mixed_precision }
              : { enabled: true, final_loss_scale: result.lossScale.scale, skipped_updates: result.lossScale.skippedUpdates },
          data_parallel: {
            num_workers: workers,
            strategy: config.backend.trainer.strategy,
            learning_rate: learningRate.value,
            learning_rate_scaling: config.trainer.learning_rate_scaling,
            scaled_learning_rate: baseLearningRate,
            effective_batch_size: trainer.effective_batch_size,
          },
          training_plan: {
            steps_per_epoch: result.plan.stepsPerEpoch,
            total_steps: result.plan.totalSteps,
            epochs: result.plan.epochs,
            steps_per_checkpoint: result.plan.stepsPerCheckpoint,
            total_updates: result.plan.totalUpdates,
            warmup_updates: result.plan.warmupUpdates,
          },
        },
      });

      return {
        runDirectory,
        config: resolvedConfig,
        learningRate: baseLearningRate,
        backendDescription: backend.description,
        stopReason: result.stopReason,
        statistics: result.statistics,
        finalMetrics,
        bestEpoch: result.bestEpoch,
        rank,
      };
    } finally {
      await parallel?.close();
      localModel.dispose();
    }
  } finally {
    await Promise.all(extraBackends.map((extra) => extra.dispose()));
    await backend.dispose();
  }
}

/**
 * Starts another built-in backend that has `encoderType`, with its default options, to fill the
 * embedding cache for a frozen encoder that the run's own backend lacks.
 */
async function borrowEncoderBackend(
  encoderType: string,
  ownType: string,
  loadBackend: (type: string) => Promise<BackendDescriptor>,
  logger: Logger,
): Promise<Backend> {
  for (const type of Object.keys(BUILTIN_BACKEND_PACKAGES)) {
    if (type === ownType) {
      continue;
    }
    let descriptor: BackendDescriptor;
    try {
      descriptor = await loadBackend(type);
    } catch {
      continue;
    }
    const candidate = await descriptor.create(descriptor.optionsSchema.parse({}), { logger });
    if (candidate.capabilities.encoders[encoderType] !== undefined) {
      logger.info(`Backend "${ownType}" has no ${encoderType} encoder; computing its cached embeddings with ${candidate.description}.`);
      return candidate;
    }
    await candidate.dispose();
  }
  throw new UnsupportedError(`No installed backend has the ${encoderType} encoder needed to fill the embedding cache; install @ft/backend-tfjs.`);
}
