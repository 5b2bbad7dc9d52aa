// Products in graphs: SiLU, GELU and Hardswish as PyTorch writes them (several nodes, fused into
// one activation on import), squeeze-and-excitation gates (an image times one value per channel)
// and gated units (a product of two tensors of one shape). Each imports to what onnxruntime
// computes (and runs alike on the GPU: dagModels.test.ts), prunes in both schemes into ONNX that
// onnxruntime runs with the pruned outputs, and loses channels across a gate only together.
// Keras' Multiply reads the same way (TF.js as the oracle).
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { writeTfjsModel } from '../src/io/tfjsModel.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { networkGraph, prunableLayers } from '../src/network/graph.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { efficientNetBlock, gatedMlp, linearSqueezeExcite, type DagCase } from './helpers/dagGraphs.js';
import { float, GraphBuilder, importError, int, nchwToNhwc, relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { saveLayersModel } from './helpers/tfjsModel.js';

const cases = [efficientNetBlock(), gatedMlp(), linearSqueezeExcite()];

function samples(c: DagCase, count: number, seed = 7): { nchw: Float32Array; ours: Float32Array } {
  const rand = mulberry32(seed);
  const size = c.dims.reduce((a, b) => a * b, 1);
  const nchw = Float32Array.from({ length: count * size }, () => 2 * rand() - 1);
  return { nchw, ours: c.dims.length === 3 ? nchwToNhwc(nchw, count, c.dims[0], c.dims[1], c.dims[2]) : nchw };
}

const kinds = (network: Network) => network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));


