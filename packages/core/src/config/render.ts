import { Document, isMap, isScalar, visit, type Pair } from 'yaml';

import { defaultMissingValueStrategy } from '../data/features.js';
import { defaultEvalBatchSize } from '../training/batch-size.js';
import type { InputFeature, OutputFeature } from './features.js';
import { DEFAULT_VALIDATION_METRIC } from './metrics-catalog.js';
import { resolveLearningRate } from './resolve.js';
import type { FtConfig } from './schema.js';
import type { TrainerConfig } from './trainer.js';

/** Trainer settings with every value that `auto` or `null` leaves open resolved. */
export interface RenderedTrainerConfig extends TrainerConfig {
  readonly learning_rate: number;
  /** A number, or `auto` while it depends on a batch size that only tuning on data can decide. */
  readonly eval_batch_size: number | 'auto';
  readonly validation_field: string;
  readonly validation_metric: string;
}

/** A config with every default filled in and every setting that needs no data resolved. */
export type RenderedConfig = FtConfig & { readonly trainer: RenderedTrainerConfig };

export interface RenderConfigOptions {
  /** The backend's own keys after its descriptor filled their defaults, merged into `backend`. */
  readonly backendOptions?: Readonly<Record<string, unknown>>;
}

function withMissingValueStrategy<Feature extends InputFeature | OutputFeature>(feature: Feature, role: 'input' | 'output'): Feature {
  const preprocessing = feature.preprocessing as { missing_value_strategy?: string };
  if (preprocessing.missing_value_strategy !== undefined) {
    return feature;
  }
  return { ...feature, preprocessing: { ...preprocessing, missing_value_strategy: defaultMissingValueStrategy(feature.type, role) } };
}

/**
 * Returns `config` (already validated, so every default is filled in) with the values that
 * `ft train` works out before reading data written out: `learning_rate: auto`,
 * `eval_batch_size`, `validation_field`, `validation_metric` and each feature's
 * `missing_value_strategy`. Training with the result behaves exactly as with `config`.
 *
 * Values that depend on the machine or on files stay unset: `backend.cache_dir`, the bundled
 * Universal Sentence Encoder folder and a tokenizer's own `lowercase` setting.
 */
export function renderConfig(config: FtConfig, options: RenderConfigOptions = {}): RenderedConfig {
  const trainer = config.trainer;
  const validationField = trainer.validation_field ?? config.output_features[0]!.name;
  const validationFeature = config.output_features.find((feature) => feature.name === validationField);
  // `combined` is the only validation_field that is not an output name, and its only metric is loss.
  const validationMetric = trainer.validation_metric ?? (validationFeature === undefined ? 'loss' : DEFAULT_VALIDATION_METRIC[validationFeature.type]);

  return {
    ...config,
    input_features: config.input_features.map((feature) => withMissingValueStrategy(feature, 'input')),
    output_features: config.output_features.map((feature) => withMissingValueStrategy(feature, 'output')),
    trainer: {
      ...trainer,
      learning_rate: resolveLearningRate(config).value,
      eval_batch_size: trainer.eval_batch_size ?? (trainer.batch_size === 'auto' ? 'auto' : defaultEvalBatchSize(trainer.batch_size)),
      validation_field: validationField,
      validation_metric: validationMetric,
    },
    backend: { ...config.backend, ...options.backendOptions },
  };
}

export interface RenderConfigYamlOptions extends RenderConfigOptions {
  /** Config file the config was read from, named in the header. */
  readonly source?: string;
}

/** Top-level sections in the order the examples write them: data first, backend last. */
const SECTION_ORDER = ['dataset', 'input_features', 'output_features', 'defaults', 'combiner', 'trainer', 'preprocessing', 'backend'];

/** Header lines of a rendered config: what it is and which values were worked out. */
function headerLines(config: FtConfig, source: string | undefined): string[] {
  const learningRate = resolveLearningRate(config);
  const lines = [
    `Full config${source === undefined ? '' : ` of ${source}`}, rendered by ft render-config: every default filled in,`,
    'and every value that can be worked out without the data resolved. ft train reads it as it is.',
    `learning_rate ${learningRate.value}: ${learningRate.reason}.`,
  ];
  if (config.dataset !== undefined) {
    lines.push('Paths are relative to the folder of the original config file.');
  }
  const pretrainedBert = config.input_features.some((feature) => feature.type === 'text' && feature.encoder.type === 'bert' && feature.encoder.use_pretrained);
  if (pretrainedBert) {
    lines.push("A bert encoder with use_pretrained: true takes its architecture from the checkpoint's config.json;", 'the architecture keys below are ignored.');
  }
  return lines;
}

/** Returns {@link renderConfig}'s result as YAML with a header comment, sections separated by blank lines. */
export function renderConfigYaml(config: FtConfig, options: RenderConfigYamlOptions = {}): string {
  const rendered = renderConfig(config, options) as unknown as Record<string, unknown>;
  const ordered = Object.fromEntries(
    [...SECTION_ORDER, ...Object.keys(rendered)].filter((key, index, keys) => keys.indexOf(key) === index && rendered[key] !== undefined).map((key) => [key, rendered[key]]),
  );

  const document = new Document(ordered);
  document.commentBefore = headerLines(config, options.source)
    .map((line) => ` ${line}`)
    .join('\n');
  if (isMap(document.contents)) {
    (document.contents.items as Pair[]).slice(1).forEach((pair) => {
      if (isScalar(pair.key)) {
        pair.key.spaceBefore = true;
      }
    });
  }
  // Short lists of numbers, such as betas and split probabilities, read best on one line.
  visit(document, {
    Seq(_key, node) {
      if (node.items.every((item) => isScalar(item))) {
        node.flow = true;
      }
    },
  });
  return document.toString({ lineWidth: 0 });
}
