// writeOnnxModel: the (pruned) weights of a Network written into the model it was read from.
// Its external data is written inside (or, past 2 GiB, to one data file: writeOnnxModelFiles).
// Everything but the weights is kept, except that a BatchNormalization folded into the Conv/Gemm
// before it (ops.ts) stays folded: its node and parameters are removed, the layer's node writes
// the BatchNormalization's output with the folded weights and bias, and the model's metadata
// says so (key 'net-trim.folded').
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../../network/types.js';
import { resizedConstantDims } from './affineOps.js';
import { denseKernelToOnnx, FLOAT, INT64, toInt, floatBytes, hwioToOihw, hwioToTransposed, onnx, type BatchNormBinding, type GraphProto, type ModelProto, type NodeProto, type OnnxModelHandle, type ReshapeBinding, type ChannelRange, type TensorProto, type WeightBinding } from './common.js';
import { attachExternalData, externalizeLarge, INLINE_LIMIT } from './externalData.js';
import { reparseModel } from './reader.js';
import { networkGraph } from '../../network/graph.js';

/** The tensor named `name` in a graph: an initializer or a Constant node's value. */
function findTensor(graph: GraphProto, name: string): TensorProto | null {
  const init = (graph.initializer ?? []).find((t) => t.name === name);
  if (init) return init;
  for (const node of graph.node ?? []) {
    if (node.opType === 'Constant' && node.output?.[0] === name) {
      return (node.attribute ?? []).find((a) => a.name === 'value')?.t ?? null;
    }
  }
  return null;
}

function replaceData(graph: GraphProto, name: string, values: Float32Array, dims?: number[]): void {
  const tensor = findTensor(graph, name);
  if (!tensor) throw new Error(`writeOnnxModel: tensor '${name}' is missing from the model`);
  tensor.dataType = FLOAT;
  tensor.floatData = [];
  tensor.rawData = floatBytes(values);
  if (dims) tensor.dims = dims;
}

/** A float tensor's values (raw little-endian bytes or float_data). */
function floatValues(tensor: TensorProto): Float32Array {
  const raw = tensor.rawData;
  if (raw && raw.length) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(tensor.floatData ?? []);
}

/**
 * The model of `handle` with the weights of `network` (matched by layer name, e.g. after pruning
 * `handle.network`), converted back to ONNX layouts. Everything but the weight data is kept.
 * Throws an Error when `network` does not match the model (a missing layer, other dimensions, a
 * nonzero bias where the model has none).
 *
 * `removed` (removeUnreadUnits' `kept`): the network has fewer channels than the model, and by
 * layer name the channels each kept. Then the weights take the network's dimensions, a
 * depthwise Conv its new group count, a BatchNormalization's parameters the kept channels, a
 * Reshape to [batch, features] the shape [0, -1], and the stale value_info shapes go. Given as a
 * Resizing with `shapes` (removed attention heads), the Reshapes viewing those layers' outputs
 * take the new sizes, and the model written is read again to check it computes the network's
 * shapes (an Error names the first layer that differs, e.g. a head count computed from shapes).
 */
export function writeOnnxModel(handle: OnnxModelHandle, network: Network, removed?: ReadonlyMap<string, Int32Array> | Resizing): Uint8Array {
  const files = writeOnnxModelFiles(handle, network, removed);
  if (files.length > 1)
    throw new Error(`writeOnnxModel: ${handle.source}: its tensors hold more than protobuf's 2 GiB: expected writeOnnxModelFiles, which writes them to a data file beside the model`);
  return files[0].bytes;
}

/**
 * writeOnnxModel as files: `name` (default 'model.onnx'), and `name`.data when the tensors hold
 * more than one protobuf message may (2 GiB; `limit` for tests): ONNX's external data, each
 * tensor of at least 1 KiB at a 4 KiB-aligned offset of it.
 */
export function writeOnnxModelFiles(
  handle: OnnxModelHandle,
  network: Network,
  removed?: ReadonlyMap<string, Int32Array> | Resizing,
  name = 'model.onnx',
  limit = INLINE_LIMIT,
): Array<{ name: string; bytes: Uint8Array }> {
  const model = prunedModel(handle, network, removed);
  const data = externalizeLarge(model, `${name}.data`, limit);
  const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
  return data ? [{ name, bytes }, { name: `${name}.data`, bytes: data }] : [{ name, bytes }];
}

