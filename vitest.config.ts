import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps global backend state; isolate each file in its own fork.
    pool: 'forks',
    fileParallelism: true,
  },
});
