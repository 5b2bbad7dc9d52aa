// ONNX import/export: networks converted with networkToOnnx run in onnxruntime-node and agree with
// a float64 NHWC reference forward pass written here; parse/write round trips keep the weights
// and their layouts (OIHW ↔ HWIO, transB, the CHW ↔ HWC rows after a Flatten); a hand-built
// PyTorch-style graph imports to the right Network; bad models are one-line InputErrors.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadOnnxModelFile, saveOnnxModelFile } from '../src/io/onnxFiles.js';
import { networkToOnnx, parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import type { Activation, Conv2DLayer, DenseLayer, Layer, Network } from '../src/network/types.js';
import { gaussianSource, mulberry32 } from './helpers/random.js';

const { onnx } = onnxProto;

// ---------------------------------------------------------------------------------------------
// Float64 reference forward pass on NHWC data (independent of the library's own).

function window(size: number, k: number, s: number, padding: 'valid' | 'same'): [number, number] {
  if (padding === 'valid') return [Math.floor((size - k) / s) + 1, 0];
  const out = Math.ceil(size / s);
  return [out, Math.floor(Math.max((out - 1) * s + k - size, 0) / 2)];
}

function activate(data: Float64Array, activation: Activation, width: number): Float64Array {
  if (activation === 'relu') return data.map((v) => Math.max(v, 0));
  if (activation === 'softmax') {
    for (let row = 0; row < data.length; row += width) {
      const slice = data.subarray(row, row + width);
      const max = Math.max(...slice);
      let sum = 0;
      for (let i = 0; i < width; i++) sum += slice[i] = Math.exp(slice[i] - max);
      for (let i = 0; i < width; i++) slice[i] /= sum;
    }
  }
  return data;
}

function forward(network: Network, input: ArrayLike<number>, samples: number): Float64Array {
  let shape = [...network.inputShape];
  let data: Float64Array = Float64Array.from(input);
  for (const layer of network.layers) {
    if (layer.kind === 'dense') {
      const { inputs: N, units: M, kernel, bias } = layer;
      const out = new Float64Array(samples * M);
      for (let p = 0; p < samples; p++) {
        for (let m = 0; m < M; m++) {
          let sum = bias ? bias[m] : 0;
          for (let n = 0; n < N; n++) sum += data[p * N + n] * kernel[n * M + m];
          out[p * M + m] = sum;
        }
      }
      data = activate(out, layer.activation, M);
      shape = [M];
    } else if (layer.kind === 'conv2d' || layer.kind === 'maxpool2d') {
      const [H, W, C] = shape;
      const [kh, kw] = layer.kind === 'conv2d' ? layer.kernelSize : layer.poolSize;
      const [sh, sw] = layer.strides;
      const [oh, top] = window(H, kh, sh, layer.padding as 'valid' | 'same');
      const [ow, left] = window(W, kw, sw, layer.padding as 'valid' | 'same');
      const F = layer.kind === 'conv2d' ? layer.filters : C;
      const out = new Float64Array(samples * oh * ow * F);
      for (let p = 0; p < samples; p++) {
        for (let y = 0; y < oh; y++) {
          for (let x = 0; x < ow; x++) {
            for (let o = 0; o < F; o++) {
              let acc = layer.kind === 'conv2d' ? (layer.bias ? layer.bias[o] : 0) : -Infinity;
              for (let ky = 0; ky < kh; ky++) {
                const iy = y * sh - top + ky;
                if (iy < 0 || iy >= H) continue;
                for (let kx = 0; kx < kw; kx++) {
                  const ix = x * sw - left + kx;
                  if (ix < 0 || ix >= W) continue;
                  const base = ((p * H + iy) * W + ix) * C;
                  if (layer.kind === 'maxpool2d') acc = Math.max(acc, data[base + o]);
                  else for (let c = 0; c < C; c++) acc += data[base + c] * layer.kernel[((ky * kw + kx) * C + c) * F + o];
                }
              }
              out[((p * oh + y) * ow + x) * F + o] = acc;
            }
          }
        }
      }
      data = layer.kind === 'conv2d' ? activate(out, layer.activation, F) : out;
      shape = [oh, ow, F];
    } else if (layer.kind === 'relu') {
      data = activate(data, 'relu', 1);
    } else if (layer.kind === 'flatten') {
      shape = [shape.reduce((a, b) => a * b, 1)];
    } else {
      data = activate(data, 'softmax', shape[shape.length - 1]);
    }
  }
  return data;
}

// ---------------------------------------------------------------------------------------------
// Random networks, inputs, onnxruntime

function randomArray(length: number, scale: number, normal: () => number): Float32Array {
  return Float32Array.from({ length }, () => normal() * scale);
}

function dense(name: string, inputs: number, units: number, activation: Activation, normal: () => number, bias = true): DenseLayer {
  return {
    kind: 'dense',
    name,
    kernel: randomArray(inputs * units, 1 / Math.sqrt(inputs), normal),
    inputs,
    units,
    bias: bias ? randomArray(units, 0.3, normal) : null,
    activation,
  };
}

function conv(
  name: string,
  kernelSize: [number, number],
  inChannels: number,
  filters: number,
  strides: [number, number],
  padding: 'valid' | 'same',
  activation: Activation,
  normal: () => number,
): Conv2DLayer {
  return {
    kind: 'conv2d',
    name,
    kernel: randomArray(kernelSize[0] * kernelSize[1] * inChannels * filters, 1 / Math.sqrt(kernelSize[0] * kernelSize[1] * inChannels), normal),
    kernelSize,
    inChannels,
    filters,
    bias: randomArray(filters, 0.3, normal),
    strides,
    padding,
    activation,
  };
}

function mlp(seed: number): Network {
  const normal = gaussianSource(mulberry32(seed));
  return { inputShape: [12], layers: [dense('dense_1', 12, 7, 'relu', normal), dense('dense_2', 7, 3, 'softmax', normal)] };
}

function cnn(seed: number): Network {
  const normal = gaussianSource(mulberry32(seed));
  return {
    inputShape: [8, 8, 2],
    layers: [
      conv('conv_1', [3, 3], 2, 4, [1, 1], 'same', 'relu', normal),
      { kind: 'maxpool2d', name: 'pool_1', poolSize: [2, 2], strides: [2, 2], padding: 'valid' },
      conv('conv_2', [3, 3], 4, 3, [1, 1], 'valid', 'relu', normal),
      { kind: 'flatten', name: 'flatten_1' },
      dense('dense_1', 12, 5, 'linear', normal),
    ],
  };
}

/** Strided 'same' conv and pool (asymmetric pads), a bias-less dense layer, odd sizes. */
function stridedCnn(seed: number): Network {
  const normal = gaussianSource(mulberry32(seed));
  return {
    inputShape: [7, 9, 3],
    layers: [
      conv('conv_a', [3, 3], 3, 4, [2, 2], 'same', 'relu', normal),
      { kind: 'maxpool2d', name: 'pool_a', poolSize: [3, 3], strides: [2, 2], padding: 'same' },
      { kind: 'flatten', name: 'flat' },
      { kind: 'relu', name: 'relu_after_flatten' },
      dense('dense_a', 24, 6, 'relu', normal, false),
      dense('dense_b', 6, 4, 'softmax', normal),
    ],
  };
}

const NETWORKS: [string, (seed: number) => Network][] = [
  ['MLP [12] → dense 7 relu → dense 3 softmax', mlp],
  ['CNN [8,8,2] → conv same relu → maxpool → conv valid relu → flatten → dense', cnn],
  ['CNN [7,9,3] with stride-2 same conv and pool, bias-less dense', stridedCnn],
];

const SAMPLES = 5;

function randomInput(network: Network, seed: number): Float32Array {
  const size = network.inputShape.reduce((a, b) => a * b, 1);
  return randomArray(SAMPLES * size, 1, gaussianSource(mulberry32(seed)));
}

/** NHWC samples → NCHW (vectors unchanged), and the ONNX input dims. */
function toOnnxInput(network: Network, nhwc: Float32Array): { data: Float32Array; dims: number[] } {
  if (network.inputShape.length === 1) return { data: nhwc, dims: [SAMPLES, network.inputShape[0]] };
  const [H, W, C] = network.inputShape;
  const nchw = new Float32Array(nhwc.length);
  for (let p = 0; p < SAMPLES; p++) {
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) nchw[((p * C + c) * H + h) * W + w] = nhwc[((p * H + h) * W + w) * C + c];
      }
    }
  }
  return { data: nchw, dims: [SAMPLES, C, H, W] };
}

