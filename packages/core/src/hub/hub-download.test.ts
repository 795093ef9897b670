import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterEach, beforeEach, describe, expect, it } from 'vitest';

import { loadBertCheckpoint } from '../checkpoint/hf-folder.js';
import { serializeSafetensors } from '../checkpoint/safetensors.js';
import { FtError } from '../errors.js';
import { createRecordingLogger } from '../logging/logger.js';
import type { NamedArrays } from '../tensors/named-arrays.js';
import { createTinyBertCheckpoint } from '../testing/tiny-bert.js';
import { hubCacheDirectory, isTrueEnvironmentValue, repoCacheFolderName } from './hub-cache.js';
import { isHubRepoId, resolvePretrainedFolder } from './hub-download.js';

/** Files of one commit, by path inside the repo. */
type RepoFiles = Record<string, Buffer>;

interface FakeRepo {
  /** Branch or tag name to commit hash. */
  readonly branches: Record<string, string>;
  readonly commits: Record<string, RepoFiles>;
  /** When set, every request needs `Authorization: Bearer <token>`. */
  readonly token?: string;
}

interface RecordedRequest {
  readonly method: string;
  readonly path: string;
  readonly range: string | undefined;
  readonly authorization: string | undefined;
}

/**
 * A loopback server with the Hub's resolve URL scheme and headers. A git file returns 200 with
 * `X-Repo-Commit` and its git blob sha1 as `ETag`. An LFS file (`*.safetensors`, `*.bin`) returns
 * 302 with `X-Linked-Etag` (the sha256), `X-Linked-Size` and a `Location` on `/cdn/<sha256>`,
 * which serves the bytes with Range support.
 */
class FakeHub {
  readonly requests: RecordedRequest[] = [];
  /** sha256 of blobs whose first GET sends half of the body and then destroys the socket. */
  readonly dropOnce = new Set<string>();
  /** sha256 of blobs served with their first byte changed. */
  readonly corrupt = new Set<string>();
  /** Old repo id to new repo id. The old id returns a relative redirect, as the Hub does for renamed repos. */
  readonly renames = new Map<string, string>();
  private readonly repos = new Map<string, FakeRepo>();
  private readonly blobs = new Map<string, Buffer>();

  private constructor(
    private readonly server: Server,
    readonly endpoint: string,
  ) {}

