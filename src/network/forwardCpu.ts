// The float64 forward pass on the CPU: the reference for forwardGpu, and where Net-Trim gets each
// prunable layer's input and target activations when no GPU is used. Tensors are samples-major
// NHWC (types.ts); kernels are Keras layouts (dense N×M, conv HWIO).
import { InputError } from '../errors.js';
import { checkNetwork, prunableLayers, shapeSize, windowGeometry, type PrunableLayer, type WindowGeometry } from './shapes.js';
import type { Conv2DLayer, DenseLayer, MaxPool2DLayer, Network } from './types.js';

type FloatArray = Float32Array | Float64Array;

/** Replacement weights for a dense/conv2d layer (e.g. its pruned kernel), same layout as the layer's. */
export interface LayerWeights {
  kernel: FloatArray;
  /** null: no bias (even if the layer has one). */
  bias: FloatArray | null;
}

export interface ForwardOptions {
  /** Also return every prunable layer's input and target activations (ForwardResult.collected). */
  collect?: boolean;
  /** Weights to use instead of the network's, by layer index (dense/conv2d layers only). */
  overrides?: ReadonlyMap<number, LayerWeights>;
}

/** A prunable layer's activations on the P samples (see PrunableLayer). */
export interface CollectedLayer<T extends FloatArray = FloatArray> {
  index: number;
  name: string;
  program: 'relu' | 'linear';
  /** P × inputs (dense) or P×H×W×C (conv), samples-major. */
  input: T;
  inputShape: number[];
  /** P × units or P×Ho×Wo×cout: post-ReLU for 'relu' programs, the pre-activation for 'linear'. */
  target: T;
  targetShape: number[];
}

/**
 * The network's response on P samples. Arrays may be shared between fields (one layer's target is
 * often the next one's input; `logits` is `output` when the network does not end in a softmax):
 * treat them as read-only.
 */
export interface ForwardResult<T extends FloatArray = FloatArray> {
  samples: number;
  /** The output before a final softmax (fused or a softmax layer), P × outputs. */
  logits: T;
  /** The network's final output, softmax included. */
  output: T;
  /** One sample's output shape (that of logits too). */
  outputShape: number[];
  /** By layer index, for every prunable layer when `collect` is set; empty otherwise. */
  collected: Map<number, CollectedLayer<T>>;
}

/** Checks `input` holds `samples` samples of the network's input shape. */
export function checkForwardInput(network: Network, input: FloatArray, samples: number): void {
  if (!(input instanceof Float32Array || input instanceof Float64Array)) throw new InputError('input must be a Float32Array or Float64Array');
  if (!Number.isInteger(samples) || samples < 0) throw new InputError(`samples must be a non-negative integer (found ${samples})`);
  const size = shapeSize(network.inputShape);
  if (input.length !== samples * size)
    throw new InputError(`input has ${input.length} values, expected ${samples} samples × ${size} (input shape [${network.inputShape.join(', ')}]) = ${samples * size}`);
}

/** The weights each dense/conv2d layer uses: its own, or an override (validated against the layer). */
export function resolveWeights(network: Network, overrides?: ReadonlyMap<number, LayerWeights>): Map<number, LayerWeights> {
  const weights = new Map<number, LayerWeights>();
  network.layers.forEach((layer, i) => {
    if (layer.kind === 'dense' || layer.kind === 'conv2d') weights.set(i, { kernel: layer.kernel, bias: layer.bias });
  });
  for (const [index, w] of overrides ?? []) {
    const layer = network.layers[index];
    if (!weights.has(index)) throw new InputError(`overrides: layer ${index} is not a dense or conv2d layer`);
    const l = layer as DenseLayer | Conv2DLayer;
    const units = l.kind === 'dense' ? l.units : l.filters;
    if (w.kernel.length !== l.kernel.length) throw new InputError(`overrides: layer ${index} '${l.name}' needs ${l.kernel.length} kernel values, found ${w.kernel.length}`);
    if (w.bias && w.bias.length !== units) throw new InputError(`overrides: layer ${index} '${l.name}' needs ${units} bias values, found ${w.bias.length}`);
    weights.set(index, w);
  }
  return weights;
}

/** XK + b for X P×N (samples-major) and K N×M. */
function denseForward(x: Float64Array, samples: number, inputs: number, units: number, w: LayerWeights): Float64Array {
  const { kernel, bias } = w;
  const out = new Float64Array(samples * units);
  for (let p = 0; p < samples; p++) {
    const row = p * units;
    if (bias) for (let m = 0; m < units; m++) out[row + m] = bias[m];
    for (let n = 0; n < inputs; n++) {
      const v = x[p * inputs + n];
      if (v === 0) continue;
      const k = n * units;
      for (let m = 0; m < units; m++) out[row + m] += v * kernel[k + m];
    }
  }
  return out;
}

