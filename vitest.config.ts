import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['services/**/*.test.ts', 'operator/**/*.test.ts', 'e2e/stack/**/*.unit.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          exclude: ['e2e/stack/**/*.unit.test.ts', 'node_modules/**'],
          globalSetup: ['e2e/stack/global-setup.ts'],
          // Real services on 2 cores: one file at a time keeps timings sane and Kafka rebalances rare.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
