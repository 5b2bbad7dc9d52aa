// The GraphReader: an ONNX graph's constants, consumers and typed attribute access, and the
// errors that name the file and the node.
import { InputError } from '../../errors.js';
import type { Layer, Padding } from '../../network/types.js';
import {
  checkedDims, DATA_TYPE_NAMES, declaredDims, EXTERNAL, FLOAT, INT32, INT64, isDefaultDomain, listText, MAX_DIMENSION, onnx, product, shapeText, tfSamePads, toInt,
  type AttributeProto, type GraphProto, type NodeProto, type TensorProto, type WeightBinding, type BatchNormBinding, type ReshapeBinding, type ReshapeView, type ChannelRange,
} from './common.js';
import { readPast } from './readPast.js';

/** A tensor the network computes: the layer that produces it, its ONNX dims per sample and ours. */
export interface NetTensor {
  /** Our layer that computes it (the network input's name for the input). */
  layer: string;
  /**
   * ONNX dims without the batch: [C, H, W], [N], or [C, 1, 1] after a global pool; a sequence
   * (Conv1d's input) is [C, L] ([C, 1] pooled): the only tensors of two dims.
   */
  dims: number[];
  /** Our shape per sample: [H, W, C] for an image ([1, L, C] for a sequence), [N] for features. */
  ours: number[];
  /** Set after a Flatten of a [C, H, W] image whose CHW and HWC orders differ. */
  chw: [number, number, number] | null;
  /**
   * After a Transpose [0, 2, 3, 1] (ConvNeXt): ONNX's dims are [H, W, C] ([1, 1, C] pooled), ours
   * unchanged (ours is channels-last already). Only the ops that read it ask for it (ctx.net).
   */
  channelsLast?: true;
  /**
   * Tokens reshaped or transposed past ours (attention's heads, tokenOps.ts): dims is the full ONNX
   * shape at batch 1, the batch axis anywhere or merged; ours its row-major order as [A, B, C].
   * Always channelsLast too.
   */
  nd?: true;
}

/** A tensor's fields: a [C, H, W] image, n features, or a globally pooled [C, 1, 1] tensor (ours: [C]). */
export const image = (c: number, h: number, w: number) => ({ dims: [c, h, w], ours: [h, w, c], chw: null });
export const vector = (n: number) => ({ dims: [n], ours: [n], chw: null });
export const pooled = (c: number) => ({ dims: [c, 1, 1], ours: [c], chw: null });
/** A sequence [C, L]: ours is the image [1, L, C], so 1-D convs and pools are 2-D ones of height 1. */
export const sequence = (c: number, l: number) => ({ dims: [c, l], ours: [1, l, c], chw: null });
export const pooledSequence = (c: number) => ({ dims: [c, 1], ours: [c], chw: null });
export const isSequence = (t: NetTensor) => t.dims.length === 2 && !t.nd;
/** The fields of a [C, H, W] window op's output, a sequence when its input `x` is one (H = 1). */
export const windowOutput = (x: NetTensor, c: number, h: number, w: number) => (isSequence(x) ? sequence(c, w) : image(c, h, w));
/** The fields of a tensor of x's shape and layout (an elementwise op's output). */
export const sameAs = (x: NetTensor) => ({ dims: x.dims, ours: x.ours, chw: x.chw, ...(x.channelsLast ? { channelsLast: true as const } : {}), ...(x.nd ? { nd: true as const } : {}) });
/** A tensor's shape and layout in words: two tensors an elementwise op joins have the same. */
export const layoutOf = (t: NetTensor) => `${shapeText(t.dims)} ${shapeText(t.ours)} ${t.chw ? 'chw' : ''} ${t.channelsLast ? 'channels-last' : ''} ${t.nd ? 'nd' : ''}`;
export const isPooled = (t: NetTensor) => t.ours.length === 1 && (shapeText(t.dims) === shapeText([t.ours[0], 1, 1]) || shapeText(t.dims) === shapeText([t.ours[0], 1]));

