// Transformer encoders as PyTorch exports them (nn.TransformerEncoderLayer, nn.MultiheadAttention,
// a ViT's patch embedding, class token and position embedding, timm-style attention). Their
// tensors are channels-last (tokens [batch, T, D]: ours [1, T, D]) and attention reshapes and
// transposes them through any rank, the batch axis moved or merged with the heads
// ([T, batch·heads, d]). Each of these tensors is read one sample at a time, as the model
// computes a batch of 1: its full ONNX shape at batch 1 (`fullOf`), whose row-major order is
// ours. A Reshape moves no value; a Transpose, a Slice or Gather along an axis, a constant token
// concatenated and a constant added are a `rearrange` layer; the product of two computed tensors
// (scores Q·Kᵀ, scores·V) a `matmul` layer. Shape computations on them fold at batch 1.
import type { Conv2DLayer, RearrangeLayer } from '../../network/types.js';
import { checkedDims, FLOAT, listText, product, shapeText, type ConvBinding } from './common.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { broadcast, floatInput, gathered, MAX_STATIC, staticOf } from './staticValues.js';
import { isPooled, vector, type NetTensor } from './graphReader.js';

/** The full ONNX shape at batch 1 of a tensor whose row-major order is ours, or null (a channels-first image or sequence). */
export function fullOf(x: NetTensor): number[] | null {
  if (x.nd) return x.dims;
  if (x.channelsLast || isPooled(x) || (x.ours.length === 1 && !x.chw)) return [1, ...x.dims];
  return null;
}

/** Our shape for a row-major tensor of `full`: three axes, the last one the channels. */
const oursOf = (full: number[]): number[] => (full.length >= 3 ? [product(full.slice(0, -2)), ...full.slice(-2)] : [1, ...Array(2 - full.length).fill(1), ...full]);

/** The tensor fields of a row-major tensor of full shape `full` at batch 1 (tokens, an image channels-last, features, or any other). */
export function fieldsOf(full: number[]): Omit<NetTensor, 'layer'> {
  if (full[0] === 1 && full.length === 2) return vector(full[1]);
  if (full[0] === 1 && full.length === 3) return { dims: full.slice(1), ours: [1, full[1], full[2]], chw: null, channelsLast: true };
  if (full[0] === 1 && full.length === 4) return { dims: full.slice(1), ours: full.slice(1), chw: null, channelsLast: true };
  return { dims: full, ours: oursOf(full), chw: null, channelsLast: true, nd: true };
}

/** Node `index`'s input `position` with its full shape; an error for a channels-first image or sequence. */
function rowMajor(ctx: ImportContext, index: number, position = 0): { x: NetTensor; full: number[] } {
  const x = ctx.net(index, position, { channelsLast: true, sequence: true });
  const full = fullOf(x);
  if (!full) throw ctx.reader.nodeError(index, `input ${position} is channels-first [batch, ${x.dims.join(', ')}]: expected tokens or channels-last values (after a Transpose to channels-last, or a Reshape of them)`);
  return { x, full };
}

/** The axes an op may move: all of an nd tensor's (its batch is anywhere, or merged), past the batch otherwise. */
const firstAxis = (x: NetTensor) => (x.nd ? 0 : 1);
/** x's shape in a message. */
const shapeIn = (x: NetTensor, full: number[]) => (x.nd ? `[${full.join(', ')}] (at batch 1)` : `[batch, ${full.slice(1).join(', ')}]`);

/**
 * A Reshape's target at batch 1 for an input of `size` values: 'batch' is 1, 0 copies the input's
 * size on that axis (unless allowzero), one −1 takes the rest; null when it does not hold `size`.
 */
export function shapeAtBatchOne(values: Array<number | 'batch'>, input: readonly number[], size: number, allowZero = 0): number[] | null {
  const known = values.map((v, k) => (v === 'batch' ? 1 : v === 0 && !allowZero ? (input[k] ?? NaN) : v));
  const rest = product(known.filter((v) => v !== -1));
  const target = known.map((v) => (v === -1 ? size / rest : v));
  return known.filter((v) => v === -1).length <= 1 && target.every((v) => Number.isInteger(v) && v >= 1) && product(target) === size ? target : null;
}

export const strides = (shape: number[]) => shape.map((_, k) => product(shape.slice(k + 1)));

