import { copyFile, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';

import type { ModelHandle } from '../backend/backend.js';
import { ENCODER_WEIGHT_PREFIX, type OutputDescription } from '../backend/model-description.js';
import { saveBertCheckpoint } from '../checkpoint/hf-folder.js';
import { writeSafetensors } from '../checkpoint/safetensors.js';
import type { FtConfig } from '../config/schema.js';
import { denormalize, type FeatureMetadata, type PreparedSplit, type SplitName } from '../data/index.js';
import type { PreparedTextInput } from '../pipeline/text-inputs.js';
import type { NamedArrays } from '../tensors/named-arrays.js';
import type { SplitMetrics, SplitPredictions } from '../training/evaluate.js';
import type { TrainingStatistics } from '../training/trainer.js';
import { writeFileAtomic, writeJsonAtomic } from '../io/atomic-write.js';
import { confusionMatrixSpec, learningCurvesSpec, renderSvg, trainingStepsSpec } from './plots.js';

export { ENCODER_WEIGHT_PREFIX } from '../backend/model-description.js';

/** Tokenizer files copied next to a saved encoder, so the folder loads in Hugging Face transformers. */
const TOKENIZER_FILES = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

export interface RunResults {
  readonly runDirectory: string;
  readonly config: FtConfig;
  readonly metadata: Record<string, FeatureMetadata>;
  readonly model: ModelHandle;
  readonly textInputs: readonly PreparedTextInput[];
  readonly outputs: readonly OutputDescription[];
  readonly prepared: { training: PreparedSplit; validation: PreparedSplit | null; test: PreparedSplit | null };
  readonly statistics: TrainingStatistics;
  readonly steps: { readonly learningRate: readonly number[]; readonly loss: readonly number[] };
  /** Training step of each evaluation, and the step whose weights were kept. */
  readonly evaluationSteps: readonly number[];
  readonly bestStep: number | null;
  readonly finalMetrics: Partial<Record<SplitName, SplitMetrics>>;
  readonly predictions: Partial<Record<SplitName, SplitPredictions>>;
  readonly description: Record<string, unknown>;
}

function encoderWeights(weights: NamedArrays, inputName: string): NamedArrays {
  const prefix = `${ENCODER_WEIGHT_PREFIX}${inputName}.`;
  return Object.fromEntries(Object.entries(weights).filter(([name]) => name.startsWith(prefix)).map(([name, array]) => [name.slice(prefix.length), array]));
}

/** Feature metadata with snake_case keys, like the other JSON files of a run. */
function metadataJson(metadata: Record<string, FeatureMetadata>): Record<string, Record<string, unknown>> {
  const snake = (key: string): string => key.replace(/[A-Z]/g, (letter) => `_${letter.toLowerCase()}`);
  return Object.fromEntries(Object.entries(metadata).map(([name, entry]) => [name, Object.fromEntries(Object.entries(entry).map(([key, value]) => [snake(key), value]))]));
}

function argmaxRows(logits: Float32Array, width: number): Int32Array {
  const rows = logits.length / width;
  const result = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let j = 1; j < width; j++) {
      if (logits[i * width + j]! > logits[i * width + best]!) {
        best = j;
      }
    }
    result[i] = best;
  }
  return result;
}

