// Shape inference and validation of one layer (types.ts), and the window geometry of convs and pools.
//
// Conv and pool output sizes follow TensorFlow:
//   'valid': out = floor((in − k) / stride) + 1, no padding;
//   'same':  out = ceil(in / stride), total padding max((out − 1)·stride + k − in, 0) split as
//            floor(total / 2) before (top/left) and the rest after (bottom/right);
//   explicit [top, left, bottom, right]: out = floor((in + before + after − k) / stride) + 1
//            (PyTorch's and ONNX's pads).
import { InputError } from '../errors.js';
import { ACTIVATION_FUNCTIONS, SUPPORTED_LAYERS, UPSAMPLE_MODES, type Conv2DLayer, type DenseLayer, type Layer, type Padding } from './types.js';
import type { WindowShape } from '../gpu/kernels/window.js';

/** Output size and padding of one spatial axis of a conv or pool window. */
export interface AxisWindow {
  out: number;
  padBefore: number;
  padAfter: number;
}

/** One axis of a conv/pool window (out may be ≤ 0 when the window is larger than the padded input). */
export function windowAxis(size: number, kernel: number, stride: number, padding: 'valid' | 'same' | [number, number]): AxisWindow {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, padBefore: 0, padAfter: 0 };
  if (Array.isArray(padding)) {
    const [padBefore, padAfter] = padding;
    return { out: Math.floor((size + padBefore + padAfter - kernel) / stride) + 1, padBefore, padAfter };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const padBefore = Math.floor(total / 2);
  return { out, padBefore, padAfter: total - padBefore };
}

/** An upsample layer's input as an image: a pooled [C] (ASPP's image pooling, broadcast back) is 1×1. */
export const upsampleInput = (shape: readonly number[]): [number, number, number] => (shape.length === 1 ? [1, 1, shape[0]] : [shape[0], shape[1], shape[2]]);

/** The input positions a window of `kernel` taps spaced by `dilation` spans: (k − 1)·d + 1 per axis. */
export function windowSpan(kernel: readonly [number, number], dilation: readonly [number, number] = [1, 1]): [number, number] {
  return [(kernel[0] - 1) * dilation[0] + 1, (kernel[1] - 1) * dilation[1] + 1];
}

/** The spatial geometry of a conv2d or pooling layer applied to an [H, W, C] input. */
export type WindowGeometry = WindowShape;

type WindowLayer = { strides: [number, number]; padding: Padding; dilations?: [number, number] } & ({ kernelSize: [number, number] } | { poolSize: [number, number] });

/** Geometry of a conv2d/pooling layer on an input of shape [H, W, C] (assumed valid: see layerOutputShape). */
export function windowGeometry(layer: WindowLayer, inputShape: readonly number[]): WindowGeometry {
  const [inH, inW, channels] = inputShape;
  const [kernelH, kernelW] = 'kernelSize' in layer ? layer.kernelSize : layer.poolSize;
  const [strideH, strideW] = layer.strides;
  const [dilationH, dilationW] = layer.dilations ?? [1, 1];
  const p = layer.padding;
  const [spanH, spanW] = windowSpan([kernelH, kernelW], [dilationH, dilationW]);
  const h = windowAxis(inH, spanH, strideH, Array.isArray(p) ? [p[0], p[2]] : p);
  const w = windowAxis(inW, spanW, strideW, Array.isArray(p) ? [p[1], p[3]] : p);
  const dilated = dilationH !== 1 || dilationW !== 1 ? { dilationH, dilationW } : {};
  return { inH, inW, channels, kernelH, kernelW, strideH, strideW, outH: h.out, outW: w.out, padTop: h.padBefore, padLeft: w.padBefore, ...dilated };
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The most token ids an embedding may have: ids travel as f32, exact below 2^24. */
export const MAX_VOCABULARY = 2 ** 24;

export const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const isPositiveInteger = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every(isPositiveInteger);

/** Thrown by layerOutputShape; the graph check prefixes it with the layer's position. */
export class LayerShapeError extends InputError {}

function fail(message: string): never {
  throw new LayerShapeError(message);
}

function checkFinite(what: string, values: ArrayLike<number> | null): void {
  if (values) for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) fail(`${what} holds a non-finite value (${values[i]}) at index ${i}`);
}

