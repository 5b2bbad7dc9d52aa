// Keras functional models of several inputs and outputs (test/fixtures/keras/multi: a digit's
// pixels and its tokens in, the digit and its parity out). Read to what TF.js computes, on the CPU
// and the GPU; pruned from the CLI with an .npz of one array per input, the written model.json run
// by TF.js to the reported discrepancy, structured pruning and latency too; the refusals.
import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseNpy } from '../src/io/npy.js';
import { parseNpz } from '../src/io/npz.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { samplesForModel } from '../src/io/samples.js';
import { parseTfjsModel } from '../src/io/tfjsModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { runCli } from './helpers/cli.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { mnistFixtures, tfjsPredictAll } from './helpers/models.js';
import { bytesOf, npyHeader, rawNpy } from './helpers/npyBytes.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { gaussianSource, mulberry32 } from './helpers/random.js';
import { savedRandomModels } from './helpers/tfjsModel.js';

const { fixtures, digits } = await mnistFixtures();
const gpu = await gpuForTests();
const MODEL = join(fixtures, 'keras', 'multi', 'model.json');
const tokensPath = join(fixtures, 'text-samples.npy');
const allTokens = parseNpy(await readFile(tokensPath), tokensPath).data as Int32Array;
const T = 49;
const P = 24;
const images = digits.slice(0, P * 784);
const tokens = allTokens.slice(0, P * T);

/** Each sample's pixels, then its tokens: the network input of parts [image, tokens]. */
function packed(count: number, image = images, ids = tokens): Float32Array {
  const data = new Float32Array(count * (784 + T));
  for (let p = 0; p < count; p++) {
    data.set(image.subarray(p * 784, (p + 1) * 784), p * (784 + T));
    data.set(Float32Array.from(ids.subarray(p * T, (p + 1) * T)), p * (784 + T) + 784);
  }
  return data;
}

/** TF.js's two outputs for the model at `path`, as ours packs them: per sample the digit's 10, then the parity's 2. */
async function tfjsOutputs(path: string, count = P): Promise<Float32Array> {
  const [digit, parity] = await tfjsPredictAll(path, [
    { values: images.subarray(0, count * 784), shape: [count, 28, 28, 1] },
    { values: tokens.subarray(0, count * T), shape: [count, T] },
  ]);
  const out = new Float32Array(count * 12);
  for (let p = 0; p < count; p++) {
    out.set(digit.subarray(p * 10, (p + 1) * 10), p * 12);
    out.set(parity.subarray(p * 2, (p + 1) * 2), p * 12 + 10);
  }
  return out;
}

function npz(arrays: Record<string, { descr: string; shape: number[]; data: ArrayBufferView }>): Uint8Array {
  const files = Object.fromEntries(Object.entries(arrays).map(([name, a]) => [`${name}.npy`, rawNpy(npyHeader(a.descr, `(${a.shape.join(', ')},)`.replace(',,', ',')), bytesOf(a.data))]));
  return zipSync(files, { level: 0 });
}

const samplesNpz = () =>
  npz({ image: { descr: '<f4', shape: [P, 28, 28, 1], data: images }, tokens: { descr: '<i4', shape: [P, T], data: tokens } });

