import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import path from 'node:path';

import { readSafetensors, writeSafetensors } from '../checkpoint/safetensors.js';
import { FtError } from '../errors.js';
import { writeJsonAtomic } from '../io/atomic-write.js';
import type { NamedArrays } from '../tensors/named-arrays.js';

/** Bumped whenever the checkpoint layout changes, so an old checkpoint is rejected rather than misread. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** `latest` is written at every evaluation and epoch end; `best` whenever the validation metric improves. */
export type CheckpointKind = 'latest' | 'best';

interface CheckpointIndex<Progress> {
  readonly format_version: number;
  readonly weights_file: string;
  readonly progress: Progress;
}

/**
 * Checkpoints of one run: for each kind, a safetensors file with the model and optimizer state
 * and a JSON index with the training progress that names that file.
 *
 * A write never leaves a torn checkpoint: the state goes to a new file named after its step,
 * then the index is replaced atomically to point at it, and only then is the previous state
 * file removed. A reader that follows the index always finds a complete file.
 */
export class CheckpointStore<Progress> {
  constructor(readonly directory: string) {}

  async write(kind: CheckpointKind, state: NamedArrays, progress: Progress, step: number): Promise<void> {
    await mkdir(this.directory, { recursive: true });
    const weightsFile = `${kind}-${step}.safetensors`;
    await writeSafetensors(path.join(this.directory, weightsFile), state, { format: 'pt', producer: 'ft', kind });

    const index: CheckpointIndex<Progress> = { format_version: CHECKPOINT_FORMAT_VERSION, weights_file: weightsFile, progress };
    await writeJsonAtomic(path.join(this.directory, `${kind}.json`), index);

    for (const file of await readdir(this.directory)) {
      if (file.startsWith(`${kind}-`) && file.endsWith('.safetensors') && file !== weightsFile) {
        await rm(path.join(this.directory, file), { force: true });
      }
    }
  }

  /** Reads a checkpoint, or returns null when none of that kind was written. */
  async read(kind: CheckpointKind): Promise<{ state: NamedArrays; progress: Progress } | null> {
    const indexPath = path.join(this.directory, `${kind}.json`);
    let text: string;
    try {
      text = await readFile(indexPath, 'utf8');
    } catch {
      return null;
    }

    const index = JSON.parse(text) as CheckpointIndex<Progress>;
    if (index.format_version !== CHECKPOINT_FORMAT_VERSION) {
      throw new FtError(
        'CHECKPOINT_INVALID',
        `Checkpoint ${indexPath} has format version ${index.format_version}, but this ft reads version ${CHECKPOINT_FORMAT_VERSION}; resume it with the ft version that wrote it, or start a new run.`,
      );
    }
    const state = await readSafetensors(path.join(this.directory, index.weights_file));
    return { state, progress: index.progress };
  }
}
