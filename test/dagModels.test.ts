// Networks that are graphs (net-trim.md; issue 15): the ONNX import of residual, depthwise,
// BatchNorm and non-ReLU models computes what onnxruntime computes, Net-Trim prunes them in both
// schemes, and the written ONNX runs in onnxruntime with the outputs of the pruned network.
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { onnxImportNotes, parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { readFileSync } from 'node:fs';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { gpuForTests } from './helpers/gpu.js';
import { networkGraph, prunableLayers } from '../src/network/graph.js';
import type { Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import type { Conv2DLayer, DenseLayer } from '../src/network/types.js';
import { constantArithmetic, foldedArithmetic, dilatedConvs, efficientNetBlock, gatedMlp, linearSqueezeExcite, mlpActivations, mlpBatchNorm, maxPooledHead, mobileNetBlock, resnetBlock, sequenceConvNeXt, sequenceNet, shuffleNetBlock, uNet, bilinearDecoder, convTransposeDecoder, convNeXtBlock, windowOps, type DagCase } from './helpers/dagGraphs.js';
import { GraphBuilder, int, ints, nchwToNhwc, relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
const cases = [resnetBlock(), mobileNetBlock(), mlpBatchNorm(), mlpActivations(), dilatedConvs(), windowOps(), constantArithmetic(), foldedArithmetic(), shuffleNetBlock(), convNeXtBlock(17), convNeXtBlock(13), maxPooledHead(), sequenceNet(), sequenceConvNeXt(), uNet(), bilinearDecoder()];

function samples(c: DagCase, count: number, seed = 7): { nchw: Float32Array; ours: Float32Array } {
  const rand = mulberry32(seed);
  const size = c.dims.reduce((a, b) => a * b, 1);
  const nchw = Float32Array.from({ length: count * size }, () => rand());
  // NCHW images and NCL sequences ([C, L]: our [1, L, C]) to channels-last.
  const ours = c.dims.length === 3 ? nchwToNhwc(nchw, count, c.dims[0], c.dims[1], c.dims[2]) : c.dims.length === 2 && !c.framesFirst ? nchwToNhwc(nchw, count, c.dims[0], 1, c.dims[1]) : nchw;
  return { nchw, ours };
}

describe('ONNX graphs import to the function onnxruntime computes', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const { network } = parseOnnxModel(c.bytes, `${c.name}.onnx`);
      const { nchw, ours } = samples(c, 5);
      const expected = await runOnnx(c.bytes, nchw, [5, ...c.dims]);
      expect(relativeError(forwardCpu(network, ours, 5).output, expected)).toBeLessThan(1e-5);
    });
  }

  it('folds each BatchNormalization into the conv or Gemm before it, and reads the view flatten as a flatten', () => {
    const { network } = parseOnnxModel(resnetBlock().bytes, 'r.onnx');
    expect(network.layers.map((l) => l.kind)).toEqual(['conv2d', 'relu', 'conv2d', 'relu', 'conv2d', 'conv2d', 'add', 'relu', 'globalavgpool', 'flatten', 'dense']);
    expect(networkGraph(network).isChain).toBe(false);
    const mlp = parseOnnxModel(mlpBatchNorm().bytes, 'm.onnx').network;
    expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'relu', 'dense', 'relu', 'dense', 'softmax']);
  });

  it('gives each prunable layer its program: ReLU, residual sum, pre-activations of other activations', () => {
    const residual = parseOnnxModel(resnetBlock().bytes, 'r.onnx').network;
    const programs = prunableLayers(residual).map((t) => [t.program, t.reason.split(' (')[0].replace(/'.*'/, "'…'"), t.offsetSources.length]);
    expect(programs).toEqual([
      ['relu', 'ReLU', 0],
      ['relu', 'ReLU', 0],
      ['relu', "ReLU after the residual sum '…'", 1],
      ['relu', "ReLU after the residual sum '…'", 1],
      ['linear', 'linear', 0],
    ]);
    const mobile = prunableLayers(parseOnnxModel(mobileNetBlock().bytes, 'm.onnx').network);
    expect(mobile.map((t) => [t.program, t.clip, t.reason])).toEqual([
      ['clip', [0, 6], 'clipped ReLU [0, 6]'],
      ['clip', [0, 6], 'clipped ReLU [0, 6]'],
      ['linear', undefined, 'linear (followed by concat)'],
      ['linear', undefined, 'linear (the network output)'],
    ]);
    const activations = prunableLayers(parseOnnxModel(mlpActivations().bytes, 'a.onnx').network);
    expect(activations.map((t) => t.reason)).toEqual([
      'linear on pre-activations (followed by leakyRelu)',
      'linear on pre-activations (followed by tanh)',
      'linear on pre-activations (followed by sigmoid)',
      'linear on pre-activations (followed by elu)',
      'linear on pre-activations (followed by hardSwish)',
      'linear on pre-activations (followed by hardSigmoid)',
      'linear on pre-activations (followed by gelu)',
      'linear (the network output)',
    ]);
  });
});

