// Half-precision models (`model.half()` exported by either PyTorch exporter; float16 in and out,
// or float32 at the edges with Casts): read in float32 and written back in float16. The reader
// and the writer work on float32 only; `liftFloat16` turns a decoded model's float16 into float32
// in place (every value is exact in float32) and says what it turned, and `lowerFloat16` turns
// those back in the model written, the pruned weights rounded to nearest-even. Browser-safe.
import { InputError } from '../../errors.js';
import { halfBytes, halfToFloat } from '../../network/half.js';
import { storeLayerWeights } from '../../network/storage.js';
import type { Layer } from '../../network/types.js';
import { declaredDims, FLOAT, FLOAT16, floatBytes, product, shapeText, toInt, type GraphProto, type ModelProto, type TensorProto, type WeightBinding } from './common.js';

/** What liftFloat16 turned to float32, by name: what lowerFloat16 turns back. */
export interface HalfPrecision {
  /** Initializers (and a Constant's or ConstantOfShape's value, by the node's output). */
  tensors: Set<string>;
  /** Outputs of Cast nodes whose `to` was float16. */
  casts: Set<string>;
  /** Graph inputs, outputs and value_info declared float16. */
  values: Set<string>;
}

/** A float16 tensor's values (raw_data: 2 bytes each; else int32_data: one value's bits each), its sizes checked first. */
export function halfValues(tensor: TensorProto, where: string): { dims: number[]; values: Float32Array } {
  const dims = declaredDims(tensor);
  if (typeof dims === 'string') throw new InputError(`${where}: ${dims}`);
  const count = product(dims);
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== count * 2) throw new InputError(`${where}: raw_data of ${raw.length} bytes: expected ${count * 2} for float16 shape ${shapeText(dims)}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    return { dims, values: Float32Array.from({ length: count }, (_, i) => halfToFloat(view.getUint16(i * 2, true))) };
  }
  const data = tensor.int32Data ?? [];
  if (data.length !== count) throw new InputError(`${where}: ${data.length} int32_data values: expected ${count} for float16 shape ${shapeText(dims)}`);
  return { dims, values: Float32Array.from(data, (bits) => halfToFloat(bits & 0xffff)) };
}

function toFloat(tensor: TensorProto, where: string): void {
  const { values } = halfValues(tensor, where);
  tensor.dataType = FLOAT;
  tensor.rawData = floatBytes(values);
  tensor.int32Data = [];
}

function toHalf(tensor: TensorProto): void {
  const raw = tensor.rawData && tensor.rawData.length ? tensor.rawData : null;
  const view = raw && new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const values = raw ? Float32Array.from({ length: raw.length / 4 }, (_, i) => view!.getFloat32(i * 4, true)) : Float32Array.from(tensor.floatData ?? []);
  tensor.dataType = FLOAT16;
  tensor.rawData = halfBytes(values);
  tensor.floatData = [];
}

/** Every graph of the model: the main one and those inside attributes (If's branches). */
function* graphsOf(graph: GraphProto): Generator<GraphProto> {
  yield graph;
  for (const node of graph.node ?? []) for (const a of node.attribute ?? []) for (const g of [...(a.g ? [a.g] : []), ...(a.graphs ?? [])]) yield* graphsOf(g);
}

/**
 * Turns the model's float16 into float32 in place (its external data already inside): initializers,
 * Constant and ConstantOfShape values, Cast targets, and the declared types of inputs, outputs and
 * value_info. Returns what it turned, or null for a model with no float16.
 */
export function liftFloat16(model: ModelProto, source: string): HalfPrecision | null {
  const found: HalfPrecision = { tensors: new Set(), casts: new Set(), values: new Set() };
  for (const graph of graphsOf(model.graph!)) {
    for (const tensor of graph.initializer ?? [])
      if (tensor.dataType === FLOAT16) {
        toFloat(tensor, `${source}: initializer '${tensor.name ?? ''}'`);
        found.tensors.add(tensor.name ?? '');
      }
    for (const node of graph.node ?? []) {
      const output = node.output?.[0] ?? '';
      for (const a of node.attribute ?? []) {
        if (a.name === 'value' && a.t?.dataType === FLOAT16 && (node.opType === 'Constant' || node.opType === 'ConstantOfShape')) {
          toFloat(a.t, `${source}: node '${node.name || output}' (${node.opType}): value`);
          found.tensors.add(output);
        }
        if (a.name === 'to' && node.opType === 'Cast' && toInt(a.i ?? 0) === FLOAT16) {
          a.i = FLOAT;
          found.casts.add(output);
        }
      }
    }
    for (const value of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
      if (value.type?.tensorType?.elemType === FLOAT16) {
        value.type.tensorType.elemType = FLOAT;
        found.values.add(value.name ?? '');
      }
  }
  return found.tensors.size || found.casts.size || found.values.size ? found : null;
}

/**
 * Turns back what liftFloat16 turned, in the model the writer made of the lifted one. An
 * initializer the writer added takes the type of the one it is named after (`<name>.<layer>`: a
 * shared tensor's copy; `<weight>.folded_bias`): a node's float inputs share one type.
 */
export function lowerFloat16(model: ModelProto, half: HalfPrecision): void {
  const origin = (name: string): string | undefined => {
    for (let cut = name.length; cut > 0; cut = name.lastIndexOf('.', cut - 1)) if (half.tensors.has(name.slice(0, cut))) return name.slice(0, cut);
    return undefined;
  };
  for (const graph of graphsOf(model.graph!)) {
    for (const tensor of graph.initializer ?? []) if (tensor.dataType === FLOAT && origin(tensor.name ?? '') !== undefined) toHalf(tensor);
    for (const node of graph.node ?? []) {
      const output = node.output?.[0] ?? '';
      for (const a of node.attribute ?? []) {
        if (a.name === 'value' && a.t?.dataType === FLOAT && half.tensors.has(output)) toHalf(a.t);
        if (a.name === 'to' && node.opType === 'Cast' && half.casts.has(output)) a.i = FLOAT16;
      }
    }
    for (const value of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])])
      if (value.type?.tensorType?.elemType === FLOAT && half.values.has(value.name ?? '')) value.type.tensorType.elemType = FLOAT16;
  }
}

/**
 * Marks the layers whose weight the file stores in float16 as stored so (a bias the writer adds, a
 * folded BatchNorm's, takes the weight's type), and rounds their kernels and biases to halves: a
 * fold's product is written back in float16, so the network computes with what the file will hold.
 */
export function halfLayers(layers: readonly Layer[], bindings: readonly WeightBinding[], half: HalfPrecision): void {
  const byName = new Map(bindings.map((b) => [b.layer, b]));
  for (const layer of layers) {
    const binding = byName.get(layer.name);
    if ((layer.kind !== 'dense' && layer.kind !== 'conv2d') || !binding || !half.tensors.has(binding.weight)) continue;
    layer.storage = { kernel: 'float16', ...(binding.bias === null || half.tensors.has(binding.bias) ? { bias: 'float16' as const } : {}) };
    storeLayerWeights(layer);
  }
}
