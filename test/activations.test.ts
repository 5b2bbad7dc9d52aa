// The activations beyond ReLU's family that PyTorch and Keras models use: softplus, softsign, SELU,
// mish, PReLU (learned slopes, per channel or, in Keras without shared axes, per value) and the tanh GELU, as
// ONNX ops (Softplus, Softsign, Selu, Mish, PRelu) and as Keras layers and activations
// (LeakyReLU, ELU, PReLU; Activation('selu' | 'softplus' | 'softsign' | 'mish'); the noise and
// dropout layers that do nothing at inference). Hand-computed values; onnxruntime and TF.js as
// oracles of the float64 and GPU forward passes; channel removal slicing PReLU's slopes in both
// written models.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { writeTfjsModel } from '../src/io/tfjsModel.js';
import { activationFunction } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { ActivationLayer, Conv2DLayer, Network } from '../src/network/types.js';
import { lipschitzBetween } from '../src/prune/bounds.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { gpuForTests } from './helpers/gpu.js';
import { GraphBuilder, imageSamples, importError, int, relativeError, runOnnx, str } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { savedRandomModels } from './helpers/tfjsModel.js';

const gpu = await gpuForTests();
const act = (fn: ActivationLayer['fn'], extra: Partial<ActivationLayer> = {}): ActivationLayer => ({ kind: 'activation', name: fn, fn, ...extra });

describe('the activations on hand-computed values', () => {
  it('softplus, softsign, SELU and mish', () => {
    const [softplus, softsign, selu, mish] = (['softplus', 'softsign', 'selu', 'mish'] as const).map((fn) => activationFunction(act(fn)));
    expect(softplus(0, 0)).toBeCloseTo(Math.LN2, 14);
    expect(softplus(30, 0)).toBe(30); // no overflow: x itself past 20
    expect(softplus(-3, 0)).toBeCloseTo(Math.log(1 + Math.exp(-3)), 14);
    expect([softsign(3, 0), softsign(-1, 0)]).toEqual([0.75, -0.5]);
    // SELU: λ·x above 0, λ·α·(eˣ − 1) below (λ ≈ 1.0507, α ≈ 1.6733).
    expect(selu(2, 0)).toBeCloseTo(2.101401974710961, 12);
    expect(selu(-1, 0)).toBeCloseTo(1.0507009873554805 * 1.6732632423543772 * (Math.exp(-1) - 1), 12);
    // mish(1) = tanh(ln(1 + e)) = tanh(1.3132616875182228).
    expect(mish(1, 0)).toBeCloseTo(0.8650983882673103, 12);
    expect(mish(-30, 0)).toBeCloseTo(-30 * Math.exp(-30), 20);
  });

  it('the tanh GELU: ½·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), within 1e-3 of the erf GELU', () => {
    const [tanhGelu, gelu] = (['geluTanh', 'gelu'] as const).map((fn) => activationFunction(act(fn)));
    // x = 1: √(2/π)·1.044715 = 0.833544…, tanh of it 0.682689…
    expect(tanhGelu(1, 0)).toBeCloseTo(0.5 * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * 1.044715)), 14);
    expect(tanhGelu(1, 0)).toBeCloseTo(0.8411919906082768, 12);
    expect([tanhGelu(0, 0), tanhGelu(40, 0), tanhGelu(-40, 0)]).toEqual([0, 40, -0]);
    for (let x = -6; x <= 6; x += 0.25) expect(Math.abs(tanhGelu(x, 0) - gelu(x, 0))).toBeLessThan(1e-3);
  });

  it('PReLU: the slope of value i is slopes[i mod their count] (per channel, or per value)', () => {
    const perChannel = activationFunction(act('prelu', { slopes: Float32Array.of(0.5, -2) }));
    expect([perChannel(-4, 0), perChannel(-4, 1), perChannel(-4, 2), perChannel(3, 1)]).toEqual([-2, 8, -2, 3]);
    const perValue = activationFunction(act('prelu', { slopes: Float32Array.of(0, 0.25, 1, 2) }));
    expect([0, 1, 2, 3].map((i) => perValue(-8, i))).toEqual([-0, -2, -8, -16]);
  });

  it('each Lipschitz factor bounds the slopes sampled on a fine grid', () => {
    const layers = [act('softplus'), act('softsign'), act('selu'), act('mish'), act('prelu', { slopes: Float32Array.of(0.2, -1.5) }), act('gelu'), act('geluTanh')];
    for (const layer of layers) {
      const f = activationFunction(layer);
      let steepest = 0;
      for (let x = -12; x < 12; x += 1e-3) for (const at of [0, 1]) steepest = Math.max(steepest, Math.abs(f(x + 1e-3, at) - f(x, at)) / 1e-3);
      const bound = lipschitzBetween([layer], [[2]], 0, 1);
      expect(bound * (1 + 1e-9), layer.fn).toBeGreaterThanOrEqual(steepest);
      expect(bound, layer.fn).toBeLessThan(steepest * 1.05); // and not loose
    }
  });
});