/** For each output position of `outShape` (row-major), the input index from its coordinates (`source`: coordinates → input index, or −1). */
export function indexMap(outShape: number[], source: (at: number[]) => number): Int32Array {
  const indices = new Int32Array(product(outShape));
  const at = new Array(outShape.length).fill(0);
  for (let i = 0; i < indices.length; i++) {
    indices[i] = source(at);
    for (let k = outShape.length - 1; k >= 0 && ++at[k] === outShape[k]; k--) at[k] = 0;
  }
  return indices;
}

/** x's values as a tensor of full shape `full`: x itself when ours is unchanged, else a reshape layer (moves nothing). */
export function view(ctx: ImportContext, index: number, x: NetTensor, fields: Omit<NetTensor, 'layer'>, position = 0): NetTensor {
  if (shapeText(fields.ours) === shapeText(x.ours)) {
    const tensor = { layer: x.layer, ...fields };
    ctx.alias(index, tensor, position);
    return tensor;
  }
  return ctx.emit(index, { kind: 'reshape', name: ctx.reader.layerName(index, position), shape: fields.ours }, [x], fields, position);
}

/** Emits a rearrange of x (a view of it when it moves nothing and adds nothing) with output full shape `full`. */
export function emitRearrange(ctx: ImportContext, index: number, x: NetTensor, full: number[], indices: Int32Array, offset: Float32Array | null, position = 0): NetTensor {
  const fields = fieldsOf(full);
  if (!offset && indices.length === product(x.ours) && indices.every((k, i) => k === i)) return view(ctx, index, x, fields, position);
  const layer: RearrangeLayer = { kind: 'rearrange', name: ctx.reader.layerName(index, position), indices, offset, shape: fields.ours };
  return ctx.emit(index, layer, [x], fields, position);
}

/** Transpose of a row-major tensor by any perm (attention's heads): values moved, or none when only axes of size 1 move. */
export function transposeTokens(ctx: ImportContext, index: number, perm: number[]): void {
  const { x, full } = rowMajor(ctx, index);
  if (perm.length !== full.length || [...perm].sort((a, b) => a - b).some((p, k) => p !== k))
    throw ctx.reader.nodeError(index, `perm ${listText(perm)}: expected a permutation of the ${full.length} axes of [${full.join(', ')}] (batch 1)`);
  const inStrides = strides(full);
  const out = perm.map((p) => full[p]);
  emitRearrange(ctx, index, x, out, indexMap(out, (at) => at.reduce((s, v, k) => s + v * inStrides[perm[k]], 0)), null);
}

/** Reshape of a row-major tensor (or of a channels-first image to [batch, C, H·W], ViT's flatten(2)): moves no value. */
export function reshapeTokens(ctx: ImportContext, index: number, x: NetTensor, shape: Array<number | 'batch'>, allowZero: number): void {
  const { reader } = ctx;
  const full = fullOf(x) ?? (x.dims.length === 3 && !x.chw ? [1, ...x.dims] : null);
  const size = product(x.ours);
  const given = listText(shape.map((v) => (v === 'batch' ? -1 : v)));
  if (!full) throw reader.nodeError(index, `shape ${given} of [batch, ${x.dims.join(', ')}]: expected a reshape of tokens or channels-last values`);
  const target = shapeAtBatchOne(shape, full, size, allowZero);
  if (!target) throw reader.nodeError(index, `shape ${given}: expected ${size} values at batch 1 (the input is [${full.join(', ')}])`);
  if (!x.channelsLast && !isPooled(x) && x.ours.length === 3) {
    // A channels-first image [C, H, W] viewed as [C, H·W]: our [H, W, C] is the sequence [1, H·W, C].
    const [C, H, W] = x.dims;
    if (target.length !== 3 || target[1] !== C || target[2] !== H * W) throw reader.nodeError(index, `shape ${given} of the image [batch, ${x.dims.join(', ')}]: expected [batch, ${C}, ${H * W}] (flatten(2), a ViT's patches)`);
    return void view(ctx, index, x, { dims: [C, H * W], ours: [1, H * W, C], chw: null });
  }
  // The channels still last (GPT-2's Conv1D views [batch·T, C] back as [batch, T, C]): the writer resizes that axis with them.
  if (target[target.length - 1] === full[full.length - 1] && x.channelsLast)
    reader.reshapes.push({ output: reader.nodes[index].output?.[0] ?? '', layer: x.layer, axis: target.length - 1, channels: full[full.length - 1] });
  const viewed = view(ctx, index, x, fieldsOf(target));
  reader.views.push({ output: reader.nodes[index].output?.[0] ?? '', layer: viewed.layer, ours: [...viewed.ours], dims: target });
}

