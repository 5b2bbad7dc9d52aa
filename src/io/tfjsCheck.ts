// A model.json checked before TF.js sees it (browser-safe). TF.js trusts its input: a functional
// model whose inbound_nodes form a cycle or name a missing layer never finishes loading, a
// malformed config ends in "Cannot read properties of undefined", and a Dense of 10⁹ units is
// allocated before anything is compared. So the structure is checked here, field by field, every
// layer's output shape is worked out, and every weight a layer will allocate must be in the
// manifest with that shape: what TF.js then builds is bounded by the weight files' real sizes.
//
// Every rejection is an InputError "<source>: <where>: expected …, found …".
import { InputError } from '../errors.js';
import { describe, fail, isObject, MAX_DIMENSION, positiveInt, type Json } from './tfjs/fields.js';
import { outputShape, zeroPadding } from './tfjs/layerShapes.js';

export { describe, isObject, zeroPadding, type Json };

export const SUPPORTED_CLASSES = [
  'Dense', 'Conv2D', 'DepthwiseConv2D', 'SeparableConv2D', 'BatchNormalization', 'Add', 'Multiply', 'Concatenate', 'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'GlobalMaxPooling2D',
  'Conv1D', 'MaxPooling1D', 'AveragePooling1D', 'GlobalAveragePooling1D', 'GlobalMaxPooling1D', 'ZeroPadding2D', 'UpSampling2D', 'Flatten', 'Reshape', 'Rescaling', 'Normalization', 'LayerNormalization', 'Activation', 'ReLU', 'Softmax', 'Dropout', 'InputLayer',
  'LeakyReLU', 'ELU', 'PReLU', 'SpatialDropout1D', 'GaussianNoise', 'GaussianDropout', 'AlphaDropout', 'Average', 'Maximum', 'Minimum', 'Cropping2D', 'Conv2DTranspose', 'Embedding', 'TimeDistributed',
] as const;
export const SUPPORTED_DESCRIPTION =
  'supported are Dense (or TimeDistributed(Dense)), Conv2D, DepthwiseConv2D, SeparableConv2D, Conv2DTranspose (undilated), BatchNormalization, Add, Average, Maximum, Minimum, Multiply (a gate), Concatenate, MaxPooling2D, AveragePooling2D, GlobalAveragePooling2D, GlobalMaxPooling2D, Conv1D, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D, GlobalMaxPooling1D, ZeroPadding2D (before a conv or pool), Cropping2D, UpSampling2D, Flatten, Reshape (a vector as [1, 1, C] or [1, C], or a flatten), Rescaling, Normalization (over channels), LayerNormalization (over the last axis), Activation(relu|relu6|linear|softmax|sigmoid|tanh|elu|swish|selu|softplus|softsign|mish… see the docs), ReLU(max_value), LeakyReLU, ELU, PReLU, Softmax, Dropout, SpatialDropout1D, GaussianNoise, GaussianDropout, AlphaDropout (ignored at inference), Embedding (of the input token ids, mask_zero false), InputLayer';

/** Classes that join two or more inputs; every other layer reads one. */
const JOINS = ['Add', 'Multiply', 'Concatenate', 'Average', 'Maximum', 'Minimum'];

/** Largest number of one sample's values in any layer's input or output. */
const MAX_SAMPLE_VALUES = 1 << 28;

/** Bytes per stored element, by dtype (or by quantization dtype when quantized). */
const ELEMENT_BYTES: Record<string, number> = { float32: 4, int32: 4, bool: 1, uint8: 1, uint16: 2, float16: 2 };

/** Bytes one manifest weight takes in the shards (its spec already checked). */
export function specBytes(spec: WeightSpec): number {
  const dtype = spec.quantization ? (spec.quantization.dtype as string) : spec.dtype;
  return spec.shape.reduce((p, n) => p * n, 1) * ELEMENT_BYTES[dtype];
}

