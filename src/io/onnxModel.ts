// ONNX models in and out, browser-safe: bytes in, bytes out (the protobuf codec is onnx-proto's
// generated protobufjs code; nothing here touches the file system).
//
// What is accepted: a graph that is a single chain from its one input to its one output, made of
// Gemm (alpha = beta = 1, transA = 0, transB 0 or 1), MatMul followed by an Add of a constant bias
// (one dense layer; a MatMul alone is a dense layer without bias), Conv (2-D, group 1, no
// dilation), Relu, MaxPool (2-D, no dilation, ceil_mode 0), Flatten (axis 1), Reshape to
// [batch, -1] (constant shape), Softmax (last axis of a [batch, features] tensor), and Identity or
// Dropout (skipped). Weights are float32 initializers (raw_data or float_data) or Constant nodes.
// Every other graph is rejected with a one-line InputError naming the file and the node.
// Conv/MaxPool padding must be expressible in TF terms: auto_pad VALID or all-zero pads → 'valid';
// auto_pad SAME_UPPER, or explicit pads equal to TF's 'same' padding for that input size, kernel
// and stride (total = max((ceil(in/s) − 1)·s + k − in, 0), begin = floor(total/2), end = the
// rest; symmetric for odd kernels at stride 1, e.g. PyTorch's padding=1 for 3×3) → 'same'.
//
// Layouts. ONNX image tensors are NCHW with OIHW conv kernels; our Network is NHWC with HWIO
// kernels (src/network/types.ts). The conversion happens here, at the boundary, so that the
// Network computes the same function on NHWC data as the ONNX graph on the same data in NCHW:
//   - input shape [batch, C, H, W] → inputShape [H, W, C]; [batch, N] → [N];
//   - Conv weights OIHW [cout, cin, kh, kw] → kernel HWIO [kh, kw, cin, cout];
//   - Gemm weights with transB = 1 ([M, N], PyTorch's Linear) are transposed to our N×M; MatMul
//     and transB = 0 weights are already N×M;
//   - a Flatten (or Reshape) of a [C, H, W] image orders its features c·H·W + h·W + w in ONNX but
//     (h·W + w)·C + c in our NHWC network, so the rows of the first dense layer after it are
//     permuted from ONNX's CHW order to our HWC order. (Elementwise layers between the Flatten and
//     the dense layer keep the order; a flattened image that reaches the graph output without a
//     dense layer is rejected, since its feature order would differ.)
// ONNX expresses activations as nodes, so the imported Network has separate 'relu' and 'softmax'
// layers and every dense/conv layer has activation 'linear'. Layer names are the node names (made
// unique); the dense layer of a MatMul+Add is named after the MatMul.
//
// writeOnnxModel inverts the layout conversions for the (pruned) weights of a Network and writes
// them into the original model's initializers, matched by layer name; everything else (opset,
// node and tensor names, inputs, outputs, metadata) is kept. (Fields newer than onnx-proto's ONNX
// 1.10 schema are not known to the codec and are dropped on writing.)
//
// networkToOnnx builds a fresh model from a Network (e.g. one trained with TF.js): input 'input'
// of shape [N, C, H, W] (or [N, features]) with a dynamic batch dim 'N', output 'output', opset
// 13 by default; Gemm (transB = 0, N×M weights), Conv (OIHW weights, explicit pads computed from
// the input size for 'same'), MaxPool, Flatten, and Relu/Softmax nodes for fused activations. The
// rows of the dense layer after a Flatten of an image are permuted from our HWC order to ONNX's
// CHW order, the inverse of the import.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { InputError } from '../errors.js';
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../network/types.js';
import { windowAxis } from '../network/shapes.js';

const { onnx } = onnxProto;

type ModelProto = OnnxTypes.ModelProto;
type GraphProto = OnnxTypes.IGraphProto;
type NodeProto = OnnxTypes.INodeProto;
type TensorProto = OnnxTypes.ITensorProto;
type AttributeProto = OnnxTypes.IAttributeProto;

const FLOAT = 1; // TensorProto.DataType.FLOAT
const INT64 = 7; // TensorProto.DataType.INT64
const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL
const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};
const SUPPORTED_OPS = 'Gemm, MatMul+Add, Conv, Relu, MaxPool, Flatten, Reshape, Softmax, Identity, Dropout';
const CHAIN_OPS = new Set(['Gemm', 'MatMul', 'Conv', 'Relu', 'MaxPool', 'Flatten', 'Reshape', 'Softmax', 'Identity', 'Dropout']);

/** Where a dense layer's weights live in the ONNX graph and how they map to ours. */
interface DenseBinding {
  kind: 'dense';
  layer: string;
  node: string; // e.g. "node 3 ('/fc1/Gemm', op Gemm)", for messages
  weight: string; // constant tensor name
  bias: string | null;
  transB: boolean;
  inputs: number;
  units: number;
  /** [C, H, W] when the input is a flattened image (rows permuted CHW ↔ HWC), else null. */
  chw: [number, number, number] | null;
}

interface ConvBinding {
  kind: 'conv2d';
  layer: string;
  node: string;
  weight: string;
  bias: string | null;
  /** OIHW dims. */
  filters: number;
  inChannels: number;
  kernelSize: [number, number];
}

type WeightBinding = DenseBinding | ConvBinding;

