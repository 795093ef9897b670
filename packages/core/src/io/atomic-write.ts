import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that readers see either the old content or the complete new content, never
 * a torn write, even if the process is killed.
 *
 * The data goes to a temporary file in the same folder, which is flushed to disk with fsync and
 * then renamed over `path`. The rename is atomic because both names are on one file system. On
 * failure the temporary file is removed and the error is re-raised. Data given as chunks is
 * written chunk by chunk, so a large model is never copied into one buffer.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array | Iterable<Uint8Array>): Promise<void> {
  const chunks: Iterable<Uint8Array> = typeof data === 'string' ? [Buffer.from(data, 'utf8')] : data instanceof Uint8Array ? [data] : data;
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

/** Writes pretty-printed JSON atomically. */
export async function writeJsonAtomic(path: string, value: unknown): Promise<void> {
  await writeFileAtomic(path, `${JSON.stringify(value, null, 2)}\n`);
}

async function writeAll(handle: Awaited<ReturnType<typeof open>>, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
    written += bytesWritten;
  }
}
