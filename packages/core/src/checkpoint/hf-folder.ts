/**
 * BERT checkpoints in the folder layout of Hugging Face transformers: `config.json` plus
 * `model.safetensors`, or `model.safetensors.index.json` with its shards.
 */
import { mkdir, readdir, readFile, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';

import { z } from 'zod';

import { FtError } from '../errors.js';
import type { NamedArray, NamedArrays } from '../tensors/named-arrays.js';
import { writeFileAtomic } from '../io/atomic-write.js';
import { BERT_BASE_ARCHITECTURE, type BertArchitecture } from './bert-config.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export interface BertCheckpoint {
  readonly folder: string;
  readonly architecture: BertArchitecture;
  /** BertModel weights with Hugging Face names without the `bert.` prefix; null when not loaded. */
  readonly weights: NamedArrays | null;
  /** Tensors of the files that are not BertModel weights (heads such as `cls.*` or `classifier.*`, buffers), which were dropped. */
  readonly ignoredWeightNames: readonly string[];
}

export interface LoadBertCheckpointOptions {
  /** Reads the weight files; with false only `config.json` is read. Defaults to true. */
  readonly loadWeights?: boolean;
}

const CONFIG_FILE = 'config.json';
const SAFETENSORS_FILE = 'model.safetensors';
const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** Weight files of other frameworks, which ft recognizes only to explain how to convert them. */
const PICKLE_WEIGHT_FILE = /^(pytorch_model.*\.bin|.*\.pt|.*\.pth|.*\.ckpt)$/;
const OTHER_FRAMEWORK_WEIGHT_FILE = /^(tf_model\.h5|flax_model\.msgpack)$/;

const SUPPORTED_HIDDEN_ACTIVATIONS = ['gelu', 'gelu_new', 'relu'] as const;

const positiveInteger = z.number().int().positive();
const probability = z.number().min(0).max(1);

/** The keys of a BERT `config.json` that ft reads; other keys are ignored. */
const bertConfigSchema = z.looseObject({
  model_type: z.string().optional(),
  vocab_size: positiveInteger.optional(),
  hidden_size: positiveInteger.optional(),
  num_hidden_layers: positiveInteger.optional(),
  num_attention_heads: positiveInteger.optional(),
  intermediate_size: positiveInteger.optional(),
  hidden_act: z.enum(SUPPORTED_HIDDEN_ACTIVATIONS).optional(),
  hidden_dropout_prob: probability.optional(),
  attention_probs_dropout_prob: probability.optional(),
  max_position_embeddings: positiveInteger.optional(),
  type_vocab_size: positiveInteger.optional(),
  initializer_range: z.number().positive().optional(),
  layer_norm_eps: z.number().positive().optional(),
  pad_token_id: z.number().int().nonnegative().nullish(),
  position_embedding_type: z.string().nullish(),
  is_decoder: z.boolean().nullish(),
});

/**
 * Loads a BERT checkpoint folder saved by Hugging Face transformers or by `saveBertCheckpoint`.
 *
 * `config.json` is merged over the bert-base-uncased defaults. Weight names are normalized to
 * BertModel names: the `bert.` prefix of task models is removed, heads and buffers are dropped
 * (listed in `ignoredWeightNames`), and `LayerNorm.gamma`/`beta` become `weight`/`bias`.
 * Throws when a BertModel weight is missing, has the wrong shape, or is not expected by the config.
 */
export async function loadBertCheckpoint(folder: string, options: LoadBertCheckpointOptions = {}): Promise<BertCheckpoint> {
  const files = await listFolder(folder);

  const configPath = join(folder, CONFIG_FILE);
  if (!files.includes(CONFIG_FILE)) {
    throw new FtError('FILE_NOT_FOUND', `${configPath} not found; a BERT checkpoint folder needs the config.json that transformers writes with save_pretrained.`);
  }
  const architecture = parseBertConfig(await readJson(configPath), configPath);

  if (options.loadWeights === false) {
    return { folder, architecture, weights: null, ignoredWeightNames: [] };
  }

  const { tensors, source } = await readWeightFiles(folder, files);
  const { weights, ignoredWeightNames } = normalizeBertWeightNames(tensors, source);
  checkBertWeights(weights, architecture, source);
  return { folder, architecture, weights, ignoredWeightNames };
}

/**
 * Saves a BERT encoder as `config.json` and `model.safetensors` in the layout that
 * `BertModel.from_pretrained(folder)` of transformers loads. Each file is written atomically.
 */