/** A float32 scalar constant's value, or null (not a constant, or not one float). */
export function scalar(reader: GraphReader, name: string): number | null {
  const tensor = reader.consts.get(name)?.tensor;
  if (!tensor || (tensor.dataType ?? 0) !== FLOAT || (tensor.dims ?? []).some((d) => toInt(d) !== 1)) return null;
  const raw = tensor.rawData;
  if (raw && raw.length) return raw.length === 4 ? new DataView(raw.buffer, raw.byteOffset, 4).getFloat32(0, true) : null;
  return tensor.floatData?.length === 1 ? tensor.floatData[0] : null;
}

interface ConstTensor {
  /** The name of the initializer or Constant node output holding the data (aliases resolved). */
  root: string;
  tensor: TensorProto;
}

export class GraphReader {
  readonly nodes: NodeProto[];
  readonly consts = new Map<string, ConstTensor>();
  /** Nodes that only produce constants (Constant, Identity of a constant). */
  readonly constNodes = new Set<number>();
  /** Nodes that change nothing here: float32-to-float32 and int-to-int Casts, a negative index's wrap (readPast.ts). */
  readonly skipped = new Set<number>();
  /** Non-constant tensor name → indices of the nodes reading it (once per read). */
  readonly consumers = new Map<string, number[]>();
  /** Non-constant tensor name → the index of the node computing it. */
  readonly producers = new Map<string, number>();
  readonly layers: Layer[] = [];
  readonly bindings: WeightBinding[] = [];
  /** BatchNormalizations kept as layers: their parameters, sliced by the writer when channels are removed. */
  readonly batchNorms: BatchNormBinding[] = [];
  /** Dropouts whose training_mode is true, read as inference (an import note says so). */
  readonly trainingDropouts: string[] = [];
  /** Reshapes whose shape names a channel count (the writer resizes them with their input's layer). */
  readonly reshapes: ReshapeBinding[] = [];
  readonly views: ReshapeView[] = [];
  readonly ranges: ChannelRange[] = [];
  private readonly usedNames = new Set<string>();

  constructor(
    readonly graph: GraphProto,
    readonly source: string,
    readonly opset: number,
  ) {
    this.nodes = graph.node ?? [];
    for (const init of graph.initializer ?? []) {
      if (init.name) this.consts.set(init.name, { root: init.name, tensor: init });
    }
    this.nodes.forEach((node, index) => {
      const op = node.opType ?? '';
      if (!isDefaultDomain(node.domain)) return;
      if (op === 'Constant') {
        const value = (node.attribute ?? []).find((a) => a.name === 'value');
        const output = node.output?.[0];
        if (!output) return;
        if (!value?.t || (node.attribute ?? []).length !== 1) {
          const names = (node.attribute ?? []).map((a) => a.name).join(', ');
          throw this.nodeError(index, `attribute ${names || '(none)'}: expected a single 'value' tensor attribute`);
        }
        this.consts.set(output, { root: output, tensor: value.t });
        this.constNodes.add(index);
      } else if (op === 'Identity' && node.input?.length === 1 && this.consts.has(node.input[0]) && node.output?.[0]) {
        this.consts.set(node.output[0], this.consts.get(node.input[0])!);
        this.constNodes.add(index);
      }
    });
    readPast(this, graph);
    this.nodes.forEach((node, index) => {
      if (this.constNodes.has(index) || this.skipped.has(index)) return;
      for (const name of node.input ?? []) {
        if (name && !this.consts.has(name)) this.consumers.set(name, [...(this.consumers.get(name) ?? []), index]);
      }
      for (const name of node.output ?? []) if (name) this.producers.set(name, index);
    });
  }

  /** Node `index`'s op type in the default domain, '' for any other domain (or no node): what the pattern finders match. */
  opType(index: number | undefined): string {
    return index === undefined || !isDefaultDomain(this.nodes[index].domain) ? '' : (this.nodes[index].opType ?? '');
  }

  describe(index: number): string {
    const node = this.nodes[index];
    const op = node.opType ?? '';
    return node.name ? `node ${index} ('${node.name}', op ${op})` : `node ${index} (op ${op})`;
  }

  nodeError(index: number, message: string): InputError {
    return new InputError(`${this.source}: ${this.describe(index)}: ${message}`);
  }