describe('pruning graph networks writes ONNX that runs in onnxruntime with the pruned outputs', () => {
  for (const c of cases)
    for (const mode of ['cascade', 'parallel'] as const) {
      it(`${c.name}, ${mode}`, async () => {
        const handle = parseOnnxModel(c.bytes, `${c.name}.onnx`);
        const count = 60;
        const { ours } = samples(c, count, 11);
        const result = await pruneNetwork(handle.network, { data: ours, count }, { mode, backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
        expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
        for (const layer of result.layers) expect(layer.constraintResidual).toBeLessThanOrEqual(layer.epsilon * 1.01 + 1e-9);
        const written = writeOnnxModel(handle, result.network);
        const test = samples(c, 4, 99);
        const theirs = await runOnnx(written, test.nchw, [4, ...c.dims]);
        expect(relativeError(theirs, forwardCpu(result.network, test.ours, 4).output)).toBeLessThan(1e-5);
        // The written model reads back to the pruned network.
        const again = parseOnnxModel(written, 'written.onnx').network;
        expect(again.layers.map((l) => l.kind)).toEqual(result.network.layers.map((l) => l.kind));
      }, 120_000);
    }

  it('keeps the BatchNormalization folds in the written model and says so', () => {
    const handle = parseOnnxModel(resnetBlock().bytes, 'r.onnx');
    const written = writeOnnxModel(handle, handle.network);
    const model = onnxProto.onnx.ModelProto.decode(written);
    expect(model.graph!.node!.filter((n) => n.opType === 'BatchNormalization')).toHaveLength(0);
    expect(model.graph!.initializer!.length).toBeLessThan(onnxProto.onnx.ModelProto.decode(resnetBlock().bytes).graph!.initializer!.length);
    expect(model.metadataProps!.find((p) => p.key === 'net-trim.folded')!.value).toMatch(/^BatchNormalization folded: node \d+ \('\/batchnormalization\/BatchNormalization_\d+', op BatchNormalization\) into layer/);
  });
});

describe('tensors several nodes read (PyTorch shares bit-identical initializers: the zero biases of folded BatchNorms)', () => {
  /** Two convs reading one bias, two Gemms reading one weight and one bias. */
  function sharing(): DagCase {
    const g = new GraphBuilder(21);
    const bias = g.weight([4], 0.1, 'shared_bias');
    const conv = (x: string, cin: number) => g.node('Conv', [x, g.weight([4, cin, 3, 3], 0.4), bias], [ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1])]);
    const a = g.node('Relu', [conv('input', 2)]);
    const b = g.node('Relu', [conv(a, 4)]);
    const flat = g.node('Flatten', [g.node('GlobalAveragePool', [b])], [int('axis', 1)]);
    const [w, c] = [g.weight([4, 4], 0.5, 'shared_w'), g.weight([4], 0.1, 'shared_c')];
    const gemm = (x: string) => g.node('Gemm', [x, w, c], [int('transB', 1)]);
    return { name: 'sharing', bytes: g.model([2, 5, 5], gemm(g.node('Relu', [gemm(flat)]))), dims: [2, 5, 5] };
  }

  it('each layer reads its own copy; changed apart, the written model runs in onnxruntime as our network, each node with its own tensor', async () => {
    const c = sharing();
    const handle = parseOnnxModel(c.bytes, 'sharing.onnx');
    const [convA, convB, gemmA, gemmB] = handle.network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
    const network = structuredClone(handle.network);
    const layers = network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
    layers[0].bias![1] = 0.75;
    layers[2].kernel.fill(0, 0, 6);
    layers[3].bias![0] = -2;
    expect([convA.bias![1], convB.bias![1]]).toEqual([convB.bias![1], convA.bias![1]]); // the handle's layers: untouched, equal
    const { nchw, ours } = samples(c, 3, 4);
    const written = writeOnnxModel(handle, network);
    expect(relativeError(await runOnnx(written, nchw, [3, ...c.dims]), forwardCpu(network, ours, 3).output)).toBeLessThan(1e-6);
    expect(relativeError(await runOnnx(written, nchw, [3, ...c.dims]), await runOnnx(c.bytes, nchw, [3, ...c.dims]))).toBeGreaterThan(1e-3);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    const weightInputs = graph.node!.filter((n) => n.opType === 'Conv' || n.opType === 'Gemm').flatMap((n) => n.input!.slice(1));
    expect(new Set(weightInputs).size).toBe(weightInputs.length);
    expect(gemmA.kernel).toEqual(gemmB.kernel);
    // Channel removal: conv A's channel 2 read by nobody; conv B keeps its four.
    for (let tap = 0; tap < 9; tap++) layers[1].kernel.fill(0, (tap * 4 + 2) * 4, (tap * 4 + 3) * 4);
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(layers[0].name)!]).toEqual([0, 1, 3]);
    const resized = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(resized, nchw, [3, ...c.dims]), forwardCpu(network, ours, 3).output)).toBeLessThan(1e-6);
  });
});