async function runOnnx(bytes: Uint8Array, network: Network, nhwc: Float32Array): Promise<Float32Array> {
  // Warnings off: the PyTorch-style graph lists its initializers as inputs, as old exporters did.
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  try {
    const { data, dims } = toOnnxInput(network, nhwc);
    const results = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data, dims) });
    return results[session.outputNames[0]].data as Float32Array;
  } finally {
    await session.release();
  }
}

function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

function weighted(network: Network): (DenseLayer | Conv2DLayer)[] {
  return network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
}

/** A copy of `network` with every third kernel entry and every other bias entry zeroed. */
function zeroSome(network: Network): Network {
  const layers = network.layers.map((layer): Layer => {
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') return { ...layer };
    return {
      ...layer,
      kernel: layer.kernel.map((v, i) => (i % 3 === 0 ? 0 : v)),
      bias: layer.bias ? layer.bias.map((v, i) => (i % 2 === 0 ? 0 : v)) : null,
    };
  });
  return { inputShape: [...network.inputShape], layers };
}

/** The layers of `network` with fused activations expanded into relu/softmax layers (as ONNX import gives). */
function expandActivations(network: Network): { kind: string; name: string }[] {
  return network.layers.flatMap((layer) => {
    const own = { kind: layer.kind, name: layer.name };
    if ((layer.kind !== 'dense' && layer.kind !== 'conv2d') || layer.activation === 'linear') return [own];
    return [own, { kind: layer.activation, name: `${layer.name}/${layer.activation}` }];
  });
}

