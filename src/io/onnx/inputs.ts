// The graph inputs of an ONNX model as the network's input. One input is the network input, in
// our layout (an NCHW image as [H, W, C], a sequence [C, L] as [1, L, C], frames or an NHWC image
// as they are). Several (a text model's input_ids, attention_mask, token_type_ids) are packed:
// each sample holds their values one after another, and a rearrange layer named after each input
// takes its values out (network/inputParts.ts).
import { InputError } from '../../errors.js';
import type { InputPart, RearrangeLayer } from '../../network/types.js';
import { BOOL, checkedDims, DATA_TYPE_NAMES, FLOAT, hasOwn, INT32, INT64, listText, MAX_DIMENSION, MAX_VALUES, product, toInt, type ModelProto, type OnnxModelHandle } from './common.js';
import type { ImportContext } from './context.js';
import type { GraphReader, NetTensor } from './graphReader.js';
import { comparesWithConstant } from './idValues.js';
import { fixOpenAxes, type DeclaredAxis, type FixedAxis, type InputSizes } from '../inputSizes.js';

type ValueInfo = NonNullable<NonNullable<ModelProto['graph']>['input']>[number];
export type SampleLayout = OnnxModelHandle['sampleLayout'];

/** One graph input as read: its values, dims per sample, our shape and layout. */
export interface GraphInput {
  name: string;
  values: InputPart['values'];
  /** The batch dim (null when symbolic). */
  batch: number | null;
  /** Dims per sample, as the model declares them. */
  dims: number[];
  ours: number[];
  layout: SampleLayout;
  fields: Omit<NetTensor, 'layer'>;
}

/** Whether the graph input [batch, A, B] is read only over its last axis: by Transpose [0, 2, 1], MatMul or LayerNormalization. */
function channelsLastInput(reader: GraphReader, inputName: string): boolean {
  const readers = reader.consumers.get(inputName) ?? [];
  const swaps = (index: number) => listText((reader.nodes[index].attribute ?? []).find((a) => a.name === 'perm')?.ints?.map(toInt) ?? []) === listText([0, 2, 1]);
  return readers.length > 0 && readers.every((index) => (reader.opType(index) === 'Transpose' && swaps(index)) || reader.opType(index) === 'MatMul' || reader.opType(index) === 'LayerNormalization');
}

/**
 * Whether the image input [batch, A, B, C] is NHWC: read only by Transposes [0, 3, 1, 2] to NCHW,
 * through arithmetic with a constant of one value or one per last-axis channel (Keras's ONNX
 * export, a Rescaling first: each conv between two Transposes; its float Casts the GraphReader
 * reads past already).
 */
function nhwcInput(reader: GraphReader, name: string, depth = 0): boolean {
  const readers = reader.consumers.get(name) ?? [];
  const node = (index: number) => reader.nodes[index];
  const perm = (index: number) => listText((node(index).attribute ?? []).find((a) => a.name === 'perm')?.ints?.map(toInt) ?? []);
  const lastAxisConstant = (index: number) => {
    const other = (node(index).input ?? []).filter((n) => n !== name);
    const dims = other.length === 1 ? (reader.consts.get(other[0])?.tensor.dims ?? null) : null;
    return dims !== null && dims.slice(0, -1).every((d) => toInt(d) === 1);
  };
  const passes = (index: number) => ['Mul', 'Add', 'Sub', 'Div'].includes(reader.opType(index)) && lastAxisConstant(index);
  return (
    depth < 8 &&
    readers.length > 0 &&
    readers.every((index) => (reader.opType(index) === 'Transpose' ? perm(index) === listText([0, 3, 1, 2]) : passes(index) && nhwcInput(reader, node(index).output?.[0] ?? '', depth + 1)))
  );
}

/**
 * Whether the graph input is read only as the indices of Gathers (nn.Embedding's lookups), by
 * Shape (its size: BERT's positions), by an Equal with a constant (RoBERTa's positions, GPT-2's last
 * token: idValues.ts) and through a Reshape that only these read.
 */
function onlyEmbedded(reader: GraphReader, inputName: string, depth = 0): boolean {
  const readers = reader.consumers.get(inputName) ?? [];
  const lookup = (index: number) => reader.opType(index) === 'Gather' && reader.nodes[index].input?.[1] === inputName && reader.nodes[index].input?.[0] !== inputName;
  // GPT-2 views its ids as [-1, T] first: that Reshape's readers count.
  const viewed = (index: number) => reader.opType(index) === 'Reshape' && reader.nodes[index].input?.[0] === inputName && depth < 2 && onlyEmbedded(reader, reader.nodes[index].output?.[0] ?? '', depth + 1);
  return readers.some((index) => lookup(index) || viewed(index)) && readers.every((index) => lookup(index) || viewed(index) || reader.opType(index) === 'Shape' || comparesWithConstant(reader, index, inputName));
}

