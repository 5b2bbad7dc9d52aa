// Arithmetic with a constant: x·c, x + c, x − c, c − x and x / c with c one value or one value
// per channel (an input normalization (x − mean) / std written into the model, a layer scale, a
// fixed rescale) are a per-channel affine map: a 'batchnorm' layer of ours. A per-channel
// constant is bound like a BatchNormalization's parameters, so channel removal slices it.
// Arithmetic of shape values (x.size(1) // 2, (c + 1) // 2 · k in PyTorch's chunk) folds statically.
import { isStatic, type Handler, type ImportContext, type StaticTensor } from './context.js';
import { broadcastPair, staticOf, unaryStatic } from './staticValues.js';
import { listText, product, shapeText } from './common.js';
import { layoutOf, sameAs, scalar } from './graphReader.js';
import type { Layer } from '../../network/types.js';
import { mergeLayers, type MergeKind } from '../../network/composite.js';
import { addConstantTokens, fullOf, mulConstantTokens } from './tokenOps.js';
import { foldAffine } from './foldOps.js';
import { broadcastTerms, uniformAffine } from './maskOps.js';

type Arithmetic = 'Mul' | 'Add' | 'Sub' | 'Div';

/**
 * Node `index` (Mul, Add, Sub or Div) with a constant input as a per-channel affine layer; false
 * when neither input is a constant (the caller reads two computed tensors).
 */
export function constantAffine(ctx: ImportContext, index: number, op: Arithmetic): boolean {
  const { reader } = ctx;
  const names = reader.nodes[index].input ?? [];
  if (names.length !== 2) throw reader.nodeError(index, `has ${names.length} inputs: expected 2`);
  // A constant, one value folded from shapes (attention's scale q.size(-1) ** −0.5), or a folded
  // table of floats (RoPE's cos and sin as TorchScript computes them).
  const folded = names.map((n) => ctx.tensors.get(n)).findIndex((t) => t && isStatic(t) && ((t.values.length === 1 && typeof t.values[0] === 'number') || (t.float === true && t.values.length > 1)));
  const at = folded >= 0 && !reader.consts.has(names[1 - folded]) ? folded : names.findIndex((n) => reader.consts.has(n));
  if (at < 0) return false;
  const x = ctx.net(index, 1 - at, { sequence: true, channelsLast: true });
  const constant = at === folded ? { root: names[at] } : reader.consts.get(names[at])!;
  const table = at === folded ? (ctx.tensors.get(names[at]) as StaticTensor) : null;
  const { dims, values } = table ? { dims: table.values.length === 1 ? [] : (table.shape ?? [table.values.length]), values: Float32Array.from(table.values as number[]) } : reader.weightValues(index, reader.consts.get(names[at])!, 'constant');
  // Tokens and other channels-last values: the channels are the last axis (tokenOps.ts).
  const full = x.channelsLast ? fullOf(x)! : [1, ...x.dims];
  const channelAxis = x.channelsLast ? full.length - 1 : 1;
  const C = full[channelAxis];
  // Right-aligned against [batch, ...x.dims]: one value, or C on the channel axis and 1 elsewhere.
  const aligned = [...Array(Math.max(0, full.length - dims.length)).fill(1), ...dims];
  // (A folded table is not a constant of the file: the writer could not resize it, so never per channel.)
  const perChannel = !table && values.length > 1 && aligned.length === full.length && aligned.every((d, k) => (k === channelAxis ? d === C : d === 1));
  // A constant over the tokens too (a position embedding; RoPE's tables): added by a rearrange, or multiplied by a mul layer.
  if (x.channelsLast && !perChannel && values.length > 1 && op === 'Add' && addConstantTokens(ctx, index, x, dims, values)) return true;
  if (x.channelsLast && !perChannel && values.length > 1 && op === 'Mul' && mulConstantTokens(ctx, index, x, dims, values)) return true;
  const ones = x.dims.slice(1).map(() => ', 1').join('');
  if (!(values.length === 1 || perChannel) || (perChannel && x.chw))
    throw reader.nodeError(index, `constant '${constant.root}' of shape ${shapeText(dims)} on [batch, ${x.dims.join(', ')}]: expected one value or one per channel (${x.channelsLast ? `the last axis: [${C}]; added, one per value of [${full.slice(1).join(', ')}]: a position embedding` : `e.g. [1, ${C}${ones}] or [${C}${ones}]`})${x.chw ? ', and one value on a flattened image' : ''}`);
  const c = (k: number) => values[perChannel ? k : 0];
  if (op === 'Div' && (at === 0 || values.some((v) => v === 0)))
    throw reader.nodeError(index, at === 0 ? `divides a constant by a tensor: expected the tensor divided by a constant` : `divides by constant '${constant.root}', which holds a 0`);
  const scale = Float32Array.from({ length: C }, (_, k) => (op === 'Mul' ? c(k) : op === 'Div' ? 1 / c(k) : op === 'Sub' && at === 0 ? -1 : 1));
  const offset = Float32Array.from({ length: C }, (_, k) => (op === 'Add' ? c(k) : op === 'Sub' ? (at === 0 ? c(k) : -c(k)) : 0));
  // GroupNorm's scale and shift (the Mul and Add after PyTorch's chain), on the groupnorm read here
  // alone: folded into it (exact; its channels are never removed, so nothing in the file resizes).
  const source = names[1 - at];
  const norm = reader.layers[reader.layers.length - 1];
  if (norm?.kind === 'groupnorm' && norm.name === x.layer && (reader.consumers.get(source) ?? []).length === 1 && !ctx.outputs.has(source)) {
    norm.scale = Float32Array.from(norm.scale, (s, k) => s * scale[k]);
    norm.offset = Float32Array.from(norm.offset, (o, k) => o * scale[k] + offset[k]);
    ctx.alias(index, x);
    return true;
  }
  // After a dense or conv layer that only it reads: folded into the layer (a BatchNormalization as Keras exports it: Sub, Mul, Add).
  if (at !== folded && foldAffine(ctx, index, x, scale, offset, [constant.root])) return true;
  const name = reader.layerName(index);
  if (perChannel) reader.batchNorms.push({ layer: name, params: [constant.root], reader: index });
  ctx.emit(index, { kind: 'batchnorm', name, scale, offset }, [x], sameAs(x));
  return true;
}