  uniqueName(base: string): string {
    let name = base;
    for (let k = 1; this.usedNames.has(name); k++) name = `${base}_${k}`;
    this.usedNames.add(name);
    return name;
  }

  layerName(index: number, output = 0): string {
    const node = this.nodes[index];
    const name = node.name || `${node.opType ?? 'node'}_${index}`;
    // A node with several outputs (Split) names a layer per output.
    return this.uniqueName(output > 0 ? `${name}:${output}` : name);
  }

  /** The attributes of a node, rejecting any not in `allowed`. */
  attributes(index: number, allowed: readonly string[]): Map<string, AttributeProto> {
    const map = new Map<string, AttributeProto>();
    for (const attribute of this.nodes[index].attribute ?? []) {
      const name = attribute.name ?? '';
      if (!allowed.includes(name)) {
        const expected = allowed.length ? `expected only ${allowed.join(', ')}` : `expected none for this op`;
        throw this.nodeError(index, `unsupported attribute ${name}: ${expected}`);
      }
      map.set(name, attribute);
    }
    return map;
  }

  intAttribute(index: number, attrs: Map<string, AttributeProto>, name: string, fallback: number): number {
    const attribute = attrs.get(name);
    if (!attribute) return fallback;
    if (attribute.type && attribute.type !== onnx.AttributeProto.AttributeType.INT) {
      throw this.nodeError(index, `attribute ${name}: expected an integer`);
    }
    return toInt(attribute.i);
  }

  floatAttribute(index: number, attrs: Map<string, AttributeProto>, name: string, fallback: number): number {
    const attribute = attrs.get(name);
    if (!attribute) return fallback;
    if (attribute.type && attribute.type !== onnx.AttributeProto.AttributeType.FLOAT) {
      throw this.nodeError(index, `attribute ${name}: expected a float`);
    }
    return attribute.f ?? 0;
  }

  intsAttribute(index: number, attrs: Map<string, AttributeProto>, name: string): number[] | null {
    const attribute = attrs.get(name);
    if (!attribute) return null;
    if (attribute.type && attribute.type !== onnx.AttributeProto.AttributeType.INTS) {
      throw this.nodeError(index, `attribute ${name}: expected a list of integers`);
    }
    return (attribute.ints ?? []).map(toInt);
  }

  stringAttribute(index: number, attrs: Map<string, AttributeProto>, name: string, fallback: string): string {
    const attribute = attrs.get(name);
    if (!attribute) return fallback;
    if (attribute.type && attribute.type !== onnx.AttributeProto.AttributeType.STRING) {
      throw this.nodeError(index, `attribute ${name}: expected a string`);
    }
    return new TextDecoder().decode(attribute.s ?? new Uint8Array(0));
  }

  /** A constant input of a node (by position), or an error naming what it should be. */
  constInput(index: number, position: number, what: string): ConstTensor {
    const name = this.nodes[index].input?.[position] ?? '';
    const constant = name ? this.consts.get(name) : undefined;
    if (!constant) {
      throw this.nodeError(index, `input ${position} ('${name}', the ${what}): expected an initializer or a Constant`);
    }
    return constant;
  }

  /** An optional constant input: null when absent or the empty name. */
  optionalConstInput(index: number, position: number, what: string): ConstTensor | null {
    const name = this.nodes[index].input?.[position] ?? '';
    return name ? this.constInput(index, position, what) : null;
  }