function csvField(value: string): string {
  return /[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/**
 * Builds `<split>_predictions.csv`, with Ludwig's column names: per output the prediction, the
 * probability of that prediction, and for category outputs the probability of every class.
 */
function predictionsCsv(outputs: readonly OutputDescription[], metadata: Record<string, FeatureMetadata>, predictions: SplitPredictions): string {
  const header: string[] = [];
  const columns: string[][] = [];
  for (const output of outputs) {
    const logits = predictions[output.name]!;
    const meta = metadata[output.name]!;
    if (output.kind === 'category' && meta.type === 'category') {
      const width = output.numClasses;
      const predicted = argmaxRows(logits, width);
      header.push(`${output.name}_predictions`, `${output.name}_probability`, ...meta.vocabulary.map((label) => csvField(`${output.name}_probabilities_${label}`)));
      const labels: string[] = [];
      const probabilities: string[] = [];
      const perClass: string[][] = meta.vocabulary.map(() => []);
      predicted.forEach((index, row) => {
        let sum = 0;
        const max = logits[row * width + index]!;
        for (let j = 0; j < width; j++) {
          sum += Math.exp(logits[row * width + j]! - max);
        }
        labels.push(csvField(meta.vocabulary[index] ?? String(index)));
        probabilities.push((1 / sum).toFixed(6));
        perClass.forEach((column, j) => column.push((Math.exp(logits[row * width + j]! - max) / sum).toFixed(6)));
      });
      columns.push(labels, probabilities, ...perClass);
    } else if (output.kind === 'binary') {
      header.push(`${output.name}_predictions`, `${output.name}_probability`);
      const probabilities = Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
      columns.push(probabilities.map((p) => (p >= 0.5 ? 'true' : 'false')), probabilities.map((p) => p.toFixed(6)));
    } else {
      header.push(`${output.name}_predictions`);
      const toColumnUnits = meta.type === 'number' ? (value: number) => denormalize(value, meta) : (value: number) => value;
      columns.push(Array.from(logits, (value) => String(Number(toColumnUnits(value).toPrecision(7)))));
    }
  }
  const rows = columns[0]?.length ?? 0;
  const lines = [header.join(',')];
  for (let i = 0; i < rows; i++) {
    lines.push(columns.map((column) => column[i]).join(','));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes the run folder: description, resolved config, statistics, the model (all weights as
 * safetensors, plus a Hugging Face folder per BERT encoder), predictions and plots. Every file
 * is written atomically, so an interrupted write never leaves a truncated file.
 */
export async function writeRunResults(results: RunResults): Promise<void> {
  const { runDirectory, config, outputs } = results;
  const modelDirectory = path.join(runDirectory, 'model');
  const plotsDirectory = path.join(runDirectory, 'plots');
  await mkdir(modelDirectory, { recursive: true });
  await mkdir(plotsDirectory, { recursive: true });

  await writeJsonAtomic(path.join(runDirectory, 'description.json'), { ...results.description, config, finished: new Date().toISOString() });
  await writeJsonAtomic(path.join(runDirectory, 'training_statistics.json'), { ...results.statistics, evaluation_steps: results.evaluationSteps });
  await writeJsonAtomic(path.join(runDirectory, 'test_statistics.json'), results.finalMetrics);
  await writeJsonAtomic(path.join(modelDirectory, 'model_hyperparameters.json'), config);
  await writeJsonAtomic(path.join(modelDirectory, 'training_set_metadata.json'), metadataJson(results.metadata));

  // The model: every weight in one file, and each BERT encoder as a folder transformers can load.
  const weights = await results.model.exportWeights();
  await writeSafetensors(path.join(modelDirectory, 'model.safetensors'), weights, { format: 'pt', producer: 'ft' });
  for (const text of results.textInputs) {
    const encoderDirectory = path.join(modelDirectory, 'encoders', text.name);
    await mkdir(encoderDirectory, { recursive: true });
    if (text.encoder.type === 'bert') {
      const trained = encoderWeights(weights, text.name);
      const saved = Object.keys(trained).length > 0 ? trained : text.encoder.weights;
      if (saved !== null) {
        await saveBertCheckpoint(encoderDirectory, text.encoder.architecture, saved);
      }
      const present = new Set(await readdir(text.sourceDirectory));
      for (const file of TOKENIZER_FILES.filter((name) => present.has(name))) {
        await copyFile(path.join(text.sourceDirectory, file), path.join(encoderDirectory, file));
      }
    } else {
      await writeJsonAtomic(path.join(encoderDirectory, 'encoder.json'), { type: text.encoder.type, model_directory: text.encoder.modelDirectory, trainable: false });
    }
  }

  for (const [split, predictions] of Object.entries(results.predictions)) {
    await writeFileAtomic(path.join(runDirectory, `${split}_predictions.csv`), predictionsCsv(outputs, results.metadata, predictions));
  }

  // Plots.
  for (const output of outputs) {
    const metrics = ['loss', ...Object.keys(results.finalMetrics.validation?.[output.name] ?? results.finalMetrics.test?.[output.name] ?? {}).filter((name) => name !== 'loss')];
    const curves = learningCurvesSpec(results.statistics, output.name, metrics.slice(0, 3), results.evaluationSteps, results.bestStep);
    if (curves !== null) {
      await writeFileAtomic(path.join(plotsDirectory, `learning_curves_${output.name}.svg`), await renderSvg(curves));
    }
    const meta = results.metadata[output.name];
    const evaluated = results.prepared.test ?? results.prepared.validation;
    const logits = evaluated === null ? undefined : results.predictions[evaluated.split]?.[output.name];
    const target = evaluated?.targets[output.name];
    if (output.kind === 'category' && meta?.type === 'category' && logits !== undefined && target?.kind === 'category') {
      const spec = confusionMatrixSpec(output.name, evaluated!.split, meta.vocabulary, target.indices, argmaxRows(logits, output.numClasses));
      await writeFileAtomic(path.join(plotsDirectory, `confusion_matrix_${output.name}.svg`), await renderSvg(spec));
    }
  }
  if (results.steps.learningRate.length > 0) {
    await writeFileAtomic(path.join(plotsDirectory, 'training_steps.svg'), await renderSvg(trainingStepsSpec(results.steps.learningRate, results.steps.loss)));
  }
}