/** The model as read, its external data inside (what a runtime given bytes can load). */
export function modelWithDataInside(handle: OnnxModelHandle): Uint8Array {
  if (!handle.externalData) return handle.bytes;
  const model = onnx.ModelProto.decode(handle.bytes);
  attachExternalData(model, handle.source, handle.externalData);
  return new Uint8Array(onnx.ModelProto.encode(model).finish());
}

/** What unit removal changed (removeUnreadUnits): the channels each layer kept, and the new shapes of the layers that lost heads. */
export interface Resizing {
  kept: ReadonlyMap<string, Int32Array>;
  shapes?: ReadonlyMap<string, number[]>;
}

function prunedModel(handle: OnnxModelHandle, network: Network, resizing?: ReadonlyMap<string, Int32Array> | Resizing): ModelProto {
  const { kept: removed, shapes } = resizing instanceof Map ? { kept: resizing, shapes: undefined } : ((resizing as Resizing | undefined) ?? { kept: undefined, shapes: undefined });
  const resized = (removed !== undefined && removed.size > 0) || (shapes !== undefined && shapes.size > 0);
  const model = onnx.ModelProto.decode(handle.bytes);
  if (handle.externalData) attachExternalData(model, handle.source, handle.externalData);
  const graph = model.graph!;
  const byName = new Map<string, Layer>();
  for (const layer of network.layers) byName.set(layer.name, layer);
  // Copies: the tensors a node reads alone get other names below.
  const bindings = handle.bindings.map((b) => ({ ...b }));
  const batchNorms = handle.batchNorms.map((b) => ({ ...b, params: [...b.params] }));
  unshareTensors(graph, bindings, batchNorms);
  const bound = new Set(bindings.map((b) => b.layer));
  for (const layer of network.layers) {
    if ((layer.kind === 'dense' || layer.kind === 'conv2d') && !bound.has(layer.name)) {
      throw new Error(`writeOnnxModel: ${handle.source}: the network's ${layer.kind} layer '${layer.name}' is not in the model`);
    }
  }
  for (const binding of bindings) {
    const where = `writeOnnxModel: ${handle.source}: layer '${binding.layer}' (${binding.node})`;
    const layer = byName.get(binding.layer);
    if (!layer || layer.kind !== binding.kind) {
      throw new Error(`${where}: expected a ${binding.kind} layer of that name in the network, found ${layer ? layer.kind : 'none'}`);
    }
    let weight: Float32Array;
    let size: number;
    let dims: number[];
    if (binding.kind === 'dense') {
      const dense = layer as DenseLayer;
      const [inputs, units] = resized ? [dense.inputs, dense.units] : [binding.inputs, binding.units];
      if (dense.inputs !== inputs || dense.units !== units || dense.kernel.length !== inputs * units) {
        throw new Error(
          `${where}: kernel is ${dense.inputs}×${dense.units} (${dense.kernel.length} values): expected ${binding.inputs}×${binding.units}`,
        );
      }
      // A flattened image that lost channels: the same pixels, fewer channels.
      const chw: [number, number, number] | null = binding.chw && [inputs / (binding.chw[1] * binding.chw[2]), binding.chw[1], binding.chw[2]];
      weight = denseKernelToOnnx(dense.kernel, inputs, units, binding.transB, chw);
      dims = binding.op === 'Conv' ? [units, inputs, 1, ...(binding.sequence ? [] : [1])] : binding.transB ? [units, inputs] : [inputs, units];
      size = units;
    } else {
      const conv = layer as Conv2DLayer;
      const [kh, kw] = binding.kernelSize;
      const [filters, inChannels, groups] = resized ? [conv.filters, conv.inChannels, conv.groups ?? 1] : [binding.filters, binding.inChannels, binding.groups];
      const groupIn = inChannels / groups;
      const same =
        conv.filters === filters &&
        conv.inChannels === inChannels &&
        (conv.groups ?? 1) === groups &&
        conv.kernelSize[0] === kh &&
        conv.kernelSize[1] === kw &&
        conv.kernel.length === kh * kw * groupIn * filters;
      if (!same) {
        throw new Error(
          `${where}: kernel is ${conv.kernelSize.join('×')}×${conv.inChannels}×${conv.filters} (${conv.kernel.length} values): ` +
            `expected ${kh}×${kw}×${groupIn}×${filters}`,
        );
      }
      // A MatMul on a channels-last image keeps its [C, K] layout: HWIO's values for a 1×1 kernel.
      weight =
        binding.op === 'MatMul' || (binding.op === 'Gemm' && !binding.transB) ? Float32Array.from(conv.kernel)
        : binding.op === 'Gemm' ? Float32Array.from({ length: filters * inChannels }, (_, i) => conv.kernel[(i % inChannels) * filters + Math.floor(i / inChannels)])
        : binding.op === 'ConvTranspose' ? hwioToTransposed(conv.kernel, inChannels, filters, kh, kw) : hwioToOihw(conv.kernel, filters, groupIn, kh, kw);
      // A Conv1d's weight is [cout, cin / groups, k] (kh = 1); a ConvTranspose's [cin, cout, kh, kw].
      const spatial = binding.sequence ? [kw] : [kh, kw];
      dims = binding.op === 'MatMul' || (binding.op === 'Gemm' && !binding.transB) ? [inChannels, filters] : binding.op === 'Gemm' ? [filters, inChannels] : binding.op === 'ConvTranspose' ? [inChannels, filters, ...spatial] : [filters, groupIn, ...spatial];
      size = filters;
      if (groups !== binding.groups) setGroups(graph, binding, groups);
    }
    replaceData(graph, binding.weight, weight, resized ? dims : undefined);
    const bias = layer.bias;
    if (bias && bias.length !== size) throw new Error(`${where}: bias has ${bias.length} values: expected ${size}`);
    if (binding.bias) {
      replaceData(graph, binding.bias, bias ?? new Float32Array(size), resized ? [size] : undefined);
    } else if (bias && bias.some((v) => v !== 0)) {
      if (!binding.foldedBatchNorm && !binding.foldedOps) throw new Error(`${where}: the network has a nonzero bias but the model's node has none`);
      addBias(graph, binding, bias);
    }
    if (binding.foldedBatchNorm) removeFoldedBatchNorm(graph, binding);
    if (binding.foldedOps) removeFoldedOps(graph, binding.foldedOps);
  }
  if (resized) resizeChannels(graph, batchNorms, handle.reshapes ?? [], removed ?? new Map());
  if (removed?.size) resizeRanges(graph, handle.ranges ?? [], removed);
  if (shapes?.size) {
    resizeViews(graph, handle, shapes, removed ?? new Map());
    dropUnreadNodes(graph);
    sameShapes(handle, model, network);
  }
  const folded = handle.bindings.filter((b) => b.foldedBatchNorm).map((b) => `${b.foldedBatchNorm!.node} into layer '${b.layer}'`);
  if (folded.length) model.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== 'net-trim.folded'), { key: 'net-trim.folded', value: `BatchNormalization folded: ${folded.join('; ')}` }];
  return model;
}