/**
 * Node `index` on shape values (one a folded shape computation, the other that or a constant)
 * folded: integer arithmetic as ONNX's on int64. False when an input is a computed tensor.
 */
export function foldShapeValues(ctx: ImportContext, index: number, op: Arithmetic | 'Max' | 'Min'): boolean {
  const { reader } = ctx;
  const names = reader.nodes[index].input ?? [];
  const tensors = names.map((n) => ctx.tensors.get(n));
  if (!(names.length === 2 && tensors.some((t) => t && isStatic(t)) && tensors.every((t) => !t || isStatic(t)))) return false;
  // A float constant (nanoGPT's 1.0 / √size) makes the result a float.
  const floats = [0, 1].map((k) => (tensors[k] ? null : scalar(reader, names[k])));
  // Tables of more than one axis (an as_strided's indices: [b, 1, 1, 1] + [1, C, 1, 1]): broadcast.
  const shaped = [0, 1].map((k) => (floats[k] === null ? staticOf(ctx, index, k, 'shape value') : null));
  const float = tensors.some((t) => t && isStatic(t) && t.float) || floats.some((f) => f !== null);
  if (shaped.some((t) => t && t.shape.length > 1)) return foldTables(ctx, index, op, shaped.map((t, k) => t ?? { values: [floats[k]!], shape: [1] }), float);
  const [a, b] = [0, 1].map((k) => (floats[k] !== null ? [floats[k]!] : ctx.staticValues(index, k, 'shape value')));
  const n = Math.max(a.length, b.length);
  if ((a.length !== 1 && a.length !== n) || (b.length !== 1 && b.length !== n) || [...a, ...b].includes('batch') || (op === 'Div' && b.includes(0)))
    throw reader.nodeError(index, `${op} of shape values ${listText(a.map(Number))} and ${listText(b.map(Number))}: expected known sizes of one length (or one value), no division by 0`);
  const at = (v: typeof a, k: number) => Number(v.length === 1 ? v[0] : v[k]);
  ctx.alias(index, { values: Array.from({ length: n }, (_, k) => folded(op, at(a, k), at(b, k), float)), ...(float ? { float: true as const } : {}) });
  return true;
}

/** `op` of two folded values as ONNX computes it on int64 (a division truncates) or, `float`, on float32 (rounded as the runtime rounds: MPNet's log buckets truncate after it). */
function folded(op: Arithmetic | 'Max' | 'Min', x: number, y: number, float = false): number {
  if (op === 'Max' || op === 'Min') return op === 'Max' ? Math.max(x, y) : Math.min(x, y);
  const value = op === 'Add' ? x + y : op === 'Sub' ? x - y : op === 'Mul' ? x * y : float ? x / y : Math.trunc(x / y);
  return float ? Math.fround(value) : value;
}

