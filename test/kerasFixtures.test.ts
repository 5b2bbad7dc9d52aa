// Models built as Keras users build them, with tfjs-layers (test/fixtures/keras, made by
// scripts/keras-fixtures.mjs): a functional model with BatchNormalization, ReLU(max_value),
// DepthwiseConv2D, Add, Concatenate, AveragePooling2D, GlobalAveragePooling2D; and an MLP with
// tanh and sigmoid; a 1-D CNN on digits read as sequences [28, 28] (Conv1D, MaxPooling1D, SE through
// Reshape((1, C)), GlobalAveragePooling1D). Each reads to the function TF.js computes, prunes from the CLI, and the
// written model.json loads in TF.js with the accuracy and nonzeros report.json claims.
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, prunableLayers } from '../src/index.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { serializeNpy } from '../src/io/npy.js';
import { runCli } from './helpers/cli.js';
import { accuracyOf, networkNonzeros, tfjsPredict, mnistFixtures } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();

let out: string;
// The sequence model reads a digit as [28 steps, 28 channels] (NLC): the same values, another shape.
let sequencesPath: string;
beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  out = await mkdtemp(join(tmpdir(), 'net-trim-keras-'));
  sequencesPath = join(out, 'mnist-sequences.npy');
  await writeFile(sequencesPath, serializeNpy({ shape: [digits.length / 784, 28, 28], dtype: 'float32', data: digits }));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});




const models: Array<[string, number[], 'cascade' | 'parallel', number, number, number]> = [
  // name, input shape, mode, samples, ε gain, largest accuracy drop on 1000 digits (points)
  ['functional', [28, 28, 1], 'cascade', 60, 0.03, 3],
  ['activations', [784], 'parallel', 300, 0.03, 2],
  ['sequence', [28, 28], 'cascade', 200, 0.05, 3],
];

describe('Keras-style TF.js models', () => {
  it('the functional model reads to a graph: BatchNorms folded, ReLU(6) a clipped ReLU, depthwise one program per channel', async () => {
    const handle = await loadTfjsModelFile(join(fixtures, 'keras/functional/model.json'));
    expect(handle.folds).toEqual([{ batchNorm: 'stem_bn', into: 'stem' }, { batchNorm: 'dw_bn', into: 'dw' }]);
    expect(handle.network.layers.map((l) => l.kind)).toEqual(['conv2d', 'activation', 'conv2d', 'relu', 'conv2d', 'add', 'relu', 'concat', 'avgpool2d', 'conv2d', 'globalavgpool', 'dense']);
    const programs = prunableLayers(handle.network).map((t) => [t.layer.name, t.program, t.reason.split(' (')[0]]);
    expect(programs).toEqual([
      ['stem', 'clip', 'clipped ReLU [0, 6]'],
      ['dw', 'relu', 'ReLU'],
      ['pw', 'relu', "ReLU after the residual sum 'residual'"],
      ['head', 'relu', 'fused ReLU'],
      ['classes', 'linear', 'logits'],
    ]);
  });

  for (const [name, shape] of models)
    it(`${name}: our float64 forward pass equals TF.js's`, async () => {
      const { network } = await loadTfjsModelFile(join(fixtures, 'keras', name, 'model.json'));
      const ours = forwardCpu(network, digits.subarray(0, 100 * 784), 100).output;
      expect(relativeError(ours, await tfjsPredict(join(fixtures, 'keras', name, 'model.json'), digits, 100, shape))).toBeLessThan(1e-5);
    });

  for (const [name, shape, mode, count, gain, maxDrop] of models)
    it(`${name}: net-trim prune (${mode}) writes a model.json that TF.js loads, as reported, with the folds kept`, async () => {
      const dir = join(out, name);
      const run = await runCli(['prune', join(fixtures, 'keras', name, 'model.json'), '--samples', shape.length === 2 ? sequencesPath : samplesPath, '--labels', labelsPath, '--max-samples', String(count), '--mode', mode, '--epsilon-gain', String(gain), '--max-iterations', '1000', '--out', dir]);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
      const written = await loadTfjsModelFile(join(dir, 'model.json'));
      expect(written.folds).toEqual([]); // folded on writing: no BatchNormalization left
      expect(JSON.stringify(JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')).modelTopology)).not.toContain('BatchNormalization');
      expect(report.nonzerosAfter).toBe(networkNonzeros(written.network));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      expect(accuracyOf(await tfjsPredict(join(dir, 'model.json'), digits, count, shape), labels, count)).toBeCloseTo(report.accuracyAfter, 10);
      const before = accuracyOf(await tfjsPredict(join(fixtures, 'keras', name, 'model.json'), digits, 1000, shape), labels, 1000);
      const after = accuracyOf(await tfjsPredict(join(dir, 'model.json'), digits, 1000, shape), labels, 1000);
      console.log(`keras ${name} ${mode}: nonzeros ${report.nonzerosBefore} -> ${report.nonzerosAfter}, rd ${report.relativeDiscrepancy.toFixed(4)}, accuracy on 1000 digits ${(100 * before).toFixed(1)}% -> ${(100 * after).toFixed(1)}%, ${report.seconds.toFixed(1)} s; ${report.layers.map((l: any) => `${l.name} ${l.program} ${l.nonzerosBefore}->${l.nonzerosAfter} (${l.iterations} it)`).join(', ')}`);
      expect(after).toBeGreaterThanOrEqual(before - maxDrop / 100);
    }, 300_000);
});
