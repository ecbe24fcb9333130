import { defineConfig } from 'vitest/config';

// Two groups. The browser end-to-end test asserts zero underruns in real-time playback, so it runs
// alone after everything else: beside CPU-heavy files on 2 cores, Chromium's audio thread and the
// server's workers can be starved for longer than any sane pre-buffer (CI saw one underrun so).
const E2E = ['test/e2e.*.test.ts'];

export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // tfjs keeps global backend state; isolate each file in its own fork.
    pool: 'forks',
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: E2E, fileParallelism: true, sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'e2e', include: E2E, fileParallelism: false, sequence: { groupOrder: 1 } } },
    ],
  },
});