/** MatMul of two computed row-major tensors: [..., M, K] times [..., K, N] with the same leading axes (attention). */
export function productOfTensors(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  // A folded table of floats on one side (DeBERTa's relative-position keys), or a float constant
  // of three axes or more (dynamo folds them so): a constant tensor.
  const table = [0, 1].map((k) => (isFloatTable(ctx, index, k) ? staticOf(ctx, index, k, 'table') : null));
  const computed = table[0] ? 1 : 0;
  const [a, b] = [0, 1].map((k) => {
    const values = table[k];
    if (!values) return rowMajor(ctx, index, k);
    const other = rowMajor(ctx, index, computed);
    return { x: constantTensor(ctx, index, other.x, values.shape, Float32Array.from(values.values as number[])), full: values.shape };
  });
  const [fa, fb] = [a.full, b.full];
  const lead = (f: number[]) => shapeText(f.slice(0, -2));
  if (fa.length < 2 || fa.length !== fb.length || lead(fa) !== lead(fb) || fa[fa.length - 1] !== fb[fb.length - 2])
    throw reader.nodeError(index, `multiplies [${fa.join(', ')}] by [${fb.join(', ')}] (batch 1): expected [..., M, K] and [..., K, N] with the same leading axes`);
  const out = [...fa.slice(0, -1), fb[fb.length - 1]];
  ctx.emit(index, { kind: 'matmul', name: reader.layerName(index) }, [a.x, b.x], fieldsOf(out));
}

/** Slice of a row-major tensor along one axis (step 1): a rearrange. */
export function sliceTokens(ctx: ImportContext, index: number, starts: Array<number | 'batch'>, ends: Array<number | 'batch'>, axes: Array<number | 'batch'>, steps: Array<number | 'batch'>): void {
  const { x, full } = rowMajor(ctx, index);
  const axis = typeof axes[0] === 'number' && axes[0] < 0 ? axes[0] + full.length : axes[0];
  if (starts.length !== 1 || ends.length !== 1 || axes.length !== 1 || typeof axis !== 'number' || !(axis >= firstAxis(x) && axis < full.length) || steps.length !== 1 || steps[0] !== 1)
    throw ctx.reader.nodeError(index, `starts ${listText(starts.map(Number))}, ends ${listText(ends.map(Number))}, axes ${listText(axes.map(Number))} of ${shapeIn(x, full)}: expected one range along one axis besides the batch (step 1)`);
  const size = full[axis];
  const clamp = (v: number | 'batch') => (typeof v !== 'number' ? NaN : Math.min(Math.max(v < 0 ? v + size : v, 0), size));
  const [start, end] = [clamp(starts[0]), clamp(ends[0])];
  const output = ctx.reader.nodes[index].output?.[0] ?? '';
  const readers = ctx.reader.consumers.get(output) ?? [];
  if (start >= end && readers.length > 0 && !ctx.outputs.has(output) && readers.every((r) => ctx.reader.opType(r) === 'Concat')) return void ctx.empty.add(output);
  if (!(start < end)) throw ctx.reader.nodeError(index, `${starts[0]} to ${ends[0]} of ${size} on axis ${axis}: expected a non-empty range (or an empty one that only Concats read)`);
  rangeOf(ctx, index, x, full, axis, start, end, 0);
}

/** Values [start, end) along `axis` of x: output `position` of node `index`. */
export function rangeOf(ctx: ImportContext, index: number, x: NetTensor, full: number[], axis: number, start: number, end: number, position: number): NetTensor {
  const inStrides = strides(full);
  const out = full.map((d, k) => (k === axis ? end - start : d));
  if (axis === full.length - 1) ctx.reader.ranges.push({ output: ctx.reader.nodes[index].output?.[0] ?? '', position, layer: x.layer, start, end });
  return emitRearrange(ctx, index, x, out, indexMap(out, (at) => at.reduce((s, v, k) => s + (k === axis ? v + start : v) * inStrides[k], 0)), null, position);
}

