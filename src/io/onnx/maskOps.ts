// An attention mask as a second input (Hugging Face's attention_mask: 1 for a token, 0 for
// padding), as PyTorch 2 exports what transformers builds from it: Cast to bool, a GatherND by
// folded indices (its vmap'd index arithmetic), And with a folded mask, Where(mask, 0, min) and
// an Add to attention's scores [heads, T, T]. A mask's values are 0 or 1 (checked on the samples:
// inputParts.ts), so these are layers we have: moves (rearrange), an affine map (batchnorm) and a
// sum whose smaller term is broadcast by a rearrange.
import type { BatchNormLayer, RearrangeLayer } from '../../network/types.js';
import { checkedDims, FLOAT, listText, product, shapeText } from './common.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { sameAs, type NetTensor } from './graphReader.js';
import { broadcast, broadcastIndices, broadcastPair, broadcastShape, MAX_STATIC, staticOf } from './staticValues.js';
import { emitRearrange, fieldsOf, fullOf, indexMap, strides, view } from './tokenOps.js';

/** scale·x + offset on every one of `channels` channels (a batchnorm layer): a mask's 1 − m, a Where's choice, a Neg. */
export function uniformAffine(name: string, channels: number, scale: number, offset: number): BatchNormLayer {
  return { kind: 'batchnorm', name, scale: new Float32Array(channels).fill(scale), offset: new Float32Array(channels).fill(offset) };
}

/** The largest finite f32: an infinite Where value becomes it, so the affine map stays finite (−max + max·1 = 0 exactly). */
const F32_MAX = 3.4028234663852886e38;
const finite = (v: number) => (v === Infinity ? F32_MAX : v === -Infinity ? -F32_MAX : v);

/** Node `index`'s input `position`, a computed 0/1 mask, with its full shape at batch 1. */
function maskInput(ctx: ImportContext, index: number, position: number, what: string): { x: NetTensor; full: number[] } {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  const x = ctx.net(index, position, { channelsLast: true, sequence: true });
  const full = fullOf(x);
  if (!ctx.masks.has(name) || !full)
    throw ctx.reader.nodeError(index, `${what} ('${name}') is a computed tensor: expected an attention mask (a graph input of 0 and 1, moved by Cast, GatherND, Reshape, And with constants)`);
  return { x, full };
}

/** Cast of a mask (to bool, int64 or float): the same 0 and 1. */
export function castMask(ctx: ImportContext, index: number): void {
  ctx.reader.attributes(index, ['to', 'saturate']);
  ctx.alias(index, maskInput(ctx, index, 0, 'input 0').x);
}

/** GatherND (batch_dims 0) of a computed tensor by folded indices: a rearrange. */
const gatherND: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['batch_dims']);
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const full = fullOf(x);
  const picks = staticOf(ctx, index, 1, 'indices');
  const k = picks.shape[picks.shape.length - 1];
  if (reader.intAttribute(index, attrs, 'batch_dims', 0) !== 0 || !full || !(k >= 1 && k <= full.length) || picks.values.some((v) => typeof v !== 'number'))
    throw reader.nodeError(index, `gathers from [${(full ?? x.dims).join(', ')}] (batch 1) by indices of shape ${listText(picks.shape)}: expected batch_dims 0 and folded index tuples of at most ${full?.length ?? 0} coordinates`);
  const coords = picks.values as number[];
  for (let i = 0; i < coords.length; i++) {
    const d = full[i % k];
    if (!(coords[i] >= -d && coords[i] < d)) throw reader.nodeError(index, `index ${coords[i]} on axis ${i % k} of [${full.join(', ')}] (batch 1): expected one within it`);
  }
  const tuples = picks.shape.slice(0, -1);
  const out = [...tuples, ...full.slice(k)];
  const inStrides = strides(full);
  const m = tuples.length;
  const indices = indexMap(out, (at) => {
    const tuple = at.slice(0, m).reduce((s, v, j) => s * tuples[j] + v, 0);
    let from = 0;
    for (let j = 0; j < k; j++) from += ((coords[tuple * k + j] + full[j]) % full[j]) * inStrides[j];
    for (let j = k; j < full.length; j++) from += at[m + j - k] * inStrides[j];
    return from;
  });
  emitRearrange(ctx, index, x, out.length >= 2 ? out : [1, ...out], indices, null);
};

