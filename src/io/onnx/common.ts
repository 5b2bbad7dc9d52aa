// Shared by the ONNX reader, writer and exporter: the codec, limits, int64 decoding, and the
// layout conversions between ONNX (NCHW, OIHW, Gemm [M, N] with transB) and ours (NHWC, HWIO, N×M).
import type { DataFileBytes } from './externalData.js';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { InputError } from '../../errors.js';
import type { Network } from '../../network/types.js';
import { windowAxis } from '../../network/shapes.js';
import { fixedAxesNote, type FixedAxis, type InputSizes } from '../inputSizes.js';
export const { onnx } = onnxProto;

export type ModelProto = OnnxTypes.ModelProto;
export type GraphProto = OnnxTypes.IGraphProto;
export type NodeProto = OnnxTypes.INodeProto;
export type TensorProto = OnnxTypes.ITensorProto;
export type AttributeProto = OnnxTypes.IAttributeProto;

export const FLOAT = 1; // TensorProto.DataType.FLOAT
export const INT64 = 7; // TensorProto.DataType.INT64
export const INT32 = 6; // TensorProto.DataType.INT32
export const BOOL = 9; // TensorProto.DataType.BOOL
export const FLOAT16 = 10; // TensorProto.DataType.FLOAT16
export const EXTERNAL = 1; // TensorProto.DataLocation.EXTERNAL
export const DATA_TYPE_NAMES: Record<number, string> = {
  1: 'float32', 2: 'uint8', 3: 'int8', 4: 'uint16', 5: 'int16', 6: 'int32', 7: 'int64', 8: 'string',
  9: 'bool', 10: 'float16', 11: 'float64', 12: 'uint32', 13: 'uint64', 16: 'bfloat16',
};

/** A BatchNormalization folded into the layer before it: the writer removes the node. */
export interface FoldedBatchNorm {
  /** The node's name (or its op and position) for messages. */
  node: string;
  /** Its output: the folded layer's node writes this tensor instead. */
  output: string;
  /** Its scale, B, mean and var tensors (removed when nothing else reads them). */
  params: string[];
}

interface BindingBase {
  layer: string;
  node: string; // e.g. "node 3 ('/fc1/Gemm', op Gemm)", for messages
  /** The node's output tensor. */
  output: string;
  weight: string; // constant tensor name
  bias: string | null;
  /** The indices of the nodes that read the weight and the bias (a MatMul's bias: its Add). */
  weightReader: number;
  biasReader: number | null;
  foldedBatchNorm: FoldedBatchNorm | null;
  /**
   * Per-channel Sub/Mul/Add/Div nodes folded into the layer (foldOps.ts foldAffine): the tensor
   * before the first (`from`), each node's output (the last one's readers read `from` once they
   * go), and their constants (removed when nothing else reads them).
   */
  foldedOps?: { from: string; nodes: string[]; params: string[] };
  /** A Conv on a sequence [batch, C, L]: its weight is [cout, cin / groups, k] (ours: a 1×k kernel). */
  sequence?: true;
}

/** Where a dense layer's weights live in the ONNX graph and how they map to ours. */
export interface DenseBinding extends BindingBase {
  kind: 'dense';
  /**
   * 'Gemm', 'MatMul' (its bias, if any, in the Add after it), or a 1×1 'Conv' on a globally
   * pooled [C, 1, 1] tensor (weights [units, inputs, 1, 1], transB).
   */
  op: 'Gemm' | 'MatMul' | 'Conv';
  transB: boolean;
  inputs: number;
  units: number;
  /** [C, H, W] when the input is a flattened image (rows permuted CHW ↔ HWC), else null. */
  chw: [number, number, number] | null;
}

export interface ConvBinding extends BindingBase {
  kind: 'conv2d';
  /**
   * 'MatMul': a MatMul on a channels-last image, a 1×1 conv (weights [C, K], its bias in the Add after it);
   * 'ConvTranspose': its [cin, cout, kh, kw] weight, our kernel flipped (convTranspose.ts); 'Gemm': on
   * tokens [T, D] (tokenOps.ts), weights [C, K] or [K, C] with transB, its bias its own; else a Conv (OIHW).
   */
  op?: 'MatMul' | 'ConvTranspose' | 'Gemm';
  transB?: true;
  /** OIHW dims are [filters, inChannels / groups, kh, kw]. */
  filters: number;
  inChannels: number;
  groups: number;
  kernelSize: [number, number];
}

export type WeightBinding = DenseBinding | ConvBinding;

/**
 * A BatchNormalization read as a batchnorm layer (its per-channel scale, B, mean and var tensors),
 * or a Mul/Add/Sub/Div by a per-channel constant (that tensor): sliced when channels are removed.
 */