function initializer(bytes: Uint8Array, name: string): { dims: number[]; values: Float32Array } {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const tensor = (graph.initializer ?? []).find((t) => t.name === name)!;
  const raw = tensor.rawData;
  const values = raw && raw.length > 0 ? new Float32Array(new Uint8Array(raw).buffer) : Float32Array.from(tensor.floatData ?? []);
  return { dims: (tensor.dims ?? []).map(Number), values };
}

// ---------------------------------------------------------------------------------------------

describe('networkToOnnx runs in onnxruntime and matches the NHWC reference', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(label, async () => {
      const network = make(10 + k);
      const input = randomInput(network, 20 + k);
      const bytes = networkToOnnx(network);
      const actual = await runOnnx(bytes, network, input);
      const expected = forward(network, input, SAMPLES);
      expect(relativeError(actual, expected)).toBeLessThanOrEqual(1e-4);
      const model = onnx.ModelProto.decode(bytes);
      expect(model.opsetImport.map((o) => [o.domain, Number(o.version)])).toEqual([['', 13]]);
      expect(model.graph!.input!.map((i) => i.name)).toEqual(['input']);
      expect(model.graph!.output!.map((o) => o.name)).toEqual(['output']);
      expect(model.graph!.input![0].type!.tensorType!.shape!.dim![0].dimParam).toBe('N');
    });
  });

  it('honours options.opset and options.producer', async () => {
    const network = mlp(3);
    const bytes = networkToOnnx(network, { opset: 11, producer: 'tfjs-fixture' });
    const model = onnx.ModelProto.decode(bytes);
    expect(Number(model.opsetImport[0].version)).toBe(11);
    expect(model.producerName).toBe('tfjs-fixture');
    const input = randomInput(network, 4);
    expect(relativeError(await runOnnx(bytes, network, input), forward(network, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
  });

  it('rejects networks ONNX could not express in the same feature order', () => {
    const network = cnn(1);
    expect(() => networkToOnnx({ ...network, layers: network.layers.slice(0, 4) })).toThrow(/flattened image/);
    expect(() => networkToOnnx({ ...network, layers: [network.layers[0], network.layers[0]] })).toThrow(/used twice/);
  });
});

describe('parseOnnxModel(networkToOnnx(network)) round trip', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(label, async () => {
      const network = make(30 + k);
      const bytes = networkToOnnx(network);
      const handle = parseOnnxModel(bytes, 'model.onnx');
      const parsed = handle.network;
      expect(parsed.inputShape).toEqual(network.inputShape);
      expect(parsed.layers.map((l) => ({ kind: l.kind, name: l.name }))).toEqual(expandActivations(network));
      const originals = weighted(network);
      const imported = weighted(parsed);
      expect(imported.length).toBe(originals.length);
      originals.forEach((original, i) => {
        const layer = imported[i];
        expect(layer.activation).toBe('linear');
        const { activation: _a, ...rest } = original;
        const { activation: _b, ...restParsed } = layer;
        expect(restParsed).toEqual(rest); // kernels, biases, shapes, strides, padding: exact
      });
      for (const layer of parsed.layers) {
        if (layer.kind === 'maxpool2d') expect(layer).toEqual(network.layers.find((l) => l.name === layer.name));
      }
      // The same function.
      const input = randomInput(network, 40 + k);
      expect(relativeError(forward(parsed, input, SAMPLES), forward(network, input, SAMPLES))).toBeLessThan(1e-12);
      expect(handle.opset).toBe(13);
      expect(handle.producer).toBe('net-trim-webgpu');
    });
  });

  it('permutes the rows of the dense layer after a Flatten from HWC to ONNX CHW order, and back', () => {
    const network = cnn(5);
    const bytes = networkToOnnx(network);
    const layer = network.layers[4] as DenseLayer; // after flatten of [2, 2, 3] (H, W, C)
    const [H, W, C] = [2, 2, 3];
    const { dims, values } = initializer(bytes, 'dense_1.weight');
    expect(dims).toEqual([12, 5]);
    for (let h = 0; h < H; h++) {
      for (let w = 0; w < W; w++) {
        for (let c = 0; c < C; c++) {
          const ours = (h * W + w) * C + c;
          const theirs = c * H * W + h * W + w;
          expect(Array.from(values.subarray(theirs * 5, theirs * 5 + 5))).toEqual(Array.from(layer.kernel.subarray(ours * 5, ours * 5 + 5)));
        }
      }
    }
    const conv1 = network.layers[0] as Conv2DLayer;
    const { dims: convDims, values: oihw } = initializer(bytes, 'conv_1.weight');
    expect(convDims).toEqual([4, 2, 3, 3]);
    // OIHW[o][i][y][x] = HWIO[y][x][i][o]
    expect(oihw[((3 * 2 + 1) * 3 + 2) * 3 + 0]).toBe(conv1.kernel[((2 * 3 + 0) * 2 + 1) * 4 + 3]);
    const parsedDense = parseOnnxModel(bytes, 'model.onnx').network.layers.find((l) => l.name === 'dense_1') as DenseLayer;
    expect(parsedDense.kernel).toEqual(layer.kernel);
  });
});

