/**
 * Resolves a pretrained checkpoint name to a local folder, downloading BERT checkpoints from the
 * Hugging Face Hub into the shared Hub cache (see hub-cache.ts) when the name is a Hub repo id.
 *
 * Requests follow huggingface_hub's `hf_hub_download` (src/huggingface_hub/file_download.py).
 * A HEAD request on `<endpoint>/<repo>/resolve/<revision>/<file>` that does not follow redirects
 * to other hosts returns the commit (`X-Repo-Commit`), the ETag (`X-Linked-Etag` for LFS files,
 * else `ETag`) and the size (`X-Linked-Size`, else `Content-Length`). An LFS file redirects to
 * its storage URL, which a GET then downloads.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { FtError } from '../errors.js';
import { silentLogger, type Logger } from '../logging/logger.js';
import { COMMIT_HASH_PATTERN, HubRepoCache, hubCacheDirectory, isTrueEnvironmentValue } from './hub-cache.js';

export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_HUB_REVISION = 'main';

/** Tokenizer files, each downloaded when the repo has it. A checkpoint needs `tokenizer.json` or `vocab.txt`. */
export const HUB_TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'vocab.txt', 'special_tokens_map.json'] as const;

const CONFIG_FILE = 'config.json';
const SAFETENSORS_FILE = 'model.safetensors';
const SAFETENSORS_INDEX_FILE = 'model.safetensors.index.json';

/** PyTorch pickle weights, probed only to explain why a repo without safetensors is rejected. */
const PICKLE_WEIGHT_FILES = ['pytorch_model.bin', 'pytorch_model.bin.index.json'];

/** `name` or `org/name`, where a segment may not start with `.`. */
const REPO_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]*(\/[A-Za-z0-9_-][A-Za-z0-9._-]*)?$/;

/** LFS files have the sha256 of their content as ETag, which is checked. Git files have a git blob sha1, which is not. */
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

/** ETags and commits become file names in the cache, so they may not contain path separators. */
const SAFE_FILE_NAME_PATTERN = /^[A-Za-z0-9._-]+$/;

/** Defaults of HF_HUB_ETAG_TIMEOUT and HF_HUB_DOWNLOAD_TIMEOUT in huggingface_hub's constants.py, in seconds. */
const DEFAULT_METADATA_TIMEOUT_SECONDS = 10;
const DEFAULT_DOWNLOAD_TIMEOUT_SECONDS = 10;

const METADATA_ATTEMPTS = 3;
/** A download gives up after this many failed attempts in a row. An attempt that received bytes resets the count. */
const MAX_CONSECUTIVE_DOWNLOAD_FAILURES = 5;
const FIRST_RETRY_DELAY_MS = 250;
const MAX_RETRY_DELAY_MS = 4_000;
const MAX_REDIRECTS = 10;

export interface ResolvePretrainedFolderOptions {
  /** Folder that a relative local path is resolved against, usually the folder of the config file. */
  readonly baseDirectory: string;
  /** Branch, tag or commit hash on the Hub. Defaults to `main`. */
  readonly revision?: string;
  /**
   * Files the Hub checkpoint must contain besides `config.json`, the tokenizer and the weights,
   * as paths inside the repo (`1_Pooling/config.json`). A missing one raises FILE_NOT_FOUND.
   * Not checked for a local folder.
   */
  readonly requiredFiles?: readonly string[];
  readonly logger?: Logger;
  /** Called after every chunk written; `totalBytes` is 0 when the server sends no size. */
  readonly onProgress?: (file: string, receivedBytes: number, totalBytes: number) => void;
  /** Replaces the global `fetch`, for tests and proxies. */
  readonly fetchImplementation?: typeof fetch;
}

/**
 * Returns whether `value` has the form of a Hub model id: `name` or `org/name`. Ids with `--` are
 * rejected because `--` separates the parts of cache folder names, and ids with `..` because
 * they could name a parent folder.
 */
export function isHubRepoId(value: string): boolean {
  return REPO_ID_PATTERN.test(value) && !value.includes('--') && !value.includes('..');
}

/**
 * Returns a local folder that contains the checkpoint `nameOrPath`.
 *
 * An existing folder, absolute or relative to `baseDirectory`, is returned as an absolute path
 * with no network access. Otherwise `nameOrPath` must be a Hub repo id. Its files go to the Hub
 * cache, and the function returns `snapshots/<commit>` of that repo. Those files are
 * `config.json`, the tokenizer files, and `model.safetensors` or the shards named by
 * `model.safetensors.index.json`.
 *
 * Environment: HF_ENDPOINT, HF_TOKEN (or HUGGING_FACE_HUB_TOKEN), HF_HUB_OFFLINE (or
 * TRANSFORMERS_OFFLINE), HF_HUB_CACHE, HF_HOME, XDG_CACHE_HOME, HF_HUB_ETAG_TIMEOUT and
 * HF_HUB_DOWNLOAD_TIMEOUT, with the meanings huggingface_hub gives them.
 *
 * Online, one HEAD request on `config.json` resolves the revision to a commit. Every other file
 * is then requested at that commit, so all files come from one commit even if the branch moves.
 * Files already in the snapshot, and files recorded as absent in `.no_exist/`, cost no request.
 * A revision that is a full commit hash with a complete cached snapshot makes no request at all.
 * When the Hub cannot be reached and a complete snapshot of the revision is cached, that snapshot
 * is returned with a warning. ft writes `refs/<revision>` only once the snapshot is complete, so
 * after an interrupted download of a new commit the fallback still finds the previous snapshot.
 */