/**
 * Gather along an axis of a computed row-major tensor by constant indices (x[:, 0]: the class
 * token; a head's q, k, v; PyTorch 2's as_strided of a flattened tensor, by indices of any shape).
 */
export function gatherTokens(ctx: ImportContext, index: number, axisValue: number): void {
  const { reader } = ctx;
  const { x, full } = rowMajor(ctx, index);
  const axis = axisValue < 0 ? axisValue + full.length : axisValue;
  const picksTensor = ctx.tensors.get(reader.nodes[index].input?.[1] ?? '');
  const constant = reader.consts.get(reader.nodes[index].input?.[1] ?? '');
  const picks = picksTensor && isStatic(picksTensor) ? picksTensor.values : constant ? reader.intValues(index, constant, 'indices', product(full)) : null;
  const pickDims = constant ? (constant.tensor.dims ?? []).map(Number) : picksTensor && isStatic(picksTensor) ? (picksTensor.shape ?? [picksTensor.values.length]) : [];
  if (!(axis >= firstAxis(x) && axis < full.length) || !picks || picks.some((p) => typeof p !== 'number' || p < -full[axis] || p >= full[axis]))
    throw reader.nodeError(index, `indices ${listText((picks ?? []).slice(0, 16).map(Number))} on axis ${axisValue} of ${shapeIn(x, full)}: expected constant indices within an axis other than the batch`);
  const chosen = (picks as number[]).map((p) => (p < 0 ? p + full[axis] : p));
  const inStrides = strides(full);
  // The output's axes: those before `axis`, the indices' own (none for a scalar), those after.
  const out = [...full.slice(0, axis), ...pickDims, ...full.slice(axis + 1)];
  const pickStrides = strides(pickDims);
  const indices = indexMap(out, (at) => {
    let from = 0;
    for (let k = 0; k < axis; k++) from += at[k] * inStrides[k];
    let pick = 0;
    for (let k = 0; k < pickDims.length; k++) pick += at[axis + k] * pickStrides[k];
    from += chosen[pick] * inStrides[axis];
    for (let k = axis + 1; k < full.length; k++) from += at[k - 1 + pickDims.length] * inStrides[k];
    return from;
  });
  emitRearrange(ctx, index, x, out, indices, null);
}

/** Whether input `position` is a folded table of floats or a float constant of three axes or more (batched per head: no weights of a layer). */
export function isFloatTable(ctx: ImportContext, index: number, position: number): boolean {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  const t = ctx.tensors.get(name);
  const constant = t ? undefined : ctx.reader.consts.get(name);
  return t ? isStatic(t) && t.float === true : constant !== undefined && constant.tensor.dataType === FLOAT && (constant.tensor.dims ?? []).length >= 3;
}

/**
 * `values` (row-major, of full shape `full` at batch 1) as a tensor for node `index`'s layers: a
 * rearrange that reads no value of x (any tensor of the sample) and adds them.
 */
function constantTensor(ctx: ImportContext, index: number, x: NetTensor, full: number[], values: Float32Array): NetTensor {
  const { reader } = ctx;
  const fields = fieldsOf(full);
  const name = reader.uniqueName(`${reader.nodes[index].name || `${reader.opType(index)}_${index}`}:constant`);
  reader.layers.push({ kind: 'rearrange', name, from: [x.layer], indices: new Int32Array(values.length).fill(-1), offset: values, shape: fields.ours });
  return { layer: name, ...fields };
}

/** A constant of `dims` broadcast over the values of x (at batch 1), row-major; null when it does not broadcast or is one value per channel at most. */
function spreadOver(x: NetTensor, dims: number[], values: Float32Array): { full: number[]; spread: Float32Array } | null {
  const full = fullOf(x);
  if (!full || dims.length > full.length || product(dims) <= full[full.length - 1]) return null;
  const spread = broadcast(Array.from(values), dims, full);
  return spread && { full, spread: Float32Array.from(spread as number[]) };
}

/** x + c for a constant c of x's full shape (a position embedding), broadcast over its axes of size 1: a rearrange adding it. */
export function addConstantTokens(ctx: ImportContext, index: number, x: NetTensor, dims: number[], values: Float32Array): boolean {
  const spread = spreadOver(x, dims, values);
  if (!spread) return false;
  emitRearrange(ctx, index, x, spread.full, Int32Array.from({ length: spread.spread.length }, (_, i) => i), spread.spread);
  return true;
}