export interface LayerEntry {
  index: number;
  className: string;
  name: string;
  config: Json;
  /** Functional models: the layers this one is called on ([] for an InputLayer). */
  inbound: string[];
}

export interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Json;
}

export interface CheckedModelJson {
  modelTopology: Json;
  entries: LayerEntry[];
  specs: WeightSpec[];
  /** Bytes the manifest's weights take. */
  bytes: number;
  /** The shard paths, in manifest order. */
  paths: string[];
  /** Each layer's output shape after the batch, by layer name (TF.js leaves a Reshape's −1 unknown). */
  shapes: Map<string, number[]>;
}

/** The weights manifest: its groups, paths and specs, and the bytes the specs declare. */
function checkManifest(modelJson: Json, source: string): { specs: WeightSpec[]; bytes: number; paths: string[] } {
  const manifest = modelJson.weightsManifest;
  if (!Array.isArray(manifest)) fail(`${source}: weightsManifest`, `an array of {paths, weights} groups, found ${describe(manifest)}`);
  const specs: WeightSpec[] = [];
  const paths: string[] = [];
  let bytes = 0;
  (manifest as unknown[]).forEach((group, g) => {
    if (!isObject(group) || !Array.isArray(group.paths) || !group.paths.every((p) => typeof p === 'string') || !Array.isArray(group.weights))
      fail(`${source}: weightsManifest[${g}]`, `{paths: string[], weights: [...]}, found ${describe(group)}`);
    const { paths: groupPaths, weights } = group as { paths: string[]; weights: unknown[] };
    paths.push(...groupPaths);
    weights.forEach((spec, w) => {
      const field = `${source}: weightsManifest[${g}].weights[${w}]`;
      if (!isObject(spec) || typeof spec.name !== 'string') fail(field, `{name, shape, dtype}, found ${describe(spec)}`);
      const { name, shape, dtype, quantization } = spec as Json & { name: string };
      if (!Array.isArray(shape) || shape.length > 8 || !shape.every((n) => Number.isSafeInteger(n) && n >= 0 && n <= MAX_DIMENSION))
        fail(`${field} ('${name}'): shape`, `an array of at most 8 integers from 0 to ${MAX_DIMENSION}, found ${describe(shape)}`);
      if (dtype !== 'float32' && dtype !== 'int32' && dtype !== 'bool') fail(`${field} ('${name}'): dtype`, `'float32', 'int32' or 'bool', found ${describe(dtype)}`);
      let elementBytes = ELEMENT_BYTES[dtype as string];
      if (quantization !== undefined) {
        const qtype = isObject(quantization) ? quantization.dtype : undefined;
        if (qtype !== 'uint8' && qtype !== 'uint16' && qtype !== 'float16') fail(`${field} ('${name}'): quantization.dtype`, `'uint8', 'uint16' or 'float16', found ${describe(qtype)}`);
        // The grid the integers are read on (value = q·scale + min): without it TF.js reads nothing.
        for (const key of qtype === 'float16' ? [] : ['scale', 'min'] as const) {
          const value = (quantization as Json)[key];
          if (typeof value !== 'number' || !Number.isFinite(value) || (key === 'scale' && value <= 0)) fail(`${field} ('${name}'): quantization.${key}`, `a finite number${key === 'scale' ? ' above 0' : ''} (${qtype} values are q·scale + min), found ${describe(value)}`);
        }
        elementBytes = ELEMENT_BYTES[qtype as string];
      }
      bytes += (shape as number[]).reduce((p, n) => p * n, 1) * elementBytes;
      if (!Number.isSafeInteger(bytes)) fail(`${field} ('${name}'): shape`, `a size that can exist, found ${describe(shape)}`);
      specs.push(spec as unknown as WeightSpec);
    });
  });
  return { specs, bytes, paths };
}