export async function resolvePretrainedFolder(nameOrPath: string, options: ResolvePretrainedFolderOptions): Promise<string> {
  const localFolder = path.resolve(options.baseDirectory, nameOrPath);
  const localKind = await pathKind(localFolder);
  if (localKind === 'folder') {
    return localFolder;
  }
  if (localKind === 'file') {
    throw new FtError('FILE_NOT_FOUND', `${localFolder} is a file; pass the checkpoint folder that contains config.json, or a Hugging Face Hub id such as org/name.`);
  }
  if (!isHubRepoId(nameOrPath)) {
    throw new FtError(
      'FILE_NOT_FOUND',
      `Checkpoint folder not found: ${localFolder}. ${JSON.stringify(nameOrPath)} is not a Hugging Face Hub id either; ` +
        'a Hub id looks like org/name, for example google-bert/bert-base-uncased.',
    );
  }

  const session = createSession(nameOrPath, localFolder, options);
  const requiredFiles = (options.requiredFiles ?? []).map((file) => checkedRepoFilePath(file, 'requiredFiles'));

  if (session.offline) {
    return resolveOffline(session, requiredFiles);
  }
  return resolveOnline(session, requiredFiles);
}

/** Settings of one call for the Hub and the cache, read from the environment once per call. */
interface HubSession {
  readonly repoId: string;
  readonly revision: string;
  readonly localFolder: string;
  readonly endpoint: string;
  readonly token: string | undefined;
  readonly offline: boolean;
  readonly cache: HubRepoCache;
  readonly logger: Logger;
  readonly onProgress: ResolvePretrainedFolderOptions['onProgress'];
  readonly fetch: typeof fetch;
  readonly metadataTimeoutMs: number;
  readonly downloadTimeoutMs: number;
}

/** A file on the Hub as a HEAD request describes it. */
interface RemoteFile {
  readonly file: string;
  /** The resolve URL that was asked. */
  readonly url: string;
  readonly commit: string;
  readonly etag: string;
  readonly size: number | undefined;
  /** URL of the content: the storage URL an LFS file redirects to, else `url`. */
  readonly downloadUrl: string;
}

type RemoteMetadata = { readonly status: 'found'; readonly remote: RemoteFile } | { readonly status: 'not-found'; readonly errorCode: string | null };

/** Error for a Hub or storage host that could not be reached or kept failing with 429 or 5xx. The caller may fall back to the cache. */
class HubUnavailableError extends Error {
  constructor(
    readonly url: string,
    readonly reason: string,
  ) {
    super(`${url}: ${reason}`);
    this.name = 'HubUnavailableError';
  }
}

function createSession(repoId: string, localFolder: string, options: ResolvePretrainedFolderOptions): HubSession {
  const environment = process.env;
  const logger = options.logger ?? silentLogger;
  const revision = options.revision ?? DEFAULT_HUB_REVISION;

  const endpoint = (nonEmpty(environment.HF_ENDPOINT) ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]/.test(endpoint)) {
    throw new FtError('UNSUPPORTED', `HF_ENDPOINT is ${JSON.stringify(endpoint)}; expected an http or https URL such as ${DEFAULT_HUB_ENDPOINT}.`);
  }

  return {
    repoId,
    revision,
    localFolder,
    endpoint,
    token: nonEmpty(environment.HF_TOKEN) ?? nonEmpty(environment.HUGGING_FACE_HUB_TOKEN),
    offline: isTrueEnvironmentValue(environment.HF_HUB_OFFLINE) || isTrueEnvironmentValue(environment.TRANSFORMERS_OFFLINE),
    cache: new HubRepoCache(hubCacheDirectory(environment), repoId),
    logger,
    onProgress: options.onProgress,
    fetch: options.fetchImplementation ?? globalThis.fetch,
    metadataTimeoutMs: secondsFromEnvironment('HF_HUB_ETAG_TIMEOUT', DEFAULT_METADATA_TIMEOUT_SECONDS, logger) * 1000,
    downloadTimeoutMs: secondsFromEnvironment('HF_HUB_DOWNLOAD_TIMEOUT', DEFAULT_DOWNLOAD_TIMEOUT_SECONDS, logger) * 1000,
  };
}