export async function saveBertCheckpoint(folder: string, architecture: BertArchitecture, weights: NamedArrays): Promise<void> {
  const checkedArchitecture = parseBertConfig({ ...architecture }, 'saveBertCheckpoint architecture');
  checkBertWeights(weights, checkedArchitecture, 'saveBertCheckpoint weights');

  await mkdir(folder, { recursive: true });

  // transformers' load_state_dict raises unless the metadata "format" is one of its frameworks, such as "pt".
  await writeSafetensors(join(folder, SAFETENSORS_FILE), weights, { format: 'pt' });

  const config = {
    architectures: ['BertModel'],
    model_type: 'bert',
    ...checkedArchitecture,
    position_embedding_type: 'absolute',
  };
  await writeFileAtomic(join(folder, CONFIG_FILE), [Buffer.from(JSON.stringify(config, null, 2) + '\n', 'utf8')]);
}

/** Returns the shape of every BertModel weight, with Hugging Face names; Linear weights are `[out, in]` like torch. */
export function expectedBertWeightShapes(architecture: BertArchitecture): Record<string, number[]> {
  const hidden = architecture.hidden_size;
  const intermediate = architecture.intermediate_size;
  const shapes: Record<string, number[]> = {
    'embeddings.word_embeddings.weight': [architecture.vocab_size, hidden],
    'embeddings.position_embeddings.weight': [architecture.max_position_embeddings, hidden],
    'embeddings.token_type_embeddings.weight': [architecture.type_vocab_size, hidden],
    'embeddings.LayerNorm.weight': [hidden],
    'embeddings.LayerNorm.bias': [hidden],
  };

  for (let layer = 0; layer < architecture.num_hidden_layers; layer++) {
    const prefix = `encoder.layer.${layer}`;
    for (const projection of ['query', 'key', 'value']) {
      shapes[`${prefix}.attention.self.${projection}.weight`] = [hidden, hidden];
      shapes[`${prefix}.attention.self.${projection}.bias`] = [hidden];
    }
    shapes[`${prefix}.attention.output.dense.weight`] = [hidden, hidden];
    shapes[`${prefix}.attention.output.dense.bias`] = [hidden];
    shapes[`${prefix}.attention.output.LayerNorm.weight`] = [hidden];
    shapes[`${prefix}.attention.output.LayerNorm.bias`] = [hidden];
    shapes[`${prefix}.intermediate.dense.weight`] = [intermediate, hidden];
    shapes[`${prefix}.intermediate.dense.bias`] = [intermediate];
    shapes[`${prefix}.output.dense.weight`] = [hidden, intermediate];
    shapes[`${prefix}.output.dense.bias`] = [hidden];
    shapes[`${prefix}.output.LayerNorm.weight`] = [hidden];
    shapes[`${prefix}.output.LayerNorm.bias`] = [hidden];
  }

  shapes['pooler.dense.weight'] = [hidden, hidden];
  shapes['pooler.dense.bias'] = [hidden];
  return shapes;
}

/**
 * Validates a parsed `config.json` and merges it over `BERT_BASE_ARCHITECTURE`.
 * `source` names the file in error messages.
 */