/** The layer entries, with their names and (functional models) inbound layers checked. */
function layerEntries(modelTopology: Json, source: string): { entries: LayerEntry[]; functional: boolean; topology: Json } {
  // Models converted from Keras files nest the model under model_config (as TF.js reads them).
  const topology = isObject(modelTopology.model_config) ? modelTopology.model_config : modelTopology;
  const className = topology.class_name;
  if (className !== 'Sequential' && className !== 'Model' && className !== 'Functional')
    fail(`${source}: modelTopology.class_name`, `'Sequential', 'Model' or 'Functional', found ${describe(className)}`);
  const config = topology.config;
  // Old Keras Sequential configs are the bare layer list.
  const layers = Array.isArray(config) ? config : isObject(config) ? config.layers : undefined;
  if (!Array.isArray(layers) || layers.length === 0) fail(`${source}: modelTopology.config.layers`, `a non-empty array of layers, found ${describe(layers)}`);
  const functional = className !== 'Sequential';
  const entries = (layers as unknown[]).map((entry, index): LayerEntry => {
    if (!isObject(entry) || typeof entry.class_name !== 'string' || !isObject(entry.config))
      fail(`${source}: layer ${index}`, `an object with a string class_name and a config object, found ${describe(entry)}`);
    const layer = entry as Json & { class_name: string; config: Json };
    const { class_name: layerClass, config: layerConfig } = layer;
    if (layerConfig.name !== undefined && typeof layerConfig.name !== 'string') fail(`${source}: layer ${index}: config.name`, `a string, found ${describe(layerConfig.name)}`);
    if (layer.name !== undefined && typeof layer.name !== 'string') fail(`${source}: layer ${index}: name`, `a string, found ${describe(layer.name)}`);
    const name = functional ? (layer.name as string) : ((layerConfig.name as string | undefined) ?? (layer.name as string | undefined) ?? `#${index}`);
    // TF.js builds a functional model's graph from the entries' own names: a missing one, or one
    // other than the config's, leaves a call it never resolves (the load then never finishes).
    if (functional && typeof layer.name !== 'string') fail(`${source}: layer ${index}: name`, `a string naming the layer, found ${describe(layer.name)}`);
    if (functional && layerConfig.name !== undefined && layerConfig.name !== layer.name)
      fail(`${source}: layer ${index}: config.name`, `the layer's name '${layer.name}', found ${describe(layerConfig.name)}`);
    return { index, className: layerClass, name, config: layerConfig, inbound: functional ? inboundOf(layer, `${source}: layer ${index} ('${name}')`) : [] };
  });
  const seen = new Map<string, number>();
  for (const e of entries) {
    if (seen.has(e.name)) fail(`${source}: layer ${e.index} ('${e.name}'): name`, `a name no other layer has, found the name of layer ${seen.get(e.name)}`);
    seen.set(e.name, e.index);
  }
  return { entries, functional, topology };
}

/** The layers one call of a functional layer reads: [[name, node, tensor, kwargs?], ...] per call. */
function inboundOf(entry: Json, where: string): string[] {
  const nodes = entry.inbound_nodes;
  if (!Array.isArray(nodes)) return fail(`${where}: inbound_nodes`, `an array of calls, found ${describe(nodes)}`);
  if (entry.class_name === 'InputLayer') {
    if (nodes.length !== 0) fail(`${where}: inbound_nodes`, `[] for an InputLayer, found ${nodes.length} calls`);
    return [];
  }
  if (nodes.length !== 1) fail(where, `a layer called once (a chain), found it called ${nodes.length} times`);
  const call = nodes[0];
  if (!Array.isArray(call)) return fail(`${where}: inbound_nodes[0]`, `an array of [layer, node, tensor, kwargs] inputs, found ${describe(call)}`);
  return call.map((input: unknown, i) => {
    const field = `${where}: inbound_nodes[0][${i}]`;
    if (!Array.isArray(input) || input.length < 3 || input.length > 4 || typeof input[0] !== 'string' || input[1] !== 0 || input[2] !== 0 || (input.length === 4 && !isObject(input[3])))
      fail(field, `["<layer name>", 0, 0, {}] (the first output of a layer called once), found ${describe(input)}${Array.isArray(input) ? ` ${JSON.stringify(input).slice(0, 60)}` : ''}`);
    return (input as string[])[0];
  });
}

