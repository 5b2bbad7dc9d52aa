// Merges beyond the sum and crops (src/network/composite.ts): ONNX's Sub, Sum, Mean, Max and Min
// of computed tensors, Max/Min with a constant (clamps), a Slice of an image's H and W or a
// sequence's L (a crop), a Pad (reflected, repeated edges, a constant: a rearrange); Keras's Average, Maximum, Minimum, a Multiply of three tensors and Cropping2D.
// Composed of layers the network has (a − b = a + (−1·b), max(a, b) = a + relu(b − a), …):
// hand-computed values, onnxruntime and TF.js as oracles of the float64 and GPU passes, channel
// ties through them, and written models that run as our pruned networks.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { writeTfjsModel } from '../src/io/tfjsModel.js';
import { cropLayer, mergeLayers, padLayer, type MergeKind } from '../src/network/composite.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { gpuForTests } from './helpers/gpu.js';
import { GraphBuilder, imageSamples, importError, ints, relativeError, runOnnx, str } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { savedRandomModels } from './helpers/tfjsModel.js';

const gpu = await gpuForTests();

describe('merges and crops on hand-computed values', () => {
  /** mergeLayers of two or three inputs [2] given as the network's input [k·2] through gathers. */
  const merged = (kind: MergeKind, inputs: number[][]) => {
    const picks = inputs.map((_, k) => ({ kind: 'gather' as const, name: `x${k}`, from: ['input'], indices: [2 * k, 2 * k + 1] }));
    const network: Network = { inputShape: [2 * inputs.length], layers: [...picks, ...mergeLayers(kind, 'm', picks.map((p) => p.name), 2)] };
    return [...forwardCpu(network, Float64Array.from(inputs.flat()), 1).output];
  };
  it('subtract, average, maximum and minimum', () => {
    expect(merged('subtract', [[5, -1], [2, 3]])).toEqual([3, -4]);
    merged('average', [[1, 2], [3, 4], [8, 0]]).forEach((v, i) => expect(v).toBeCloseTo([4, 2][i], 6)); // 1/3 in float32
    expect(merged('maximum', [[1, -2], [0, 7], [3, -5]])).toEqual([3, 7]);
    expect(merged('minimum', [[1, -2], [0, 7], [3, -5]])).toEqual([0, -5]);
  });
  it('a crop keeps the inner window: [3, 4, 1] without its top row and left and right columns', () => {
    const crop = cropLayer('c', [3, 4, 1], [1, 0, 1, 1]);
    expect([crop.shape, [...crop.indices]]).toEqual([[2, 2, 1], [5, 6, 9, 10]]);
  });
  it('a pad of a row [0, 1, 2] by 2 before and 1 after: reflected, repeated edges, a constant', () => {
    const row = (mode: 'reflect' | 'edge' | 'constant', value = 0) => {
      const layer = padLayer('p', [1, 3, 1], [0, 0, 2, 1], mode, value);
      return [layer.shape, [...layer.indices], layer.offset && [...layer.offset]];
    };
    expect(row('reflect')).toEqual([[1, 6, 1], [2, 1, 0, 1, 2, 1], null]);
    expect(row('edge')).toEqual([[1, 6, 1], [0, 0, 0, 1, 2, 2], null]);
    expect(row('constant')).toEqual([[1, 6, 1], [-1, -1, 0, 1, 2, -1], null]);
    expect(row('constant', 0.5)).toEqual([[1, 6, 1], [-1, -1, 0, 1, 2, -1], [0.5, 0.5, 0, 0, 0, 0.5]]);
  });
});

/** conv → (Sub, Max, Min of two branches; Mean and Sum of three) → a centre crop → Max(·, 0), Min(·, 6) → flatten → Gemm. */
function onnxMerges(): Uint8Array {
  const g = new GraphBuilder(8);
  const stem = g.node('Relu', [g.conv('input', 3, 6, 3, { pad: 1 })]);
  const [a, b, c] = [g.conv(stem, 6, 4, 3, { pad: 1 }), g.conv(stem, 6, 4, 1), g.conv(stem, 6, 4, 3, { pad: 1 })];
  const joined = g.node('Sum', [g.node('Sub', [a, b]), g.node('Max', [a, c]), g.node('Min', [b, c]), g.node('Mean', [a, b, c])]);
  const cropped = g.node('Slice', [joined, g.int64([1, 1]), g.int64([5, -1]), g.int64([2, 3])]);
  const clamped = g.node('Min', [g.node('Max', [cropped, g.scalar(0)]), g.scalar(6)]);
  return g.model([3, 6, 6], g.gemm(g.viewFlatten(clamped, 13), 4 * 4 * 4, 3), 13);
}