/** A parsed ONNX model: the Network it computes, and what writeOnnxModel needs to write it back. */
export interface OnnxModelHandle {
  /** The file name (or other label) used in error messages. */
  readonly source: string;
  /** The imported network (NHWC, HWIO kernels, N×M dense kernels; see the file header). */
  readonly network: Network;
  /** The default-domain opset of the model. */
  readonly opset: number;
  /** The producer named in the model, '' when none. */
  readonly producer: string;
  /** Internal: a copy of the model's bytes, re-decoded on each write. */
  readonly bytes: Uint8Array;
  /** Internal: where each dense/conv layer's weights live in the graph. */
  readonly bindings: readonly WeightBinding[];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** An int64 field as decoded by protobufjs: a number, or a Long when the `long` package exists. */
function toInt(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

/** Largest size of one dimension, and of one tensor's values, accepted from a model file. */
const MAX_DIMENSION = 1 << 24;
const MAX_VALUES = 1 << 28;

/**
 * Dimensions declared in the file, checked before anything is sized or looped over by them (a
 * 100-byte file can declare [10¹³, 0]): integers from 0 (or 1, for an input) to MAX_DIMENSION
 * whose product is at most MAX_VALUES. Returns null where `fits` is false, for the caller's message.
 */
function checkedDims(dims: readonly number[], minimum = 0): number[] | null {
  if (dims.length > 8 || !dims.every((d) => Number.isSafeInteger(d) && d >= minimum && d <= MAX_DIMENSION)) return null;
  return product(dims) <= MAX_VALUES ? [...dims] : null;
}

const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);
const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
const shapeText = (dims: readonly number[]) => `[${dims.join(', ')}]`;
const listText = (values: readonly number[]) => `[${values.join(',')}]`;
const isDefaultDomain = (domain: string | null | undefined) => !domain || domain === 'ai.onnx';

/** TF's 'same' padding of one spatial dim: [begin, end] (the network's own window rule). */
export function tfSamePads(inSize: number, kernel: number, stride: number): [number, number] {
  const { padBefore, padAfter } = windowAxis(inSize, kernel, stride, 'same');
  return [padBefore, padAfter];
}

/** Output size of one spatial dim under TF padding, or 0 when the window does not fit. */
function outputSize(inSize: number, kernel: number, stride: number, padding: 'valid' | 'same'): number {
  return Math.max(windowAxis(inSize, kernel, stride, padding).out, 0);
}

function floatBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Layout conversions (shared by import, write-back and export)

/** Our row (h·W + w)·C + c → ONNX row c·H·W + h·W + w, for every row of our HWC order. */
function chwRowOf(chw: readonly [number, number, number]): Int32Array {
  const [C, H, W] = chw;
  const map = new Int32Array(C * H * W);
  for (let h = 0; h < H; h++) {
    for (let w = 0; w < W; w++) {
      for (let c = 0; c < C; c++) map[(h * W + w) * C + c] = c * H * W + h * W + w;
    }
  }
  return map;
}

/** An ONNX dense weight (N×M, or M×N when transB) → our N×M kernel with rows in HWC order. */
function denseKernelFromOnnx(
  weight: Float32Array,
  inputs: number,
  units: number,
  transB: boolean,
  chw: readonly [number, number, number] | null,
): Float32Array {
  const kernel = new Float32Array(inputs * units);
  const rowOf = chw ? chwRowOf(chw) : null;
  for (let n = 0; n < inputs; n++) {
    const r = rowOf ? rowOf[n] : n;
    for (let m = 0; m < units; m++) kernel[n * units + m] = transB ? weight[m * inputs + r] : weight[r * units + m];
  }
  return kernel;
}

/** The inverse of denseKernelFromOnnx. */
function denseKernelToOnnx(
  kernel: Float32Array,
  inputs: number,
  units: number,
  transB: boolean,
  chw: readonly [number, number, number] | null,
): Float32Array {
  const weight = new Float32Array(inputs * units);
  const rowOf = chw ? chwRowOf(chw) : null;
  for (let n = 0; n < inputs; n++) {
    const r = rowOf ? rowOf[n] : n;
    for (let m = 0; m < units; m++) {
      if (transB) weight[m * inputs + r] = kernel[n * units + m];
      else weight[r * units + m] = kernel[n * units + m];
    }
  }
  return weight;
}

/** OIHW [cout, cin, kh, kw] → HWIO [kh, kw, cin, cout]. */
function oihwToHwio(weight: Float32Array, cout: number, cin: number, kh: number, kw: number): Float32Array {
  const kernel = new Float32Array(weight.length);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) kernel[((y * kw + x) * cin + i) * cout + o] = weight[((o * cin + i) * kh + y) * kw + x];
      }
    }
  }
  return kernel;
}

/** HWIO [kh, kw, cin, cout] → OIHW [cout, cin, kh, kw]. */
function hwioToOihw(kernel: Float32Array, cout: number, cin: number, kh: number, kw: number): Float32Array {
  const weight = new Float32Array(kernel.length);
  for (let o = 0; o < cout; o++) {
    for (let i = 0; i < cin; i++) {
      for (let y = 0; y < kh; y++) {
        for (let x = 0; x < kw; x++) weight[((o * cin + i) * kh + y) * kw + x] = kernel[((y * kw + x) * cin + i) * cout + o];
      }
    }
  }
  return weight;
}

// ---------------------------------------------------------------------------------------------
// Import

function decodeModel(bytes: Uint8Array, source: string): ModelProto {
  let model: ModelProto;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    const reason = (error as Error).message.split('\n')[0];
    throw new InputError(`${source}: not a valid ONNX model: protobuf decoding failed (${reason}), the file may be truncated`);
  }
  if (!model.graph) throw new InputError(`${source}: graph: missing: expected an ONNX ModelProto with a graph (is the file truncated, or not an ONNX model?)`);
  return model;
}

function defaultOpset(model: ModelProto, source: string): number {
  const entry = model.opsetImport.find((o) => isDefaultDomain(o.domain));
  if (!entry) {
    throw new InputError(`${source}: opset_import: expected an entry for the default ONNX domain, found none (is the file truncated?)`);
  }
  return toInt(entry.version);
}

interface ConstTensor {
  /** The name of the initializer or Constant node output holding the data (aliases resolved). */
  root: string;
  tensor: TensorProto;
}

/** The chain's tensor between two nodes, per sample (ONNX dims without the batch dim). */
interface ChainState {
  dims: number[];
  /** Set after a Flatten of a [C, H, W] image whose CHW and HWC orders differ. */
  chw: [number, number, number] | null;
}

