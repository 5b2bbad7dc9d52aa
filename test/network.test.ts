// The network model: shape inference and validation, which layers are pruned and on what target,
// the float64 CPU forward pass (against naive references and im2col) and the GPU forward pass
// against the CPU one, with chunking and no leaked buffers.
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { forwardCpu, type ForwardResult } from '../src/network/forwardCpu.js';
import { windowGeometry } from '../src/network/shapes.js';
import { materializePatches } from '../src/solver/design.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { checkNetwork, layerInputShapes, prunableLayers } from '../src/network/graph.js';
import { layerOutputShape, windowAxis } from '../src/network/shapes.js';
import type { Activation, Conv2DLayer, DenseLayer, Layer, MaxPool2DLayer, Network } from '../src/network/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

let seed = 100;
function dense(name: string, inputs: number, units: number, activation: Activation = 'linear', bias = true): DenseLayer {
  const kernel = Float32Array.from(gaussianMatrix(inputs, units, seed++), (v) => v / Math.sqrt(inputs));
  return { kind: 'dense', name, kernel, inputs, units, bias: bias ? Float32Array.from(gaussianMatrix(1, units, seed++), (v) => 0.3 * v) : null, activation };
}

function conv(
  name: string,
  kernelSize: [number, number],
  inChannels: number,
  filters: number,
  o: { strides?: [number, number]; padding?: 'valid' | 'same'; activation?: Activation; bias?: boolean } = {},
): Conv2DLayer {
  const fanIn = kernelSize[0] * kernelSize[1] * inChannels;
  return {
    kind: 'conv2d',
    name,
    kernel: Float32Array.from(gaussianMatrix(fanIn, filters, seed++), (v) => v / Math.sqrt(fanIn)),
    kernelSize,
    inChannels,
    filters,
    bias: o.bias === false ? null : Float32Array.from(gaussianMatrix(1, filters, seed++), (v) => 0.3 * v),
    strides: o.strides ?? [1, 1],
    padding: o.padding ?? 'valid',
    activation: o.activation ?? 'linear',
  };
}

const pool = (name: string, size: [number, number], strides: [number, number], padding: 'valid' | 'same'): MaxPool2DLayer => ({
  kind: 'maxpool2d',
  name,
  poolSize: size,
  strides,
  padding,
});
const layer = <K extends 'relu' | 'flatten' | 'softmax'>(kind: K, name: string) => ({ kind, name }) as Layer;

/** The largest absolute difference relative to the largest reference magnitude. */
function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let diff = 0;
  let scale = 1e-30;
  for (let i = 0; i < want.length; i++) {
    diff = Math.max(diff, Math.abs(got[i] - want[i]));
    scale = Math.max(scale, Math.abs(want[i]));
  }
  return diff / scale;
}

/**
 * Naive conv reference independent of shapes.ts: pads the input explicitly (TF 'same': total
 * padding (out − 1)·s + k − in with the odd one at the bottom/right), then a 'valid' conv.
 */
function naiveConv(x: ArrayLike<number>, samples: number, [H, W, C]: number[], l: Conv2DLayer): { out: Float64Array; shape: number[] } {
  const [kh, kw] = l.kernelSize;
  const [sh, sw] = l.strides;
  const F = l.filters;
  const pads = (size: number, k: number, s: number) => {
    if (l.padding === 'valid') return [0, 0];
    const total = Math.max((Math.ceil(size / s) - 1) * s + k - size, 0);
    return [Math.floor(total / 2), total - Math.floor(total / 2)];
  };
  const [pt, pb] = pads(H, kh, sh);
  const [pl, pr] = pads(W, kw, sw);
  const Hp = H + pt + pb;
  const Wp = W + pl + pr;
  const padded = new Float64Array(samples * Hp * Wp * C);
  for (let n = 0; n < samples; n++)
    for (let y = 0; y < H; y++)
      for (let xx = 0; xx < W; xx++)
        for (let c = 0; c < C; c++) padded[((n * Hp + y + pt) * Wp + xx + pl) * C + c] = x[((n * H + y) * W + xx) * C + c];
  const Ho = Math.floor((Hp - kh) / sh) + 1;
  const Wo = Math.floor((Wp - kw) / sw) + 1;
  const out = new Float64Array(samples * Ho * Wo * F);
  for (let n = 0; n < samples; n++)
    for (let oy = 0; oy < Ho; oy++)
      for (let ox = 0; ox < Wo; ox++)
        for (let f = 0; f < F; f++) {
          let s = l.bias ? l.bias[f] : 0;
          for (let ky = 0; ky < kh; ky++)
            for (let kx = 0; kx < kw; kx++)
              for (let c = 0; c < C; c++) s += padded[((n * Hp + oy * sh + ky) * Wp + ox * sw + kx) * C + c] * l.kernel[((ky * kw + kx) * C + c) * F + f];
          out[((n * Ho + oy) * Wo + ox) * F + f] = s;
        }
  return { out, shape: [Ho, Wo, F] };
}

