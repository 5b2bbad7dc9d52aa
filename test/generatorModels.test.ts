// Image-to-image networks as PyTorch exports them: CycleGAN's and pix2pix's ResNet generator
// (test/fixtures/torch/resnet-generator.onnx, untrained: ReflectionPad2d, InstanceNorm2d, stride-2
// convs, residual blocks, ConvTranspose2d, ReplicationPad2d, Tanh). PyTorch 1.13 computes a
// ReflectionPad2d's pads in a shape subgraph (Concat, Reshape to [4, 2], Slice with step −1,
// Transpose, Reshape back, Cast): folded to the constant pads of a rearrange. onnxruntime is the
// oracle of the float64 pass, the float64 pass of the GPU one; a prune writes a model that
// onnxruntime runs to our outputs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { RearrangeLayer } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { gpuForTests } from './helpers/gpu.js';
import { GraphBuilder, imageSamples, int, ints, nchwToNhwc, relativeError, runOnnx, str } from './helpers/onnxGraphs.js';

const gpu = await gpuForTests();
const fixtures = new URL('./fixtures/torch/', import.meta.url).pathname;
const bytes = new Uint8Array(await readFile(join(fixtures, 'resnet-generator.onnx')));
const samples = imageSamples([3, 32, 32], 6, 5);

describe('CycleGAN\'s ResNet generator', () => {
  it('reads: its reflected and replicated pads as rearranges, its InstanceNorms as groupnorms, its ConvTransposes as zeros and convs', () => {
    const { network } = parseOnnxModel(bytes, 'resnet-generator.onnx');
    const kinds = network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
    expect(kinds.filter((k) => k === 'rearrange')).toHaveLength(6); // head, 2 per block, tail
    expect(kinds.filter((k) => k === 'groupnorm')).toHaveLength(9);
    expect(kinds.filter((k) => k === 'insertzeros')).toHaveLength(2);
    expect(kinds.at(-1)).toBe('tanh');
    const head = network.layers[0] as RearrangeLayer;
    expect(head.shape).toEqual([38, 38, 3]);
    // Pixel (0, 0) of the reflected image is input pixel (3, 3): a mirror of the 3-pixel border.
    expect(head.indices[0]).toBe((3 * 32 + 3) * 3);
  });

  it(`computes what onnxruntime does (image out)${gpu ? ', on the GPU too' : ''}`, async () => {
    const { network } = parseOnnxModel(bytes, 'resnet-generator.onnx');
    const ours = forwardCpu(network, samples.ours, 6).output;
    const theirs = await runOnnx(bytes, samples.nchw, [6, 3, 32, 32]);
    expect(relativeError(ours, nchwToNhwc(theirs, 6, 3, 32, 32))).toBeLessThan(1e-5); // onnxruntime's image is NCHW
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, 6)).output, ours)).toBeLessThan(1e-5);
  });

  it('prunes (parallel): the written model runs as our pruned network', async () => {
    const handle = parseOnnxModel(bytes, 'resnet-generator.onnx');
    // Two images, the full-resolution head and tail left out: the middle's convs suffice here (and keep the suite short).
    const result = await pruneNetwork(handle.network, { data: samples.ours.subarray(0, 2 * 3072), count: 2 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.1, exclude: ['/head/head.1/Conv', '/tail/tail.1/Conv'], solver: { maxIterations: 100 } });
    expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
    const written = writeOnnxModel(handle, result.network);
    const theirs = await runOnnx(written, samples.nchw, [6, 3, 32, 32]);
    const ours = forwardCpu(result.network, samples.ours, 6).output;
    expect(relativeError(ours, nchwToNhwc(theirs, 6, 3, 32, 32))).toBeLessThan(1e-5);
  });
});

describe('pads computed in a shape subgraph', () => {
  it('folds Concat, Reshape [−1, 2], Slice with step −1, Transpose and Reshape back to ONNX\'s pads', async () => {
    // PyTorch's (left, right, top, bottom) = (2, 0, 1, 3) and zeros for N and C, as its exporter writes them.
    const g = new GraphBuilder(4);
    const table = g.node('Reshape', [g.node('Concat', [g.int64([2, 0, 1, 3]), g.int64([0, 0, 0, 0])], [int('axis', 0)]), g.int64([-1, 2])]);
    const reversed = g.node('Slice', [table, g.int64([-1]), g.int64([-9223372036854775807]), g.int64([0]), g.int64([-1])]);
    const pads = g.node('Cast', [g.node('Reshape', [g.node('Transpose', [reversed], [ints('perm', [1, 0])]), g.int64([-1])])], [int('to', 7)]);
    const padded = g.node('Pad', [g.conv('input', 3, 2, 1), pads], [str('mode', 'reflect')]);
    const model = g.model([3, 6, 6], g.gemm(g.viewFlatten(padded, 13), 2 * 10 * 8, 2), 13);
    const { network } = parseOnnxModel(model, 'pads.onnx');
    expect((network.layers.find((l) => l.kind === 'rearrange') as RearrangeLayer).shape).toEqual([10, 8, 2]);
    const x = imageSamples([3, 6, 6], 4, 2);
    expect(relativeError(forwardCpu(network, x.ours, 4).output, await runOnnx(model, x.nchw, [4, 3, 6, 6]))).toBeLessThan(1e-5);
  });
});
