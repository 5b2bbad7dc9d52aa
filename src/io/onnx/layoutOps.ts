// Channels-last stretches of a graph (ConvNeXt as PyTorch exports it): Transpose [0, 2, 3, 1] to
// [batch, H, W, C], LayerNormalization over the channels, MatMul + Add on the channels (a 1×1 conv),
// pointwise activations, and Transpose [0, 3, 1, 2] back; a sequence's x.transpose(1, 2) likewise
// (a 1-D ConvNeXt, or frames [batch, T, F] transposed for a Conv1d). Our tensors are channels-last already:
// the Transposes move no value, they only mark the tensor (NetTensor.channelsLast), and the ops
// between them are the layers they would be on the channels-first tensor.
import type { Conv2DLayer } from '../../network/types.js';
import { listText, shapeText, toInt } from './common.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { isFloatConstant, movedConstant, staticOf, transposeStatic } from './staticValues.js';
import { layerNormForward } from '../../network/cpuOps.js';
import { isSequence, sameAs, scalar, type GraphReader, type NetTensor } from './graphReader.js';
import { fieldsOf, fullOf, transposeTokens } from './tokenOps.js';

const TO_CHANNELS_LAST = [0, 2, 3, 1];
const TO_CHANNELS_FIRST = [0, 3, 1, 2];
/** A sequence's x.transpose(1, 2): [C, L] ↔ [L, C], either way. */
const SWAP_SEQUENCE = [0, 2, 1];

export const transpose: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['perm']);
  const perm = attrs.get('perm')?.ints?.map(toInt) ?? [];
  const data = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if (data && isStatic(data)) return transposeStatic(ctx, index, perm);
  if (isFloatConstant(ctx, index, 0)) return movedConstant(ctx, index, { perm });
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const expected = `perm [0, 2, 3, 1] of an image (to channels-last, for a LayerNormalization or MatMul over the channels) or [0, 3, 1, 2] back, or [0, 2, 1] of a sequence (either way)`;
  if (listText(perm) === listText(SWAP_SEQUENCE) && isSequence(x) && x.ours.length === 3) {
    const [a, b] = x.dims;
    return ctx.alias(index, { layer: x.layer, dims: [b, a], ours: x.ours, chw: null, ...(x.channelsLast ? {} : { channelsLast: true as const }) });
  }
  if (listText(perm) === listText(TO_CHANNELS_LAST) && !x.channelsLast && x.dims.length === 3 && !x.chw) {
    const [C, H, W] = x.dims;
    return ctx.alias(index, { layer: x.layer, dims: [H, W, C], ours: x.ours, chw: null, channelsLast: true });
  }
  if (listText(perm) === listText(TO_CHANNELS_FIRST) && x.channelsLast && !x.nd && x.dims.length === 3) {
    const [H, W, C] = x.dims;
    return ctx.alias(index, { layer: x.layer, dims: [C, H, W], ours: x.ours, chw: null });
  }
  if (fullOf(x)) return transposeTokens(ctx, index, perm); // tokens, attention's heads
  throw reader.nodeError(index, `perm ${listText(perm)} of [batch, ${x.dims.join(', ')}]: expected ${expected}, or any perm of tokens or channels-last values`);
};

/** LayerNormalization (opset 17) over the last axis: the channels of a channels-last image, or features. */
export const layerNormalization: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis', 'epsilon', 'stash_type']);
  const input = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if (!input || isStatic(input)) return foldLayerNorm(ctx, index, reader.intAttribute(index, attrs, 'axis', -1), reader.floatAttribute(index, attrs, 'epsilon', 1e-5));
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const rank = (fullOf(x) ?? [1, ...x.dims]).length;
  const axis = reader.intAttribute(index, attrs, 'axis', -1);
  if ((axis < 0 ? axis + rank : axis) !== rank - 1) throw reader.nodeError(index, `attribute axis=${axis} on [batch, ${x.dims.join(', ')}]: expected the last axis (the channels, after a Transpose [0, 2, 3, 1]) or features`);
  const epsilon = reader.floatAttribute(index, attrs, 'epsilon', 1e-5);
  emitLayerNorm(ctx, index, x, reader.constInput(index, 1, 'scale'), reader.optionalConstInput(index, 2, 'bias'), epsilon);
};

/**
 * LayerNormalization of a constant (DeBERTa's relative-position embeddings, normalized once for
 * every input): folded over the last axis, as the runtime computes it (float32 results).
 */