describe('a channel removed through arithmetic with a per-channel constant', () => {
  it("slices the constant in its own layout ([6, 1, 1] → [5, 1, 1]); onnxruntime runs the written model as our network", async () => {
    const c = constantArithmetic();
    const handle = parseOnnxModel(c.bytes, 'c.onnx');
    const network = structuredClone(handle.network);
    const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    const [, pointwise, last] = convs;
    for (let tap = 0; tap < 9; tap++) last.kernel.fill(0, (tap * 6 + 2) * 4, (tap * 6 + 3) * 4); // nobody reads channel 2 of the scaled sum
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(pointwise.name)!]).toEqual([0, 1, 3, 4, 5]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const scale = onnxProto.onnx.ModelProto.decode(written).graph!.initializer!.find((t) => t.name === 'layer_scale')!;
    expect(scale.dims!.map(Number)).toEqual([5, 1, 1]);
    const { nchw, ours } = samples(c, 3, 4);
    expect(relativeError(await runOnnx(written, nchw, [3, ...c.dims]), forwardCpu(network, ours, 3).output)).toBeLessThan(1e-6);
  });
});

describe('per-channel arithmetic after a conv that only it reads', () => {
  it('folds into the conv (exact; the ReLU program), and the written model drops it and runs as our network, channels removed too', async () => {
    const c = foldedArithmetic();
    const handle = parseOnnxModel(c.bytes, 'f.onnx');
    const network = structuredClone(handle.network);
    expect(network.layers.map((l) => l.kind)).toEqual(['conv2d', 'relu', 'conv2d', 'relu', 'globalavgpool', 'flatten', 'dense']);
    expect(prunableLayers(network).map((t) => t.program)).toEqual(['relu', 'relu', 'linear']);
    expect(onnxImportNotes(handle).join(' ')).toMatch(/per-channel arithmetic computing .* is folded into layer/);
    const { nchw, ours } = samples(c, 4, 6);
    // The fold is exact: our network computes what onnxruntime computes on the model as given.
    expect(relativeError(forwardCpu(network, ours, 4).output, await runOnnx(c.bytes, nchw, [4, ...c.dims]))).toBeLessThan(1e-5);
    // Nobody reads channel 4 of the folded conv: it goes, and with it the arithmetic's nodes.
    const head = network.layers.find((l): l is DenseLayer => l.kind === 'dense')!;
    head.kernel.fill(0, 4 * 3, 5 * 3);
    const removal = removeUnreadUnits(network);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const graph = onnxProto.onnx.ModelProto.decode(written).graph!;
    expect(graph.node!.map((n) => n.opType)).not.toContain('Mul');
    expect(graph.initializer!.map((t) => t.name)).not.toContain('gamma');
    expect(relativeError(await runOnnx(written, nchw, [4, ...c.dims]), forwardCpu(network, ours, 4).output)).toBeLessThan(1e-5);
  });
});

