// writeOnnxModel: the (pruned) weights of a Network written into the model it was read from.
// Its external data is written inside (or, past 2 GiB, to one data file: writeOnnxModelFiles).
// Everything but the weights is kept, except that a BatchNormalization folded into the Conv/Gemm
// before it (ops.ts) stays folded: its node and parameters are removed, the layer's node writes
// the BatchNormalization's output with the folded weights and bias, and the model's metadata
// says so (key 'net-trim.folded').
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../../network/types.js';
import { denseKernelToOnnx, FLOAT, floatBytes, hwioToOihw, hwioToTransposed, onnx, type BatchNormBinding, type GraphProto, type ModelProto, type OnnxModelHandle, type WeightBinding } from './common.js';
import { attachExternalData, externalizeLarge, INLINE_LIMIT } from './externalData.js';
import { liftFloat16, lowerFloat16 } from './float16.js';
import { dropUnreadNodes, findTensor, replaceData, resizeChannels, resizeRanges, resizeViews, sameNetwork } from './graphResize.js';


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
 * tensor of at least 1 KiB at a 4 KiB-aligned offset of it; past 2 GiB of data also `name`.data.1,
 * .2, … (`fileLimit` for tests).
 */
export function writeOnnxModelFiles(
  handle: OnnxModelHandle,
  network: Network,
  removed?: ReadonlyMap<string, Int32Array> | Resizing,
  name = 'model.onnx',
  limit = INLINE_LIMIT,
  fileLimit = INLINE_LIMIT,
): Array<{ name: string; bytes: Uint8Array }> {
  const model = prunedModel(handle, network, removed);
  const data = externalizeLarge(model, `${name}.data`, limit, fileLimit);
  const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
  return [{ name, bytes }, ...(data ?? [])];
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

/** A Resizing of either form (the channels kept alone, or with the heads' shapes). */
export function resizingOf(removed: ReadonlyMap<string, Int32Array> | Resizing | undefined): Partial<Resizing> {
  return removed instanceof Map ? { kept: removed } : ((removed as Resizing | undefined) ?? {});
}

function prunedModel(handle: OnnxModelHandle, network: Network, resizing?: ReadonlyMap<string, Int32Array> | Resizing): ModelProto {
  const { kept: removed, shapes } = resizingOf(resizing);
  const resized = (removed !== undefined && removed.size > 0) || (shapes !== undefined && shapes.size > 0);
  const model = onnx.ModelProto.decode(handle.bytes);
  if (handle.externalData) attachExternalData(model, handle.source, handle.externalData);
  const half = liftFloat16(model, handle.source); // written in float32, then turned back below
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
    sameNetwork(handle, model, network);
  }
  const folded = handle.bindings.filter((b) => b.foldedBatchNorm).map((b) => `${b.foldedBatchNorm!.node} into layer '${b.layer}'`);
  if (folded.length) model.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== 'net-trim.folded'), { key: 'net-trim.folded', value: `BatchNormalization folded: ${folded.join('; ')}` }];
  if (half) lowerFloat16(model, half);
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