function foldLayerNorm(ctx: ImportContext, index: number, axis: number, epsilon: number): void {
  const { reader } = ctx;
  const { values, shape } = staticOf(ctx, index, 0, 'input');
  const C = shape[shape.length - 1];
  if ((axis !== -1 && axis !== shape.length - 1) || values.some((v) => typeof v !== 'number') || !(epsilon >= 0))
    throw reader.nodeError(index, `normalizes a constant of shape ${listText(shape)} over axis ${axis}: expected the last axis of known values`);
  const [scale, bias] = [1, 2].map((k) => (reader.nodes[index].input?.[k] ? Float64Array.from(staticOf(ctx, index, k, k === 1 ? 'scale' : 'bias').values as number[]) : null));
  if ((scale && scale.length !== C) || (bias && bias.length !== C)) throw reader.nodeError(index, `scale and bias of a constant of shape ${listText(shape)}: expected ${C} values each`);
  const x = Float64Array.from(values as number[]);
  const out = layerNormForward(x, scale ?? new Float64Array(C).fill(1), bias ?? new Float64Array(C), epsilon);
  ctx.alias(index, { values: Array.from(out, Math.fround), shape, float: true });
}

type Constant = ReturnType<GraphReader['constInput']>;

/** Node `index` as a layernorm layer of x (a channels-last image or features) with these constants. */
function emitLayerNorm(ctx: ImportContext, index: number, x: NetTensor, scaleConst: Constant | null, biasConst: Constant | null, epsilon: number, rms = false): void {
  const { reader } = ctx;
  if ((x.dims.length >= 2 && !x.channelsLast) || x.chw)
    throw reader.nodeError(index, `normalizes the last axis of [batch, ${x.dims.join(', ')}]: expected the channels (after a Transpose [0, 2, 3, 1], or [0, 2, 1] of a sequence) or features`);
  if (!(epsilon >= 0 && Number.isFinite(epsilon))) throw reader.nodeError(index, `epsilon ${epsilon}: expected a finite value ≥ 0`);
  const channels = x.dims[x.dims.length - 1];
  const [scale, offset] = ([[scaleConst, 'scale'], [biasConst, 'bias']] as const).map(([constant, what]) => {
    if (!constant) return new Float32Array(channels).fill(what === 'scale' ? 1 : 0);
    const { dims, values } = reader.weightValues(index, constant, what);
    if (values.length !== channels || dims.length !== 1) throw reader.nodeError(index, `${what} '${constant.root}' has shape ${shapeText(dims)}: expected [${channels}]`);
    return values;
  });
  ctx.emit(index, { kind: 'layernorm', name: reader.layerName(index), scale, offset, epsilon, ...(rms ? { rms: true as const } : {}) }, [x], sameAs(x));
}

/** Whether ReduceMean `index` is over the last axis, keeping it (axes [-1] an attribute, or from opset 18 a constant input). */
export function meanOverLastAxis(reader: GraphReader, index: number): boolean {
  const attrs = reader.nodes[index].attribute ?? [];
  const keep = attrs.find((a) => a.name === 'keepdims');
  const input = reader.nodes[index].input?.[1];
  let axes = attrs.find((a) => a.name === 'axes')?.ints?.map(toInt) ?? null;
  if (!axes && input && reader.consts.has(input)) {
    try {
      axes = reader.intValues(index, reader.consts.get(input)!, 'axes');
    } catch {
      return false; // not whole numbers: the ReduceMean's own reading says so
    }
  }
  return axes?.length === 1 && axes[0] === -1 && (keep === undefined || toInt(keep.i ?? 1) === 1);
}

/** A LayerNorm PyTorch wrote as nodes (below opset 17; an RMSNorm: rmsNorm.ts): its last node, with what it reads; or a node inside it (skipped). */
export type LayerNormFusion = { input: string; scale: string | null; bias: string | null; epsilon: number; rms?: true } | 'inner';

/**
 * PyTorch's LayerNorm before opset 17, by node index: ReduceMean(x) over the last axis, d = x − it,
 * ReduceMean(d^2), + ε, Sqrt, d / it, · scale, + bias (each part read by the next alone, d by
 * the Pow and the Div).
 */