async function resolveOffline(session: HubSession, requiredFiles: readonly string[]): Promise<string> {
  const cached = await findCachedSnapshot(session, requiredFiles);
  if (cached.status === 'complete') {
    session.logger.info(`HF_HUB_OFFLINE is set; using ${session.repoId} at revision ${session.revision} (commit ${cached.commit}) from ${cached.folder}`);
    return cached.folder;
  }

  throw new FtError(
    'FILE_NOT_FOUND',
    `HF_HUB_OFFLINE is set, but the Hub cache has no complete copy of ${session.repoId} at revision ${session.revision}: ${cached.reason}. ` +
      `Cache folder: ${session.cache.folder}. Unset HF_HUB_OFFLINE to download it, or populate the cache on a machine with ` +
      `network access (run ft there once, or \`huggingface-cli download ${session.repoId} --revision ${session.revision}\`) and copy ` +
      `that machine's Hub cache to ${session.cache.cacheDirectory}.`,
  );
}

async function resolveOnline(session: HubSession, requiredFiles: readonly string[]): Promise<string> {
  // A commit never changes, so a complete snapshot of it needs no request.
  if (COMMIT_HASH_PATTERN.test(session.revision)) {
    const cached = await findCachedSnapshot(session, requiredFiles);
    if (cached.status === 'complete') {
      session.logger.info(`Using ${session.repoId} at commit ${session.revision}, cached in ${cached.folder}`);
      return cached.folder;
    }
  }

  try {
    return await downloadSnapshot(session, requiredFiles);
  } catch (error) {
    if (!(error instanceof HubUnavailableError)) {
      throw error;
    }

    const cached = await findCachedSnapshot(session, requiredFiles);
    if (cached.status === 'complete') {
      session.logger.warn(
        `Could not reach the Hugging Face Hub (${error.message}); using the cached snapshot ${cached.folder} of ` +
          `${session.repoId} at revision ${session.revision} (commit ${cached.commit}), which may be out of date.`,
      );
      return cached.folder;
    }
    throw new FtError(
      'FILE_NOT_FOUND',
      `Could not download ${session.repoId} at revision ${session.revision} (${error.message}), and the Hub cache ` +
        `${session.cache.folder} has no complete copy (${cached.reason}). Check the network connection and HF_ENDPOINT ` +
        `(${session.endpoint}) and run again; finished files stay cached and a partial download resumes.`,
      { cause: error },
    );
  }
}

/** Downloads every file the snapshot lacks, then writes `refs/<revision>` and returns the snapshot folder. */
async function downloadSnapshot(session: HubSession, requiredFiles: readonly string[]): Promise<string> {
  const configUrl = resolveUrl(session, session.revision, CONFIG_FILE);
  const configMetadata = await readRemoteMetadata(session, CONFIG_FILE, configUrl);
  if (configMetadata.status === 'not-found') {
    throw configNotFoundError(session, configUrl, configMetadata.errorCode);
  }
  const commit = configMetadata.remote.commit;

  // A git file downloads from its resolve URL. Requesting it at the commit, not the branch, keeps the GET on the commit the HEAD returned.
  const configRemote = configMetadata.remote.downloadUrl === configUrl ? { ...configMetadata.remote, downloadUrl: resolveUrl(session, commit, CONFIG_FILE) } : configMetadata.remote;
  await ensureSnapshotFile(session, commit, CONFIG_FILE, configRemote);
  await ensureTokenizerFiles(session, commit);
  await ensureWeightFiles(session, commit);
  for (const file of requiredFiles) {
    await ensureRequiredFile(session, commit, file);
  }

  await session.cache.writeRef(session.revision, commit);

  const folder = session.cache.snapshotFolder(commit);
  session.logger.info(`${session.repoId} at revision ${session.revision} is commit ${commit}; cached in ${folder}`);
  return folder;
}

async function ensureTokenizerFiles(session: HubSession, commit: string): Promise<void> {
  const present: string[] = [];
  for (const file of HUB_TOKENIZER_FILES) {
    if (await ensureSnapshotFile(session, commit, file)) {
      present.push(file);
    }
  }

  if (!present.includes('tokenizer.json') && !present.includes('vocab.txt')) {
    throw new FtError(
      'FILE_NOT_FOUND',
      `${session.repoId} at revision ${session.revision} (commit ${commit}) has neither tokenizer.json nor vocab.txt; ` +
        'ft needs one of them to tokenize text. Pick a repo that ships its tokenizer.',
    );
  }
}

/** Downloads `model.safetensors`, or the index and every shard it names. Rejects repos with only PyTorch pickle weights. */
async function ensureWeightFiles(session: HubSession, commit: string): Promise<void> {
  if (await ensureSnapshotFile(session, commit, SAFETENSORS_FILE)) {
    return;
  }

  if (await ensureSnapshotFile(session, commit, SAFETENSORS_INDEX_FILE)) {
    const indexPath = session.cache.snapshotFilePath(commit, SAFETENSORS_INDEX_FILE);
    for (const shard of await readShardNames(indexPath, resolveUrl(session, commit, SAFETENSORS_INDEX_FILE))) {
      await ensureRequiredFile(session, commit, shard);
    }
    return;
  }

  for (const pickleFile of PICKLE_WEIGHT_FILES) {
    const probe = await readRemoteMetadata(session, pickleFile, resolveUrl(session, commit, pickleFile));
    if (probe.status === 'found') {
      throw pickleOnlyError(`${session.repoId} at revision ${session.revision}`, pickleFile);
    }
  }
  throw new FtError(
    'FILE_NOT_FOUND',
    `${session.repoId} at revision ${session.revision} (commit ${commit}) has no weights: expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}.`,
  );
}