function expectInputError(run: () => unknown, ...parts: string[]): void {
  let error: unknown;
  try {
    run();
  } catch (e) {
    error = e;
  }
  expect(error).toBeInstanceOf(InputError);
  for (const part of parts) expect((error as Error).message).toContain(part);
}

describe('shape inference', () => {
  it('follows TF for conv/pool windows: same → ceil(in/s) with the extra padding at the end, valid → floor((in−k)/s)+1', () => {
    expect(windowAxis(7, 3, 2, 'same')).toEqual({ out: 4, padBefore: 1, padAfter: 1 });
    expect(windowAxis(8, 3, 2, 'same')).toEqual({ out: 4, padBefore: 0, padAfter: 1 });
    expect(windowAxis(5, 4, 1, 'same')).toEqual({ out: 5, padBefore: 1, padAfter: 2 });
    expect(windowAxis(9, 2, 2, 'same')).toEqual({ out: 5, padBefore: 0, padAfter: 1 });
    expect(windowAxis(6, 2, 2, 'same')).toEqual({ out: 3, padBefore: 0, padAfter: 0 });
    expect(windowAxis(10, 1, 3, 'same')).toEqual({ out: 4, padBefore: 0, padAfter: 0 });
    expect(windowAxis(7, 3, 2, 'valid').out).toBe(3);
    expect(windowAxis(8, 3, 2, 'valid').out).toBe(3);
    expect(windowAxis(5, 2, 2, 'valid').out).toBe(2);
  });

  it('infers each layer kind', () => {
    expect(layerOutputShape(conv('c', [3, 2], 2, 5, { strides: [2, 1], padding: 'same' }), [[9, 7, 2]])).toEqual([5, 7, 5]);
    expect(layerOutputShape(conv('c', [3, 2], 2, 5, { strides: [2, 1] }), [[9, 7, 2]])).toEqual([4, 6, 5]);
    expect(layerOutputShape(pool('p', [2, 2], [2, 2], 'valid'), [[9, 9, 4]])).toEqual([4, 4, 4]);
    expect(layerOutputShape(pool('p', [2, 2], [2, 2], 'same'), [[9, 9, 4]])).toEqual([5, 5, 4]);
    expect(layerOutputShape(pool('p', [3, 3], [1, 1], 'same'), [[4, 6, 3]])).toEqual([4, 6, 3]);
    expect(layerOutputShape(layer('flatten', 'f'), [[4, 6, 3]])).toEqual([72]);
    expect(layerOutputShape(layer('relu', 'r'), [[4, 6, 3]])).toEqual([4, 6, 3]);
    expect(layerOutputShape(layer('softmax', 's'), [[10]])).toEqual([10]);
    expect(layerOutputShape(dense('d', 72, 10), [[72]])).toEqual([10]);
  });

  it('returns every layer\'s input shape and the output shape', () => {
    const network: Network = {
      inputShape: [9, 9, 2],
      layers: [conv('c1', [3, 3], 2, 4, { padding: 'same', activation: 'relu' }), pool('p', [2, 2], [2, 2], 'same'), conv('c2', [2, 2], 4, 3, { strides: [2, 2] }), layer('flatten', 'f'), dense('d', 12, 5), layer('softmax', 's')],
    };
    expect(checkNetwork(network, 'net.json')).toEqual([[9, 9, 2], [9, 9, 4], [5, 5, 4], [2, 2, 3], [12], [5], [5]]);
    expect(layerInputShapes(network)).toEqual([[9, 9, 2], [9, 9, 4], [5, 5, 4], [2, 2, 3], [12], [5]]);
  });

  it('names the layer and the mismatch when the network is inconsistent', () => {
    const fc = (inputs: number) => ({ inputShape: [28, 28, 1], layers: [layer('flatten', 'flat'), dense('fc1', inputs, 3)] });
    expectInputError(() => checkNetwork(fc(800), 'model.json'), "model.json: layer 1 'fc1' (dense)", 'dense expects 800 inputs but receives 784');
    checkNetwork(fc(784));
    expectInputError(() => checkNetwork({ inputShape: [6, 6, 3], layers: [conv('c', [3, 3], 2, 4)] }, 'm'), "layer 0 'c'", 'expects 2 input channels but receives 3');
    expectInputError(() => checkNetwork({ inputShape: [6, 6, 2], layers: [dense('d', 72, 4)] }, 'm'), "layer 0 'd'", 'add a flatten layer');
    expectInputError(() => checkNetwork({ inputShape: [4, 4, 2], layers: [conv('c', [5, 3], 2, 4)] }, 'm'), "layer 0 'c'", 'does not fit');
    expectInputError(() => checkNetwork({ inputShape: [4, 4, 2], layers: [layer('relu', 'r'), pool('p', [5, 5], [1, 1], 'valid')] }, 'm'), "layer 1 'p'", 'does not fit');
    const badKernel = dense('d', 4, 3);
    badKernel.kernel = new Float32Array(11);
    expectInputError(() => checkNetwork({ inputShape: [4], layers: [badKernel] }, 'm'), "layer 0 'd'", 'kernel has 11 values, expected 4×3 = 12');
    const badBias = dense('d', 4, 3);
    badBias.bias = new Float32Array(2);
    expectInputError(() => checkNetwork({ inputShape: [4], layers: [badBias] }, 'm'), 'bias has 2 values, expected 3');
    const nan = dense('d', 4, 3);
    nan.kernel[5] = NaN;
    expectInputError(() => checkNetwork({ inputShape: [4], layers: [nan] }, 'm'), 'non-finite');
    expectInputError(() => checkNetwork({ inputShape: [4], layers: [dense('d', 4, 3), dense('d', 3, 2)] }, 'm'), "layer 1 'd'", 'same name');
    expectInputError(() => checkNetwork({ inputShape: [4], layers: [{ kind: 'lstm', name: 'x' } as unknown as Layer] }, 'm'), "layer 0 'x'", "'lstm' is not supported");
    expectInputError(() => checkNetwork({ inputShape: [0, 3], layers: [layer('relu', 'r')] }, 'm'), 'inputShape');
    expectInputError(() => checkNetwork({ inputShape: [3], layers: [] }, 'm'), 'no layers');
  });
});

