// Shape inference and validation for a Network (types.ts), and which layers Net-Trim prunes.
//
// Conv and pool output sizes follow TensorFlow:
//   'valid': out = floor((in − k) / stride) + 1, no padding;
//   'same':  out = ceil(in / stride), total padding max((out − 1)·stride + k − in, 0) split as
//            floor(total / 2) before (top/left) and the rest after (bottom/right).
import { InputError } from '../errors.js';
import { SUPPORTED_LAYERS, type Conv2DLayer, type DenseLayer, type Layer, type Network } from './types.js';
import type { WindowShape } from '../gpu/kernels/forward.js';

/** Output size and leading (top/left) padding of one spatial axis of a conv or pool window. */
export interface AxisWindow {
  out: number;
  padBefore: number;
  padAfter: number;
}

/** One axis of a conv/pool window in TF semantics (out may be ≤ 0 for 'valid' with a window larger than the input). */
export function windowAxis(size: number, kernel: number, stride: number, padding: 'valid' | 'same'): AxisWindow {
  if (padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, padBefore: 0, padAfter: 0 };
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  const padBefore = Math.floor(total / 2);
  return { out, padBefore, padAfter: total - padBefore };
}

/** The spatial geometry of a conv2d or maxpool2d layer applied to an [H, W, C] input. */
export type WindowGeometry = WindowShape;

/** Geometry of a conv2d/maxpool2d layer on an input of shape [H, W, C] (assumed valid: see checkNetwork). */
export function windowGeometry(
  layer: { kind: 'conv2d' | 'maxpool2d'; strides: [number, number]; padding: 'valid' | 'same' } & ({ kernelSize: [number, number] } | { poolSize: [number, number] }),
  inputShape: readonly number[],
): WindowGeometry {
  const [inH, inW, channels] = inputShape;
  const [kernelH, kernelW] = 'kernelSize' in layer ? layer.kernelSize : layer.poolSize;
  const [strideH, strideW] = layer.strides;
  const h = windowAxis(inH, kernelH, strideH, layer.padding);
  const w = windowAxis(inW, kernelW, strideW, layer.padding);
  return { inH, inW, channels, kernelH, kernelW, strideH, strideW, outH: h.out, outW: w.out, padTop: h.padBefore, padLeft: w.padBefore };
}

export function shapeSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

const formatShape = (shape: readonly number[]) => `[${shape.join(', ')}]`;
const isPositiveInteger = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;
const isPair = (v: unknown): v is [number, number] => Array.isArray(v) && v.length === 2 && v.every(isPositiveInteger);

/** Thrown by layerOutputShape; checkNetwork prefixes it with the layer's position. */
class LayerShapeError extends InputError {}

function fail(message: string): never {
  throw new LayerShapeError(message);
}

function checkWeights(layer: DenseLayer | Conv2DLayer, rows: number, cols: number): void {
  if (!(layer.kernel instanceof Float32Array)) fail('kernel must be a Float32Array');
  if (layer.kernel.length !== rows * cols)
    fail(`kernel has ${layer.kernel.length} values, expected ${layer.kind === 'dense' ? `${rows}×${cols}` : `${layer.kernelSize.join('×')}×${layer.inChannels}×${layer.filters}`} = ${rows * cols}`);
  if (layer.bias !== null && !(layer.bias instanceof Float32Array)) fail('bias must be a Float32Array or null');
  if (layer.bias && layer.bias.length !== cols) fail(`bias has ${layer.bias.length} values, expected ${cols}`);
  for (const [what, values] of [['kernel', layer.kernel], ['bias', layer.bias]] as const)
    if (values) for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) fail(`${what} holds a non-finite value (${values[i]}) at index ${i}`);
  if (!['relu', 'linear', 'softmax'].includes(layer.activation)) fail(`activation '${layer.activation}' is not supported (relu, linear, softmax)`);
}

/**
 * The output shape of one sample after `layer`, given the sample's input shape. Throws an
 * InputError describing the mismatch (without the layer's position: checkNetwork adds it).
 */
