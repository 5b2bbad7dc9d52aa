// Transposed convs (U-Net and autoencoder decoders, GAN generators): ONNX ConvTranspose read as
// zeros between the input's pixels (an insertzeros layer) and an ordinary conv of stride 1 with
// the kernel flipped. The GPU forward pass: dagModels.test.ts (convTransposeDecoder). Here the
// op's values, import and a parallel prune against onnxruntime, the kernel's layout when channels
// are removed, 1-D, and one-line errors.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { insertZerosForward } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { convTransposeDecoder } from './helpers/dagGraphs.js';
import { GraphBuilder, imageSamples, importError, ints, nchwToNhwc, relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';

const kinds = (network: Network) => network.layers.map((l) => l.kind);

describe('ConvTranspose as zeros between pixels and a conv', () => {
  it('insertzeros puts input (y, x) at (y·sh, x·sw), zeros elsewhere', () => {
    // One sample [2, 2, 1]: 1 2 / 3 4, strides (2, 3).
    const out = insertZerosForward(Float64Array.from([1, 2, 3, 4]), 1, [2, 2, 1], [2, 3]);
    expect([...out]).toEqual([1, 0, 0, 2, 0, 0, 0, 0, 3, 0, 0, 4]);
  });

  it("the decoder's layers: stride 2 adds an insertzeros, the conv has stride 1 and padding k − 1 − pad (+ output_padding after)", () => {
    const { network } = parseOnnxModel(convTransposeDecoder().bytes, 'd.onnx');
    expect(kinds(network)).toEqual(['conv2d', 'relu', 'insertzeros', 'conv2d', 'relu', 'concat', 'insertzeros', 'conv2d', 'relu', 'globalavgpool', 'flatten', 'dense']);
    const [, first, second] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect([first.strides, first.padding, first.kernelSize, second.padding]).toEqual([[1, 1], [1, 1, 2, 2], [3, 3], [1, 1, 1, 1]]);
  });

  it("removes channels from its [cin, cout, kh, kw] weight in that layout; onnxruntime runs the written model as our network", async () => {
    const c = convTransposeDecoder();
    const handle = parseOnnxModel(c.bytes, 'd.onnx');
    const network = structuredClone(handle.network);
    const [, up, wide] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    // Nobody reads the first ConvTranspose's channel 1 (joined channel 1).
    for (let tap = 0; tap < 4; tap++) wide.kernel.fill(0, (tap * 7 + 1) * 3, (tap * 7 + 2) * 3);
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(up.name)!]).toEqual([0, 2, 3]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    const dims = graph.node!.filter((n) => n.opType === 'ConvTranspose').map((n) => graph.initializer!.find((t) => t.name === n.input![1])!.dims!.map(Number));
    expect(dims).toEqual([[4, 3, 3, 3], [6, 3, 2, 2]]);
    const { nchw, ours } = imageSamples([3, 4, 4], 3, 6);
    const want = forwardCpu(network, ours, 3).output;
    expect(relativeError(forwardCpu(removal.network, ours, 3).output, want)).toBeLessThan(1e-12);
    expect(relativeError(await runOnnx(written, nchw, [3, 3, 4, 4]), want)).toBeLessThan(1e-5);
  });

  it('the decoder imports to what onnxruntime computes, and prunes (parallel) into a model onnxruntime runs as our pruned network, each layer within its ε', async () => {
    // Cascade: the γ rule's ε after the transposed convs is not met within 3 000 iterations (the
    // zero-inserted patches are 3/4 zeros): session 17's closing note.
    const c = convTransposeDecoder();
    const handle = parseOnnxModel(c.bytes, 'd.onnx');
    const { nchw, ours } = imageSamples([3, 4, 4], 60, 11);
    expect(relativeError(forwardCpu(handle.network, ours, 60).output, await runOnnx(c.bytes, nchw, [60, 3, 4, 4]))).toBeLessThan(1e-5);
    const result = await pruneNetwork(handle.network, { data: ours, count: 60 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
    expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
    for (const layer of result.layers) expect(layer.constraintResidual).toBeLessThanOrEqual(layer.epsilon * 1.01 + 1e-9);
    const test = imageSamples([3, 4, 4], 4, 99);
    expect(relativeError(await runOnnx(writeOnnxModel(handle, result.network), test.nchw, [4, 3, 4, 4]), forwardCpu(result.network, test.ours, 4).output)).toBeLessThan(1e-5);
  }, 120_000);

  it('ConvTranspose1d on a sequence [batch, C, L] (weight [cin, cout, k]), as onnxruntime', async () => {
    const g = new GraphBuilder(8);
    const w = g.weight([4, 2, 4], 0.4);
    const bytes = g.model([3, 6], g.node('ConvTranspose', [g.node('Relu', [g.conv1d('input', 3, 4, 3, { pad: 1 })]), w], [ints('kernel_shape', [4]), ints('strides', [2]), ints('pads', [1, 1])]));
    const { network } = parseOnnxModel(bytes, 's.onnx');
    expect(kinds(network)).toEqual(['conv2d', 'relu', 'insertzeros', 'conv2d']);
    const rand = mulberry32(2);
    const ncl = Float32Array.from({ length: 2 * 18 }, () => rand() - 0.5);
    const theirs = await runOnnx(bytes, ncl, [2, 3, 6]); // [2, 2, 12]
    expect(relativeError(forwardCpu(network, nchwToNhwc(ncl, 2, 3, 1, 6), 2).output, nchwToNhwc(theirs, 2, 2, 1, 12))).toBeLessThan(1e-5);
  });

  it('refuses groups, dilations, output_shape and pads of the kernel size or more, naming the node', () => {
    const model = (attrs: ReturnType<typeof ints>[], wDims = [2, 3, 3, 3]) => {
      const g = new GraphBuilder(4);
      return g.model([2, 4, 4], g.node('ConvTranspose', [g.conv('input', 2, 2, 1), g.weight(wDims, 0.3)], attrs));
    };
    expect(importError(model([ints('strides', [2, 2]), { name: 'group', type: 2, i: 2 }], [2, 1, 3, 3]))).toMatch(/op ConvTranspose\): auto_pad NOTSET, group 2, dilations \[\]: expected explicit pads, one group and no dilation$/);
    expect(importError(model([ints('dilations', [2, 2])]))).toMatch(/group 1, dilations \[2,2\]: expected explicit pads, one group and no dilation/);
    expect(importError(model([ints('output_shape', [8, 8])]))).toMatch(/op ConvTranspose\): unsupported attribute output_shape: expected only/);
    expect(importError(model([ints('pads', [3, 3, 3, 3])]))).toMatch(/op ConvTranspose\): pads \[3,3,3,3\], output_padding \[0,0\] for a 3×3 kernel at stride 1×1: expected each pad at most k − 1 and output_padding below the stride$/);
    // Stride 3, output_padding 2 past a 3×3 kernel with no end pad: the last rows would be the bias alone.
    expect(importError(model([ints('strides', [3, 3]), ints('output_padding', [2, 2])]))).toMatch(/op ConvTranspose\): output_padding \[2,2\] with pads \[0,0,0,0\] for a 3×3 kernel: expected the last output rows and columns within the kernel's reach/);
    expect(importError(model([], [3, 3, 3, 3]))).toMatch(/weight '.*' has shape \[3, 3, 3, 3\]: expected \[2, cout, kh, kw\] \(ConvTranspose's \[cin, cout, …\], 2 input channels\)$/);
  });
});