  /**
   * A weight or bias: float32 values. Several nodes may read one tensor (PyTorch's exporter
   * shares bit-identical initializers, e.g. the zero biases of freshly folded BatchNorms): each
   * layer gets its own copy, and writeOnnxModel gives each node its own tensor.
   */
  weightValues(index: number, constant: ConstTensor, what: string): { dims: number[]; values: Float32Array } {
    const tensor = constant.tensor;
    const where = `${what} '${constant.root}'`;
    const dims = declaredDims(tensor);
    if (typeof dims === 'string') throw this.nodeError(index, `${where}: ${dims}`);
    if ((tensor.dataType ?? 0) !== FLOAT) {
      const type = DATA_TYPE_NAMES[tensor.dataType ?? 0] ?? `data_type ${tensor.dataType ?? 0}`;
      throw this.nodeError(index, `${where}: expected float32, found ${type}`);
    }
    if (tensor.dataLocation === EXTERNAL) {
      throw this.nodeError(index, `${where}: expected the data inside the model (raw_data or float_data), found external data`);
    }
    const count = product(dims);
    const raw = tensor.rawData;
    if (raw && raw.length > 0) {
      if (raw.length !== count * 4) {
        throw this.nodeError(index, `${where}: raw_data of ${raw.length} bytes: expected ${count * 4} for shape ${shapeText(dims)}`);
      }
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      const values = new Float32Array(count);
      for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
      return { dims, values };
    }
    const data = tensor.floatData ?? [];
    if (data.length !== count) {
      throw this.nodeError(index, `${where}: ${data.length} float_data values: expected ${count} for shape ${shapeText(dims)}`);
    }
    return { dims, values: Float32Array.from(data) };
  }

  /** The value of an int32 or int64 constant of one value (an axis, a padding id), or null. */
  intScalar(name: string): number | null {
    const tensor = this.consts.get(name)?.tensor;
    if (!tensor || (tensor.dataType !== INT64 && tensor.dataType !== INT32) || !(tensor.dims ?? []).every((d) => toInt(d) === 1)) return null;
    const raw = tensor.rawData;
    if (raw && raw.length) {
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return tensor.dataType === INT64 ? (raw.length === 8 ? Number(view.getBigInt64(0, true)) : null) : raw.length === 4 ? view.getInt32(0, true) : null;
    }
    const data = tensor.dataType === INT64 ? tensor.int64Data : tensor.int32Data;
    return data?.length === 1 ? toInt(data[0]) : null;
  }

  /** A bool constant (a mask PyTorch 2 folds: `bias[:, :, :T, :T] == 0`) as 0 and 1, with its dims. */
  boolValues(index: number, constant: ConstTensor, what: string): { dims: number[]; values: number[] } {
    const tensor = constant.tensor;
    const where = `${what} '${constant.root}'`;
    const dims = declaredDims(tensor);
    if (typeof dims === 'string') throw this.nodeError(index, `${where}: ${dims}`);
    const count = product(dims);
    const raw = tensor.rawData;
    const data = raw && raw.length > 0 ? raw : (tensor.int32Data ?? []);
    if (data.length !== count) throw this.nodeError(index, `${where}: ${data.length} bool values: expected ${count} for shape ${shapeText(dims)}`);
    return { dims, values: Array.from(data, (v) => (v ? 1 : 0)) };
  }

