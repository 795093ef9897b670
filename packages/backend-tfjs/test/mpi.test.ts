import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { createRecordingLogger, Random, trainRun } from '@ft/core';
import { describe, expect, it } from 'vitest';

import tfjsBackend from '../src/index.js';

// These tests start `mpirun` of Open MPI with the built CLI, so run `npx turbo run build` first.
const cliPath = fileURLToPath(new URL('../../../apps/cli/bin/ft.js', import.meta.url));
const failingBackendPath = fileURLToPath(new URL('./fixtures/failing-mpi-backend.mjs', import.meta.url));
const mpirunFound = spawnSync('mpirun', ['--version']).status === 0;
const mpiRequired = process.env['FT_REQUIRE_MPI'] === '1';
const skipReason = 'mpirun of Open MPI is not on PATH (apt-get install openmpi-bin libopenmpi-dev); set FT_REQUIRE_MPI=1 to fail instead of skipping';

if (!mpirunFound && !mpiRequired) {
  console.warn(`Skipping the MPI tests: ${skipReason}.`);
}

/** Writes a CSV of two noisy numeric inputs and a label that depends on their sum. */
async function syntheticCsv(folder: string, rows: number, seed: number): Promise<string> {
  const random = new Random(seed);
  const lines = ['x1,x2,label'];
  for (let i = 0; i < rows; i++) {
    const x1 = random.next() * 4 - 2;
    const x2 = random.next() * 4 - 2;
    const noise = random.next() * 0.6 - 0.3;
    lines.push(`${x1.toFixed(4)},${x2.toFixed(4)},${x1 + x2 + noise > 0 ? 'up' : 'down'}`);
  }
  const file = path.join(folder, 'data.csv');
  await writeFile(file, `${lines.join('\n')}\n`);
  return file;
}

function config(dataset: string, trainer: Record<string, unknown>, backendTrainer: Record<string, unknown>, backendType = 'tfjs') {
  return {
    input_features: [
      { name: 'x1', type: 'number' },
      { name: 'x2', type: 'number' },
    ],
    output_features: [{ name: 'label', type: 'category' }],
    combiner: { num_fc_layers: 1, output_size: 8, dropout: 0 },
    trainer: { learning_rate: 0.01, learning_rate_scaling: 'constant', ...trainer },
    backend: { type: backendType, runtime: 'wasm', trainer: backendTrainer },
    dataset,
  };
}

interface MpiRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly output: string;
}

/**
 * Starts `mpirun -np 2 node ft.js …`. `stopWhen` is polled every 20 ms. Once it returns true,
 * mpirun gets SIGTERM, and it then ends every rank.
 */
function mpirun(args: readonly string[], cwd: string, stopWhen?: () => boolean): Promise<MpiRun> {
  const child = spawn('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, cliPath, ...args], {
    cwd,
    env: { ...process.env, NO_COLOR: '1' },
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const poll =
    stopWhen === undefined
      ? undefined
      : setInterval(() => {
          if (stopWhen()) {
            clearInterval(poll);
            child.kill('SIGTERM');
          }
        }, 20);
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (exitCode, signal) => {
      clearInterval(poll);
      resolve({ exitCode, signal, output });
    });
  });
}

interface TestStatistics {
  readonly [split: string]: Record<string, Record<string, number>>;
}

