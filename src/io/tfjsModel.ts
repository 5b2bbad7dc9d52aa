// TF.js Layers models (model.json + weight shards) in and out, browser-safe (no Node built-ins).
//
// Reading goes through TF.js itself: the parsed model.json and the concatenated weight shards are
// handed to tf.loadLayersModel through an in-memory IOHandler, and the loaded model's layers
// (their configs, weights and connections) become a Network. Writing keeps the original model
// topology and replaces the weights, encoded by tf.io.encodeWeights, so the result is TF.js's own
// format and loads unchanged with tf.loadLayersModel.
//
// Supported: Sequential models and functional chains (one input, one output, every layer called
// once on the previous one) of InputLayer, Dense, Conv2D, MaxPooling2D, Flatten,
// Activation(relu|linear|softmax), ReLU and Dropout (identity at inference, left out of the
// Network). Every rejection is an InputError of one line naming the source file.
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../errors.js';
import type { Activation, Conv2DLayer, DenseLayer, Layer, Network } from '../network/types.js';
import { checkModelJson, describe, isObject, SUPPORTED_DESCRIPTION, type CheckedModelJson, type Json, type LayerEntry } from './tfjsCheck.js';

/** What writeTfjsModel needs to write a model back: plain data, no tensors held. */
export interface TfjsModelHandle {
  network: Network;
  /** The file (or URL) the model was read from, for messages. */
  source: string;
  /** The model.json as read, less its weightsManifest (rewritten on output). */
  modelJson: Record<string, unknown>;
  /** Every weight of the model, in TF.js's order (LayersModel.weights). */
  weights: TfjsWeightEntry[];
}

export interface TfjsWeightEntry {
  /** The weight's name in the manifest, e.g. 'dense_1/kernel'. */
  name: string;
  /** The Keras name of the layer it belongs to (the Network layer's `name`). */
  layer: string;
  role: 'kernel' | 'bias';
  shape: number[];
}

const ACTIVATIONS: readonly Activation[] = ['relu', 'linear', 'softmax'];

function shapeText(shape: readonly (number | null)[]): string {
  return `[${shape.map((n) => (n === null ? 'null' : n)).join(', ')}]`;
}

function sameShape(a: readonly (number | null)[], b: readonly (number | null)[]): boolean {
  return a.length === b.length && a.every((n, i) => n === b[i]);
}

// ---------------------------------------------------------------------------------------------
// What a Network cannot express, checked with the rest of model.json (tfjsCheck.ts) before TF.js
// sees the model: the options TF.js would silently ignore.

function checkLayerEntry(entry: LayerEntry, source: string): void {
  const where = `${source}: layer ${entry.index} ('${entry.name}')`;
  const { className, config } = entry;
  if (className === 'Dense' || className === 'Conv2D' || className === 'Activation') activationOf(config, where);
  if (config.dtype !== undefined && config.dtype !== null && config.dtype !== 'float32')
    throw new InputError(`${where}: dtype: expected 'float32', found ${describe(config.dtype)}`);
  if (className === 'ReLU') {
    // TF.js's ReLU knows only max_value; Keras's negative_slope and threshold would be dropped.
    const defaults: [string, unknown][] = [
      ['max_value', null],
      ['negative_slope', 0],
      ['threshold', 0],
    ];
    for (const [field, value] of defaults) {
      const found = config[field];
      if (found !== undefined && found !== value)
        throw new InputError(`${where}: ReLU ${field}: expected ${value} (a plain relu), found ${describe(found)}`);
    }
  }
  if (className === 'Conv2D' && config.groups !== undefined && config.groups !== 1)
    throw new InputError(`${where}: Conv2D groups: expected 1, found ${describe(config.groups)}`);
}

/** Config fields that only matter for training: the loaded weights replace what they would make. */
const TRAINING_FIELDS = ['kernel_initializer', 'bias_initializer', 'kernel_regularizer', 'bias_regularizer', 'activity_regularizer', 'kernel_constraint', 'bias_constraint'];

/**
 * The topology TF.js is given: a copy without the training-only fields (an initializer TF.js does
 * not know, or a malformed one, would stop the load for nothing). The file's own topology is what
 * a pruned model is written with.
 */