  /**
   * An int constant's values, int64 or int32 (GPT-2's aranges and Range bounds are int32), at most
   * `max` (a shape, axes, pads; a Gather's indices may hold more).
   */
  intValues(index: number, constant: ConstTensor, what: string, max = 64): number[] {
    const tensor = constant.tensor;
    const where = `${what} '${constant.root}'`;
    const bytes = tensor.dataType === INT32 ? 4 : 8;
    if ((tensor.dataType ?? 0) !== INT64 && bytes !== 4) {
      const type = DATA_TYPE_NAMES[tensor.dataType ?? 0] ?? `data_type ${tensor.dataType ?? 0}`;
      throw this.nodeError(index, `${where}: expected int64 or int32, found ${type}`);
    }
    const declared = (tensor.dims ?? []).map(toInt);
    const dims = checkedDims(declared);
    if (!dims || product(dims) > max) throw this.nodeError(index, `${where}: dims ${shapeText(declared)}: expected at most ${max} values`);
    const count = product(dims);
    const raw = tensor.rawData;
    if (raw && raw.length > 0) {
      if (raw.length !== count * bytes) throw this.nodeError(index, `${where}: raw_data of ${raw.length} bytes: expected ${count * bytes}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: count }, (_, i) => (bytes === 4 ? view.getInt32(i * 4, true) : Number(view.getBigInt64(i * 8, true))));
    }
    const data = ((bytes === 4 ? tensor.int32Data : tensor.int64Data) ?? []).map(toInt);
    if (data.length !== count) throw this.nodeError(index, `${where}: ${data.length} ${bytes === 4 ? 'int32' : 'int64'}_data values: expected ${count}`);
    return data;
  }

  /** Padding of a 2-D Conv/pool: auto_pad or explicit pads, as our Padding ([top, left, bottom, right] = ONNX's order). */
  padding(
    index: number,
    attrs: Map<string, AttributeProto>,
    spatial: readonly [number, number],
    kernel: readonly [number, number],
    strides: readonly [number, number],
  ): Padding {
    const autoPad = this.stringAttribute(index, attrs, 'auto_pad', 'NOTSET');
    const pads = this.intsAttribute(index, attrs, 'pads');
    if (pads && autoPad !== 'NOTSET' && autoPad !== '') throw this.nodeError(index, `attributes auto_pad=${autoPad} and pads: expected one of them`);
    switch (autoPad) {
      case 'VALID':
        return 'valid';
      case 'SAME_UPPER':
        return 'same';
      case 'SAME_LOWER': {
        // TF's 'same' totals with the odd pixel before.
        const same = [0, 1].map((d) => tfSamePads(spatial[d], kernel[d], strides[d]));
        return [same[0][1], same[1][1], same[0][0], same[1][0]];
      }
      case 'NOTSET':
      case '':
        break;
      default:
        throw this.nodeError(index, `unsupported attribute auto_pad=${autoPad}: expected NOTSET, SAME_UPPER, SAME_LOWER or VALID`);
    }
    const explicit = pads ?? [0, 0, 0, 0];
    if (explicit.length !== 4 || explicit.some((p) => !(p >= 0 && p <= MAX_DIMENSION)))
      throw this.nodeError(index, `attribute pads=${listText(explicit)}: expected 4 values ≥ 0 for a 2-D op`);
    if (explicit.every((p) => p === 0)) return 'valid';
    // Pads equal to TF's 'same' for this input are 'same' (PyTorch's padding=1 for 3×3 at stride 1): a TF.js model can say it.
    const same = [0, 1].map((d) => tfSamePads(spatial[d], kernel[d], strides[d]));
    if ([same[0][0], same[1][0], same[0][1], same[1][1]].every((p, i) => p === explicit[i])) return 'same';
    return [explicit[0], explicit[1], explicit[2], explicit[3]];
  }

  /** The [C, H, W] of an image tensor ([C, 1, L] of a sequence), or an error. */
  requireImage(index: number, tensor: NetTensor): [number, number, number] {
    if (tensor.ours.length !== 3 || (tensor.dims.length !== 3 && !isSequence(tensor))) {
      throw this.nodeError(index, `input has shape [batch, ${tensor.dims.join(', ')}]: expected an image [batch, C, H, W] or a sequence [batch, C, L]`);
    }
    return isSequence(tensor) ? [tensor.dims[0], 1, tensor.dims[1]] : [tensor.dims[0], tensor.dims[1], tensor.dims[2]];
  }

  requireVector(index: number, tensor: NetTensor): number {
    if (tensor.ours.length !== 1 || product(tensor.dims) !== tensor.ours[0] || tensor.dims.slice(1).some((d) => d !== 1)) {
      throw this.nodeError(
        index,
        `input has shape [batch, ${tensor.dims.join(', ')}]: expected [batch, features] (Flatten or Reshape an image first)`,
      );
    }
    return tensor.ours[0];
  }

  /** Checks that a node's outputs after the first (Dropout's mask, MaxPool's Indices) are unused. */
  requireOnlyFirstOutput(index: number, graphOutputs: ReadonlySet<string>): void {
    const outputs = this.nodes[index].output ?? [];
    for (const name of outputs.slice(1)) {
      if (!name) continue;
      if ((this.consumers.get(name)?.length ?? 0) > 0 || graphOutputs.has(name)) {
        throw this.nodeError(index, `output '${name}' is used: expected only the first output to be used`);
      }
    }
  }
}

/** Parses an ONNX model into a Network (see the file header for what is accepted). */