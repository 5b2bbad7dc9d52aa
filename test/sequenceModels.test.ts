// 1-D convolutional networks (sensor, audio and text CNNs): PyTorch's Conv1d, BatchNorm1d,
// MaxPool1d, AvgPool1d and their pools on a sequence [batch, C, L] read as the 2-D layers of
// height 1 ([1, L, C] of ours); frames [batch, T, F] and x.transpose(1, 2) channels-last. Import against onnxruntime, both prunes and the GPU forward pass:
// dagModels.test.ts's list (sequenceNet); the trained one: torchFixtures.test.ts (conv1d). Here
// the layers they become, the samples they take, channel removal and one-line errors.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { samplesForModel } from '../src/io/samples.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { sampleShapes, sampleShapesText } from '../src/network/sampleShapes.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { sequenceConvNeXt, sequenceNet } from './helpers/dagGraphs.js';
import { GraphBuilder, importError, int, ints, nchwToNhwc, relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';

const kinds = (network: Network) => network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));

/** `count` seeded sequences [C, L]: NCL for onnxruntime, [1, L, C] per sample for ours. */
function sequences(c: number, l: number, count: number, seed: number): { ncl: Float32Array; ours: Float32Array } {
  const rand = mulberry32(seed);
  const ncl = Float32Array.from({ length: count * c * l }, () => rand() - 0.5);
  return { ncl, ours: nchwToNhwc(ncl, count, c, 1, l) };
}

const parseError = (bytes: Uint8Array) => importError(bytes, 's.onnx');