/**
 * Each tensor the writer changes, read by its node alone: PyTorch's exporter shares bit-identical
 * initializers (the zero biases of freshly folded BatchNorms, a model's equal weights), which
 * pruning then changes apart. A shared tensor gets a copy per binding that reads it (named after
 * the layer); the bindings (copies of the handle's) take the new names.
 */
function unshareTensors(graph: GraphProto, bindings: WeightBinding[], batchNorms: BatchNormBinding[]): void {
  const nodes = graph.node ?? [];
  // Tensor name → the constant it holds: initializers, Constant outputs, Identity of those.
  const root = new Map<string, string>();
  for (const t of graph.initializer ?? []) if (t.name) root.set(t.name, t.name);
  for (const n of nodes) if (n.opType === 'Constant' && n.output?.[0]) root.set(n.output[0], n.output[0]);
  const alias = (n: (typeof nodes)[number]) => n.opType === 'Identity' && root.has(n.input?.[0] ?? '') && Boolean(n.output?.[0]);
  for (const n of nodes) if (alias(n)) root.set(n.output![0], root.get(n.input![0])!);
  const readers = new Map<string, number>();
  for (const n of nodes) {
    if (alias(n)) continue;
    for (const input of n.input ?? []) {
      const r = root.get(input);
      if (r) readers.set(r, (readers.get(r) ?? 0) + 1);
    }
  }
  const taken = new Set([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...nodes.flatMap((n) => n.output ?? [])]);
  const own = (name: string, reader: number, layer: string): string => {
    const node = nodes[reader];
    const position = (node?.input ?? []).findIndex((input) => root.get(input) === name);
    if ((readers.get(name) ?? 0) <= 1 || position < 0) return name;
    let copy = `${name}.${layer}`;
    for (let k = 1; taken.has(copy); k++) copy = `${name}.${layer}_${k}`;
    taken.add(copy);
    graph.initializer = [...(graph.initializer ?? []), { ...findTensor(graph, name)!, name: copy }];
    node.input![position] = copy;
    readers.set(name, readers.get(name)! - 1);
    return copy;
  };
  for (const b of bindings) {
    b.weight = own(b.weight, b.weightReader, b.layer);
    if (b.bias) b.bias = own(b.bias, b.biasReader ?? b.weightReader, b.layer);
  }
  for (const bn of batchNorms) bn.params = bn.params.map((p) => own(p, bn.reader, bn.layer));
}

