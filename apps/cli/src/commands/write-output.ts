import { writeFile } from 'node:fs/promises';

import { FtError } from '@ft/core';

/**
 * Writes a command's output file. With `exclusive`, an existing file is kept and the error
 * names the flag that replaces it. The `wx` flag makes the check and the write one step, so a
 * file created in between is not overwritten either.
 */
export async function writeOutputFile(file: string, text: string, options: { exclusive?: boolean } = {}): Promise<void> {
  try {
    await writeFile(file, text, { flag: options.exclusive === true ? 'wx' : 'w' });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new FtError('CONFIG_INVALID', `${file} already exists; pass --force to overwrite it, or choose another file with --output.`, { cause: error });
    }
    throw new FtError('FILE_NOT_FOUND', `Cannot write ${file}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Prints a command's output to stdout. A reader that stops early, as in `ft schema | head`,
 * closes the pipe, and the EPIPE error that follows is not a failure of the command.
 */
export function printOutput(text: string): void {
  process.stdout.once('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') {
      throw error;
    }
  });
  process.stdout.write(text);
}
