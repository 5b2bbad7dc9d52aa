// Keras 3 models exported to ONNX as Keras users do (test/fixtures/keras-onnx, made by
// scripts/keras-onnx-fixtures.mjs: `model.export(path, format="onnx")` with the torch backend):
// an NHWC image input that the graph transposes to NCHW around each conv and back, a float Cast
// after nearly every op, conv biases added channels-last ([1, 1, 1, C], a DepthwiseConv2D's
// reshaped from [C]), BatchNormalization as Sub, Mul, Add, GlobalAveragePooling2D as a
// ReduceMean over axes [1, 2], Concatenate on the last axis. Each reads to what onnxruntime
// computes, its biases and BatchNormalizations folded into its layers (so a conv before a ReLU
// gets the ReLU program), and a structured prune writes a model onnxruntime runs to the accuracy
// reported. A text model of any length (Input(shape=(None,)): its sequence axis open; Embedding
// exported with a wrap of negative ids, Conv1D between Transposes) reads at the samples' length.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, parseNpy, parseOnnxModel, prunableLayers, writeOnnxModel } from '../src/index.js';
import { onnx } from '../src/io/onnx/common.js';
import type { Conv2DLayer, DenseLayer } from '../src/network/types.js';
import { runCli } from './helpers/cli.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { GraphBuilder, int, ints, relativeError } from './helpers/onnxGraphs.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const dir = join(fixtures, 'keras-onnx');
const textSamples = join(fixtures, 'text-samples.npy');
const tokens = parseNpy(await readFile(textSamples), textSamples).data as Int32Array;
const COUNT = 100;

/** onnxruntime's outputs for the first `count` digits, NHWC (or flattened for the MLP). */
async function runtimeOutputs(model: string | Uint8Array, count: number, image: boolean): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const input = new ort.Tensor('float32', digits.slice(0, count * 784), image ? [count, 28, 28, 1] : [count, 784]);
  return (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]].data as Float32Array;
}

describe('Keras 3 models exported to ONNX (NHWC, torch backend)', () => {
  for (const [name, image] of [
    ['mlp', false],
    ['cnn', true],
    ['functional', true],
  ] as const)
    it(`${name}: reads to onnxruntime's outputs and is written back to them`, async () => {
      const path = join(dir, `${name}.onnx`);
      const handle = parseOnnxModel(new Uint8Array(await readFile(path)), path);
      // The input is ours as it is: NHWC samples, no transpose (an MLP's features as they are).
      expect(handle.network.inputShape).toEqual(image ? [28, 28, 1] : [784]);
      expect(handle.sampleLayout).toBe(image ? 'nhwc' : 'nchw');
      const theirs = await runtimeOutputs(path, COUNT, image);
      expect(relativeError(forwardCpu(handle.network, digits.subarray(0, COUNT * 784), COUNT).output, theirs)).toBeLessThan(1e-5);
      expect(relativeError(await runtimeOutputs(writeOnnxModel(handle, handle.network), COUNT, image), theirs)).toBeLessThan(1e-6);
    });

  it('reads past the float Casts and into each layer its bias (a Conv, a DepthwiseConv2D, a Dense) and BatchNormalization', async () => {
    const read = async (name: string) => parseOnnxModel(new Uint8Array(await readFile(join(dir, `${name}.onnx`))), name).network;
    // The MLP: three dense layers with their biases and two ReLUs; no Cast, no affine layer left.
    const mlp = await read('mlp');
    expect(mlp.layers.map((l) => l.kind)).toEqual(['dense', 'relu', 'dense', 'relu', 'dense', 'softmax']);
    expect(mlp.layers.filter((l): l is DenseLayer => l.kind === 'dense').every((l) => l.bias !== null)).toBe(true);
    // The functional model: every conv has its bias (the depthwise one's reshaped from [C] to [1, 1, 1, C]),
    // so the convs before a ReLU or ReLU6 get those programs.
    const functional = await read('functional');
    const convs = functional.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect(convs).toHaveLength(4);
    expect(convs.every((l) => l.bias !== null)).toBe(true);
    expect(convs.find((l) => (l.groups ?? 1) === 8)).toBeDefined();
    expect(prunableLayers(functional).map((t) => t.program)).toEqual(['relu', 'clip', 'linear', 'relu', 'linear', 'linear']);
    expect(functional.layers.filter((l) => l.kind === 'batchnorm')).toHaveLength(0);
    expect(functional.layers.find((l) => l.kind === 'concat')).toBeDefined();
    // The CNN's BatchNormalization (Sub, Mul, Add by per-channel constants) folds into its conv: the ReLU program there too.
    const cnn = await read('cnn');
    expect(cnn.layers.filter((l) => l.kind === 'batchnorm')).toHaveLength(0);
    expect(prunableLayers(cnn).map((t) => t.program)).toEqual(['relu', 'relu', 'relu', 'linear']);
  });
});