describe('products import to the function onnxruntime computes', () => {
  for (const c of cases)
    it(c.name, async () => {
      const { network } = parseOnnxModel(c.bytes, `${c.name}.onnx`);
      const { nchw, ours } = samples(c, 5);
      expect(relativeError(forwardCpu(network, ours, 5).output, await runOnnx(c.bytes, nchw, [5, ...c.dims]))).toBeLessThan(1e-5);
    });

  it('fuses SiLU, GELU and Hardswish into one layer each; the squeeze convs are dense layers; a gate is a mul', () => {
    const block = parseOnnxModel(efficientNetBlock().bytes, 'e.onnx').network;
    expect(kinds(block)).toEqual(['conv2d', 'silu', 'conv2d', 'silu', 'conv2d', 'silu', 'globalavgpool', 'dense', 'silu', 'dense', 'sigmoid', 'mul', 'conv2d', 'add', 'globalavgpool', 'flatten', 'dense']);
    expect(networkGraph(block).inputShapes[11]).toEqual([[7, 7, 12], [12]]);
    expect(prunableLayers(block).map((t) => t.reason)).toEqual([
      'linear on pre-activations (followed by silu)',
      'linear on pre-activations (followed by silu)',
      'linear on pre-activations (followed by silu)',
      'linear on pre-activations (followed by silu)',
      'linear on pre-activations (followed by sigmoid)',
      "linear on the residual sum '/add/Add_45' (offset: '/mul/Mul_8')",
      'linear (the network output)',
    ]);
    const mlp = parseOnnxModel(gatedMlp().bytes, 'g.onnx').network;
    expect(kinds(mlp)).toEqual(['dense', 'gelu', 'dense', 'dense', 'sigmoid', 'mul', 'dense', 'hardSwish', 'dense']);
    expect(networkGraph(mlp).inputShapes[5]).toEqual([[8], [8]]);
  });

  it('imports near misses as their parts (still what onnxruntime computes), or fails naming the node', async () => {
    // x·Sigmoid(x) whose sigmoid is read twice, x·HardSigmoid(x) of other slopes: no fusion.
    const g = new GraphBuilder(8);
    const h = g.gemm('input', 6, 5);
    const s = g.node('Sigmoid', [h]);
    const twice = g.node('Add', [g.node('Mul', [h, s]), s]);
    const out = g.gemm(g.node('Mul', [twice, g.node('HardSigmoid', [twice], [float('alpha', 0.2)])]), 5, 2);
    const bytes = g.model([6], out);
    const { network } = parseOnnxModel(bytes, 'm.onnx');
    expect(kinds(network)).toEqual(['dense', 'sigmoid', 'mul', 'add', 'hardSigmoid', 'mul', 'dense']);
    const { nchw } = samples({ name: 'm', bytes, dims: [6] }, 4);
    expect(relativeError(forwardCpu(network, nchw, 4).output, await runOnnx(bytes, nchw, [4, 6]))).toBeLessThan(1e-5);
    // GELU's division by 2 instead of √2: Erf is no op of ours.
    const d = new GraphBuilder(9);
    const x = d.gemm('input', 4, 4);
    const half = d.node('Mul', [d.node('Mul', [x, d.node('Add', [d.node('Erf', [d.node('Div', [x, d.scalar(2)])]), d.scalar(1)])]), d.scalar(0.5)]);
    expect(importError(d.model([4], d.gemm(half, 4, 2)))).toMatch(/^m\.onnx: node \d+ \('\/erf\/Erf_\d+', op Erf\): op 'Erf' is not supported: .*, and Erf inside GELU as PyTorch writes it/);
    // A Mul by a constant of other features, a Mul of an image by a vector of other channels, a padded squeeze conv.
    const k = new GraphBuilder(10);
    expect(importError(k.model([4], k.gemm(k.node('Mul', [k.gemm('input', 4, 4), k.weight([3], 1, 'third')]), 4, 2)))).toMatch(/op Mul\): constant 'third' of shape \[3\] on \[batch, 4\]: expected one value or one per channel/);
    const v = new GraphBuilder(11);
    const image = v.conv('input', 2, 4, 3, { pad: 1 });
    const pooled = v.conv(v.node('GlobalAveragePool', [image]), 4, 3, 1);
    expect(importError(v.model([2, 5, 5], v.node('Mul', [image, pooled])))).toMatch(/op Mul\): multiplies tensors of shapes \[batch, 4, 5, 5\] and \[batch, 3, 1, 1\]: expected one shape, or an image \[batch, C, H, W\] by a gate \[batch, C, 1, 1\]/);
    const p = new GraphBuilder(12);
    const padded = p.conv(p.node('GlobalAveragePool', [p.conv('input', 2, 4, 3)]), 4, 3, 1, { pad: 1 });
    expect(importError(p.model([2, 5, 5], p.gemm(p.node('Flatten', [padded], [int('axis', 1)]), 27, 2)))).toMatch(/op Conv\): reads the pooled \[batch, 4, 1, 1\] tensor with pads=\[1,1,1,1\]: expected no padding/);
  });

  it('a network whose mul reads two shapes that do not fit is a one-line InputError', () => {
    const dense = (name: string, units: number, from: string[]): DenseLayer => ({ kind: 'dense', name, kernel: new Float32Array(2 * units), inputs: 2, units, bias: null, activation: 'linear', from });
    const network: Network = { inputShape: [2], layers: [dense('a', 3, ['input']), dense('b', 2, ['input']), { kind: 'mul', name: 'm', from: ['a', 'b'] }] };
    expect(() => networkGraph(network, 'net')).toThrow(/^net: layer 2 'm' \(mul\): mul multiplies a tensor by one of its shape or by one value per channel, found \[3\] and \[2\] \(expected \[3\] or \[3\]\)$/);
    expect(() => networkGraph({ ...network, layers: [dense('a', 3, ['input']), { kind: 'mul', name: 'm', from: ['a'] }] }, 'net')).toThrow(/mul reads two tensors, found 1/);
  });
});