describe('a sequence network reads as height-1 convs and pools', () => {
  it('Conv1d → a 1×k conv (pads, dilation, groups), MaxPool1d ceil_mode, Pad + AvgPool1d, the pooled gate, Squeeze → flatten', () => {
    const { network } = parseOnnxModel(sequenceNet().bytes, 's.onnx');
    expect(network.inputShape).toEqual([1, 20, 4]);
    expect(kinds(network)).toEqual(['conv2d', 'relu', 'maxpool2d', 'conv2d', 'relu', 'conv2d', 'globalavgpool', 'dense', 'relu', 'dense', 'sigmoid', 'mul', 'add', 'relu', 'avgpool2d', 'conv2d', 'relu', 'globalmaxpool', 'dense']);
    const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect(convs.map((c) => [c.kernelSize, c.strides, c.padding, c.dilations ?? null, c.groups ?? 1])).toEqual([
      [[1, 5], [1, 1], 'same', null, 1],
      [[1, 3], [1, 1], 'same', [1, 2], 1],
      [[1, 3], [1, 1], 'same', null, 8],
      [[1, 3], [1, 2], [0, 1, 0, 1], null, 1],
    ]);
    const pool = network.layers.find((l) => l.kind === 'maxpool2d');
    expect(pool).toMatchObject({ poolSize: [1, 3], strides: [1, 2], padding: [0, 0, 0, 1] }); // ceil_mode: one more window at the end
    expect(network.layers.find((l) => l.kind === 'avgpool2d')).toMatchObject({ poolSize: [1, 2], padding: [0, 1, 0, 1], countIncludePad: true });
  });

  it('takes samples as PyTorch holds them, (P, C, L), and runs them channels-last', () => {
    const handle = parseOnnxModel(sequenceNet().bytes, 's.onnx');
    const model = { network: handle.network, imageLayout: handle.sampleLayout };
    expect(handle.sampleLayout).toBe('ncl');
    expect(sampleShapesText(sampleShapes(handle.network.inputShape, 'ncl'))).toBe('(P, 4, 20) NCL');
    const { ncl, ours } = sequences(4, 20, 3, 1);
    const loaded = samplesForModel({ shape: [3, 4, 20], dtype: 'float32', data: ncl }, model, 'x.npy');
    expect([...loaded.data]).toEqual([...ours]);
    expect(() => samplesForModel({ shape: [3, 20, 4], dtype: 'float32', data: ncl }, model, 'x.npy')).toThrow(/x\.npy: shape: expected \(P, 4, 20\) NCL to match the model's input, found \(3, 20, 4\)/);
  });

  it('one channel: NCL or NLC, or flattened', () => {
    expect(sampleShapesText(sampleShapes([1, 50, 1], 'ncl'))).toBe('(P, 1, 50) NCL or (P, 50) flattened');
    expect(sampleShapesText(sampleShapes([1, 50, 3], 'nlc'))).toBe('(P, 50, 3) NLC');
  });
});

describe('the flattens PyTorch writes after a Conv1d', () => {
  it('x.view(x.size(0), -1) (Shape → Gather → Unsqueeze → Concat → Reshape) and Flatten: features in ONNX order (C, then L), as onnxruntime', async () => {
    for (const view of [true, false]) {
      const g = new GraphBuilder(9);
      const x = g.node('Relu', [g.conv1d('input', 3, 5, 3, { pad: 1 })]);
      const flat = view ? g.viewFlatten(x, 13) : g.node('Flatten', [x], [int('axis', 1)]);
      const bytes = g.model([3, 7], g.gemm(flat, 5 * 7, 4));
      const { network } = parseOnnxModel(bytes, 's.onnx');
      expect(kinds(network)).toEqual(['conv2d', 'relu', 'flatten', 'dense']);
      const { ncl, ours } = sequences(3, 7, 4, 3);
      expect(relativeError(forwardCpu(network, ours, 4).output, await runOnnx(bytes, ncl, [4, 3, 7]))).toBeLessThan(1e-5);
    }
  });
});

describe('frames [batch, T, F] and channels-last stretches of a sequence (x.transpose(1, 2))', () => {
  it('an input read only by Transpose [0, 2, 1] is frames: ours [1, T, F], samples (P, T, F) NLC; the Transposes move nothing', () => {
    const handle = parseOnnxModel(sequenceConvNeXt().bytes, 's.onnx');
    expect(handle.network.inputShape).toEqual([1, 12, 5]);
    expect(handle.sampleLayout).toBe('nlc');
    expect(sampleShapesText(sampleShapes(handle.network.inputShape, 'nlc'))).toBe('(P, 12, 5) NLC');
    expect(kinds(handle.network)).toEqual(['conv2d', 'conv2d', 'layernorm', 'conv2d', 'gelu', 'conv2d', 'batchnorm', 'add', 'globalavgpool', 'dense']);
    const [, , expand, project] = handle.network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect([expand.kernelSize, expand.inChannels, expand.filters, project.inChannels, project.filters]).toEqual([[1, 1], 8, 16, 16, 8]);
  });

  it("removes a hidden channel of the MLP from both MatMuls' weights ([8, 16] → [8, 15], [16, 8] → [15, 8]); onnxruntime runs the written model as our network", async () => {
    const handle = parseOnnxModel(sequenceConvNeXt().bytes, 's.onnx');
    const network = structuredClone(handle.network);
    const [, , expand, project] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    project.kernel.fill(0, 5 * 8, 6 * 8); // nobody reads hidden channel 5
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(expand.name)!]).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    expect(graph.node!.filter((n) => n.opType === 'MatMul').map((n) => graph.initializer!.find((t) => t.name === n.input![1])!.dims!.map(Number))).toEqual([[8, 15], [15, 8]]);
    const x = Float32Array.from({ length: 3 * 12 * 5 }, (_, i) => Math.sin(0.7 * i)); // frames: the ONNX order is ours
    const want = forwardCpu(network, x, 3).output;
    expect(relativeError(await runOnnx(written, x, [3, 12, 5]), want)).toBeLessThan(1e-5);
  });

  it('a Conv1d on the channels-last steps, a MatMul on a channels-first sequence: one-line errors', () => {
    const swap = (g: GraphBuilder, x: string) => g.node('Transpose', [x], [ints('perm', [0, 2, 1])]);
    const g = new GraphBuilder(3);
    const onSteps = g.model([4, 12], g.conv1d(swap(g, g.conv1d('input', 4, 6, 3)), 10, 6, 3));
    expect(parseError(onSteps)).toMatch(/op Conv\): input 0 \('.*'\) is channels-last \(after a Transpose \[0, 2, 3, 1\] or \[0, 2, 1\]\): expected it read only by LayerNormalization, MatMul/);
    const h = new GraphBuilder(4);
    const matMul = h.model([4, 12], h.node('MatMul', [h.conv1d('input', 4, 6, 3), h.weight([10, 3], 0.3)]));
    expect(parseError(matMul)).toMatch(/op MatMul\): input is a sequence \[batch, 6, 10\]: expected its steps channels-last \(after a Transpose \[0, 2, 1\]\) or features$/);
  });
});

