// `npm run test:browser`: the browser-facing API in Node (sources.test.ts) and the demo page in
// headless Chromium (demo.test.ts). Apart from the default suite: Chromium's WebGPU (SwiftShader)
// is slow and wants the cores to itself, so the files run one after the other.
import { defineConfig } from 'vitest/config';
import { wgsl } from '../../build/wgsl-plugin.mjs';

export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  plugins: [wgsl()],
  test: {
    include: ['test/browser/**/*.test.ts'],
    // The demo as `npm run test:browser` builds it, apart from dist/ (which `npm test` rebuilds).
    env: { NET_TRIM_WEB_ROOT: process.env.NET_TRIM_WEB_ROOT ?? 'test-results/browser/web' },
    testTimeout: 600_000,
    hookTimeout: 180_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