/** Per-channel parameters of a layer (a BatchNorm's, a constant scale's; an embedding's table), which channel removal slices. */
export interface BatchNormBinding {
  layer: string;
  params: string[];
  /** An embedding's table: [rows, channels] (else the parameters hold one value per channel). */
  rows?: number;
  /** The BatchNormalization node's index. */
  reader: number;
}

/**
 * A Reshape of a computed tensor whose shape names a channel count: when the layer computing its
 * input (`layer`) loses channels, the writer makes the shape say the new count. 'flatten': a
 * flatten to [batch, features], written [0, -1]; else entry `axis` of the shape holds `channels`.
 */
export interface ReshapeBinding {
  /** The Reshape node's output (node indices move when the writer drops folded nodes). */
  output: string;
  layer: string;
  axis: number | 'flatten';
  channels: number;
}

/**
 * A Reshape seen as a view of a layer's output: when heads go and that output shrinks on an axis,
 * the writer makes the shape's entry for it say the new size (attentionHeads.ts).
 */
export interface ReshapeView {
  /** The Reshape node's output. */
  output: string;
  /** The layer whose output values it views, and that output's shape (ours) when read. */
  layer: string;
  ours: number[];
  /** The Reshape's shape at batch 1, as read. */
  dims: number[];
}

/** A Slice or Split output that is a range of a layer's channels: when the layer loses channels, the writer moves the range's ends. */
export interface ChannelRange {
  /** The node's first output, and the output this range is. */
  output: string;
  position: number;
  layer: string;
  start: number;
  end: number;
}

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
  /** Internal: the external data files its tensors read (by location), when it has any. */
  readonly externalData?: ReadonlyMap<string, DataFileBytes>;
  /** Internal: where each dense/conv layer's weights live in the graph. */
  readonly bindings: readonly WeightBinding[];
  /** Internal: the BatchNormalizations that are layers of the network. */
  readonly batchNorms: readonly BatchNormBinding[];
  /** Internal: the Reshapes whose shape names a channel count (absent: none). */
  readonly reshapes?: readonly ReshapeBinding[];
  /** Internal: every Reshape of tokens as a view of a layer's output (absent: none). */
  readonly views?: readonly ReshapeView[];
  /** Internal: the Slices and Splits of a layer's channels (absent: none). */
  readonly ranges?: readonly ChannelRange[];
  /** Internal: the input sizes it was read with (the writer reads what it writes at them again). */
  readonly sizes?: InputSizes;
  /** How the model's users hold a sample: NCHW images (NHWC where the graph transposes its input to NCHW: Keras, tf2onnx), NCL sequences (a [batch, C, L] input), or NLC (frames [batch, T, F] read channels-last). */
  readonly sampleLayout: 'nchw' | 'nhwc' | 'ncl' | 'nlc';
  /** With several inputs (network.inputParts), each one's layout, in that order. */
  readonly partLayouts?: ReadonlyArray<'nchw' | 'nhwc' | 'ncl' | 'nlc'>;
  /** The input axes the model leaves open besides the batch, as they were fixed to read it. */
  readonly fixedAxes?: readonly FixedAxis[];
  /** The Dropouts whose training_mode is true, read as inference (node names). */
  readonly trainingDropouts?: readonly string[];
  /** The model holds float16 (weights, inputs or outputs): read in float32, written back in float16 (float16.ts). */
  readonly float16?: true;
}

/** What the import changed, in words (for inspect and the report). */
export function onnxImportNotes(handle: OnnxModelHandle): string[] {
  const dropouts = handle.trainingDropouts ?? [];
  const training = dropouts.length
    ? [`${dropouts.length} Dropout${dropouts.length > 1 ? 's have' : ' has'} training_mode true (${dropouts.slice(0, 3).map((n) => `'${n}'`).join(', ')}${dropouts.length > 3 ? ', …' : ''}): read as inference, as onnxruntime's default optimizations run them (a model exported in training mode? call model.eval() before exporting); the written model keeps them`]
    : [];
  const half = handle.float16
    ? ['float16 model: read and pruned in float32 (each half value is exact there); the written model keeps float16, its pruned weights rounded to the nearest half, as the report\'s numbers are computed with them']
    : [];
  return [...fixedAxesNote(handle.fixedAxes ?? []), ...half, ...training, ...handle.bindings.flatMap((b) => [
    ...(b.foldedBatchNorm ? [`${b.foldedBatchNorm.node} is folded into layer '${b.layer}' (exact: a per-channel scale and shift of its output); the written model keeps the fold`] : []),
    ...(b.foldedOps ? [`the per-channel arithmetic computing ${b.foldedOps.nodes.map((n) => `'${n}'`).join(', ')} is folded into layer '${b.layer}' (exact); the written model keeps the fold`] : []),
  ])];
}

