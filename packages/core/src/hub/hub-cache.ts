/**
 * The Hugging Face Hub cache on disk, in the layout that `huggingface_hub` writes and reads
 * (`hf_hub_download` in src/huggingface_hub/file_download.py), so Python and ft share one cache:
 *
 *   <cache>/models--<org>--<name>/blobs/<etag>                  file contents, named by ETag
 *   <cache>/models--<org>--<name>/refs/<revision>               commit hash of a branch or tag
 *   <cache>/models--<org>--<name>/snapshots/<commit>/<file>     relative symlink to ../../blobs/<etag>
 *   <cache>/models--<org>--<name>/.no_exist/<commit>/<file>     empty marker: the file is absent at that commit
 */
import { copyFile, mkdir, readFile, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import path from 'node:path';

import { FtError } from '../errors.js';
import { writeFileAtomic } from '../io/atomic-write.js';

/** A full git commit hash; a revision of this form needs no `refs/` lookup. */
export const COMMIT_HASH_PATTERN = /^[0-9a-f]{40}$/;

/** Values that huggingface_hub reads as true in boolean variables such as HF_HUB_OFFLINE (constants.py `ENV_VARS_TRUE_VALUES`), compared upper-cased. */
const TRUE_ENVIRONMENT_VALUES = new Set(['1', 'ON', 'YES', 'TRUE']);

/** Returns whether an environment variable is set to `1`, `ON`, `YES` or `TRUE`, in any case. */
export function isTrueEnvironmentValue(value: string | undefined): boolean {
  return value !== undefined && TRUE_ENVIRONMENT_VALUES.has(value.trim().toUpperCase());
}

/**
 * Returns the Hub cache folder as huggingface_hub's constants.py computes it: `$HF_HUB_CACHE`,
 * else the legacy `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else
 * `$XDG_CACHE_HOME/huggingface/hub`, else `~/.cache/huggingface/hub`.
 *
 * A leading `~` and `$VAR` references are expanded as Python's `expanduser` and `expandvars` do.
 * Unlike Python, a variable set to the empty string counts as unset, so it never puts the cache
 * in the working folder.
 */
export function hubCacheDirectory(environment: NodeJS.ProcessEnv = process.env): string {
  const explicit = nonEmpty(environment.HF_HUB_CACHE) ?? nonEmpty(environment.HUGGINGFACE_HUB_CACHE);
  if (explicit !== undefined) {
    return path.resolve(expandPath(explicit, environment));
  }

  const xdgCacheHome = nonEmpty(environment.XDG_CACHE_HOME) ?? path.join(homedir(), '.cache');
  const hfHome = nonEmpty(environment.HF_HOME) ?? path.join(xdgCacheHome, 'huggingface');
  return path.resolve(expandPath(hfHome, environment), 'hub');
}

/** Returns the cache folder name of a model repository: `org/name` becomes `models--org--name`. */
export function repoCacheFolderName(repoId: string): string {
  return ['models', ...repoId.split('/')].join('--');
}

/** One model repository inside the Hub cache. Methods create folders as needed. */
export class HubRepoCache {
  /** Absolute path of `models--<org>--<name>`. */
  readonly folder: string;

  constructor(
    readonly cacheDirectory: string,
    readonly repoId: string,
  ) {
    this.folder = path.join(cacheDirectory, repoCacheFolderName(repoId));
  }

  blobPath(etag: string): string {
    return path.join(this.folder, 'blobs', etag);
  }

  snapshotFolder(commit: string): string {
    return path.join(this.folder, 'snapshots', commit);
  }

  snapshotFilePath(commit: string, file: string): string {
    return path.join(this.snapshotFolder(commit), ...file.split('/'));
  }

  /** Returns the commit that `refs/<revision>` stores, or null when the ref was never written. */
  async readRef(revision: string): Promise<string | null> {
    try {
      // huggingface_hub writes the bare hash, and trimming also accepts a file edited by hand.
      const commit = (await readFile(this.refPath(revision), 'utf8')).trim();
      return commit === '' ? null : commit;
    } catch (error) {
      if (isMissingFileError(error)) {
        return null;
      }
      throw error;
    }
  }

  /** Stores the commit of a branch or tag in `refs/<revision>`. A revision that is the commit itself gets no ref, as in huggingface_hub. */
  async writeRef(revision: string, commit: string): Promise<void> {
    if (revision === commit || (await this.readRef(revision)) === commit) {
      return;
    }
    const refPath = this.refPath(revision);
    await mkdir(path.dirname(refPath), { recursive: true });
    await writeFileAtomic(refPath, commit);
  }

  /** Returns whether `snapshots/<commit>/<file>` exists and, for a symlink, whether its blob exists. */
  async hasSnapshotFile(commit: string, file: string): Promise<boolean> {
    return isFile(this.snapshotFilePath(commit, file));
  }

  async hasBlob(etag: string): Promise<boolean> {
    return isFile(this.blobPath(etag));
  }

  /** Returns whether a `.no_exist` marker records that `file` is absent at `commit`. */
  async isMarkedMissing(commit: string, file: string): Promise<boolean> {
    return isFile(this.missingMarkerPath(commit, file));
  }

  async markMissing(commit: string, file: string): Promise<void> {
    const markerPath = this.missingMarkerPath(commit, file);
    await mkdir(path.dirname(markerPath), { recursive: true });
    await writeFile(markerPath, '');
  }

  /**
   * Points `snapshots/<commit>/<file>` at `blobs/<etag>` with a relative symlink, so the cache
   * folder can be moved. Where the file system rejects symlinks, the blob is copied instead,
   * as huggingface_hub does. Returns which of the two it did.
   */
  async linkSnapshotFile(commit: string, file: string, etag: string): Promise<'symlink' | 'copy'> {
    const pointerPath = this.snapshotFilePath(commit, file);
    const blobPath = this.blobPath(etag);
    await mkdir(path.dirname(pointerPath), { recursive: true });
    await rm(pointerPath, { force: true });

    try {
      await symlink(path.relative(path.dirname(pointerPath), blobPath), pointerPath);
      return 'symlink';
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') {
        throw error;
      }
    }

    // NOTE: no test runs this branch, because the test file systems accept symlinks.
    const temporaryPath = `${pointerPath}.${process.pid}.tmp`;
    await copyFile(blobPath, temporaryPath);
    await rename(temporaryPath, pointerPath);
    return 'copy';
  }

  private refPath(revision: string): string {
    return path.join(this.folder, 'refs', ...checkedRevisionSegments(revision, this.repoId));
  }

  private missingMarkerPath(commit: string, file: string): string {
    return path.join(this.folder, '.no_exist', commit, ...file.split('/'));
  }
}