describe('ONNX: Sub, Sum, Mean, Max, Min of computed tensors, clamps, crops', () => {
  const samples = imageSamples([3, 6, 6], 20, 3);
  it('compute what onnxruntime does, on the CPU and the GPU', async () => {
    const bytes = onnxMerges();
    const { network } = parseOnnxModel(bytes, 'm.onnx');
    const kinds = network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
    // The crop, Max(·, 0) a ReLU and Min(·, 6) a clip, then the head.
    expect(kinds.slice(-5)).toEqual(['rearrange', 'relu', 'clip', 'flatten', 'dense']);
    // Sub: a negation and a sum; Max and Min: a difference, a ReLU and a sum each (Min's excess negated); Mean: a sum and 1/3.
    expect(kinds.filter((k) => k === 'batchnorm')).toHaveLength(5);
    const ours = forwardCpu(network, samples.ours, 20).output;
    expect(relativeError(ours, await runOnnx(bytes, samples.nchw, [20, 3, 6, 6]))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, 20)).output, ours)).toBeLessThan(1e-5);
  });

  it('prune (parallel): the written model runs as our pruned network', async () => {
    const bytes = onnxMerges();
    const handle = parseOnnxModel(bytes, 'm.onnx');
    const result = await pruneNetwork(handle.network, { data: samples.ours, count: 20 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.1, solver: { maxIterations: 1500 } });
    expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
    expect(relativeError(await runOnnx(writeOnnxModel(handle, result.network), samples.nchw, [20, 3, 6, 6]), forwardCpu(result.network, samples.ours, 20).output)).toBeLessThan(1e-5);
  });

  it('a channel goes from the three branches together (the merges tie them), and the written model runs', async () => {
    const handle = parseOnnxModel(onnxMerges(), 'm.onnx');
    const network: Network = structuredClone(handle.network);
    const head = network.layers[network.layers.length - 1];
    if (head.kind !== 'dense') throw new Error('expected the Gemm last');
    // The Gemm reads the flattened [4, 4, 4] crop: feature k is channel k mod 4; drop channel 3.
    head.kernel = head.kernel.map((v, i) => (Math.floor(i / head.units) % 4 === 3 ? 0 : v));
    const removal = removeUnreadUnits(network);
    const widths = removal.network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d').map((l) => l.filters);
    expect(widths).toEqual([6, 3, 3, 3]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(written, samples.nchw, [20, 3, 6, 6]), forwardCpu(network, samples.ours, 20).output)).toBeLessThan(1e-5);
  });

  it('Pad: reflected (ReflectionPad2d) and repeated edges (ReplicationPad2d) before a Conv, zeros before a MaxPool, a constant, a reflected sequence: onnxruntime\'s values on the CPU and the GPU; a channel goes through the pads', async () => {
    const g = new GraphBuilder(9);
    const pads = (t: number, l: number, b: number, r: number) => g.int64([0, 0, t, l, 0, 0, b, r]);
    const reflected = g.node('Pad', [g.node('Relu', [g.conv('input', 3, 4, 3)]), pads(1, 2, 2, 1)], [str('mode', 'reflect')]);
    const edged = g.node('Pad', [g.conv(reflected, 4, 4, 3), pads(1, 1, 1, 1)], [str('mode', 'edge')]);
    const pooled = g.node('MaxPool', [g.node('Pad', [g.conv(edged, 4, 4, 1), pads(0, 1, 1, 0)])], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]);
    const constant = g.node('Pad', [pooled, pads(1, 0, 0, 1), g.scalar(0.25)]);
    const bytes = g.model([3, 6, 6], g.gemm(g.viewFlatten(constant, 13), 4 * 5 * 5, 3), 13);
    const handle = parseOnnxModel(bytes, 'pads.onnx');
    expect(handle.network.layers.filter((l) => l.kind === 'rearrange')).toHaveLength(4);
    const ours = forwardCpu(handle.network, samples.ours, 20).output;
    // Unoptimized: onnxruntime's PadFusion folds the zero Pad into the MaxPool's pads, which MaxPool
    // fills with −∞, not zeros (onnx/optimizer#318, onnxsim#290): a window of negatives then differs.
    const run = async (model: Uint8Array) => {
      const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'disabled' });
      return (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', samples.nchw, [20, 3, 6, 6]) }))[session.outputNames[0]].data as Float32Array;
    };
    expect(relativeError(ours, await run(bytes))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, handle.network, samples.ours, 20)).output, ours)).toBeLessThan(1e-5);
    // The first conv's channel 1 read by no tap of the second: it goes, through the reflection.
    const network: Network = structuredClone(handle.network);
    const second = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[1];
    second.kernel = second.kernel.map((v, i) => (Math.floor(i / 4) % 4 === 1 ? 0 : v));
    const removal = removeUnreadUnits(network);
    expect(removal.network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[0].filters).toBe(3);
    expect(relativeError(await run(writeOnnxModel(handle, removal.network, removal.kept)), forwardCpu(network, samples.ours, 20).output)).toBeLessThan(1e-5);
    // A sequence: ReflectionPad1d before a Conv1d.
    const s = new GraphBuilder(10);
    const sequence = s.model([3, 12], s.gemm(s.viewFlatten(s.conv1d(s.node('Pad', ['input', s.int64([0, 0, 3, 0, 0, 2])], [str('mode', 'reflect')]), 3, 2, 3), 13), 2 * 15, 2), 13);
    const x = imageSamples([3, 1, 12], 6, 4);
    expect(relativeError(forwardCpu(parseOnnxModel(sequence, 's.onnx').network, x.ours, 6).output, await runOnnx(sequence, x.nchw, [6, 3, 12]))).toBeLessThan(1e-5);
  });

  it('a reflection wider than its axis, and a Pad of the channels, are refused naming the node', () => {
    const g = new GraphBuilder(1);
    expect(importError(g.model([3, 4, 4], g.node('Pad', [g.conv('input', 3, 2, 1), g.int64([0, 0, 4, 0, 0, 0, 0, 0])], [str('mode', 'reflect')]), 13))).toMatch(/op Pad\): reflect pads \[0,0,4,0,0,0,0,0\] on \[batch, 2, 4, 4\]: expected each pad smaller than its axis/);
    const h = new GraphBuilder(1);
    expect(importError(h.model([3, 4, 4], h.node('Pad', [h.conv('input', 3, 2, 1), h.int64([0, 1, 0, 0, 0, 0, 0, 0])]), 13))).toMatch(/op Pad\): pads \[0,1,0,0,0,0,0,0\] on \[batch, 2, 4, 4\]: expected pads around an image's H and W \(a sequence's L\) only/);
  });

  it('a crop of a sequence (x[:, :, 2:-1] after a Conv1d)', async () => {
    const g = new GraphBuilder(2);
    const c = g.conv1d('input', 3, 5, 3);
    const bytes = g.model([3, 12], g.gemm(g.viewFlatten(g.node('Slice', [c, g.int64([2]), g.int64([-1]), g.int64([2])]), 13), 5 * 7, 2), 13);
    const { network } = parseOnnxModel(bytes, 's.onnx');
    const x = imageSamples([3, 1, 12], 6, 4);
    expect(relativeError(forwardCpu(network, x.ours, 6).output, await runOnnx(bytes, x.nchw, [6, 3, 12]))).toBeLessThan(1e-5);
  });
});