describe('a Keras model of two inputs and two outputs: read', () => {
  it('has an input part per InputLayer and an output part per output, and computes what TF.js computes', async () => {
    const model = await loadModelFile(MODEL);
    const { network } = model;
    expect(network.inputParts).toEqual([
      { name: 'image', shape: [28, 28, 1], values: 'float' },
      { name: 'tokens', shape: [T], values: 'ids' },
    ]);
    expect(network.outputParts).toEqual([
      { name: 'digit', shape: [10] },
      { name: 'parity', shape: [2] },
    ]);
    expect(model.partLayouts).toEqual(['nhwc', 'nhwc']);
    const ours = forwardCpu(network, packed(P), P).output;
    const theirs = await tfjsOutputs(MODEL);
    expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
    // Each head on its own: the parities are probabilities that TF.js computed from both inputs.
    for (let p = 0; p < P; p++) expect(ours[p * 12 + 10] + ours[p * 12 + 11]).toBeCloseTo(1, 5);
    // The inputs' order matters: the tokens of other digits give other outputs.
    const shuffled = forwardCpu(network, packed(P, images, Int32Array.from(tokens).reverse()), P).output;
    expect(relativeError(shuffled, theirs)).toBeGreaterThan(1e-2);
  });

  it('takes an .npz of one array per input, by name, and names the array that is missing', async () => {
    const model = await loadModelFile(MODEL);
    const samples = samplesForModel(parseNpz(samplesNpz(), 's.npz'), model, 's.npz');
    expect(samples.count).toBe(P);
    expect(Array.from(samples.data)).toEqual(Array.from(packed(P)));
    const missing = parseNpz(npz({ image: { descr: '<f4', shape: [P, 784], data: images } }), 'one.npz');
    expect(() => samplesForModel(missing, model, 'one.npz')).toThrow("one.npz: expected an array 'tokens' (the model's inputs: 'image', 'tokens'), found 'image'");
    const outOfRange = parseNpz(npz({ image: { descr: '<f4', shape: [P, 784], data: images }, tokens: { descr: '<i4', shape: [P, T], data: Int32Array.from(tokens, (v) => v + 1000) } }), 'ids.npz');
    expect(() => samplesForModel(outOfRange, model, 'ids.npz')).toThrow(/^ids\.npz: tokens: .*token ids/);
  });

  it.skipIf(!gpu)('computes on the GPU what it computes in float64', async () => {
    const { network } = await loadModelFile(MODEL);
    await expectGpuForwardMatches(gpu!, network, packed(8), 8);
  });

  it('refuses an output that is an input, two outputs of one tensor and a layer that reaches no output', async () => {
    const json = JSON.parse(await readFile(MODEL, 'utf8'));
    const weights = new Uint8Array(await readFile(join(MODEL, '..', 'weights.bin'))).buffer;
    const withOutputs = (outputs: string[]) => {
      const copy = structuredClone(json);
      copy.modelTopology.config.output_layers = outputs.map((name) => [name, 0, 0]);
      return copy;
    };
    // (The layers only 'parity' reads are none: without it in the outputs, 'parity' reaches none.)
    await expect(parseTfjsModel(withOutputs(['digit']), weights, 'm.json')).rejects.toThrow("m.json: layer 10 ('parity'): expected a layer on a path from an input to an output, found one whose output does not reach the model's output");
    await expect(parseTfjsModel(withOutputs(['digit', 'parity', 'tokens']), weights, 'm.json')).rejects.toThrow("m.json: output 'tokens' is its input");
    await expect(parseTfjsModel(withOutputs(['digit', 'parity', 'digit']), weights, 'm.json')).rejects.toThrow("m.json: outputs 'digit' and 'digit' are the same tensor");
  });
});

/**
 * A sequence and an image in; out, the image's feature map (not a vector: flattened into the
 * network's output) and a vector. The sequence's summary gates the image's channels.
 */