export function layerOutputShape(layer: Layer, inputShape: readonly number[]): number[] {
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
      if (!isPair(layer.strides)) fail(`strides must be two positive integers (found ${JSON.stringify(layer.strides)})`);
      if (!isPositiveInteger(layer.inChannels) || !isPositiveInteger(layer.filters))
        fail(`inChannels and filters must be positive integers (found ${layer.inChannels}, ${layer.filters})`);
      if (layer.padding !== 'valid' && layer.padding !== 'same') fail(`padding must be 'valid' or 'same' (found '${layer.padding}')`);
      if (inputShape.length !== 3) fail(`conv2d expects an [H, W, C] input but receives shape ${formatShape(inputShape)}`);
      if (inputShape[2] !== layer.inChannels) fail(`conv2d expects ${layer.inChannels} input channels but receives ${inputShape[2]} (input shape ${formatShape(inputShape)})`);
      checkWeights(layer, layer.kernelSize[0] * layer.kernelSize[1] * layer.inChannels, layer.filters);
      const g = windowGeometry(layer, inputShape);
      if (g.outH < 1 || g.outW < 1)
        fail(`a ${layer.kernelSize.join('×')} 'valid' kernel does not fit in the ${inputShape[0]}×${inputShape[1]} input`);
      return [g.outH, g.outW, layer.filters];
    }
    case 'maxpool2d': {
      if (!isPair(layer.poolSize)) fail(`poolSize must be two positive integers (found ${JSON.stringify(layer.poolSize)})`);
      if (!isPair(layer.strides)) fail(`strides must be two positive integers (found ${JSON.stringify(layer.strides)})`);
      if (layer.padding !== 'valid' && layer.padding !== 'same') fail(`padding must be 'valid' or 'same' (found '${layer.padding}')`);
      if (inputShape.length !== 3) fail(`maxpool2d expects an [H, W, C] input but receives shape ${formatShape(inputShape)}`);
      const g = windowGeometry(layer, inputShape);
      if (g.outH < 1 || g.outW < 1) fail(`a ${layer.poolSize.join('×')} 'valid' pool does not fit in the ${inputShape[0]}×${inputShape[1]} input`);
      return [g.outH, g.outW, inputShape[2]];
    }
    case 'flatten':
      return [shapeSize(inputShape)];
    case 'relu':
    case 'softmax':
      return [...inputShape];
    default:
      fail(`layer kind '${(layer as { kind: string }).kind}' is not supported (supported: ${SUPPORTED_LAYERS.join(', ')})`);
  }
}

/**
 * Validates the whole chain and returns the shapes: entry i is the input shape of layer i, the
 * last entry (index layers.length) the network's output shape. Throws an InputError naming
 * `source`, the layer's index and name and the mismatch, e.g.
 * "model.json: layer 3 'dense_1' (dense): dense expects 800 inputs but receives 784".
 */
export function checkNetwork(network: Network, source = 'network'): number[][] {
  const { inputShape, layers } = network;
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every(isPositiveInteger))
    throw new InputError(`${source}: inputShape must be a non-empty list of positive integers (found ${JSON.stringify(inputShape)})`);
  if (!Array.isArray(layers) || layers.length === 0) throw new InputError(`${source}: the network has no layers`);
  const shapes: number[][] = [[...inputShape]];
  const names = new Set<string>();
  layers.forEach((layer, i) => {
    const label = `${source}: layer ${i} '${layer?.name}' (${layer?.kind})`;
    if (typeof layer?.name !== 'string' || layer.name === '') throw new InputError(`${source}: layer ${i} (${layer?.kind}) has no name`);
    if (names.has(layer.name)) throw new InputError(`${label}: another layer has the same name`);
    names.add(layer.name);
    try {
      shapes.push(layerOutputShape(layer, shapes[i]));
    } catch (error) {
      if (error instanceof LayerShapeError) throw new InputError(`${label}: ${error.message}`);
      throw error;
    }
  });
  return shapes;
}

/** The input shape of every layer (entry i for layer i), after validating the network. */
export function layerInputShapes(network: Network): number[][] {
  return checkNetwork(network).slice(0, network.layers.length);
}

export interface PrunableLayer {
  /** Position of the dense/conv2d layer in network.layers. */
  index: number;
  layer: DenseLayer | Conv2DLayer;
  /**
   * 'relu': the layer's output goes through a ReLU (fused, or the next layer is a relu layer) and
   * the post-ReLU output is the target; 'linear': the pre-activation is the target (e.g. logits,
   * including those of a layer with a fused softmax).
   */
  program: 'relu' | 'linear';
  /**
   * The layer whose output is the target: `index` itself (fused relu, linear, or the
   * pre-softmax logits of a fused softmax), or `index + 1` when a separate relu layer follows.
   */
  targetIndex: number;
  /** One sample's input shape ([N] dense, [H, W, C] conv) and target shape ([M], [Ho, Wo, cout]). */
  inputShape: number[];
  outputShape: number[];
}

/** The dense and conv2d layers in order, with their Net-Trim program (see PrunableLayer). */
export function prunableLayers(network: Network): PrunableLayer[] {
  const shapes = checkNetwork(network);
  const result: PrunableLayer[] = [];
  network.layers.forEach((layer, index) => {
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') return;
    const separateRelu = layer.activation === 'linear' && network.layers[index + 1]?.kind === 'relu';
    const program = layer.activation === 'relu' || separateRelu ? 'relu' : 'linear';
    result.push({ index, layer, program, targetIndex: separateRelu ? index + 1 : index, inputShape: shapes[index], outputShape: shapes[index + 1] });
  });
  return result;
}
