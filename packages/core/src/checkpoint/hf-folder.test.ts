import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { float32Array, int32Array, type NamedArrays } from '../tensors/named-arrays.js';
import { createRandomBertWeights, createTinyBertCheckpoint, TINY_BERT_VOCAB } from '../testing/index.js';
import { loadBertTokenizer } from '../text/wordpiece.js';
import { BERT_BASE_ARCHITECTURE, type BertArchitecture } from './bert-config.js';
import { expectedBertWeightShapes, loadBertCheckpoint, parseBertConfig, saveBertCheckpoint } from './hf-folder.js';
import { readSafetensorsWithMetadata, writeSafetensors } from './safetensors.js';

const TINY: BertArchitecture = {
  ...BERT_BASE_ARCHITECTURE,
  vocab_size: 20,
  hidden_size: 8,
  num_hidden_layers: 2,
  num_attention_heads: 2,
  intermediate_size: 16,
  max_position_embeddings: 12,
};

let folder: string;

beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'ft-hf-folder-'));
});

afterEach(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes a config.json with the HF keys of `architecture` and extra keys. */
async function writeConfig(architecture: BertArchitecture, extra: Record<string, unknown> = {}): Promise<void> {
  await writeFile(join(folder, 'config.json'), JSON.stringify({ model_type: 'bert', ...architecture, ...extra }));
}

/** Renames weights as BertForSequenceClassification saves them: `bert.` prefix plus a classifier head. */
function asSequenceClassifier(weights: NamedArrays): NamedArrays {
  const renamed: NamedArrays = Object.fromEntries(Object.entries(weights).map(([name, array]) => [`bert.${name}`, array]));
  renamed['classifier.weight'] = float32Array(new Float32Array(2 * TINY.hidden_size), [2, TINY.hidden_size]);
  renamed['classifier.bias'] = float32Array(new Float32Array(2), [2]);
  renamed['bert.embeddings.position_ids'] = int32Array(Int32Array.from({ length: 12 }, (_, index) => index), [1, 12]);
  return renamed;
}

describe('expectedBertWeightShapes', () => {
  it('lists the BertModel weights of bert-base', () => {
    const shapes = expectedBertWeightShapes(BERT_BASE_ARCHITECTURE);

    expect(Object.keys(shapes)).toHaveLength(5 + 12 * 16 + 2);
    expect(shapes['embeddings.word_embeddings.weight']).toEqual([30522, 768]);
    expect(shapes['embeddings.position_embeddings.weight']).toEqual([512, 768]);
    expect(shapes['embeddings.token_type_embeddings.weight']).toEqual([2, 768]);
    expect(shapes['encoder.layer.11.attention.self.query.weight']).toEqual([768, 768]);
    expect(shapes['encoder.layer.0.intermediate.dense.weight']).toEqual([3072, 768]);
    expect(shapes['encoder.layer.0.output.dense.weight']).toEqual([768, 3072]);
    expect(shapes['encoder.layer.0.output.LayerNorm.bias']).toEqual([768]);
    expect(shapes['pooler.dense.weight']).toEqual([768, 768]);
  });

  it('counts the parameters of bert-base-uncased', () => {
    const total = Object.values(expectedBertWeightShapes(BERT_BASE_ARCHITECTURE)).reduce(
      (sum, shape) => sum + shape.reduce((product, dimension) => product * dimension, 1),
      0,
    );
    // BertModel.from_pretrained('bert-base-uncased').num_parameters() in transformers.
    expect(total).toBe(109_482_240);
  });
});

describe('saveBertCheckpoint and loadBertCheckpoint', () => {
  it('round trips the architecture and weights', async () => {
    const weights = createRandomBertWeights(TINY, 7);
    await saveBertCheckpoint(folder, TINY, weights);

    const loaded = await loadBertCheckpoint(folder);
    expect(loaded.folder).toBe(folder);
    expect(loaded.architecture).toEqual(TINY);
    expect(Object.keys(loaded.weights ?? {}).sort()).toEqual(Object.keys(weights).sort());
    for (const [name, array] of Object.entries(weights)) {
      expect(loaded.weights?.[name]?.shape).toEqual(array.shape);
      expect(loaded.weights?.[name]?.data).toEqual(array.data);
    }
    expect(loaded.ignoredWeightNames).toEqual([]);
  });

  it('writes the config.json and metadata that transformers expects', async () => {
    await saveBertCheckpoint(folder, TINY, createRandomBertWeights(TINY, 1));

    const config = JSON.parse(await readFile(join(folder, 'config.json'), 'utf8')) as Record<string, unknown>;
    expect(config.model_type).toBe('bert');
    expect(config.architectures).toEqual(['BertModel']);
    expect(config.hidden_size).toBe(8);
    expect(config.layer_norm_eps).toBe(1e-12);
    expect(config.position_embedding_type).toBe('absolute');

    const { metadata } = await readSafetensorsWithMetadata(join(folder, 'model.safetensors'));
    expect(metadata).toEqual({ format: 'pt' });
    expect((await readdir(folder)).sort()).toEqual(['config.json', 'model.safetensors']);
  });

  it('rejects weights that do not match the architecture before writing', async () => {
    const weights = createRandomBertWeights(TINY, 1);
    delete weights['pooler.dense.bias'];

    await expect(saveBertCheckpoint(join(folder, 'out'), TINY, weights)).rejects.toThrow(/missing pooler\.dense\.bias, expected shape \[8\]/);
    expect(await readdir(folder)).toEqual([]);
  });

  it('loads only config.json without weights', async () => {
    await writeConfig(TINY);

    const loaded = await loadBertCheckpoint(folder, { loadWeights: false });
    expect(loaded.weights).toBeNull();
    expect(loaded.architecture.hidden_size).toBe(8);
  });
});

describe('loadBertCheckpoint name normalization', () => {
  it('strips bert. and drops heads and buffers', async () => {
    const weights = createRandomBertWeights(TINY, 3);
    await writeConfig(TINY, { architectures: ['BertForSequenceClassification'] });
    await writeSafetensors(join(folder, 'model.safetensors'), asSequenceClassifier(weights), { format: 'pt' });

    const loaded = await loadBertCheckpoint(folder);
    expect(Object.keys(loaded.weights ?? {}).sort()).toEqual(Object.keys(weights).sort());
    expect(loaded.weights?.['encoder.layer.1.output.dense.weight']?.data).toEqual(weights['encoder.layer.1.output.dense.weight']?.data);
    expect(loaded.ignoredWeightNames).toEqual(['bert.embeddings.position_ids', 'classifier.bias', 'classifier.weight']);
  });

  it('maps LayerNorm gamma and beta to weight and bias', async () => {
    const weights = createRandomBertWeights(TINY, 4);
    const renamed: NamedArrays = {};
    for (const [name, array] of Object.entries(weights)) {
      renamed[`bert.${name.replace(/LayerNorm\.weight$/, 'LayerNorm.gamma').replace(/LayerNorm\.bias$/, 'LayerNorm.beta')}`] = array;
    }
    renamed['cls.predictions.transform.LayerNorm.gamma'] = float32Array(new Float32Array(8), [8]);
    await writeConfig(TINY);
    await writeSafetensors(join(folder, 'model.safetensors'), renamed);

    const loaded = await loadBertCheckpoint(folder);
    expect(loaded.weights?.['embeddings.LayerNorm.weight']?.data).toEqual(weights['embeddings.LayerNorm.weight']?.data);
    expect(loaded.weights?.['encoder.layer.0.output.LayerNorm.bias']?.data).toEqual(weights['encoder.layer.0.output.LayerNorm.bias']?.data);
    expect(loaded.ignoredWeightNames).toEqual(['cls.predictions.transform.LayerNorm.gamma']);
  });

  it('rejects two tensors with the same BertModel name', async () => {
    const weights = createRandomBertWeights(TINY, 5);
    await writeConfig(TINY);
    await writeSafetensors(join(folder, 'model.safetensors'), { ...weights, 'bert.pooler.dense.bias': float32Array(new Float32Array(8), [8]) });

    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/tensors "bert\.pooler\.dense\.bias" and "pooler\.dense\.bias" both map to the BertModel weight "pooler\.dense\.bias"/);
  });

  it('reads sharded safetensors through the index', async () => {
    const weights = asSequenceClassifier(createRandomBertWeights(TINY, 6));
    const names = Object.keys(weights).sort();
    const shards = [names.slice(0, 20), names.slice(20)];
    const weightMap: Record<string, string> = {};
    for (const [index, shardNames] of shards.entries()) {
      const file = `model-0000${index + 1}-of-00002.safetensors`;
      await writeSafetensors(join(folder, file), Object.fromEntries(shardNames.map((name) => [name, weights[name]!])), { format: 'pt' });
      for (const name of shardNames) weightMap[name] = file;
    }
    await writeFile(join(folder, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: 0 }, weight_map: weightMap }));
    await writeConfig(TINY);

    const loaded = await loadBertCheckpoint(folder);
    expect(Object.keys(loaded.weights ?? {})).toHaveLength(Object.keys(expectedBertWeightShapes(TINY)).length);
    expect(loaded.weights?.['embeddings.word_embeddings.weight']?.data).toEqual(weights['bert.embeddings.word_embeddings.weight']?.data);
  });

  it('names a tensor missing from its shard', async () => {
    await writeConfig(TINY);
    await writeSafetensors(join(folder, 'shard.safetensors'), { other: float32Array(new Float32Array(1), [1]) });
    await writeFile(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { 'bert.pooler.dense.bias': 'shard.safetensors' } }));

    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/weight_map puts "bert\.pooler\.dense\.bias" in shard\.safetensors, but .*shard\.safetensors has no such tensor/);
  });

  it('rejects a shard path outside the folder', async () => {
    await writeConfig(TINY);
    await writeFile(join(folder, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { x: '../elsewhere.safetensors' } }));

    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/weight_map entry "x" points to "\.\.\/elsewhere\.safetensors"; expected a file name in the same folder/);
  });
});

