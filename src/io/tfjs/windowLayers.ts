// Keras's window layers (browser-safe): their config fields as our layers' geometry, a
// ZeroPadding2D merged into the conv or pool after it, Conv1D on a sequence as the 1×k conv
// of height 1, and Conv2DTranspose as zeros between the pixels and a conv.
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { windowAxis } from '../../network/shapes.js';
import type { Conv2DLayer, DenseLayer, Layer, Padding } from '../../network/types.js';
import { describe, single, type Json } from './fields.js';

/** Numbers from a config field that must be a list of positive integers of a given length. */
export function intPair(value: unknown, where: string, field: string): [number, number] {
  const list = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(list) || list.length !== 2 || !list.every((n) => Number.isSafeInteger(n) && n > 0))
    throw new InputError(`${where}: ${field}: expected two positive integers, found ${describe(value)}`);
  return [list[0], list[1]];
}

export function checkChannelsLast(config: Json, where: string): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
    throw new InputError(`${where}: data_format: expected 'channels_last', found ${describe(config.dataFormat)}`);
}

export function paddingOf(config: Json, where: string): 'valid' | 'same' {
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new InputError(`${where}: padding: expected 'valid' or 'same', found ${describe(padding)}`);
  return padding;
}

/** The layer field of a dilation (none when undilated). */
export const dilationsOf = (dilation: [number, number]) => (dilation[0] !== 1 || dilation[1] !== 1 ? { dilations: dilation } : {});

/**
 * A conv's or pool's padding with a ZeroPadding2D before it merged in: explicit [top, left,
 * bottom, right] pads on the unpadded input (its own 'same' pads computed on the padded size).
 */
export function withZeroPadding(own: 'valid' | 'same', pad: { pads: [number, number, number, number] } | undefined, layer: tf.layers.Layer, kernel: [number, number], strides: [number, number], where: string): Padding {
  if (!pad) return own;
  const [t, b, l, r] = pad.pads;
  if (own === 'valid') return [t, l, b, r];
  const shapes = layer.inboundNodes[0].inputShapes;
  const shape = (Array.isArray(shapes[0]) ? shapes[0] : shapes) as (number | null)[];
  const [h, w] = [shape[1]!, shape[2]!];
  const ah = windowAxis(h, kernel[0], strides[0], 'same');
  const aw = windowAxis(w, kernel[1], strides[1], 'same');
  if (!(h > 0 && w > 0)) throw new InputError(`${where}: input shape unknown after ZeroPadding2D`);
  return [t + ah.padBefore, l + aw.padBefore, b + ah.padAfter, r + aw.padAfter];
}

/**
 * A Conv1D on a sequence [steps, C]: the 1×k conv of height 1 (its kernel [k, C, F] has HWIO's
 * values), 'causal' as (k − 1)·dilation zeros before the steps; on a pooled vector viewed as
 * [1, C], a kernel of 1 is a dense layer.
 */
export function conv1d(name: string, config: Json, values: Map<string, Float32Array>, readsPooled: boolean, shape: number[], where: string): DenseLayer | Conv2DLayer {
  checkChannelsLast(config, where);
  const [k, inputs, filters] = shape;
  const bias = values.get('bias') ?? null;
  if (readsPooled) {
    if (k !== 1) throw new InputError(`${where}: Conv1D of kernel ${k} on a tensor viewed as [1, C]: expected a kernel of 1`);
    return { kind: 'dense', name, kernel: values.get('kernel')!, inputs, units: filters, bias, activation: 'linear' };
  }
  const dilation = single(config.dilationRate, where, 'dilation_rate', 1);
  const padding = config.padding === 'causal' ? ([0, (k - 1) * dilation, 0, 0] as Padding) : paddingOf(config, where);
  return {
    kind: 'conv2d', name, kernel: values.get('kernel')!, kernelSize: [1, k], inChannels: inputs, filters, bias, strides: [1, single(config.strides, where, 'strides', 1)], padding,
    ...dilationsOf([1, dilation]), activation: 'linear',
  };
}

