// Whole trained networks (test/fixtures: an MLP and a CNN trained on MNIST digits by
// scripts/train-fixtures.mjs), against the formats' own runtimes: TF.js and ONNX Runtime.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, forwardGpu, parseNpy, parseOnnxModel, pruneNetwork, serializeNpy, type Network } from '../src/index.js';
import { loadOnnxModelFile } from '../src/io/onnxFiles.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { runCli } from './helpers/cli.js';
import { gpuForTests } from './helpers/gpu.js';
import { networkNonzeros, tfjsPredict } from './helpers/models.js';

const gpu = await gpuForTests();
const fixtures = new URL('./fixtures/', import.meta.url).pathname;
const samplesPath = join(fixtures, 'mnist-samples.npy');
const labelsPath = join(fixtures, 'mnist-labels.npy');
const digits = parseNpy(await readFile(samplesPath), samplesPath).data as Float32Array; // 1000 × 784
const labels = Int32Array.from(parseNpy(await readFile(labelsPath), labelsPath).data as Int32Array);
const COUNT = 1000;

let out: string;
beforeAll(async () => {
  tf.env().set('IS_TEST', true); // no Node.js banner
  await tf.setBackend('cpu');
  out = await mkdtemp(join(tmpdir(), 'net-trim-models-'));
});
afterAll(async () => {
  gpu?.destroy();
  await rm(out, { recursive: true, force: true });
});

function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < b.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / den);
}

function accuracy(outputs: ArrayLike<number>, classes = 10, count = COUNT): number {
  let correct = 0;
  for (let p = 0; p < count; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (outputs[p * classes + c] > outputs[p * classes + best]) best = c;
    if (best === labels[p]) correct++;
  }
  return correct / count;
}



async function onnxPredict(bytes: Uint8Array, count: number, imageShape: number[] | null): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  // MNIST digits have one channel: NHWC and NCHW hold the same numbers.
  const shape = imageShape ? [count, 1, ...imageShape] : [count, 784];
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', digits.slice(0, count * 784), shape) };
  const result = await session.run(feeds);
  return result[session.outputNames[0]].data as Float32Array;
}

describe.skipIf(!gpu)('forward passes of the trained fixtures equal the formats\' runtimes', () => {
  for (const name of ['mnist-mlp', 'mnist-cnn']) {
    it(`${name}: GPU forward = TF.js, and = ONNX Runtime on the ONNX export`, async () => {
      const image = name === 'mnist-cnn' ? [28, 28] : null;
      const count = 200;
      const { network } = await loadTfjsModelFile(join(fixtures, name, 'model.json'));
      const ours = await forwardGpu(gpu!, network, digits.subarray(0, count * 784), count);
      expect(relativeError(ours.output, await tfjsPredict(join(fixtures, name, 'model.json'), digits, count, image ? [28, 28, 1] : [784]))).toBeLessThan(1e-4);
      const onnxFile = join(fixtures, `${name}.onnx`);
      const onnx = await loadOnnxModelFile(onnxFile);
      const fromOnnx = await forwardGpu(gpu!, onnx.network, digits.subarray(0, count * 784), count);
      expect(relativeError(fromOnnx.output, await onnxPredict(await readFile(onnxFile), count, image))).toBeLessThan(1e-4);
    });
  }
});

