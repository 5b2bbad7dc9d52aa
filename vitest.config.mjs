import { defineConfig } from 'vitest/config';
import { wgsl } from './build/wgsl-plugin.mjs';

export default defineConfig({
  plugins: [wgsl()],
  test: {
    include: ['test/**/*.test.ts'],
    // The browser tests run on their own: npm run test:browser (test/browser/vitest.config.mjs).
    exclude: ['**/node_modules/**', 'test/browser/**'],
    testTimeout: 300_000,
    hookTimeout: 120_000,
    // Two cores: one test file per core, each with its own (software) GPU device.
    pool: 'forks',
    maxWorkers: 2,
  },
});