export function findLayerNorms(reader: GraphReader, outputs: ReadonlySet<string>): Map<number, LayerNormFusion> {
  const producer = reader.producers;
  const op = (index: number | undefined) => reader.opType(index);
  const inputs = (index: number) => reader.nodes[index].input ?? [];
  const readers = (name: string) => (outputs.has(name) ? [-1] : (reader.consumers.get(name) ?? []));
  /** The `opType` node computing `name`, read by `by` alone. */
  const inner = (name: string, opType: string, by: number): number | undefined => {
    const index = producer.get(name);
    const r = readers(name);
    return index !== undefined && op(index) === opType && r.length === 1 && r[0] === by ? index : undefined;
  };
  const constant = (name: string) => reader.consts.has(name);
  /** [the computed input, the constant] of a two-input node. */
  const split = (index: number): [string, string] | undefined => {
    const [a, b] = inputs(index);
    if (inputs(index).length !== 2) return undefined;
    return constant(b) && !constant(a) ? [a, b] : constant(a) && !constant(b) ? [b, a] : undefined;
  };
  const overLastAxis = (index: number) => meanOverLastAxis(reader, index);
  const found = new Map<number, LayerNormFusion>();
  reader.nodes.forEach((_, z) => {
    if (op(z) !== 'Add') return;
    const [yName, bias] = split(z) ?? [];
    const y = yName === undefined ? undefined : inner(yName, 'Mul', z);
    const [nName, scale] = y === undefined ? [] : (split(y) ?? []);
    const n = nName === undefined ? undefined : inner(nName, 'Div', y!);
    if (n === undefined) return;
    const [dName, sName] = inputs(n);
    const s = inner(sName, 'Sqrt', n);
    const a = s === undefined ? undefined : inner(inputs(s)[0], 'Add', s);
    const [vName, epsName] = a === undefined ? [] : (split(a) ?? []);
    const v = vName === undefined ? undefined : inner(vName, 'ReduceMean', a!);
    const p = v === undefined || !overLastAxis(v) ? undefined : inner(inputs(v)[0], 'Pow', v);
    const d = producer.get(dName);
    if (p === undefined || d === undefined || op(d) !== 'Sub' || inputs(p)[0] !== dName || scalar(reader, inputs(p)[1]) !== 2) return;
    const dReaders = [...readers(dName)].sort((i, j) => i - j);
    if (dReaders.length !== 2 || dReaders.join() !== [p, n].sort((i, j) => i - j).join()) return;
    const [x, mName] = inputs(d);
    const m = inner(mName, 'ReduceMean', d);
    const epsilon = scalar(reader, epsName!);
    if (m === undefined || !overLastAxis(m) || inputs(m)[0] !== x || epsilon === null) return;
    for (const part of [m, d, p, v!, a!, s!, n, y!]) found.set(part, 'inner');
    found.set(z, { input: x, scale: scale!, bias: bias!, epsilon });
  });
  return found;
}

/** The layernorm a fused LayerNorm's last Add (node `index`) is. */
export function emitLayerNormFusion(ctx: ImportContext, index: number, fusion: Exclude<LayerNormFusion, 'inner'>): void {
  const x = ctx.tensors.get(fusion.input);
  if (!x || isStatic(x)) throw ctx.reader.nodeError(index, `input '${fusion.input}' of its LayerNorm: expected a tensor computed from the graph input`);
  const constant = (name: string | null) => (name === null ? null : ctx.reader.consts.get(name)!);
  emitLayerNorm(ctx, index, x, constant(fusion.scale), constant(fusion.bias), fusion.epsilon, fusion.rms);
}

/** A MatMul of a channels-last image (or sequence [L, C]) by [C, K] weights: a 1×1 conv (our HWIO [1, 1, C, K] holds the same values). */
export function channelsLastMatMul(ctx: ImportContext, index: number, x: NetTensor): void {
  const { reader } = ctx;
  if (x.ours.length !== 3)
    throw reader.nodeError(index, `input has shape [batch, ${x.dims.join(', ')}] (channels-last): expected an image with more than one position`);
  const C = x.ours[2];
  const weight = reader.constInput(index, 1, 'weight');
  const { dims, values } = reader.weightValues(index, weight, 'weight');
  if (dims.length !== 2 || dims[0] !== C) throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(dims)}: expected [${C}, K] (${C} channels)`);
  const K = dims[1];
  const name = reader.layerName(index);
  const layer: Conv2DLayer = { kind: 'conv2d', name, kernel: values, kernelSize: [1, 1], inChannels: C, filters: K, bias: null, strides: [1, 1], padding: 'valid', activation: 'linear' };
  ctx.emit(index, layer, [x], fieldsOf([...fullOf(x)!.slice(0, -1), K]));
  const output = reader.nodes[index].output?.[0] ?? '';
  reader.bindings.push({ kind: 'conv2d', op: 'MatMul', layer: name, node: reader.describe(index), output, weight: weight.root, bias: null, weightReader: index, biasReader: null, filters: K, inChannels: C, groups: 1, kernelSize: [1, 1], foldedBatchNorm: null });
}