describe('an NHWC input', () => {
  it('is taken as it is through a Rescaling (Mul, Add by one value) and Casts before its Transpose to NCHW', async () => {
    const g = new GraphBuilder(31);
    const rescaled = g.node('Cast', [g.node('Add', [g.node('Mul', [g.node('Cast', ['input'], [int('to', 1)]), g.scalar(1 / 255)]), g.scalar(-0.5)])], [int('to', 1)]);
    const conv = g.node('Transpose', [g.conv(g.node('Transpose', [rescaled], [ints('perm', [0, 3, 1, 2])]), 3, 4, 3, { bias: false })], [ints('perm', [0, 2, 3, 1])]);
    const biased = g.node('Relu', [g.node('Add', [conv, g.weight([1, 1, 1, 4], 0.2, 'bias')])]);
    const pooled = g.node('ReduceMean', [biased], [ints('axes', [1, 2]), int('keepdims', 0)]);
    const bytes = g.model([5, 5, 3], g.gemm(pooled, 4, 2));
    const handle = parseOnnxModel(bytes, 'nhwc.onnx');
    expect(handle.network.inputShape).toEqual([5, 5, 3]);
    expect(handle.sampleLayout).toBe('nhwc');
    // The bias added after the Transpose back is the conv's: the ReLU program.
    expect(prunableLayers(handle.network).map((t) => t.program)).toEqual(['relu', 'linear']);
    const input = Float32Array.from({ length: 2 * 75 }, (_, i) => (i * 37) % 256);
    const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
    const theirs = (await session.run({ input: new ort.Tensor('float32', input, [2, 5, 5, 3]) }))[session.outputNames[0]].data as Float32Array;
    expect(relativeError(forwardCpu(handle.network, input, 2).output, theirs)).toBeLessThan(1e-5);
  });
});

describe.skipIf(!gpu)('Keras 3 models exported to ONNX: the GPU forward pass equals the float64 one', () => {
  for (const name of ['mlp', 'cnn', 'functional'])
    it(`${name}: outputs, and every prunable layer's input and target`, async () => {
      const { network } = parseOnnxModel(new Uint8Array(await readFile(join(dir, `${name}.onnx`))), name);
      const input = digits.subarray(0, 12 * 784);
      await expectGpuForwardMatches(gpu!, network, input, 12);
    });
});

