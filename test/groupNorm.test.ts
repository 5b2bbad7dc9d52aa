// Group and instance normalization (src/io/onnx/normOps.ts): ONNX's InstanceNormalization, and
// PyTorch's GroupNorm below opset 18 (Reshape [batch, G, −1] → InstanceNormalization → Reshape back,
// then its scale and shift as a Mul and an Add, folded in), as one groupnorm layer (CPU and GPU). Hand-computed
// values, onnxruntime as the oracle, pinned channels, and refusals naming the node.
import { describe, expect, it } from 'vitest';
import { parseOnnxModel } from '../src/io/onnxModel.js';
import { groupNormForward } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { Conv2DLayer, GroupNormLayer, Network } from '../src/network/types.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { gpuForTests } from './helpers/gpu.js';
import { float, GraphBuilder, imageSamples, importError, int, nchwToNhwc, relativeError, runOnnx } from './helpers/onnxGraphs.js';

const gpu = await gpuForTests();

describe('groupNormForward', () => {
  it('normalizes each group over its positions and channels, then scale and offset per channel', () => {
    // One sample, 2 positions × 4 channels, 2 groups: group 0 holds 1, 3 / 5, 7 (mean 4, variance 5).
    const x = Float64Array.from([1, 3, 10, 10, 5, 7, 10, 10]);
    const out = groupNormForward(x, 1, 2, 2, [1, 2, 1, 1], [0, 0, 0, 0.5], 1e-12); // group 1 is constant: 0 after centring
    const s = 1 / Math.sqrt(5);
    [-3 * s, -2 * s, 0, 0.5, s, 6 * s, 0, 0.5].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 12));
  });
});

/** conv → GroupNorm(2 groups of 3) as PyTorch writes it → ReLU → conv → InstanceNorm2d(affine) → flatten → Gemm. */
function normalized(): Uint8Array {
  const g = new GraphBuilder(4);
  const c = g.conv('input', 3, 6, 3, { pad: 1 });
  const grouped = g.node('InstanceNormalization', [g.node('Reshape', [c, g.int64([0, 2, -1])]), g.weight([2], 0, undefined, 1), g.weight([2], 0)]);
  const back = g.node('Reshape', [grouped, g.node('Shape', [c])]);
  const gn = g.node('Add', [g.node('Mul', [back, g.weight([6, 1, 1], 0.5, undefined, 1)]), g.weight([6, 1, 1], 0.3)]);
  const d = g.conv(g.node('Relu', [gn]), 6, 4, 3);
  const inorm = g.node('InstanceNormalization', [d, g.weight([4], 0.5, undefined, 1), g.weight([4], 0.2)]);
  return g.model([3, 6, 6], g.gemm(g.viewFlatten(inorm, 13), 4 * 4 * 4, 3), 13);
}

describe('ONNX: InstanceNormalization and GroupNorm as PyTorch writes it', () => {
  const x = imageSamples([3, 6, 6], 8, 5);
  it('read as groupnorm layers that compute what onnxruntime does (CPU and GPU)', async () => {
    const bytes = normalized();
    const { network } = parseOnnxModel(bytes, 'n.onnx');
    // GroupNorm's Mul and Add are folded into its groupnorm.
    expect(network.layers.map((l) => l.kind)).toEqual(['conv2d', 'groupnorm', 'relu', 'conv2d', 'groupnorm', 'flatten', 'dense']);
    const norms = network.layers.filter((l): l is GroupNormLayer => l.kind === 'groupnorm');
    expect(norms.map((l) => [l.groups, l.scale.length])).toEqual([[2, 6], [4, 4]]);
    const ours = forwardCpu(network, x.ours, 8).output;
    expect(relativeError(ours, await runOnnx(bytes, x.nchw, [8, 3, 6, 6]))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, x.ours, 8)).output, ours)).toBeLessThan(1e-5);
  });

  it('GroupNormalization (opset 18: scale and bias per group) is the same layer', async () => {
    const g = new GraphBuilder(3);
    const c = g.conv('input', 3, 6, 3, { pad: 1 });
    const bytes = g.model([3, 6, 6], g.node('GroupNormalization', [c, g.weight([3], 0.5, undefined, 1), g.weight([3], 0.2)], [int('num_groups', 3), float('epsilon', 1e-4)]), 18);
    const { network } = parseOnnxModel(bytes, 'g.onnx');
    const norm = network.layers[1] as GroupNormLayer;
    expect([norm.kind, norm.groups, norm.scale[0] === norm.scale[1], norm.scale[1] === norm.scale[2]]).toEqual(['groupnorm', 3, true, false]);
    const theirs = await runOnnx(bytes, x.nchw, [8, 3, 6, 6]);
    expect(relativeError(forwardCpu(network, x.ours, 8).output, nchwToNhwc(theirs, 8, 6, 6, 6))).toBeLessThan(1e-5);
  });

  it('an InstanceNorm1d on a sequence', async () => {
    const g = new GraphBuilder(2);
    const c = g.conv1d('input', 2, 3, 3);
    const bytes = g.model([2, 9], g.node('InstanceNormalization', [c, g.weight([3], 0.4, undefined, 1), g.weight([3], 0.2)]), 13);
    const { network } = parseOnnxModel(bytes, 's.onnx');
    const s = imageSamples([2, 1, 9], 4, 6);
    const theirs = await runOnnx(bytes, s.nchw, [4, 2, 9]);
    expect(relativeError(forwardCpu(network, s.ours, 4).output, nchwToNhwc(theirs, 4, 3, 1, 7))).toBeLessThan(1e-5);
  });

  it('a group norm mixes its channels: structured pruning leaves the conv before it whole', () => {
    const network: Network = structuredClone(parseOnnxModel(normalized(), 'n.onnx').network);
    const second = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[1];
    second.kernel = second.kernel.map((v, i) => (Math.floor(i / 4) % 6 === 5 ? 0 : v)); // nothing reads channel 5 of the group norm
    const widths = removeUnreadUnits(network).network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d').map((l) => l.filters);
    expect(widths).toEqual([6, 4]);
  });

  it('groups that do not divide the channels, and a Reshape back to another shape, are refused naming the node', () => {
    const chain = (groups: number, back: number[]) => {
      const g = new GraphBuilder(1);
      const c = g.conv('input', 3, 6, 1);
      const n = g.node('InstanceNormalization', [g.node('Reshape', [c, g.int64([0, groups, -1])]), g.weight([groups], 0, undefined, 1), g.weight([groups], 0)]);
      return g.model([3, 4, 4], g.node('Reshape', [n, g.int64(back)]), 13);
    };
    expect(importError(chain(4, [0, 6, 4, 4]))).toMatch(/op Reshape\): shape \[0,4,-1\] of \[batch, 6, 4, 4\]: expected \[batch, G, −1\] with G dividing the 6 channels \(GroupNorm\)/);
    expect(importError(chain(3, [0, 6, 16]))).toMatch(/op Reshape\): shape \[0,6,16\]: expected the input's \[batch, 6, 4, 4\] back \(GroupNorm\)/);
  });
});
