// `npm run bench:browser` (bench/browser.mjs) runs from a clean clone: it bundles the library for
// the browser, times a tiny dense layer inside a page in headless Chromium on its WebGPU adapter
// (SwiftShader here) and writes the same JSON fields as the Node suite. Counts are checked
// against values worked out here; times only for being positive and finite.
//
// Under CI=true a browser without a WebGPU adapter fails the test; locally it skips, saying so.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { CHROMIUM, CI, root } from './demoPage.js';

const work = await mkdtemp(join(tmpdir(), 'net-trim-bench-browser-'));
afterAll(() => rm(work, { recursive: true, force: true }));

it('times a layer in the page and reports the device and the bench fields', async (context) => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM}: no Chromium (apt-get install chromium, or set CHROMIUM_PATH)`);
  const json = join(work, 'results.json');
  const run = spawnSync(process.execPath, [join(root, 'bench/browser.mjs'), '--problems', 'dense-40x12-P300', '--repeats', '1', '--iterations', '1', '--json', json], { cwd: root, encoding: 'utf8' });
  if (run.status !== 0 && /no WebGPU adapter/.test(run.stderr) && !CI) {
    console.warn('skipping the browser benchmark: Chromium found no WebGPU adapter');
    context.skip();
  }
  expect(run.status, run.stderr).toBe(0);
  const { device, results } = JSON.parse(await readFile(json, 'utf8')) as { device: string; results: Array<Record<string, unknown>> };
  expect(device).toMatch(/Chrome\//);
  expect(results).toHaveLength(1);
  const [N, M, P] = [41, 12, 300];
  expect(results[0]).toMatchObject({ problem: 'dense-40x12-P300', backend: 'webgpu', N, M, P, solve: 'inverse', dispatchesPerIteration: 6 });
  expect(results[0].allProductsToProductsWithXFlops).toBeCloseTo(1 + N / (2 * P), 10);
  for (const field of ['secondsPerIteration', 'iterationToMatmulRatio', 'iterationToAllProductsRatio', 'matmulGflops'])
    expect(Number.isFinite(results[0][field]) && (results[0][field] as number) > 0, field).toBe(true);
  expect(run.stdout).toContain('| dense-40x12-P300 | 41×12×300 | webgpu in Chromium (inverse) |');
});