  static async start(): Promise<FakeHub> {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');

    const hub = new FakeHub(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('request', (request: IncomingMessage, response: ServerResponse) => hub.handle(request, response));
    return hub;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  addRepo(repoId: string, repo: FakeRepo): void {
    this.repos.set(repoId, repo);
  }

  count(method: 'HEAD' | 'GET'): number {
    return this.requests.filter((request) => request.method === method).length;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const url = new URL(request.url ?? '/', this.endpoint);
    this.requests.push({
      method: request.method ?? '',
      path: url.pathname,
      range: request.headers.range,
      authorization: request.headers.authorization,
    });

    if (url.pathname.startsWith('/cdn/')) {
      this.serveBlob(request, response, url.pathname.slice('/cdn/'.length));
      return;
    }

    const segments = url.pathname.split('/').slice(1);
    const resolveIndex = segments.indexOf('resolve');
    if (resolveIndex < 1 || segments.length < resolveIndex + 3) {
      sendError(response, 404, 'RepoNotFound');
      return;
    }
    const repoId = segments.slice(0, resolveIndex).join('/');
    const revision = decodeURIComponent(segments[resolveIndex + 1]!);
    const file = segments.slice(resolveIndex + 2).map(decodeURIComponent).join('/');

    const newRepoId = this.renames.get(repoId);
    if (newRepoId !== undefined) {
      response.writeHead(307, { Location: `/${newRepoId}/resolve/${segments.slice(resolveIndex + 1).join('/')}` });
      response.end();
      return;
    }

    const repo = this.repos.get(repoId);
    if (repo === undefined) {
      sendError(response, 404, 'RepoNotFound');
      return;
    }
    if (repo.token !== undefined && request.headers.authorization !== `Bearer ${repo.token}`) {
      sendError(response, 401, 'GatedRepo');
      return;
    }
    const commit = repo.branches[revision] ?? (revision in repo.commits ? revision : undefined);
    if (commit === undefined) {
      sendError(response, 404, 'RevisionNotFound');
      return;
    }
    const content = repo.commits[commit]![file];
    if (content === undefined) {
      sendError(response, 404, 'EntryNotFound', { 'X-Repo-Commit': commit });
      return;
    }

    if (/\.(safetensors|bin)$/.test(file)) {
      const sha256 = sha256Hex(content);
      this.blobs.set(sha256, content);
      response.writeHead(302, {
        Location: `${this.endpoint}/cdn/${sha256}`,
        'X-Repo-Commit': commit,
        'X-Linked-Etag': `"${sha256}"`,
        'X-Linked-Size': String(content.byteLength),
        ETag: `"${gitBlobSha1(Buffer.from(`version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\n`))}"`,
        'Content-Length': '0',
      });
      response.end();
      return;
    }

    response.writeHead(200, { 'X-Repo-Commit': commit, ETag: `"${gitBlobSha1(content)}"`, 'Content-Length': String(content.byteLength) });
    response.end(request.method === 'HEAD' ? undefined : content);
  }

  private serveBlob(request: IncomingMessage, response: ServerResponse, sha256: string): void {
    const stored = this.blobs.get(sha256);
    if (stored === undefined) {
      sendError(response, 404, 'EntryNotFound');
      return;
    }
    const body = Buffer.from(stored);
    if (this.corrupt.has(sha256)) {
      body[0] = body[0]! ^ 0xff;
    }

    if (this.dropOnce.delete(sha256)) {
      response.writeHead(200, { 'Content-Length': String(body.byteLength) });
      // The pause lets the client read the bytes: a web stream that errors drops the chunks not yet read.
      response.write(body.subarray(0, Math.floor(body.byteLength / 2)), () => setTimeout(() => response.socket?.destroy(), 200));
      return;
    }

    const range = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
    if (range === null) {
      response.writeHead(200, { 'Content-Length': String(body.byteLength) });
      response.end(body);
      return;
    }
    const start = Number(range[1]);
    if (start >= body.byteLength) {
      response.writeHead(416, { 'Content-Range': `bytes */${body.byteLength}` });
      response.end();
      return;
    }
    response.writeHead(206, {
      'Content-Range': `bytes ${start}-${body.byteLength - 1}/${body.byteLength}`,
      'Content-Length': String(body.byteLength - start),
    });
    response.end(body.subarray(start));
  }
}

function sendError(response: ServerResponse, status: number, errorCode: string, headers: Record<string, string> = {}): void {
  response.writeHead(status, { 'X-Error-Code': errorCode, 'Content-Length': '0', ...headers });
  response.end();
}

function sha256Hex(content: Buffer): string {
  return createHash('sha256').update(content).digest('hex');
}

/** Computes the ETag the Hub gives a file stored in git, which is the sha1 of its git blob object. */
function gitBlobSha1(content: Buffer): string {
  return createHash('sha1').update(`blob ${content.byteLength}\0`).update(content).digest('hex');
}

function fakeCommit(label: string): string {
  return createHash('sha1').update(label).digest('hex');
}

async function readFolderFiles(folder: string): Promise<RepoFiles> {
  const files: RepoFiles = {};
  for (const name of await readdir(folder)) {
    files[name] = await readFile(join(folder, name));
  }
  return files;
}

/** Every environment variable the downloader reads; each test starts with all of them unset. */
const HUB_ENVIRONMENT_VARIABLES = [
  'HF_ENDPOINT',
  'HF_HUB_CACHE',
  'HUGGINGFACE_HUB_CACHE',
  'HF_HOME',
  'XDG_CACHE_HOME',
  'HF_TOKEN',
  'HUGGING_FACE_HUB_TOKEN',
  'HF_HUB_OFFLINE',
  'TRANSFORMERS_OFFLINE',
  'HF_HUB_ETAG_TIMEOUT',
  'HF_HUB_DOWNLOAD_TIMEOUT',
] as const;

const REPO_ID = 'ft-test/tiny-bert';
const MAIN_COMMIT = fakeCommit('main');

let savedEnvironment: Record<string, string | undefined>;
let temporaryFolder: string;
let cacheFolder: string;
let sourceFolder: string;
let sourceFiles: RepoFiles;
let hub: FakeHub;

beforeEach(async () => {
  savedEnvironment = Object.fromEntries(HUB_ENVIRONMENT_VARIABLES.map((name) => [name, process.env[name]]));
  for (const name of HUB_ENVIRONMENT_VARIABLES) {
    delete process.env[name];
  }

  temporaryFolder = await mkdtemp(join(tmpdir(), 'ft-hub-'));
  cacheFolder = join(temporaryFolder, 'hub-cache');
  sourceFolder = join(temporaryFolder, 'source');
  await createTinyBertCheckpoint(sourceFolder, { seed: 3 });
  sourceFiles = await readFolderFiles(sourceFolder);

  hub = await FakeHub.start();
  hub.addRepo(REPO_ID, { branches: { main: MAIN_COMMIT }, commits: { [MAIN_COMMIT]: sourceFiles } });

  process.env.HF_ENDPOINT = hub.endpoint;
  process.env.HF_HUB_CACHE = cacheFolder;
});

afterEach(async () => {
  await hub.close();
  await rm(temporaryFolder, { recursive: true, force: true });
  for (const name of HUB_ENVIRONMENT_VARIABLES) {
    const value = savedEnvironment[name];
    if (value === undefined) {
      delete process.env[name];
    } else {
      process.env[name] = value;
    }
  }
});

function resolveTiny(options: Partial<Parameters<typeof resolvePretrainedFolder>[1]> = {}): Promise<string> {
  return resolvePretrainedFolder(REPO_ID, { baseDirectory: temporaryFolder, ...options });
}

async function rejection(promise: Promise<unknown>): Promise<FtError> {
  const error = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(FtError);
  return error as FtError;
}

const repoFolder = (): string => join(cacheFolder, repoCacheFolderName(REPO_ID));

describe('hubCacheDirectory', () => {
  it('prefers HF_HUB_CACHE over everything', () => {
    expect(hubCacheDirectory({ HF_HUB_CACHE: '/a/hub', HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c', XDG_CACHE_HOME: '/d' })).toBe('/a/hub');
  });

  it('reads the legacy HUGGINGFACE_HUB_CACHE', () => {
    expect(hubCacheDirectory({ HUGGINGFACE_HUB_CACHE: '/b', HF_HOME: '/c' })).toBe('/b');
  });

  it('uses HF_HOME/hub before XDG_CACHE_HOME', () => {
    expect(hubCacheDirectory({ HF_HOME: '/c', XDG_CACHE_HOME: '/d' })).toBe('/c/hub');
  });

  it('uses XDG_CACHE_HOME/huggingface/hub without HF_HOME', () => {
    expect(hubCacheDirectory({ XDG_CACHE_HOME: '/d' })).toBe('/d/huggingface/hub');
  });

  it('defaults to ~/.cache/huggingface/hub', () => {
    expect(hubCacheDirectory({})).toBe(join(homedir(), '.cache', 'huggingface', 'hub'));
  });

  it('expands ~ and variables', () => {
    expect(hubCacheDirectory({ HF_HUB_CACHE: '~/models' })).toBe(join(homedir(), 'models'));
    expect(hubCacheDirectory({ HF_HOME: '$DATA/hf', DATA: '/data' })).toBe('/data/hf/hub');
    expect(hubCacheDirectory({ HF_HOME: '${DATA}/hf', DATA: '/data' })).toBe('/data/hf/hub');
  });

  it('names repo folders like huggingface_hub', () => {
    expect(repoCacheFolderName('google-bert/bert-base-uncased')).toBe('models--google-bert--bert-base-uncased');
    expect(repoCacheFolderName('gpt2')).toBe('models--gpt2');
  });
});

describe('isTrueEnvironmentValue', () => {
  it.each([
    ['1', true],
    ['ON', true],
    ['yes', true],
    ['True', true],
    ['0', false],
    ['', false],
    ['no', false],
    [undefined, false],
  ])('reads %j as %s', (value, expected) => {
    expect(isTrueEnvironmentValue(value)).toBe(expected);
  });
});

describe('isHubRepoId', () => {
  it.each([
    ['bert-base-uncased', true],
    ['google-bert/bert-base-uncased', true],
    ['org/name.v2_x', true],
    ['./bert', false],
    ['/abs/bert', false],
    ['.hidden', false],
    ['org/.name', false],
    ['a/b/c', false],
    ['org--x/name', false],
    ['org/na..me', false],
    ['has space', false],
    ['', false],
  ])('reads %j as %s', (value, expected) => {
    expect(isHubRepoId(value)).toBe(expected);
  });
});

describe('resolvePretrainedFolder', () => {
  it('downloads a repo that loadBertCheckpoint reads', async () => {
    const logger = createRecordingLogger();

    const folder = await resolveTiny({ logger });

    expect(folder).toBe(join(repoFolder(), 'snapshots', MAIN_COMMIT));
    const original = await loadBertCheckpoint(sourceFolder);
    const downloaded = await loadBertCheckpoint(folder);
    expect(downloaded.architecture).toEqual(original.architecture);
    expect(downloaded.weights).toEqual(original.weights);
    for (const [name, content] of Object.entries(sourceFiles)) {
      expect(await readFile(join(folder, name))).toEqual(content);
    }

    const messages = logger.records.filter((record) => record.level === 'info').map((record) => record.message);
    expect(messages).toContain(`Downloaded model.safetensors (${(sourceFiles['model.safetensors']!.byteLength / 1000).toFixed(1)} kB)`);
    expect(messages.at(-1)).toBe(`${REPO_ID} at revision main is commit ${MAIN_COMMIT}; cached in ${folder}`);
  });

  it('writes the huggingface_hub cache layout', async () => {
    const folder = await resolveTiny();

    expect(await readFile(join(repoFolder(), 'refs', 'main'), 'utf8')).toBe(MAIN_COMMIT);

    const expectedEtags: Record<string, string> = {
      'config.json': gitBlobSha1(sourceFiles['config.json']!),
      'vocab.txt': gitBlobSha1(sourceFiles['vocab.txt']!),
      'tokenizer_config.json': gitBlobSha1(sourceFiles['tokenizer_config.json']!),
      'model.safetensors': sha256Hex(sourceFiles['model.safetensors']!),
    };
    expect((await readdir(join(repoFolder(), 'blobs'))).sort()).toEqual(Object.values(expectedEtags).sort());
    for (const [file, etag] of Object.entries(expectedEtags)) {
      const pointer = join(folder, file);
      expect((await lstat(pointer)).isSymbolicLink()).toBe(true);
      expect(await readlink(pointer)).toBe(`../../blobs/${etag}`);
    }

    // Absent optional files are recorded as huggingface_hub records them.
    expect((await readdir(join(repoFolder(), '.no_exist', MAIN_COMMIT))).sort()).toEqual(['special_tokens_map.json', 'tokenizer.json']);
  });

  it('downloads nothing on a second call', async () => {
    const first = await resolveTiny();
    hub.requests.length = 0;
    const logger = createRecordingLogger();

    const second = await resolveTiny({ logger });

    expect(second).toBe(first);
    expect(hub.count('GET')).toBe(0);
    expect(hub.requests.map((request) => `${request.method} ${request.path}`)).toEqual([`HEAD /${REPO_ID}/resolve/main/config.json`]);
    expect(logger.records.some((record) => record.message.startsWith('Downloaded'))).toBe(false);
  });

  it('resumes after a dropped connection', async () => {
    const weights = sourceFiles['model.safetensors']!;
    const sha256 = sha256Hex(weights);
    hub.dropOnce.add(sha256);
    const logger = createRecordingLogger();
    const progress: number[] = [];

    const folder = await resolveTiny({ logger, onProgress: (file, received) => file === 'model.safetensors' && progress.push(received) });

    const blobRequests = hub.requests.filter((request) => request.path === `/cdn/${sha256}`);
    expect(blobRequests).toHaveLength(2);
    expect(blobRequests[0]!.range).toBeUndefined();
    const resumedFrom = Number(/^bytes=(\d+)-$/.exec(blobRequests[1]!.range ?? '')?.[1]);
    expect(resumedFrom).toBeGreaterThan(0);
    expect(resumedFrom).toBeLessThanOrEqual(Math.floor(weights.byteLength / 2));
    expect(await readFile(join(folder, 'model.safetensors'))).toEqual(weights);
    expect(progress.at(-1)).toBe(weights.byteLength);
    expect(logger.records.some((record) => record.level === 'warn' && record.message.includes('resuming'))).toBe(true);
    expect(await readdir(join(repoFolder(), 'blobs'))).not.toContain(`${sha256}.incomplete`);
  });

  it('resumes an earlier incomplete file', async () => {
    const weights = sourceFiles['model.safetensors']!;
    const sha256 = sha256Hex(weights);
    await mkdir(join(repoFolder(), 'blobs'), { recursive: true });
    await writeFile(join(repoFolder(), 'blobs', `${sha256}.incomplete`), weights.subarray(0, 1000));

    const folder = await resolveTiny();

    const blobRequests = hub.requests.filter((request) => request.path === `/cdn/${sha256}`);
    expect(blobRequests.map((request) => request.range)).toEqual(['bytes=1000-']);
    expect(await readFile(join(folder, 'model.safetensors'))).toEqual(weights);
  });

  it('rejects a sha256 mismatch', async () => {
    const sha256 = sha256Hex(sourceFiles['model.safetensors']!);
    hub.corrupt.add(sha256);

    const error = await rejection(resolveTiny());

    expect(error.code).toBe('CHECKPOINT_INVALID');
    expect(error.message).toContain(`${hub.endpoint}/cdn/${sha256}`);
    expect(error.message).toContain(sha256);
    const corrupted = Buffer.from(sourceFiles['model.safetensors']!);
    corrupted[0] = corrupted[0]! ^ 0xff;
    expect(error.message).toContain(sha256Hex(corrupted));
    const blobs = await readdir(join(repoFolder(), 'blobs'));
    expect(blobs.filter((name) => name.startsWith(sha256))).toEqual([]);
    await expect(readFile(join(repoFolder(), 'refs', 'main'))).rejects.toThrow();
  });

  it('downloads sharded safetensors with an index', async () => {
    const { weights } = await loadBertCheckpoint(sourceFolder);
    const names = Object.keys(weights!);
    const half = Math.ceil(names.length / 2);
    const shards: Record<string, NamedArrays> = {
      'model-00001-of-00002.safetensors': Object.fromEntries(names.slice(0, half).map((name) => [name, weights![name]!])),
      'model-00002-of-00002.safetensors': Object.fromEntries(names.slice(half).map((name) => [name, weights![name]!])),
    };
    const weightMap: Record<string, string> = {};
    const files: RepoFiles = {
      'config.json': sourceFiles['config.json']!,
      'vocab.txt': sourceFiles['vocab.txt']!,
    };
    for (const [shard, arrays] of Object.entries(shards)) {
      files[shard] = Buffer.from(serializeSafetensors(arrays, { format: 'pt' }));
      for (const name of Object.keys(arrays)) {
        weightMap[name] = shard;
      }
    }
    files['model.safetensors.index.json'] = Buffer.from(JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const commit = fakeCommit('sharded');
    hub.addRepo('ft-test/sharded', { branches: { main: commit }, commits: { [commit]: files } });

    const folder = await resolvePretrainedFolder('ft-test/sharded', { baseDirectory: temporaryFolder });

    expect((await readdir(folder)).sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors', 'model.safetensors.index.json', 'vocab.txt']);
    expect((await loadBertCheckpoint(folder)).weights).toEqual(weights);

    hub.requests.length = 0;
    await resolvePretrainedFolder('ft-test/sharded', { baseDirectory: temporaryFolder });
    expect(hub.requests).toHaveLength(1);
  });

  it('rejects a repo with only pickle weights', async () => {
    const commit = fakeCommit('pickle');
    const files: RepoFiles = {
      'config.json': sourceFiles['config.json']!,
      'vocab.txt': sourceFiles['vocab.txt']!,
      'pytorch_model.bin': Buffer.from('not really a pickle'),
    };
    hub.addRepo('ft-test/pickle-only', { branches: { main: commit }, commits: { [commit]: files } });

    const error = await rejection(resolvePretrainedFolder('ft-test/pickle-only', { baseDirectory: temporaryFolder }));

    expect(error.code).toBe('UNSUPPORTED');
    expect(error.message).toContain('pytorch_model.bin');
    expect(error.message).toContain('save_pretrained(dir, safe_serialization=True)');
    expect(hub.requests.some((request) => request.method === 'GET' && request.path.includes('pytorch_model.bin'))).toBe(false);
  });

  it('uses a warm cache offline without requests', async () => {
    const online = await resolveTiny();
    hub.requests.length = 0;
    process.env.HF_HUB_OFFLINE = 'Yes';

    const offline = await resolveTiny();

    expect(offline).toBe(online);
    expect(hub.requests).toEqual([]);
  });

  it('fails offline with a cold cache', async () => {
    process.env.HF_HUB_OFFLINE = '1';

    const error = await rejection(resolveTiny());

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain(REPO_ID);
    expect(error.message).toContain('revision main');
    expect(error.message).toContain(repoFolder());
    expect(error.message).toContain('Unset HF_HUB_OFFLINE');
    expect(error.message).toContain('populate the cache');
    expect(hub.requests).toEqual([]);
  });

  it('falls back to cache when unreachable', async () => {
    const online = await resolveTiny();
    const closed = await FakeHub.start();
    await closed.close();
    process.env.HF_ENDPOINT = closed.endpoint;
    const logger = createRecordingLogger();

    const fallback = await resolveTiny({ logger });

    expect(fallback).toBe(online);
    const warnings = logger.records.filter((record) => record.level === 'warn').map((record) => record.message);
    expect(warnings.at(-1)).toContain('Could not reach the Hugging Face Hub');
    expect(warnings.at(-1)).toContain(online);
  });

  it('fails when unreachable with a cold cache', async () => {
    const closed = await FakeHub.start();
    await closed.close();
    process.env.HF_ENDPOINT = closed.endpoint;

    const error = await rejection(resolveTiny());

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain(`${closed.endpoint}/${REPO_ID}/resolve/main/config.json`);
    expect(error.message).toContain('Check the network connection');
  });

  it('explains a 401 with HF_TOKEN', async () => {
    hub.addRepo('ft-test/gated', { branches: { main: MAIN_COMMIT }, commits: { [MAIN_COMMIT]: sourceFiles }, token: 'hf_secret' });

    const error = await rejection(resolvePretrainedFolder('ft-test/gated', { baseDirectory: temporaryFolder }));

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain('HTTP 401');
    expect(error.message).toContain('gated or private');
    expect(error.message).toContain('Set HF_TOKEN');
  });

  it.each(['HF_TOKEN', 'HUGGING_FACE_HUB_TOKEN'])('sends %s as a bearer token', async (variable) => {
    hub.addRepo('ft-test/gated', { branches: { main: MAIN_COMMIT }, commits: { [MAIN_COMMIT]: sourceFiles }, token: 'hf_secret' });
    process.env[variable] = 'hf_secret';
    const logger = createRecordingLogger();

    const folder = await resolvePretrainedFolder('ft-test/gated', { baseDirectory: temporaryFolder, logger });

    expect((await loadBertCheckpoint(folder)).weights).not.toBeNull();
    expect(hub.requests.length).toBeGreaterThan(0);
    for (const request of hub.requests) {
      expect(request.authorization).toBe('Bearer hf_secret');
    }
    expect(logger.records.some((record) => record.message.includes('hf_secret'))).toBe(false);
  });

  it('keeps the token from other hosts', async () => {
    // The endpoint is named localhost while the LFS redirects name 127.0.0.1, so the blobs are on another origin.
    // The fetch wrapper still connects only to 127.0.0.1.
    process.env.HF_ENDPOINT = hub.endpoint.replace('//127.0.0.1:', '//localhost:');
    process.env.HF_TOKEN = 'hf_secret';

    await resolveTiny({ fetchImplementation: (input, init) => fetch(String(input).replace('//localhost:', '//127.0.0.1:'), init) });

    const hubRequests = hub.requests.filter((request) => !request.path.startsWith('/cdn/'));
    const blobRequests = hub.requests.filter((request) => request.path.startsWith('/cdn/'));
    expect(hubRequests.length).toBeGreaterThan(0);
    expect(blobRequests.length).toBeGreaterThan(0);
    for (const request of hubRequests) {
      expect(request.authorization).toBe('Bearer hf_secret');
    }
    for (const request of blobRequests) {
      expect(request.authorization).toBeUndefined();
    }
  });

  it('downloads a revision other than main', async () => {
    const prCommit = fakeCommit('pr-1');
    const other = await createTinyBertCheckpoint(join(temporaryFolder, 'pr-1'), { seed: 9 });
    hub.addRepo(REPO_ID, {
      branches: { main: MAIN_COMMIT, 'refs/pr/1': prCommit },
      commits: { [MAIN_COMMIT]: sourceFiles, [prCommit]: await readFolderFiles(other.folder) },
    });

    const folder = await resolveTiny({ revision: 'refs/pr/1' });

    expect(folder).toBe(join(repoFolder(), 'snapshots', prCommit));
    expect(hub.requests[0]!.path).toBe(`/${REPO_ID}/resolve/refs%2Fpr%2F1/config.json`);
    for (const request of hub.requests.slice(1).filter((request) => !request.path.startsWith('/cdn/'))) {
      expect(request.path).toContain(`/resolve/${prCommit}/`);
    }
    expect(await readFile(join(repoFolder(), 'refs', 'refs', 'pr', '1'), 'utf8')).toBe(prCommit);
    expect((await loadBertCheckpoint(folder)).weights).toEqual(other.weights);
  });

  it('uses a cached commit revision without requests', async () => {
    await resolveTiny();
    hub.requests.length = 0;

    const folder = await resolveTiny({ revision: MAIN_COMMIT });

    expect(folder).toBe(join(repoFolder(), 'snapshots', MAIN_COMMIT));
    expect(hub.requests).toEqual([]);
  });

  it('reports a missing revision', async () => {
    const error = await rejection(resolveTiny({ revision: 'no-such-branch' }));

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain('Revision "no-such-branch" of ft-test/tiny-bert not found');
  });

  it('reports a missing repo', async () => {
    const error = await rejection(resolvePretrainedFolder('ft-test/missing', { baseDirectory: temporaryFolder }));

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain('repo ft-test/missing or its revision "main" not found');
    expect(error.message).toContain(join(temporaryFolder, 'ft-test', 'missing'));
  });

  it('follows renamed repo redirects', async () => {
    hub.renames.set('ft-test/old-name', REPO_ID);

    const folder = await resolvePretrainedFolder('ft-test/old-name', { baseDirectory: temporaryFolder });

    expect(folder).toBe(join(cacheFolder, 'models--ft-test--old-name', 'snapshots', MAIN_COMMIT));
    expect((await loadBertCheckpoint(folder)).weights).not.toBeNull();
  });

  it('downloads requiredFiles and rejects missing ones', async () => {
    const commit = fakeCommit('extra');
    const files: RepoFiles = { ...sourceFiles, '1_Pooling/config.json': Buffer.from('{"pooling_mode_mean_tokens": true}') };
    hub.addRepo('ft-test/extra', { branches: { main: commit }, commits: { [commit]: files } });

    const folder = await resolvePretrainedFolder('ft-test/extra', { baseDirectory: temporaryFolder, requiredFiles: ['1_Pooling/config.json'] });
    expect(await readFile(join(folder, '1_Pooling', 'config.json'), 'utf8')).toBe('{"pooling_mode_mean_tokens": true}');
    expect(await readlink(join(folder, '1_Pooling', 'config.json'))).toBe(`../../../blobs/${gitBlobSha1(files['1_Pooling/config.json']!)}`);

    const error = await rejection(resolveTiny({ requiredFiles: ['modules.json'] }));
    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain('has no modules.json');
  });

  it('returns a local folder unchanged', async () => {
    expect(await resolvePretrainedFolder(sourceFolder, { baseDirectory: '/elsewhere' })).toBe(sourceFolder);
    expect(await resolvePretrainedFolder('source', { baseDirectory: temporaryFolder })).toBe(sourceFolder);
    expect(hub.requests).toEqual([]);
  });

  it('rejects names neither folder nor id', async () => {
    const error = await rejection(resolvePretrainedFolder('./models/bert', { baseDirectory: temporaryFolder }));

    expect(error.code).toBe('FILE_NOT_FOUND');
    expect(error.message).toContain(join(temporaryFolder, 'models', 'bert'));
    expect(error.message).toContain('org/name');
    expect(hub.requests).toEqual([]);
  });

});
