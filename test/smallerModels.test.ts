// Issue 16 end to end: `net-trim prune --structured --target-sparsity` writes models with fewer
// neurons and filters that reload in onnxruntime and TF.js with the accuracy the report claims,
// with the search, units, parameters, file sizes and latency in report.json; bad options exit 2
// and write nothing.
import { describe, expect, it } from 'vitest';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { parseOnnxModel } from '../src/io/onnxModel.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { networkCost } from '../src/network/cost.js';
import type { Conv2DLayer, DenseLayer } from '../src/network/types.js';
import { runCli } from './helpers/cli.js';
import { accuracyOf, mnistFixtures, tfjsPredict } from './helpers/models.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();

async function withOut<T>(body: (out: string) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'net-trim-smaller-'));
  try {
    return await body(join(dir, 'out'));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function onnxOutputs(path: string, inputs: Float32Array, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', inputs.subarray(0, count * 784), [count, 784]) });
  return result[session.outputNames[0]].data as Float32Array;
}

describe('net-trim prune --structured --target-sparsity (ONNX MLP)', () => {
  it('removes half of the hidden neurons; onnxruntime runs the smaller model with the reported accuracy; sizes, cost and latency are reported', async () => {
    await withOut(async (out) => {
      // dense_1 is left as it is (fast solves): dense_2 still removes dense_1's neurons by not reading them.
      const args = ['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '200', '--structured', '--target-sparsity', '0.5', '--exclude', 'dense_1', '--backend', 'cpu', '--latency', '--quiet', '--out', out];
      const run = await runCli(args);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      const { search, units, cost, files, latency } = report.deployment;
      expect(search.reached, search.message).toBe(true);
      expect(search.measure).toBe('units');
      expect(Math.abs(1 - units.after / units.before - 0.5)).toBeLessThanOrEqual(1 / 96 + 1e-9);
      for (const [i, trial] of search.trials.entries()) if (i > 0) expect(trial.warmStartedFrom).not.toBeNull();

      // The written model: fewer units, exactly as the report counts them.
      const written = parseOnnxModel(new Uint8Array(await readFile(join(out, 'model.onnx'))), 'model.onnx').network;
      const dense = written.layers.filter((l): l is DenseLayer => l.kind === 'dense');
      expect(dense.map((l) => l.units)).toEqual([...units.layers.map((l: { after: number }) => l.after).slice(0, 2), 10]);
      expect(dense[0].units + dense[1].units).toBe(units.after);
      expect(networkCost(written).total).toEqual(cost.after);
      expect(cost.after.macs).toBeLessThan(cost.before.macs);

      // onnxruntime on the held-out digits: the accuracy report.json claims (float32 vs float64: a tie may flip).
      const heldOut = digits.subarray(200 * 784);
      const outputs = await onnxOutputs(join(out, 'model.onnx'), heldOut, 800);
      expect(Math.abs(accuracyOf(outputs, labels.subarray(200), 800) - report.heldOut.accuracyAfter)).toBeLessThanOrEqual(2 / 800);
      if (existsSync(join(out, 'model.sparse.onnx'))) {
        const sparse = await onnxOutputs(join(out, 'model.sparse.onnx'), heldOut, 50);
        expect(Array.from(sparse)).toEqual(Array.from(outputs.subarray(0, sparse.length)));
      }

      for (const file of files) {
        expect((await stat(join(out, file.name))).size, file.name).toBe(file.bytes);
        expect(file.gzipBytes).toBeGreaterThan(0);
      }
      expect(latency.rows.map((r: { runtime: string; batch: number }) => `${r.runtime} ${r.batch}`)).toEqual(['onnx 1', 'onnx 64']);
      for (const row of latency.rows) {
        expect(row.models.map((m: { label: string }) => m.label)).toEqual(['trained', 'pruned']);
        expect(row.ratio).toBeCloseTo(row.models[1].medianMs / row.models[0].medianMs, 10);
      }
      const html = await readFile(join(out, 'report.html'), 'utf8');
      expect(html).toContain('Smaller and faster');
    });
  }, 240_000);

  it('--max-accuracy-drop 2: the most pruning whose held-out accuracy stays within 2 points', async () => {
    await withOut(async (out) => {
      const args = ['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '200', '--max-accuracy-drop', '2', '--exclude', 'dense_1', '--backend', 'cpu', '--json', '--out', out];
      const run = await runCli(args);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.deployment.search.goal).toBe('max accuracy drop');
      expect(report.deployment.search.value).toBe(0.02);
      expect(report.heldOut.accuracyBefore - report.heldOut.accuracyAfter).toBeLessThanOrEqual(0.02 + 1e-12);
      expect(report.deployment.units).toBeNull(); // unstructured: shapes kept unless --remove-units
      // The gain chosen is the one of the prune written (the trial with its discrepancy), not the first tried.
      const { gain, trials } = report.deployment.search;
      expect(trials.find((t: { gain: number }) => t.gain === gain).relativeDiscrepancy).toBe(report.relativeDiscrepancy);
      expect(gain).not.toBe(trials[0].gain);
    });
  }, 240_000);
});

describe('net-trim prune --structured --no-remove-units', () => {
  it('keeps every neuron (zeros stay zeros): the written model has the trained shapes', async () => {
    await withOut(async (out) => {
      const args = ['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '200', '--structured', '--no-remove-units', '--epsilon-gain', '0.3', '--exclude', 'dense_1', '--backend', 'cpu', '--json', '--out', out];
      const run = await runCli(args);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.deployment.units).toBeNull();
      expect(report.layers.find((l: { name: string }) => l.name === 'dense_2').inputsKept).toBeLessThan(64); // neurons unread, but kept
      const written = parseOnnxModel(new Uint8Array(await readFile(join(out, 'model.onnx'))), 'model.onnx').network;
      expect(written.layers.filter((l): l is DenseLayer => l.kind === 'dense').map((l) => l.units)).toEqual([64, 32, 10]);
      expect(report.deployment.cost.after.params).toBe(report.deployment.cost.before.params);
    });
  }, 120_000);
});

describe('net-trim prune --structured (TF.js CNN)', () => {
  it('removes filters of conv_1 and channels read by the dense layer; TF.js runs the written model with the reported accuracy', async () => {
    await withOut(async (out) => {
      const args = ['prune', join(fixtures, 'mnist-cnn/model.json'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '100', '--structured', '--epsilon-gain', '0.3', '--max-iterations', '300', '--exclude', 'conv_1', '--backend', 'cpu', '--quiet', '--out', out];
      const run = await runCli(args);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      const { network } = await loadTfjsModelFile(join(out, 'model.json'));
      const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
      expect(convs[0].filters + convs[1].filters).toBe(report.deployment.units.after);
      expect(report.deployment.units.after).toBeLessThan(24);
      // conv_2 reads the conv_1 filters that are left, the dense layer 25 pixels of each conv_2 filter left.
      expect(convs[1].inChannels).toBe(convs[0].filters);
      expect((network.layers.find((l) => l.kind === 'dense') as DenseLayer).inputs).toBe(25 * convs[1].filters);
      const predictions = await tfjsPredict(join(out, 'model.json'), digits.subarray(100 * 784), 900, [28, 28, 1]);
      expect(Math.abs(accuracyOf(predictions, labels.subarray(100), 900) - report.heldOut.accuracyAfter)).toBeLessThanOrEqual(2 / 900);
    });
  }, 240_000);
});

describe('net-trim prune: bad search options exit 2 and write nothing', () => {
  const cases: Array<[string[], RegExp]> = [
    [['--target-sparsity', '0'], /--target-sparsity: expected a number > 0/],
    [['--target-sparsity', '1'], /--target-sparsity: expected the share to remove, a number between 0 and 1/],
    [['--target-sparsity', 'half'], /--target-sparsity: expected a number > 0, found 'half'/],
    [['--target-sparsity', '0.5', '--max-accuracy-drop', '1'], /expected one of them/],
    [['--max-accuracy-drop', '-1'], /--max-accuracy-drop: expected a number >= 0/],
    [['--target-sparsity', '0.5', '--epsilon-gain', '0.05,dense_1=0.1'], /per-layer gains \(name=g\) cannot be combined with a search/],
  ];
  for (const [extra, message] of cases)
    it(extra.join(' '), async () => {
      await withOut(async (out) => {
        const run = await runCli(['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--backend', 'cpu', ...extra, '--out', out]);
        expect(run.code).toBe(2);
        expect(run.stderr).toMatch(message);
        expect(existsSync(out)).toBe(false);
      });
    });

  it('--max-accuracy-drop without --labels', async () => {
    await withOut(async (out) => {
      const run = await runCli(['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--max-accuracy-drop', '1', '--backend', 'cpu', '--out', out]);
      expect(run.code).toBe(2);
      expect(run.stderr).toMatch(/--max-accuracy-drop: accuracy needs labels: pass --labels/);
      expect(existsSync(out)).toBe(false);
    });
  });
});
