import { defineConfig } from 'vitest/config';

/**
 * Vitest settings shared by every workspace package.
 *
 * Training tests run real kernels on a 2-core machine, so the timeouts are
 * generous and files run one at a time to keep memory and CPU contention low.
 */
export const sharedVitestConfig = defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks',
    reporters: ['default'],
  },
});