/** One graph input: what its values are and its layout; `several` when the model has more inputs (then int and bool inputs not embedded are masks). */
function readInput(reader: GraphReader, input: ValueInfo, source: string, several: boolean, declared: DeclaredAxis[], sampleDims: number[]): GraphInput {
  const name = input.name ?? '';
  // (Its tensor type and shape are checked where its axes are read: graphInputs.)
  const type = input.type?.tensorType?.elemType ?? 0;
  const int = type === INT64 || type === INT32;
  // Token ids (int64 from PyTorch, int32) are read only as indices of embedding tables; beside
  // them, an int or bool input is a mask (attention_mask: 1 for a token, 0 for padding).
  const ids = int && onlyEmbedded(reader, name);
  const mask = several && !ids && (int || type === BOOL);
  if (type !== FLOAT && !ids && !mask) {
    const typeName = DATA_TYPE_NAMES[type] ?? `elem_type ${type}`;
    throw new InputError(`${source}: input '${name}': expected float32${int ? ' (or token ids read only as the indices of Gathers from embedding tables)' : ''}${several ? ', or an int or bool mask' : ''}, found ${typeName}`);
  }
  const dims = [typeof declared[0] === 'number' ? declared[0] : null, ...sampleDims];
  const dimsText = `[${declared.map((d) => d ?? '?').join(', ')}]`;
  if (dims.length < 2 || dims.length > 4 || sampleDims.some((d) => d <= 0) || !checkedDims(sampleDims, 1)) {
    throw new InputError(
      `${source}: input '${name}' has shape ${dimsText}: expected [batch, C, H, W] (NCHW image), [batch, C, L] (NCL sequence), [batch, T, F] (frames or tokens: the batch first) or [batch, features], with sizes besides the batch (each at most ${MAX_DIMENSION}, ${MAX_VALUES} values per sample)`,
    );
  }
  if ((ids || mask) && sampleDims.length !== 1) throw new InputError(`${source}: input '${name}' has shape ${dimsText}: expected ${ids ? 'token ids' : 'a mask'} [batch, T]`);
  // A sequence [C, L] runs as the image [1, L, C] (graphReader.ts: sequence); frames [T, F] read
  // only channels-last (x.transpose(1, 2) for a Conv1d, a Linear or LayerNorm per frame) as [1, T, F].
  const framesFirst = sampleDims.length === 2 && channelsLastInput(reader, name);
  // An image [H, W, C] read only through Transposes to NCHW is channels-last already: ours.
  const nhwc = sampleDims.length === 3 && nhwcInput(reader, name);
  const ours = nhwc
    ? sampleDims
    : sampleDims.length === 3
      ? [sampleDims[1], sampleDims[2], sampleDims[0]]
      : sampleDims.length === 2
        ? framesFirst
          ? [1, ...sampleDims]
          : [1, sampleDims[1], sampleDims[0]]
        : [sampleDims[0]];
  const layout: SampleLayout = nhwc ? 'nhwc' : sampleDims.length !== 2 ? 'nchw' : framesFirst ? 'nlc' : 'ncl';
  const fields = { dims: sampleDims, ours, chw: null, ...(framesFirst || nhwc ? { channelsLast: true as const } : {}) };
  return { name, values: ids ? 'ids' : mask ? 'mask' : 'float', batch: dims[0], dims: sampleDims, ours, layout, fields };
}

/** The model's graph inputs (initializers may be listed as inputs too: not these). */
export function graphInputs(reader: GraphReader, graph: NonNullable<ModelProto['graph']>, source: string, sizes?: InputSizes): { inputs: GraphInput[]; fixed: FixedAxis[] } {
  const inputs = (graph.input ?? []).filter((input) => !reader.consts.has(input.name ?? ''));
  if (inputs.length === 0) throw new InputError(`${source}: graph inputs: expected one or more (besides initializers), found none`);
  const declared = inputs.map((input) => {
    const name = input.name ?? '';
    const tensorType = input.type?.tensorType;
    if (!tensorType) throw new InputError(`${source}: input '${name}': expected a tensor`);
    if (!tensorType.shape) throw new InputError(`${source}: input '${name}': expected a shape, found none`);
    const axes = (tensorType.shape.dim ?? []).map((d): DeclaredAxis => (hasOwn(d, 'dimValue') ? toInt(d.dimValue) : d.dimParam ? d.dimParam : null));
    return { name, axes };
  });
  const { dims, fixed } = fixOpenAxes(source, declared, sizes);
  const read = inputs.map((input, k) => readInput(reader, input, source, inputs.length > 1, declared[k].axes, dims[k]));
  const batches = new Set(read.map((i) => i.batch));
  if (batches.size > 1) throw new InputError(`${source}: graph inputs ${read.map((i) => `'${i.name}'`).join(', ')}: expected one batch size for all, found ${[...batches].map((b) => b ?? '?').join(' and ')}`);
  for (const input of read) reader.uniqueName(input.name);
  return { inputs: read, fixed };
}

/**
 * The network input for `inputs`, set in ctx: one input is the network input; several are packed
 * (the network input's name returned, and a rearrange layer per input taking out its values).
 */
export function enterInputs(ctx: ImportContext, inputs: GraphInput[]): { inputShape: number[]; parts?: InputPart[] } {
  if (inputs.length === 1) {
    ctx.tensors.set(inputs[0].name, { layer: inputs[0].name, ...inputs[0].fields });
    return { inputShape: inputs[0].ours };
  }
  let start = 0;
  const parts: InputPart[] = [];
  for (const input of inputs) {
    const size = product(input.ours);
    const layer: RearrangeLayer = { kind: 'rearrange', name: input.name, from: [ctx.inputName], indices: Int32Array.from({ length: size }, (_, i) => start + i), offset: null, shape: input.ours };
    ctx.reader.layers.push(layer);
    ctx.tensors.set(input.name, { layer: input.name, ...input.fields });
    if (input.values === 'mask') ctx.masks.add(input.name);
    parts.push({ name: input.name, shape: input.ours, values: input.values });
    start += size;
  }
  return { inputShape: [start], parts };
}
