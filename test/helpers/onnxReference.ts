// A float64 NHWC reference forward pass written independently of the library's own, small random
// networks (MLP, CNN, strided CNN) and their inputs, and running converted models in onnxruntime-node.
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import type { Activation, Conv2DLayer, DenseLayer, Layer, Network } from '../../src/network/types.js';
import { gaussianSource, mulberry32 } from './random.js';

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

export function forward(network: Network, input: ArrayLike<number>, samples: number): Float64Array {
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

export function randomArray(length: number, scale: number, normal: () => number): Float32Array {
  return Float32Array.from({ length }, () => normal() * scale);
}

export function dense(name: string, inputs: number, units: number, activation: Activation, normal: () => number, bias = true): DenseLayer {
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

export function conv(
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

export function mlp(seed: number): Network {
  const normal = gaussianSource(mulberry32(seed));
  return { inputShape: [12], layers: [dense('dense_1', 12, 7, 'relu', normal), dense('dense_2', 7, 3, 'softmax', normal)] };
}

export function cnn(seed: number): Network {
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
export function stridedCnn(seed: number): Network {
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

export const NETWORKS: [string, (seed: number) => Network][] = [
  ['MLP [12] → dense 7 relu → dense 3 softmax', mlp],
  ['CNN [8,8,2] → conv same relu → maxpool → conv valid relu → flatten → dense', cnn],
  ['CNN [7,9,3] with stride-2 same conv and pool, bias-less dense', stridedCnn],
];

export const SAMPLES = 5;

export function randomInput(network: Network, seed: number): Float32Array {
  const size = network.inputShape.reduce((a, b) => a * b, 1);
  return randomArray(SAMPLES * size, 1, gaussianSource(mulberry32(seed)));
}

/** NHWC samples → NCHW (vectors unchanged), and the ONNX input dims. */
export function toOnnxInput(network: Network, nhwc: Float32Array): { data: Float32Array; dims: number[] } {
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

export async function runOnnx(bytes: Uint8Array, network: Network, nhwc: Float32Array): Promise<Float32Array> {
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

export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  expect(actual.length).toBe(expected.length);
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i] - expected[i]) ** 2;
    norm += expected[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

export function weighted(network: Network): (DenseLayer | Conv2DLayer)[] {
  return network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
}

/** A copy of `network` with every third kernel entry and every other bias entry zeroed. */
export function zeroSome(network: Network): Network {
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
export function expandActivations(network: Network): { kind: string; name: string }[] {
  return network.layers.flatMap((layer) => {
    const own = { kind: layer.kind, name: layer.name };
    if ((layer.kind !== 'dense' && layer.kind !== 'conv2d') || layer.activation === 'linear') return [own];
    return [own, { kind: layer.activation, name: `${layer.name}/${layer.activation}` }];
  });
}

export function initializer(bytes: Uint8Array, name: string): { dims: number[]; values: Float32Array } {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  const tensor = (graph.initializer ?? []).find((t) => t.name === name)!;
  const raw = tensor.rawData;
  const values = raw && raw.length > 0 ? new Float32Array(new Uint8Array(raw).buffer) : Float32Array.from(tensor.floatData ?? []);
  return { dims: (tensor.dims ?? []).map(Number), values };
}

// ---------------------------------------------------------------------------------------------
