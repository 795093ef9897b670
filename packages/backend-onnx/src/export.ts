/**
 * Export of a trained run to one standalone ONNX model that plain ONNX Runtime can run,
 * without ft: the BERT encoders, combiner and heads with their weights stored inside.
 */
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';

import {
  ENCODER_WEIGHT_PREFIX,
  FtError,
  gradientClippingSchema,
  loadBertCheckpoint,
  optimizerSchema,
  readSafetensors,
  type CombinerConfig,
  type InputDescription,
  type ModelDescription,
  type OutputDescription,
} from '@ft/core';

import { buildModelGraph, exportedInputName } from './model/model-graph.js';

/** Tokenizer files copied next to the exported model, the same set that `ft train` saves. */
const TOKENIZER_FILES = ['vocab.txt', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json'];

/** Inputs and outputs of an exported model, also written to `ft_export.json`. */
export interface OnnxExportSummary {
  readonly modelPath: string;
  /** Graph inputs with their element type and meaning. */
  readonly inputs: readonly { readonly name: string; readonly dtype: 'int64' | 'float32'; readonly description: string }[];
  /** Graph outputs; `labels` gives the class of each probability column of a category output. */
  readonly outputs: readonly { readonly name: string; readonly description: string; readonly labels?: readonly string[] }[];
}

interface RunConfig {
  readonly input_features: readonly { name: string; type: string; encoder?: { type: string; reduce_output?: 'cls_pooled' | 'mean' } }[];
  readonly output_features: readonly { name: string; type: string }[];
  readonly combiner: CombinerConfig;
}

type Metadata = Record<string, { type: string; vocabulary?: string[]; normalization?: 'zscore' | 'minmax' | null; mean?: number; std?: number; min?: number; max?: number }>;

async function readJson<T>(file: string): Promise<T> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as T;
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'is missing' : `could not be read: ${(error as Error).message}`;
    throw new FtError('FILE_NOT_FOUND', `${file} ${reason}. Pass the run folder that \`ft train\` wrote, the one that contains model/.`, { cause: error });
  }
}

/**
 * Writes `<outputDirectory>/model.onnx` from the run folder `runDirectory`, plus the tokenizer
 * files of its BERT inputs and `ft_export.json`, and returns what the model reads and returns.
 *
 * Each BERT text input becomes `<name>_input_ids` and `<name>_attention_mask` (int64
 * `[batch, sequence]`). A Universal Sentence Encoder input becomes `<name>` (float32
 * `[batch, 512]`) and takes the encoder's embeddings. A category input becomes `<name>` (int64
 * `[batch]`, the index into the training vocabulary), and a number input `<name>` (float32 `[batch]`).
 */