export function parseBertConfig(config: unknown, source: string): BertArchitecture {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: expected a JSON object.`);
  }
  const raw = config as Record<string, unknown>;

  if (raw.model_type !== undefined && raw.model_type !== 'bert') {
    throw new FtError('UNSUPPORTED', 
      `${source}: model_type is ${JSON.stringify(raw.model_type)}, but ft loads only BERT checkpoints (model_type "bert"). ` +
        'RoBERTa, DistilBERT, ELECTRA and other variants differ in weights or embeddings.',
    );
  }

  const result = bertConfigSchema.safeParse(raw);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const key = issue.path.join('.');
      return `${key} is ${JSON.stringify(raw[key])} (${issue.message})`;
    });
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid BERT config: ${problems.join('; ')}.`);
  }

  const parsed = result.data;
  // transformers reads a null position_embedding_type as "absolute".
  if (parsed.position_embedding_type != null && parsed.position_embedding_type !== 'absolute') {
    throw new FtError('UNSUPPORTED', `${source}: position_embedding_type is ${JSON.stringify(parsed.position_embedding_type)}; ft supports only "absolute".`);
  }
  if (parsed.is_decoder === true) {
    throw new FtError('UNSUPPORTED', `${source}: is_decoder is true; ft loads BERT only as a bidirectional encoder.`);
  }

  const architecture: BertArchitecture = {
    vocab_size: parsed.vocab_size ?? BERT_BASE_ARCHITECTURE.vocab_size,
    hidden_size: parsed.hidden_size ?? BERT_BASE_ARCHITECTURE.hidden_size,
    num_hidden_layers: parsed.num_hidden_layers ?? BERT_BASE_ARCHITECTURE.num_hidden_layers,
    num_attention_heads: parsed.num_attention_heads ?? BERT_BASE_ARCHITECTURE.num_attention_heads,
    intermediate_size: parsed.intermediate_size ?? BERT_BASE_ARCHITECTURE.intermediate_size,
    hidden_act: parsed.hidden_act ?? BERT_BASE_ARCHITECTURE.hidden_act,
    hidden_dropout_prob: parsed.hidden_dropout_prob ?? BERT_BASE_ARCHITECTURE.hidden_dropout_prob,
    attention_probs_dropout_prob: parsed.attention_probs_dropout_prob ?? BERT_BASE_ARCHITECTURE.attention_probs_dropout_prob,
    max_position_embeddings: parsed.max_position_embeddings ?? BERT_BASE_ARCHITECTURE.max_position_embeddings,
    type_vocab_size: parsed.type_vocab_size ?? BERT_BASE_ARCHITECTURE.type_vocab_size,
    initializer_range: parsed.initializer_range ?? BERT_BASE_ARCHITECTURE.initializer_range,
    layer_norm_eps: parsed.layer_norm_eps ?? BERT_BASE_ARCHITECTURE.layer_norm_eps,
    pad_token_id: parsed.pad_token_id ?? BERT_BASE_ARCHITECTURE.pad_token_id,
  };

  if (architecture.hidden_size % architecture.num_attention_heads !== 0) {
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: hidden_size ${architecture.hidden_size} is not a multiple of num_attention_heads ${architecture.num_attention_heads}.`,
    );
  }
  return architecture;
}

/**
 * Renames checkpoint tensors to BertModel names and drops the rest.
 * Throws when two tensors map to one name, for example `bert.pooler.dense.weight` and `pooler.dense.weight`.
 */
export function normalizeBertWeightNames(
  tensors: NamedArrays,
  source: string,
): { weights: NamedArrays; ignoredWeightNames: string[] } {
  const weights: NamedArrays = {};
  const originalNames = new Map<string, string>();
  const ignoredWeightNames: string[] = [];

  for (const [name, array] of Object.entries(tensors)) {
    const normalized = normalizeBertWeightName(name);
    if (normalized === null) {
      ignoredWeightNames.push(name);
      continue;
    }

    const previous = originalNames.get(normalized);
    if (previous !== undefined) {
      throw new FtError('CHECKPOINT_INVALID', `${source}: tensors "${previous}" and "${name}" both map to the BertModel weight "${normalized}".`);
    }
    originalNames.set(normalized, name);
    weights[normalized] = array;
  }
  return { weights, ignoredWeightNames: ignoredWeightNames.sort() };
}

/** Throws one error listing every missing, unexpected, wrong-shaped or non-float32 BertModel weight. */
export function checkBertWeights(weights: NamedArrays, architecture: BertArchitecture, source: string): void {
  const expected = expectedBertWeightShapes(architecture);
  const problems: string[] = [];

  for (const [name, shape] of Object.entries(expected)) {
    const array = weights[name];
    if (array === undefined) {
      problems.push(`missing ${name}, expected shape [${shape.join(', ')}]`);
    } else if (!sameShape(array, shape)) {
      problems.push(`${name} has shape [${array.shape.join(', ')}], expected [${shape.join(', ')}]`);
    } else if (array.dtype !== 'float32') {
      problems.push(`${name} has dtype ${array.dtype}, expected float32`);
    }
  }
  for (const [name, array] of Object.entries(weights)) {
    if (!(name in expected)) {
      problems.push(`unexpected ${name} with shape [${array.shape.join(', ')}]`);
    }
  }

  if (problems.length > 0) {
    const summary =
      `hidden_size=${architecture.hidden_size}, num_hidden_layers=${architecture.num_hidden_layers}, ` +
      `intermediate_size=${architecture.intermediate_size}, vocab_size=${architecture.vocab_size}, ` +
      `max_position_embeddings=${architecture.max_position_embeddings}, type_vocab_size=${architecture.type_vocab_size}`;
    throw new FtError('CHECKPOINT_INVALID', 
      `${source}: the weights do not match the BERT architecture (${summary}). ` +
        `Check that config.json belongs to these weights.\n  ${problems.join('\n  ')}`,
    );
  }
}

function normalizeBertWeightName(name: string): string | null {
  const withoutPrefix = name.startsWith('bert.') ? name.slice('bert.'.length) : name;

  // Task heads (cls.*, classifier.*, qa_outputs.*, ...) are not part of BertModel.
  if (!/^(embeddings|encoder|pooler)\./.test(withoutPrefix)) {
    return null;
  }

  // Buffers that transformers registers for convenience, not weights.
  if (withoutPrefix === 'embeddings.position_ids' || withoutPrefix === 'embeddings.token_type_ids') {
    return null;
  }

  // Checkpoints converted from the original TensorFlow code name the LayerNorm parameters gamma and beta.
  return withoutPrefix.replace(/\.LayerNorm\.gamma$/, '.LayerNorm.weight').replace(/\.LayerNorm\.beta$/, '.LayerNorm.bias');
}

function sameShape(array: NamedArray, shape: readonly number[]): boolean {
  return array.shape.length === shape.length && array.shape.every((dimension, index) => dimension === shape[index]);
}

async function listFolder(folder: string): Promise<string[]> {
  const info = await stat(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') {
      throw new FtError('FILE_NOT_FOUND', `Checkpoint folder not found: ${folder}`);
    }
    throw error;
  });
  if (!info.isDirectory()) {
    throw new FtError('FILE_NOT_FOUND', `${folder} is not a folder; pass the checkpoint folder that contains config.json.`);
  }
  return readdir(folder);
}

/** Reads `model.safetensors`, or the shards listed in `model.safetensors.index.json`. */
async function readWeightFiles(folder: string, files: readonly string[]): Promise<{ tensors: NamedArrays; source: string }> {
  if (files.includes(SAFETENSORS_FILE)) {
    const path = join(folder, SAFETENSORS_FILE);
    return { tensors: await readSafetensors(path), source: path };
  }
  if (files.includes(SAFETENSORS_INDEX_FILE)) {
    const indexPath = join(folder, SAFETENSORS_INDEX_FILE);
    return { tensors: await readShards(folder, indexPath), source: indexPath };
  }

  const pickleFiles = files.filter((file) => PICKLE_WEIGHT_FILE.test(file));
  if (pickleFiles.length > 0) {
    throw new FtError('UNSUPPORTED', 
      `${folder} has PyTorch pickle weights (${pickleFiles.join(', ')}) but no ${SAFETENSORS_FILE}. ` +
        'ft does not read PyTorch pickle files. Convert the checkpoint to safetensors with transformers, for example ' +
        '`model = AutoModel.from_pretrained(dir); model.save_pretrained(dir, safe_serialization=True)`.',
    );
  }
  const otherFiles = files.filter((file) => OTHER_FRAMEWORK_WEIGHT_FILE.test(file));
  if (otherFiles.length > 0) {
    throw new FtError('UNSUPPORTED', 
      `${folder} has weights in ${otherFiles.join(', ')} but no ${SAFETENSORS_FILE}. ft reads only safetensors. ` +
        'Load the model with transformers and save it with `model.save_pretrained(dir, safe_serialization=True)`.',
    );
  }
  throw new FtError('FILE_NOT_FOUND', `${folder} has no weights; expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}.`);
}

async function readShards(folder: string, indexPath: string): Promise<NamedArrays> {
  const index = await readJson(indexPath);
  const weightMap = (index as { weight_map?: unknown }).weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new FtError('CHECKPOINT_INVALID', `${indexPath}: invalid index, expected a "weight_map" object from tensor names to shard files.`);
  }

  const namesByShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== basename(shard) || shard === '.' || shard === '..') {
      throw new FtError('CHECKPOINT_INVALID', `${indexPath}: weight_map entry "${name}" points to ${JSON.stringify(shard)}; expected a file name in the same folder.`);
    }
    namesByShard.set(shard, [...(namesByShard.get(shard) ?? []), name]);
  }

  const tensors: NamedArrays = {};
  for (const [shard, names] of namesByShard) {
    const shardPath = join(folder, shard);
    const shardTensors = await readSafetensors(shardPath);
    for (const name of names) {
      const array = shardTensors[name];
      if (array === undefined) {
        throw new FtError('CHECKPOINT_INVALID', `${indexPath}: weight_map puts "${name}" in ${shard}, but ${shardPath} has no such tensor.`);
      }
      tensors[name] = array;
    }
  }
  return tensors;
}

async function readJson(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw new FtError('CHECKPOINT_INVALID', `${path}: invalid JSON (${(error as Error).message}).`);
  }
}