/**
 * Splits a revision into path segments for `refs/`. A branch such as `refs/pr/1` becomes nested
 * folders, as in huggingface_hub. Segments that could leave the repo folder are rejected.
 */
function checkedRevisionSegments(revision: string, repoId: string): string[] {
  const segments = revision.split('/');
  const unsafe = revision.includes('\\') || revision.includes('\0') || segments.some((segment) => segment === '' || segment === '.' || segment === '..');
  if (unsafe) {
    throw new FtError('UNSUPPORTED', `Revision ${JSON.stringify(revision)} of ${repoId} is not a valid branch, tag or commit name; use a name such as "main", "v1.0" or a commit hash.`);
  }
  return segments;
}

async function isFile(filePath: string): Promise<boolean> {
  try {
    return (await stat(filePath)).isFile();
  } catch (error) {
    if (isMissingFileError(error)) {
      return false;
    }
    throw error;
  }
}

function isMissingFileError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException).code;
  return code === 'ENOENT' || code === 'ENOTDIR';
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

/** Expands `~` and `$VAR` or `${VAR}`; unknown variables stay as written, as in Python's `expandvars`. */
function expandPath(value: string, environment: NodeJS.ProcessEnv): string {
  const withHome = value === '~' || value.startsWith('~/') ? path.join(homedir(), value.slice(1)) : value;
  return withHome.replace(/\$(\w+)|\$\{([^}]*)\}/g, (match, bare: string | undefined, braced: string | undefined) => {
    return environment[bare ?? braced ?? ''] ?? match;
  });
}