/** conv → PRelu (per channel) → conv → Softplus → Selu → Softsign → Mish → PRelu (one slope) → flatten → Gemm. */
function onnxActivations(): Uint8Array {
  const g = new GraphBuilder(5);
  let x = g.node('PRelu', [g.conv('input', 3, 6, 3, { pad: 1 }), g.weight([6, 1, 1], 0.4)]);
  x = g.node('Softplus', [g.conv(x, 6, 5, 3)]);
  x = g.node('Mish', [g.node('Softsign', [g.node('Selu', [x])])]);
  x = g.node('PRelu', [x, g.weight([1], 0.3)]);
  return g.model([3, 6, 6], g.gemm(g.viewFlatten(x, 18), 5 * 4 * 4, 4), 18);
}

describe('ONNX: Div and Reciprocal of computed tensors, and ReduceSum', () => {
  it('a / b as a · (1/b), Reciprocal as the reciprocal activation and ReduceSum over H and W as a mean times H·W, to what onnxruntime computes, on the CPU and the GPU', async () => {
    const samples = imageSamples([3, 6, 6], 12, 5);
    const g = new GraphBuilder(7);
    const a = g.conv('input', 3, 4, 3);
    const b = g.node('Add', [g.node('Sigmoid', [g.conv('input', 3, 4, 3)]), g.scalar(0.5)]); // between 0.5 and 1.5
    const r = g.node('Reciprocal', [g.node('Add', [g.node('Softplus', [g.node('Div', [a, b])]), g.scalar(1)])]);
    const s = g.node('ReduceSum', [r, g.int64([2, 3])], [int('keepdims', 0)]);
    const bytes = g.model([3, 6, 6], g.gemm(s, 4, 3), 13);
    const { network } = parseOnnxModel(bytes, 'd.onnx');
    expect(network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind))).toEqual(['conv2d', 'conv2d', 'sigmoid', 'batchnorm', 'reciprocal', 'mul', 'softplus', 'batchnorm', 'reciprocal', 'globalavgpool', 'batchnorm', 'dense']);
    const ours = forwardCpu(network, samples.ours, 12).output;
    expect(relativeError(ours, await runOnnx(bytes, samples.nchw, [12, 3, 6, 6]))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, 12)).output, ours)).toBeLessThan(1e-5);
    expect(activationFunction(act('reciprocal'))(-4, 0)).toBe(-0.25);
    // 1/x has no Lipschitz factor: a bound across it says so.
    expect(lipschitzBetween([act('reciprocal')], [[4]], 0, 1)).toBe(Infinity);
  });
});