type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: Sym | Sym[]) => layer.apply(input) as Sym;

function kerasMerges(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 2], name: 'input_1' });
  const stem = apply(tf.layers.conv2d({ name: 'stem', filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }), input);
  const [a, b, c] = ['a', 'b', 'c'].map((n, k) => apply(tf.layers.conv2d({ name: n, filters: 4, kernelSize: k === 1 ? 1 : 3, padding: 'same' }), stem));
  const joined = apply(tf.layers.add({ name: 'sum' }), [
    apply(tf.layers.maximum({ name: 'maximum' }), [a, b, c]),
    apply(tf.layers.minimum({ name: 'minimum' }), [b, c]),
    apply(tf.layers.average({ name: 'average' }), [a, c]),
    apply(tf.layers.multiply({ name: 'product' }), [a, b, c]), // products of two, left to right
  ]);
  const cropped = apply(tf.layers.cropping2D({ name: 'crop', cropping: [[1, 2], [0, 3]] }), joined);
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'head', units: 3 }), apply(tf.layers.flatten({ name: 'flatten' }), cropped)) });
}

describe('Keras: Average, Maximum, Minimum, a Multiply of three, Cropping2D (TF.js has no Subtract or Cropping1D)', () => {
  const { saved } = savedRandomModels([{ name: 'merges', build: kerasMerges }], 'net-trim-keras-merges-', 6);
  const inputs = (count: number, size: number, seed: number) => {
    const rand = mulberry32(seed);
    return Float32Array.from({ length: count * size }, () => 2 * rand() - 1);
  };
  for (const [name, shape] of [['merges', [8, 8, 2]]] as const)
    it(`${name}: computes what TF.js predicts (CPU and GPU)`, async () => {
      const { model, path } = saved.get(name)!;
      const { network } = await loadTfjsModelFile(path);
      const size = shape.reduce((s: number, d: number) => s * d, 1);
      const x = inputs(7, size, 5);
      const want = tf.tidy(() => (model.predict(tf.tensor(x, [7, ...shape])) as tf.Tensor).dataSync() as Float32Array);
      const ours = forwardCpu(network, x, 7).output;
      expect(relativeError(ours, want)).toBeLessThan(1e-5);
      if (gpu) expect(relativeError((await forwardGpu(gpu, network, x, 7)).output, ours)).toBeLessThan(1e-5);
    });

  it('merges: prunes (parallel) into a model.json TF.js loads and runs as our pruned network', async () => {
    const handle = await loadTfjsModelFile(saved.get('merges')!.path);
    const x = inputs(30, 128, 8);
    const result = await pruneNetwork(handle.network, { data: x, count: 30 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.1, solver: { maxIterations: 1500 } });
    expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
    const written = await writeTfjsModel(handle, result.network);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: written.weightData.slice().buffer }));
    const test = inputs(4, 128, 9);
    const predicted = tf.tidy(() => (model.predict(tf.tensor(test, [4, 8, 8, 2])) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
    expect(relativeError(predicted, forwardCpu(result.network, test, 4).output)).toBeLessThan(1e-5);
  }, 120_000);
});