/** A bias for a folded layer whose node had none: a new initializer as the Conv's or Gemm's third input. */
function addBias(graph: GraphProto, binding: WeightBinding, bias: Float32Array): void {
  const taken = new Set([...(graph.initializer ?? []).map((t) => t.name), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);
  let name = `${binding.weight}.folded_bias`;
  for (let k = 1; taken.has(name); k++) name = `${binding.weight}.folded_bias_${k}`;
  graph.initializer = [...(graph.initializer ?? []), { name, dims: [bias.length], dataType: FLOAT, rawData: floatBytes(bias) }];
  // The layer's own node: the one reading its weight (binding.output may be an op folded after it).
  const node = (graph.node ?? []).find((n) => n.input?.[1] === binding.weight)!;
  node.input = [...(node.input ?? []).slice(0, 2), name];
  // Gemm computes alpha·AB + beta·C: the folded bias needs beta = 1.
  node.attribute = (node.attribute ?? []).filter((a) => a.name !== 'beta');
}

/** Drops a folded BatchNormalization: its layer's node writes its output; unread parameters go. */
function removeFoldedBatchNorm(graph: GraphProto, binding: WeightBinding): void {
  const bn = binding.foldedBatchNorm!;
  const nodes = graph.node ?? [];
  const node = nodes.find((n) => n.output?.[0] === binding.output)!;
  graph.node = nodes.filter((n) => !(n.opType === 'BatchNormalization' && n.output?.[0] === bn.output));
  node.output = [bn.output, ...(node.output ?? []).slice(1)];
  dropUnread(graph, bn.params);
}

/** Drops the per-channel ops folded into a layer: their readers read the tensor before them; unread constants go. */
function removeFoldedOps(graph: GraphProto, folded: NonNullable<WeightBinding['foldedOps']>): void {
  const last = folded.nodes[folded.nodes.length - 1];
  graph.node = (graph.node ?? []).filter((n) => !folded.nodes.includes(n.output?.[0] ?? ''));
  for (const n of graph.node) n.input = (n.input ?? []).map((name) => (name === last ? folded.from : name));
  dropUnread(graph, folded.params);
}

/** Removes the initializers and Constant nodes of `names` that no node reads any more. */
function dropUnread(graph: GraphProto, names: readonly string[]): void {
  const stillRead = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
  const unread = new Set(names.filter((p) => !stillRead.has(p)));
  graph.initializer = (graph.initializer ?? []).filter((t) => !unread.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((i) => !unread.has(i.name ?? ''));
  graph.node = (graph.node ?? []).filter((n) => !(n.opType === 'Constant' && unread.has(n.output?.[0] ?? '')));
}

/** A depthwise Conv that lost channels: its group attribute follows. */
function setGroups(graph: GraphProto, binding: WeightBinding, groups: number): void {
  const node = (graph.node ?? []).find((n) => n.output?.[0] === binding.output)!;
  node.attribute = [...(node.attribute ?? []).filter((a) => a.name !== 'group'), { name: 'group', type: onnx.AttributeProto.AttributeType.INT, i: groups }];
}

/** What else channel removal changes: BatchNormalization parameters, Reshape sizes, value_info. */
/** The Reshapes viewing a layer's output that lost heads on an axis: that axis' entry of the shape says the new size (see resizeShapeEntry). */
function resizeViews(graph: GraphProto, handle: OnnxModelHandle, shapes: ReadonlyMap<string, number[]>, kept: ReadonlyMap<string, Int32Array>): void {
  for (const v of handle.views ?? []) {
    const channels = kept.get(v.layer);
    const shape = shapes.get(v.layer) ?? (channels && [...v.ours.slice(0, -1), channels.length]);
    if (!shape) continue;
    const node = (graph.node ?? []).find((n) => (n.opType === 'Reshape' || n.opType === 'Expand') && n.output?.[0] === v.output);
    const axis = shape.findIndex((n, a) => n !== v.ours[a]);
    // The shape's axes end with ours' (less leading 1s; a batch axis before them), or with all but
    // the first, which merges the shape's leading axes (repeated key heads [1, groups, repeats, T, d]
    // as [heads, T, d]): there the outermost one above 1 shrinks.
    let lead = 0;
    while (lead < axis && v.ours[lead] === 1) lead++;
    const tail = v.ours.slice(lead);
    const endsWith = (n: number) => n <= v.dims.length && tail.slice(tail.length - n).every((d, a) => d === v.dims[v.dims.length - n + a]);
    const merged = v.dims.slice(0, v.dims.length - tail.length + 1);
    let at = -1;
    if (endsWith(tail.length)) at = axis - lead + v.dims.length - tail.length;
    else if (axis === lead && endsWith(tail.length - 1) && merged.reduce((a, b) => a * b, 1) === tail[0]) at = merged.findIndex((n) => n > 1 && (n * shape[axis]) % v.ours[axis] === 0);
    if (!node || at < 0)
      throw new Error(`writeOnnxModel: ${handle.source}: ${node?.opType ?? 'Reshape'} '${node?.name ?? v.output}' views [${v.ours.join(', ')}] as [${v.dims.join(', ')}]: expected its last axes to be those, to resize it for the heads removed`);
    const size = v.dims[at];
    resizeShapeEntry(graph, node, at, size, (size * shape[axis]) / v.ours[axis], at === v.dims.length - 1);
  }
}

/** Slices and Splits of a layer's channels that lost some: each range's ends counted in the channels kept. */
function resizeRanges(graph: GraphProto, ranges: readonly ChannelRange[], removed: ReadonlyMap<string, Int32Array>): void {
  const setEntry = (node: NodeProto, input: number, at: number, from: number, to: number) => {
    const tensor = ownConstant(graph, node, input);
    if (!tensor || tensor.dataType !== INT64) return;
    const values = int64Values(tensor);
    if (values[at] !== from || from === to) return;
    values[at] = to;
    tensor.int64Data = [];
    tensor.rawData = new Uint8Array(BigInt64Array.from(values, BigInt).buffer);
  };
  for (const r of ranges) {
    const kept = removed.get(r.layer);
    const node = (graph.node ?? []).find((n) => n.output?.[0] === r.output);
    if (!kept || !node) continue;
    const [start, end] = [r.start, r.end].map((c) => kept.filter((k) => k < c).length);
    if (node.opType === 'Slice') {
      setEntry(node, 1, 0, r.start, start);
      setEntry(node, 2, 0, r.end, end);
    } else if (node.opType === 'Split' && node.input?.[1]) setEntry(node, 1, r.position, r.end - r.start, end - start);
    else if (node.opType === 'Split') {
      const attribute = (node.attribute ?? []).find((a) => a.name === 'split');
      if (attribute?.ints && toInt(attribute.ints[r.position]) === r.end - r.start) attribute.ints[r.position] = end - start;
    }
  }
}

/** Nodes whose outputs nobody reads any more (a size computation a constant replaced), repeatedly. */
function dropUnreadNodes(graph: GraphProto): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  for (let changed = true; changed; ) {
    const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
    const before = (graph.node ?? []).length;
    graph.node = (graph.node ?? []).filter((n) => (n.output ?? []).some((o) => read.has(o) || outputs.has(o)));
    changed = graph.node.length < before;
  }
}

/** Reads the model written again, at the sizes it was read with: each layer must compute the shape it has in `network`. */
function sameShapes(handle: OnnxModelHandle, model: ModelProto, network: Network): void {
  const copy = onnx.ModelProto.decode(onnx.ModelProto.encode(model).finish());
  let again: Network;
  try {
    again = reparseModel(copy, handle.source, handle.sizes);
  } catch (error) {
    throw new Error(`writeOnnxModel: ${handle.source}: the model with the heads removed does not read back: ${(error as Error).message}`);
  }
  const want = networkGraph(network).outputShapes;
  const names = new Map(network.layers.map((l, i) => [l.name, i]));
  const got = networkGraph(again).outputShapes;
  again.layers.forEach((layer, i) => {
    const j = names.get(layer.name);
    if (j !== undefined && got[i].join(',') !== want[j].join(','))
      throw new Error(`writeOnnxModel: ${handle.source}: with the heads removed, layer '${layer.name}' computes [${got[i].join(', ')}] in the model written: expected [${want[j].join(', ')}] (a size the graph computes that the writer cannot change)`);
  });
}

function resizeChannels(graph: GraphProto, batchNorms: BatchNormBinding[], reshapes: readonly ReshapeBinding[], removed: ReadonlyMap<string, Int32Array>): void {
  for (const bn of batchNorms) {
    const kept = removed.get(bn.layer);
    if (!kept) continue;
    for (const name of bn.params) {
      const tensor = findTensor(graph, name)!;
      const values = floatValues(tensor);
      if (bn.rows !== undefined) {
        // An embedding's table [V, D]: each row keeps the kept dimensions.
        const channels = values.length / bn.rows;
        replaceData(graph, name, Float32Array.from({ length: bn.rows * kept.length }, (_, i) => values[Math.floor(i / kept.length) * channels + kept[i % kept.length]]), [bn.rows, kept.length]);
        continue;
      }
      // A constant's layout stays ([1, C, 1, 1] → [1, k, 1, 1]); a BatchNormalization's [C] → [k].
      replaceData(graph, name, Float32Array.from(kept, (c) => values[c]), resizedConstantDims((tensor.dims ?? []).map(toInt), values.length, kept.length));
    }
  }
  for (const reshape of reshapes) {
    const kept = removed.get(reshape.layer);
    const node = (graph.node ?? []).find((n) => n.opType === 'Reshape' && n.output?.[0] === reshape.output);
    if (!node || (!kept && reshape.axis !== 'flatten')) continue;
    if (reshape.axis === 'flatten') {
      // A flatten to [batch, features]: [0, -1] says the same for any count.
      const shape = ownConstant(graph, node, 1);
      if (shape && (shape.dims ?? []).length === 1 && toInt(shape.dims![0]) === 2) {
        shape.int64Data = [];
        shape.rawData = new Uint8Array(new BigInt64Array([0n, -1n]).buffer);
        node.attribute = (node.attribute ?? []).filter((a) => a.name !== 'allowzero');
      }
    } else resizeShapeEntry(graph, node, reshape.axis, reshape.channels, kept!.length);
  }
  graph.valueInfo = [];
}

/**
 * Entry `axis` of a Reshape's shape, `channels` in the model, set to `count`: in its constant, or
 * in the constant piece of the Concat that builds it (TorchScript's x.size()[:-1] + (C,)). An
 * entry computed from shapes follows the tensor by itself, and −1 and 0 say no count.
 */
function resizeShapeEntry(graph: GraphProto, node: NodeProto, axis: number, channels: number, count: number, channelAxis = false): void {
  const set = (holder: NodeProto, position: number, at: number) => {
    const tensor = ownConstant(graph, holder, position);
    if (!tensor || tensor.dataType !== INT64) return;
    const values = int64Values(tensor);
    if (values[at] !== channels) return;
    values[at] = count;
    tensor.int64Data = [];
    tensor.rawData = new Uint8Array(BigInt64Array.from(values, BigInt).buffer);
  };
  const name = node.input?.[1] ?? '';
  if (findTensor(graph, name)) return set(node, 1, axis);
  const concat = (graph.node ?? []).find((n) => n.opType === 'Concat' && n.output?.[0] === name);
  // Each piece's length: a constant's values, any other piece (an Unsqueeze of a size) one.
  let start = 0;
  for (const [k, piece] of (concat?.input ?? []).entries()) {
    const constant = findTensor(graph, piece);
    const length = constant ? int64Values(constant).length : 1;
    if (axis >= start + length) {
      start += length;
      continue;
    }
    if (constant) return set(concat!, k, axis - start);
    // A channel count read from another tensor's shape (PyTorch 1.x's embed_dim): it is a constant.
    if (!scaledSize(graph, piece, channels, count) && channelAxis) concat!.input![k] = int64Constant(graph, `${piece}.resized`, [count]);
    return;
  }
}

/** A new int64 initializer named after `base`, [values.length] long. */
function int64Constant(graph: GraphProto, base: string, values: number[]): string {
  const taken = new Set([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  graph.initializer = [...(graph.initializer ?? []), { name, dataType: INT64, dims: [values.length], rawData: new Uint8Array(BigInt64Array.from(values, BigInt).buffer) }];
  return name;
}

/**
 * A size computed as an Unsqueeze of a Mul by a constant (PyTorch 1.x's bsz · num_heads, at batch
 * 1 the head count): the constant says the new count. Other computed sizes follow the tensors.
 */
function scaledSize(graph: GraphProto, name: string, channels: number, count: number): boolean {
  const producer = (n: string) => (graph.node ?? []).find((node) => node.output?.[0] === n);
  const unsqueeze = producer(name);
  const mul = unsqueeze?.opType === 'Unsqueeze' ? producer(unsqueeze.input?.[0] ?? '') : undefined;
  if (mul?.opType !== 'Mul') return false;
  for (const position of [0, 1]) {
    const tensor = findTensor(graph, mul.input?.[position] ?? '');
    if (!tensor || tensor.dataType !== INT64 || int64Values(tensor).length !== 1 || int64Values(tensor)[0] !== channels) continue;
    const own = ownConstant(graph, mul, position)!;
    own.int64Data = [];
    own.rawData = new Uint8Array(BigInt64Array.of(BigInt(count)).buffer);
    own.dims = tensor.dims;
    return true;
  }
  return false;
}

/** Input `position` of `node` as a constant it alone reads (a copy when others read it too), or null. */
function ownConstant(graph: GraphProto, node: NodeProto, position: number): TensorProto | null {
  const name = node.input?.[position] ?? '';
  const tensor = findTensor(graph, name);
  if (!tensor) return null;
  const readers = (graph.node ?? []).filter((n) => (n.input ?? []).includes(name)).length;
  if (readers <= 1) return tensor;
  const taken = new Set([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);
  let copy = `${name}.resized`;
  for (let k = 1; taken.has(copy); k++) copy = `${name}.resized_${k}`;
  const own: TensorProto = { ...tensor, name: copy, ...(tensor.rawData ? { rawData: Uint8Array.from(tensor.rawData) } : {}), ...(tensor.int64Data ? { int64Data: [...tensor.int64Data] } : {}) };
  graph.initializer = [...(graph.initializer ?? []), own];
  node.input![position] = copy;
  return own;
}

/** An int64 tensor's values (raw little-endian bytes or int64_data). */
function int64Values(tensor: TensorProto): number[] {
  const raw = tensor.rawData;
  if (raw && raw.length) return Array.from(new BigInt64Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength)), Number);
  return (tensor.int64Data ?? []).map(toInt);
}