describe('ONNX: Softplus, Softsign, Selu, Mish and PRelu', () => {
  const samples = imageSamples([3, 6, 6], 12, 9);
  it('read as activation layers that compute what onnxruntime does, on the CPU and the GPU', async () => {
    const bytes = onnxActivations();
    const { network } = parseOnnxModel(bytes, 'a.onnx');
    expect(network.layers.filter((l) => l.kind === 'activation').map((l) => (l as ActivationLayer).fn)).toEqual(['prelu', 'softplus', 'selu', 'softsign', 'mish', 'prelu']);
    const ours = forwardCpu(network, samples.ours, 12).output;
    expect(relativeError(ours, await runOnnx(bytes, samples.nchw, [12, 3, 6, 6]))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, 12)).output, ours)).toBeLessThan(1e-5);
  });

  it('a channel removed takes its PRelu slope with it in the written model', async () => {
    const bytes = onnxActivations();
    const handle = parseOnnxModel(bytes, 'a.onnx');
    const network: Network = structuredClone(handle.network);
    const second = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[1];
    second.kernel = second.kernel.map((v, i) => (Math.floor(i / 5) % 6 === 2 ? 0 : v)); // nothing reads channel 2 of the first conv
    const removal = removeUnreadUnits(network);
    const slopes = (removal.network.layers[1] as ActivationLayer).slopes!;
    expect([...slopes]).toEqual([0, 1, 3, 4, 5].map((c) => (handle.network.layers[1] as ActivationLayer).slopes![c]));
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(written, samples.nchw, [12, 3, 6, 6]), forwardCpu(network, samples.ours, 12).output)).toBeLessThan(1e-5);
  });

  it('as PyTorch writes mish below opset 18 (x·Tanh(Softplus(x))) and softsign (x / (Abs(x) + 1)): one layer each', async () => {
    const g = new GraphBuilder(6);
    const c = g.conv('input', 3, 4, 3);
    const mish = g.node('Mul', [c, g.node('Tanh', [g.node('Softplus', [c])])]);
    const d = g.conv(mish, 4, 4, 1);
    const softsign = g.node('Div', [d, g.node('Add', [g.node('Abs', [d]), g.scalar(1)])]);
    const bytes = g.model([3, 6, 6], g.gemm(g.viewFlatten(softsign, 13), 4 * 4 * 4, 3), 13);
    const { network } = parseOnnxModel(bytes, 'm.onnx');
    expect(network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind))).toEqual(['conv2d', 'mish', 'conv2d', 'softsign', 'flatten', 'dense']);
    expect(relativeError(forwardCpu(network, samples.ours, 12).output, await runOnnx(bytes, samples.nchw, [12, 3, 6, 6]))).toBeLessThan(1e-5);
  });

  it('the tanh GELU as PyTorch writes approximate=\'tanh\' (x·x·x, the ½ last), as GPT-2\'s gelu_new (Pow(x, 3), the ½ first) and as opset 20\'s Gelu: one layer each, CPU and GPU', async () => {
    const g = new GraphBuilder(7);
    const sqrt2pi = g.scalar(Math.sqrt(2 / Math.PI));
    const inner = (x: string, cube: string) => g.node('Tanh', [g.node('Mul', [sqrt2pi, g.node('Add', [x, g.node('Mul', [g.scalar(0.044715), cube])])])]);
    // PyTorch 1.13, approximate='tanh': x·(x·x); ((1 + tanh)·x)·½.
    const a = g.conv('input', 3, 4, 3);
    const torchGelu = g.node('Mul', [g.scalar(0.5), g.node('Mul', [a, g.node('Add', [g.scalar(1), inner(a, g.node('Mul', [a, g.node('Mul', [a, a])]))])])]);
    // Hugging Face's NewGELUActivation: (½·x)·(1 + tanh(… Pow(x, 3) …)).
    const b = g.conv(torchGelu, 4, 4, 1);
    const newGelu = g.node('Mul', [g.node('Mul', [b, g.scalar(0.5)]), g.node('Add', [inner(b, g.node('Pow', [b, g.scalar(3)])), g.scalar(1)])]);
    const bytes = g.model([3, 6, 6], g.gemm(g.viewFlatten(newGelu, 13), 4 * 4 * 4, 3), 13);
    const { network } = parseOnnxModel(bytes, 'gelu.onnx');
    expect(network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind))).toEqual(['conv2d', 'geluTanh', 'conv2d', 'geluTanh', 'flatten', 'dense']);
    const ours = forwardCpu(network, samples.ours, 12).output;
    expect(relativeError(ours, await runOnnx(bytes, samples.nchw, [12, 3, 6, 6]))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, 12)).output, ours)).toBeLessThan(1e-5);
    // Opset 20's Gelu with approximate='tanh'; any other approximation is refused.
    const h = new GraphBuilder(8);
    const opset20 = h.model([3, 6, 6], h.gemm(h.node('Flatten', [h.node('Gelu', [h.conv('input', 3, 4, 3)], [str('approximate', 'tanh')])]), 4 * 4 * 4, 3), 20);
    const twenty = parseOnnxModel(opset20, 'g20.onnx').network;
    expect(twenty.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind))).toContain('geluTanh');
    expect(relativeError(forwardCpu(twenty, samples.ours, 12).output, await runOnnx(opset20, samples.nchw, [12, 3, 6, 6]))).toBeLessThan(1e-5);
    const k = new GraphBuilder(8);
    expect(importError(k.model([3, 6, 6], k.node('Gelu', [k.conv('input', 3, 4, 3)], [str('approximate', 'fast')]), 20))).toMatch(/unsupported attribute approximate 'fast': expected 'none' or 'tanh'/);
  });

  it('a Pow of a computed tensor outside the tanh GELU is refused naming the node and the one pattern read', () => {
    const g = new GraphBuilder(3);
    const c = g.conv('input', 3, 2, 1);
    expect(importError(g.model([3, 4, 4], g.node('Pow', [c, g.scalar(3)]), 13))).toMatch(/op Pow\): Pow of a computed tensor is not supported: .* or as x³ inside the tanh GELU/);
  });

  it('a slope neither one value nor one per channel is refused naming the node', () => {
    const g = new GraphBuilder(1);
    const bytes = g.model([3, 4, 4], g.node('PRelu', [g.conv('input', 3, 2, 1), g.weight([2, 4, 4], 0.1)]), 13);
    expect(importError(bytes)).toMatch(/op PRelu\): slope '.*' of shape \[2, 4, 4\] on \[batch, 2, 4, 4\]: expected one value or one per channel \(\[2, 1, 1\]\)/);
  });
});