// ---------------------------------------------------------------------------------------------
// Small helpers

/** An int64 field as decoded by protobufjs: a number, or a Long when the `long` package exists. */
export function toInt(value: unknown): number {
  if (typeof value === 'number') return value;
  if (typeof value === 'bigint') return Number(value);
  if (value && typeof (value as { toNumber?: unknown }).toNumber === 'function') {
    return (value as { toNumber(): number }).toNumber();
  }
  return Number(value);
}

/** Largest size of one dimension, and of one tensor's values, accepted from a model file. */
export const MAX_DIMENSION = 1 << 24;
export const MAX_VALUES = 1 << 28;

/**
 * Dimensions declared in the file, checked before anything is sized or looped over by them (a
 * 100-byte file can declare [10¹³, 0]): integers from 0 (or 1, for an input) to MAX_DIMENSION
 * whose product is at most MAX_VALUES. Returns null where `fits` is false, for the caller's message.
 */
export function checkedDims(dims: readonly number[], minimum = 0): number[] | null {
  if (dims.length > 8 || !dims.every((d) => Number.isSafeInteger(d) && d >= minimum && d <= MAX_DIMENSION)) return null;
  return product(dims) <= MAX_VALUES ? [...dims] : null;
}

/** A tensor's declared dims, checked (checkedDims), or what is wrong with them: 'dims […]: expected …'. */
export function declaredDims(tensor: TensorProto): number[] | string {
  const declared = (tensor.dims ?? []).map(toInt);
  return checkedDims(declared) ?? `dims ${shapeText(declared)}: expected at most 8 sizes from 0 to ${MAX_DIMENSION}, ${MAX_VALUES} values in all`;
}

export const hasOwn = (object: object, key: string) => Object.prototype.hasOwnProperty.call(object, key);
export const product = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);
export const shapeText = (dims: readonly number[]) => `[${dims.join(', ')}]`;
export const listText = (values: readonly number[]) => `[${values.join(',')}]`;
export const isDefaultDomain = (domain: string | null | undefined) => !domain || domain === 'ai.onnx';

/** TF's 'same' padding of one spatial dim: [begin, end] (the network's own window rule). */
export function tfSamePads(inSize: number, kernel: number, stride: number): [number, number] {
  const { padBefore, padAfter } = windowAxis(inSize, kernel, stride, 'same');
  return [padBefore, padAfter];
}

/** Output size of one spatial dim under TF padding, or 0 when the window does not fit. */

export function floatBytes(values: Float32Array): Uint8Array {
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

// ---------------------------------------------------------------------------------------------
// Layout conversions (shared by import, write-back and export)

/** Our row (h·W + w)·C + c → ONNX row c·H·W + h·W + w, for every row of our HWC order. */
export function chwRowOf(chw: readonly [number, number, number]): Int32Array {
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
export function denseKernelFromOnnx(
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
export function denseKernelToOnnx(
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
export function oihwToHwio(weight: Float32Array, cout: number, cin: number, kh: number, kw: number): Float32Array {
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
export function hwioToOihw(kernel: Float32Array, cout: number, cin: number, kh: number, kw: number): Float32Array {
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

export function decodeModel(bytes: Uint8Array, source: string): ModelProto {
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

export function defaultOpset(model: ModelProto, source: string): number {
  const entry = model.opsetImport.find((o) => isDefaultDomain(o.domain));
  if (!entry) {
    throw new InputError(`${source}: opset_import: expected an entry for the default ONNX domain, found none (is the file truncated?)`);
  }
  return toInt(entry.version);
}

/** ConvTranspose's [cin, cout, kh, kw] weight as the equivalent conv's HWIO kernel, flipped: tap (y, x) is the weight's (kh − 1 − y, kw − 1 − x). */
export function transposedToHwio(weight: Float32Array, cin: number, cout: number, kh: number, kw: number): Float32Array {
  const kernel = new Float32Array(weight.length);
  for (let i = 0; i < cin; i++)
    for (let o = 0; o < cout; o++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) kernel[((y * kw + x) * cin + i) * cout + o] = weight[((i * cout + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)];
  return kernel;
}

/** The inverse of transposedToHwio (the writer's). */
export function hwioToTransposed(kernel: Float32Array, cin: number, cout: number, kh: number, kw: number): Float32Array {
  const weight = new Float32Array(kernel.length);
  for (let i = 0; i < cin; i++)
    for (let o = 0; o < cout; o++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) weight[((i * cout + o) * kh + (kh - 1 - y)) * kw + (kw - 1 - x)] = kernel[((y * kw + x) * cin + i) * cout + o];
  return weight;
}