/** Functional models: every inbound name exists, the graph has no cycle, inputs and outputs exist. Returns the layers in an order where inputs come first. */
function checkGraph(entries: LayerEntry[], topology: Json, source: string): LayerEntry[] {
  const byName = new Map(entries.map((e) => [e.name, e]));
  for (const e of entries)
    e.inbound.forEach((name, i) => {
      if (!byName.has(name)) fail(`${source}: layer ${e.index} ('${e.name}'): inbound_nodes[0][${i}]`, `the name of a layer of the model, found '${name}'`);
    });
  for (const field of ['input_layers', 'output_layers'] as const) {
    const list = (topology.config as Json)[field];
    if (!Array.isArray(list) || list.length === 0) fail(`${source}: modelTopology.config.${field}`, `a non-empty array of [layer, 0, 0], found ${describe(list)}`);
    (list as unknown[]).forEach((item, i) => {
      if (!Array.isArray(item) || typeof item[0] !== 'string' || !byName.has(item[0]) || item[1] !== 0 || item[2] !== 0)
        fail(`${source}: modelTopology.config.${field}[${i}]`, `["<a layer of the model>", 0, 0], found ${describe(item)}`);
      if (field === 'input_layers' && byName.get((item as string[])[0])!.className !== 'InputLayer')
        fail(`${source}: modelTopology.config.input_layers[${i}]`, `an InputLayer, found '${(item as string[])[0]}' (${byName.get((item as string[])[0])!.className})`);
    });
  }
  // Kahn's order: a layer is placed once all its inbound layers are.
  const order: LayerEntry[] = [];
  const placed = new Set<string>();
  let progress = true;
  while (order.length < entries.length && progress) {
    progress = false;
    for (const e of entries)
      if (!placed.has(e.name) && e.inbound.every((n) => placed.has(n))) {
        order.push(e);
        placed.add(e.name);
        progress = true;
      }
  }
  const stuck = entries.find((e) => !placed.has(e.name));
  if (stuck) fail(`${source}: layer ${stuck.index} ('${stuck.name}'): inbound_nodes`, `layers that do not depend on this one, found a cycle through '${stuck.inbound.find((n) => !placed.has(n))}'`);
  // Every layer on a path to an output (TF.js would drop the others, and then refuse their weights).
  const reached = new Set<string>();
  const reach = (name: string) => {
    if (reached.has(name)) return;
    reached.add(name);
    byName.get(name)!.inbound.forEach(reach);
  };
  const outputs = (topology.config as Json).output_layers as string[][];
  for (const item of outputs) reach(item[0]);
  const off = entries.find((e) => !reached.has(e.name));
  if (off) fail(`${source}: layer ${off.index} ('${off.name}')`, `a layer on a path from an input to an output, found one whose output does not reach ${outputs.length > 1 ? "the model's outputs" : "the model's output"}`);
  return order;
}

/** The per-sample shape an InputLayer or a Sequential model's first layer declares. */
function declaredInputShape(config: Json, where: string): number[] | null {
  const batchShape = config.batch_input_shape ?? config.batchInputShape;
  if (batchShape === undefined || batchShape === null) return null;
  if (!Array.isArray(batchShape) || batchShape.length < 2 || batchShape.length > 5 || (batchShape[0] !== null && !Number.isSafeInteger(batchShape[0])))
    return fail(`${where}: batch_input_shape`, `[null, ...sizes] with 1 to 4 sizes, found ${describe(batchShape)}`);
  return batchShape.slice(1).map((n: unknown) => positiveInt(n, where, 'batch_input_shape', MAX_DIMENSION));
}