type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: Sym) => layer.apply(input) as Sym;

/** Keras's advanced activation layers, activations by name, and layers that are noise at training only. */
function kerasActivations(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2], name: 'input_1' });
  let x = apply(tf.layers.conv2d({ name: 'conv1', filters: 4, kernelSize: 3, padding: 'same' }), input);
  x = apply(tf.layers.prelu({ name: 'prelu_shared', sharedAxes: [1, 2] }), x);
  x = apply(tf.layers.gaussianNoise({ name: 'noise', stddev: 0.1 }), x);
  x = apply(tf.layers.conv2d({ name: 'conv2', filters: 3, kernelSize: 3, activation: 'selu' }), x);
  x = apply(tf.layers.prelu({ name: 'prelu_full' }), x); // one slope per value of [4, 4, 3]
  x = apply(tf.layers.leakyReLU({ name: 'leaky', alpha: 0.2 }), apply(tf.layers.conv2d({ name: 'conv3', filters: 4, kernelSize: 1, activation: 'softplus' }), x));
  x = apply(tf.layers.elu({ name: 'elu' }), apply(tf.layers.alphaDropout({ name: 'alpha_dropout', rate: 0.2 }), x));
  x = apply(tf.layers.dense({ name: 'mlp', units: 5, activation: 'softsign' }), apply(tf.layers.flatten({ name: 'flatten' }), x));
  x = apply(tf.layers.dense({ name: 'head', units: 3, activation: 'mish' }), apply(tf.layers.gaussianDropout({ name: 'gdrop', rate: 0.1 }), x));
  return tf.model({ inputs: input, outputs: x });
}

describe('Keras: LeakyReLU, ELU, PReLU, selu, softplus, softsign, mish; noise and dropout skipped', () => {
  const { saved } = savedRandomModels([{ name: 'activations', build: kerasActivations }], 'net-trim-keras-act-', 4);
  const inputs = (count: number, seed: number) => {
    const rand = mulberry32(seed);
    return Float32Array.from({ length: count * 72 }, () => 2 * rand() - 1);
  };
  const predict = async (modelJson: string, weightData: Uint8Array, x: Float32Array) => {
    const json = JSON.parse(modelJson) as tf.io.ModelJSON;
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weightData.slice().buffer }));
    const out = tf.tidy(() => (model.predict(tf.tensor(x, [x.length / 72, 6, 6, 2])) as tf.Tensor).dataSync() as Float32Array);
    model.dispose();
    return out;
  };

  it('read as the layers they are, computing what TF.js predicts (CPU and GPU)', async () => {
    const { model, path } = saved.get('activations')!;
    const { network } = await loadTfjsModelFile(path);
    const fns = network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
    expect(fns).toEqual(['conv2d', 'prelu', 'conv2d', 'selu', 'prelu', 'conv2d', 'softplus', 'leakyRelu', 'elu', 'flatten', 'dense', 'softsign', 'dense', 'mish']);
    const [shared, full] = network.layers.filter((l): l is ActivationLayer => l.kind === 'activation' && l.fn === 'prelu');
    expect([shared.slopes!.length, full.slopes!.length]).toEqual([4, 48]);
    const x = inputs(8, 2);
    const want = tf.tidy(() => (model.predict(tf.tensor(x, [8, 6, 6, 2])) as tf.Tensor).dataSync() as Float32Array);
    const ours = forwardCpu(network, x, 8).output;
    expect(relativeError(ours, want)).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, x, 8)).output, ours)).toBeLessThan(1e-5);
  });

  it('a channel removed takes its slopes with it: alpha [1, 1, 3] of the shared PReLU, [4, 4, 2] of the full one', async () => {
    const handle = await loadTfjsModelFile(saved.get('activations')!.path);
    const network: Network = structuredClone(handle.network);
    // conv2 reads nothing from conv1's channel 1; conv3 nothing from conv2's channel 0.
    const [, conv2, conv3] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    conv2.kernel = conv2.kernel.map((v, i) => (Math.floor(i / 3) % 4 === 1 ? 0 : v));
    conv3.kernel = conv3.kernel.map((v, i) => (Math.floor(i / 4) === 0 ? 0 : v));
    const removal = removeUnreadUnits(network);
    const written = await writeTfjsModel(handle, removal.network, removal.kept);
    const specs = (JSON.parse(written.modelJson) as tf.io.ModelJSON).weightsManifest[0].weights;
    expect(specs.filter((s) => s.name.endsWith('/alpha')).map((s) => s.shape)).toEqual([[1, 1, 3], [4, 4, 2]]);
    const x = inputs(5, 7);
    expect(relativeError(await predict(written.modelJson, written.weightData, x), forwardCpu(network, x, 5).output)).toBeLessThan(1e-5);
  });
});
