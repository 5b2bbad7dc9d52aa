// What the ONNX op handlers share while a graph is read: the reader, the tensors seen so far
// (ours, or shape values folded statically), and how to emit a layer.
import type { Layer } from '../../network/types.js';
import { isSequence, type GraphReader, type NetTensor } from './graphReader.js';
import type { IdValues } from './idValues.js';

/** The ops that read a sequence [batch, C, L] (1-D convolutional networks); others refuse one. */
export const SEQUENCE_OPS = 'Conv, ConvTranspose, MaxPool, AveragePool, Resize, Pad, BatchNormalization, pointwise activations, Add, Mul, Sub, Div, Concat, Transpose [0, 2, 1] (then LayerNormalization and MatMul over the channels), GlobalAveragePool, GlobalMaxPool, ReduceMean and ReduceMax over L, Unsqueeze to a height of 1 and back, Slice of L (a crop), Sub, Sum, Mean, Max and Min of sequences, Squeeze of a pooled one, Shape, Flatten and Reshape to [batch, features]';

/** The ops that read channels-last values (ConvNeXt's stretches, tokens and attention: layoutOps.ts, tokenOps.ts); others refuse them. */
export const CHANNELS_LAST_OPS = 'LayerNormalization, MatMul (+ its bias Add), Gemm, pointwise activations, Softmax over the last axis, arithmetic with constants, Add, Transpose (back, or of tokens), Reshape, Slice, Split, Gather, Squeeze, Unsqueeze, Concat with a class token, Mul and Div by a tensor of their shape (a mask), ReduceMean, ReduceMax and ReduceSum over the tokens, Shape';

/** Int values computed from shapes alone ('batch' for the dynamic batch size). */
export interface StaticTensor {
  values: Array<number | 'batch'>;
  /** Its dims, row-major, when not 1-D (PyTorch's pads computed as a [n, 2] table, reversed and transposed). */
  shape?: number[];
  /** After a Cast to a float type, or a Pow or Sqrt: divisions are real ones (int64 otherwise: truncated). */
  float?: true;
}

export type Tensor = NetTensor | StaticTensor;
export const isStatic = (t: Tensor): t is StaticTensor => 'values' in t;

/** An ONNX op's import: reads node `index` of the graph and emits layers into the context (ops.ts, shapeOps.ts). */
export type Handler = (ctx: ImportContext, index: number) => void;

/** What the op handlers share: the reader, the tensors seen so far, and how to emit a layer. */
export class ImportContext {
  readonly tensors = new Map<string, Tensor>();
  /** Zero Pads waiting for the Conv or AveragePool that reads them (windowOps.ts), by output: the input and [top, left, bottom, right]. */
  readonly pendingPads = new Map<string, { tensor: NetTensor; pads: [number, number, number, number] }>();
  /** Constants broadcast over the batch (an Expand of one: a ViT's class token), by output name: their dims (the first, the batch's, 1). */
  readonly constants = new Map<string, { dims: number[]; values: Float32Array }>();

  /** The graph inputs' names. */
  readonly graphInputs: Set<string>;
  /** Our layers that hold token ids (the graph inputs an embedding reads). */
  readonly idInputs: Set<string>;
  /** ONNX tensors whose values are 0 or 1: an attention mask input and what moves its values (inputs.ts, maskOps.ts). */
  readonly masks = new Set<string>();
  /** ONNX tensors sliced empty (Phi-3's x[..., rotary_dim:] of a full rotary), which only Concats read: they join nothing. */
  readonly empty = new Set<string>();
  /** ONNX tensors computed from token ids (RoBERTa's positions, GPT-2's last token: idValues.ts), by name. */
  readonly idValues = new Map<string, IdValues>();

  constructor(
    readonly reader: GraphReader,
    /** The network input's name: the one graph input's, or the name of several packed (inputs.ts). */
    readonly inputName: string,
    /** The graph outputs' names (one, or several packed: reader.ts). */
    readonly outputs: ReadonlySet<string>,
    readonly batch: number | null,
    inputs: ReadonlyArray<{ name: string; values: string }>,
  ) {
    this.graphInputs = new Set(inputs.map((i) => i.name));
    this.idInputs = new Set(inputs.filter((i) => i.values === 'ids').map((i) => i.name));
  }

  /**
   * Input `position` of node `index` as a network tensor (an error for constants and shapes, for a
   * channels-last view unless `channelsLast` and for a sequence unless `sequence`: the op reads it).
   */
  net(index: number, position = 0, o: { channelsLast?: boolean; sequence?: boolean } = {}): NetTensor {
    const name = this.reader.nodes[index].input?.[position] ?? '';
    const tensor = this.tensors.get(name);
    if (!tensor || isStatic(tensor))
      throw this.reader.nodeError(index, `input ${position} ('${name}'): expected a tensor computed from the graph input, found ${tensor ? 'a shape computation' : 'a constant'}`);
    if (tensor.channelsLast && !o.channelsLast)
      throw this.reader.nodeError(index, `input ${position} ('${name}') is channels-last (after a Transpose [0, 2, 3, 1] or [0, 2, 1]): expected it read only by ${CHANNELS_LAST_OPS}`);
    if (isSequence(tensor) && !o.sequence)
      throw this.reader.nodeError(index, `input ${position} ('${name}') is a sequence [batch, ${tensor.dims.join(', ')}]: expected it read only by ${SEQUENCE_OPS}`);
    return tensor;
  }

  /** Input `position` as int values: a folded shape computation or an int64 constant. */
  staticValues(index: number, position: number, what: string, max = 64): Array<number | 'batch'> {
    const name = this.reader.nodes[index].input?.[position] ?? '';
    const tensor = this.tensors.get(name);
    if (tensor && isStatic(tensor)) return tensor.values;
    if (tensor) throw this.reader.nodeError(index, `input ${position} ('${name}', the ${what}): depends on the input's values: expected a shape that can be folded for the model's input shape`);
    return this.reader.intValues(index, this.reader.constInput(index, position, what), what, max);
  }

  /** Output `position` (0) of node `index` is `tensor` (Identity-like ops and folds). */
  alias(index: number, tensor: Tensor, position = 0): void {
    const output = this.reader.nodes[index].output?.[position];
    if (!output) throw this.reader.nodeError(index, `has no output ${position}: expected one`);
    this.tensors.set(output, tensor);
  }

  /** Appends `layers` (each with its `from`); output 0 of node `index` becomes the last one's tensor. */
  emitLayers(index: number, layers: Layer[], out: Omit<NetTensor, 'layer'>): NetTensor {
    this.reader.layers.push(...layers);
    const tensor: NetTensor = { layer: layers[layers.length - 1].name, ...out };
    this.alias(index, tensor);
    return tensor;
  }

  /** Appends `layer` reading `sources`; output `position` (0) of node `index` becomes its tensor. */
  emit(index: number, layer: Layer, sources: NetTensor[], out: Omit<NetTensor, 'layer'>, position = 0): NetTensor {
    const layers = this.reader.layers;
    const previous = layers.length ? layers[layers.length - 1].name : this.inputName;
    const from = sources.map((s) => s.layer);
    const placed = from.length === 1 && from[0] === previous ? layer : { ...layer, from };
    layers.push(placed);
    const tensor: NetTensor = { layer: layer.name, ...out };
    this.alias(index, tensor, position);
    return tensor;
  }
}