describe('writeOnnxModel', () => {
  NETWORKS.forEach(([label, make], k) => {
    it(`writes modified weights that onnxruntime runs: ${label}`, async () => {
      const network = make(50 + k);
      const bytes = networkToOnnx(network);
      const handle = parseOnnxModel(bytes, 'model.onnx');
      const modified = zeroSome(handle.network);
      const written = writeOnnxModel(handle, modified);
      const input = randomInput(network, 60 + k);
      const actual = await runOnnx(written, network, input);
      const expected = forward(modified, input, SAMPLES);
      expect(relativeError(actual, expected)).toBeLessThanOrEqual(1e-4);
      // The function did change, and everything but the initializer data is kept.
      expect(relativeError(forward(handle.network, input, SAMPLES), expected)).toBeGreaterThan(1e-3);
      const before = onnx.ModelProto.toObject(onnx.ModelProto.decode(bytes), { longs: Number });
      const after = onnx.ModelProto.toObject(onnx.ModelProto.decode(written), { longs: Number });
      const strip = (model: Record<string, unknown>) => {
        const graph = { ...(model.graph as Record<string, unknown>) };
        graph.initializer = (graph.initializer as { name: string; dims: number[]; dataType: number }[]).map(({ name, dims, dataType }) => ({ name, dims, dataType }));
        return { ...model, graph };
      };
      expect(strip(after)).toEqual(strip(before));
      // Re-importing gives the modified weights exactly.
      const reparsed = weighted(parseOnnxModel(written, 'pruned.onnx').network);
      weighted(modified).forEach((layer, i) => {
        expect(reparsed[i].kernel).toEqual(layer.kernel);
        expect(reparsed[i].bias).toEqual(layer.bias);
      });
    });
  });

  it('rejects a network that does not match the model', () => {
    const network = mlp(7);
    const handle = parseOnnxModel(networkToOnnx(network), 'model.onnx');
    const renamed: Network = { ...handle.network, layers: handle.network.layers.map((l) => (l.name === 'dense_2' ? { ...l, name: 'other' } : l)) };
    expect(() => writeOnnxModel(handle, renamed)).toThrow(/dense layer 'other' is not in the model/);
    const removed: Network = { ...handle.network, layers: handle.network.layers.filter((l) => l.name !== 'dense_2') };
    expect(() => writeOnnxModel(handle, removed)).toThrow(/layer 'dense_2'.*found none/);
    const resized: Network = {
      ...handle.network,
      layers: handle.network.layers.map((l) => (l.kind === 'dense' && l.name === 'dense_1' ? { ...l, units: 8, kernel: new Float32Array(96) } : l)),
    };
    expect(() => writeOnnxModel(handle, resized)).toThrow(/expected 12×7/);
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-built ONNX graphs (as PyTorch's exporter writes them)

type NodeSpec = [name: string, op: string, inputs: string[], outputs: string[], attributes?: OnnxTypes.IAttributeProto[]];

const ints = (name: string, values: number[]): OnnxTypes.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
const int = (name: string, value: number): OnnxTypes.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
const float = (name: string, value: number): OnnxTypes.IAttributeProto => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });

function floatTensor(name: string, dims: number[], values: Float32Array, raw: boolean): OnnxTypes.ITensorProto {
  return raw
    ? { name, dims, dataType: 1, rawData: new Uint8Array(values.buffer.slice(0)) }
    : { name, dims, dataType: 1, floatData: Array.from(values) };
}

function tensorInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

function buildModel(
  nodes: NodeSpec[],
  initializers: OnnxTypes.ITensorProto[],
  inputDims: (number | string)[],
  options: { listInitializersAsInputs?: boolean; opset?: number } = {},
): Uint8Array {
  const lastOutput = nodes[nodes.length - 1][3][0];
  const model: OnnxTypes.IModelProto = {
    irVersion: 7,
    producerName: 'pytorch',
    producerVersion: '2.1.0',
    opsetImport: [{ domain: '', version: options.opset ?? 13 }],
    graph: {
      name: 'main_graph',
      node: nodes.map(([name, opType, input, output, attribute]) => ({ name, opType, input, output, attribute: attribute ?? [] })),
      initializer: initializers,
      input: [
        tensorInfo('input.1', inputDims),
        ...(options.listInitializersAsInputs ? initializers.map((t) => tensorInfo(t.name!, t.dims!.map(Number))) : []),
      ],
      output: [tensorInfo(lastOutput, ['batch_size', 3])],
    },
  };
  return Uint8Array.from(onnx.ModelProto.encode(model).finish());
}

interface TorchWeights {
  conv: Float32Array; // OIHW [4, 2, 3, 3]
  convBias: Float32Array;
  fc1: Float32Array; // [10, 36] (transB = 1)
  fc1Bias: Float32Array;
  fc2: Float32Array; // [10, 3] (MatMul)
  fc2Bias: Float32Array;
}

function torchWeights(seed: number): TorchWeights {
  const normal = gaussianSource(mulberry32(seed));
  return {
    conv: randomArray(72, 0.3, normal),
    convBias: randomArray(4, 0.3, normal),
    fc1: randomArray(360, 0.2, normal),
    fc1Bias: randomArray(10, 0.3, normal),
    fc2: randomArray(30, 0.3, normal),
    fc2Bias: randomArray(3, 0.3, normal),
  };
}

/**
 * [N, 2, 6, 6] → Conv 3×3 pads 1 (= 'same') → Relu → MaxPool 2 → Flatten (or Reshape [0, -1]) →
 * Gemm transB=1 → Relu → Dropout → MatMul + Add (bias first) → Softmax(axis 1).
 */
function torchModel(w: TorchWeights, flatten: 'Flatten' | 'Reshape', listInitializersAsInputs = false): Uint8Array {
  const nodes: NodeSpec[] = [
    ['/conv1/Conv', 'Conv', ['input.1', 'conv1.weight', 'conv1.bias'], ['/conv1/Conv_output_0'], [
      ints('dilations', [1, 1]), int('group', 1), ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [1, 1]),
    ]],
    ['/relu/Relu', 'Relu', ['/conv1/Conv_output_0'], ['/relu/Relu_output_0']],
    ['/pool/MaxPool', 'MaxPool', ['/relu/Relu_output_0'], ['/pool/MaxPool_output_0'], [
      int('ceil_mode', 0), ints('kernel_shape', [2, 2]), ints('pads', [0, 0, 0, 0]), ints('strides', [2, 2]),
    ]],
    flatten === 'Flatten'
      ? ['/Flatten', 'Flatten', ['/pool/MaxPool_output_0'], ['/Flatten_output_0'], [int('axis', 1)]]
      : ['/Reshape', 'Reshape', ['/pool/MaxPool_output_0', '/Constant_output_0'], ['/Flatten_output_0']],
    ['/fc1/Gemm', 'Gemm', ['/Flatten_output_0', 'fc1.weight', 'fc1.bias'], ['/fc1/Gemm_output_0'], [
      float('alpha', 1), float('beta', 1), int('transB', 1),
    ]],
    ['/relu_1/Relu', 'Relu', ['/fc1/Gemm_output_0'], ['/relu_1/Relu_output_0']],
    ['/dropout/Dropout', 'Dropout', ['/relu_1/Relu_output_0'], ['/dropout/Dropout_output_0']],
    ['/fc2/MatMul', 'MatMul', ['/dropout/Dropout_output_0', 'onnx::MatMul_21'], ['/fc2/MatMul_output_0']],
    ['/fc2/Add', 'Add', ['fc2.bias', '/fc2/MatMul_output_0'], ['/fc2/Add_output_0']],
    ['/softmax/Softmax', 'Softmax', ['/fc2/Add_output_0'], ['output'], [int('axis', 1)]],
  ];
  if (flatten === 'Reshape') {
    const shape: OnnxTypes.ITensorProto = { dims: [2], dataType: 7, int64Data: [0, -1] };
    nodes.unshift(['/Constant', 'Constant', [], ['/Constant_output_0'], [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: shape }]]);
  }
  const initializers = [
    floatTensor('conv1.weight', [4, 2, 3, 3], w.conv, true),
    floatTensor('conv1.bias', [4], w.convBias, false),
    floatTensor('fc1.weight', [10, 36], w.fc1, true),
    floatTensor('fc1.bias', [10], w.fc1Bias, true),
    floatTensor('onnx::MatMul_21', [10, 3], w.fc2, false),
    floatTensor('fc2.bias', [3], w.fc2Bias, true),
  ];
  return buildModel(nodes, initializers, ['batch_size', 2, 6, 6], { listInitializersAsInputs });
}

const TORCH_NETWORK_SHAPE: Network = { inputShape: [6, 6, 2], layers: [] };

describe('importing a PyTorch-style graph', () => {
  for (const flatten of ['Flatten', 'Reshape'] as const) {
    it(`Conv pads [1,1,1,1] → 'same', OIHW → HWIO, Gemm transB=1, ${flatten} rows CHW → HWC, MatMul+Add, Dropout skipped`, async () => {
      const w = torchWeights(flatten === 'Flatten' ? 70 : 71);
      const bytes = torchModel(w, flatten, flatten === 'Reshape');
      const { network } = parseOnnxModel(bytes, 'model.onnx');
      expect(network.inputShape).toEqual([6, 6, 2]);
      expect(network.layers.map((l) => `${l.kind}:${l.name}`)).toEqual([
        'conv2d:/conv1/Conv',
        'relu:/relu/Relu',
        'maxpool2d:/pool/MaxPool',
        `flatten:/${flatten}`,
        'dense:/fc1/Gemm',
        'relu:/relu_1/Relu',
        'dense:/fc2/MatMul',
        'softmax:/softmax/Softmax',
      ]);
      const convLayer = network.layers[0] as Conv2DLayer;
      expect(convLayer).toMatchObject({ kernelSize: [3, 3], inChannels: 2, filters: 4, strides: [1, 1], padding: 'same', activation: 'linear' });
      expect(convLayer.bias).toEqual(w.convBias);
      for (let o = 0; o < 4; o++) {
        for (let i = 0; i < 2; i++) {
          for (let y = 0; y < 3; y++) {
            for (let x = 0; x < 3; x++) expect(convLayer.kernel[((y * 3 + x) * 2 + i) * 4 + o]).toBe(w.conv[((o * 2 + i) * 3 + y) * 3 + x]);
          }
        }
      }
      expect(network.layers[2]).toMatchObject({ poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      const fc1 = network.layers[4] as DenseLayer;
      expect(fc1).toMatchObject({ inputs: 36, units: 10, activation: 'linear' });
      expect(fc1.bias).toEqual(w.fc1Bias);
      // Our row (h·3 + w)·4 + c is ONNX feature c·9 + h·3 + w, and fc1.weight is [units, features].
      for (let h = 0; h < 3; h++) {
        for (let x = 0; x < 3; x++) {
          for (let c = 0; c < 4; c++) {
            for (let m = 0; m < 10; m++) expect(fc1.kernel[((h * 3 + x) * 4 + c) * 10 + m]).toBe(w.fc1[m * 36 + c * 9 + h * 3 + x]);
          }
        }
      }
      const fc2 = network.layers[6] as DenseLayer;
      expect(fc2).toMatchObject({ inputs: 10, units: 3 });
      expect(fc2.kernel).toEqual(w.fc2);
      expect(fc2.bias).toEqual(w.fc2Bias);
      // The imported network computes what onnxruntime computes.
      const input = randomInput(TORCH_NETWORK_SHAPE, 72);
      const actual = await runOnnx(bytes, TORCH_NETWORK_SHAPE, input);
      expect(relativeError(actual, forward(network, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('writes modified weights back in the PyTorch layouts (transB=1, OIHW, CHW rows)', async () => {
    const bytes = torchModel(torchWeights(73), 'Flatten');
    const handle = parseOnnxModel(bytes, 'model.onnx');
    const modified = zeroSome(handle.network);
    const written = writeOnnxModel(handle, modified);
    expect(initializer(written, 'fc1.weight').dims).toEqual([10, 36]);
    expect(initializer(written, 'conv1.weight').dims).toEqual([4, 2, 3, 3]);
    const input = randomInput(TORCH_NETWORK_SHAPE, 74);
    const actual = await runOnnx(written, TORCH_NETWORK_SHAPE, input);
    expect(relativeError(actual, forward(modified, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
    const written2 = onnx.ModelProto.decode(written);
    expect(written2.producerName).toBe('pytorch');
    expect(written2.graph!.node!.map((n) => n.name)).toEqual(onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.name));
  });
});

// ---------------------------------------------------------------------------------------------
// Bad models

function expectInputError(action: () => unknown, ...fragments: string[]): string {
  let error: unknown;
  try {
    action();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(InputError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  for (const fragment of fragments) expect(message).toContain(fragment);
  return message;
}

/** input [N, 2, 6, 6] → the given nodes (the last one's output is the graph output). */
function smallModel(nodes: NodeSpec[], initializers: OnnxTypes.ITensorProto[] = [], inputDims: (number | string)[] = ['N', 2, 6, 6]): Uint8Array {
  return buildModel(nodes, initializers, inputDims);
}

const zeros = (n: number) => new Float32Array(n);

describe('parseOnnxModel rejects unsupported models with one-line InputErrors', () => {
  it('an unsupported op', () => {
    const bytes = smallModel([['/conv1/Conv', 'Conv', ['input.1', 'w'], ['a']], ['/erf', 'Erf', ['a'], ['b_out']]], [floatTensor('w', [4, 2, 3, 3], zeros(72), true)]);
    const message = expectInputError(() => parseOnnxModel(bytes, 'model.onnx'));
    expect(message).toMatch(/^model\.onnx: node 1 \('\/erf', op Erf\): op 'Erf' is not supported: supported are Gemm, MatMul, Add, Mul, Sub, Div, Conv, ConvTranspose, BatchNormalization, Relu, Clip, .*, and Erf inside GELU as PyTorch writes it \(\(x·\(Erf\(x\/√2\) \+ 1\)\)·½\)$/);
  });

  it('a group count that does not divide the channels', () => {
    const bytes = smallModel([['/conv2/Conv', 'Conv', ['input.1', 'w'], ['c'], [int('group', 3)]]], [floatTensor('w', [3, 1, 3, 3], zeros(27), true)]);
    const message = expectInputError(() => parseOnnxModel(bytes, 'model.onnx'));
    expect(message).toBe("model.onnx: node 0 ('/conv2/Conv', op Conv): attribute group=3: expected a positive divisor of the 2 input channels");
  });

  it('a cycle, a missing tensor, a node off the path to the output', () => {
    const weights = [floatTensor('wa', [72, 3], zeros(216), true), floatTensor('wb', [3, 3], zeros(9), true)];
    const cycle = smallModel(
      [
        ['/flatten/Flatten', 'Flatten', ['input.1'], ['f']],
        ['/fc_a/Gemm', 'Gemm', ['f', 'wa'], ['a']],
        ['/sum/Add', 'Add', ['a', 'b'], ['s']],
        ['/fc_b/Gemm', 'Gemm', ['s', 'wb'], ['b']],
        ['/out', 'Relu', ['s'], ['out']],
      ],
      weights,
    );
    expectInputError(() => parseOnnxModel(cycle, 'model.onnx'), "model.onnx: node 2 ('/sum/Add', op Add): is on a cycle of the graph");
    const missing = smallModel([['/flatten/Flatten', 'Flatten', ['input.1'], ['f']], ['/sum/Add', 'Add', ['f', 'nowhere'], ['out']]], []);
    expectInputError(() => parseOnnxModel(missing, 'model.onnx'), "model.onnx: node 1 ('/sum/Add', op Add): reads 'nowhere', which no node computes");
    const dead = smallModel([['/r', 'Relu', ['input.1'], ['r']], ['/dead', 'Relu', ['input.1'], ['d']], ['/out', 'Relu', ['r'], ['out']]], []);
    expectInputError(() => parseOnnxModel(dead, 'model.onnx'), "node 1 ('/dead', op Relu): does not contribute to the graph output 'out'");
  });

  it('truncated bytes', () => {
    const bytes = torchModel(torchWeights(80), 'Flatten');
    const cuts = Array.from({ length: 60 }, (_, i) => Math.floor((i * bytes.length) / 60));
    for (const cut of cuts) {
      const message = expectInputError(() => parseOnnxModel(bytes.subarray(0, cut), 'model.onnx'));
      expect(message.startsWith('model.onnx: ')).toBe(true);
    }
    expectInputError(() => parseOnnxModel(bytes.subarray(0, bytes.length - 7), 'model.onnx'), 'model.onnx: ', 'truncated');
  });

  it('other unsupported attributes and shapes', () => {
    const conv = (attributes: OnnxTypes.IAttributeProto[]) =>
      smallModel([['/c/Conv', 'Conv', ['input.1', 'w'], ['c'], attributes]], [floatTensor('w', [4, 2, 3, 3], zeros(72), true)]);
    // pads that are neither zero nor TF 'same' (stride 2 on 6: TF pads [0,0,1,1]) are kept as given, [top, left, bottom, right].
    expect(parseOnnxModel(conv([ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])]), 'm.onnx').network.layers[0]).toMatchObject({ padding: [1, 1, 1, 1] });
    expectInputError(() => parseOnnxModel(conv([ints('pads', [1, 1, 1])]), 'm.onnx'), "m.onnx: node 0 ('/c/Conv', op Conv): attribute pads=[1,1,1]: expected 4 values");
    // ... and the TF 'same' pads read as 'same'.
    const same = parseOnnxModel(conv([ints('pads', [0, 0, 1, 1]), ints('strides', [2, 2])]), 'm.onnx').network.layers[0];
    expect(same).toMatchObject({ padding: 'same', strides: [2, 2] });
    const autoPad = { name: 'auto_pad', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode('SAME_UPPER') };
    expect(parseOnnxModel(conv([autoPad]), 'm.onnx').network.layers[0]).toMatchObject({ padding: 'same' });
    expect(parseOnnxModel(conv([ints('dilations', [2, 1])]), 'm.onnx').network.layers[0]).toMatchObject({ dilations: [2, 1] });
    expectInputError(() => parseOnnxModel(conv([ints('dilations', [2, 0])]), 'm.onnx'), 'attribute dilations=[2,0]: expected 2 positive values');
    // Gemm transA, and a Gemm straight on an image.
    const gemm = (attributes: OnnxTypes.IAttributeProto[], flatten: boolean) =>
      smallModel(
        [
          ...(flatten ? [['/f', 'Flatten', ['input.1'], ['f']] as NodeSpec] : []),
          ['/g/Gemm', 'Gemm', [flatten ? 'f' : 'input.1', 'w'], ['g'], attributes],
        ],
        [floatTensor('w', [72, 3], zeros(216), true)],
      );
    expectInputError(() => parseOnnxModel(gemm([int('transA', 1)], true), 'm.onnx'), "node 1 ('/g/Gemm', op Gemm): unsupported attribute transA=1: expected 0");
    expectInputError(() => parseOnnxModel(gemm([], false), 'm.onnx'), "node 0 ('/g/Gemm', op Gemm)", 'expected [batch, features]');
    // A weight of the wrong shape, a non-float weight.
    expectInputError(
      () => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']], ['/g', 'MatMul', ['f', 'w'], ['g']]], [floatTensor('w', [70, 3], zeros(210), true)]), 'm.onnx'),
      "node 1 ('/g', op MatMul): weight 'w' has shape [70, 3]: expected [72, M]",
    );
    const int64Weight: OnnxTypes.ITensorProto = { name: 'w', dims: [72, 3], dataType: 7, int64Data: Array(216).fill(0) };
    expectInputError(
      () => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']], ['/g', 'MatMul', ['f', 'w'], ['g']]], [int64Weight]), 'm.onnx'),
      "weight 'w': expected float32, found int64",
    );
    // A flattened image as the graph output (feature order would differ).
    expectInputError(() => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']]]), 'm.onnx'), 'm.onnx: ', 'flattened image');
    // Softmax of an image, MaxPool ceil_mode 2, AveragePool ceil_mode counting the partial windows' padding.
    expectInputError(() => parseOnnxModel(smallModel([['/s', 'Softmax', ['input.1'], ['s']]]), 'm.onnx'), "node 0 ('/s', op Softmax)", 'expected [batch, features]');
    expectInputError(
      () => parseOnnxModel(smallModel([['/p', 'MaxPool', ['input.1'], ['p'], [ints('kernel_shape', [2, 2]), int('ceil_mode', 2)]]]), 'm.onnx'),
      'attribute ceil_mode=2: expected 0 or 1',
    );
    expectInputError(
      () => parseOnnxModel(smallModel([['/p', 'AveragePool', ['input.1'], ['p'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), int('ceil_mode', 1), int('count_include_pad', 1)]]]), 'm.onnx'),
      "node 0 ('/p', op AveragePool): ceil_mode=1 with count_include_pad=1 adds partial windows: expected count_include_pad=0 or windows that fit",
    );
    // A 5-D input (a 3-D one is a sequence: sequenceModels.test.ts).
    expectInputError(() => parseOnnxModel(smallModel([['/r', 'Relu', ['input.1'], ['r']]], [], ['N', 2, 6, 6, 6]), 'm.onnx'), "m.onnx: input 'input.1' has shape [N, 2, 6, 6, 6]: expected [batch, C, H, W] (NCHW image), [batch, C, L] (NCL sequence), [batch, T, F] (frames or tokens: the batch first) or [batch, features]");
  });
});

// ---------------------------------------------------------------------------------------------

describe('loadOnnxModelFile / saveOnnxModelFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'net-trim-onnx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads, and saves a modified network atomically', async () => {
    const network = cnn(90);
    const source = join(dir, 'model.onnx');
    await writeFile(source, networkToOnnx(network));
    const handle = await loadOnnxModelFile(source);
    expect(handle.source).toBe(source);
    const modified = zeroSome(handle.network);
    const target = join(dir, 'pruned.onnx');
    await saveOnnxModelFile(handle, modified, target);
    expect(new Uint8Array(await readFile(target))).toEqual(writeOnnxModel(handle, modified));
    const reloaded = await loadOnnxModelFile(target);
    expect(weighted(reloaded.network).map((l) => l.kernel)).toEqual(weighted(modified).map((l) => l.kernel));
  });

  it('names the path of a missing or invalid file', async () => {
    const missing = join(dir, 'missing.onnx');
    await expect(loadOnnxModelFile(missing)).rejects.toThrow(new InputError(`${missing}: file not found`));
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, new Uint8Array([0xff, 0xff, 0xff]));
    await expect(loadOnnxModelFile(bad)).rejects.toThrow(InputError);
    await expect(loadOnnxModelFile(bad)).rejects.toThrow(bad);
  });
});