export async function exportOnnxModel(runDirectory: string, outputDirectory: string): Promise<OnnxExportSummary> {
  const modelDirectory = path.join(runDirectory, 'model');
  const config = await readJson<RunConfig>(path.join(modelDirectory, 'model_hyperparameters.json'));
  const metadata = await readJson<Metadata>(path.join(modelDirectory, 'training_set_metadata.json'));
  const stored = await readSafetensors(path.join(modelDirectory, 'model.safetensors'));

  const constantWeights = new Map<string, { shape: readonly number[]; data: Float32Array }>();
  for (const [name, array] of Object.entries(stored)) {
    if (!name.startsWith(ENCODER_WEIGHT_PREFIX) && array.dtype === 'float32') {
      constantWeights.set(name, { shape: array.shape, data: array.data });
    }
  }

  await mkdir(outputDirectory, { recursive: true });
  const textInputs = config.input_features.filter((feature) => feature.type === 'text').length;
  const numberInputUnits = new Map<string, { scale: number; offset: number }>();
  const summaryInputs: OnnxExportSummary['inputs'][number][] = [];
  const inputs: InputDescription[] = [];
  for (const feature of config.input_features) {
    const meta = metadata[feature.name];
    if (feature.type === 'text') {
      const encoderDirectory = path.join(modelDirectory, 'encoders', feature.name);
      if (feature.encoder?.type !== 'bert') {
        inputs.push({ name: feature.name, kind: 'embedding', size: 512 });
        summaryInputs.push({ name: exportedInputName(feature.name), dtype: 'float32', description: 'Universal Sentence Encoder embeddings, [batch, 512]' });
        continue;
      }
      const checkpoint = await loadBertCheckpoint(encoderDirectory);
      if (checkpoint.weights === null) {
        throw new FtError('CHECKPOINT_INVALID', `${encoderDirectory} has no BERT weights. Export a run whose model/encoders/${feature.name}/ contains model.safetensors.`);
      }
      for (const [name, array] of Object.entries(checkpoint.weights)) {
        constantWeights.set(`${ENCODER_WEIGHT_PREFIX}${feature.name}.${name}`, { shape: array.shape, data: array.data as Float32Array });
      }
      inputs.push({
        name: feature.name,
        kind: 'text',
        encoder: { type: 'bert', architecture: checkpoint.architecture, weights: null, trainable: true, reduceOutput: feature.encoder.reduce_output ?? 'cls_pooled' },
      });
      summaryInputs.push(
        { name: exportedInputName(feature.name, 'input_ids'), dtype: 'int64', description: 'token ids, [batch, sequence]' },
        { name: exportedInputName(feature.name, 'attention_mask'), dtype: 'int64', description: '1 for tokens, 0 for padding, [batch, sequence]' },
      );
      await copyTokenizerFiles(encoderDirectory, textInputs === 1 ? outputDirectory : path.join(outputDirectory, feature.name));
    } else if (meta?.type === 'category') {
      inputs.push({ name: feature.name, kind: 'category', vocabularySize: meta.vocabulary!.length });
      summaryInputs.push({ name: feature.name, dtype: 'int64', description: `index into the training vocabulary (0 is ${meta.vocabulary![0]}), [batch]` });
    } else {
      inputs.push({ name: feature.name, kind: 'number' });
      numberInputUnits.set(feature.name, numberUnits(meta));
      summaryInputs.push({ name: feature.name, dtype: 'float32', description: `value after the training normalization (${meta?.normalization ?? 'none'}), [batch]` });
    }
  }

  const outputs: OutputDescription[] = [];
  const summaryOutputs: OnnxExportSummary['outputs'][number][] = [];
  const numberOutputUnits = new Map<string, { scale: number; offset: number }>();
  for (const feature of config.output_features) {
    const meta = metadata[feature.name];
    if (feature.type === 'category') {
      const labels = meta?.vocabulary ?? [];
      outputs.push({ name: feature.name, kind: 'category', numClasses: labels.length, lossWeight: 1, classWeights: null });
      summaryOutputs.push({ name: `${feature.name}_probabilities`, description: 'class probabilities, [batch, classes]', labels });
    } else if (feature.type === 'binary') {
      outputs.push({ name: feature.name, kind: 'binary', lossWeight: 1, positiveClassWeight: null });
      summaryOutputs.push({ name: `${feature.name}_probability`, description: 'probability of true, [batch, 1]' });
    } else {
      outputs.push({ name: feature.name, kind: 'number', lossWeight: 1, loss: 'mean_squared_error' });
      numberOutputUnits.set(feature.name, numberUnits(meta));
      summaryOutputs.push({ name: `${feature.name}_predictions`, description: 'predicted value in column units, [batch, 1]' });
    }
  }

  // The optimizer and clipping settings only shape training graphs; predict ignores them.
  const description: ModelDescription = {
    inputs,
    combiner: config.combiner,
    outputs,
    optimizer: optimizerSchema.parse({ type: 'sgd' }),
    gradientClipping: gradientClippingSchema.parse({}),
    seed: 0,
    mixedPrecision: false,
  };
  const { bytes } = buildModelGraph({ description, weightShapes: new Map(), frozenTextWidths: new Map(), constantWeights, numberOutputUnits, numberInputUnits }, 'predict');
  const modelPath = path.join(outputDirectory, 'model.onnx');
  await writeFile(modelPath, bytes);

  const summary: OnnxExportSummary = { modelPath, inputs: summaryInputs, outputs: summaryOutputs };
  await writeFile(path.join(outputDirectory, 'ft_export.json'), `${JSON.stringify({ inputs: summary.inputs, outputs: summary.outputs }, null, 2)}\n`);
  return summary;
}

function numberUnits(meta: Metadata[string] | undefined): { scale: number; offset: number } {
  if (meta?.normalization === 'zscore') {
    return { scale: meta.std!, offset: meta.mean! };
  }
  if (meta?.normalization === 'minmax') {
    return { scale: meta.max! - meta.min!, offset: meta.min! };
  }
  return { scale: 1, offset: 0 };
}

async function copyTokenizerFiles(from: string, to: string): Promise<void> {
  await mkdir(to, { recursive: true });
  const present = new Set(await readdir(from));
  for (const file of TOKENIZER_FILES.filter((name) => present.has(name))) {
    await copyFile(path.join(from, file), path.join(to, file));
  }
}
