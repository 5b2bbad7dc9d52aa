// What channel and head removal change in an ONNX graph besides the weights (writer.ts): the
// BatchNormalization parameters, the sizes Reshapes, Expands, Slices and Splits name, the size
// computations a constant replaces; and the check that reads a model written back.
import type { Network } from '../../network/types.js';
import { networkGraph } from '../../network/graph.js';
import { resizedConstantDims } from './affineOps.js';
import { FLOAT, INT64, toInt, floatBytes, onnx, type BatchNormBinding, type ChannelRange, type GraphProto, type ModelProto, type NodeProto, type OnnxModelHandle, type ReshapeBinding, type TensorProto } from './common.js';
import { reparseModel } from './reader.js';

/** The tensor named `name` in a graph: an initializer or a Constant node's value. */
export function findTensor(graph: GraphProto, name: string): TensorProto | null {
  const init = (graph.initializer ?? []).find((t) => t.name === name);
  if (init) return init;
  for (const node of graph.node ?? []) {
    if (node.opType === 'Constant' && node.output?.[0] === name) {
      return (node.attribute ?? []).find((a) => a.name === 'value')?.t ?? null;
    }
  }
  return null;
}

export function replaceData(graph: GraphProto, name: string, values: Float32Array, dims?: number[]): void {
  const tensor = findTensor(graph, name);
  if (!tensor) throw new Error(`writeOnnxModel: tensor '${name}' is missing from the model`);
  tensor.dataType = FLOAT;
  tensor.floatData = [];
  tensor.rawData = floatBytes(values);
  if (dims) tensor.dims = dims;
}

/** A float tensor's values (raw little-endian bytes or float_data). */
export function floatValues(tensor: TensorProto): Float32Array {
  const raw = tensor.rawData;
  if (raw && raw.length) return new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
  return Float32Array.from(tensor.floatData ?? []);
}

/** The Reshapes viewing a layer's output that lost heads on an axis: that axis' entry of the shape says the new size (see resizeShapeEntry). */
export function resizeViews(graph: GraphProto, handle: OnnxModelHandle, shapes: ReadonlyMap<string, number[]>, kept: ReadonlyMap<string, Int32Array>): void {
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
export function resizeRanges(graph: GraphProto, ranges: readonly ChannelRange[], removed: ReadonlyMap<string, Int32Array>): void {
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
export function dropUnreadNodes(graph: GraphProto): void {
  const outputs = new Set((graph.output ?? []).map((o) => o.name ?? ''));
  for (let changed = true; changed; ) {
    const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
    const before = (graph.node ?? []).length;
    graph.node = (graph.node ?? []).filter((n) => (n.output ?? []).some((o) => read.has(o) || outputs.has(o)));
    changed = graph.node.length < before;
  }
}

/** Reads the model written again, at the sizes it was read with: each layer must compute the shape it has in `network`, each rearrange read the same values. */
export function sameNetwork(handle: OnnxModelHandle, model: ModelProto, network: Network): void {
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
    if (j === undefined) return;
    if (got[i].join(',') !== want[j].join(','))
      throw new Error(`writeOnnxModel: ${handle.source}: with the heads removed, layer '${layer.name}' computes [${got[i].join(', ')}] in the model written: expected [${want[j].join(', ')}] (a size the graph computes that the writer cannot change)`);
    // Same sizes can still move other values (a range not moved with its channels): each rearrange must read the same ones.
    const ours = network.layers[j];
    if (layer.kind === 'rearrange' && ours.kind === 'rearrange' && (!sameValues(layer.indices, ours.indices) || !sameValues(layer.offset, ours.offset)))
      throw new Error(`writeOnnxModel: ${handle.source}: with the heads removed, layer '${layer.name}' reads other values in the model written than in the network`);
  });
}

const sameValues = (a: ArrayLike<number> | null, b: ArrayLike<number> | null) => (a === null || b === null ? a === b : a.length === b.length && Array.prototype.every.call(a, (v: number, k: number) => v === b[k]));

/** What else channel removal changes: BatchNormalization parameters, Reshape sizes, value_info. */
export function resizeChannels(graph: GraphProto, batchNorms: BatchNormBinding[], reshapes: readonly ReshapeBinding[], removed: ReadonlyMap<string, Int32Array>): void {
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
