import { describe, expect, it } from 'vitest';

import { createRecordingLogger } from '../logging/logger.js';
import { renderBatchSizeAndAccumulation, tuneBatchSize, type BatchSizeTuningOptions } from './batch-size.js';

/** Tuning options around a simulated throughput curve, with plenty of memory. */
function options(curve: (batchSize: number) => number, overrides: Partial<BatchSizeTuningOptions> = {}): BatchSizeTuningOptions {
  return {
    measure: async (batchSize) => curve(batchSize),
    datasetRows: 100_000,
    maxBatchSize: 1 << 20,
    onCpu: false,
    maxMemoryFraction: 0.8,
    logger: createRecordingLogger(),
    purpose: 'training',
    memoryUsed: () => 1e9,
    totalMemory: 64e9,
    ...overrides,
  };
}

describe('tuneBatchSize', () => {
  it('stops at the first drop in throughput', async () => {
    const result = await tuneBatchSize(options((size) => (size <= 16 ? size * 10 : 100)));
    expect(result.batchSize).toBe(16);
    expect(result.trials.map((trial) => trial.outcome)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok', 'slower']);
  });

  it('keeps the last size before out of memory', async () => {
    const curve = (size: number): number => {
      if (size >= 64) {
        throw new Error('Failed to allocate 2 GB: out of memory');
      }
      return size;
    };
    const result = await tuneBatchSize(options(curve));
    expect(result.batchSize).toBe(32);
    expect(result.trials.at(-1)).toEqual({ batchSize: 64, rowsPerSecond: null, outcome: 'out_of_memory' });
  });

  it('rethrows errors other than out of memory', async () => {
    await expect(tuneBatchSize(options(() => { throw new Error('shape mismatch'); }))).rejects.toThrow('shape mismatch');
  });

  it('caps at 128 on a CPU', async () => {
    expect((await tuneBatchSize(options((size) => size, { onCpu: true }))).batchSize).toBe(128);
  });

  it('caps at 20% of a 30-row dataset', async () => {
    expect((await tuneBatchSize(options((size) => size, { datasetRows: 30 }))).batchSize).toBe(4);
  });

  it('uses 1 for a 4-row dataset', async () => {
    const result = await tuneBatchSize(options((size) => size, { datasetRows: 4 }));
    expect(result.batchSize).toBe(1);
    expect(result.trials).toEqual([]);
  });

  it('respects max_batch_size', async () => {
    expect((await tuneBatchSize(options((size) => size, { maxBatchSize: 48 }))).batchSize).toBe(32);
  });

  it('stops before the memory limit', async () => {
    // Each trial adds 1 GB per row of batch; the limit is 0.5 × 40 GB = 20 GB.
    let size = 0;
    const result = await tuneBatchSize(
      options(
        (batchSize) => {
          size = batchSize;
          return batchSize;
        },
        { memoryUsed: () => 1e9 + size * 1e9, totalMemory: 40e9, maxMemoryFraction: 0.5 },
      ),
    );
    // After 8 (9 GB, grown by 4 GB): 16 would need about 17 GB, allowed. After 16 (17 GB, grown 8 GB): 32 would need about 33 GB.
    expect(result.batchSize).toBe(16);
  });
});

describe('renderBatchSizeAndAccumulation', () => {
  // Ludwig's table: (effective, batch, accumulation, workers) → (batch, accumulation).
  const cases: [number | 'auto', number | 'auto', number | 'auto', number, number | 'auto', number | 'auto'][] = [
    [128, 16, 4, 2, 16, 4],
    ['auto', 16, 4, 2, 16, 4],
    [128, 16, 'auto', 2, 16, 4],
    [128, 'auto', 4, 2, 16, 4],
    [128, 'auto', 'auto', 2, 'auto', 'auto'],
    ['auto', 'auto', 'auto', 2, 'auto', 'auto'],
    ['auto', 16, 'auto', 2, 16, 1],
    ['auto', 'auto', 4, 2, 'auto', 4],
  ];
  it.each(cases)('ebs %s, bs %s, ga %s, %s workers', (effective, batch, accumulation, workers, expectedBatch, expectedAccumulation) => {
    expect(renderBatchSizeAndAccumulation(effective, batch, accumulation, workers)).toEqual({ batchSize: expectedBatch, accumulation: expectedAccumulation });
  });
});