/** Flatten of a mask (PyTorch 1's index arithmetic flattens it before a Gather): the same values, viewed. */
export function flattenMask(ctx: ImportContext, index: number): void {
  const attrs = ctx.reader.attributes(index, ['axis']);
  const { x, full } = maskInput(ctx, index, 0, 'input 0');
  const given = ctx.reader.intAttribute(index, attrs, 'axis', 1);
  const axis = given < 0 ? given + full.length : given;
  if (!(axis >= 0 && axis <= full.length)) throw ctx.reader.nodeError(index, `attribute axis=${given}: expected one within the ${full.length} axes of [${full.join(', ')}]`);
  view(ctx, index, x, fieldsOf([product(full.slice(0, axis)), product(full.slice(axis))]));
}

/**
 * Expand of a computed tensor to a folded shape (transformers' padding mask over the query
 * positions; grouped-query attention's repeat_kv, each key and value head for the query heads that
 * share it): a rearrange repeating its values.
 */
export function expandComputed(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  reader.attributes(index, []);
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const full = fullOf(x);
  const target = ctx.staticValues(index, 1, 'shape').map((v) => (v === 'batch' ? 1 : v));
  const out = full && broadcastShape(full, target);
  const moves = full && out && checkedDims(out) && product(out) <= MAX_STATIC ? broadcastIndices(full, out) : null;
  if (!full || !out || !moves) throw reader.nodeError(index, `expands [${(full ?? x.dims).join(', ')}] (batch 1) to ${listText(target)}: expected a channels-last tensor and a shape it broadcasts to (at most ${MAX_STATIC} values)`);
  const expanded = emitRearrange(ctx, index, x, out, moves, null);
  reader.views.push({ output: reader.nodes[index].output?.[0] ?? '', layer: expanded.layer, ours: [...expanded.ours], dims: out });
}

/** The ops that only move values: their output holds a mask's 0 and 1 when their data input does (the one place masks are marked). */
const MOVES = new Set(['Reshape', 'Flatten', 'Gather', 'GatherND', 'Expand', 'Transpose', 'Unsqueeze', 'Squeeze', 'Slice', 'Identity', 'Cast', 'And']);

/** After node `index` ran: its output is a mask when it moved one's values, or multiplied masks (DeBERTa's mask[:, None, None, :] · mask[:, None, :, None]). */
export function followMask(ctx: ImportContext, index: number): void {
  const node = ctx.reader.nodes[index];
  const inputs = node.input ?? [];
  const moved = MOVES.has(node.opType ?? '') && inputs.some((n, k) => ctx.masks.has(n) && (k === 0 || node.opType === 'And'));
  if (moved || (node.opType === 'Mul' && inputs.length === 2 && inputs.every((n) => ctx.masks.has(n)))) ctx.masks.add(node.output?.[0] ?? '');
}

/** And of a mask and a folded bool table (transformers' padding mask and its causal or full mask): the mask where the table holds, 0 elsewhere. */
const and: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const names = reader.nodes[index].input ?? [];
  const computed = [0, 1].filter((k) => { const t = ctx.tensors.get(names[k] ?? ''); return t && !isStatic(t); });
  if (computed.length === 0) return foldLogic(ctx, index, (a, b) => Boolean(a && b));
  if (computed.length !== 1) throw reader.nodeError(index, `And of two computed tensors: expected a mask and a folded table`);
  const { x, full } = maskInput(ctx, index, computed[0], `input ${computed[0]}`);
  const table = staticOf(ctx, index, 1 - computed[0], 'mask');
  const out = broadcastShape(full, table.shape);
  const keep = broadcast(table.values, table.shape, out);
  const moves = broadcastIndices(full, out);
  if (!keep || !moves) throw reader.nodeError(index, `And of a mask [${full.join(', ')}] and a table ${listText(table.shape)} (batch 1): expected shapes that broadcast`);
  emitRearrange(ctx, index, x, out, moves.map((from, i) => (keep[i] ? from : -1)), null);
};