describe('prunable layers', () => {
  it('classifies each dense/conv layer as a relu or linear program and says where its target is taken', () => {
    const network: Network = {
      inputShape: [8, 8, 1],
      layers: [
        conv('c1', [3, 3], 1, 2, { activation: 'relu' }), // 0: fused relu
        conv('c2', [3, 3], 2, 2), // 1: linear, next is relu
        layer('relu', 'r2'), // 2
        conv('c3', [2, 2], 2, 2), // 3: linear, next is a pool
        pool('p', [2, 2], [2, 2], 'valid'), // 4
        layer('flatten', 'f'), // 5
        dense('d1', 1 * 1 * 2, 6), // 6: linear, next is relu (8 → 6 → 4 → 3 → pool → 1×1×2)
        layer('relu', 'r6'), // 7
        dense('d2', 6, 5, 'relu'), // 8
        dense('d3', 5, 4), // 9: logits, next is softmax
        layer('softmax', 's'), // 10
      ],
    };
    const got = prunableLayers(network).map((t) => [t.index, t.layer.name, t.program, t.targetIndex]);
    expect(got).toEqual([
      [0, 'c1', 'relu', 0],
      [1, 'c2', 'relu', 2],
      [3, 'c3', 'linear', 3],
      [6, 'd1', 'relu', 7],
      [8, 'd2', 'relu', 8],
      [9, 'd3', 'linear', 9],
    ]);
    const fusedSoftmax = prunableLayers({ inputShape: [4], layers: [dense('a', 4, 3, 'relu'), dense('b', 3, 2, 'softmax')] });
    expect(fusedSoftmax.map((t) => [t.program, t.targetIndex, t.inputShape, t.outputShape])).toEqual([
      ['relu', 0, [4], [3]],
      ['linear', 1, [3], [2]],
    ]);
  });
});

