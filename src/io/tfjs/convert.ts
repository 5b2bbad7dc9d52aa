// A loaded TF.js LayersModel → a Network (a DAG of our layers), its weights as the writer needs
// them, and the BatchNormalizations folded into the conv or dense layer before them.
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import { networkGraph } from '../../network/graph.js';
import { windowSpan } from '../../network/shapes.js';
import { DEFAULT_INPUT_NAME, type Activation, type ActivationLayer, type Conv2DLayer, type DenseLayer, type Layer, type Network } from '../../network/types.js';
import { describe, SUPPORTED_DESCRIPTION, zeroPadding, type Json } from '../tfjsCheck.js';
import { checkChannelsLast, conv1d, conv2dTranspose, dilationsOf, intPair, paddingOf, TRANSPOSED_KERNEL, withZeroPadding } from './windowLayers.js';
import { single, unwrapped } from './fields.js';
import { gateOrder, perChannel, preluSlopes } from './layerShapes.js';
import { cropLayer, mergeLayers, type MergeKind } from '../../network/composite.js';
import { normalizationLayer, type Normalizations } from './normalization.js';
import { reshapeView, type ReshapeView } from './views.js';
import { enterInputs, layersInOrder, modelInputs, networkOutputs, outputParts } from './ports.js';

export interface TfjsWeightEntry {
  /** The weight's name in the manifest, e.g. 'dense_1/kernel'. */
  name: string;
  /** The Keras name of the layer it belongs to (the Network layer's `name`). */
  layer: string;
  /** 'kernel', 'depthwise_kernel', 'bias' (written from the network), or another ('gamma', …) written as read. */
  role: string;
  shape: number[];
  /** The values as read, for weights the network does not hold (BatchNormalization's). */
  values: Float32Array | null;
  /** How it is written: float32 unless int32 (a Normalization's count). */
  dtype?: 'int32';
}

/** A Reshape read as a view of the network tensor `source` (the writer's target_shape follows it). */
export interface TfjsView {
  layer: string;
  source: string;
  view: ReshapeView;
}

/** A BatchNormalization folded into `into` (the writer removes it from the topology). */
export interface TfjsFold {
  batchNorm: string;
  into: string;
}

/** The weights the network holds (written from it); any other role is written as read. */
export const NETWORK_ROLES = ['kernel', 'depthwise_kernel', 'pointwise_kernel', TRANSPOSED_KERNEL, 'bias'];

/** Keras activations and what they become: a fused one, or a separate layer after it. */
const FUSED: readonly Activation[] = ['relu', 'linear', 'softmax'];
const SEPARATE: Record<string, Omit<ActivationLayer, 'name' | 'kind'>> = {
  relu6: { fn: 'clip', min: 0, max: 6 },
  sigmoid: { fn: 'sigmoid' },
  tanh: { fn: 'tanh' },
  elu: { fn: 'elu', alpha: 1 },
  swish: { fn: 'silu' },
  gelu: { fn: 'gelu' },
  hardSigmoid: { fn: 'hardSigmoid', alpha: 0.2, beta: 0.5 },
  hard_sigmoid: { fn: 'hardSigmoid', alpha: 0.2, beta: 0.5 },
  selu: { fn: 'selu' },
  softplus: { fn: 'softplus' },
  softsign: { fn: 'softsign' },
  mish: { fn: 'mish' },
};
export const KERAS_ACTIVATIONS = [...FUSED, ...Object.keys(SEPARATE)];

export function activationName(config: Json, where: string): string {
  const activation = config.activation ?? 'linear';
  if (typeof activation !== 'string' || !KERAS_ACTIVATIONS.includes(activation))
    throw new InputError(`${where}: activation: expected one of ${KERAS_ACTIVATIONS.join(', ')}, found ${describe(activation)}`);
  return activation;
}