describe.skipIf(!gpu)('the GPU forward pass of graphs equals the float64 one', () => {
  const torch = (name: string) => ({ name, bytes: readFileSync(new URL(`./fixtures/torch/${name}.onnx`, import.meta.url)), dims: [1, 28, 28] });
  // The gated networks' import and pruning: gatedModels.test.ts.
  for (const c of [...cases, convTransposeDecoder(), efficientNetBlock(), gatedMlp(), linearSqueezeExcite(), torch('resnet'), torch('mobilenet'), torch('efficientnet')])
    it(`${c.name}: outputs, and every prunable layer's input, target and residual offset`, async () => {
      const { network } = parseOnnxModel(c.bytes, `${c.name}.onnx`);
      const { ours } = samples(c, 7, 5);
      const cpu = forwardCpu(network, ours, 7, { collect: true });
      const onGpu = await forwardGpu(gpu!, network, ours, 7, { collect: true, maxChunkSamples: 3 }); // three chunks
      expect(relativeError(onGpu.output, cpu.output)).toBeLessThan(1e-5);
      expect(relativeError(onGpu.logits, cpu.logits)).toBeLessThan(1e-5);
      expect([...onGpu.collected.keys()]).toEqual([...cpu.collected.keys()]);
      for (const [index, want] of cpu.collected) {
        const got = onGpu.collected.get(index)!;
        for (const key of ['input', 'target', 'offset'] as const) {
          expect(Boolean(got[key]), `${want.name} ${key}`).toBe(Boolean(want[key]));
          if (want[key]) expect(relativeError(got[key]!, want[key]!), `${want.name} ${key}`).toBeLessThan(1e-5);
        }
      }
    });
});

describe.skipIf(!gpu)('graph programs solved on the GPU agree with the float64 CPU', () => {
  for (const c of [dilatedConvs(), mobileNetBlock(), efficientNetBlock()])
    it(`${c.name} (dilated, depthwise, clipped and gated programs), parallel`, async () => {
      const { network } = parseOnnxModel(c.bytes, `${c.name}.onnx`);
      const { ours } = samples(c, 40, 13);
      const options = { mode: 'parallel' as const, epsilonGain: 0.05, solver: { maxIterations: 3000 } };
      const cpu = await pruneNetwork(network, { data: ours, count: 40 }, { ...options, backend: 'cpu' });
      const onGpu = await pruneNetwork(network, { data: ours, count: 40 }, { ...options, backend: 'webgpu', gpu: gpu! });
      cpu.layers.forEach((want, i) => {
        const got = onGpu.layers[i];
        expect(got.constraintResidual, got.name).toBeLessThanOrEqual(got.epsilon * 1.01 + 1e-9);
        expect(Math.abs(got.nonzerosAfter - want.nonzerosAfter), got.name).toBeLessThanOrEqual(Math.max(2, 0.03 * want.nonzerosAfter));
      });
      expect(Math.abs(onGpu.relativeDiscrepancy - cpu.relativeDiscrepancy)).toBeLessThan(0.1 * cpu.relativeDiscrepancy + 1e-3);
    }, 120_000);
});