class GraphReader {
  readonly nodes: NodeProto[];
  readonly consts = new Map<string, ConstTensor>();
  /** Nodes that only produce constants (Constant, Identity of a constant). */
  readonly constNodes = new Set<number>();
  /** Non-constant tensor name → indices of the nodes reading it (once per read). */
  readonly consumers = new Map<string, number[]>();
  /** Constant root name → indices of the nodes reading it. */
  readonly constUsers = new Map<string, number[]>();
  readonly layers: Layer[] = [];
  readonly bindings: WeightBinding[] = [];
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
    this.nodes.forEach((node, index) => {
      if (this.constNodes.has(index)) return;
      for (const name of node.input ?? []) {
        if (!name) continue;
        const constant = this.consts.get(name);
        const map = constant ? this.constUsers : this.consumers;
        const key = constant ? constant.root : name;
        map.set(key, [...(map.get(key) ?? []), index]);
      }
    });
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

  layerName(index: number): string {
    const node = this.nodes[index];
    return this.uniqueName(node.name || `${node.opType ?? 'node'}_${index}`);
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

  /** A weight or bias: float32 values, used by this node only. */
  weightValues(index: number, constant: ConstTensor, what: string): { dims: number[]; values: Float32Array } {
    const users = this.constUsers.get(constant.root) ?? [];
    const other = users.find((user) => user !== index);
    if (other !== undefined) {
      throw this.nodeError(index, `${what} '${constant.root}' is also read by ${this.describe(other)}: expected weights used by one node`);
    }
    const tensor = constant.tensor;
    const where = `${what} '${constant.root}'`;
    const declared = (tensor.dims ?? []).map(toInt);
    const dims = checkedDims(declared);
    if (!dims) throw this.nodeError(index, `${where}: dims ${shapeText(declared)}: expected at most 8 sizes from 0 to ${MAX_DIMENSION}, ${MAX_VALUES} values in all`);
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

  /** An int64 constant (a Reshape shape). */
  int64Values(index: number, constant: ConstTensor, what: string): number[] {
    const tensor = constant.tensor;
    const where = `${what} '${constant.root}'`;
    if ((tensor.dataType ?? 0) !== INT64) {
      const type = DATA_TYPE_NAMES[tensor.dataType ?? 0] ?? `data_type ${tensor.dataType ?? 0}`;
      throw this.nodeError(index, `${where}: expected int64, found ${type}`);
    }
    const declared = (tensor.dims ?? []).map(toInt);
    const dims = checkedDims(declared);
    if (!dims || product(dims) > 64) throw this.nodeError(index, `${where}: dims ${shapeText(declared)}: expected at most 64 values`);
    const count = product(dims);
    const raw = tensor.rawData;
    if (raw && raw.length > 0) {
      if (raw.length !== count * 8) throw this.nodeError(index, `${where}: raw_data of ${raw.length} bytes: expected ${count * 8}`);
      const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
      return Array.from({ length: count }, (_, i) => Number(view.getBigInt64(i * 8, true)));
    }
    const data = (tensor.int64Data ?? []).map(toInt);
    if (data.length !== count) throw this.nodeError(index, `${where}: ${data.length} int64_data values: expected ${count}`);
    return data;
  }

  /** Padding of a 2-D Conv/MaxPool as 'valid' or 'same', or an error. */
  padding(
    index: number,
    attrs: Map<string, AttributeProto>,
    spatial: readonly [number, number],
    kernel: readonly [number, number],
    strides: readonly [number, number],
  ): 'valid' | 'same' {
    const autoPad = this.stringAttribute(index, attrs, 'auto_pad', 'NOTSET');
    const same = [0, 1].map((d) => tfSamePads(spatial[d], kernel[d], strides[d]));
    const sameList = [same[0][0], same[1][0], same[0][1], same[1][1]]; // ONNX order: begins, then ends
    const pads = this.intsAttribute(index, attrs, 'pads');
    switch (autoPad) {
      case 'VALID':
        return 'valid';
      case 'SAME_UPPER':
        return 'same';
      case 'SAME_LOWER':
        // SAME_LOWER puts the odd pixel at the beginning; equal to TF's 'same' when totals are even.
        if (same.every(([begin, end]) => begin === end)) return 'same';
        throw this.nodeError(index, `unsupported attribute auto_pad=SAME_LOWER with odd total padding: expected SAME_UPPER (TF 'same')`);
      case 'NOTSET':
      case '':
        break;
      default:
        throw this.nodeError(index, `unsupported attribute auto_pad=${autoPad}: expected NOTSET, SAME_UPPER or VALID`);
    }
    const explicit = pads ?? [0, 0, 0, 0];
    if (explicit.length !== 4) throw this.nodeError(index, `attribute pads=${listText(explicit)}: expected 4 values for a 2-D op`);
    if (explicit.every((p) => p === 0)) return 'valid';
    if (explicit.every((p, i) => p === sameList[i])) return 'same';
    throw this.nodeError(
      index,
      `unsupported attribute pads=${listText(explicit)} for input ${spatial[0]}×${spatial[1]}, kernel ${kernel[0]}×${kernel[1]}, ` +
        `stride ${strides[0]}×${strides[1]}: expected all zero ('valid') or ${listText(sameList)} (TF 'same')`,
    );
  }

  /** The [C, H, W] of an image tensor, or an error. */
  requireImage(index: number, state: ChainState): [number, number, number] {
    if (state.dims.length !== 3) {
      throw this.nodeError(index, `input has shape [batch, ${state.dims.join(', ')}]: expected a 2-D image [batch, C, H, W]`);
    }
    return [state.dims[0], state.dims[1], state.dims[2]];
  }

  requireVector(index: number, state: ChainState): number {
    if (state.dims.length !== 1) {
      throw this.nodeError(
        index,
        `input has shape [batch, ${state.dims.join(', ')}]: expected [batch, features] (Flatten or Reshape an image first)`,
      );
    }
    return state.dims[0];
  }

  /** Checks that a node's outputs after the first (Dropout's mask, MaxPool's Indices) are unused. */
  requireOnlyFirstOutput(index: number, graphOutput: string): void {
    const outputs = this.nodes[index].output ?? [];
    for (const name of outputs.slice(1)) {
      if (!name) continue;
      if ((this.consumers.get(name)?.length ?? 0) > 0 || name === graphOutput) {
        throw this.nodeError(index, `output '${name}' is used: expected only the first output to be used`);
      }
    }
  }
}

/** Parses an ONNX model into a Network (see the file header for what is accepted). */
export function parseOnnxModel(bytes: Uint8Array, source: string): OnnxModelHandle {
  const model = decodeModel(bytes, source);
  const opset = defaultOpset(model, source);
  const graph = model.graph!;
  const reader = new GraphReader(graph, source, opset);

  // The one graph input (initializers may also be listed as inputs) and the one output.
  const inputs = (graph.input ?? []).filter((input) => !reader.consts.has(input.name ?? ''));
  if (inputs.length !== 1) {
    throw new InputError(
      `${source}: graph inputs: expected one (besides initializers), found ${inputs.length}` +
        (inputs.length ? ` (${inputs.map((i) => `'${i.name}'`).join(', ')})` : ''),
    );
  }
  const outputs = graph.output ?? [];
  if (outputs.length !== 1) {
    throw new InputError(`${source}: graph outputs: expected one, found ${outputs.length}`);
  }
  const input = inputs[0];
  const inputName = input.name ?? '';
  const outputName = outputs[0].name ?? '';
  const tensorType = input.type?.tensorType;
  if (!tensorType) throw new InputError(`${source}: input '${inputName}': expected a tensor`);
  if (tensorType.elemType !== FLOAT) {
    const type = DATA_TYPE_NAMES[tensorType.elemType ?? 0] ?? `elem_type ${tensorType.elemType ?? 0}`;
    throw new InputError(`${source}: input '${inputName}': expected float32, found ${type}`);
  }
  if (!tensorType.shape) throw new InputError(`${source}: input '${inputName}': expected a shape, found none`);
  const dims = (tensorType.shape.dim ?? []).map((d) => (hasOwn(d, 'dimValue') ? toInt(d.dimValue) : null));
  const dimsText = `[${dims.map((d) => d ?? '?').join(', ')}]`;
  if ((dims.length !== 2 && dims.length !== 4) || dims.slice(1).some((d) => d === null || d <= 0) || !checkedDims(dims.slice(1) as number[], 1)) {
    throw new InputError(
      `${source}: input '${inputName}' has shape ${dimsText}: expected [batch, C, H, W] (NCHW image) or [batch, features], with fixed sizes besides the batch (each at most ${MAX_DIMENSION}, ${MAX_VALUES} values per sample)`,
    );
  }
  const batch = dims[0];
  const sampleDims = dims.slice(1) as number[];
  const inputShape = sampleDims.length === 3 ? [sampleDims[1], sampleDims[2], sampleDims[0]] : [sampleDims[0]];

  // Walk the chain.
  const visited = new Set<number>();
  let state: ChainState = { dims: sampleDims, chw: null };
  let current = inputName;
  for (;;) {
    const readers = reader.consumers.get(current) ?? [];
    if (current === outputName) {
      if (readers.length > 0) {
        throw reader.nodeError(readers[0], `reads the graph output '${outputName}': branching graphs are not supported, expected a single chain from '${inputName}' to '${outputName}'`);
      }
      break;
    }
    if (readers.length === 0) {
      throw new InputError(
        `${source}: tensor '${current}' is read by no node and is not the graph output '${outputName}': expected a single chain from '${inputName}' to '${outputName}'`,
      );
    }
    if (readers.length > 1) {
      const [first, second] = readers;
      const also = first === second ? 'reads it twice' : `${reader.describe(first)} also reads it`;
      throw reader.nodeError(second, `reads '${current}' and ${also}: branching graphs are not supported, expected a single chain from '${inputName}' to '${outputName}'`);
    }
    const index = readers[0];
    if (visited.has(index)) throw reader.nodeError(index, `is reached twice: expected an acyclic chain`);
    visited.add(index);
    const node = reader.nodes[index];
    const op = node.opType ?? '';
    if (!isDefaultDomain(node.domain)) {
      throw reader.nodeError(index, `op '${node.domain}.${op}' is not supported: supported are ${SUPPORTED_OPS}`);
    }
    if (op === 'Add') {
      throw reader.nodeError(index, `op 'Add' is supported only as the bias of a MatMul (MatMul+Add): supported are ${SUPPORTED_OPS}`);
    }
    if (!CHAIN_OPS.has(op)) throw reader.nodeError(index, `op '${op}' is not supported: supported are ${SUPPORTED_OPS}`);
    if ((node.input?.[0] ?? '') !== current) {
      throw reader.nodeError(index, `reads '${current}' as input ${node.input?.indexOf(current)}: expected it as input 0`);
    }
    reader.requireOnlyFirstOutput(index, outputName);
    let next = node.output?.[0] ?? '';
    switch (op) {
      case 'Gemm': {
        const attrs = reader.attributes(index, ['alpha', 'beta', 'transA', 'transB', 'broadcast']);
        const alpha = reader.floatAttribute(index, attrs, 'alpha', 1);
        const beta = reader.floatAttribute(index, attrs, 'beta', 1);
        const transA = reader.intAttribute(index, attrs, 'transA', 0);
        const transB = reader.intAttribute(index, attrs, 'transB', 0);
        if (alpha !== 1) throw reader.nodeError(index, `unsupported attribute alpha=${alpha}: expected 1`);
        if (transA !== 0) throw reader.nodeError(index, `unsupported attribute transA=${transA}: expected 0`);
        if (transB !== 0 && transB !== 1) throw reader.nodeError(index, `unsupported attribute transB=${transB}: expected 0 or 1`);
        const n = reader.requireVector(index, state);
        const weight = reader.constInput(index, 1, 'weight');
        const { dims: wDims, values } = reader.weightValues(index, weight, 'weight');
        const units = wDims.length === 2 ? (transB ? wDims[0] : wDims[1]) : -1;
        const expectedDims = transB ? `[M, ${n}]` : `[${n}, M]`;
        if (wDims.length !== 2 || (transB ? wDims[1] : wDims[0]) !== n) {
          throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(wDims)}: expected ${expectedDims} (transB=${transB}, ${n} input features)`);
        }
        const biasConst = reader.optionalConstInput(index, 2, 'bias');
        let bias: Float32Array | null = null;
        if (biasConst) {
          if (beta !== 1) throw reader.nodeError(index, `unsupported attribute beta=${beta}: expected 1`);
          bias = denseBias(reader, index, biasConst, units);
        }
        addDense(reader, index, { weight: weight.root, biasName: biasConst?.root ?? null, transB: transB === 1, values, bias, inputs: n, units, chw: state.chw });
        state = { dims: [units], chw: null };
        break;
      }
      case 'MatMul': {
        reader.attributes(index, []);
        const n = reader.requireVector(index, state);
        const weight = reader.constInput(index, 1, 'weight');
        const { dims: wDims, values } = reader.weightValues(index, weight, 'weight');
        if (wDims.length !== 2 || wDims[0] !== n) {
          throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(wDims)}: expected [${n}, M] (${n} input features)`);
        }
        const units = wDims[1];
        // A bias: the one reader of the product is an Add of a constant.
        const productReaders = reader.consumers.get(next) ?? [];
        let bias: Float32Array | null = null;
        let biasRoot: string | null = null;
        const addIndex = productReaders.length === 1 && next !== outputName ? productReaders[0] : -1;
        const add = addIndex >= 0 ? reader.nodes[addIndex] : null;
        if (add && add.opType === 'Add' && isDefaultDomain(add.domain)) {
          reader.attributes(addIndex, []);
          const addInputs = add.input ?? [];
          if (addInputs.length !== 2) throw reader.nodeError(addIndex, `has ${addInputs.length} inputs: expected 2`);
          const position = addInputs[0] === next ? 1 : 0;
          const biasConst = reader.consts.get(addInputs[position]);
          if (!biasConst || addInputs[1 - position] !== next) {
            throw reader.nodeError(addIndex, `input ${position} ('${addInputs[position]}'): expected a constant bias added to the MatMul's output`);
          }
          bias = denseBias(reader, addIndex, biasConst, units);
          biasRoot = biasConst.root;
          reader.requireOnlyFirstOutput(addIndex, outputName);
          visited.add(addIndex);
          next = add.output?.[0] ?? '';
        }
        addDense(reader, index, { weight: weight.root, biasName: biasRoot, transB: false, values, bias, inputs: n, units, chw: state.chw });
        state = { dims: [units], chw: null };
        break;
      }
      case 'Conv': {
        const attrs = reader.attributes(index, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']);
        const [C, H, W] = reader.requireImage(index, state);
        const group = reader.intAttribute(index, attrs, 'group', 1);
        if (group !== 1) throw reader.nodeError(index, `unsupported attribute group=${group}: expected 1`);
        const dilations = reader.intsAttribute(index, attrs, 'dilations');
        if (dilations && dilations.some((d) => d !== 1)) {
          throw reader.nodeError(index, `unsupported attribute dilations=${listText(dilations)}: expected [1,1]`);
        }
        const weight = reader.constInput(index, 1, 'weight');
        const { dims: wDims, values } = reader.weightValues(index, weight, 'weight');
        if (wDims.length !== 4 || wDims[1] !== C) {
          throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(wDims)}: expected [cout, ${C}, kh, kw] (OIHW, ${C} input channels)`);
        }
        const [cout, , kh, kw] = wDims;
        const kernelShape = reader.intsAttribute(index, attrs, 'kernel_shape');
        if (kernelShape && (kernelShape.length !== 2 || kernelShape[0] !== kh || kernelShape[1] !== kw)) {
          throw reader.nodeError(index, `attribute kernel_shape=${listText(kernelShape)}: expected [${kh},${kw}] as the weight`);
        }
        const strides = stridesOf(reader, index, attrs);
        const padding = reader.padding(index, attrs, [H, W], [kh, kw], strides);
        const outH = outputSize(H, kh, strides[0], padding);
        const outW = outputSize(W, kw, strides[1], padding);
        if (outH < 1 || outW < 1) throw reader.nodeError(index, `kernel ${kh}×${kw} does not fit the ${H}×${W} input: expected kh ≤ H and kw ≤ W`);
        const biasConst = reader.optionalConstInput(index, 2, 'bias');
        let bias: Float32Array | null = null;
        if (biasConst) {
          const { dims: bDims, values: bValues } = reader.weightValues(index, biasConst, 'bias');
          if (bValues.length !== cout) {
            throw reader.nodeError(index, `bias '${biasConst.root}' has shape ${shapeText(bDims)}: expected [${cout}]`);
          }
          bias = bValues;
        }
        const name = reader.layerName(index);
        const layer: Conv2DLayer = {
          kind: 'conv2d',
          name,
          kernel: oihwToHwio(values, cout, C, kh, kw),
          kernelSize: [kh, kw],
          inChannels: C,
          filters: cout,
          bias,
          strides,
          padding,
          activation: 'linear',
        };
        reader.layers.push(layer);
        reader.bindings.push({
          kind: 'conv2d',
          layer: name,
          node: reader.describe(index),
          weight: weight.root,
          bias: biasConst?.root ?? null,
          filters: cout,
          inChannels: C,
          kernelSize: [kh, kw],
        });
        state = { dims: [cout, outH, outW], chw: null };
        break;
      }
      case 'MaxPool': {
        const attrs = reader.attributes(index, ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'storage_order', 'strides']);
        const [C, H, W] = reader.requireImage(index, state);
        const ceilMode = reader.intAttribute(index, attrs, 'ceil_mode', 0);
        if (ceilMode !== 0) throw reader.nodeError(index, `unsupported attribute ceil_mode=${ceilMode}: expected 0`);
        const dilations = reader.intsAttribute(index, attrs, 'dilations');
        if (dilations && dilations.some((d) => d !== 1)) {
          throw reader.nodeError(index, `unsupported attribute dilations=${listText(dilations)}: expected [1,1]`);
        }
        const kernelShape = reader.intsAttribute(index, attrs, 'kernel_shape');
        if (!kernelShape || kernelShape.length !== 2 || kernelShape.some((k) => k < 1)) {
          throw reader.nodeError(index, `attribute kernel_shape=${kernelShape ? listText(kernelShape) : '(missing)'}: expected [kh,kw]`);
        }
        const poolSize: [number, number] = [kernelShape[0], kernelShape[1]];
        const strides = stridesOf(reader, index, attrs);
        const padding = reader.padding(index, attrs, [H, W], poolSize, strides);
        const outH = outputSize(H, poolSize[0], strides[0], padding);
        const outW = outputSize(W, poolSize[1], strides[1], padding);
        if (outH < 1 || outW < 1) throw reader.nodeError(index, `pool ${poolSize[0]}×${poolSize[1]} does not fit the ${H}×${W} input`);
        reader.layers.push({ kind: 'maxpool2d', name: reader.layerName(index), poolSize, strides, padding });
        state = { dims: [C, outH, outW], chw: null };
        break;
      }
      case 'Relu':
        reader.attributes(index, []);
        reader.layers.push({ kind: 'relu', name: reader.layerName(index) });
        break;
      case 'Flatten': {
        const attrs = reader.attributes(index, ['axis']);
        const rank = state.dims.length + 1;
        const axis = reader.intAttribute(index, attrs, 'axis', 1);
        if ((axis < 0 ? axis + rank : axis) !== 1) throw reader.nodeError(index, `unsupported attribute axis=${axis}: expected 1`);
        reader.layers.push({ kind: 'flatten', name: reader.layerName(index) });
        state = flattened(state);
        break;
      }
      case 'Reshape': {
        const attrs = reader.attributes(index, ['allowzero']);
        const allowZero = reader.intAttribute(index, attrs, 'allowzero', 0);
        const shape = reader.int64Values(index, reader.constInput(index, 1, 'shape'), 'shape');
        const features = product(state.dims);
        const batchOk = shape[0] === -1 ? shape[1] !== -1 : (shape[0] === 0 && allowZero === 0) || (shape[0] === 1 && batch === 1);
        if (shape.length !== 2 || !batchOk || (shape[1] !== -1 && shape[1] !== features)) {
          throw reader.nodeError(index, `shape ${listText(shape)}: expected [batch, -1] (e.g. [0,-1], [-1,${features}]), a flatten to ${features} features`);
        }
        reader.layers.push({ kind: 'flatten', name: reader.layerName(index) });
        state = flattened(state);
        break;
      }
      case 'Softmax': {
        const attrs = reader.attributes(index, ['axis']);
        const axis = reader.intAttribute(index, attrs, 'axis', opset < 13 ? 1 : -1);
        if (state.dims.length !== 1) {
          throw reader.nodeError(index, `input has shape [batch, ${state.dims.join(', ')}]: expected [batch, features]`);
        }
        if (axis !== 1 && axis !== -1) throw reader.nodeError(index, `unsupported attribute axis=${axis}: expected the last axis (1 or -1)`);
        reader.layers.push({ kind: 'softmax', name: reader.layerName(index) });
        break;
      }
      case 'Identity':
        reader.attributes(index, []);
        break;
      case 'Dropout': {
        reader.attributes(index, ['ratio', 'seed', 'is_test']);
        const training = reader.optionalConstInput(index, 2, 'training_mode');
        if (training) {
          const raw = training.tensor.rawData;
          const on = raw && raw.length > 0 ? raw[0] !== 0 : (training.tensor.int32Data ?? []).some((v) => v !== 0);
          if (on) throw reader.nodeError(index, `training_mode is true: expected an inference graph`);
        }
        break;
      }
      default:
        throw reader.nodeError(index, `op '${op}' is not supported: supported are ${SUPPORTED_OPS}`);
    }
    if (!next) throw reader.nodeError(index, `has no output: expected one`);
    current = next;
  }

  if (state.chw) {
    throw new InputError(
      `${source}: output '${outputName}' is a flattened image: expected a Gemm or MatMul after the Flatten (our NHWC network orders these features differently)`,
    );
  }
  reader.nodes.forEach((_, index) => {
    if (!visited.has(index) && !reader.constNodes.has(index)) {
      throw reader.nodeError(index, `is not on the chain from '${inputName}' to '${outputName}': expected a single chain`);
    }
  });

  return {
    source,
    network: { inputShape, layers: reader.layers },
    opset,
    producer: model.producerName ?? '',
    bytes: new Uint8Array(bytes), // a copy
    bindings: reader.bindings,
  };
}

function stridesOf(reader: GraphReader, index: number, attrs: Map<string, AttributeProto>): [number, number] {
  const strides = reader.intsAttribute(index, attrs, 'strides') ?? [1, 1];
  if (strides.length !== 2 || strides.some((s) => s < 1)) {
    throw reader.nodeError(index, `attribute strides=${listText(strides)}: expected 2 positive values`);
  }
  return [strides[0], strides[1]];
}

function flattened(state: ChainState): ChainState {
  const [C, H, W] = state.dims;
  // CHW and HWC orders agree when there is one channel or one pixel.
  const chw: [number, number, number] | null = state.dims.length === 3 && C > 1 && H * W > 1 ? [C, H, W] : null;
  return { dims: [product(state.dims)], chw: state.chw ?? chw };
}

function denseBias(reader: GraphReader, index: number, constant: ConstTensor, units: number): Float32Array {
  const { dims, values } = reader.weightValues(index, constant, 'bias');
  const shapeOk = (dims.length === 1 && dims[0] === units) || (dims.length === 2 && dims[0] === 1 && dims[1] === units);
  if (!shapeOk) throw reader.nodeError(index, `bias '${constant.root}' has shape ${shapeText(dims)}: expected [${units}]`);
  return values;
}

function addDense(
  reader: GraphReader,
  index: number,
  spec: {
    weight: string;
    biasName: string | null;
    transB: boolean;
    values: Float32Array;
    bias: Float32Array | null;
    inputs: number;
    units: number;
    chw: [number, number, number] | null;
  },
): void {
  const name = reader.layerName(index);
  const layer: DenseLayer = {
    kind: 'dense',
    name,
    kernel: denseKernelFromOnnx(spec.values, spec.inputs, spec.units, spec.transB, spec.chw),
    inputs: spec.inputs,
    units: spec.units,
    bias: spec.bias,
    activation: 'linear',
  };
  reader.layers.push(layer);
  reader.bindings.push({
    kind: 'dense',
    layer: name,
    node: reader.describe(index),
    weight: spec.weight,
    bias: spec.biasName,
    transB: spec.transB,
    inputs: spec.inputs,
    units: spec.units,
    chw: spec.chw,
  });
}

// ---------------------------------------------------------------------------------------------
// Write-back

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

function replaceData(graph: GraphProto, name: string, values: Float32Array): void {
  const tensor = findTensor(graph, name);
  if (!tensor) throw new Error(`writeOnnxModel: tensor '${name}' is missing from the model`);
  tensor.dataType = FLOAT;
  tensor.floatData = [];
  tensor.rawData = floatBytes(values);
}

/**
 * The model of `handle` with the weights of `network` (matched by layer name, e.g. after pruning
 * `handle.network`), converted back to ONNX layouts. Everything but the weight data is kept.
 * Throws an Error when `network` does not match the model (a missing layer, other dimensions, a
 * nonzero bias where the model has none).
 */
export function writeOnnxModel(handle: OnnxModelHandle, network: Network): Uint8Array {
  const model = onnx.ModelProto.decode(handle.bytes);
  const graph = model.graph!;
  const byName = new Map<string, Layer>();
  for (const layer of network.layers) byName.set(layer.name, layer);
  const bound = new Set(handle.bindings.map((b) => b.layer));
  for (const layer of network.layers) {
    if ((layer.kind === 'dense' || layer.kind === 'conv2d') && !bound.has(layer.name)) {
      throw new Error(`writeOnnxModel: ${handle.source}: the network's ${layer.kind} layer '${layer.name}' is not in the model`);
    }
  }
  for (const binding of handle.bindings) {
    const where = `writeOnnxModel: ${handle.source}: layer '${binding.layer}' (${binding.node})`;
    const layer = byName.get(binding.layer);
    if (!layer || layer.kind !== binding.kind) {
      throw new Error(`${where}: expected a ${binding.kind} layer of that name in the network, found ${layer ? layer.kind : 'none'}`);
    }
    let weight: Float32Array;
    let size: number;
    if (binding.kind === 'dense') {
      const dense = layer as DenseLayer;
      if (dense.inputs !== binding.inputs || dense.units !== binding.units || dense.kernel.length !== binding.inputs * binding.units) {
        throw new Error(
          `${where}: kernel is ${dense.inputs}×${dense.units} (${dense.kernel.length} values): expected ${binding.inputs}×${binding.units}`,
        );
      }
      weight = denseKernelToOnnx(dense.kernel, binding.inputs, binding.units, binding.transB, binding.chw);
      size = binding.units;
    } else {
      const conv = layer as Conv2DLayer;
      const [kh, kw] = binding.kernelSize;
      const same =
        conv.filters === binding.filters &&
        conv.inChannels === binding.inChannels &&
        conv.kernelSize[0] === kh &&
        conv.kernelSize[1] === kw &&
        conv.kernel.length === kh * kw * binding.inChannels * binding.filters;
      if (!same) {
        throw new Error(
          `${where}: kernel is ${conv.kernelSize.join('×')}×${conv.inChannels}×${conv.filters} (${conv.kernel.length} values): ` +
            `expected ${kh}×${kw}×${binding.inChannels}×${binding.filters}`,
        );
      }
      weight = hwioToOihw(conv.kernel, binding.filters, binding.inChannels, kh, kw);
      size = binding.filters;
    }
    replaceData(graph, binding.weight, weight);
    const bias = layer.bias;
    if (bias && bias.length !== size) throw new Error(`${where}: bias has ${bias.length} values: expected ${size}`);
    if (binding.bias) {
      replaceData(graph, binding.bias, bias ?? new Float32Array(size));
    } else if (bias && bias.some((v) => v !== 0)) {
      throw new Error(`${where}: the network has a nonzero bias but the model's node has none`);
    }
  }
  return new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
}

// ---------------------------------------------------------------------------------------------
// Export

export interface NetworkToOnnxOptions {
  /** Default-domain opset (default 13; at least 7). */
  opset?: number;
  /** producer_name (default 'net-trim-webgpu'). */
  producer?: string;
}

const INT_ATTRIBUTE = 2;
const INTS_ATTRIBUTE = 7;
const intAttr = (name: string, i: number): AttributeProto => ({ name, type: INT_ATTRIBUTE, i });
const intsAttr = (name: string, ints: number[]): AttributeProto => ({ name, type: INTS_ATTRIBUTE, ints });

function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  return { name, dims, dataType: FLOAT, rawData: floatBytes(values) };
}

function valueInfo(name: string, sampleDims: number[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: [{ dimParam: 'N' }, ...sampleDims.map((d) => ({ dimValue: d }))] },
      },
    },
  };
}