describe('loadBertCheckpoint errors', () => {
  it('names a missing folder', async () => {
    const missing = join(folder, 'absent');
    await expect(loadBertCheckpoint(missing)).rejects.toThrow(`Checkpoint folder not found: ${missing}`);
    await expect(loadBertCheckpoint(missing)).rejects.toMatchObject({ code: 'FILE_NOT_FOUND' });
  });

  it('names a missing config.json', async () => {
    await expect(loadBertCheckpoint(folder)).rejects.toThrow(`${join(folder, 'config.json')} not found`);
  });

  it('rejects a model type other than bert', async () => {
    await writeFile(join(folder, 'config.json'), JSON.stringify({ model_type: 'roberta' }));
    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/config\.json: model_type is "roberta", but ft loads only BERT checkpoints/);
  });

  it('accepts a config without model_type', async () => {
    await writeFile(join(folder, 'config.json'), JSON.stringify({ hidden_size: 64, num_attention_heads: 4 }));

    const { architecture } = await loadBertCheckpoint(folder, { loadWeights: false });
    expect(architecture).toEqual({ ...BERT_BASE_ARCHITECTURE, hidden_size: 64, num_attention_heads: 4 });
  });

  it('names invalid config values', () => {
    expect(() => parseBertConfig({ hidden_size: 'big', hidden_act: 'silu' }, 'config.json')).toThrow(
      /config\.json: invalid BERT config: hidden_size is "big" .*; hidden_act is "silu"/,
    );
    expect(() => parseBertConfig({ hidden_size: 10, num_attention_heads: 4 }, 'config.json')).toThrow(
      /hidden_size 10 is not a multiple of num_attention_heads 4/,
    );
    expect(() => parseBertConfig({ position_embedding_type: 'relative_key' }, 'config.json')).toThrow(/supports only "absolute"/);
    expect(parseBertConfig({ position_embedding_type: null, pad_token_id: null }, 'config.json')).toEqual(BERT_BASE_ARCHITECTURE);
  });

  it('explains how to convert PyTorch pickle files', async () => {
    await writeConfig(TINY);
    await writeFile(join(folder, 'pytorch_model.bin'), 'not read');

    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/PyTorch pickle weights \(pytorch_model\.bin\).*ft does not read PyTorch pickle files.*save_pretrained\(dir, safe_serialization=True\)/);
    await expect(loadBertCheckpoint(folder)).rejects.toMatchObject({ code: 'UNSUPPORTED' });
  });

  it('explains how to convert a .ckpt file', async () => {
    await writeConfig(TINY);
    await writeFile(join(folder, 'last.ckpt'), 'not read');

    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/PyTorch pickle weights \(last\.ckpt\)/);
  });

  it('names a folder without weights', async () => {
    await writeConfig(TINY);
    await expect(loadBertCheckpoint(folder)).rejects.toThrow(/has no weights; expected model\.safetensors or model\.safetensors\.index\.json/);
  });

  it('lists missing, wrong-shaped and unexpected weights', async () => {
    const weights = createRandomBertWeights(TINY, 8);
    delete weights['encoder.layer.1.attention.self.key.bias'];
    weights['pooler.dense.weight'] = float32Array(new Float32Array(8 * 4), [8, 4]);
    weights['encoder.layer.2.output.dense.bias'] = float32Array(new Float32Array(8), [8]);
    await writeConfig(TINY);
    await writeSafetensors(join(folder, 'model.safetensors'), weights);

    const error = await loadBertCheckpoint(folder).then(
      () => undefined,
      (caught: Error) => caught,
    );
    expect(error?.message).toMatch(/model\.safetensors: the weights do not match the BERT architecture \(hidden_size=8, num_hidden_layers=2/);
    expect(error?.message).toContain('missing encoder.layer.1.attention.self.key.bias, expected shape [8]');
    expect(error?.message).toContain('pooler.dense.weight has shape [8, 4], expected [8, 8]');
    expect(error?.message).toContain('unexpected encoder.layer.2.output.dense.bias with shape [8]');
    expect(error).toMatchObject({ code: 'CHECKPOINT_INVALID' });
  });
});