describe('CPU forward pass', () => {
  const convCases: Array<[number[], [number, number], [number, number], 'valid' | 'same']> = [
    [[7, 6, 3], [3, 3], [1, 1], 'same'],
    [[7, 6, 3], [3, 3], [1, 1], 'valid'],
    [[7, 6, 3], [3, 2], [2, 2], 'same'],
    [[7, 6, 3], [3, 2], [2, 2], 'valid'],
    [[8, 5, 2], [2, 4], [2, 1], 'same'],
    [[8, 5, 2], [1, 3], [1, 2], 'valid'],
    [[5, 5, 1], [4, 4], [2, 2], 'same'],
  ];
  for (const [shape, kernelSize, strides, padding] of convCases)
    it(`conv ${kernelSize.join('×')} stride ${strides.join(',')} ${padding} on ${shape.join('×')}: direct = naive = patches·kernel`, () => {
      const samples = 3;
      const filters = 4;
      const l = conv('c', kernelSize, shape[2], filters, { strides, padding });
      const x = gaussianMatrix(samples, shape[0] * shape[1] * shape[2], seed++);
      const { out: want, shape: outShape } = naiveConv(x, samples, shape, l);
      const result = forwardCpu({ inputShape: shape, layers: [l] }, x, samples);
      expect(result.outputShape).toEqual(outShape);
      expect(relativeError(result.output, want)).toBeLessThan(1e-12);

      // The solver's patch matrix (columns in the HWIO kernel's row order) times the kernel.
      const g = windowGeometry(l, shape);
      const patches = materializePatches({
        images: Float64Array.from(x), count: samples, inH: g.inH, inW: g.inW, channels: g.channels,
        kernelH: g.kernelH, kernelW: g.kernelW, strideH: g.strideH, strideW: g.strideW,
        padTop: g.padTop, padLeft: g.padLeft, outH: g.outH, outW: g.outW,
      }).data;
      const cols = kernelSize[0] * kernelSize[1] * shape[2];
      const rows = patches.length / cols;
      expect(rows).toBe(samples * outShape[0] * outShape[1]);
      const product = new Float64Array(rows * filters);
      for (let r = 0; r < rows; r++)
        for (let f = 0; f < filters; f++) {
          let s = l.bias![f];
          for (let j = 0; j < cols; j++) s += patches[r * cols + j] * l.kernel[j * filters + f];
          product[r * filters + f] = s;
        }
      expect(relativeError(product, want)).toBeLessThan(1e-12);
    });

  it('pools with valid and same padding (same pads with −∞, not 0)', () => {
    const x = Float64Array.from({ length: 9 }, (_, i) => -(i + 1)); // 3×3×1: -1 … -9
    const run = (padding: 'valid' | 'same', size: [number, number], strides: [number, number]) =>
      forwardCpu({ inputShape: [3, 3, 1], layers: [pool('p', size, strides, padding)] }, x, 1);
    expect(Array.from(run('same', [2, 2], [2, 2]).output)).toEqual([-1, -3, -7, -9]);
    expect(Array.from(run('valid', [2, 2], [2, 2]).output)).toEqual([-1]);
    expect(Array.from(run('valid', [2, 2], [1, 1]).output)).toEqual([-1, -2, -4, -5]);
    // 3×3 same stride 1 (pad 1 on each side): each output is the max of its clipped neighbourhood.
    expect(Array.from(run('same', [3, 3], [1, 1]).output)).toEqual([-1, -1, -2, -1, -1, -2, -4, -4, -5]);
    // Two channels, two samples: channels pool separately.
    const y = Float64Array.from([1, 10, 2, 20, 3, 30, 4, 40, /* sample 2 */ 5, -1, 6, -2, 7, -3, 8, -4]);
    const r = forwardCpu({ inputShape: [2, 2, 2], layers: [pool('p', [2, 2], [2, 2], 'valid')] }, y, 2);
    expect(Array.from(r.output)).toEqual([4, 40, 8, -1]);
  });

  it('collects inputs and targets: post-ReLU for relu programs, pre-softmax logits for linear ones', () => {
    const d1 = dense('d1', 6, 5);
    const d2 = dense('d2', 5, 4, 'relu');
    const d3 = dense('d3', 4, 3, 'softmax');
    const network: Network = { inputShape: [6], layers: [d1, layer('relu', 'r'), d2, d3] };
    const P = 4;
    const x = gaussianMatrix(P, 6, 7);
    const result = forwardCpu(network, Float32Array.from(x), P, { collect: true });
    const mul = (a: ArrayLike<number>, l: DenseLayer, act: (v: number) => number) =>
      Float64Array.from({ length: P * l.units }, (_, i) => {
        const p = Math.floor(i / l.units);
        const m = i % l.units;
        let s = l.bias![m];
        for (let n = 0; n < l.inputs; n++) s += a[p * l.inputs + n] * l.kernel[n * l.units + m];
        return act(s);
      });
    const relu = (v: number) => Math.max(v, 0);
    const x32 = Float64Array.from(Float32Array.from(x));
    const h1 = mul(x32, d1, relu);
    const h2 = mul(h1, d2, relu);
    const z = mul(h2, d3, (v) => v);
    expect([...result.collected.keys()]).toEqual([0, 2, 3]);
    expect(result.collected.get(0)!.program).toBe('relu');
    expect(relativeError(result.collected.get(0)!.input, x32)).toBe(0);
    expect(relativeError(result.collected.get(0)!.target, h1)).toBeLessThan(1e-14);
    expect(relativeError(result.collected.get(2)!.input, h1)).toBeLessThan(1e-14);
    expect(relativeError(result.collected.get(2)!.target, h2)).toBeLessThan(1e-14);
    expect(result.collected.get(3)!.program).toBe('linear');
    expect(relativeError(result.collected.get(3)!.target, z)).toBeLessThan(1e-14);
    expect(relativeError(result.logits, z)).toBeLessThan(1e-14);
    for (let p = 0; p < P; p++) {
      const row = Array.from(z.slice(p * 3, p * 3 + 3));
      const e = row.map((v) => Math.exp(v));
      const sum = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j < 3; j++) expect(result.output[p * 3 + j]).toBeCloseTo(e[j] / sum, 14);
    }
    // The input array is not modified, and without collect nothing is collected.
    expect(forwardCpu(network, x, P).collected.size).toBe(0);
  });

  it('uses override weights and checks them', () => {
    const d = dense('d', 3, 2);
    const network: Network = { inputShape: [3], layers: [d] };
    const x = Float64Array.from([1, 2, 3]);
    const r = forwardCpu(network, x, 1, { overrides: new Map([[0, { kernel: Float64Array.from([1, 0, 0, 1, 1, 1]), bias: null }]]) });
    expect(Array.from(r.output)).toEqual([4, 5]);
    expectInputError(() => forwardCpu(network, x, 1, { overrides: new Map([[0, { kernel: new Float32Array(5), bias: null }]]) }), 'needs 6 kernel values');
    expectInputError(() => forwardCpu(network, x, 2), 'input has 3 values, expected 2 samples × 3');
  });
});

