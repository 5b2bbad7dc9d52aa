// Ops the importers meet, composed of layers the network already has, so that channel ties, the
// forward passes and the programs need nothing new. Merges of tensors of one shape beyond the sum
// (Keras's Subtract, Average, Maximum and Minimum; ONNX's Sub, Div, Mean, Max and Min): a − b =
// a + (−1·b); a / b = a · (1/b); the mean, the sum times 1/n; max(a, b) = a + relu(b − a); min(a, b) = a − relu(a − b),
// exact up to float rounding. Crops of an image's borders (Keras's Cropping2D and Cropping1D, an
// ONNX Slice of H or W) and pads (ONNX's Pad: reflected, repeated edges, or a constant): a rearrange.
import type { Layer, RearrangeLayer } from './types.js';

export type MergeKind = 'subtract' | 'divide' | 'average' | 'maximum' | 'minimum';

/** The layers computing `kind` of the tensors `sources` (layer names, in order), the last one named `name`; `channels`: their last axis. */
export function mergeLayers(kind: MergeKind, name: string, sources: readonly string[], channels: number): Layer[] {
  const layers: Layer[] = [];
  const push = (layer: Layer): string => (layers.push(layer), layer.name);
  const scaled = (x: string, scale: number, layerName: string) => push({ kind: 'batchnorm', name: layerName, from: [x], scale: new Float32Array(channels).fill(scale), offset: new Float32Array(channels) });
  const [first, ...rest] = sources;
  switch (kind) {
    case 'subtract':
      push({ kind: 'add', name, from: [first, scaled(rest[0], -1, `${name}:negated`)] });
      break;
    case 'divide':
      push({ kind: 'mul', name, from: [first, push({ kind: 'activation', fn: 'reciprocal', name: `${name}:reciprocal`, from: [rest[0]] })] });
      break;
    case 'average':
      scaled(push({ kind: 'add', name: `${name}:sum`, from: [...sources] }), 1 / sources.length, name);
      break;
    case 'maximum':
    case 'minimum': {
      // Pairwise, left to right: m ← max(m, x) = m + relu(x − m), min(m, x) = m − relu(m − x).
      let m = first;
      rest.forEach((x, k) => {
        const step = k === rest.length - 1 ? name : `${name}:${k + 1}`;
        const [from, minus] = kind === 'maximum' ? [x, m] : [m, x];
        const excess = push({ kind: 'relu', name: `${step}:excess`, from: [push({ kind: 'add', name: `${step}:difference`, from: [from, scaled(minus, -1, `${step}:negated`)] })] });
        m = push({ kind: 'add', name: step, from: [m, kind === 'maximum' ? excess : scaled(excess, -1, `${step}:negated excess`)] });
      });
      break;
    }
  }
  return layers;
}

/** A rearrange keeping the [H, W, C] image `shape` without its borders [top, bottom, left, right]. */
export function cropLayer(name: string, [h, w, c]: readonly number[], [top, bottom, left, right]: readonly number[]): RearrangeLayer {
  const [outH, outW] = [h - top - bottom, w - left - right];
  const indices = Int32Array.from({ length: outH * outW * c }, (_, i) => {
    const [y, x, channel] = [Math.floor(i / (outW * c)), Math.floor(i / c) % outW, i % c];
    return ((y + top) * w + x + left) * c + channel;
  });
  return { kind: 'rearrange', name, indices, offset: null, shape: [outH, outW, c] };
}

/** How a pad fills the border: ONNX Pad's modes (PyTorch's ReflectionPad2d is 'reflect', ReplicationPad2d 'edge'). */
export type PadMode = 'constant' | 'reflect' | 'edge';

/**
 * A rearrange padding the [H, W, C] image `shape` by [top, bottom, left, right]: a border pixel
 * reads its mirror ('reflect', the edge not repeated: needs each pad below the size), the nearest
 * edge pixel ('edge'), or nothing plus `value` ('constant').
 */
export function padLayer(name: string, [h, w, c]: readonly number[], [top, bottom, left, right]: readonly number[], mode: PadMode, value = 0): RearrangeLayer {
  const [outH, outW] = [h + top + bottom, w + left + right];
  const source = (o: number, size: number): number => {
    if (o >= 0 && o < size) return o;
    if (mode === 'edge') return Math.min(Math.max(o, 0), size - 1);
    if (mode === 'reflect') return o < 0 ? -o : 2 * (size - 1) - o;
    return -1;
  };
  const count = outH * outW * c;
  const indices = new Int32Array(count);
  const offset = mode === 'constant' && value !== 0 ? new Float32Array(count) : null;
  for (let i = 0; i < count; i++) {
    const [y, x, channel] = [source(Math.floor(i / (outW * c)) - top, h), source((Math.floor(i / c) % outW) - left, w), i % c];
    indices[i] = y < 0 || x < 0 ? -1 : (y * w + x) * c + channel;
    if (offset && indices[i] < 0) offset[i] = value;
  }
  return { kind: 'rearrange', name, indices, offset, shape: [outH, outW, c] };
}