/**
 * Where(mask, a, b) with a and b one constant value each (transformers' Where(mask, 0, min) and
 * SDPA's −∞): b + (a − b)·mask, a batchnorm layer of one scale and offset (infinities as ±f32 max:
 * after the softmax those scores are 0 either way, unless every score of a row is masked).
 */
export function maskSelect(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  const { x } = maskInput(ctx, index, 0, 'condition');
  const branch = [1, 2].find((k) => { const t = ctx.tensors.get(reader.nodes[index].input?.[k] ?? ''); return t && !isStatic(t); });
  if (branch !== undefined) return maskedFill(ctx, index, x, branch);
  const [a, b] = [1, 2].map((k) => {
    const name = reader.nodes[index].input?.[k] ?? '';
    const constant = reader.consts.get(name);
    const values = constant && (constant.tensor.dataType ?? 0) === FLOAT ? reader.weightValues(index, constant, 'value').values : null;
    if (!values || values.length !== 1) throw reader.nodeError(index, `input ${k} ('${name}'): expected one constant float value chosen by a mask`);
    return finite(values[0]);
  });
  const C = x.ours[x.ours.length - 1];
  const layer = uniformAffine(reader.layerName(index), C, a - b, b);
  ctx.emit(index, layer, [x], sameAs(x));
}

/**
 * Where(mask, y, c) or Where(mask, c, y) of a computed y and one constant value c (DeBERTa's
 * masked_fill of the scores where ¬mask): y·keep + c·(1 − keep), keep the mask or 1 − mask (an
 * affine layer of it), both broadcast to y's shape; a mul, an add.
 */
function maskedFill(ctx: ImportContext, index: number, mask: NetTensor, branch: number): void {
  const { reader } = ctx;
  const y = ctx.net(index, branch, { channelsLast: true, sequence: true });
  const name = reader.nodes[index].input?.[3 - branch] ?? '';
  const constant = reader.consts.get(name);
  const values = constant && (constant.tensor.dataType ?? 0) === FLOAT ? reader.weightValues(index, constant, 'value').values : null;
  if (!values || values.length !== 1) throw reader.nodeError(index, `input ${3 - branch} ('${name}'): expected one constant float value where the mask does not keep input ${branch}`);
  const c = finite(values[0]);
  // y where the condition holds (branch 1): keep = mask; else keep = 1 − mask.
  const [k0, k1] = branch === 1 ? [1, 0] : [-1, 1];
  const C = mask.ours[mask.ours.length - 1];
  const base = reader.layerName(index);
  const affine = (suffix: string, scale: number, offset: number): NetTensor => {
    const layer = { ...uniformAffine(reader.uniqueName(`${base}:${suffix}`), C, scale, offset), from: [mask.layer] };
    reader.layers.push(layer);
    return { ...mask, layer: layer.name };
  };
  const keep = affine('keep', k0, k1);
  const fill = affine('fill', -c * k0, c * (1 - k1));
  const product = broadcastTerms(ctx, index, [y, keep]) ?? [y, keep];
  if (product[0] !== y || shapeText(fullOf(product[1]) ?? []) !== shapeText(fullOf(y) ?? [0])) throw reader.nodeError(index, `a mask of shape [${fullOf(mask)!.join(', ')}] on [${(fullOf(y) ?? y.dims).join(', ')}] (batch 1): expected a mask that broadcasts to the tensor`);
  const kept = { ...y, layer: reader.uniqueName(`${base}:kept`) };
  reader.layers.push({ kind: 'mul', name: kept.layer, from: product.map((t) => t.layer) });
  const sum = broadcastTerms(ctx, index, [kept, fill]) ?? [kept, fill];
  ctx.emit(index, { kind: 'add', name: base }, sum, sameAs(y));
}

