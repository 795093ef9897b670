import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { createRecordingLogger, trainRun } from '@ft/core';
import { createTinyBertCheckpoint } from '@ft/core/testing';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';

import { exportOnnxModel } from '../src/export.js';
import onnxBackend from '../src/index.js';

const POSITIVE = ['good', 'great', 'best', 'fun', 'love', 'brilliant'];
const NEGATIVE = ['bad', 'worst', 'boring', 'dull', 'awful', 'terrible'];

/** Sentences of whole vocabulary words only, so splitting on spaces gives the WordPiece tokens. */
function sentence(row: number): { text: string; label: string } {
  const positive = row % 2 === 0;
  const words = positive ? POSITIVE : NEGATIVE;
  const text = ['the', 'movie', 'was', words[row % 6]!, ...(row % 3 === 0 ? ['and', words[(row + 1) % 6]!] : [])].join(' ');
  return { text, label: positive ? 'pos' : 'neg' };
}

/** Tokenizes as BERT's WordPiece does for text made of whole vocabulary words: [CLS] words [SEP]. */
function tokenize(texts: readonly string[], vocab: readonly string[]): { ids: BigInt64Array; mask: BigInt64Array; length: number } {
  const rows = texts.map((text) => ['[CLS]', ...text.split(' '), '[SEP]'].map((token) => vocab.indexOf(token)));
  const length = Math.max(...rows.map((row) => row.length));
  const ids = new BigInt64Array(texts.length * length);
  const mask = new BigInt64Array(texts.length * length);
  rows.forEach((row, r) => row.forEach((id, position) => {
    expect(id).toBeGreaterThanOrEqual(0);
    ids[r * length + position] = BigInt(id);
    mask[r * length + position] = 1n;
  }));
  return { ids, mask, length };
}

describe('exportOnnxModel', () => {
  it('reproduces test_predictions.csv with plain ONNX Runtime', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-onnx-export-'));
    const checkpoint = await createTinyBertCheckpoint(path.join(folder, 'bert'), { seed: 2 });
    // Of every 6 rows, 4 train, 1 validates and 1 tests (split codes 0, 1 and 2).
    const splitOf = (row: number) => [0, 0, 0, 0, 1, 2][row % 6]!;
    const rows = Array.from({ length: 48 }, (_, row) => ({ ...sentence(row), split: splitOf(row) }));
    const dataset = path.join(folder, 'data.csv');
    await writeFile(dataset, ['text,label,flag,split', ...rows.map((row) => `${row.text},${row.label},${row.label === 'pos'},${row.split}`)].join('\n') + '\n');

    const config = {
      input_features: [{ name: 'text', type: 'text', encoder: { type: 'bert', pretrained_model_name_or_path: checkpoint.folder } }],
      output_features: [
        { name: 'label', type: 'category' },
        { name: 'flag', type: 'binary' },
      ],
      combiner: { num_fc_layers: 1, output_size: 8 },
      trainer: { epochs: 2, batch_size: 8, learning_rate: 0.01 },
      preprocessing: { split: { type: 'fixed' } },
      backend: { type: 'onnx', device: 'cpu' },
    };
    const result = await trainRun({
      config,
      dataset,
      outputDirectory: path.join(folder, 'results'),
      logger: createRecordingLogger(),
      loadBackend: async () => onnxBackend,
      randomSeed: 3,
    });

    const exported = path.join(folder, 'exported');
    const summary = await exportOnnxModel(result.runDirectory, exported);
    expect(summary.inputs.map((input) => input.name)).toEqual(['text_input_ids', 'text_attention_mask']);
    expect(summary.outputs.map((output) => output.name)).toEqual(['label_probabilities', 'flag_probability']);
    expect(await readFile(path.join(exported, 'vocab.txt'), 'utf8')).toContain('[CLS]');

    // From here on only onnxruntime-node and the exported files.
    const testRows = rows.filter((row) => row.split === 2);
    const { ids, mask, length } = tokenize(testRows.map((row) => row.text), checkpoint.vocab);
    const session = await ort.InferenceSession.create(summary.modelPath);
    const outputs = await session.run({
      text_input_ids: new ort.Tensor('int64', ids, [testRows.length, length]),
      text_attention_mask: new ort.Tensor('int64', mask, [testRows.length, length]),
    });
    const probabilities = outputs.label_probabilities!.data as Float32Array;
    const flag = outputs.flag_probability!.data as Float32Array;

    const csv = (await readFile(path.join(result.runDirectory, 'test_predictions.csv'), 'utf8')).trim().split('\n');
    const header = csv[0]!.split(',');
    const labels = summary.outputs[0]!.labels!;
    expect(csv).toHaveLength(testRows.length + 1);
    csv.slice(1).forEach((line, row) => {
      const fields = Object.fromEntries(line.split(',').map((value, column) => [header[column]!, value]));
      labels.forEach((label, column) => {
        expect(Math.abs(probabilities[row * labels.length + column]! - Number(fields[`label_probabilities_${label}`])), `row ${row} ${label}`).toBeLessThan(2e-5);
      });
      expect(Math.abs(flag[row]! - Number(fields.flag_probability)), `row ${row} flag`).toBeLessThan(2e-5);
    });
  });

  it('normalizes number inputs like training', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-onnx-export-numbers-'));
    const rows = Array.from({ length: 60 }, (_, row) => {
      const size = 100 + 7 * ((row * 13) % 17);
      const color = ['red', 'green', 'blue'][row % 3]!;
      return { size, color, price: 3 * size + (color === 'red' ? 50 : 0), split: [0, 0, 0, 0, 1, 2][row % 6]! };
    });
    const dataset = path.join(folder, 'data.csv');
    await writeFile(dataset, ['size,color,price,split', ...rows.map((row) => `${row.size},${row.color},${row.price},${row.split}`)].join('\n') + '\n');

    const result = await trainRun({
      config: {
        input_features: [
          { name: 'size', type: 'number' },
          { name: 'color', type: 'category' },
        ],
        output_features: [{ name: 'price', type: 'number' }],
        trainer: { epochs: 3, batch_size: 8, learning_rate: 0.01 },
        preprocessing: { split: { type: 'fixed' } },
        backend: { type: 'onnx', device: 'cpu' },
      },
      dataset,
      outputDirectory: path.join(folder, 'results'),
      logger: createRecordingLogger(),
      loadBackend: async () => onnxBackend,
    });
    const summary = await exportOnnxModel(result.runDirectory, path.join(folder, 'exported'));

    // Raw column values in, as a user of the exported model has them.
    const testRows = rows.filter((row) => row.split === 2);
    const metadata = JSON.parse(await readFile(path.join(result.runDirectory, 'model/training_set_metadata.json'), 'utf8')) as { color: { vocabulary: string[] } };
    const session = await ort.InferenceSession.create(summary.modelPath);
    const outputs = await session.run({
      size: new ort.Tensor('float32', Float32Array.from(testRows, (row) => row.size), [testRows.length]),
      color: new ort.Tensor('int64', BigInt64Array.from(testRows, (row) => BigInt(metadata.color.vocabulary.indexOf(row.color))), [testRows.length]),
    });
    const predictions = outputs.price_predictions!.data as Float32Array;

    const csv = (await readFile(path.join(result.runDirectory, 'test_predictions.csv'), 'utf8')).trim().split('\n').slice(1);
    csv.forEach((line, row) => {
      const expected = Number(line);
      expect(Math.abs(predictions[row]! - expected), `row ${row}`).toBeLessThan(1e-3 * Math.max(1, Math.abs(expected)));
    });
  });
});
