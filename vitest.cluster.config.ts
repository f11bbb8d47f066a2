// The cluster suite (e2e/cluster): the chart installed on the stack's real node. Its own config,
// run by `npm run test:cluster`, until it is part of `npm test` (see docs/stack.md).
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    name: 'cluster',
    include: ['e2e/cluster/**/*.test.ts'],
    globalSetup: ['e2e/cluster/global-setup.ts'],
    fileParallelism: false,
    // Pods start on 2 shared cores: installs and rollouts take minutes, never milliseconds.
    testTimeout: 600_000,
    hookTimeout: 900_000,
  },
});
