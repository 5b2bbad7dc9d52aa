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
import type { Conv2DLayer, DenseLayer, Network, WeightStorage } from '../network/types.js';
import { activationName, convertModel, type TfjsFold, type TfjsView, type TfjsWeightEntry } from './tfjs/convert.js';
import { hwioToKerasTransposed, TRANSPOSED_KERNEL } from './tfjs/windowLayers.js';
import { networkGraph } from '../network/graph.js';
import { viewTarget } from './tfjs/views.js';
import { readNormalizations, withoutNormalizations, type Normalizations } from './tfjs/normalization.js';
import { storedWeights, storeLayers, withStorage } from './tfjs/storage.js';
import { silenceNodeBackendHint } from './tfjs/quiet.js';
export type { TfjsFold };
import { checkModelJson, describe, isObject, type CheckedModelJson, type Json, type LayerEntry } from './tfjsCheck.js';
import { unwrapped } from './tfjs/fields.js';
import { withFixedInput } from './tfjs/openInput.js';
import { fixedAxesNote, type FixedAxis, type InputSizes } from './inputSizes.js';

export type { TfjsWeightEntry };

/** What writeTfjsModel needs to write a model back: plain data, no tensors held. */
export interface TfjsModelHandle {
  network: Network;
  /** The file (or URL) the model was read from, for messages. */
  source: string;
  /** The model.json as read, less its weightsManifest (rewritten on output). */
  modelJson: Record<string, unknown>;
  /** Every weight of the model as written, in TF.js's order (LayersModel.weights; folded BatchNorms' left out). */
  weights: TfjsWeightEntry[];
  /** The BatchNormalizations folded into the layer before them. */
  folds: TfjsFold[];
  /** The Reshapes read as views of a network tensor. */
  views: TfjsView[];
  /** The Normalization layers (read here: TF.js has none). */
  normalizations: string[];
  /** How the model's users hold a sample: NHWC images, or NLC sequences (a [steps, channels] input). */
  sampleLayout: 'nhwc' | 'nlc';
  /** With several inputs (network.inputParts): each one's layout, in that order. */
  partLayouts?: Array<'nhwc' | 'nlc'>;
  /** The input axes the model leaves open besides the batch, as they were fixed to read it. */
  fixedAxes?: FixedAxis[];
  /** The weights stored as float16 or quantized to uint8 or uint16, by name, as read: written so again (tfjs/storage.ts). */
  storedWeights?: Record<string, WeightStorage>;
}

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
  const [className, config] = unwrapped(entry.className, entry.config, where);
  if (['Dense', 'Conv1D', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'Activation'].includes(className)) activationName(config, where);
  // An input of token ids is int32 (Keras: Input(shape=(T,), dtype='int32') before an Embedding).
  if (config.dtype !== undefined && config.dtype !== null && config.dtype !== 'float32' && !(className === 'InputLayer' && config.dtype === 'int32'))
    throw new InputError(`${where}: dtype: expected 'float32'${className === 'InputLayer' ? " (or 'int32' token ids)" : ''}, found ${describe(config.dtype)}`);
  if (className === 'ReLU') {
    // TF.js's ReLU knows only max_value (a clipped ReLU); Keras's negative_slope and threshold would be dropped.
    const defaults: [string, unknown][] = [
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
function forLoading(modelTopology: Json, normalizations: Normalizations): Json {
  const copy = structuredClone(modelTopology);
  const topology = (isObject(copy.model_config) ? copy.model_config : copy) as Json;
  const config = topology.config;
  const layers = Array.isArray(config) ? config : isObject(config) && Array.isArray(config.layers) ? config.layers : [];
  withoutNormalizations(layers as Json[], normalizations.layers);
  for (const layer of layers as Json[]) {
    // TimeDistributed's Dense has its own initializers.
    const layerConfig = (layer.class_name === 'TimeDistributed' ? ((layer.config as Json).layer as Json).config : layer.config) as Json;
    for (const field of TRAINING_FIELDS) {
      delete layerConfig[field];
      delete layerConfig[field.replace(/_(\w)/g, (_, c: string) => c.toUpperCase())];
    }
  }
  return copy;
}

/** model.json checked (tfjsCheck.ts, then what a Network cannot express): what TF.js then builds is bounded by the weight files. */
export function checkTfjsModelJson(modelJson: unknown, source: string, sizes?: InputSizes): CheckedModelJson & { fixed: FixedAxis[] } {
  // An input's open axes (Input(shape=(None,))) are fixed in a copy that is checked and loaded.
  const { json, fixed } = withFixedInput(modelJson, source, sizes);
  return { ...checkModelJson(json, source, (entry) => checkLayerEntry(entry, source)), fixed };
}

// ---------------------------------------------------------------------------------------------

/**
 * Reads a TF.js Layers model: `modelJson` is the parsed model.json, `weightData` the bytes of its
 * weight shards concatenated in manifest order, `source` the file name for messages. `sizes`: for
 * input axes the model leaves open (inputSizes.ts); the model written back keeps them open.
 */
export async function parseTfjsModel(modelJson: unknown, weightData: ArrayBuffer, source: string, sizes?: InputSizes): Promise<TfjsModelHandle> {
  silenceNodeBackendHint();
  const checked = checkTfjsModelJson(modelJson, source, sizes);
  const { modelTopology, entries, specs, bytes, paths, shapes } = checked;
  const indexByName = new Map(entries.map((e) => [e.name, e.index]));
  const where = (layer: tf.layers.Layer) => `${source}: layer ${indexByName.get(layer.name) ?? '?'} ('${layer.name}')`;

  if (bytes !== weightData.byteLength) {
    const files = paths.length ? ` in ${paths.map((p) => `'${p}'`).join(', ')}` : '';
    throw new InputError(`${source}: weightsManifest: expected ${bytes} bytes of weight data for ${specs.length} weights, found ${weightData.byteLength}${files}`);
  }

  const normalizations = readNormalizations(checked, weightData, source);
  const artifacts: tf.io.ModelArtifacts = {
    modelTopology: forLoading(modelTopology, normalizations),
    weightSpecs: normalizations.specs as tf.io.WeightsManifestEntry[],
    weightData: normalizations.weightData,
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
    const converted = convertModel(model, source, where, shapes, normalizations);
    const { network, folds, views } = converted;
    const weights = [...converted.weights, ...normalizations.weights];
    const { weightsManifest: _manifest, ...rest } = modelJson as Json;
    const written = withoutFolds(rest, weights, folds);
    const layouts = model.inputs.map((input) => (input.shape.length === 3 ? 'nlc' : 'nhwc') as 'nlc' | 'nhwc');
    const fixedAxes = checked.fixed.length ? { fixedAxes: checked.fixed } : {};
    const partLayouts = network.inputParts ? { partLayouts: layouts } : {};
    // Quantized weights: each layer records how (Layer.storage), and pruning rounds the new ones so.
    const stored = storedWeights(specs);
    storeLayers(network, written.weights, stored, folds);
    return { network, source, modelJson: written.modelJson, weights: written.weights, folds, views, normalizations: [...normalizations.layers.keys()], sampleLayout: layouts[0], ...partLayouts, ...fixedAxes, ...(Object.keys(stored).length ? { storedWeights: stored } : {}) };
  } finally {
    model.dispose();
  }
}

/**
 * Writes `network`'s weights into the model read as `handle`: the same model topology, the
 * kernels and biases of the network's layers of the same names (their shapes must match), as a
 * model.json whose weightsManifest points at one 'weights.bin', and that file's bytes (float32).
 * A network layer with no bias writes zeros where the model has a bias.
 *
 * `removed` (removeUnreadUnits' `kept`): the network has fewer channels than the model, and by
 * layer name the channels each kept. Then the weights take the network's shapes, the Dense units
 * and Conv2D/SeparableConv2D filters in model.json follow, and a BatchNormalization's statistics
 * keep the channels its layer kept.
 */
export async function writeTfjsModel(handle: TfjsModelHandle, network: Network, removed?: ReadonlyMap<string, Int32Array>): Promise<{ modelJson: string; weightData: Uint8Array }> {
  silenceNodeBackendHint();
  const resized = removed !== undefined && removed.size > 0;
  const byName = new Map<string, DenseLayer | Conv2DLayer>();
  for (const layer of network.layers) if (layer.kind === 'dense' || layer.kind === 'conv2d') byName.set(layer.name, layer);
  const modelLayers = new Set(handle.weights.map((w) => w.layer));
  for (const name of byName.keys())
    if (!modelLayers.has(name)) throw new InputError(`network: layer '${name}': expected a layer with weights in ${handle.source}, found none of that name`);

  const named: { name: string; tensor: tf.Tensor }[] = [];
  try {
    for (const entry of handle.weights) {
      if (entry.values) {
        // Not the network's to change (a BatchNormalization's statistics): as read, less removed channels.
        // Per-channel values lose the removed channels (a Normalization's count is one value); a
        // PReLU's alpha [..., C] loses them at each position.
        const channels = entry.shape[entry.shape.length - 1];
        const kept = entry.shape.length >= 1 && channels > 1 ? removed?.get(entry.layer) : undefined;
        const dtype = entry.dtype ?? 'float32';
        if (kept) {
          const lead = entry.values.length / channels;
          const values = Float32Array.from({ length: lead * kept.length }, (_, i) => entry.values![Math.floor(i / kept.length) * channels + kept[i % kept.length]]);
          named.push({ name: entry.name, tensor: tf.tensor(values, [...entry.shape.slice(0, -1), kept.length], dtype) });
        }
        else named.push({ name: entry.name, tensor: tf.tensor(entry.values, entry.shape, dtype) });
        continue;
      }
      const layer = byName.get(entry.layer);
      if (!layer) throw new InputError(`network: expected a dense or conv2d layer '${entry.layer}' (as in ${handle.source}), found none`);
      const isKernel = entry.role !== 'bias';
      // A Conv2DTranspose's kernel is [kh, kw, filters, cin], ours flipped (tfjs/convert.ts).
      const transposed = entry.role === TRANSPOSED_KERNEL && layer.kind === 'conv2d';
      const expected = transposed ? [...layer.kernelSize, layer.filters, layer.inChannels] : isKernel ? kernelShape(layer, entry.shape.length) : [layer.kind === 'dense' ? layer.units : layer.filters];
      const shape = resized && expected.length === entry.shape.length ? expected : entry.shape;
      if (!sameShape(expected, shape))
        throw new InputError(`network: layer '${layer.name}': ${entry.role}: expected shape ${shapeText(entry.shape)} as in ${handle.source}, found ${shapeText(expected)}`);
      let values: Float32Array;
      if (transposed) values = hwioToKerasTransposed(layer.kernel, layer.kernelSize, layer.inChannels, layer.filters);
      else if (isKernel) values = layer.kernel;
      else values = layer.bias ?? new Float32Array(entry.shape[0]);
      const count = shape.reduce((p, n) => p * n, 1);
      if (values.length !== count)
        throw new InputError(`network: layer '${layer.name}': ${entry.role}: expected ${count} values for shape ${shapeText(shape)}, found ${values.length}`);
      named.push({ name: entry.name, tensor: tf.tensor(values, shape, 'float32') });
    }
    for (const layer of byName.values()) {
      const hasBias = handle.weights.some((w) => w.layer === layer.name && w.role === 'bias');
      if (!hasBias && layer.bias && layer.bias.some((v) => v !== 0))
        throw new InputError(`network: layer '${layer.name}': bias: expected none (the layer in ${handle.source} has use_bias false), found nonzero values`);
    }
    const encoded = await tf.io.encodeWeights(named);
    // Each weight stored as read: the network's by its layer's storage (its grid may be new), others as in the manifest.
    const entries = new Map(handle.weights.map((w) => [w.name, w]));
    const storedAs = (name: string) => {
      const entry = entries.get(name);
      if (!entry || entry.values) return handle.storedWeights?.[name];
      return byName.get(entry.layer)?.storage?.[entry.role === 'bias' ? 'bias' : 'kernel'];
    };
    const { data, specs } = withStorage(tf.io.concatenateArrayBuffers(encoded.data), encoded.specs, storedAs);
    const modelJson = { ...(resized ? withUnits(handle, network, byName, removed) : handle.modelJson), weightsManifest: [{ paths: ['weights.bin'], weights: specs }] };
    return { modelJson: JSON.stringify(modelJson), weightData: data };
  } finally {
    for (const { tensor } of named) tensor.dispose();
  }
}

/**
 * The kernel's shape in the file: a dense layer read from a 1×1 Conv2D (rank 4) keeps
 * [1, 1, inputs, units] ([1, inputs, units] from a Conv1D), a 1×1 conv read from a Dense on an
 * image (rank 2) [inputs, units].
 */
function kernelShape(layer: DenseLayer | Conv2DLayer, rank: number): number[] {
  if (layer.kind === 'dense') return rank === 4 ? [1, 1, layer.inputs, layer.units] : rank === 3 ? [1, layer.inputs, layer.units] : [layer.inputs, layer.units];
  if (rank === 2) return [layer.inChannels, layer.filters];
  // A Conv1D: [k, cin, filters] (ours is 1×k).
  if (rank === 3) return [layer.kernelSize[1], layer.inChannels, layer.filters];
  const groups = layer.groups ?? 1;
  // A depthwise conv (groups = cin) is stored as TF's [kh, kw, cin, multiplier].
  return groups > 1 ? [...layer.kernelSize, layer.inChannels, layer.filters / layer.inChannels] : [...layer.kernelSize, layer.inChannels, layer.filters];
}

/** The topology's layer entries (a Sequential's list, or a functional model's config.layers). */
function topologyLayers(modelJson: Json): Json[] {
  const topology = (isObject((modelJson.modelTopology as Json).model_config) ? (modelJson.modelTopology as Json).model_config : modelJson.modelTopology) as Json;
  const config = topology.config as Json | Json[];
  return (Array.isArray(config) ? config : (config.layers as Json[])) as Json[];
}

/** A copy of model.json whose Dense units, Conv1D/Conv2D/SeparableConv2D filters, Embedding dims, Reshape targets and per-channel Rescalings are the network's. */
function withUnits(handle: TfjsModelHandle, network: Network, byName: Map<string, DenseLayer | Conv2DLayer>, removed: ReadonlyMap<string, Int32Array>): Json {
  const copy = structuredClone(handle.modelJson);
  const graph = networkGraph(network);
  const shapeOf = (tensor: string) => {
    const index = network.layers.findIndex((l) => l.name === tensor);
    return index < 0 ? network.inputShape : graph.outputShapes[index];
  };
  for (const entry of topologyLayers(copy)) {
    const config = entry.config as Json;
    const layer = byName.get(config.name as string);
    if (layer?.kind === 'conv2d' && entry.class_name === 'TimeDistributed') ((config.layer as Json).config as Json).units = layer.filters;
    if (layer?.kind === 'dense' && entry.class_name === 'Dense') config.units = layer.units;
    const conv = entry.class_name === 'Conv2D' || entry.class_name === 'Conv1D' || entry.class_name === 'Conv2DTranspose';
    if (layer?.kind === 'dense' && conv) config.filters = layer.units;
    if (layer?.kind === 'conv2d' && entry.class_name === 'Dense') config.units = layer.filters;
    if (layer?.kind === 'conv2d' && (conv || entry.class_name === 'SeparableConv2D')) config.filters = layer.filters;
    const view = handle.views.find((v) => v.layer === config.name);
    if (view) config[config.target_shape !== undefined ? 'target_shape' : 'targetShape'] = viewTarget(view.view, shapeOf(view.source));
    const kept = removed.get(config.name as string);
    if (kept && entry.class_name === 'Embedding') config[config.output_dim !== undefined ? 'output_dim' : 'outputDim'] = kept.length;
    const perChannel = entry.class_name === 'Rescaling' ? ['scale', 'offset'] : entry.class_name === 'Normalization' ? ['mean', 'variance'] : [];
    if (kept) for (const field of perChannel) if (Array.isArray(config[field])) config[field] = Array.from(kept, (c) => (config[field] as number[])[c]);
  }
  return copy;
}

/**
 * The model.json and weight list the folds leave: each folded BatchNormalization out of the
 * topology (its readers read the layer it was folded into) and out of the weights; that layer
 * with use_bias true and a bias weight.
 */
function withoutFolds(modelJson: Json, weights: TfjsWeightEntry[], folds: TfjsFold[]): { modelJson: Json; weights: TfjsWeightEntry[] } {
  if (!folds.length) return { modelJson, weights };
  const copy = structuredClone(modelJson);
  const topology = (isObject((copy.modelTopology as Json).model_config) ? (copy.modelTopology as Json).model_config : copy.modelTopology) as Json;
  const config = topology.config as Json | Json[];
  const list = topologyLayers(copy);
  const nameOf = (entry: Json) => (entry.name as string | undefined) ?? ((entry.config as Json).name as string);
  let kept = weights;
  for (const { batchNorm, into } of folds) {
    list.splice(list.findIndex((e) => nameOf(e) === batchNorm), 1);
    const target = list.find((e) => nameOf(e) === into)!;
    (target.config as Json).use_bias = true;
    const rename = (ref: unknown) => {
      if (Array.isArray(ref) && ref[0] === batchNorm) ref[0] = into;
    };
    for (const entry of list) for (const call of (entry.inbound_nodes as unknown[][] | undefined) ?? []) for (const ref of call) rename(ref);
    if (!Array.isArray(config)) for (const ref of (config.output_layers as unknown[]) ?? []) rename(ref);
    kept = kept.filter((w) => w.layer !== batchNorm);
    if (!kept.some((w) => w.layer === into && w.role === 'bias')) {
      const kernel = kept.findIndex((w) => w.layer === into && w.role !== 'bias' && w.values === null);
      const prefix = kept[kernel].name.slice(0, kept[kernel].name.lastIndexOf('/'));
      const channels = kept[kernel].role === 'depthwise_kernel' ? kept[kernel].shape[2] * kept[kernel].shape[3] : kept[kernel].shape[kept[kernel].shape.length - 1];
      kept = [...kept.slice(0, kernel + 1), { name: `${prefix}/bias`, layer: into, role: 'bias', shape: [channels], values: null }, ...kept.slice(kernel + 1)];
    }
  }
  return { modelJson: copy, weights: kept };
}

/** What the import changed, in words (for inspect and the report). */
export function tfjsImportNotes(handle: TfjsModelHandle): string[] {
  const counts = new Map<string, number>();
  for (const storage of Object.values(handle.storedWeights ?? {})) {
    const dtype = storage === 'float16' ? storage : storage.dtype;
    counts.set(dtype, (counts.get(dtype) ?? 0) + 1);
  }
  const weights = (n: number) => `${n} weight${n > 1 ? 's' : ''}`;
  const foldRounding = (name: string) => {
    const layer = handle.network.layers.find((l) => l.name === name);
    const kernel = layer && (layer.kind === 'dense' || layer.kind === 'conv2d') ? layer.storage?.kernel : undefined;
    return kernel === undefined ? '' : `, its products rounded as read to the ${kernel === 'float16' ? 'halves' : `${kernel.dtype} grid`} the file will hold`;
  };
  return [
    ...fixedAxesNote(handle.fixedAxes ?? []),
    ...[...counts].map(([dtype, n]) =>
      dtype === 'float16'
        ? `${weights(n)} stored as float16 (TF.js's float16 quantization): read in float32, written back as float16, each pruned weight rounded to the nearest half as it replaces the trained one`
        : `${weights(n)} quantized to ${dtype} (TF.js's affine quantization, q·scale + min): read in float32, written back as ${dtype}, each pruned kernel and bias on a new grid of its values with zero exact (as tensorflowjs_converter makes it), its weights rounded to it as they replace the trained ones`,
    ),
    ...handle.folds.map((f) => `BatchNormalization '${f.batchNorm}' is folded into layer '${f.into}' (exact: a per-channel scale and shift of its output)${foldRounding(f.into)}; the written model keeps the fold`),
    ...handle.normalizations.map((name) => `Normalization '${name}' is read by net-trim as a per-channel affine layer (TF.js has no Normalization layer); the written model keeps it as it was`),
  ];
}
