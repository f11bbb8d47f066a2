import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['{core,api,worker,operator,tools}/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['e2e/**/*.test.ts'],
          // e2e/cluster needs the local node: `npm run test:cluster` (vitest.cluster.config.ts).
          exclude: ['node_modules/**', 'e2e/cluster/**'],
          globalSetup: ['e2e/support/global-setup.ts'],
          // Real services on 2 cores: one file at a time keeps timings sane and Kafka rebalances rare.
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