/** The weight role of a Conv2DTranspose's kernel: [kh, kw, filters, cin], written from the network flipped back. */
export const TRANSPOSED_KERNEL = 'transposed_kernel';

/** Keras's Conv2DTranspose kernel [kh, kw, filters, cin] as the HWIO kernel of the equivalent stride-1 conv (flipped). */
export function kerasTransposedToHwio(weight: Float32Array, [kh, kw]: readonly number[], cin: number, filters: number): Float32Array {
  const kernel = new Float32Array(weight.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++) for (let o = 0; o < filters; o++) kernel[((y * kw + x) * cin + i) * filters + o] = weight[(((kh - 1 - y) * kw + (kw - 1 - x)) * filters + o) * cin + i];
  return kernel;
}

/** The inverse of kerasTransposedToHwio (the writer's). */
export function hwioToKerasTransposed(kernel: Float32Array, [kh, kw]: readonly number[], cin: number, filters: number): Float32Array {
  const weight = new Float32Array(kernel.length);
  for (let y = 0; y < kh; y++)
    for (let x = 0; x < kw; x++)
      for (let i = 0; i < cin; i++) for (let o = 0; o < filters; o++) weight[(((kh - 1 - y) * kw + (kw - 1 - x)) * filters + o) * cin + i] = kernel[((y * kw + x) * cin + i) * filters + o];
  return weight;
}

/**
 * A Conv2DTranspose as ONNX's ConvTranspose is read (onnx/convTranspose.ts): zeros between the
 * pixels (strides above 1), then a stride-1 conv with the kernel flipped, padded so that its output
 * is TF's: (in − 1)·s + k ('valid', k ≥ s) or in·s ('same', the forward conv's padding
 * ⌊(k − s)/2⌋ first), each side k − 1 less that padding.
 */
export function conv2dTranspose(name: string, config: Json, values: Map<string, Float32Array>, [h, w, cin]: readonly number[], [kh, kw, filters]: readonly number[], where: string): Layer[] {
  checkChannelsLast(config, where);
  const strides = intPair(config.strides ?? [1, 1], where, 'strides');
  const dilation = intPair(config.dilationRate ?? [1, 1], where, 'dilation_rate');
  if (dilation[0] !== 1 || dilation[1] !== 1) throw new InputError(`${where}: dilation_rate: expected [1, 1] (a dilated Conv2DTranspose is not read), found ${describe(config.dilationRate)}`);
  const same = paddingOf(config, where) === 'same';
  const axis = (size: number, k: number, s: number): [number, number] => {
    const out = same ? size * s : size * s + Math.max(k - s, 0);
    const before = k - 1 - (same ? Math.floor(Math.max(k - s, 0) / 2) : 0);
    return [before, out - ((size - 1) * s + 1) - before + k - 1];
  };
  const [[top, bottom], [left, right]] = [axis(h, kh, strides[0]), axis(w, kw, strides[1])];
  // A kernel smaller than its stride ('valid') leaves the last rows windows of padding alone (bias only): the solver's patches refuse those.
  if (bottom >= kh || right >= kw) throw new InputError(`${where}: a ${kh}×${kw} kernel at strides ${strides.join('×')} in 'valid' padding: expected a kernel at least as large as the stride (the last rows would be the bias alone)`);
  const zeros: Layer[] = strides[0] > 1 || strides[1] > 1 ? [{ kind: 'insertzeros', name: `${name}/zeros`, strides }] : [];
  const padding: Padding = top + bottom + left + right === 0 ? 'valid' : [top, left, bottom, right];
  const conv: Conv2DLayer = { kind: 'conv2d', name, kernel: kerasTransposedToHwio(values.get('kernel')!, [kh, kw], cin, filters), kernelSize: [kh, kw], inChannels: cin, filters, bias: values.get('bias') ?? null, strides: [1, 1], padding, activation: 'linear' };
  return [...zeros, conv];
}