/** Direct NHWC convolution with an HWIO kernel, zero padding (TF 'same' offsets), plus bias. */
function convForward(x: Float64Array, samples: number, g: WindowGeometry, filters: number, w: LayerWeights): Float64Array {
  const { kernel, bias } = w;
  const { inH, inW, channels: cin, kernelH, kernelW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const out = new Float64Array(samples * outH * outW * filters);
  for (let s = 0; s < samples; s++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const o = ((s * outH + oy) * outW + ox) * filters;
        if (bias) for (let f = 0; f < filters; f++) out[o + f] = bias[f];
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = oy * strideH - padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ox * strideW - padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((s * inH + iy) * inW + ix) * cin;
            const kBase = (ky * kernelW + kx) * cin * filters;
            for (let c = 0; c < cin; c++) {
              const v = x[xBase + c];
              if (v === 0) continue;
              const k = kBase + c * filters;
              for (let f = 0; f < filters; f++) out[o + f] += v * kernel[k + f];
            }
          }
        }
      }
  return out;
}

/** NHWC max pooling; positions in the 'same' padding count as −∞ (they never win). */
function maxPoolForward(x: Float64Array, samples: number, g: WindowGeometry): Float64Array {
  const { inH, inW, channels, kernelH, kernelW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const out = new Float64Array(samples * outH * outW * channels).fill(-Infinity);
  for (let s = 0; s < samples; s++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const o = ((s * outH + oy) * outW + ox) * channels;
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = oy * strideH - padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ox * strideW - padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((s * inH + iy) * inW + ix) * channels;
            for (let c = 0; c < channels; c++) if (x[xBase + c] > out[o + c]) out[o + c] = x[xBase + c];
          }
        }
      }
  return out;
}

/** Softmax over the last axis (rows of `cols` values). */
function softmaxForward(x: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += cols) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[r + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[r + j] = Math.exp(x[r + j] - max);
    for (let j = 0; j < cols; j++) out[r + j] /= sum;
  }
  return out;
}

function reluInPlace(x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) if (!(x[i] > 0)) x[i] = 0;
  return x;
}

/**
 * Runs `network` on `samples` samples in float64. `input` is samples-major with the network's
 * input shape per sample. Throws an InputError for an inconsistent network or input.
 */
export function forwardCpu(network: Network, input: FloatArray, samples: number, options: ForwardOptions = {}): ForwardResult<Float64Array> {
  const shapes = checkNetwork(network);
  checkForwardInput(network, input, samples);
  const weights = resolveWeights(network, options.overrides);
  const prunable = new Map<number, PrunableLayer>(options.collect ? prunableLayers(network).map((t) => [t.index, t]) : []);
  const collected = new Map<number, CollectedLayer<Float64Array>>();
  const pendingTarget = new Map<number, CollectedLayer<Float64Array>>(); // by targetIndex

  const layers = network.layers;
  let x: Float64Array = Float64Array.from(input);
  let logits: Float64Array | null = null;
  for (const [i, layer] of layers.entries()) {
    const inShape = shapes[i];
    const last = i === layers.length - 1;
    let out: Float64Array;
    let preActivation: Float64Array | null = null; // a dense/conv layer's output before its fused activation
    switch (layer.kind) {
      case 'dense':
      case 'conv2d': {
        const w = weights.get(i)!;
        const pre =
          layer.kind === 'dense'
            ? denseForward(x, samples, layer.inputs, layer.units, w)
            : convForward(x, samples, windowGeometry(layer, inShape), layer.filters, w);
        if (layer.activation === 'relu') out = reluInPlace(pre);
        else if (layer.activation === 'softmax') {
          preActivation = pre;
          out = softmaxForward(pre, layer.kind === 'dense' ? layer.units : layer.filters);
          if (last) logits = pre;
        } else out = pre;
        break;
      }
      case 'relu':
        out = reluInPlace(Float64Array.from(x));
        break;
      case 'maxpool2d':
        out = maxPoolForward(x, samples, windowGeometry(layer as MaxPool2DLayer, inShape));
        break;
      case 'flatten':
        out = x;
        break;
      case 'softmax':
        out = softmaxForward(x, inShape[inShape.length - 1]);
        if (last) logits = x;
        break;
    }
    const target = prunable.get(i);
    if (target) {
      const entry: CollectedLayer<Float64Array> = {
        index: i,
        name: layer.name,
        program: target.program,
        input: x,
        inputShape: target.inputShape,
        target: preActivation ?? out,
        targetShape: target.outputShape,
      };
      collected.set(i, entry);
      if (target.targetIndex !== i) pendingTarget.set(target.targetIndex, entry);
    }
    const pending = pendingTarget.get(i);
    if (pending) pending.target = out;
    x = out;
  }
  return { samples, logits: logits ?? x, output: x, outputShape: shapes[layers.length], collected };
}