function forLoading(modelTopology: Json): Json {
  const copy = structuredClone(modelTopology);
  const topology = (isObject(copy.model_config) ? copy.model_config : copy) as Json;
  const config = topology.config;
  const layers = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : [];
  for (const layer of layers as Json[]) {
    const layerConfig = layer.config as Json;
    for (const field of TRAINING_FIELDS) {
      delete layerConfig[field];
      delete layerConfig[field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())];
    }
  }
  return copy;
}

/** model.json checked (tfjsCheck.ts, then what a Network cannot express): what TF.js then builds is bounded by the weight files. */
export function checkTfjsModelJson(modelJson: unknown, source: string): CheckedModelJson {
  return checkModelJson(modelJson, source, (entry) => checkLayerEntry(entry, source));
}

// ---------------------------------------------------------------------------------------------
// The loaded TF.js model → Network.

/** Numbers from a config field that must be a list of positive integers of a given length. */
function intPair(value: unknown, where: string, field: string): [number, number] {
  const list = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(list) || list.length !== 2 || !list.every((n) => Number.isSafeInteger(n) && n > 0))
    throw new InputError(`${where}: ${field}: expected two positive integers, found ${describe(value)}`);
  return [list[0], list[1]];
}

function activationOf(config: Json, where: string): Activation {
  const activation = config.activation ?? 'linear';
  if (typeof activation !== 'string' || !(ACTIVATIONS as readonly string[]).includes(activation))
    throw new InputError(`${where}: activation: expected 'relu', 'linear' or 'softmax', found ${describe(activation)}`);
  return activation as Activation;
}

function checkChannelsLast(config: Json, where: string): void {
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast')
    throw new InputError(`${where}: data_format: expected 'channels_last', found ${describe(config.dataFormat)}`);
}

function paddingOf(config: Json, where: string): 'valid' | 'same' {
  const padding = config.padding ?? 'valid';
  if (padding !== 'valid' && padding !== 'same') throw new InputError(`${where}: padding: expected 'valid' or 'same', found ${describe(padding)}`);
  return padding;
}

/** A layer's weight values as float32 copies, checked to be finite. */
function weightValues(layer: tf.layers.Layer, where: string): Float32Array[] {
  return layer.getWeights().map((tensor, i) => {
    const values = Float32Array.from(tensor.dataSync() as Float32Array);
    const bad = values.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new InputError(`${where}: weight '${layer.weights[i].originalName}': expected finite values, found ${values[bad]} at flat index ${bad}`);
    return values;
  });
}

/** The shape the layer is called on (the layer is called once: layerChain checked it). */
function inputShapeOf(layer: tf.layers.Layer): (number | null)[] {
  const shape = layer.inboundNodes[0].inputShapes;
  return (Array.isArray(shape[0]) ? shape[0] : shape) as (number | null)[];
}