describe.skipIf(!mpirunFound && !mpiRequired)('MPI data-parallel training on tfjs', () => {
  it('requires mpirun when FT_REQUIRE_MPI=1', () => {
    expect(mpirunFound, skipReason).toBe(true);
  });

  it('matches one process with twice the batch', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-mpi-'));
    const dataset = await syntheticCsv(folder, 200, 11);
    const configPath = path.join(folder, 'config.json');
    await writeFile(configPath, JSON.stringify(config(dataset, { batch_size: 8, epochs: 2 }, { strategy: 'mpi' })));
    const outputDirectory = path.join(folder, 'results');

    const run = await mpirun(['train', '--config', configPath, '--output_directory', outputDirectory, '--random_seed', '5'], folder);
    expect(run.exitCode, run.output).toBe(0);
    expect(await readdir(outputDirectory)).toEqual(['experiment_run']);
    // Only rank 0 prints the summary.
    expect(run.output.match(/Results: /g)).toHaveLength(1);

    const single = await trainRun({
      config: config(dataset, { batch_size: 16, epochs: 2 }, {}),
      outputDirectory: path.join(folder, 'single'),
      logger: createRecordingLogger(),
      loadBackend: async () => tfjsBackend,
      randomSeed: 5,
    });
    const statistics = JSON.parse(await readFile(path.join(outputDirectory, 'experiment_run', 'test_statistics.json'), 'utf8')) as TestStatistics;
    const expected = JSON.parse(await readFile(path.join(single.runDirectory, 'test_statistics.json'), 'utf8')) as TestStatistics;
    expect(Object.keys(statistics).sort()).toEqual(Object.keys(expected).sort());
    for (const [split, outputs] of Object.entries(expected)) {
      for (const [output, metrics] of Object.entries(outputs)) {
        for (const [metric, value] of Object.entries(metrics)) {
          const actual = statistics[split]?.[output]?.[metric];
          expect(actual, `${split} ${output} ${metric} is missing`).toBeTypeOf('number');
          expect(Math.abs(actual! - value), `${split} ${output} ${metric}: ${actual} against ${value}`).toBeLessThan(1e-5);
        }
      }
    }
    const description = JSON.parse(await readFile(path.join(outputDirectory, 'experiment_run', 'description.json'), 'utf8')) as { data_parallel: Record<string, unknown> };
    expect(description.data_parallel).toMatchObject({ num_workers: 2, strategy: 'mpi', effective_batch_size: 16 });
  });

  it('rejects num_workers other than the world size', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-mpi-'));
    const dataset = await syntheticCsv(folder, 40, 11);
    const configPath = path.join(folder, 'config.json');
    await writeFile(configPath, JSON.stringify(config(dataset, { batch_size: 8, epochs: 1 }, { strategy: 'mpi', num_workers: 3 })));

    const run = await mpirun(['train', '--config', configPath, '--output_directory', path.join(folder, 'results')], folder);
    expect(run.exitCode).not.toBe(0);
    expect(run.output).toContain('backend.trainer.num_workers is 3, but mpirun started 2 rank(s)');
    expect(existsSync(path.join(folder, 'results'))).toBe(false);
  });

  it('aborts every rank when one throws', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-mpi-'));
    const dataset = await syntheticCsv(folder, 200, 11);
    const configPath = path.join(folder, 'config.json');
    await writeFile(configPath, JSON.stringify(config(dataset, { batch_size: 8, epochs: 2 }, { strategy: 'mpi' }, failingBackendPath)));

    const started = Date.now();
    const run = await mpirun(['train', '--config', configPath, '--output_directory', path.join(folder, 'results')], folder);
    expect(run.exitCode).not.toBe(0);
    expect(run.output).toContain('MPI rank 1 failed, so it aborts the MPI job: Error: injected failure in computeGradients on MPI rank 1');
    expect(Date.now() - started, 'rank 0 waited for the failed rank').toBeLessThan(30_000);
  });

  it('resumes after mpirun is killed', async () => {
    const folder = await mkdtemp(path.join(tmpdir(), 'ft-mpi-'));
    const dataset = await syntheticCsv(folder, 200, 11);
    const configPath = path.join(folder, 'config.json');
    // 140 training rows in steps of 16: 9 steps per epoch, 360 steps in all, a checkpoint every 3.
    await writeFile(configPath, JSON.stringify(config(dataset, { batch_size: 8, epochs: 40, steps_per_checkpoint: 3, early_stop: -1 }, { strategy: 'mpi', num_workers: 2 })));
    const outputDirectory = path.join(folder, 'results');
    const runDirectory = path.join(outputDirectory, 'experiment_run');
    const latest = path.join(runDirectory, 'model', 'training_checkpoints', 'latest.json');

    const killed = await mpirun(['train', '--config', configPath, '--output_directory', outputDirectory], folder, () => existsSync(latest));
    expect(killed.exitCode, killed.output).not.toBe(0);
    expect(existsSync(path.join(runDirectory, 'test_statistics.json')), 'the first run finished before it was killed').toBe(false);
    const checkpoint = JSON.parse(await readFile(latest, 'utf8')) as { progress: { step: number } };
    expect(checkpoint.progress.step).toBeGreaterThanOrEqual(3);
    expect(checkpoint.progress.step).toBeLessThan(360);

    const resumed = await mpirun(['train', '--resume', runDirectory], folder);
    expect(resumed.exitCode, resumed.output).toBe(0);
    expect(resumed.output).toMatch(/Resuming at step \d+ of 360/);
    expect(await readdir(outputDirectory)).toEqual(['experiment_run']);
    const description = JSON.parse(await readFile(path.join(runDirectory, 'description.json'), 'utf8')) as { resumed: boolean; stop_reason: string };
    expect(description.resumed).toBe(true);
    expect(description.stop_reason).toBe('completed');
    const final = JSON.parse(await readFile(latest, 'utf8')) as { progress: { step: number } };
    expect(final.progress.step).toBe(360);
  });
});