describe('graph networks: bad graphs are one-line InputErrors', () => {
  const dense = (name: string, from?: string[]) => ({ kind: 'dense' as const, name, kernel: new Float32Array(4), inputs: 2, units: 2, bias: null, activation: 'linear' as const, ...(from ? { from } : {}) });
  const check = (network: Network, ...parts: string[]) => {
    let error: unknown;
    try {
      networkGraph(network, 'net');
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(InputError);
    for (const part of parts) expect((error as Error).message).toContain(part);
  };

  it('ONNX: a Pad of the channels, a ReduceMean over channels, arithmetic with a constant per pixel', () => {
    const message = (build: (g: GraphBuilder) => string, dims = [2, 6, 6]) => {
      const g = new GraphBuilder(30);
      try {
        parseOnnxModel(g.model(dims, build(g)), 'w.onnx');
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as Error).message;
      }
      throw new Error('expected an InputError');
    };
    // (Zeros before a MaxPool read: merges.test.ts.) A Pad of the channels:
    expect(message((g) => g.node('Pad', [g.node('Relu', ['input']), g.int64([0, 1, 0, 0, 0, 0, 0, 0])]))).toMatch(/op Pad\): pads \[0,1,0,0,0,0,0,0\] on \[batch, 2, 6, 6\]: expected pads around an image's H and W \(a sequence's L\) only/);
    expect(message((g) => g.node('ReduceMean', [g.node('Relu', ['input'])], [ints('axes', [1]), int('keepdims', 0)]))).toMatch(/op ReduceMean\): axes \[1\] of \[batch, 2, 6, 6\]: expected the mean over H and W \(axes \[2, 3\]\) of an image/);
    expect(message((g) => g.node('Mul', [g.node('Relu', ['input']), g.weight([1, 1, 6, 6], 1, 'mask')]))).toMatch(/op Mul\): constant 'mask' of shape \[1, 1, 6, 6\] on \[batch, 2, 6, 6\]: expected one value or one per channel/);
    expect(message((g) => g.node('Div', [g.scalar(1), g.node('Relu', ['input'])]))).toMatch(/op Div\): divides a constant by a tensor: expected the tensor divided by a constant/);
  });

  it('ONNX: a shape that depends on the input values, and an output that does not depend on the input', () => {
    const g = new GraphBuilder(9);
    const r = g.node('Relu', ['input']);
    const reshaped = g.node('Reshape', [r, r]);
    const message = (() => {
      try {
        parseOnnxModel(g.model([4], reshaped), 'shape.onnx');
      } catch (e) {
        expect(e).toBeInstanceOf(InputError);
        return (e as Error).message;
      }
    })();
    expect(message).toMatch(/^shape\.onnx: node 1 \('\/reshape\/Reshape_1', op Reshape\): input 1 \('\/relu\/Relu_0_output', the shape\): depends on the input's values: expected a shape that can be folded/);
    const h = new GraphBuilder(10);
    const shape = h.node('Shape', ['input']);
    expect(() => parseOnnxModel(h.model([4], shape), 'constant.onnx')).toThrow(/^constant\.onnx: output 'output' does not depend on the input through any layer/);
  });

  it('a layer reading a later layer (a cycle), a missing name, a dead branch, an Add of two shapes', () => {
    check({ inputShape: [2], layers: [dense('a', ['b']), dense('b', ['a'])] }, "net: layer 0 'a' (dense): reads 'b', which is layer 1", 'cycle');
    check({ inputShape: [2], layers: [dense('a'), dense('b', ['nowhere'])] }, "reads 'nowhere', which is neither a layer nor the network input 'input'");
    check({ inputShape: [2], layers: [dense('a'), dense('b', ['input']), dense('c', ['b'])] }, "layer 0 'a' (dense): its output is read by no layer");
    check(
      { inputShape: [2], layers: [dense('a'), { kind: 'flatten', name: 'f', from: ['input'] }, { kind: 'dense', name: 'w', kernel: new Float32Array(6), inputs: 2, units: 3, bias: null, activation: 'linear', from: ['f'] }, { kind: 'add', name: 's', from: ['a', 'w'] }] },
      "layer 3 's' (add): add sums tensors of one shape, found [2] and [3]",
    );
  });
});