function convertLayer(layer: tf.layers.Layer, where: string): Layer | null {
  const config = layer.getConfig() as Json;
  const name = layer.name;
  switch (layer.getClassName()) {
    case 'Dropout':
      return null;
    case 'Activation': {
      const activation = activationOf(config, where);
      if (activation === 'linear') return null;
      return { kind: activation, name };
    }
    case 'ReLU':
      if (config.maxValue !== undefined && config.maxValue !== null)
        throw new InputError(`${where}: ReLU max_value: expected null (a plain relu), found ${describe(config.maxValue)}`);
      return { kind: 'relu', name };
    case 'Flatten':
      checkChannelsLast(config, where);
      return { kind: 'flatten', name };
    case 'MaxPooling2D': {
      checkChannelsLast(config, where);
      const poolSize = intPair(config.poolSize, where, 'pool_size');
      const strides = config.strides === undefined || config.strides === null ? poolSize : intPair(config.strides, where, 'strides');
      return { kind: 'maxpool2d', name, poolSize, strides, padding: paddingOf(config, where) };
    }
    case 'Dense': {
      const inputShape = inputShapeOf(layer);
      if (inputShape.length !== 2)
        throw new InputError(`${where}: Dense input: expected a flat input [batch, features], found shape ${shapeText(inputShape)} (add a Flatten before it)`);
      const [kernel, bias] = weightValues(layer, where);
      const [inputs, units] = layer.weights[0].shape as number[];
      const dense: DenseLayer = {
        kind: 'dense',
        name,
        kernel,
        inputs,
        units,
        bias: bias ?? null,
        activation: activationOf(config, where),
      };
      return dense;
    }
    case 'Conv2D': {
      checkChannelsLast(config, where);
      const dilation = intPair(config.dilationRate, where, 'dilation_rate');
      if (dilation[0] !== 1 || dilation[1] !== 1) throw new InputError(`${where}: dilation_rate: expected [1, 1], found ${shapeText(dilation)}`);
      const inputShape = inputShapeOf(layer);
      if (inputShape.length !== 4)
        throw new InputError(`${where}: Conv2D input: expected [batch, height, width, channels], found shape ${shapeText(inputShape)}`);
      const [kernel, bias] = weightValues(layer, where);
      const [kh, kw, inChannels, filters] = layer.weights[0].shape as number[]; // HWIO
      const conv: Conv2DLayer = {
        kind: 'conv2d',
        name,
        kernel,
        kernelSize: [kh, kw],
        inChannels,
        filters,
        bias: bias ?? null,
        strides: intPair(config.strides ?? [1, 1], where, 'strides'),
        padding: paddingOf(config, where),
        activation: activationOf(config, where),
      };
      return conv;
    }
    default:
      // Unreachable after checkLayerEntry, unless TF.js maps a class to another.
      throw new InputError(`${where}: unsupported layer class '${layer.getClassName()}': ${SUPPORTED_DESCRIPTION}`);
  }
}

/**
 * The model's layers from input to output, checking that they form one chain: one input, one
 * output, every layer called once, on the previous layer's output, and nothing off the chain.
 */
function layerChain(model: tf.LayersModel, where: (layer: tf.layers.Layer) => string, source: string): tf.layers.Layer[] {
  if (model.inputs.length !== 1 || model.outputs.length !== 1)
    throw new InputError(`${source}: modelTopology: expected a model with one input and one output, found ${model.inputs.length} inputs and ${model.outputs.length} outputs`);
  const chain: tf.layers.Layer[] = [];
  let layer = model.outputs[0].sourceLayer;
  while (layer.getClassName() !== 'InputLayer') {
    const nodes = layer.inboundNodes;
    if (nodes.length !== 1) throw new InputError(`${where(layer)}: expected a layer called once (a chain), found it called ${nodes.length} times`);
    const inbound = nodes[0].inboundLayers;
    if (inbound.length !== 1)
      throw new InputError(`${where(layer)}: expected exactly one inbound layer (a chain), found ${inbound.length}: ${inbound.map((l) => `'${l.name}'`).join(', ')}`);
    chain.unshift(layer);
    layer = inbound[0];
  }
  const onChain = new Set([layer, ...chain]);
  const off = (model.layers as tf.layers.Layer[]).find((l) => !onChain.has(l) && l.getClassName() !== 'InputLayer');
  if (off) throw new InputError(`${where(off)}: expected every layer on the one path from the input to the output, found this one off it`);
  return chain;
}

// ---------------------------------------------------------------------------------------------

/**
 * Reads a TF.js Layers model: `modelJson` is the parsed model.json, `weightData` the bytes of its
 * weight shards concatenated in manifest order, `source` the file name for messages.
 */
