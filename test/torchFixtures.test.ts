// The networks PyTorch users export (test/fixtures/torch, made by scripts/torch-fixtures.mjs):
// each imports to the function onnxruntime computes, prunes from the CLI, and the written
// model.onnx runs in onnxruntime with the accuracy and nonzeros report.json claims.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, parseOnnxModel } from '../src/index.js';
import { serializeNpy } from '../src/io/npy.js';
import { runCli } from './helpers/cli.js';
import { accuracyOf, networkNonzeros, mnistFixtures } from './helpers/models.js';
import { nchwToNhwc, relativeError } from './helpers/onnxGraphs.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();

// conv1d reads a digit as a sequence [28, 28] (NCL: its rows are the channels), sequence-transformer
// as 28 steps of 28 features (frames [T, F], ours already): the same values, another shape.
const SEQUENCE = [28, 28];
const FRAMES = new Set(['sequence-transformer']);
let out: string;
let sequencesPath: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'net-trim-torch-'));
  sequencesPath = join(out, 'mnist-sequences.npy');
  await writeFile(sequencesPath, serializeNpy({ shape: [digits.length / 784, ...SEQUENCE], dtype: 'float32', data: digits }));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const inputDims = (name: string) => (name === 'conv1d' || FRAMES.has(name) ? SEQUENCE : [1, 28, 28]);

async function onnxLogits(bytes: Uint8Array, count: number, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', digits.slice(0, count * 784), [count, ...dims]) });
  return result[session.outputNames[0]].data as Float32Array;
}



// name, mode, samples, ε gain, the largest accuracy drop on 1000 digits accepted (points), the
// layers left alone (a first conv on one channel: many patches, few weights; inspect says so),
// the iteration limit per program (1000 unless given).
// The conv nets solve on the GPU (lavapipe in CI): the float64 CPU takes minutes for their patches.
const runs: Array<[string, 'cascade' | 'parallel', number, number, number, string[], number?]> = [
  ['resnet', 'cascade', 40, 0.05, 2, ['/stem/stem.0/Conv']],
  ['mobilenet', 'cascade', 80, 0.02, 5, ['/features/features.0/features.0.0/Conv']],
  ['mlp-batchnorm', 'cascade', 300, 0.05, 2, []],
  ['mlp-activations', 'parallel', 300, 0.03, 2, []],
  ['efficientnet', 'cascade', 100, 0.05, 3, ['/features/features.0/features.0.0/Conv']],
  ['mlp-gelu', 'parallel', 300, 0.03, 2, []],
  ['shufflenet', 'cascade', 80, 0.05, 3, ['/features/features.0/features.0.0/Conv']],
  ['convnext', 'cascade', 80, 0.05, 3, ['/features/features.0/Conv'], 400], // one program runs to any limit (bench/frameworks.mjs: 1000*)
  ['conv1d', 'cascade', 200, 0.05, 3, []],
  // Transformer encoders: attention's products and layout ops run as they are, its projections and MLPs are pruned.
  ['vit', 'cascade', 100, 0.05, 2, []],
  ['sequence-transformer', 'cascade', 100, 0.1, 2, []],
];

describe('PyTorch exports: import equals onnxruntime', () => {
  for (const [name] of runs)
    it(name, async () => {
      const bytes = await readFile(join(fixtures, 'torch', `${name}.onnx`));
      const { network } = parseOnnxModel(bytes, `${name}.onnx`);
      const dims = inputDims(name);
      // Ours is channels-last: a sequence [C, L] runs as [1, L, C], frames [T, F] as [1, T, F].
      const input = dims.length === 2 && !FRAMES.has(name) ? nchwToNhwc(digits.slice(0, 200 * 784), 200, dims[0], 1, dims[1]) : digits.subarray(0, 200 * 784);
      expect(network.inputShape).toEqual(dims.length === 2 ? [1, dims[1], dims[0]] : [28, 28, 1]);
      if (FRAMES.has(name) || name === 'vit') expect(network.layers.filter((l) => l.kind === 'matmul')).toHaveLength(name === 'vit' ? 4 : 2); // attention's two products per layer
      const ours = forwardCpu(network, input, 200).output;
      expect(relativeError(ours, await onnxLogits(bytes, 200, dims))).toBeLessThan(1e-5);
    });
});

describe('PyTorch exports: net-trim prune writes a smaller model that onnxruntime runs as reported', () => {
  for (const [name, mode, count, gain, maxDrop, exclude, maxIterations = 1000] of runs)
    it(`${name} (${mode})`, async () => {
      const dir = join(out, name);
      const dims = inputDims(name);
      const args = ['prune', join(fixtures, 'torch', `${name}.onnx`), '--samples', dims.length === 2 ? sequencesPath : samplesPath, '--labels', labelsPath, '--max-samples', String(count), '--mode', mode, '--epsilon-gain', String(gain), '--max-iterations', String(maxIterations), '--out', dir];
      for (const layer of exclude) args.push('--exclude', layer);
      const run = await runCli(args);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
      const bytes = await readFile(join(dir, 'model.onnx'));
      const { network } = parseOnnxModel(bytes, 'model.onnx');
      expect(report.nonzerosAfter).toBe(networkNonzeros(network));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      const logits = await onnxLogits(bytes, count, dims);
      expect(accuracyOf(logits, labels, count)).toBeCloseTo(report.accuracyAfter, 10);
      // On all 1000 digits (most unseen by the pruning).
      const original = await onnxLogits(await readFile(join(fixtures, 'torch', `${name}.onnx`)), 1000, dims);
      const pruned = await onnxLogits(bytes, 1000, dims);
      console.log(`${name} ${mode}: nonzeros ${report.nonzerosBefore} -> ${report.nonzerosAfter}, rd ${report.relativeDiscrepancy.toFixed(4)}, accuracy on 1000 digits ${(100 * accuracyOf(original, labels, 1000)).toFixed(1)}% -> ${(100 * accuracyOf(pruned, labels, 1000)).toFixed(1)}%, ${report.seconds.toFixed(1)} s; ${report.layers.map((l: any) => `${l.name} ${l.program} ${l.nonzerosBefore}->${l.nonzerosAfter} (${l.iterations} it)`).join(', ')}`);
      expect(accuracyOf(pruned, labels, 1000)).toBeGreaterThanOrEqual(accuracyOf(original, labels, 1000) - maxDrop / 100);
    }, 300_000);
});