function sequenceAndMap(): tf.LayersModel {
  const sequence = tf.input({ shape: [5, 3], name: 'sequence' });
  const image = tf.input({ shape: [6, 6, 2], name: 'image' });
  const summary = tf.layers.globalAveragePooling1d({ name: 'summary' }).apply(tf.layers.conv1d({ name: 'seq_conv', filters: 4, kernelSize: 3, activation: 'relu' }).apply(sequence));
  const gate = tf.layers.reshape({ name: 'gate', targetShape: [1, 1, 4] }).apply(tf.layers.dense({ name: 'gate_dense', units: 4, activation: 'sigmoid' }).apply(summary));
  const map = tf.layers.conv2d({ name: 'map', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(image);
  const gated = tf.layers.multiply({ name: 'gated' }).apply([map as tf.SymbolicTensor, gate as tf.SymbolicTensor]) as tf.SymbolicTensor;
  const scores = tf.layers.dense({ name: 'scores', units: 3 }).apply(tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(gated));
  return tf.model({ inputs: [sequence, image], outputs: [gated, scores as tf.SymbolicTensor], name: 'sequence_and_map' });
}

describe('a Keras model of a sequence and an image in, a feature map and a vector out', () => {
  const { saved } = savedRandomModels([{ name: 'ports', build: sequenceAndMap }], 'net-trim-keras-ports-', 11);

  it('reads the sequence as [1, steps, channels] (NLC samples), flattens the map into the output, and computes what TF.js computes', async () => {
    const { path } = saved.get('ports')!;
    const model = await loadModelFile(path);
    expect(model.network.inputParts).toEqual([
      { name: 'sequence', shape: [1, 5, 3], values: 'float' },
      { name: 'image', shape: [6, 6, 2], values: 'float' },
    ]);
    expect(model.partLayouts).toEqual(['nlc', 'nhwc']);
    expect(model.network.outputParts).toEqual([
      { name: 'gated', shape: [6, 6, 4] },
      { name: 'scores', shape: [3] },
    ]);
    const count = 4;
    const normal = gaussianSource(mulberry32(5));
    const sequence = Float32Array.from({ length: count * 15 }, normal);
    const image = Float32Array.from({ length: count * 72 }, normal);
    const arrays = parseNpz(npz({ sequence: { descr: '<f4', shape: [count, 5, 3], data: sequence }, image: { descr: '<f4', shape: [count, 6, 6, 2], data: image } }), 's.npz');
    const input = samplesForModel(arrays, model, 's.npz').data;
    const [map, scores] = await tfjsPredictAll(path, [
      { values: sequence, shape: [count, 5, 3] },
      { values: image, shape: [count, 6, 6, 2] },
    ]);
    const theirs = new Float32Array(count * 147);
    for (let p = 0; p < count; p++) {
      theirs.set(map.subarray(p * 144, (p + 1) * 144), p * 147);
      theirs.set(scores.subarray(p * 3, (p + 1) * 3), p * 147 + 144);
    }
    expect(relativeError(forwardCpu(model.network, input, count).output, theirs)).toBeLessThan(1e-5);
    if (gpu) await expectGpuForwardMatches(gpu, model.network, input, count);
  });
});

describe('a Keras model of two inputs and two outputs: net-trim prune --samples S.npz', () => {
  let out: string;
  let samples: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'net-trim-keras-ports-'));
    samples = join(out, 'samples.npz');
    await writeFile(samples, samplesNpz());
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('writes a model.json whose discrepancy in TF.js is the reported one; labels are refused', async () => {
    const target = join(out, 'pruned');
    const { code, stdout, stderr } = await runCli(['prune', MODEL, '--samples', samples, '--epsilon-gain', '0.05', '--max-iterations', '200', '--backend', 'cpu', '--out', target]);
    expect(code, stderr).toBe(0);
    expect(stdout).not.toContain('accuracy');
    const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
    expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
    const trained = await tfjsOutputs(MODEL);
    const pruned = await tfjsOutputs(join(target, 'model.json'));
    const measured = relativeError(pruned, trained);
    expect(measured).toBeGreaterThan(0);
    expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
    // Each output's own discrepancy (their scales may differ), as TF.js measures it: digit's 10 values, then parity's 2, per sample.
    const part = (out: Float32Array, from: number, size: number) => Float32Array.from({ length: P * size }, (_, i) => out[Math.floor(i / size) * 12 + from + (i % size)]);
    const each = [part(pruned, 0, 10), part(pruned, 10, 2)].map((values, k) => relativeError(values, [part(trained, 0, 10), part(trained, 10, 2)][k]));
    expect(report.outputDiscrepancies.map((o: { name: string }) => o.name)).toEqual(['digit', 'parity']);
    report.outputDiscrepancies.forEach((o: { relativeDiscrepancy: number }, k: number) => expect(Math.abs(o.relativeDiscrepancy - each[k])).toBeLessThan(1e-4 * each[k] + 1e-6));
    const [digit, parity] = report.outputDiscrepancies.map((o: { relativeDiscrepancy: number }) => o.relativeDiscrepancy.toPrecision(3));
    expect(stdout).toContain(`relative discrepancy of the outputs: ${report.relativeDiscrepancy.toPrecision(3)} (digit ${digit}, parity ${parity})`);

    const labels = join(out, 'labels.npy');
    await writeFile(labels, rawNpy(npyHeader('<i4', `(${P},)`), bytesOf(new Int32Array(P))));
    const refused = await runCli(['prune', MODEL, '--samples', samples, '--labels', labels, '--backend', 'cpu', '--out', join(out, 'refused')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("expected no labels for a model of 2 outputs ('digit', 'parity')");
  });

  it('--structured --latency: fewer units, TF.js runs the written model to the reported discrepancy, both models timed with both inputs', async () => {
    const target = join(out, 'structured');
    const args = ['prune', MODEL, '--samples', samples, '--structured', '--epsilon-gain', '0.2', '--max-iterations', '200', '--latency', '--backend', 'cpu', '--out', target];
    const { code, stderr } = await runCli(args);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
    const { units, latency } = report.deployment;
    expect(units.after).toBeLessThan(units.before);
    const pruned = await tfjsOutputs(join(target, 'model.json'));
    const measured = relativeError(pruned, await tfjsOutputs(MODEL));
    expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
    const json = JSON.parse(await readFile(join(target, 'model.json'), 'utf8'));
    const hidden = json.modelTopology.config.layers.find((l: { name: string }) => l.name === 'hidden');
    expect(hidden.config.units).toBeLessThan(48);
    expect(latency.rows.map((r: { batch: number }) => r.batch)).toEqual([1, 64]);
    for (const row of latency.rows) expect(row.models.map((m: { label: string; runs: number }) => [m.label, m.runs])).toEqual([['trained', 30], ['pruned', 30]]);
  });
});