export async function parseTfjsModel(modelJson: unknown, weightData: ArrayBuffer, source: string): Promise<TfjsModelHandle> {
  const { modelTopology, entries, specs, bytes, paths } = checkTfjsModelJson(modelJson, source);
  const indexByName = new Map(entries.map((e) => [e.name, e.index]));
  const where = (layer: tf.layers.Layer) => `${source}: layer ${indexByName.get(layer.name) ?? '?'} ('${layer.name}')`;

  if (bytes !== weightData.byteLength) {
    const files = paths.length ? ` in ${paths.map((p) => `'${p}'`).join(', ')}` : '';
    throw new InputError(`${source}: weightsManifest: expected ${bytes} bytes of weight data for ${specs.length} weights, found ${weightData.byteLength}${files}`);
  }

  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: forLoading(modelTopology),
    weightSpecs: specs as tf.io.WeightsManifestEntry[],
    weightData,
    format: 'layers-model',
  };
  let model: tf.LayersModel;
  try {
    model = await tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: true });
  } catch (error) {
    const message = String((error as Error)?.message ?? error).split('\n')[0];
    throw new InputError(`${source}: TF.js cannot load the model: ${message}`);
  }

  try {
    const chain = layerChain(model, where, source);
    const inputShape = model.inputs[0].shape.slice(1);
    if (!inputShape.every((n): n is number => typeof n === 'number' && n > 0))
      throw new InputError(`${source}: input shape: expected fixed dimensions after the batch, found ${shapeText(model.inputs[0].shape)}`);
    const layers: Layer[] = [];
    const weights: TfjsWeightEntry[] = [];
    for (const layer of chain) {
      const converted = convertLayer(layer, where(layer));
      if (converted) layers.push(converted);
      layer.weights.forEach((w, i) => {
        weights.push({ name: w.originalName, layer: layer.name, role: i === 0 ? 'kernel' : 'bias', shape: [...w.shape] as number[] });
      });
    }
    const { weightsManifest: _manifest, ...rest } = modelJson as Json;
    return { network: { inputShape, layers }, source, modelJson: rest, weights };
  } finally {
    model.dispose();
  }
}

/**
 * Writes `network`'s weights into the model read as `handle`: the same model topology, the
 * kernels and biases of the network's layers of the same names (their shapes must match), as a
 * model.json whose weightsManifest points at one 'weights.bin', and that file's bytes (float32).
 * A network layer with no bias writes zeros where the model has a bias.
 */
export async function writeTfjsModel(handle: TfjsModelHandle, network: Network): Promise<{ modelJson: string; weightData: Uint8Array }> {
  const byName = new Map<string, DenseLayer | Conv2DLayer>();
  for (const layer of network.layers) if (layer.kind === 'dense' || layer.kind === 'conv2d') byName.set(layer.name, layer);
  const modelLayers = new Set(handle.weights.map((w) => w.layer));
  for (const name of byName.keys())
    if (!modelLayers.has(name)) throw new InputError(`network: layer '${name}': expected a layer with weights in ${handle.source}, found none of that name`);

  const named: { name: string; tensor: tf.Tensor }[] = [];
  try {
    for (const entry of handle.weights) {
      const layer = byName.get(entry.layer);
      if (!layer) throw new InputError(`network: expected a dense or conv2d layer '${entry.layer}' (as in ${handle.source}), found none`);
      const expected = entry.role === 'kernel' ? kernelShape(layer) : [layer.kind === 'dense' ? layer.units : layer.filters];
      if (!sameShape(expected, entry.shape))
        throw new InputError(`network: layer '${layer.name}': ${entry.role}: expected shape ${shapeText(entry.shape)} as in ${handle.source}, found ${shapeText(expected)}`);
      let values: Float32Array;
      if (entry.role === 'kernel') values = layer.kernel;
      else values = layer.bias ?? new Float32Array(entry.shape[0]);
      const count = entry.shape.reduce((p, n) => p * n, 1);
      if (values.length !== count)
        throw new InputError(`network: layer '${layer.name}': ${entry.role}: expected ${count} values for shape ${shapeText(entry.shape)}, found ${values.length}`);
      named.push({ name: entry.name, tensor: tf.tensor(values, entry.shape, 'float32') });
    }
    for (const layer of byName.values()) {
      const hasBias = handle.weights.some((w) => w.layer === layer.name && w.role === 'bias');
      if (!hasBias && layer.bias && layer.bias.some((v) => v !== 0))
        throw new InputError(`network: layer '${layer.name}': bias: expected none (the layer in ${handle.source} has use_bias false), found nonzero values`);
    }
    const { data, specs } = await tf.io.encodeWeights(named);
    const modelJson = { ...handle.modelJson, weightsManifest: [{ paths: ['weights.bin'], weights: specs }] };
    return { modelJson: JSON.stringify(modelJson), weightData: new Uint8Array(tf.io.concatenateArrayBuffers(data)) };
  } finally {
    for (const { tensor } of named) tensor.dispose();
  }
}

function kernelShape(layer: DenseLayer | Conv2DLayer): number[] {
  return layer.kind === 'dense' ? [layer.inputs, layer.units] : [...layer.kernelSize, layer.inChannels, layer.filters];
}
