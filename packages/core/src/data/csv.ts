import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';

import { parse } from 'csv-parse';

import { DataError, FtError } from '../errors.js';

/** A CSV file read into memory: its header and its rows as strings keyed by column. */
export interface Table {
  readonly file: string;
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, string>>[];
  /** 1-based line of each row in the file, for error messages (the header is line 1). */
  readonly lines: readonly number[];
}

/**
 * Reads a CSV file with a header row. The file is parsed as a stream, so memory keeps the rows
 * once and never the whole text. Quoted fields may span lines; the reported line is where the
 * row starts.
 */
export async function readCsv(file: string): Promise<Table> {
  try {
    await stat(file);
  } catch (error) {
    throw new FtError('FILE_NOT_FOUND', `Data file not found: ${file}. Check the dataset path in the config or on the command line.`, { cause: error });
  }

  const rows: Record<string, string>[] = [];
  const lines: number[] = [];
  let columns: string[] | undefined;

  const parser = createReadStream(file).pipe(
    parse({
      bom: true,
      columns: (header: string[]) => {
        columns = header.map((name) => name.trim());
        return columns;
      },
      skip_empty_lines: true,
      info: true,
      raw: true,
    }),
  );

  try {
    for await (const record of parser as AsyncIterable<{ record: Record<string, string>; info: { lines: number }; raw: string }>) {
      rows.push(record.record);
      // `info.lines` is the line where the record ends; quoted fields may hold line breaks.
      const breaks = record.raw.replace(/^[\r\n]+|[\r\n]+$/g, '').split('\n').length - 1;
      lines.push(record.info.lines - breaks);
    }
  } catch (error) {
    throw new DataError(`Cannot parse CSV file ${file}: ${(error as Error).message}`, { cause: error });
  }

  if (columns === undefined) {
    throw new DataError(`Data file ${file} is empty; it needs a header row and at least one data row.`);
  }
  if (rows.length === 0) {
    throw new DataError(`Data file ${file} has a header but no data rows.`);
  }
  const duplicate = columns.find((name, index) => columns!.indexOf(name) !== index);
  if (duplicate !== undefined) {
    throw new DataError(`Data file ${file} has the column "${duplicate}" twice in its header; rename one of them.`);
  }
  return { file, columns, rows, lines };
}
