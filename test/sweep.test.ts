// `net-trim sweep` on the bundled MNIST MLP: one pruning per ε gain, in order, sparser and less
// faithful as the gain grows; sweep.json and sweep.html (rendered in headless Chromium).
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNpy } from '../src/io/npy.js';
import { CLI, runCli } from './helpers/cli.js';
import { browserForTests, renderReport } from './helpers/reportPage.js';
import { nonzerosInShard, shareCorrect, tfjsPredictedLabels } from './helpers/tfjsModel.js';

const fixtures = new URL('./fixtures/', import.meta.url).pathname;
const model = join(fixtures, 'mnist-mlp/model.json');
const samplesPath = join(fixtures, 'mnist-samples.npy');
const labelsPath = join(fixtures, 'mnist-labels.npy');
const inCi = process.env.CI === 'true';
const GAINS = [0.02, 0.06];
const SAMPLES = 200;

let work: string;
let browser: Browser | null = null;
let swept = false;

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first (npm test runs rollup before vitest)`);
  work = await mkdtemp(join(tmpdir(), 'net-trim-sweep-'));
});

afterAll(async () => {
  await browser?.close();
  await rm(work, { recursive: true, force: true });
});

describe('net-trim sweep', () => {
  it('prunes at each gain in order: fewer nonzeros and more discrepancy as the gain grows', async (context) => {
    const out = join(work, 'sweep');
    const run = await runCli(
      ['sweep', model, '--samples', samplesPath, '--labels', labelsPath, '--max-samples', String(SAMPLES), '--epsilon-gains', GAINS.join(','), '--max-iterations', '500', '--out', out],
      { runtimeDir: work },
    );
    if (run.code === 3 && !inCi) {
      console.warn(`skipping the sweep: no WebGPU adapter on this machine (${run.stderr.trim().split('\n').pop()})`);
      context.skip('no WebGPU adapter (CI=true makes this a failure)');
    }
    expect(run.code, run.stderr).toBe(0);
    expect((await readdir(out)).sort()).toEqual(['sweep.html', 'sweep.json']);
    for (const gain of GAINS) {
      expect(run.stderr).toContain(`[g=${gain} 1/3 dense_1] solving`);
      expect(run.stdout).toMatch(new RegExp(`^${gain}\\s+\\d+\\s+[\\d.]+%\\s+[\\d.]+`, 'm'));
    }

    const sweep = JSON.parse(await readFile(join(out, 'sweep.json'), 'utf8'));
    expect(sweep.points.map((p: { epsilonGain: number }) => p.epsilonGain)).toEqual(GAINS);
    const [small, large] = sweep.points;
    const trainedNonzeros = await nonzerosInShard(join(fixtures, 'mnist-mlp/weights.bin'));
    for (const point of sweep.points) {
      expect(point.nonzerosBefore).toBe(trainedNonzeros);
      expect(point.nonzerosAfter).toBeLessThan(point.nonzerosBefore);
      expect(point.layers.map((l: { name: string }) => l.name)).toEqual(['dense_1', 'dense_2', 'dense_3']);
      expect(point.nonzerosAfter).toBe(point.layers.reduce((s: number, l: { nonzerosAfter: number }) => s + l.nonzerosAfter, 0));
      expect(point.heldOut.count).toBe(1000 - SAMPLES);
    }
    // Every gain after the first starts from the previous gain's solver states.
    expect(sweep.points.map((p: { warmStarted: boolean }) => p.warmStarted)).toEqual([false, true]);
    // A larger ε allows more discrepancy and buys sparsity.
    expect(large.nonzerosAfter).toBeLessThan(small.nonzerosAfter);
    expect(large.relativeDiscrepancy).toBeGreaterThan(small.relativeDiscrepancy);
    // Nothing to compare the pruned models with (the sweep writes none), but the trained model's accuracy is TF.js's.
    const digits = parseNpy(await readFile(samplesPath), samplesPath).data as Float32Array;
    const labels = parseNpy(await readFile(labelsPath), labelsPath).data as Int32Array;
    expect(small.accuracyBefore).toBeCloseTo(shareCorrect(await tfjsPredictedLabels(model, digits, 784, 0, SAMPLES), labels.subarray(0, SAMPLES)), 10);
    expect(small.heldOut.accuracyBefore).toBeCloseTo(shareCorrect(await tfjsPredictedLabels(model, digits, 784, SAMPLES, 1000), labels.subarray(SAMPLES)), 10);
    swept = true;
  });

  it('writes a sweep.html that renders offline in Chromium with both curves', async (context) => {
    if (!swept) context.skip('the sweep did not run');
    browser = await browserForTests();
    if (!browser) return context.skip('no Chromium');
    const page = await renderReport(browser, join(work, 'sweep', 'sweep.html'), 'sweep-report.png');
    expect(page.errors).toEqual([]);
    expect(page.external).toEqual([]);
    expect(page.plots.map((p) => p.plot)).toEqual(['sweep-sparsity', 'sweep-accuracy']);
    const [sparsity, accuracy] = page.plots;
    for (const plot of page.plots) {
      expect(plot.width).toBeGreaterThan(200);
      expect(plot.height).toBeGreaterThan(150);
    }
    expect(sparsity.points).toEqual({ sparsity: GAINS.length });
    expect((sparsity.series.sparsity.match(/[ML]/g) ?? []).length).toBe(GAINS.length);
    for (const gain of GAINS) expect(sparsity.texts).toContain(`g=${gain}`);
    expect(accuracy.points).toEqual({ accuracy: GAINS.length, 'held-out': GAINS.length });
  });
});