/**
 * The terms of a sum or product of two computed row-major tensors of different shapes (scores
 * [heads, T, T] and a mask's [1, T, T]; DeBERTa's mask [1, 1, 1, T] times [1, 1, T, 1]): each
 * smaller one broadcast to the shape of both by a rearrange; null when they do not differ so or do
 * not broadcast.
 */
export function broadcastTerms(ctx: ImportContext, index: number, parts: NetTensor[]): NetTensor[] | null {
  if (parts.length !== 2) return null;
  const fulls = parts.map(fullOf);
  if (!fulls[0] || !fulls[1] || shapeText(fulls[0]) === shapeText(fulls[1])) return null;
  const out = broadcastShape(fulls[0], fulls[1]);
  const moves = fulls.map((full) => (shapeText(full!) === shapeText(out) ? null : broadcastIndices(full!, out)));
  if (fulls.some((full, k) => shapeText(full!) !== shapeText(out) && !moves[k]) || !checkedDims(out) || product(out) > MAX_STATIC) return null;
  const fields = fieldsOf(out);
  return parts.map((part, k) => {
    if (!moves[k]) return part;
    const layer: RearrangeLayer = { kind: 'rearrange', name: ctx.reader.uniqueName(`${ctx.reader.nodes[index].name || `${ctx.reader.opType(index)}_${index}`}:broadcast`), from: [part.layer], indices: moves[k]!, offset: null, shape: fields.ours };
    ctx.reader.layers.push(layer);
    return { ...fields, layer: layer.name };
  });
}

/** Elementwise `test` of two folded tables, broadcast (ONNX's rule): a 0/1 table. */
function foldLogic(ctx: ImportContext, index: number, test: (a: number, b: number) => boolean): void {
  const [a, b] = [0, 1].map((k) => staticOf(ctx, index, k, 'value'));
  const pair = broadcastPair(a, b);
  if (!pair) throw ctx.reader.nodeError(index, `${ctx.reader.opType(index)} of folded tables of shapes ${listText(a.shape)} and ${listText(b.shape)}: expected shapes that broadcast, known values (at most ${MAX_STATIC})`);
  const { out, va, vb } = pair;
  ctx.alias(index, { values: va.map((v, i) => (test(v, vb[i]) ? 1 : 0)), ...(out.length > 1 ? { shape: out } : {}) });
}

/** A comparison of folded tables (transformers' index arithmetic: which key positions a query sees). */
const compare = (test: (a: number, b: number) => boolean): Handler => (ctx, index) => {
  ctx.reader.attributes(index, []);
  foldLogic(ctx, index, test);
};

/** Not of a mask (DeBERTa's masked_fill where ¬mask): 1 − mask, an affine layer, a mask again; of a folded table, folded. */
const not: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const tensor = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if (!tensor || isStatic(tensor)) {
    const { values, shape } = staticOf(ctx, index, 0, 'value');
    return ctx.alias(index, { values: values.map((v) => (v ? 0 : 1)), ...(shape.length > 1 ? { shape } : {}) });
  }
  const { x } = maskInput(ctx, index, 0, 'input 0');
  const C = x.ours[x.ours.length - 1];
  ctx.emit(index, uniformAffine(reader.layerName(index), C, -1, 1), [x], sameAs(x));
  ctx.masks.add(reader.nodes[index].output?.[0] ?? '');
};

export const MASK_HANDLERS: Record<string, Handler> = {
  GatherND: gatherND,
  Not: not,
  And: and,
  Or: (ctx, index) => (ctx.reader.attributes(index, []), foldLogic(ctx, index, (a, b) => Boolean(a || b))),
  Greater: compare((a, b) => a > b),
  GreaterOrEqual: compare((a, b) => a >= b),
  Less: compare((a, b) => a < b),
  LessOrEqual: compare((a, b) => a <= b),
};