/**
 * Checks a parsed model.json before TF.js loads it: its structure, the layer graph (functional
 * models), every layer's config fields and output shape, and that every weight a layer allocates
 * is in the manifest with its shape. `checkLayer` adds the caller's own checks per layer entry.
 */
export function checkModelJson(modelJson: unknown, source: string, checkLayer: (entry: LayerEntry) => void = () => {}): CheckedModelJson {
  if (!isObject(modelJson)) fail(source, `a JSON object (a TF.js Layers model.json), found ${describe(modelJson)}`);
  const json = modelJson as Json;
  if (json.format !== undefined && json.format !== 'layers-model') fail(`${source}: format`, `'layers-model' (a TF.js Layers model), found ${describe(json.format)}`);
  const modelTopology = json.modelTopology;
  if (!isObject(modelTopology)) fail(`${source}: modelTopology`, `an object, found ${describe(modelTopology)}`);
  const { entries, functional, topology } = layerEntries(modelTopology as Json, source);
  for (const entry of entries) {
    if (!(SUPPORTED_CLASSES as readonly string[]).includes(entry.className))
      throw new InputError(`${source}: layer ${entry.index} ('${entry.name}'): unsupported layer class '${entry.className}': ${SUPPORTED_DESCRIPTION}`);
    checkLayer(entry);
  }
  const manifest = checkManifest(json, source);
  const order = functional ? checkGraph(entries, topology, source) : entries;

  const specsByName = new Map(manifest.specs.map((s) => [s.name, s]));
  const used = new Set<string>();
  const shapes = new Map<string, number[]>();
  let previous: number[] | null = null;
  for (const e of order) {
    const where = `${source}: layer ${e.index} ('${e.name}')`;
    let input: number[] | null;
    if (e.className === 'InputLayer') input = declaredInputShape(e.config, where);
    else if (functional) input = shapes.get(e.inbound[0]) ?? null;
    else input = previous ?? declaredInputShape(e.config, where);
    const joins = JOINS.includes(e.className);
    if (!functional && joins) fail(where, `${e.className} in a functional model (a Sequential model is a chain)`);
    if (functional && e.className !== 'InputLayer' && (joins ? e.inbound.length < 2 : e.inbound.length !== 1))
      fail(where, `${joins ? 'two or more inbound layers' : 'exactly one inbound layer'}, found ${e.inbound.length}: ${e.inbound.map((n) => `'${n}'`).join(', ')}`);
    if (!input) return fail(`${where}: batch_input_shape`, `the input's shape on the first layer (or an InputLayer), found none`);
    const expectWeight = (role: string, shape: number[]) => {
      const spec = specsByName.get(`${e.name}/${role}`) ?? manifest.specs.find((s) => s.name.endsWith(`/${e.name}/${role}`));
      if (!spec) fail(`${source}: weightsManifest`, `a weight '${e.name}/${role}' of shape [${shape.join(', ')}] for layer ${e.index}, found none`);
      used.add(spec!.name);
      if (spec!.shape.length !== shape.length || spec!.shape.some((n, i) => n !== shape[i]))
        fail(`${source}: weightsManifest: weight '${spec!.name}'`, `shape [${shape.join(', ')}] (layer ${e.index}'s ${role}), found [${spec!.shape.join(', ')}]`);
    };
    const output = outputShape(e, functional && e.className !== 'InputLayer' ? e.inbound.map((n) => shapes.get(n)!) : [input], where, expectWeight);
    if (output.reduce((p, n) => p * n, 1) > MAX_SAMPLE_VALUES) fail(`${where}: output shape`, `at most ${MAX_SAMPLE_VALUES} values per sample, found [${output.join(', ')}]`);
    shapes.set(e.name, output);
    previous = output;
  }
  const unused = manifest.specs.find((spec) => !used.has(spec.name));
  if (unused) fail(`${source}: weightsManifest: weight '${unused.name}'`, `a weight of a layer of the model, found no layer that has it`);
  return { modelTopology: modelTopology as Json, entries, ...manifest, shapes };
}