describe('pruning gated networks writes ONNX that runs in onnxruntime with the pruned outputs', () => {
  for (const c of cases)
    for (const mode of ['cascade', 'parallel'] as const)
      it(`${c.name}, ${mode}`, async () => {
        const handle = parseOnnxModel(c.bytes, `${c.name}.onnx`);
        const { ours } = samples(c, 60, 11);
        const result = await pruneNetwork(handle.network, { data: ours, count: 60 }, { mode, backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
        expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
        for (const layer of result.layers) expect(layer.constraintResidual).toBeLessThanOrEqual(layer.epsilon * 1.01 + 1e-9);
        const written = writeOnnxModel(handle, result.network);
        const test = samples(c, 4, 99);
        expect(relativeError(await runOnnx(written, test.nchw, [4, ...c.dims]), forwardCpu(result.network, test.ours, 4).output)).toBeLessThan(1e-5);
        expect(kinds(parseOnnxModel(written, 'written.onnx').network)).toEqual(kinds(result.network));
      }, 120_000);

  it('removes a gated channel only with its gate: the depthwise filter, the excitation unit and the expansion filter go together', async () => {
    const c = efficientNetBlock();
    const handle = parseOnnxModel(c.bytes, 'e.onnx');
    const network = structuredClone(handle.network);
    const [expansion, depthwise, reduce, excite, projection] = [2, 4, 7, 9, 12].map((i) => network.layers[i] as DenseLayer | Conv2DLayer);
    const zeroRead = (layer: DenseLayer | Conv2DLayer, row: number) => {
      const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
      const inputs = layer.kind === 'dense' ? layer.inputs : layer.inChannels / (layer.groups ?? 1);
      const taps = layer.kind === 'dense' ? 1 : layer.kernelSize[0] * layer.kernelSize[1];
      for (let k = 0; k < taps; k++) layer.kernel.fill(0, (k * inputs + row) * outputs, (k * inputs + row + 1) * outputs);
    };
    // Channel 5 of the gated product is read by nobody; the squeeze still reads channel 5 of the pool: it stays.
    zeroRead(projection, 5);
    expect(removeUnreadUnits(network).kept.size).toBe(0);
    zeroRead(reduce, 5);
    const removal = removeUnreadUnits(network);
    for (const layer of [expansion, depthwise, excite]) expect([...removal.kept.get(layer.name)!]).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    const size = (i: number, key: 'filters' | 'groups' | 'inputs' | 'units' | 'inChannels') => (removal.network.layers[i] as unknown as Record<string, number>)[key];
    expect([size(2, 'filters'), size(4, 'filters'), size(4, 'groups'), size(7, 'inputs'), size(9, 'units'), size(12, 'inChannels')]).toEqual([11, 11, 11, 11, 11, 11]);
    const { nchw, ours } = samples(c, 4, 5);
    const want = forwardCpu(network, ours, 4).output;
    expect(relativeError(forwardCpu(removal.network, ours, 4).output, want)).toBeLessThan(1e-12);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(written, nchw, [4, ...c.dims]), want)).toBeLessThan(1e-5);
  });
});

describe('Keras: Multiply gates (squeeze-and-excitation with Dense layers) read and write back as TF.js computes', () => {
  it('a swish conv gated by Dense(relu) → Dense(sigmoid) of its pooled channels, the gate first or second', async () => {
    tf.env().set('IS_TEST', true);
    await tf.setBackend('cpu');
    const dir = await mkdtemp(join(tmpdir(), 'net-trim-keras-gate-'));
    try {
      const input = tf.input({ shape: [6, 6, 3] });
      const conv = tf.layers.conv2d({ name: 'conv', filters: 8, kernelSize: 3, padding: 'same', activation: 'swish' }).apply(input) as tf.SymbolicTensor;
      const squeeze = tf.layers.dense({ name: 'squeeze', units: 2, activation: 'relu' }).apply(tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(conv)) as tf.SymbolicTensor;
      const gate = tf.layers.dense({ name: 'excite', units: 8, activation: 'sigmoid' }).apply(squeeze) as tf.SymbolicTensor;
      const first = tf.layers.multiply({ name: 'gated' }).apply([conv, gate]) as tf.SymbolicTensor;
      const second = tf.layers.multiply({ name: 'gated_again' }).apply([gate, first]) as tf.SymbolicTensor;
      const head = tf.layers.conv2d({ name: 'project', filters: 4, kernelSize: 1 }).apply(second) as tf.SymbolicTensor;
      const out = tf.layers.dense({ name: 'classes', units: 3 }).apply(tf.layers.flatten().apply(head)) as tf.SymbolicTensor;
      const model = tf.model({ inputs: input, outputs: out });
      const handle = await loadTfjsModelFile(await saveLayersModel(model, join(dir, 'gated')));
      expect(kinds(handle.network)).toEqual(['conv2d', 'silu', 'globalavgpool', 'dense', 'dense', 'sigmoid', 'mul', 'mul', 'conv2d', 'flatten', 'dense']);
      const rand = mulberry32(3);
      const x = Float32Array.from({ length: 40 * 108 }, () => 2 * rand() - 1);
      const predict = (m: tf.LayersModel) => tf.tidy(() => (m.predict(tf.tensor(x.subarray(0, 5 * 108), [5, 6, 6, 3])) as tf.Tensor).dataSync() as Float32Array);
      expect(relativeError(forwardCpu(handle.network, x, 40).output.subarray(0, 15), predict(model))).toBeLessThan(1e-5);
      const result = await pruneNetwork(handle.network, { data: x, count: 40 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
      expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
      const written = await writeTfjsModel(handle, result.network);
      const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
      const reloaded = await tf.loadLayersModel(tf.io.fromMemory(json.modelTopology, json.weightsManifest[0].weights, written.weightData.slice().buffer));
      expect(relativeError(predict(reloaded), forwardCpu(result.network, x.subarray(0, 5 * 108), 5).output)).toBeLessThan(1e-5);
      model.dispose();
      reloaded.dispose();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
