// Config
export { configSchema, combinerSchema, preprocessingSchema, backendSectionSchema, dataParallelSchema, type DataParallelConfig, type FtConfig, type FtConfigInput, type CombinerConfig } from './config/schema.js';
export { FEATURE_TYPES, type FeatureType, type InputFeature, type OutputFeature, type TextEncoderConfig, type BertEncoderConfig } from './config/features.js';
export { trainerSchema, optimizerSchema, gradientClippingSchema, learningRateSchedulerSchema, type TrainerConfig, type OptimizerConfig, type LearningRateSchedulerConfig, type GradientClippingConfig } from './config/trainer.js';
export { loadConfigFile, validateConfig, type LoadedConfig } from './config/load.js';
export { resolveLearningRate, learningRateScale, type ResolvedLearningRate } from './config/resolve.js';
export { OUTPUT_METRICS, DEFAULT_VALIDATION_METRIC, type MetricGoal } from './config/metrics-catalog.js';

// Errors and logging
export { FtError, ConfigError, DataError, BackendError, UnsupportedError, EXIT_CODES, formatKeyPath, type ConfigIssue, type FtErrorCode } from './errors.js';
export { createStreamLogger, createRecordingLogger, silentLogger, type Logger, type LogLevel, type RecordingLogger } from './logging/logger.js';

// Arrays, checkpoints and tokenizers
export { allFinite, float32Array, int32Array, shapeSize, type NamedArray, type NamedArrays, type ArrayDType } from './tensors/named-arrays.js';
export { BERT_BASE_ARCHITECTURE, type BertArchitecture } from './checkpoint/bert-config.js';
export * from './checkpoint/index.js';
export * from './hub/index.js';
export * from './text/index.js';
export type { TextTokenizer, TokenizedBatch } from './text/tokenizer.js';

// Backends
export type { Backend, BackendCapabilities, BackendContext, BackendDescriptor, EncoderHandle, ForwardOutputs, ModelHandle, TrainStepOptions, TrainStepResult } from './backend/backend.js';
export { textEncoderOutputSize, DROPOUT_CALLS_STATE_KEY, ENCODER_DROPOUT_CALLS_STATE_PREFIX } from './backend/model-description.js';
export type {
  Batch,
  BertEncoderDescription,
  InputBatch,
  InputDescription,
  ModelDescription,
  OutputDescription,
  TargetBatch,
  TextEncoderDescription,
  TrainingBatch,
  UniversalSentenceEncoderDescription,
} from './backend/model-description.js';
export { BUILTIN_BACKEND_PACKAGES, backendPackageName, loadBackendDescriptor, parseBackendOptions } from './backend/load-backend.js';

// Data
export * from './data/index.js';

// Training
export { learningRateAt, warmupSteps, type ScheduleContext } from './training/schedule.js';
export { referenceOptimizerStep, type ReferenceOptimizerState } from './training/optimizers/reference.js';
export { binaryMetrics, categoryMetrics, numberMetrics, rocAuc, type MetricValues } from './training/metrics.js';
export { Random, type RandomState } from './training/random.js';
export { LossScaler, MIN_LOSS_SCALE, type LossScaleOptions, type LossScaleState } from './training/loss-scale.js';
export { planTraining, train, type EvaluationEvent, type StepEvent, type StopReason, type TrainingCallbacks, type TrainingPlan, type TrainingProgress, type TrainingResult, type TrainingStatistics, type TrainOptions } from './training/trainer.js';
export { CheckpointStore, type CheckpointKind } from './training/checkpoint-store.js';
export type { PreparedSplit } from './data/batcher.js';
export type { OutputMetricSettings } from './training/metrics.js';
export type { SplitMetrics } from './training/evaluate.js';

// Runs
export { EmbeddingCache, defaultCacheDirectory, embeddingCacheKey } from './cache/embedding-cache.js';
export { trainRun, type TrainRunRequest, type TrainRunResult } from './pipeline/train-run.js';
export { ParallelModel, WorkerFailedError, type ParallelModelOptions } from './training/parallel/parallel-model.js';
export { averageGradients, shardBatch, sliceBatch } from './training/parallel/shards.js';
export { detectMpiLaunch, Mpi, type MpiLaunch } from './training/parallel/mpi.js';
export { broadcastArrays, broadcastNumbers, MpiParallelModel, type MpiParallelModelOptions } from './training/parallel/mpi-model.js';
export { bundledUniversalSentenceEncoderDirectory, type ProgressListener } from './pipeline/text-inputs.js';
export { ENCODER_WEIGHT_PREFIX } from './results/write-results.js';
export { writeFileAtomic, writeJsonAtomic } from './io/atomic-write.js';

// Config tooling: JSON Schema, rendering, starting configs and the generated reference
export { configJsonSchema, JSON_SCHEMA_DIALECT, type JsonSchema } from './config/json-schema.js';
export { renderConfig, renderConfigYaml, type RenderConfigOptions, type RenderConfigYamlOptions, type RenderedConfig, type RenderedTrainerConfig } from './config/render.js';
export { initConfig, type InitConfigRequest, type InitConfigResult } from './config/init-config.js';
export { generateConfigDocs, configReferenceMarkdown, CONFIG_DOCS_FILE, CONFIG_SCHEMA_FILE, type ConfigDocs } from './config/docs.js';
export { renderBatchSizeAndAccumulation, tuneBatchSize, isOutOfMemoryError, MAX_CPU_BATCH_SIZE, type BatchSizeTrial } from './training/batch-size.js';
export { resolveBatchSizes, type TunedBatchSizes } from './pipeline/tune-batch-sizes.js';
export type { ResolvedTrainerConfig } from './config/trainer.js';