describe('a Keras 3 text model of any length exported to ONNX', () => {
  const path = join(dir, 'text.onnx');
  /** onnxruntime's logits for the first `count` token rows, cut to `length` tokens. */
  const runtimeTokens = async (model: string | Uint8Array, count: number, length: number) => {
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
    const ids = Int32Array.from({ length: count * length }, (_, i) => tokens[Math.floor(i / length) * 49 + (i % length)]);
    return (await session.run({ [session.inputNames[0]]: new ort.Tensor('int32', ids, [count, length]) }))[session.outputNames[0]].data as Float32Array;
  };

  it('reads at 49 and at 30 tokens to onnxruntime\'s outputs: the int Casts and the wrap of negative ids read past, the Conv1D\'s bias folded', async () => {
    for (const length of [49, 30]) {
      const handle = parseOnnxModel(new Uint8Array(await readFile(path)), path, { dims: { dim_0_1: length } });
      expect(handle.network.layers.map((l) => l.kind)).toEqual(['embedding', 'conv2d', 'relu', 'globalavgpool', 'dense', 'relu', 'dense']);
      expect((handle.network.layers[1] as Conv2DLayer).bias).not.toBeNull();
      const x = Float32Array.from({ length: COUNT * length }, (_, i) => tokens[Math.floor(i / length) * 49 + (i % length)]);
      expect(relativeError(forwardCpu(handle.network, x, COUNT).output, await runtimeTokens(path, COUNT, length))).toBeLessThan(1e-5);
    }
  });

  it('reads past the wrap only as Where(x < 0, x + V, x): with x < 1 the ids are computed with, and refused', async () => {
    const model = onnx.ModelProto.decode(new Uint8Array(await readFile(path)));
    const less = model.graph!.node!.find((n) => n.opType === 'Less')!;
    const zero = model.graph!.node!.find((n) => n.output?.[0] === less.input![1])!;
    const tensor = zero.attribute![0].t!;
    tensor.rawData = new Uint8Array(new BigInt64Array([1n]).buffer);
    expect(() => parseOnnxModel(onnx.ModelProto.encode(model).finish(), 'edited.onnx', { dims: { dim_0_1: 49 } })).toThrow("edited.onnx: input 'keras_tensor': expected float32 (or token ids read only as the indices of Gathers from embedding tables), found int32");
  });

  it('net-trim prune: the samples fix the length; onnxruntime runs the written model, still of any length, to the accuracy reported', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-keras-text-'));
    try {
      const count = 200;
      const { code, stdout, stderr } = await runCli(['prune', path, '--samples', textSamples, '--labels', labelsPath, '--max-samples', String(count), '--epsilon-gain', '0.1', '--max-iterations', '300', '--backend', 'cpu', '--out', out]);
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("'dim_0_1' at 49 (from the samples)");
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      const bytes = new Uint8Array(await readFile(join(out, 'model.onnx')));
      expect(accuracyOf(await runtimeTokens(bytes, count, 49), labels, count)).toBeCloseTo(report.accuracyAfter, 6);
      // Still open: it runs at 30 tokens to what the written model read at 30 computes.
      const at30 = parseOnnxModel(bytes, 'model.onnx', { dims: { dim_0_1: 30 } }).network;
      const x = Float32Array.from({ length: 16 * 30 }, (_, i) => tokens[Math.floor(i / 30) * 49 + (i % 30)]);
      expect(relativeError(forwardCpu(at30, x, 16).output, await runtimeTokens(bytes, 16, 30))).toBeLessThan(1e-5);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('Keras 3 models exported to ONNX: net-trim prune', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'net-trim-keras-onnx-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('cnn: --structured removes channels, and onnxruntime runs the written model to the accuracy reported', async () => {
    const target = join(out, 'cnn');
    const count = 100;
    const { code, stderr } = await runCli(['prune', join(dir, 'cnn.onnx'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', String(count), '--structured', '--epsilon-gain', '0.3', '--max-iterations', '300', '--out', target]);
    expect(code, stderr).toBe(0);
    const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
    const bytes = new Uint8Array(await readFile(join(target, 'model.onnx')));
    const written = parseOnnxModel(bytes, 'model.onnx').network;
    const convs = (n: typeof written) => n.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d').map((l) => l.filters);
    expect(convs(written).reduce((a, b) => a + b, 0)).toBeLessThan(8 + 16 + 24);
    expect(accuracyOf(await runtimeOutputs(bytes, count, true), labels, count)).toBeCloseTo(report.accuracyAfter, 6);
  });
});