/**
 * x times a constant over its tokens too (RoPE's x·cos and rotate_half(x)·sin, the tables folded
 * for the length read): the constant as a tensor (a rearrange that reads no value of x and adds
 * it), then a mul layer of the two.
 */
export function mulConstantTokens(ctx: ImportContext, index: number, x: NetTensor, dims: number[], values: Float32Array): boolean {
  const spread = spreadOver(x, dims, values);
  if (!spread) return false;
  const table = constantTensor(ctx, index, x, spread.full, spread.spread);
  ctx.emit(index, { kind: 'mul', name: ctx.reader.layerName(index) }, [x, table], fieldsOf(spread.full));
  return true;
}

/**
 * Where(mask, value, x) or Where(mask, x, value) with a folded mask and one constant value
 * (nanoGPT's `att.masked_fill(bias[:, :, :T, :T] == 0, -inf)`): x where it is kept, the value
 * elsewhere, as a rearrange (−∞ may be the offset: the softmax after it gives those scores 0).
 */
export function maskedTokens(ctx: ImportContext, index: number, branch: number): void {
  const { reader } = ctx;
  const x = ctx.net(index, branch, { channelsLast: true, sequence: true });
  const full = fullOf(x);
  const mask = staticOf(ctx, index, 0, 'condition');
  const other = staticOf(ctx, index, 3 - branch, 'value');
  const keep = full && broadcast(mask.values, mask.shape, full);
  if (!full || !keep || other.values.length !== 1 || typeof other.values[0] !== 'number')
    throw reader.nodeError(index, `selects from a computed tensor [${(full ?? x.dims).join(', ')}] (batch 1) by a mask of shape ${listText(mask.shape)}: expected a constant mask that broadcasts to it and one constant value (masked_fill)`);
  // Input 1 is taken where the mask holds: x there when x is input 1, the value there when x is input 2.
  const fromX = (m: number | 'batch') => (branch === 1) === Boolean(m);
  const value = other.values[0];
  const offset = Float32Array.from(keep, (m) => (fromX(m) ? 0 : value));
  emitRearrange(ctx, index, x, full, Int32Array.from(keep, (m, i) => (fromX(m) ? i : -1)), offset);
}

/** Concat along a token axis of one computed tensor and constants broadcast over the batch (ViT's class token): a rearrange. */
export function concatTokens(ctx: ImportContext, index: number, axisValue: number, constant: (position: number) => { dims: number[]; values: Float32Array } | null): void {
  const { reader } = ctx;
  type Part = { full: number[]; x?: NetTensor; values?: Float32Array };
  const parts: Part[] = (reader.nodes[index].input ?? []).map((_, k) => {
    const c = constant(k);
    return c ? { full: [1, ...c.dims.slice(1)], values: c.values } : rowMajor(ctx, index, k);
  });
  const computed = parts.filter((p) => p.x);
  const rank = parts[0].full.length;
  const axis = axisValue < 0 ? axisValue + rank : axisValue;
  const rest = (f: number[]) => shapeText(f.filter((_, k) => k !== axis));
  if (computed.length !== 1 || !(axis >= 1 && axis < rank) || parts.some((p) => p.full.length !== rank || rest(p.full) !== rest(parts[0].full)))
    throw reader.nodeError(index, `joins ${parts.map((p) => `[${p.full.join(', ')}]`).join(', ')} (batch 1) on axis ${axisValue}: expected one computed tensor and constants (a class token) of the same sizes besides that axis`);
  const starts = parts.map((_, k) => parts.slice(0, k).reduce((s, p) => s + p.full[axis], 0));
  const out = parts[0].full.map((d, k) => (k === axis ? parts.reduce((s, p) => s + p.full[axis], 0) : d));
  const offset = new Float32Array(product(out));
  let i = 0;
  // Output element `i` (row-major): the computed tensor's value, or the constant's, in the offset.
  const indices = indexMap(out, (at) => {
    const k = starts.reduce((found, start, j) => (at[axis] >= start ? j : found), 0);
    const local = at.map((v, j) => (j === axis ? v - starts[k] : v));
    const flat = local.reduce((s, v, j) => s + v * strides(parts[k].full)[j], 0);
    if (!parts[k].x) offset[i] = parts[k].values![flat];
    i++;
    return parts[k].x ? flat : -1;
  });
  emitRearrange(ctx, index, computed[0].x!, out, indices, offset);
}

