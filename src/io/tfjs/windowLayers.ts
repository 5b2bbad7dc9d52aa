// Keras's window layers (browser-safe): their config fields as our layers' geometry, a
// ZeroPadding2D merged into the conv or pool after it, and Conv1D on a sequence as the 1×k conv
// of height 1.
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { windowAxis } from '../../network/shapes.js';
import type { Conv2DLayer, DenseLayer, Padding } from '../../network/types.js';
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