/** A layer's weight values as float32 copies, checked to be finite. */
function weightValues(layer: tf.layers.Layer, where: string): Map<string, Float32Array> {
  const values = new Map<string, Float32Array>();
  layer.getWeights().forEach((tensor, i) => {
    const data = Float32Array.from(tensor.dataSync() as Float32Array);
    const bad = data.findIndex((v) => !Number.isFinite(v));
    const name = layer.weights[i].originalName;
    if (bad >= 0) throw new InputError(`${where}: weight '${name}': expected finite values, found ${data[bad]} at flat index ${bad}`);
    values.set(name.slice(name.lastIndexOf('/') + 1), data);
  });
  return values;
}

const className0 = (layer: tf.layers.Layer) => layer.getClassName();

/** Layers that need an image: refused on a vector viewed as [1, 1, C] (their window would read one position). */
const IMAGE_ONLY = ['ZeroPadding2D', 'UpSampling2D', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D', 'DepthwiseConv2D', 'SeparableConv2D', 'MaxPooling1D', 'AveragePooling1D', 'GlobalAveragePooling1D', 'GlobalMaxPooling1D'];

/** The Network of a loaded model, with its weights and folds (see the file header). */
export function convertModel(
  model: tf.LayersModel,
  source: string,
  where: (layer: tf.layers.Layer) => string,
  shapes: ReadonlyMap<string, number[]>,
  normalizations: Normalizations,
): { network: Network; weights: TfjsWeightEntry[]; folds: TfjsFold[]; views: TfjsView[] } {
  const order = layersInOrder(model);
  // A sequence [steps, channels] runs as the image [1, steps, channels]: 1-D convs and pools are 2-D ones of height 1.
  const inputs = modelInputs(model, source);
  const layers: Layer[] = [];
  const { inputShape, inputName, parts } = enterInputs(model, inputs, layers);
  const weights: TfjsWeightEntry[] = [];
  const folds: TfjsFold[] = [];
  const views: TfjsView[] = [];
  // Layers whose Keras output is [1, 1, C] and ours the vector [C] (see views.ts).
  const pooled = new Set<string>();
  const tensorOf = new Map<string, string>(inputs.map((input) => [input.layer.name, input.layer.name]));
  // Shapes after the batch as tfjsCheck worked them out (TF.js leaves a Reshape's −1 unknown); TF.js's
  // where a Sequential model's layer has no name in the file.
  const shapeOf = (layer: tf.layers.Layer) => shapes.get(layer.name) ?? (layer.outputShape as number[]).slice(1);
  const inputShapeOf = (layer: tf.layers.Layer) => shapeOf(layer.inboundNodes[0].inboundLayers[0]);
  // ZeroPadding2D outputs: their source and [top, bottom, left, right], merged into the conv or pool that reads them.
  const padded = new Map<string, { source: string; pads: [number, number, number, number]; reader: string; nonNegative: boolean }>();
  const byName = new Map<string, Layer>();
  const emit = (layer: Layer, from: string[]) => {
    const previous = layers.length ? layers[layers.length - 1].name : inputName;
    layers.push(from.length === 1 && from[0] === previous ? layer : { ...layer, from });
    byName.set(layer.name, layers[layers.length - 1]);
    return layer.name;
  };
  /** Emits a dense/conv layer, and its activation as a separate layer when a Network cannot fuse it. */
  const emitWeighted = (layer: DenseLayer | Conv2DLayer, activation: string, from: string[]) => {
    const fused = (FUSED as readonly string[]).includes(activation);
    const out = emit({ ...layer, activation: fused ? (activation as Activation) : 'linear' }, from);
    return fused ? out : emit({ kind: 'activation', name: `${layer.name}/${activation}`, ...SEPARATE[activation] }, [out]);
  };

  for (const layer of order) {
    if (tensorOf.has(layer.name)) continue; // an InputLayer
    const at = where(layer);
    const name = layer.name;
    const inbound = layer.inboundNodes[0]?.inboundLayers ?? [];
    for (const l of inbound) {
      const pad = padded.get(l.name);
      if (pad && pad.reader !== name) throw new InputError(`${where(l)}: ZeroPadding2D is read by '${name}' (${className0(layer)}): expected it only before a Conv2D, DepthwiseConv2D or pooling layer, read by that layer alone`);
    }
    const pad = inbound.length === 1 ? padded.get(inbound[0].name) : undefined;
    const from = pad ? [pad.source] : inbound.map((l) => tensorOf.get(l.name)!);
    const values = weightValues(layer, at);
    // TF.js loaded each Normalization as a linear Activation of its name (normalization.ts).
    const [className, config] = unwrapped(normalizations.layers.has(name) ? 'Normalization' : layer.getClassName(), layer.getConfig() as Json, at);
    const readsPooled = inbound.some((l) => pooled.has(l.name));
    if (readsPooled && IMAGE_ONLY.includes(className))
      throw new InputError(`${at}: ${className} reads the vector '${inbound.find((l) => pooled.has(l.name))!.name}' viewed as [1, 1, C] or [1, C]: expected an image or a sequence (only a 1×1 Conv2D or Conv1D, a Dense, a Multiply gate, pointwise layers or a Reshape read a pooled tensor)`);
    const outputShape = shapeOf(layer);
    if (readsPooled && (outputShape.length === 3 || outputShape.length === 2) && outputShape.slice(0, -1).every((n) => n === 1)) pooled.add(name);
    const keep = (role: string) => (NETWORK_ROLES.includes(role) ? null : values.get(role)!);
    layer.weights.forEach((w) => {
      const own = w.originalName.slice(w.originalName.lastIndexOf('/') + 1);
      const role = className === 'Conv2DTranspose' && own === 'kernel' ? TRANSPOSED_KERNEL : own;
      // A SeparableConv2D is two of our layers: its depthwise kernel belongs to '<name>/depthwise'.
      const owner = className === 'SeparableConv2D' && role === 'depthwise_kernel' ? `${name}/depthwise` : name;
      weights.push({ name: w.originalName, layer: owner, role, shape: [...w.shape] as number[], values: keep(role) });
    });
    let out: string;
    switch (className) {
      case 'Dropout':
      case 'SpatialDropout1D':
      case 'GaussianNoise':
      case 'GaussianDropout':
      case 'AlphaDropout':
        out = from[0]; // noise and dropout: nothing at inference
        break;
      case 'LeakyReLU':
        out = emit({ kind: 'activation', name, fn: 'leakyRelu', alpha: (config.alpha as number | undefined) ?? 0.3 }, from);
        break;
      case 'ELU':
        out = emit({ kind: 'activation', name, fn: 'elu', alpha: (config.alpha as number | undefined) ?? 1 }, from);
        break;
      case 'PReLU':
        out = emit({ kind: 'activation', name, fn: 'prelu', slopes: preluSlopes(values.get('alpha')!, layer.weights[0].shape as number[], inputShapeOf(layer)) }, from);
        break;
      case 'ZeroPadding2D': {
        const readers = layer.outboundNodes.map((n) => n.outboundLayer);
        const source = from[0];
        const before = byName.get(source);
        // Zeros in a max pool's window are the padding's −∞ only when the input is never negative.
        const nonNegative = before !== undefined && (before.kind === 'relu' || (before.kind === 'activation' && before.fn === 'clip' && (before.min ?? -1) >= 0) || ((before.kind === 'dense' || before.kind === 'conv2d') && before.activation === 'relu'));
        if (readers.length !== 1) throw new InputError(`${at}: ZeroPadding2D read by ${readers.length} layers: expected one conv or pooling layer after it`);
        padded.set(name, { source, pads: zeroPadding(config.padding, at), reader: readers[0].name, nonNegative });
        out = source;
        break;
      }
      case 'Activation': {
        const activation = activationName(config, at);
        if (activation === 'linear') out = from[0];
        else if (activation === 'relu' || activation === 'softmax') out = emit({ kind: activation, name }, from);
        else out = emit({ kind: 'activation', name, ...SEPARATE[activation] }, from);
        break;
      }
      case 'ReLU': {
        const max = config.maxValue;
        out = max === undefined || max === null ? emit({ kind: 'relu', name }, from) : emit({ kind: 'activation', name, fn: 'clip', min: 0, max: max as number }, from);
        break;
      }
      case 'Embedding': {
        const [vocabulary, dims] = layer.weights[0].shape as number[];
        out = emit({ kind: 'embedding', name, table: values.get('embeddings')!, vocabulary, dims }, from);
        break;
      }
      case 'Flatten':
        checkChannelsLast(config, at);
        out = readsPooled ? from[0] : emit({ kind: 'flatten', name }, from);
        break;
      case 'Reshape': {
        const { view } = reshapeView(config, inputShapeOf(layer), at);
        views.push({ layer: name, source: from[0], view });
        if (view !== 'flatten') pooled.add(name);
        out = view !== 'flatten' || inputShapeOf(layer).length === 1 || readsPooled ? from[0] : emit({ kind: 'flatten', name }, from);
        break;
      }
      case 'Rescaling': {
        // x·scale + offset on every value: a per-channel affine map with one value for all channels.
        const channels = inputShapeOf(layer).at(-1)!;
        out = emit({ kind: 'batchnorm', name, scale: perChannel(config.scale, channels)!, offset: perChannel(config.offset ?? 0, channels)! }, from);
        break;
      }
      case 'Normalization':
        out = emit(normalizationLayer(name, normalizations), from);
        break;
      case 'Softmax':
        out = emit({ kind: 'softmax', name }, from);
        break;
      case 'MaxPooling2D':
      case 'AveragePooling2D': {
        checkChannelsLast(config, at);
        const poolSize = intPair(config.poolSize, at, 'pool_size');
        const strides = config.strides === undefined || config.strides === null ? poolSize : intPair(config.strides, at, 'strides');
        const padding = withZeroPadding(paddingOf(config, at), pad, layer, poolSize, strides, at);
        if (pad && className === 'MaxPooling2D' && !pad.nonNegative)
          throw new InputError(`${at}: MaxPooling2D after ZeroPadding2D on values that may be negative: expected a ReLU before the padding (zeros would win the max)`);
        out = emit(className === 'MaxPooling2D' ? { kind: 'maxpool2d', name, poolSize, strides, padding } : { kind: 'avgpool2d', name, poolSize, strides, padding, countIncludePad: pad !== undefined }, from);
        break;
      }
      case 'GlobalAveragePooling2D':
      case 'GlobalMaxPooling2D':
      case 'GlobalAveragePooling1D':
      case 'GlobalMaxPooling1D':
        checkChannelsLast(config, at);
        out = emit({ kind: className.startsWith('GlobalMax') ? 'globalmaxpool' : 'globalavgpool', name }, from);
        break;
      case 'UpSampling2D':
        checkChannelsLast(config, at);
        // TF.js's bilinear resizes with neither aligned corners nor half-pixel centres: source o/s.
        out = emit({ kind: 'upsample', name, scale: intPair(config.size ?? [2, 2], at, 'size'), ...(config.interpolation === 'bilinear' ? { mode: 'bilinear-asymmetric' as const } : {}) }, from);
        break;
      case 'MaxPooling1D':
      case 'AveragePooling1D': {
        checkChannelsLast(config, at);
        const size = single(config.poolSize, at, 'pool_size', 2);
        const stride = single(config.strides, at, 'strides', size);
        const window = { poolSize: [1, size] as [number, number], strides: [1, stride] as [number, number], padding: paddingOf(config, at) };
        out = emit(className === 'MaxPooling1D' ? { kind: 'maxpool2d', name, ...window } : { kind: 'avgpool2d', name, ...window, countIncludePad: false }, from);
        break;
      }
      case 'Conv1D':
        out = emitWeighted(conv1d(name, config, values, readsPooled, layer.weights[0].shape as number[], at), activationName(config, at), from);
        break;
      case 'Add':
        out = emit({ kind: 'add', name }, from);
        break;
      case 'Average':
      case 'Maximum':
      case 'Minimum':
        for (const l of mergeLayers(className.toLowerCase() as MergeKind, name, from, outputShape[outputShape.length - 1])) out = emit(l, l.from!);
        out = name;
        break;
      case 'Conv2DTranspose': {
        // Zeros between the pixels (strides above 1), then the conv with the kernel flipped.
        const parts = conv2dTranspose(name, config, values, inputShapeOf(layer), layer.weights[0].shape as number[], at);
        const conv = parts.pop() as Conv2DLayer;
        out = emitWeighted(conv, activationName(config, at), parts.length ? [emit(parts[0], from)] : from);
        break;
      }
      case 'Cropping2D':
        out = emit(cropLayer(name, inputShapeOf(layer), zeroPadding(config.cropping, at, 'cropping')), from);
        break;
      case 'Multiply': {
        // A gate of one value per channel may come first; ours comes second. Three or more of one
        // shape: products of two, left to right.
        const both = inbound.map(shapeOf);
        const order = from.length === 2 && gateOrder(both) !== both ? [from[1], from[0]] : from;
        out = order[0];
        order.slice(1).forEach((f, k) => (out = emit({ kind: 'mul', name: k === order.length - 2 ? name : `${name}:${k + 1}`, from: [out, f] }, [out, f])));
        break;
      }
      case 'Concatenate':
        out = emit({ kind: 'concat', name }, from);
        break;
      case 'LayerNormalization': {
        const channels = inputShapeOf(layer).at(-1)!;
        const scale = values.get('gamma') ?? new Float32Array(channels).fill(1);
        const offset = values.get('beta') ?? new Float32Array(channels);
        out = emit({ kind: 'layernorm', name, scale, offset, epsilon: (config.epsilon as number | undefined) ?? 1e-3 }, from);
        break;
      }
      case 'Dense': {
        const [inputs, units] = layer.weights[0].shape as number[];
        if (inputShapeOf(layer).length >= 2 && !readsPooled) {
          // Dense on an image (or a sequence) acts on each position's channels: a 1×1 conv (kernel [C, K]: HWIO's values).
          const conv: Conv2DLayer = { kind: 'conv2d', name, kernel: values.get('kernel')!, kernelSize: [1, 1], inChannels: inputs, filters: units, bias: values.get('bias') ?? null, strides: [1, 1], padding: 'valid', activation: 'linear' };
          out = emitWeighted(conv, activationName(config, at), from);
          break;
        }
        out = emitWeighted({ kind: 'dense', name, kernel: values.get('kernel')!, inputs, units, bias: values.get('bias') ?? null, activation: 'linear' }, activationName(config, at), from);
        break;
      }
      case 'Conv2D':
      case 'DepthwiseConv2D': {
        if (readsPooled) {
          // A 1×1 conv of a [1, 1, C] tensor is a dense layer on [C] (kernel [1, 1, C, F]: the same values as [C, F]).
          const [kh, kw, inputs, units] = layer.weights[0].shape as number[];
          if (className !== 'Conv2D' || kh !== 1 || kw !== 1) throw new InputError(`${at}: ${className} of kernel ${kh}×${kw} on a tensor viewed as [1, 1, C]: expected a 1×1 Conv2D`);
          out = emitWeighted({ kind: 'dense', name, kernel: values.get('kernel')!, inputs, units, bias: values.get('bias') ?? null, activation: 'linear' }, activationName(config, at), from);
          break;
        }
        checkChannelsLast(config, at);
        const dilation = intPair(config.dilationRate ?? [1, 1], at, 'dilation_rate');
        const depthwise = className === 'DepthwiseConv2D';
        // TF's depthwise kernel [kh, kw, cin, multiplier] is, value for value, our grouped HWIO kernel
        // [kh, kw, 1, cin·multiplier] with groups = cin (output channel c·multiplier + m).
        const [kh, kw, cin, last] = layer.weights[0].shape as number[];
        const conv: Conv2DLayer = {
          kind: 'conv2d', name, kernel: values.get(depthwise ? 'depthwise_kernel' : 'kernel')!, kernelSize: [kh, kw], inChannels: cin, filters: depthwise ? cin * last : last,
          bias: values.get('bias') ?? null, strides: intPair(config.strides ?? [1, 1], at, 'strides'), padding: withZeroPadding(paddingOf(config, at), pad, layer, windowSpan([kh, kw], dilation), intPair(config.strides ?? [1, 1], at, 'strides'), at),
          ...(depthwise ? { groups: cin } : {}), ...dilationsOf(dilation), activation: 'linear',
        };
        out = emitWeighted(conv, activationName(config, at), from);
        break;
      }
      case 'SeparableConv2D': {
        // A depthwise conv (groups = cin, no bias) then a 1×1 conv with the bias and the activation.
        checkChannelsLast(config, at);
        const dilation = intPair(config.dilationRate ?? [1, 1], at, 'dilation_rate');
        const [kh, kw, cin, multiplier] = layer.weights.find((w) => w.originalName.endsWith('/depthwise_kernel'))!.shape as number[];
        const filters = (layer.weights.find((w) => w.originalName.endsWith('/pointwise_kernel'))!.shape as number[])[3];
        const strides = intPair(config.strides ?? [1, 1], at, 'strides');
        const depthwise = emit(
          { kind: 'conv2d', name: `${name}/depthwise`, kernel: values.get('depthwise_kernel')!, kernelSize: [kh, kw], inChannels: cin, filters: cin * multiplier, bias: null, strides, padding: withZeroPadding(paddingOf(config, at), pad, layer, windowSpan([kh, kw], dilation), strides, at), groups: cin, ...dilationsOf(dilation), activation: 'linear' },
          from,
        );
        out = emitWeighted(
          { kind: 'conv2d', name, kernel: values.get('pointwise_kernel')!, kernelSize: [1, 1], inChannels: cin * multiplier, filters, bias: values.get('bias') ?? null, strides: [1, 1], padding: 'valid', activation: 'linear' },
          activationName(config, at),
          [depthwise],
        );
        break;
      }
      case 'BatchNormalization': {
        const channels = (layer.weights.find((w) => w.originalName.endsWith('/moving_mean'))!.shape as number[])[0];
        const epsilon = (config.epsilon as number | undefined) ?? 1e-3;
        const gamma = values.get('gamma');
        const beta = values.get('beta');
        const [mean, variance] = [values.get('moving_mean')!, values.get('moving_variance')!];
        const scale = Float64Array.from({ length: channels }, (_, c) => (gamma ? gamma[c] : 1) / Math.sqrt(variance[c] + epsilon));
        const offset = Float64Array.from({ length: channels }, (_, c) => (beta ? beta[c] : 0) - scale[c] * mean[c]);
        const before = byName.get(from[0]);
        const inbound = layer.inboundNodes[0].inboundLayers[0];
        const readers = inbound.outboundNodes.length;
        if (before && (before.kind === 'dense' || before.kind === 'conv2d') && before.activation === 'linear' && before.name === inbound.name && readers === 1) {
          // Exact: W' = W·scale per output, b' = scale·b + offset.
          before.kernel = Float32Array.from(before.kernel, (w, i) => w * scale[i % channels]);
          before.bias = Float32Array.from(offset, (c, f) => scale[f] * (before.bias?.[f] ?? 0) + c);
          folds.push({ batchNorm: name, into: before.name });
          out = before.name;
        } else out = emit({ kind: 'batchnorm', name, scale: Float32Array.from(scale), offset: Float32Array.from(offset) }, from);
        break;
      }
      default:
        throw new InputError(`${at}: unsupported layer class '${className}': ${SUPPORTED_DESCRIPTION}`);
    }
    tensorOf.set(name, out);
  }
  // A chain reads its input implicitly: the input's name matters only where a layer names it.
  const named = layers.some((l) => l.from?.includes(inputName));
  const inputNames = new Set(inputs.map((input) => input.layer.name));
  // A Keras output of one axis, or a pooled [1, 1, C] that ours holds as [C], is a vector already.
  const output = networkOutputs(model, tensorOf, inputNames, (keras) => pooled.has(keras.name) || shapeOf(keras).length === 1, layers, source);
  const network: Network = { inputShape, ...(named && inputName !== DEFAULT_INPUT_NAME ? { inputName } : {}), ...(parts ? { inputParts: parts } : {}), layers };
  if (layers[layers.length - 1].name !== output.layer) throw new InputError(`${source}: the output is computed by '${output.layer}', not by the last layer`);
  if (output.parts) {
    const graph = networkGraph(network, source);
    network.outputParts = outputParts(output.parts, (tensor) => graph.outputShapes[layers.findIndex((l) => l.name === tensor)]);
  }
  networkGraph(network, source);
  return { network, weights, folds, views };
}