function checkWeights(layer: DenseLayer | Conv2DLayer, rows: number, cols: number): void {
  if (!(layer.kernel instanceof Float32Array)) fail('kernel must be a Float32Array');
  if (layer.kernel.length !== rows * cols) {
    const groups = layer.kind === 'conv2d' ? (layer.groups ?? 1) : 1;
    const expected = layer.kind === 'dense' ? `${rows}×${cols}` : `${layer.kernelSize.join('×')}×${layer.inChannels / groups}×${layer.filters}`;
    fail(`kernel has ${layer.kernel.length} values, expected ${expected} = ${rows * cols}`);
  }
  if (layer.bias !== null && !(layer.bias instanceof Float32Array)) fail('bias must be a Float32Array or null');
  if (layer.bias && layer.bias.length !== cols) fail(`bias has ${layer.bias.length} values, expected ${cols}`);
  checkFinite('kernel', layer.kernel);
  checkFinite('bias', layer.bias);
  if (!['relu', 'linear', 'softmax'].includes(layer.activation)) fail(`activation '${layer.activation}' is not supported (relu, linear, softmax)`);
}

function checkPadding(padding: Padding): void {
  if (padding === 'valid' || padding === 'same') return;
  if (Array.isArray(padding) && padding.length === 4 && padding.every((p) => Number.isInteger(p) && p >= 0)) return;
  fail(`padding must be 'valid', 'same' or [top, left, bottom, right] of integers ≥ 0 (found ${JSON.stringify(padding)})`);
}

/** The [H, W] output of a conv/pool window, or an error when it does not fit. */
function windowOutput(layer: WindowLayer, inputShape: readonly number[], what: string): [number, number] {
  checkPadding(layer.padding);
  if (!isPair(layer.strides)) fail(`strides must be two positive integers (found ${JSON.stringify(layer.strides)})`);
  const g = windowGeometry(layer, inputShape);
  if (what === 'pool' && Array.isArray(layer.padding) && (layer.padding[0] >= g.kernelH || layer.padding[2] >= g.kernelH || layer.padding[1] >= g.kernelW || layer.padding[3] >= g.kernelW))
    fail(`padding ${JSON.stringify(layer.padding)} is as large as the ${g.kernelH}×${g.kernelW} window: expected each side smaller than the pool window (a window all padding has no value)`);
  if (g.outH < 1 || g.outW < 1) fail(`a ${g.kernelH}×${g.kernelW} ${what} does not fit in the ${inputShape[0]}×${inputShape[1]} input with padding ${JSON.stringify(layer.padding)}`);
  return [g.outH, g.outW];
}

function requireImage(kind: string, inputShape: readonly number[]): void {
  if (inputShape.length !== 3) fail(`${kind} expects an [H, W, C] input but receives shape ${formatShape(inputShape)}`);
}

/**
 * The output shape of one sample after `layer`, given the shapes of the tensors it reads. Throws
 * an InputError describing the mismatch (without the layer's position: the graph check adds it).
 */