async function ensureRequiredFile(session: HubSession, commit: string, file: string): Promise<void> {
  if (!(await ensureSnapshotFile(session, commit, file))) {
    throw new FtError(
      'FILE_NOT_FOUND',
      `${session.repoId} at revision ${session.revision} (commit ${commit}) has no ${file} (${resolveUrl(session, commit, file)} returned HTTP 404).`,
    );
  }
}

/**
 * Makes `snapshots/<commit>/<file>` exist when the repo has the file, and returns whether it does.
 * Downloads the blob unless another snapshot already has it. An absent file gets a `.no_exist`
 * marker, so the next call does not ask again.
 */
async function ensureSnapshotFile(session: HubSession, commit: string, file: string, knownRemote?: RemoteFile): Promise<boolean> {
  const { cache } = session;
  if (await cache.hasSnapshotFile(commit, file)) {
    return true;
  }
  if (knownRemote === undefined && (await cache.isMarkedMissing(commit, file))) {
    return false;
  }

  let remote = knownRemote;
  if (remote === undefined) {
    const metadata = await readRemoteMetadata(session, file, resolveUrl(session, commit, file));
    if (metadata.status === 'not-found') {
      await cache.markMissing(commit, file);
      return false;
    }
    remote = metadata.remote;
  }

  if (!(await cache.hasBlob(remote.etag))) {
    await downloadBlob(session, remote);
  }
  await cache.linkSnapshotFile(commit, file, remote.etag);
  return true;
}

/** Result of looking for a usable snapshot of the session's revision without network access. */
type CachedSnapshot =
  | { readonly status: 'complete'; readonly commit: string; readonly folder: string }
  | { readonly status: 'incomplete'; readonly reason: string };

/**
 * Looks up the cached snapshot of the revision: the revision itself when it is a commit hash,
 * else the commit in `refs/<revision>`. A snapshot is complete with `config.json`, `tokenizer.json`
 * or `vocab.txt`, the weights, and `requiredFiles`. The other tokenizer files are optional.
 */
async function findCachedSnapshot(session: HubSession, requiredFiles: readonly string[]): Promise<CachedSnapshot> {
  const { cache, revision } = session;
  const commit = COMMIT_HASH_PATTERN.test(revision) ? revision : await cache.readRef(revision);
  if (commit === null) {
    return { status: 'incomplete', reason: `${path.join(cache.folder, 'refs', revision)} does not exist` };
  }

  const missing: string[] = [];
  if (!(await cache.hasSnapshotFile(commit, CONFIG_FILE))) {
    missing.push(CONFIG_FILE);
  }
  if (!(await cache.hasSnapshotFile(commit, 'tokenizer.json')) && !(await cache.hasSnapshotFile(commit, 'vocab.txt'))) {
    missing.push('tokenizer.json or vocab.txt');
  }
  missing.push(...(await findMissingCachedWeights(session, commit)));
  for (const file of requiredFiles) {
    if (!(await cache.hasSnapshotFile(commit, file))) {
      missing.push(file);
    }
  }

  if (missing.length > 0) {
    return { status: 'incomplete', reason: `snapshot ${cache.snapshotFolder(commit)} lacks ${missing.join(', ')}` };
  }
  return { status: 'complete', commit, folder: cache.snapshotFolder(commit) };
}

async function findMissingCachedWeights(session: HubSession, commit: string): Promise<string[]> {
  const { cache } = session;
  if (await cache.hasSnapshotFile(commit, SAFETENSORS_FILE)) {
    return [];
  }

  if (await cache.hasSnapshotFile(commit, SAFETENSORS_INDEX_FILE)) {
    const indexPath = cache.snapshotFilePath(commit, SAFETENSORS_INDEX_FILE);
    const missing: string[] = [];
    for (const shard of await readShardNames(indexPath, indexPath)) {
      if (!(await cache.hasSnapshotFile(commit, shard))) {
        missing.push(shard);
      }
    }
    return missing;
  }

  // A snapshot that huggingface_hub filled may contain pickle weights, so explain why they cannot be used.
  for (const pickleFile of PICKLE_WEIGHT_FILES) {
    if (await cache.hasSnapshotFile(commit, pickleFile)) {
      throw pickleOnlyError(`The cached snapshot ${cache.snapshotFolder(commit)} of ${session.repoId}`, pickleFile);
    }
  }
  return [`${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}`];
}

