import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that readers see either the old content or the complete new content.
 *
 * `chunks` go to a temporary file in the same folder, which is flushed to disk with fsync
 * and then renamed over `path`. The rename is atomic because both names are on one file
 * system. On failure the temporary file is removed and the error is re-raised.
 */
export async function writeFileAtomic(path: string, chunks: Iterable<Uint8Array>): Promise<void> {
  const temporaryPath = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  const handle = await open(temporaryPath, 'wx');
  let renamed = false;
  try {
    for (const chunk of chunks) {
      await writeAll(handle, chunk);
    }
    await handle.sync();
    await handle.close();
    await rename(temporaryPath, path);
    renamed = true;
  } finally {
    if (!renamed) {
      await handle.close().catch(() => undefined);
      await rm(temporaryPath, { force: true });
    }
  }
}

async function writeAll(handle: Awaited<ReturnType<typeof open>>, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
    written += bytesWritten;
  }
}