/** Elementwise arithmetic (or Max, Min) of two folded tables of any shapes, broadcast (ONNX's rule); `float`: of floats. */
function foldTables(ctx: ImportContext, index: number, op: Arithmetic | 'Max' | 'Min', [a, b]: Array<{ values: StaticTensor['values']; shape: number[] }>, float: boolean): boolean {
  const pair = broadcastPair(a, b);
  if (!pair || (op === 'Div' && pair.vb.includes(0)))
    throw ctx.reader.nodeError(index, `${op} of folded tables of shapes ${listText(a.shape)} and ${listText(b.shape)}: expected shapes that broadcast, known values, no division by 0`);
  const { out, va, vb } = pair;
  ctx.alias(index, { values: va.map((x, k) => folded(op, Number(x), Number(vb[k]), float)), shape: out, ...(float ? { float: true as const } : {}) });
  return true;
}

/** Neg: of folded values (unaryStatic), or of a computed tensor, −1·x (RoPE's rotate_half: a per-channel affine layer, as x·c is). */
export const neg: Handler = (ctx, index) => {
  const { reader } = ctx;
  const tensor = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if (!tensor || isStatic(tensor)) return unaryStatic('Neg')(ctx, index);
  reader.attributes(index, []);
  const x = ctx.net(index, 0, { sequence: true, channelsLast: true });
  const C = x.channelsLast ? fullOf(x)!.at(-1)! : x.ours[x.ours.length - 1];
  ctx.emit(index, uniformAffine(reader.layerName(index), C, -1, 0), [x], sameAs(x));
};

/** Sub and Div: of shape values (folded), of a tensor and a constant, or of two computed tensors of one shape (mergeLayers). */
function arithmetic(op: 'Sub' | 'Div'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    reader.attributes(index, []);
    if (foldShapeValues(ctx, index, op) || constantAffine(ctx, index, op)) return;
    // Of two computed tensors of one shape: a − b, or a · (1/b) (mean pooling's sum over the mask's count).
    return mergeOf(ctx, index, op === 'Sub' ? 'subtract' : 'divide');
  };
}

export const sub = arithmetic('Sub');
export const div = arithmetic('Div');

/** A join of node `index`'s computed inputs, all of one shape and layout (no broadcasting): their sum (an add layer) or a merge. */
export function mergeOf(ctx: ImportContext, index: number, kind: MergeKind | 'sum'): void {
  const { reader } = ctx;
  const given = (reader.nodes[index].input ?? []).map((_, k) => ctx.net(index, k, { sequence: true, channelsLast: true }));
  // Scores plus a mask's bias broadcast over the heads.
  const parts = (kind === 'sum' && broadcastTerms(ctx, index, given)) || given;
  if (parts.some((t) => layoutOf(t) !== layoutOf(parts[0])))
    throw reader.nodeError(index, `${reader.nodes[index].opType} of tensors of shapes ${parts.map((t) => `[batch, ${t.dims.join(', ')}]`).join(' and ')}: expected one shape and layout (no broadcasting)`);
  if (parts.length === 1) return ctx.alias(index, parts[0]);
  if (kind === 'sum') return void ctx.emit(index, { kind: 'add', name: reader.layerName(index) }, parts, sameAs(parts[0]));
  const layers = mergeLayers(kind, reader.layerName(index), parts.map((t) => t.layer), parts[0].ours[parts[0].ours.length - 1]);
  ctx.emitLayers(index, layers, sameAs(parts[0]));
}

/** Sum, Mean, Max and Min of one or more computed tensors of one shape (elementwise; mergeLayers). */
export function variadic(kind: MergeKind | 'sum'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    reader.attributes(index, []);
    const names = reader.nodes[index].input ?? [];
    // Of folded tables (torch.export broadcasting GatherND's index grids: Max of two aranges): folded.
    if ((kind === 'maximum' || kind === 'minimum') && names.length === 2 && foldShapeValues(ctx, index, kind === 'maximum' ? 'Max' : 'Min')) return;
    const bound = names.length === 2 ? names.findIndex((n) => scalar(reader, n) !== null) : -1;
    if ((kind === 'maximum' || kind === 'minimum') && bound >= 0) {
      // max(x, c), min(x, c): a clamp (max(x, 0) a ReLU).
      const x = ctx.net(index, 1 - bound, { sequence: true, channelsLast: true });
      const c = scalar(reader, names[bound])!;
      const layer: Layer = kind === 'maximum' && c === 0 ? { kind: 'relu', name: reader.layerName(index) } : { kind: 'activation', name: reader.layerName(index), fn: 'clip', ...(kind === 'maximum' ? { min: c } : { max: c }) };
      return void ctx.emit(index, layer, [x], sameAs(x));
    }
    mergeOf(ctx, index, kind);
  };
}

/** The channel axis of a per-channel constant: the dims with that axis resized to `kept` (other axes 1). */
export function resizedConstantDims(dims: number[], count: number, kept: number): number[] {
  const axis = dims.indexOf(count);
  return product(dims) === count && axis >= 0 ? dims.map((d, k) => (k === axis ? kept : d)) : [kept];
}
