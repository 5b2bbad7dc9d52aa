// Transformer encoders as PyTorch exports them (test/fixtures/torch: vit.onnx and
// sequence-transformer.onnx trained, nn.MultiheadAttention; untrained, timm-attention.onnx (timm's
// qkv reshape/permute/unbind), deit-attention.onnx (two tokens, LayerScale, a scale from the
// size) and causal-transformer.onnx (a causal mask)): the layers they become, the two new layer kinds on hand-computed
// values, the float64 and GPU forward passes against onnxruntime, a prune whose written model
// onnxruntime runs, structured pruning of the MLPs, and the refusals naming the node.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { matmulForward, rearrangeForward } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { networkGraph } from '../src/network/graph.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { networkCost } from '../src/network/cost.js';
import { gpuForTests } from './helpers/gpu.js';
import { mnistFixtures } from './helpers/models.js';
import { GraphBuilder, importError, int, relativeError, runOnnx } from './helpers/onnxGraphs.js';

const { fixtures, digits } = await mnistFixtures();
const gpu = await gpuForTests();
const load = async (name: string) => {
  const bytes = new Uint8Array(await readFile(join(fixtures, 'torch', `${name}.onnx`)));
  return { bytes, network: parseOnnxModel(bytes, `${name}.onnx`).network };
};
// The ViTs read images [1, 28, 28]; sequence-transformer 28 steps of 28 features: ours and ONNX's are one order.
const dimsOf = (name: string) => (name.endsWith('-transformer') ? [28, 28] : [1, 28, 28]);
const kinds = (network: Network) => network.layers.map((l) => l.kind);
const count = (network: Network, kind: string) => kinds(network).filter((k) => k === kind).length;