/** A small random MLP and two CNNs covering every layer kind and activation. */
function testNetworks(): Array<{ name: string; network: Network }> {
  return [
    {
      name: 'MLP 12 → 16 relu → 10 (+ relu layer) → 7 relu → 4 fused softmax',
      network: { inputShape: [12], layers: [dense('h1', 12, 16, 'relu'), dense('h2', 16, 10), layer('relu', 'r2'), dense('h3', 10, 7, 'relu', false), dense('out', 7, 4, 'softmax')] },
    },
    {
      name: 'CNN [9,9,2] → conv 3×3×4 same relu → maxpool 2 same → conv 2×2×3 valid stride 2 → flatten → dense 5 → softmax',
      network: {
        inputShape: [9, 9, 2],
        layers: [
          conv('conv1', [3, 3], 2, 4, { padding: 'same', activation: 'relu' }),
          pool('pool1', [2, 2], [2, 2], 'same'),
          conv('conv2', [2, 2], 4, 3, { strides: [2, 2] }),
          layer('flatten', 'flatten'),
          dense('logits', 12, 5),
          layer('softmax', 'softmax'),
        ],
      },
    },
    {
      name: 'CNN [10,7,3] → conv 3×2 stride (2,1) same (+ relu layer) → maxpool 3×2 valid → conv 1×3 no bias relu → flatten → dense 6',
      network: {
        inputShape: [10, 7, 3],
        layers: [
          conv('a', [3, 2], 3, 5, { strides: [2, 1], padding: 'same' }),
          layer('relu', 'a_relu'),
          pool('b', [3, 2], [1, 2], 'valid'),
          conv('c', [1, 3], 5, 4, { activation: 'relu', bias: false, padding: 'same' }),
          layer('flatten', 'flat'),
          dense('d', 3 * 3 * 4, 6),
        ],
      },
    },
    {
      name: 'CNN [6,5,2] → maxpool 3×3 stride 2 same on signed input → conv 2×2 (+ relu layer) → flatten → dense 3',
      network: {
        inputShape: [6, 5, 2],
        layers: [pool('p', [3, 3], [2, 2], 'same'), conv('c', [2, 2], 2, 4), layer('relu', 'c_relu'), layer('flatten', 'flat'), dense('d', 2 * 2 * 4, 3)],
      },
    },
  ];
}

