import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { validateConfig } from '../config/load.js';
import { DataError } from '../errors.js';
import { createRecordingLogger, silentLogger } from '../logging/logger.js';
import { Random } from '../training/random.js';
import { readCsv } from './csv.js';
import { encodeSplits } from './features.js';
import { loadSplits } from './sources.js';

async function csvFile(content: string): Promise<string> {
  const folder = await mkdtemp(path.join(tmpdir(), 'ft-data-'));
  const file = path.join(folder, 'data.csv');
  await writeFile(file, content);
  return file;
}

const config = validateConfig({
  input_features: [
    { name: 'text', type: 'text' },
    { name: 'color', type: 'category' },
    { name: 'flag', type: 'binary' },
    { name: 'size', type: 'number', preprocessing: { normalization: 'zscore' } },
  ],
  output_features: [{ name: 'label', type: 'category' }],
});

async function encode(training: string, validation?: string) {
  const splits = await loadSplits(config, { trainingSet: await csvFile(training), ...(validation === undefined ? {} : { validationSet: await csvFile(validation) }) }, new Random(1));
  return encodeSplits(config, splits, silentLogger);
}

describe('readCsv', () => {
  it('reads quoted fields and reports lines', async () => {
    const table = await readCsv(await csvFile('a,b\n1,"x, ""y"""\n\n2,"multi\nline"\n3,z\n'));
    expect(table.columns).toEqual(['a', 'b']);
    expect(table.rows).toEqual([{ a: '1', b: 'x, "y"' }, { a: '2', b: 'multi\nline' }, { a: '3', b: 'z' }]);
    expect(table.lines).toEqual([2, 4, 6]);
  });

  it('rejects an empty file', async () => {
    await expect(readCsv(await csvFile(''))).rejects.toThrow(/is empty; it needs a header row/);
  });

  it('rejects a header without rows', async () => {
    await expect(readCsv(await csvFile('a,b\n'))).rejects.toThrow(/has a header but no data rows/);
  });

  it('rejects ragged rows with the line', async () => {
    await expect(readCsv(await csvFile('a,b\n1,2\n3\n'))).rejects.toThrow(/Cannot parse CSV file .*data\.csv: .*line 3/);
  });

  it('rejects a missing file', async () => {
    await expect(readCsv('/nonexistent/data.csv')).rejects.toThrow('Data file not found: /nonexistent/data.csv');
  });
});

describe('encodeSplits', () => {
  const header = 'text,color,flag,size,label\n';

  it('encodes every feature type', async () => {
    const { metadata, training } = await encode(`${header}hello,red,yes,1,a\nworld,blue,no,3,b\nagain,red,,5,a\n`);
    expect(metadata.label).toMatchObject({ type: 'category', vocabulary: ['a', 'b'] });
    expect(metadata.color).toMatchObject({ vocabulary: ['<UNK>', 'red', 'blue'] });
    expect(training.texts.text).toEqual(['hello', 'world', 'again']);
    expect(training.inputs.color).toEqual({ kind: 'category', indices: Int32Array.of(1, 2, 1) });
    expect(training.inputs.flag).toEqual({ kind: 'number', values: Float32Array.of(1, 0, 0) });
    expect(Array.from((training.inputs.size as { values: Float32Array }).values)).toEqual([-1, 0, 1]);
    expect(training.targets.label).toEqual({ kind: 'category', indices: Int32Array.of(0, 1, 0) });
  });

  it('drops rows without a target', async () => {
    const logger = createRecordingLogger();
    const splits = await loadSplits(config, { trainingSet: await csvFile(`${header}a,red,yes,1,a\nb,red,yes,1,\nc,red,no,2,b\n`) }, new Random(1));
    const { training } = encodeSplits(config, splits, logger);
    expect(training.rows).toBe(2);
    expect(logger.records).toContainEqual({ level: 'warn', message: expect.stringContaining('Dropped 1 row(s)') });
  });

  it('rejects an unknown label with file and line', async () => {
    const error = await encode(`${header}a,red,yes,1,x\nb,red,no,2,y\n`, `${header}c,red,yes,1,x\nd,red,no,2,z\n`).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DataError);
    expect((error as Error).message).toMatch(/data\.csv, line 3: category output "label" contains "z", which is not in its vocabulary from the training data \(x, y\)/);
  });

  it('rejects a missing column and lists the columns', async () => {
    await expect(encode('text,color,flag,size,target\na,red,yes,1,x\n')).rejects.toThrow(/Column "label" of feature "label" not found in .*data\.csv; its columns are text, color, flag, size, target/);
  });

  it('rejects a non-numeric number', async () => {
    await expect(encode(`${header}a,red,yes,big,x\nb,red,no,2,y\n`)).rejects.toThrow(/line 2: number feature "size" contains "big"/);
  });

  it('rejects a non-boolean binary value', async () => {
    await expect(encode(`${header}a,red,maybe,1,x\nb,red,no,2,y\n`)).rejects.toThrow(/line 2: binary feature "flag" contains "maybe"/);
  });

  it('rejects a single-class target', async () => {
    await expect(encode(`${header}a,red,yes,1,x\nb,red,no,2,x\n`)).rejects.toThrow(/has 1 distinct value\(s\)/);
  });
});