/**
 * A fresh ONNX model computing `network` on NCHW inputs (see the file header). Throws an Error
 * when the network cannot be expressed (duplicate layer names, a dense layer on an image without
 * a Flatten, a flattened image reaching the output, mismatched shapes).
 */
export function networkToOnnx(network: Network, options: NetworkToOnnxOptions = {}): Uint8Array {
  const opset = options.opset ?? 13;
  if (!Number.isInteger(opset) || opset < 7) throw new RangeError(`networkToOnnx: opset ${opset}: expected an integer ≥ 7`);
  const names = new Set<string>();
  for (const layer of network.layers) {
    if (names.has(layer.name)) throw new Error(`networkToOnnx: layer name '${layer.name}' is used twice: expected unique names`);
    names.add(layer.name);
  }
  const inputShape = network.inputShape;
  if ((inputShape.length !== 1 && inputShape.length !== 3) || inputShape.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`networkToOnnx: inputShape ${shapeText(inputShape)}: expected [features] or [H, W, C]`);
  }

  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let current = 'input';
  const emit = (name: string, opType: string, extraInputs: string[], attribute: AttributeProto[] = []) => {
    const output = `${name}_output`;
    nodes.push({ name, opType, input: [current, ...extraInputs], output: [output], attribute });
    current = output;
  };
  // Our per-sample shape (NHWC) and, after a Flatten of an image, its [C, H, W].
  let shape = [...inputShape];
  let chw: [number, number, number] | null = null;
  const activation = (layer: DenseLayer | Conv2DLayer) => {
    if (layer.activation === 'relu') emit(`${layer.name}/relu`, 'Relu', []);
    else if (layer.activation === 'softmax') {
      if (shape.length !== 1) throw new Error(`networkToOnnx: layer '${layer.name}': softmax on an image: expected a vector`);
      emit(`${layer.name}/softmax`, 'Softmax', [], [intAttr('axis', opset >= 13 ? -1 : 1)]);
    }
  };

  network.layers.forEach((layer, position) => {
    const where = `networkToOnnx: layer ${position} ('${layer.name}', ${layer.kind})`;
    switch (layer.kind) {
      case 'dense': {
        if (shape.length !== 1 || shape[0] !== layer.inputs || layer.kernel.length !== layer.inputs * layer.units) {
          throw new Error(`${where}: ${layer.inputs}×${layer.units} kernel (${layer.kernel.length} values) on input ${shapeText(shape)}: expected [${layer.inputs}]`);
        }
        const weight = denseKernelToOnnx(layer.kernel, layer.inputs, layer.units, false, chw);
        initializers.push(floatTensor(`${layer.name}.weight`, [layer.inputs, layer.units], weight));
        const extra = [`${layer.name}.weight`];
        if (layer.bias) {
          if (layer.bias.length !== layer.units) throw new Error(`${where}: bias has ${layer.bias.length} values: expected ${layer.units}`);
          initializers.push(floatTensor(`${layer.name}.bias`, [layer.units], layer.bias));
          extra.push(`${layer.name}.bias`);
        }
        emit(layer.name, 'Gemm', extra);
        shape = [layer.units];
        chw = null;
        activation(layer);
        break;
      }
      case 'conv2d': {
        const [kh, kw] = layer.kernelSize;
        if (shape.length !== 3 || shape[2] !== layer.inChannels || layer.kernel.length !== kh * kw * layer.inChannels * layer.filters) {
          throw new Error(`${where}: ${kh}×${kw}×${layer.inChannels}×${layer.filters} kernel (${layer.kernel.length} values) on input ${shapeText(shape)}: expected [H, W, ${layer.inChannels}]`);
        }
        const [H, W] = shape;
        const pads = spatialPads(where, [H, W], layer.kernelSize, layer.strides, layer.padding);
        initializers.push(
          floatTensor(`${layer.name}.weight`, [layer.filters, layer.inChannels, kh, kw], hwioToOihw(layer.kernel, layer.filters, layer.inChannels, kh, kw)),
        );
        const extra = [`${layer.name}.weight`];
        if (layer.bias) {
          if (layer.bias.length !== layer.filters) throw new Error(`${where}: bias has ${layer.bias.length} values: expected ${layer.filters}`);
          initializers.push(floatTensor(`${layer.name}.bias`, [layer.filters], layer.bias));
          extra.push(`${layer.name}.bias`);
        }
        emit(layer.name, 'Conv', extra, [
          intsAttr('dilations', [1, 1]),
          intAttr('group', 1),
          intsAttr('kernel_shape', [kh, kw]),
          intsAttr('pads', pads.pads),
          intsAttr('strides', [...layer.strides]),
        ]);
        shape = [pads.out[0], pads.out[1], layer.filters];
        activation(layer);
        break;
      }
      case 'maxpool2d': {
        if (shape.length !== 3) throw new Error(`${where}: input ${shapeText(shape)}: expected an image [H, W, C]`);
        const pads = spatialPads(where, [shape[0], shape[1]], layer.poolSize, layer.strides, layer.padding);
        emit(layer.name, 'MaxPool', [], [
          intsAttr('kernel_shape', [...layer.poolSize]),
          intsAttr('pads', pads.pads),
          intsAttr('strides', [...layer.strides]),
        ]);
        shape = [pads.out[0], pads.out[1], shape[2]];
        break;
      }
      case 'relu':
        emit(layer.name, 'Relu', []);
        break;
      case 'flatten': {
        if (shape.length === 3) {
          const [H, W, C] = shape;
          if (C > 1 && H * W > 1) chw = [C, H, W];
        }
        emit(layer.name, 'Flatten', [], [intAttr('axis', 1)]);
        shape = [product(shape)];
        break;
      }
      case 'softmax':
        if (shape.length !== 1) throw new Error(`${where}: input ${shapeText(shape)}: expected a vector`);
        emit(layer.name, 'Softmax', [], [intAttr('axis', opset >= 13 ? -1 : 1)]);
        break;
      default:
        throw new Error(`networkToOnnx: layer ${position}: unknown kind '${(layer as { kind: string }).kind}'`);
    }
  });
  if (chw) throw new Error(`networkToOnnx: the network's output is a flattened image: expected a dense layer after the Flatten (ONNX would order its features differently)`);
  if (nodes.length === 0) emit('identity', 'Identity', []);
  nodes[nodes.length - 1].output = ['output'];

  const onnxDims = (dims: number[]) => (dims.length === 3 ? [dims[2], dims[0], dims[1]] : dims);
  const model: OnnxTypes.IModelProto = {
    irVersion: 8,
    producerName: options.producer ?? 'net-trim-webgpu',
    opsetImport: [{ domain: '', version: opset }],
    graph: {
      name: 'net-trim',
      node: nodes,
      initializer: initializers,
      input: [valueInfo('input', onnxDims(inputShape))],
      output: [valueInfo('output', onnxDims(shape))],
    },
  };
  return new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
}

/** ONNX pads [top, left, bottom, right] and the output size of a 2-D window op. */
function spatialPads(
  where: string,
  spatial: [number, number],
  kernel: readonly [number, number],
  strides: readonly [number, number],
  padding: 'valid' | 'same',
): { pads: number[]; out: [number, number] } {
  const out: [number, number] = [
    outputSize(spatial[0], kernel[0], strides[0], padding),
    outputSize(spatial[1], kernel[1], strides[1], padding),
  ];
  if (out[0] < 1 || out[1] < 1) throw new Error(`${where}: window ${kernel.join('×')} does not fit the ${spatial.join('×')} input`);
  if (padding === 'valid') return { pads: [0, 0, 0, 0], out };
  const [top, bottom] = tfSamePads(spatial[0], kernel[0], strides[0]);
  const [left, right] = tfSamePads(spatial[1], kernel[1], strides[1]);
  return { pads: [top, left, bottom, right], out };
}