/**
 * Gemm on tokens [T·batch, D] (nn.MultiheadAttention's output projection after its Reshape): a
 * 1×1 conv of ours, bound to the Gemm's weight ([K, D] with transB, else [D, K]) and bias.
 */
export function gemmOnTokens(ctx: ImportContext, index: number, x: NetTensor, transB: boolean): void {
  const { reader } = ctx;
  const full = fullOf(x)!;
  const C = x.ours[2];
  const weight = reader.constInput(index, 1, 'weight');
  const { dims, values } = reader.weightValues(index, weight, 'weight');
  const K = dims.length === 2 ? (transB ? dims[0] : dims[1]) : -1;
  if (dims.length !== 2 || (transB ? dims[1] : dims[0]) !== C) throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(dims)}: expected ${transB ? `[K, ${C}]` : `[${C}, K]`} (${C} channels)`);
  const kernel = transB ? Float32Array.from({ length: C * K }, (_, i) => values[(i % K) * C + Math.floor(i / K)]) : values;
  const biasConst = reader.optionalConstInput(index, 2, 'bias');
  const bias = biasConst ? reader.weightValues(index, biasConst, 'bias').values : null;
  if (bias && bias.length !== K) throw reader.nodeError(index, `bias '${biasConst!.root}' has ${bias.length} values: expected ${K}`);
  const name = reader.layerName(index);
  const layer: Conv2DLayer = { kind: 'conv2d', name, kernel, kernelSize: [1, 1], inChannels: C, filters: K, bias, strides: [1, 1], padding: 'valid', activation: 'linear' };
  ctx.emit(index, layer, [x], fieldsOf([...full.slice(0, -1), K]));
  const binding: ConvBinding = {
    kind: 'conv2d', op: 'Gemm', ...(transB ? { transB: true } : {}), layer: name, node: reader.describe(index), output: reader.nodes[index].output?.[0] ?? '', weight: weight.root,
    bias: biasConst?.root ?? null, weightReader: index, biasReader: biasConst ? index : null, filters: K, inChannels: C, groups: 1, kernelSize: [1, 1], foldedBatchNorm: null,
  };
  reader.bindings.push(binding);
}

/** Expand of a constant over the batch only (PyTorch's cls_token.expand(batch, −1, −1)): a constant per sample for the Concat after it. */
export const expandConstant = (ctx: ImportContext, index: number): void => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const name = reader.nodes[index].input?.[0] ?? '';
  const constant = reader.consts.get(name);
  const folded = ctx.tensors.get(name);
  if ((folded && isStatic(folded)) || (constant && constant.tensor.dataType !== FLOAT)) return expandStatic(ctx, index);
  const shape = ctx.staticValues(index, 1, 'shape');
  const given = listText(shape.map((v) => (v === 'batch' ? -1 : v)));
  if (!constant) throw reader.nodeError(index, `input 0 ('${name}'): expected a constant (a class token) expanded over the batch`);
  const { dims, values } = reader.weightValues(index, constant, 'constant');
  // Each target axis keeps the constant's size (−1 or 1 or that size), the first one the batch.
  const keeps = shape.length === dims.length && dims[0] === 1 && shape.every((v, k) => (k === 0 ? v === 'batch' || v === 1 || v === -1 : v === -1 || v === 1 || v === dims[k]));
  if (!keeps) throw reader.nodeError(index, `shape ${given} of constant '${constant.root}' ${shapeText(dims)}: expected it expanded over the batch only ([batch, −1, …])`);
  const output = reader.nodes[index].output?.[0] ?? '';
  ctx.constants.set(output, { dims, values });
  // One sample's values are the constant's: arithmetic reads it as one (MPNet's position bias added to the scores).
  reader.consts.set(output, constant);
};

/**
 * Expand of folded int values (BERT's buffered token types, expanded to [batch, T]) at batch 1:
 * the values one sample reads.
 */
function expandStatic(ctx: ImportContext, index: number): void {
  const data = staticOf(ctx, index, 0, 'data');
  const target = ctx.staticValues(index, 1, 'shape').map((v) => (v === 'batch' ? 1 : v));
  const aligned = [...Array(Math.max(0, data.shape.length - target.length)).fill(1), ...target];
  const rank = Math.max(aligned.length, data.shape.length);
  const given = [...Array(rank - data.shape.length).fill(1), ...data.shape];
  const out = given.map((d, k) => Math.max(d, aligned[k]));
  if (!checkedDims(out) || product(out) > MAX_STATIC)
    throw ctx.reader.nodeError(index, `expands folded values to ${listText(target)}: expected at most ${MAX_STATIC} values`);
  const values = broadcast(data.values, data.shape, out);
  if (!values || out.some((d, k) => aligned[k] !== 1 && aligned[k] !== d))
    throw ctx.reader.nodeError(index, `expands folded values of shape ${listText(data.shape)} to ${listText(target)}: expected a shape they broadcast to`);
  ctx.alias(index, { values, ...(out.length > 1 ? { shape: out } : {}), ...(floatInput(ctx, index, 0) ? { float: true as const } : {}) });
}

/** Split of tokens or channels-last values along any axis (timm's qkv, nn.MultiheadAttention's fused in_proj): a rearrange per output read. */
export function splitTokens(ctx: ImportContext, index: number, x: NetTensor, axisValue: number, attribute: number[] | undefined): void {
  const { reader } = ctx;
  const full = fullOf(x)!;
  const axis = axisValue < 0 ? axisValue + full.length : axisValue;
  const outputs = reader.nodes[index].output ?? [];
  const given = reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'split') : attribute;
  const size = full[axis];
  const sizes = given ?? (size % outputs.length === 0 ? new Array(outputs.length).fill(size / outputs.length) : []);
  if (!(axis >= firstAxis(x) && axis < full.length) || sizes.length !== outputs.length || !sizes.every((n) => typeof n === 'number' && n > 0) || (sizes as number[]).reduce((a, b) => a + b, 0) !== size)
    throw reader.nodeError(index, `split ${listText(sizes.map(Number))} on axis ${axisValue} of ${shapeIn(x, full)}: expected ${outputs.length} positive sizes adding up to an axis besides the batch`);
  let start = 0;
  (sizes as number[]).forEach((n, k) => {
    const name = outputs[k];
    if (name && ((reader.consumers.get(name)?.length ?? 0) > 0 || ctx.outputs.has(name))) rangeOf(ctx, index, x, full, axis, start, start + n, k);
    start += n;
  });
}

/**
 * Tile of folded values (DeBERTa's relative-position keys repeated over the batch), or of a
 * computed tensor (a rearrange): each axis's values `repeats` times over.
 */
export const tile: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const name = reader.nodes[index].input?.[0] ?? '';
  const tensor = ctx.tensors.get(name);
  const computed = tensor && !isStatic(tensor) ? ctx.net(index, 0, { channelsLast: true, sequence: true }) : null;
  const shape = computed ? fullOf(computed) : staticOf(ctx, index, 0, 'input').shape;
  const repeats = ctx.staticValues(index, 1, 'repeats');
  if (!shape || repeats.length !== shape.length || repeats.some((r) => typeof r !== 'number' || !(r >= 1)) || product(shape.map((d, k) => d * (repeats[k] as number))) > MAX_STATIC)
    throw reader.nodeError(index, `repeats ${listText(repeats.map(Number))} of ${shape ? listText(shape) : `[batch, ${computed!.dims.join(', ')}]`}: expected a positive count per axis of a channels-last tensor or known values (at most ${MAX_STATIC})`);
  const ranges = shape.map((d, k) => Array.from({ length: d * (repeats[k] as number) }, (_, i) => i % d));
  if (computed) {
    const moves = gathered(Array.from({ length: product(shape) }, (_, i) => i), shape, ranges).values as number[];
    return void emitRearrange(ctx, index, computed, ranges.map((r) => r.length), Int32Array.from(moves), null);
  }
  const { values } = staticOf(ctx, index, 0, 'input');
  ctx.alias(index, { ...gathered(values, shape, ranges), shape: ranges.map((r) => r.length), ...(floatInput(ctx, index, 0) ? { float: true as const } : {}) });
};