describe('createTinyBertCheckpoint', () => {
  it('writes a checkpoint that loads back', async () => {
    const tiny = await createTinyBertCheckpoint(join(folder, 'tiny'), { seed: 42 });

    const loaded = await loadBertCheckpoint(tiny.folder);
    expect(loaded.architecture).toEqual(tiny.architecture);
    expect(loaded.architecture.vocab_size).toBe(TINY_BERT_VOCAB.length);
    expect(loaded.weights?.['encoder.layer.0.attention.self.query.weight']?.data).toEqual(
      tiny.weights['encoder.layer.0.attention.self.query.weight']?.data,
    );
  });

  it('draws weights near N(0, 0.02) and LayerNorm weights near 1', async () => {
    const tiny = await createTinyBertCheckpoint(join(folder, 'tiny'));
    const embedding = [...(tiny.weights['embeddings.word_embeddings.weight']?.data ?? [])];
    const mean = embedding.reduce((sum, value) => sum + value, 0) / embedding.length;
    const deviation = Math.sqrt(embedding.reduce((sum, value) => sum + (value - mean) ** 2, 0) / embedding.length);

    expect(Math.abs(mean)).toBeLessThan(0.002);
    expect(deviation).toBeGreaterThan(0.018);
    expect(deviation).toBeLessThan(0.022);
    const layerNorm = [...(tiny.weights['embeddings.LayerNorm.weight']?.data ?? [])];
    expect(layerNorm.every((value) => Math.abs(value - 1) < 0.1)).toBe(true);
  });

  it('gives the same weights for the same seed', async () => {
    const first = await createTinyBertCheckpoint(join(folder, 'first'), { seed: 3 });
    const second = await createTinyBertCheckpoint(join(folder, 'second'), { seed: 3 });
    const third = await createTinyBertCheckpoint(join(folder, 'third'), { seed: 4 });

    expect(await readFile(join(first.folder, 'model.safetensors'))).toEqual(await readFile(join(second.folder, 'model.safetensors')));
    expect(third.weights['pooler.dense.bias']?.data).not.toEqual(first.weights['pooler.dense.bias']?.data);
  });

  it('applies architecture overrides', async () => {
    const tiny = await createTinyBertCheckpoint(join(folder, 'tiny'), { architecture: { num_hidden_layers: 1, hidden_size: 16, num_attention_heads: 4 } });
    expect(tiny.architecture.num_hidden_layers).toBe(1);
    expect(tiny.weights['encoder.layer.0.attention.self.value.weight']?.shape).toEqual([16, 16]);
    expect(tiny.weights['encoder.layer.1.attention.self.value.weight']).toBeUndefined();
  });

  it('writes a vocabulary whose tokenizers agree', async () => {
    const plain = await createTinyBertCheckpoint(join(folder, 'plain'));
    const withJson = await createTinyBertCheckpoint(join(folder, 'json'), { writeTokenizerJson: true });
    expect(await readdir(withJson.folder)).toContain('tokenizer.json');

    const fromVocab = await loadBertTokenizer(plain.folder);
    const fromJson = await loadBertTokenizer(withJson.folder);
    const texts = ['The movie was GREAT!', 'a boring, dull plot.', 'xyzzy words'];
    expect(fromJson.encodeBatch(texts, 32).ids).toEqual(fromVocab.encodeBatch(texts, 32).ids);
    expect(fromVocab.tokenize('The movie was GREAT!')).toEqual(['[CLS]', 'the', 'movie', 'was', 'great', '!', '[SEP]']);
    expect(fromVocab.tokenize('xyzzy')).toEqual(['[CLS]', 'x', '##y', '##z', '##z', '##y', '[SEP]']);
    expect(fromVocab.vocabSize).toBe(plain.architecture.vocab_size);
  });

  it('creates nested folders', async () => {
    const nested = join(folder, 'a', 'b');
    await createTinyBertCheckpoint(nested);
    expect((await readdir(nested)).sort()).toEqual(['config.json', 'model.safetensors', 'tokenizer_config.json', 'vocab.txt']);
  });
});