/** Returns the distinct shard files that `weight_map` of a safetensors index names, sorted. `source` names the index in errors. */
async function readShardNames(indexPath: string, source: string): Promise<string[]> {
  let index: unknown;
  try {
    index = JSON.parse(await readFile(indexPath, 'utf8')) as unknown;
  } catch (error) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid JSON (${(error as Error).message}).`);
  }

  const weightMap = (index as { weight_map?: unknown } | null)?.weight_map;
  if (weightMap === null || typeof weightMap !== 'object' || Array.isArray(weightMap)) {
    throw new FtError('CHECKPOINT_INVALID', `${source}: invalid index, expected a "weight_map" object from tensor names to shard files.`);
  }

  const shards = new Set<string>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== 'string' || shard !== path.posix.basename(shard) || shard === '.' || shard === '..' || shard.includes('\\')) {
      throw new FtError('CHECKPOINT_INVALID', `${source}: weight_map entry "${name}" points to ${JSON.stringify(shard)}; expected a file name in the same folder.`);
    }
    shards.add(shard);
  }
  return [...shards].sort();
}

/**
 * Sends HEAD to a resolve URL and reads the file's commit, ETag, size and download location.
 * Relative redirects, which the Hub sends for a renamed repo, are followed. A redirect to another
 * host is the storage location of an LFS file. It ends the lookup because the Hub's headers are on it.
 */
async function readRemoteMetadata(session: HubSession, file: string, url: string): Promise<RemoteMetadata> {
  let currentUrl = url;
  let response: Response | undefined;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    response = await requestMetadata(session, currentUrl);
    const location = response.headers.get('location');
    if (!isRedirectStatus(response.status) || location === null || isAbsoluteUrl(location)) {
      break;
    }
    currentUrl = new URL(location, currentUrl).href;
    response = undefined;
  }
  if (response === undefined) {
    throw new FtError('FILE_NOT_FOUND', `${url} redirected more than ${MAX_REDIRECTS} times; check HF_ENDPOINT (${session.endpoint}).`);
  }

  if (response.status === 404) {
    return { status: 'not-found', errorCode: response.headers.get('x-error-code') };
  }
  if (response.status === 401 || response.status === 403) {
    throw accessError(session, currentUrl, response.status);
  }
  if (!response.ok && !isRedirectStatus(response.status)) {
    throw new FtError('FILE_NOT_FOUND', `HEAD ${currentUrl} failed with HTTP ${response.status} ${response.statusText}${serverMessage(response)}.`);
  }

  const commit = response.headers.get('x-repo-commit')?.trim() ?? null;
  const etag = normalizeEtag(response.headers.get('x-linked-etag') ?? response.headers.get('etag'));
  if (commit === null || etag === null) {
    throw new FtError(
      'FILE_NOT_FOUND',
      `${currentUrl} answered without the X-Repo-Commit and ETag headers of the Hugging Face Hub; check that HF_ENDPOINT (${session.endpoint}) points to a Hub or a mirror of it.`,
    );
  }
  if (!isSafeFileName(etag)) {
    throw new FtError('CHECKPOINT_INVALID', `${currentUrl} sent the ETag ${JSON.stringify(etag)}, which cannot name a file in the Hub cache.`);
  }
  if (!isSafeFileName(commit)) {
    throw new FtError('CHECKPOINT_INVALID', `${currentUrl} sent the commit ${JSON.stringify(commit)} in X-Repo-Commit, which cannot name a snapshot folder in the Hub cache.`);
  }

  const location = response.headers.get('location');
  const downloadUrl = isRedirectStatus(response.status) && location !== null ? new URL(location, currentUrl).href : currentUrl;
  const size = parseSize(response.headers.get('x-linked-size') ?? response.headers.get('content-length'));
  return { status: 'found', remote: { file, url, commit, etag, size, downloadUrl } };
}

/** Sends one HEAD request, retrying network failures, 429 and 5xx a few times with a growing delay. */
async function requestMetadata(session: HubSession, url: string): Promise<Response> {
  for (let attempt = 1; ; attempt++) {
    let failure: string;
    try {
      const response = await session.fetch(url, {
        method: 'HEAD',
        redirect: 'manual',
        headers: requestHeaders(session, url),
        signal: AbortSignal.timeout(session.metadataTimeoutMs),
      });
      if (!isRetryableStatus(response.status)) {
        return response;
      }
      failure = `HTTP ${response.status} ${response.statusText}`;
    } catch (error) {
      failure = describeNetworkError(error);
    }

    if (attempt >= METADATA_ATTEMPTS) {
      throw new HubUnavailableError(url, `HEAD failed ${attempt} times, last with ${failure}`);
    }
    const delayMs = retryDelayMs(attempt);
    session.logger.warn(`HEAD ${url} failed (${failure}); retrying in ${delayMs} ms (attempt ${attempt + 1} of ${METADATA_ATTEMPTS}).`);
    await sleep(delayMs);
  }
}

/** Outcome of one GET attempt. A failed attempt is retried with a Range request from the bytes on disk. */
type AttemptOutcome = { readonly status: 'complete' } | { readonly status: 'failed'; readonly reason: string; readonly receivedBytes: number };

/**
 * Downloads a file to `blobs/<etag>.incomplete`, resuming after a dropped connection with a
 * `Range: bytes=<n>-` request, then checks its size and, for an LFS file, its sha256 before the
 * atomic rename to `blobs/<etag>`. A `.incomplete` file left by an earlier run is resumed too.
 */
async function downloadBlob(session: HubSession, remote: RemoteFile): Promise<void> {
  const blobPath = session.cache.blobPath(remote.etag);
  const incompletePath = `${blobPath}.incomplete`;
  await mkdir(path.dirname(blobPath), { recursive: true });

  // NOTE: two processes that download the same blob at once write to the same .incomplete file.
  // huggingface_hub takes a file lock here, but ft does not yet.
  let consecutiveFailures = 0;
  for (;;) {
    const outcome = await downloadAttempt(session, remote, incompletePath);
    if (outcome.status === 'complete') {
      break;
    }

    consecutiveFailures = outcome.receivedBytes > 0 ? 1 : consecutiveFailures + 1;
    if (consecutiveFailures >= MAX_CONSECUTIVE_DOWNLOAD_FAILURES) {
      throw new HubUnavailableError(remote.downloadUrl, `download of ${remote.file} failed ${consecutiveFailures} times in a row, last with ${outcome.reason}`);
    }
    const delayMs = retryDelayMs(consecutiveFailures);
    session.logger.warn(`Download of ${remote.file} from ${remote.downloadUrl} failed (${outcome.reason}); resuming in ${delayMs} ms.`);
    await sleep(delayMs);
  }

  const size = await fileSize(incompletePath);
  if (remote.size !== undefined && size !== remote.size) {
    await rm(incompletePath, { force: true });
    throw new FtError(
      'CHECKPOINT_INVALID',
      `${remote.downloadUrl}: the download of ${remote.file} has ${size} bytes, but the Hub announced ${remote.size}. The file was deleted; run again.`,
    );
  }

  if (SHA256_PATTERN.test(remote.etag)) {
    const actual = await sha256OfFile(incompletePath);
    if (actual !== remote.etag) {
      await rm(incompletePath, { force: true });
      throw new FtError(
        'CHECKPOINT_INVALID',
        `${remote.downloadUrl}: the sha256 of the downloaded ${remote.file} is ${actual}, but the Hub lists ${remote.etag}. ` +
          'The corrupt file was deleted; run again, and if the mismatch repeats, a proxy or mirror is altering the file.',
      );
    }
  }

  await rename(incompletePath, blobPath);
  session.logger.info(`Downloaded ${remote.file} (${formatBytes(size)})`);
}

/** Sends one GET from the bytes already in `incompletePath` and appends what arrives. */
async function downloadAttempt(session: HubSession, remote: RemoteFile, incompletePath: string): Promise<AttemptOutcome> {
  let offset = await fileSize(incompletePath);
  const expectedSize = remote.size;
  if (expectedSize !== undefined && offset > expectedSize) {
    await rm(incompletePath, { force: true });
    offset = 0;
  }
  if (expectedSize !== undefined && offset === expectedSize && (await pathKind(incompletePath)) === 'file') {
    return { status: 'complete' };
  }

  const headers = requestHeaders(session, remote.downloadUrl);
  if (offset > 0) {
    headers.Range = `bytes=${offset}-`;
  }

  // The timer aborts the request when no byte arrives for downloadTimeoutMs, like a read timeout.
  const controller = new AbortController();
  const timeoutMs = session.downloadTimeoutMs;
  const timer = setTimeout(() => controller.abort(new Error(`no data received for ${timeoutMs / 1000} s`)), timeoutMs);
  try {
    let response: Response;
    try {
      response = await getFollowingRedirects(session, remote.downloadUrl, headers, controller.signal);
    } catch (error) {
      if (error instanceof FtError) {
        throw error;
      }
      return { status: 'failed', reason: describeNetworkError(error), receivedBytes: 0 };
    }

    const start = await checkDownloadResponse(session, remote, response, offset, incompletePath);
    if (start === null) {
      return { status: 'failed', reason: `HTTP ${response.status} ${response.statusText}`, receivedBytes: 0 };
    }
    return await appendBody(session, remote, response, incompletePath, start, () => timer.refresh());
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Checks the status of a download response and returns the offset its body starts at:
 * `offset` for a 206 that resumes there, 0 for a 200. Returns null for a status worth retrying,
 * after cancelling the body, and throws for the rest.
 */
async function checkDownloadResponse(session: HubSession, remote: RemoteFile, response: Response, offset: number, incompletePath: string): Promise<number | null> {
  if (response.status === 200) {
    return 0;
  }
  if (response.status === 206) {
    const rangeStart = /^bytes (\d+)-/.exec(response.headers.get('content-range') ?? '')?.[1];
    if (rangeStart !== undefined && Number(rangeStart) === offset) {
      return offset;
    }
    // A range that starts elsewhere cannot be appended, so the next attempt starts over.
    await response.body?.cancel();
    await rm(incompletePath, { force: true });
    return null;
  }

  await response.body?.cancel();
  if (response.status === 416 || isRetryableStatus(response.status)) {
    if (response.status === 416) {
      await rm(incompletePath, { force: true });
    }
    return null;
  }
  if (response.status === 401 || response.status === 403) {
    throw accessError(session, remote.downloadUrl, response.status);
  }
  throw new FtError(
    'FILE_NOT_FOUND',
    `GET ${remote.downloadUrl} for ${remote.file} of ${session.repoId} failed with HTTP ${response.status} ${response.statusText}${serverMessage(response)}.`,
  );
}

/** Writes the response body to `incompletePath` from byte `start`, reporting progress after each chunk. */
async function appendBody(
  session: HubSession,
  remote: RemoteFile,
  response: Response,
  incompletePath: string,
  start: number,
  onChunk: () => void,
): Promise<AttemptOutcome> {
  const handle = await open(incompletePath, start === 0 ? 'w' : 'a');
  const totalBytes = remote.size ?? 0;
  let written = start;

  // An error thrown by the caller's callback ends the download instead of counting as a network failure.
  let progressError: unknown;
  const reportProgress = (): void => {
    try {
      session.onProgress?.(remote.file, written, totalBytes);
    } catch (error) {
      progressError = error;
      throw error;
    }
  };

  try {
    reportProgress();
    if (response.body !== null) {
      for await (const chunk of response.body) {
        onChunk();
        await writeAll(handle, chunk);
        written += chunk.byteLength;
        reportProgress();

        // More bytes than announced cannot become valid, so stop here and let the size check reject the file.
        if (remote.size !== undefined && written > remote.size) {
          break;
        }
      }
    }
    await handle.sync();
  } catch (error) {
    if (error === progressError) {
      throw error;
    }
    return { status: 'failed', reason: describeNetworkError(error), receivedBytes: written - start };
  } finally {
    await handle.close();
  }

  if (remote.size !== undefined && written < remote.size) {
    return { status: 'failed', reason: `the connection closed after ${written} of ${remote.size} bytes`, receivedBytes: written - start };
  }
  return { status: 'complete' };
}

/**
 * Sends a GET and follows redirects itself, so that the Authorization header is dropped when a
 * redirect leaves the current origin. Storage URLs are pre-signed and must not see the token.
 */
async function getFollowingRedirects(session: HubSession, url: string, headers: Record<string, string>, signal: AbortSignal): Promise<Response> {
  let currentUrl = url;
  let currentHeaders = headers;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    const response = await session.fetch(currentUrl, { method: 'GET', redirect: 'manual', headers: currentHeaders, signal });
    const location = response.headers.get('location');
    if (!isRedirectStatus(response.status) || location === null) {
      return response;
    }

    await response.body?.cancel();
    const nextUrl = new URL(location, currentUrl);
    if (nextUrl.origin !== new URL(currentUrl).origin) {
      const { Authorization: _dropped, ...withoutAuthorization } = currentHeaders;
      currentHeaders = withoutAuthorization;
    }
    currentUrl = nextUrl.href;
  }
  throw new FtError('FILE_NOT_FOUND', `${url} redirected more than ${MAX_REDIRECTS} times.`);
}

/** Headers of every request. The token goes only to the endpoint's own origin. */
function requestHeaders(session: HubSession, url: string): Record<string, string> {
  // Without identity encoding a server may compress, and Content-Length would not be the file size.
  const headers: Record<string, string> = { 'Accept-Encoding': 'identity' };
  if (session.token !== undefined && new URL(url).origin === new URL(session.endpoint).origin) {
    headers.Authorization = `Bearer ${session.token}`;
  }
  return headers;
}

/** Builds `<endpoint>/<repo>/resolve/<revision>/<file>`, encoding the revision as one path segment as huggingface_hub's `hf_hub_url` does. */
function resolveUrl(session: HubSession, revision: string, file: string): string {
  const encodedFile = file.split('/').map(encodeURIComponent).join('/');
  return `${session.endpoint}/${session.repoId}/resolve/${encodeURIComponent(revision)}/${encodedFile}`;
}

function configNotFoundError(session: HubSession, url: string, errorCode: string | null): FtError {
  const { repoId, revision } = session;
  if (errorCode === 'RevisionNotFound') {
    return new FtError('FILE_NOT_FOUND', `Revision ${JSON.stringify(revision)} of ${repoId} not found: ${url} returned HTTP 404. Check the branch, tag or commit name.`);
  }
  if (errorCode === 'EntryNotFound') {
    return new FtError(
      'FILE_NOT_FOUND',
      `${repoId} at revision ${revision} has no config.json (${url} returned HTTP 404); ft loads checkpoints that transformers saved with save_pretrained.`,
    );
  }
  return new FtError(
    'FILE_NOT_FOUND',
    `Hugging Face Hub repo ${repoId} or its revision ${JSON.stringify(revision)} not found: ${url} returned HTTP 404, and no local folder ` +
      `${session.localFolder} exists. Check the id (it looks like org/name, for example google-bert/bert-base-uncased) and the revision.`,
  );
}

/** Builds the error for HTTP 401 or 403, which the Hub returns for private and gated repos without access and also for repos that do not exist. */
function accessError(session: HubSession, url: string, status: number): FtError {
  const advice =
    session.token === undefined
      ? 'Set HF_TOKEN to a Hugging Face access token with read access (create one at https://huggingface.co/settings/tokens)'
      : 'The token in HF_TOKEN (or HUGGING_FACE_HUB_TOKEN) has no access to it; use a token of an account that may read the repo';
  return new FtError(
    'FILE_NOT_FOUND',
    `${url} returned HTTP ${status}: the repo ${session.repoId} is gated or private, or does not exist. ${advice}. ` +
      `For a gated repo, also accept its conditions on ${session.endpoint}/${session.repoId} with that account.`,
  );
}

function pickleOnlyError(subject: string, pickleFile: string): FtError {
  return new FtError(
    'UNSUPPORTED',
    `${subject} has PyTorch pickle weights (${pickleFile}) but no ${SAFETENSORS_FILE}. ft does not read PyTorch pickle files. ` +
      'Convert the checkpoint to safetensors with transformers, for example ' +
      '`model = AutoModel.from_pretrained(name); model.save_pretrained(dir, safe_serialization=True)`, and pass that folder, ' +
      'or pick a Hub repo that has model.safetensors.',
  );
}

/** Rejects repo file paths that could leave the snapshot folder. */
function checkedRepoFilePath(file: string, source: string): string {
  const segments = file.split('/');
  if (file.includes('\\') || segments.some((segment) => segment === '' || segment === '.' || segment === '..')) {
    throw new FtError('UNSUPPORTED', `${source}: ${JSON.stringify(file)} is not a file path inside a repo; use forward slashes and no "." or ".." segments, for example 1_Pooling/config.json.`);
  }
  return file;
}

/** Strips the quotes and the `W/` prefix of a weak ETag, so the value can name a blob file. */
function normalizeEtag(etag: string | null): string | null {
  if (etag === null) {
    return null;
  }
  const value = etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return value === '' ? null : value;
}

function isSafeFileName(value: string): boolean {
  return SAFE_FILE_NAME_PATTERN.test(value) && value !== '.' && value !== '..';
}

function parseSize(value: string | null): number | undefined {
  if (value === null || !/^\d+$/.test(value.trim())) {
    return undefined;
  }
  return Number(value);
}

function isRedirectStatus(status: number): boolean {
  return status >= 300 && status < 400;
}

function isRetryableStatus(status: number): boolean {
  return status === 429 || status >= 500;
}

function isAbsoluteUrl(location: string): boolean {
  return /^[A-Za-z][A-Za-z0-9+.-]*:|^\/\//.test(location);
}

function retryDelayMs(failures: number): number {
  return Math.min(FIRST_RETRY_DELAY_MS * 2 ** (failures - 1), MAX_RETRY_DELAY_MS);
}

function serverMessage(response: Response): string {
  const message = response.headers.get('x-error-message');
  return message === null ? '' : ` (${message})`;
}

/** Describes a fetch failure with its cause, such as `fetch failed: ECONNREFUSED`. */
function describeNetworkError(error: unknown): string {
  if (!(error instanceof Error)) {
    return String(error);
  }
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return `${error.message}: ${code ?? cause.message}`;
  }
  return error.message;
}

function secondsFromEnvironment(name: string, defaultSeconds: number, logger: Logger): number {
  const value = nonEmpty(process.env[name]);
  if (value === undefined) {
    return defaultSeconds;
  }
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds <= 0) {
    logger.warn(`${name} is ${JSON.stringify(value)}, not a positive number of seconds; using ${defaultSeconds} s.`);
    return defaultSeconds;
  }
  return seconds;
}

function formatBytes(bytes: number): string {
  if (bytes < 1000) {
    return `${bytes} B`;
  }
  const units = ['kB', 'MB', 'GB', 'TB'];
  let value = bytes / 1000;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}

async function pathKind(filePath: string): Promise<'folder' | 'file' | 'missing'> {
  try {
    return (await stat(filePath)).isDirectory() ? 'folder' : 'file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      return 'missing';
    }
    throw error;
  }
}

async function fileSize(filePath: string): Promise<number> {
  try {
    return (await stat(filePath)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      return 0;
    }
    throw error;
  }
}

async function sha256OfFile(filePath: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(filePath)) {
    hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

async function writeAll(handle: FileHandle, chunk: Uint8Array): Promise<void> {
  let written = 0;
  while (written < chunk.byteLength) {
    const { bytesWritten } = await handle.write(chunk, written, chunk.byteLength - written);
    written += bytesWritten;
  }
}