describe.skipIf(!gpu)('net-trim prune on the trained MLP', () => {
  const SAMPLES = '400';
  const runs: Record<string, { report: any; network: Network }> = {};

  it('cascade on the TF.js model: the pruned model.json loads in TF.js and gives what the report claims', async () => {
    const dir = join(out, 'mlp-tfjs');
    const run = await runCli(['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', SAMPLES, '--mode', 'cascade', '--epsilon-gain', '0.03', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const { network } = await loadTfjsModelFile(join(dir, 'model.json'));
    runs.cascade = { report, network };
    expect(report.nonzerosAfter).toBe(networkNonzeros(network)); // counts match the file
    const predicted = await tfjsPredict(join(dir, 'model.json'), digits, Number(SAMPLES), [784]);
    expect(accuracy(predicted, 10, Number(SAMPLES))).toBeCloseTo(report.accuracyAfter, 10);
    const { network: original } = await loadTfjsModelFile(join(fixtures, 'mnist-mlp/model.json'));
    const used = digits.subarray(0, Number(SAMPLES) * 784);
    const z = forwardCpu(original, used, Number(SAMPLES)).logits;
    const zHat = forwardCpu(network, used, Number(SAMPLES)).logits;
    expect(relativeError(zHat, z)).toBeCloseTo(report.relativeDiscrepancy, 3);
    expect(report.files.sparseExportBytes).toBeLessThan(report.files.denseWeightBytes);
  });

  it('parallel on the ONNX model: the pruned model.onnx runs in ONNX Runtime and gives what the report claims', async () => {
    const dir = join(out, 'mlp-onnx');
    const run = await runCli(['prune', join(fixtures, 'mnist-mlp.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', SAMPLES, '--mode', 'parallel', '--epsilon-gain', '0.02', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const bytes = await readFile(join(dir, 'model.onnx'));
    const { network } = parseOnnxModel(bytes, 'model.onnx');
    runs.parallel = { report, network };
    expect(report.nonzerosAfter).toBe(networkNonzeros(network));
    expect(accuracy(await onnxPredict(bytes, Number(SAMPLES), null), 10, Number(SAMPLES))).toBeCloseTo(report.accuracyAfter, 10);
  });

  it('both modes cut nonzeros substantially at rd ≤ 0.05 and keep accuracy on held-out digits', async () => {
    const { network: original } = await loadTfjsModelFile(join(fixtures, 'mnist-mlp/model.json'));
    const before = accuracy(forwardCpu(original, digits, COUNT).output);
    for (const mode of ['cascade', 'parallel']) {
      const { report, network } = runs[mode];
      expect(report.relativeDiscrepancy).toBeLessThanOrEqual(0.05);
      expect(report.nonzerosAfter).toBeLessThan(0.35 * report.nonzerosBefore);
      // All 1000 digits, 800 of them unseen by the pruning.
      const after = accuracy(forwardCpu(network, digits, COUNT).output);
      expect(after).toBeGreaterThanOrEqual(before - 0.02);
      console.log(`MLP ${mode}: nonzeros ${report.nonzerosBefore} -> ${report.nonzerosAfter}, rd ${report.relativeDiscrepancy.toFixed(4)}, accuracy on 1000 digits ${(100 * before).toFixed(1)}% -> ${(100 * after).toFixed(1)}%, per layer ${report.layers.map((l: any) => `${l.name} ${l.nonzerosBefore}->${l.nonzerosAfter}`).join(', ')}`);
    }
  });
});

describe.skipIf(!gpu)('pruning the trained CNN', () => {
  it('keeps accuracy within a point on 1000 digits with a substantial reduction', async () => {
    const { network } = await loadTfjsModelFile(join(fixtures, 'mnist-cnn/model.json'));
    // conv_1 (80 weights, 1.5% of the network) is left alone: its 26·26 patches per digit make it
    // the slowest program here for the least gain. The dense layer has 401 inputs: 400 digits.
    const used = 400;
    const result = await pruneNetwork(network, { data: digits.subarray(0, used * 784), count: used }, { mode: 'cascade', epsilonGain: 0.05, exclude: ['conv_1'], gpu: gpu!, solver: { maxIterations: 800 } });
    const before = accuracy(forwardCpu(network, digits, COUNT).output);
    const after = accuracy(forwardCpu(result.network, digits, COUNT).output);
    console.log(`CNN cascade on ${used} digits: nonzeros ${result.nonzerosBefore} -> ${result.nonzerosAfter}, rd ${result.relativeDiscrepancy.toFixed(4)}, accuracy ${(100 * before).toFixed(1)}% -> ${(100 * after).toFixed(1)}%, per layer ${result.layers.map((l) => `${l.name} ${l.nonzerosBefore}->${l.nonzerosAfter} (${l.iterations} it${l.converged ? '' : ', not converged'})`).join(', ')}`);
    expect(result.layers.map((l) => l.kind)).toEqual(['conv2d', 'dense']);
    expect(result.nonzerosAfter).toBeLessThan(0.6 * result.nonzerosBefore);
    expect(after).toBeGreaterThanOrEqual(before - 0.01);
  });
});

describe('net-trim prune refuses bad input before solving', () => {
  it('samples whose shape does not match the model, naming both shapes', async () => {
    const wrong = join(out, 'wrong.npy');
    await writeFile(wrong, serializeNpy({ shape: [10, 100], dtype: 'float32', data: new Float32Array(1000) }));
    const run = await runCli(['prune', join(fixtures, 'mnist-cnn/model.json'), '--samples', wrong, '--out', join(out, 'x')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/wrong\.npy: shape: expected \(P, 28, 28, 1\).*found \(10, 100\)/);
  });
  it("an output folder that is the model's own folder", async () => {
    const run = await runCli(['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', samplesPath, '--out', join(fixtures, 'mnist-mlp')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/refusing to write into the model's own folder/);
  });
  it('an unknown layer name in --exclude', async () => {
    const run = await runCli(['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', samplesPath, '--exclude', 'dense_9', '--backend', 'cpu', '--out', join(out, 'y')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/'dense_9'.*dense_1, dense_2, dense_3/);
  });
  it('a Keras, PyTorch or TensorFlow file: says how to export it to a format read here', async () => {
    const model = join(out, 'model.keras');
    await writeFile(model, 'PK');
    const run = await runCli(['prune', model, '--samples', samplesPath, '--out', join(out, 'k')]);
    expect(run.code).toBe(2);
    expect(run.stderr.trim()).toBe(`net-trim: ${model}: expected a TF.js Layers model (model.json) or an ONNX model (.onnx), found extension '.keras': a Keras 3 model: export it as ONNX (model.export('model.onnx', format='onnx')) and prune that`);
    await expect(loadModelFile('weights.pth')).rejects.toThrow(/found extension '\.pth': a PyTorch file: export the model as ONNX \(torch\.onnx\.export/);
  });
  it('an unknown layer name in a per-layer --epsilon-gain', async () => {
    const run = await runCli(['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', samplesPath, '--epsilon-gain', '0.03,dense_7=0.1', '--backend', 'cpu', '--out', join(out, 'z')]);
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/'dense_7'/);
  });
});