function expectSameResult(got: ForwardResult<Float32Array>, want: ForwardResult<Float64Array>): void {
  expect(got.samples).toBe(want.samples);
  expect(got.outputShape).toEqual(want.outputShape);
  expect(got.logits).toBeInstanceOf(Float32Array);
  expect(relativeError(got.logits, want.logits)).toBeLessThan(1e-4);
  expect(relativeError(got.output, want.output)).toBeLessThan(1e-4);
  expect([...got.collected.keys()]).toEqual([...want.collected.keys()]);
  for (const [index, w] of want.collected) {
    const g = got.collected.get(index)!;
    expect([g.name, g.program, g.inputShape, g.targetShape]).toEqual([w.name, w.program, w.inputShape, w.targetShape]);
    expect(relativeError(g.input, w.input)).toBeLessThan(1e-4);
    expect(relativeError(g.target, w.target)).toBeLessThan(1e-4);
  }
}

describe.skipIf(!gpu)('GPU forward pass', () => {
  for (const { name, network } of testNetworks())
    it(`equals the CPU pass: ${name}`, async () => {
      const before = gpu!.buffers.inUse;
      const samples = 30;
      const size = network.inputShape.reduce((a, b) => a * b, 1);
      const x = gaussianMatrix(samples, size, seed++);
      const want = forwardCpu(network, x, samples, { collect: true });
      expect(want.collected.size).toBeGreaterThan(0);

      // Float64 input, one chunk, collecting.
      expectSameResult(await forwardGpu(gpu!, network, x, samples, { collect: true }), want);
      expect(gpu!.buffers.inUse).toBe(before);

      // Float32 input in chunks of 7 (30 = 4·7 + 2).
      const chunked = await forwardGpu(gpu!, network, Float32Array.from(x), samples, { collect: true, maxChunkSamples: 7 });
      expectSameResult(chunked, want);
      expect(gpu!.buffers.inUse).toBe(before);

      // Without collect: only logits and output.
      const plain = await forwardGpu(gpu!, network, x, samples, { maxChunkSamples: 4 });
      expect(plain.collected.size).toBe(0);
      expect(relativeError(plain.logits, want.logits)).toBeLessThan(1e-4);
      expect(relativeError(plain.output, want.output)).toBeLessThan(1e-4);
      expect(gpu!.buffers.inUse).toBe(before);
    });

  it('uses override weights like the CPU pass, and refuses bad input without leaking', async () => {
    const { network } = testNetworks()[1];
    const before = gpu!.buffers.inUse;
    const conv1 = network.layers[0] as Conv2DLayer;
    const sparse = Float64Array.from(conv1.kernel, (v, i) => (i % 3 === 0 ? v : 0));
    const overrides = new Map([[0, { kernel: sparse, bias: null }]]);
    const x = gaussianMatrix(5, 9 * 9 * 2, 3);
    const want = forwardCpu(network, x, 5, { collect: true, overrides });
    expectSameResult(await forwardGpu(gpu!, network, x, 5, { collect: true, overrides, maxChunkSamples: 2 }), want);
    await expect(forwardGpu(gpu!, network, x, 6)).rejects.toThrow(InputError);
    await expect(forwardGpu(gpu!, network, x, 5, { maxChunkSamples: 0 })).rejects.toThrow(InputError);
    const empty = await forwardGpu(gpu!, network, new Float32Array(0), 0, { collect: true });
    expect([empty.output.length, empty.logits.length, empty.collected.get(0)!.target.length]).toEqual([0, 0, 0]);
    expect(gpu!.buffers.inUse).toBe(before);
  });
});