describe('structured pruning of a Conv1d', () => {
  it("removes a channel from the Conv1d's weight in its own layout ([8, 4, 5] → [7, 4, 5]) and from its BatchNorm1d; onnxruntime runs the written model as our network", async () => {
    const g = new GraphBuilder(31);
    const a = g.node('Relu', [g.batchNorm(g.conv1d('input', 4, 8, 5, { pad: 2, bias: false }), 8)]);
    const b = g.node('Relu', [g.conv1d(a, 8, 6, 3, { stride: 2 })]);
    const bytes = g.model([4, 16], g.gemm(g.node('Flatten', [b], [int('axis', 1)]), 6 * 7, 3));
    const handle = parseOnnxModel(bytes, 's.onnx');
    const network = structuredClone(handle.network);
    const [first, second] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    for (let tap = 0; tap < 3; tap++) second.kernel.fill(0, (tap * 8 + 6) * 6, (tap * 8 + 7) * 6); // nobody reads channel 6
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(first.name)!]).toEqual([0, 1, 2, 3, 4, 5, 7]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    const weights = graph.node!.filter((n) => n.opType === 'Conv').map((n) => graph.initializer!.find((t) => t.name === n.input![1])!.dims!.map(Number));
    expect(weights).toEqual([[7, 4, 5], [6, 7, 3]]);
    const { ncl, ours } = sequences(4, 16, 3, 2);
    const want = forwardCpu(network, ours, 3).output;
    expect(relativeError(forwardCpu(removal.network, ours, 3).output, want)).toBeLessThan(1e-12);
    expect(relativeError(await runOnnx(written, ncl, [3, 4, 16]), want)).toBeLessThan(1e-5);
  });
});

describe('sequences: one-line errors naming the node', () => {
  const model = (build: (g: GraphBuilder, x: string) => string, dims = [4, 12]) => {
    const g = new GraphBuilder(5);
    return g.model(dims, build(g, 'input'));
  };

  it('an op that does not read sequences is refused, with the ops that do', () => {
    const message = parseError(model((g, x) => g.node('Slice', [g.conv1d(x, 4, 6, 3), g.int64([0]), g.int64([4]), g.int64([1])])));
    expect(message).toMatch(/^s\.onnx: node \d+ \('\/slice\/Slice_\d+', op Slice\): input 0 \('.*'\) is a sequence \[batch, 6, 10\]: expected it read only by Conv, ConvTranspose, MaxPool, AveragePool, Resize, Pad, BatchNormalization/);
    expect(message.split('\n')).toHaveLength(1);
    expect(parseError(model((g, x) => g.node('Softmax', [x], [int('axis', 1)])))).toMatch(/op Softmax\): input 0 \('input'\) is a sequence \[batch, 4, 12\]/);
  });

  it("2-D attributes or a 2-D weight on a sequence", () => {
    const w = (g: GraphBuilder, dims: number[]) => g.weight(dims, 0.3);
    expect(parseError(model((g, x) => g.node('Conv', [x, w(g, [6, 4, 3])], [ints('kernel_shape', [3, 3])])))).toMatch(/op Conv\): attribute kernel_shape=\[3,3\]: expected 1 value for a 1-D op on a sequence \[batch, C, L\]$/);
    expect(parseError(model((g, x) => g.node('Conv', [x, w(g, [6, 4, 3])], [ints('pads', [1, 1, 1, 1])])))).toMatch(/attribute pads=\[1,1,1,1\]: expected 2 values for a 1-D op/);
    expect(parseError(model((g, x) => g.node('Conv', [x, w(g, [6, 4, 1, 3])])))).toMatch(/op Conv\): weight '.*' has shape \[6, 4, 1, 3\]: expected \[cout, 4, k\] \(OIL, 4 input channels in 1 group\)$/);
    expect(parseError(model((g, x) => g.node('MaxPool', [x], [ints('kernel_shape', [2, 2])])))).toMatch(/op MaxPool\): attribute kernel_shape=\[2,2\]: expected 1 value/);
  });

  it('a Squeeze of a sequence that is not pooled, a gate of the wrong rank', () => {
    expect(parseError(model((g, x) => g.node('Squeeze', [g.conv1d(x, 4, 6, 3), g.int64([2])])))).toMatch(/op Squeeze\): Squeeze of \[batch, 6, 10\] on axes \[2\]: expected it only between features \[batch, C\] and a pooled/);
    expect(parseError(model((g, x) => {
      const y = g.conv1d(x, 4, 6, 3);
      return g.node('Mul', [y, g.node('Reshape', [g.node('Flatten', [g.node('GlobalAveragePool', [y])], [int('axis', 1)]), g.int64([-1, 6, 1, 1])])]);
    }))).toMatch(/op Mul\): multiplies tensors of shapes \[batch, 6, 10\] and \[batch, 6, 1, 1\]: expected one shape, or an image \[batch, C, H, W\] by a gate \[batch, C, 1, 1\] \(a sequence \[batch, C, L\] by \[batch, C, 1\]\)$/);
  });
});
