// ConvNeXt as PyTorch exports it: channels-last stretches (Transpose [0, 2, 3, 1] … Transpose
// [0, 3, 1, 2]) with LayerNorm (one LayerNormalization node at opset 17, nine nodes below) and
// MatMul + Add on the channels (1×1 convs). Import, both prunes and the GPU forward pass:
// dagModels.test.ts's list; here the layers they become, the float64 layer norm on its own,
// structured pruning of the MLP's hidden channels, and one-line errors.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { layerNormForward } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { convNeXtBlock } from './helpers/dagGraphs.js';
import { GraphBuilder, imageSamples, int, ints, relativeError, runOnnx } from './helpers/onnxGraphs.js';

const kinds = (network: Network) => network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));

const samples = (count: number, seed: number) => imageSamples([3, 8, 8], count, seed);

describe('ConvNeXt reads as layer norms and 1×1 convs', () => {
  it('the same layers at opset 17 (LayerNormalization) and 13 (its nine nodes fused)', () => {
    const want = ['conv2d', 'layernorm', 'conv2d', 'layernorm', 'conv2d', 'gelu', 'conv2d', 'batchnorm', 'add', 'globalavgpool', 'layernorm', 'flatten', 'dense'];
    for (const opset of [17, 13] as const) {
      const { network } = parseOnnxModel(convNeXtBlock(opset).bytes, 'c.onnx');
      expect(kinds(network)).toEqual(want);
      const norms = network.layers.filter((l) => l.kind === 'layernorm');
      expect(norms.map((l) => (l.kind === 'layernorm' ? [l.scale.length, l.epsilon] : []))).toEqual([[8, 1e-6], [8, 1e-6], [8, 1e-6]].map(([c, e]) => [c, expect.closeTo(e, 12)]));
    }
    const { network } = parseOnnxModel(convNeXtBlock(17).bytes, 'c.onnx');
    const [, , expand, project] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect([expand.kernelSize, expand.inChannels, expand.filters, project.inChannels, project.filters]).toEqual([[1, 1], 8, 16, 16, 8]);
  });

  it('layerNormForward: each position centred and scaled by 1/√(biased variance + ε), then scale and offset per channel', () => {
    // Position 1: (1, 2, 3): mean 2, variance 2/3. Position 2: all 5: centred to 0, only the offset left.
    const out = layerNormForward(Float64Array.from([1, 2, 3, 5, 5, 5]), [1, 2, 3], [0, 0, 10], 0.01);
    const inv = 1 / Math.sqrt(2 / 3 + 0.01);
    [-inv, 0, 3 * inv + 10, 0, 0, 10].forEach((v, i) => expect(out[i]).toBeCloseTo(v, 12));
  });
});

describe('structured pruning of the channels-last MLP', () => {
  it("removes a hidden channel from both MatMuls' weights ([8, 16] → [8, 15], [16, 8] → [15, 8]); the layer-normed channels stay", async () => {
    const c = convNeXtBlock(13);
    const handle = parseOnnxModel(c.bytes, 'c.onnx');
    const network = structuredClone(handle.network);
    const [stem, depthwise, expand, project] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    project.kernel.fill(0, 5 * 8, 6 * 8); // nobody reads hidden channel 5
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(expand.name)!]).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    expect(removal.kept.has(stem.name) || removal.kept.has(depthwise.name) || removal.kept.has(project.name)).toBe(false);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    const dims = graph.node!.filter((n) => n.opType === 'MatMul').map((n) => graph.initializer!.find((t) => t.name === n.input![1])!.dims!.map(Number));
    expect(dims).toEqual([[8, 15], [15, 8]]);
    const { nchw, ours } = samples(3, 5);
    const want = forwardCpu(network, ours, 3).output;
    expect(relativeError(forwardCpu(removal.network, ours, 3).output, want)).toBeLessThan(1e-12);
    expect(relativeError(await runOnnx(written, nchw, [3, ...c.dims]), want)).toBeLessThan(1e-5);
  });
});

describe('what is not a channels-last stretch is refused naming the node', () => {
  function errorOf(build: (g: GraphBuilder, x: string) => string, opset = 17): string {
    const g = new GraphBuilder(3);
    const x = g.conv('input', 3, 8, 3, { pad: 1 });
    const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [build(g, x)])], [int('axis', 1)]), 8, 2);
    try {
      parseOnnxModel(g.model([3, 6, 6], out, opset), 'bad.onnx');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as Error).message;
    }
    return 'no error';
  }
  const toLast = (g: GraphBuilder, x: string) => g.node('Transpose', [x], [ints('perm', [0, 2, 3, 1])]);
  const back = (g: GraphBuilder, x: string) => g.node('Transpose', [x], [ints('perm', [0, 3, 1, 2])]);

  it('a Transpose other than to channels-last and back', () => {
    expect(errorOf((g, x) => g.node('Transpose', [x], [ints('perm', [0, 1, 3, 2])]))).toMatch(/op Transpose\): perm \[0,1,3,2\] of \[batch, 8, 6, 6\]: expected perm \[0, 2, 3, 1\] of an image/);
  });
  it('a channels-last tensor read by an op that would take its last axis for the width (a conv)', () => {
    expect(errorOf((g, x) => g.conv(toLast(g, x), 8, 8, 1))).toMatch(/op Conv\): input 0 .* is channels-last \(after a Transpose \[0, 2, 3, 1\] or \[0, 2, 1\]\): expected it read only by LayerNormalization, MatMul/);
  });
  it('a LayerNormalization over the channels of a channels-first image (axis 1), and a lone ReduceMean over channels-last channels', () => {
    expect(errorOf((g, x) => g.node('LayerNormalization', [x, g.weight([8], 0.1), g.weight([8], 0.1)], [int('axis', 1)]))).toMatch(/op LayerNormalization\): attribute axis=1 on \[batch, 8, 6, 6\]: expected the last axis/);
    expect(errorOf((g, x) => back(g, g.node('Sub', [toLast(g, x), g.node('ReduceMean', [toLast(g, x)], [ints('axes', [-1])])])), 13)).toMatch(/op ReduceMean\): axes \[-1\] of channels-last \[batch, 6, 6, 8\]: expected the mean over H and W \(axes \[1, 2\]\)/);
  });
});