export function layerOutputShape(layer: Layer, inputShapes: readonly (readonly number[])[]): number[] {
  const reads = layer.kind === 'add' || layer.kind === 'concat' ? 'two or more tensors' : layer.kind === 'mul' || layer.kind === 'matmul' || layer.kind === 'lasttoken' ? 'two tensors' : 'one tensor';
  const count = inputShapes.length;
  if (reads === 'one tensor' ? count !== 1 : reads === 'two tensors' ? count !== 2 : count < 2) fail(`${layer.kind} reads ${reads}, found ${count}`);
  const inputShape = inputShapes[0];
  switch (layer.kind) {
    case 'dense': {
      if (!isPositiveInteger(layer.inputs) || !isPositiveInteger(layer.units)) fail(`inputs and units must be positive integers (found ${layer.inputs}, ${layer.units})`);
      if (inputShape.length !== 1)
        fail(`dense expects a flat input of ${layer.inputs} values but receives shape ${formatShape(inputShape)} (add a flatten layer before it)`);
      if (inputShape[0] !== layer.inputs) fail(`dense expects ${layer.inputs} inputs but receives ${inputShape[0]}`);
      checkWeights(layer, layer.inputs, layer.units);
      return [layer.units];
    }
    case 'conv2d': {
      if (!isPair(layer.kernelSize)) fail(`kernelSize must be two positive integers (found ${JSON.stringify(layer.kernelSize)})`);
      if (!isPositiveInteger(layer.inChannels) || !isPositiveInteger(layer.filters))
        fail(`inChannels and filters must be positive integers (found ${layer.inChannels}, ${layer.filters})`);
      if (layer.dilations !== undefined && !isPair(layer.dilations)) fail(`dilations must be two positive integers (found ${JSON.stringify(layer.dilations)})`);
      const groups = layer.groups ?? 1;
      if (!isPositiveInteger(groups) || layer.inChannels % groups !== 0 || layer.filters % groups !== 0)
        fail(`groups must be a positive integer dividing inChannels (${layer.inChannels}) and filters (${layer.filters}) (found ${groups})`);
      requireImage('conv2d', inputShape);
      if (inputShape[2] !== layer.inChannels) fail(`conv2d expects ${layer.inChannels} input channels but receives ${inputShape[2]} (input shape ${formatShape(inputShape)})`);
      checkWeights(layer, layer.kernelSize[0] * layer.kernelSize[1] * (layer.inChannels / groups), layer.filters);
      return [...windowOutput(layer, inputShape, 'kernel'), layer.filters];
    }
    case 'maxpool2d':
    case 'avgpool2d': {
      if (!isPair(layer.poolSize)) fail(`poolSize must be two positive integers (found ${JSON.stringify(layer.poolSize)})`);
      requireImage(layer.kind, inputShape);
      return [...windowOutput(layer, inputShape, 'pool'), inputShape[2]];
    }
    case 'globalavgpool':
    case 'globalmaxpool':
      requireImage(layer.kind, inputShape);
      return [inputShape[2]];
    case 'batchnorm':
    case 'layernorm':
    case 'groupnorm': {
      const channels = inputShape[inputShape.length - 1];
      for (const key of ['scale', 'offset'] as const) {
        if (!(layer[key] instanceof Float32Array) || layer[key].length !== channels)
          fail(`${key} must be a Float32Array of ${channels} values (the input's last axis), found ${ArrayBuffer.isView(layer[key]) ? layer[key].length : typeof layer[key]}`);
        checkFinite(key, layer[key]);
      }
      if (layer.kind !== 'batchnorm' && !(Number.isFinite(layer.epsilon) && layer.epsilon >= 0)) fail(`epsilon must be a finite number ≥ 0 (found ${layer.epsilon})`);
      if (layer.kind === 'layernorm' && layer.rms !== undefined && layer.rms !== true) fail(`rms must be true or absent (found ${JSON.stringify(layer.rms)})`);
      if (layer.kind === 'groupnorm') {
        requireImage('groupnorm', inputShape);
        if (!isPositiveInteger(layer.groups) || channels % layer.groups !== 0) fail(`groupnorm groups must be a positive divisor of the ${channels} channels (found ${layer.groups})`);
      }
      return [...inputShape];
    }
    case 'add':
      for (const shape of inputShapes.slice(1))
        if (formatShape(shape) !== formatShape(inputShape)) fail(`add sums tensors of one shape, found ${inputShapes.map(formatShape).join(' and ')}`);
      return [...inputShape];
    case 'mul': {
      const gate = inputShapes[1];
      const channels = inputShape[inputShape.length - 1];
      if (formatShape(gate) !== formatShape(inputShape) && !(gate.length === 1 && gate[0] === channels))
        fail(`mul multiplies a tensor by one of its shape or by one value per channel, found ${formatShape(inputShape)} and ${formatShape(gate)} (expected ${formatShape(inputShape)} or [${channels}])`);
      return [...inputShape];
    }
    case 'concat': {
      const lead = (s: readonly number[]) => formatShape(s.slice(0, -1));
      for (const shape of inputShapes.slice(1))
        if (shape.length !== inputShape.length || lead(shape) !== lead(inputShape))
          fail(`concat joins tensors along the channel (last) axis; the other dimensions differ: ${inputShapes.map(formatShape).join(' and ')}`);
      return [...inputShape.slice(0, -1), inputShapes.reduce((sum, s) => sum + s[s.length - 1], 0)];
    }
    case 'gather': {
      const channels = inputShape[inputShape.length - 1];
      if (!Array.isArray(layer.indices) || layer.indices.length === 0 || !layer.indices.every((c) => Number.isInteger(c) && c >= 0 && c < channels))
        fail(`gather takes a non-empty list of channel indices from 0 to ${channels - 1} (the input's last axis), found ${Array.isArray(layer.indices) ? `[${layer.indices.slice(0, 8).join(', ')}${layer.indices.length > 8 ? ', …' : ''}]` : typeof layer.indices}`);
      return [...inputShape.slice(0, -1), layer.indices.length];
    }
    case 'upsample': {
      const scale = layer.scale;
      if (inputShape.length !== 3 && inputShape.length !== 1) fail(`upsample reads an image [H, W, C] or a pooled [C] (1×1), found ${formatShape(inputShape)}`);
      if (!Array.isArray(scale) || scale.length !== 2 || !scale.every((s) => Number.isInteger(s) && s >= 1 && s <= 1024))
        fail(`upsample scale must be two whole factors from 1 to 1024 (found ${JSON.stringify(scale)})`);
      if (layer.mode !== undefined && !UPSAMPLE_MODES.includes(layer.mode)) fail(`upsample mode must be one of ${UPSAMPLE_MODES.join(', ')} (found ${JSON.stringify(layer.mode)})`);
      const [h, w, c] = upsampleInput(inputShape);
      return [h * scale[0], w * scale[1], c];
    }
    case 'insertzeros': {
      const strides = layer.strides;
      if (inputShape.length !== 3) fail(`insertzeros reads an image [H, W, C], found ${formatShape(inputShape)}`);
      if (!Array.isArray(strides) || strides.length !== 2 || !strides.every((s) => Number.isInteger(s) && s >= 1 && s <= 64))
        fail(`insertzeros strides must be two whole numbers from 1 to 64 (found ${JSON.stringify(strides)})`);
      return [(inputShape[0] - 1) * strides[0] + 1, (inputShape[1] - 1) * strides[1] + 1, inputShape[2]];
    }
    case 'rearrange': {
      const size = shapeSize(inputShape);
      const { indices, offset, shape } = layer;
      if (!Array.isArray(shape) || shape.length < 1 || shape.length > 3 || !shape.every(isPositiveInteger)) fail(`rearrange shape must be 1 to 3 positive integers (found ${JSON.stringify(shape)})`);
      const count = shapeSize(shape);
      if (!(indices instanceof Int32Array) || indices.length !== count) fail(`rearrange indices must be an Int32Array of ${count} values (the output's size), found ${ArrayBuffer.isView(indices) ? indices.length : typeof indices}`);
      if (size >= 2 ** 24) fail(`rearrange reads ${size} values per sample: expected fewer than 2^24 (its indices are f32 on the GPU)`);
      const bad = indices.findIndex((k) => k < -1 || k >= size);
      if (bad >= 0) fail(`rearrange index ${indices[bad]} at ${bad} is outside the input's ${size} values (−1: none)`);
      if (offset !== null && (!(offset instanceof Float32Array) || offset.length !== count)) fail(`rearrange offset must be null or a Float32Array of ${count} values`);
      // −∞ masks attention's scores before their softmax (a causal mask); any other non-finite value is an error.
      checkFinite('offset', offset && offset.map((v) => (v === -Infinity ? 0 : v)));
      return [...shape];
    }
    case 'matmul': {
      const [a, b] = inputShapes;
      if (a.length !== 3 || b.length !== 3 || a[0] !== b[0] || a[2] !== b[1])
        fail(`matmul multiplies [B, M, K] by [B, K, N], found ${formatShape(a)} and ${formatShape(b)}`);
      return [a[0], a[1], b[2]];
    }
    case 'activation': {
      if (!ACTIVATION_FUNCTIONS.includes(layer.fn)) fail(`activation function '${layer.fn}' is not supported (${ACTIVATION_FUNCTIONS.join(', ')})`);
      for (const key of ['min', 'max', 'alpha', 'beta'] as const)
        if (layer[key] !== undefined && !Number.isFinite(layer[key])) fail(`${key} must be a finite number (found ${layer[key]})`);
      if (layer.fn === 'clip' && !((layer.min ?? -Infinity) < (layer.max ?? Infinity))) fail(`clip needs min < max (found ${layer.min}, ${layer.max})`);
      if (layer.fn === 'prelu') {
        const channels = inputShape[inputShape.length - 1];
        const size = shapeSize(inputShape);
        if (!(layer.slopes instanceof Float32Array) || (layer.slopes.length !== channels && layer.slopes.length !== size))
          fail(`prelu slopes must be a Float32Array of ${channels} values (one per channel) or ${size} (one per value), found ${ArrayBuffer.isView(layer.slopes) ? layer.slopes.length : typeof layer.slopes}`);
        checkFinite('slopes', layer.slopes);
      }
      return [...inputShape];
    }
    case 'embedding': {
      const { vocabulary, dims, table } = layer;
      if (!isPositiveInteger(vocabulary) || vocabulary > MAX_VOCABULARY || !isPositiveInteger(dims))
        fail(`embedding vocabulary and dims must be positive integers, the vocabulary at most ${MAX_VOCABULARY} (ids are f32 on the GPU), found ${vocabulary} and ${dims}`);
      if (inputShape.length !== 1) fail(`embedding reads token ids [T], found ${formatShape(inputShape)}`);
      if (!(table instanceof Float32Array) || table.length !== vocabulary * dims)
        fail(`embedding table must be a Float32Array of ${vocabulary}×${dims} values, found ${ArrayBuffer.isView(table) ? table.length : typeof table}`);
      checkFinite('table', table);
      if (layer.positions !== undefined) {
        const { pad, start } = layer.positions ?? {};
        // Token T's row is at most start + T: every row must be in the table.
        if (!(Number.isInteger(pad) && pad >= 0 && pad < MAX_VOCABULARY && Number.isInteger(start) && start >= 0 && start + inputShape[0] < vocabulary))
          fail(`embedding positions: expected a whole pad id and a whole start ≥ 0 with start + ${inputShape[0]} tokens below the table's ${vocabulary} rows, found pad ${pad} and start ${start}`);
      }
      return [1, inputShape[0], dims];
    }
    case 'lasttoken': {
      const [x, ids] = inputShapes;
      if (inputShapes.length !== 2 || x.length !== 3 || x[0] !== 1 || ids?.length !== 1 || ids[0] !== x[1] || !(Number.isInteger(layer.pad) && layer.pad >= 0 && layer.pad < MAX_VOCABULARY))
        fail(`lasttoken reads tokens [1, T, C] and their T ids, with a whole padding id ≥ 0, found ${inputShapes.map(formatShape).join(' and ')} and pad ${layer.pad}`);
      return [x[2]];
    }
    case 'flatten':
      return [shapeSize(inputShape)];
    case 'reshape':
      if (!Array.isArray(layer.shape) || layer.shape.length < 1 || layer.shape.length > 3 || !layer.shape.every(isPositiveInteger) || shapeSize(layer.shape) !== shapeSize(inputShape))
        fail(`reshape views its ${shapeSize(inputShape)} values as 1 to 3 positive sizes of that product, found ${JSON.stringify(layer.shape)}`);
      return [...layer.shape];
    case 'relu':
    case 'softmax':
      return [...inputShape];
    default:
      fail(`layer kind '${(layer as { kind: string }).kind}' is not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
  }
}