describe('the layer kinds of attention, on hand-computed values', () => {
  it('rearrange: out[i] = x[indices[i]] (nothing for −1) + offset[i], per sample', () => {
    const x = Float64Array.from([1, 2, 3, 10, 20, 30]); // two samples of 3
    const out = rearrangeForward(x, 2, Int32Array.from([2, -1, 0, 0]), Float32Array.from([0.5, 7, 0, -1]));
    expect([...out]).toEqual([3.5, 7, 1, 0, 30.5, 7, 10, 9]);
    expect([...rearrangeForward(x, 2, Int32Array.from([1, 0]), null)]).toEqual([2, 1, 20, 10]);
  });

  it('matmul: each sample\'s [B, M, K] times [B, K, N]', () => {
    // B = 2: [[1, 2]]·[[3], [4]] = 11 and [[0, 1]]·[[5], [6]] = 6; sample 2 doubles a.
    const a = Float64Array.from([1, 2, 0, 1, 2, 4, 0, 2]);
    const b = Float64Array.from([3, 4, 5, 6, 3, 4, 5, 6]);
    expect([...matmulForward(a, b, 2, [2, 1, 2], 1)]).toEqual([11, 6, 22, 12]);
  });

  it('the shape check names what is wrong', () => {
    const net = (layers: Network['layers']): Network => ({ inputShape: [2, 3, 4], layers });
    expect(() => networkGraph(net([{ kind: 'rearrange', name: 'r', indices: Int32Array.from([0, 24]), offset: null, shape: [2] }]))).toThrow(/rearrange index 24 at 1 is outside the input's 24 values/);
    expect(() => networkGraph(net([{ kind: 'rearrange', name: 'r', indices: Int32Array.from([0]), offset: null, shape: [2] }]))).toThrow(/rearrange indices must be an Int32Array of 2 values/);
    const product = net([{ kind: 'relu', name: 'a' }, { kind: 'matmul', name: 'm', from: ['a', 'input'] }]);
    expect(() => networkGraph(product)).toThrow(/matmul multiplies \[B, M, K\] by \[B, K, N\], found \[2, 3, 4\] and \[2, 3, 4\]/);
    expect(() => networkGraph(net([{ kind: 'reshape', name: 'v', shape: [5, 5] }]))).toThrow(/reshape views its 24 values as 1 to 3 positive sizes of that product/);
    // −∞ masks scores; +∞ and NaN are errors.
    const offset = (v: number) => net([{ kind: 'rearrange', name: 'r', indices: Int32Array.from([0, 1]), offset: Float32Array.from([0, v]), shape: [2] }]);
    expect(() => networkGraph(offset(-Infinity))).not.toThrow();
    expect(() => networkGraph(offset(Infinity))).toThrow(/offset holds a non-finite value \(Infinity\) at index 1/);
    expect(() => networkGraph(offset(NaN))).toThrow(/offset holds a non-finite value \(NaN\) at index 1/);
  });
});

describe('PyTorch transformer exports read as attention layers', () => {
  it('vit: a patch conv, class token and position embedding, two layers of attention and MLP, the class token\'s head', async () => {
    const { network } = await load('vit');
    expect(network.inputShape).toEqual([28, 28, 1]);
    expect(count(network, 'matmul')).toBe(4); // Q·Kᵀ and scores·V per layer
    expect(count(network, 'softmax')).toBe(2);
    expect(count(network, 'layernorm')).toBe(5);
    // Q, K, V in one projection (in_proj), the output projection a Gemm on [T·batch, D], two MLP layers, per layer.
    const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect(convs.map((l) => [l.kernelSize[0], l.inChannels, l.filters])).toEqual([[7, 1, 32], ...[0, 1].flatMap(() => [[1, 32, 96], [1, 32, 32], [1, 32, 64], [1, 64, 32]])]);
    const last = network.layers[network.layers.length - 1];
    expect([last.kind, last.kind === 'dense' && last.inputs]).toEqual(['dense', 32]);
  });

  it('causal-transformer: the mask is a constant added to the scores, −∞ above the diagonal', async () => {
    const { network } = await load('causal-transformer');
    const masks = network.layers.filter((l) => l.kind === 'rearrange' && l.offset?.includes(-Infinity));
    expect(masks).toHaveLength(1);
    const mask = masks[0].kind === 'rearrange' ? masks[0] : null;
    // [heads, 28, 28]: row t sees steps 0…t.
    expect(mask?.shape).toEqual([2, 28, 28]);
    const row = (head: number, t: number) => Array.from(mask!.offset!.subarray((head * 28 + t) * 28, (head * 28 + t + 1) * 28));
    expect(row(1, 3)).toEqual([0, 0, 0, 0, ...Array(24).fill(-Infinity)]);
  });

  it('deit-attention: both tokens before the patches, and the scale folded from the size, 8 ** −0.5', async () => {
    const { network } = await load('deit-attention');
    const tokens = network.layers.find((l) => l.kind === 'rearrange' && l.shape.join() === '1,18,16' && l.indices.slice(0, 32).every((k) => k === -1));
    expect(tokens, 'a rearrange whose first two tokens are constants').toBeDefined();
    const scale = network.layers.find((l) => l.kind === 'batchnorm' && l.scale.every((v) => Math.abs(v - 8 ** -0.5) < 1e-7));
    expect(scale?.kind === 'batchnorm' && [...scale.offset].every((v) => v === 0)).toBe(true);
  });

  for (const name of ['vit', 'sequence-transformer', 'timm-attention', 'deit-attention', 'causal-transformer'])
    it(`${name}: the float64 forward pass equals onnxruntime${gpu ? ', and the GPU one' : ''}`, async () => {
      const { bytes, network } = await load(name);
      const input = digits.subarray(0, 50 * 784);
      const expected = await runOnnx(bytes, input, [50, ...dimsOf(name)]);
      const ours = forwardCpu(network, input, 50).output;
      expect(relativeError(ours, expected)).toBeLessThan(1e-5);
      if (gpu) expect(relativeError((await forwardGpu(gpu, network, input, 50)).output, ours)).toBeLessThan(1e-5);
    });

  it('the products of attention count in the multiply-accumulates: no weights, the same before and after', async () => {
    const { network } = await load('vit');
    const products = networkCost(network).layers.filter((l) => l.kind === 'matmul');
    // 4 heads of 17×8 by 8×17 and of 17×17 by 17×8, per layer: 4·17·8·17 each.
    expect(products.map((l) => [l.params, l.macs, l.sparseMacs])).toEqual(Array(4).fill([0, 4 * 17 * 8 * 17, 4 * 17 * 8 * 17]));
  });
});

describe('pruning a transformer', () => {
  it('timm-attention: a parallel prune writes a model onnxruntime runs to our outputs, each projection sparser', async () => {
    const { bytes, network } = await load('timm-attention');
    const samples = { data: digits.subarray(0, 60 * 784), count: 60 };
    const result = await pruneNetwork(network, samples, { mode: 'parallel', epsilonGain: 0.1, backend: 'cpu', solver: { maxIterations: 400 } });
    const written = writeOnnxModel(parseOnnxModel(bytes, 'timm-attention.onnx'), result.network);
    const held = digits.subarray(60 * 784, 110 * 784);
    expect(relativeError(await runOnnx(written, held, [50, 1, 28, 28]), forwardCpu(result.network, held, 50).output)).toBeLessThan(1e-5);
    const names = result.layers.map((l) => l.name);
    expect(names).toEqual(expect.arrayContaining(['/attn/qkv/MatMul', '/attn/proj/MatMul', '/mlp/mlp.0/MatMul', '/mlp/mlp.2/MatMul']));
    for (const layer of result.layers) expect(layer.nonzerosAfter, layer.name).toBeLessThan(layer.nonzerosBefore);
  });

  it('structured: the MLP\'s hidden channels go, the attention\'s and the residual stream\'s stay; the written model runs', async () => {
    const { bytes, network } = await load('vit');
    // The first layer's MLP reads only its first 20 hidden channels: the other 44 of linear1 go.
    const pruned: Network = structuredClone(network);
    const fc2 = pruned.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[4];
    expect([fc2.inChannels, fc2.filters]).toEqual([64, 32]);
    fc2.kernel = fc2.kernel.map((v, i) => (Math.floor(i / 32) >= 20 ? 0 : v));
    const { network: smaller, unitsBefore, unitsAfter, kept } = removeUnreadUnits(pruned);
    const widths = smaller.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d').map((l) => l.filters);
    expect(widths).toEqual([32, 96, 32, 20, 32, 96, 32, 64, 32]);
    expect(unitsBefore - unitsAfter).toBe(44);
    const written = writeOnnxModel(parseOnnxModel(bytes, 'vit.onnx'), smaller, kept);
    const input = digits.subarray(0, 20 * 784);
    expect(relativeError(await runOnnx(written, input, [20, 1, 28, 28]), forwardCpu(pruned, input, 20).output)).toBeLessThan(1e-5);
  });
});

describe('what attention graphs it cannot read is refused naming the node', () => {
  /** Tokens [batch, 4, 8]: frames embedded by a MatMul, then `build`. */
  const tokens = (build: (g: GraphBuilder, t: string) => string) => {
    const g = new GraphBuilder(3);
    const t = g.node('MatMul', ['input', g.weight([6, 8], 0.3)]);
    return g.model([4, 6], build(g, t), 13);
  };
  it('an Expand of a computed tensor to a shape it does not broadcast to, and a Concat of two computed token tensors', () => {
    expect(importError(tokens((g, t) => g.node('Expand', [t, g.int64([1, 4, 9])])))).toMatch(/op Expand\): expands \[1, 4, 8\] \(batch 1\) to \[1,4,9\]: expected a channels-last tensor and a shape it broadcasts to/);
    expect(importError(tokens((g, t) => g.node('Concat', [t, g.node('Relu', [t])], [int('axis', 1)])))).toMatch(/op Concat\).*expected one computed tensor and constants \(a class token\)/);
  });
  it('a masked_fill whose mask does not broadcast to the scores, or whose condition is computed', () => {
    // A [3, 3] table compared with 0 cannot mask tokens [1, 4, 8].
    const mask = (g: GraphBuilder) => g.node('Equal', [g.weight([3, 3], 1), g.scalar(0)]);
    expect(importError(tokens((g, t) => g.node('Where', [mask(g), g.scalar(-Infinity), t])))).toMatch(/op Where\): selects from a computed tensor \[1, 4, 8\] \(batch 1\) by a mask of shape \[3,3\]: expected a constant mask that broadcasts to it and one constant value/);
    expect(importError(tokens((g, t) => g.node('Where', [g.node('Equal', [t, g.scalar(0)]), g.scalar(0), t])))).toMatch(/op Equal\)/);
  });

  it('a Pow of a computed tensor (only a size\'s: attention\'s scale)', () => {
    expect(importError(tokens((g, t) => g.node('Pow', [t, g.weight([1], 0, undefined, 3)])))).toMatch(/op Pow\): Pow of a computed tensor is not supported: expected it only in shape computations/);
  });
  it('a MatMul of token tensors whose inner sizes differ, and a Softmax not over the last axis', () => {
    expect(importError(tokens((g, t) => g.node('MatMul', [t, g.node('Relu', [t])])))).toMatch(/op MatMul\): multiplies \[1, 4, 8\] by \[1, 4, 8\] \(batch 1\): expected \[\.\.\., M, K\] and \[\.\.\., K, N\]/);
    expect(importError(tokens((g, t) => g.node('Softmax', [t], [int('axis', 1)])))).toMatch(/op Softmax\): unsupported attribute axis=1: expected the last axis \(2 or -1\)/);
  });
});
