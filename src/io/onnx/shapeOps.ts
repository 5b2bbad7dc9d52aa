// The ONNX ops of shape computations (Shape → Gather → Unsqueeze → Concat → Reshape, as PyTorch
// exports x.view(x.size(0), -1)), folded statically for the model's input shape: their values
// are ints, 'batch' standing for the dynamic batch size.
import { BOOL, checkedDims, floatBytes, FLOAT, MAX_VALUES, product } from './common.js';
import { channelSlice } from './channelOps.js';
import { isStatic, type Handler, type ImportContext, type StaticTensor } from './context.js';
import { broadcast, broadcastShape, floatInput, gathered, isFloatConstant, MAX_STATIC, movedConstant, staticOf, unaryStatic } from './staticValues.js';
import { embeddingOf } from './denseOps.js';
import { neg } from './affineOps.js';
import { emitRearrange, expandConstant, fieldsOf, fullOf, gatherTokens, maskedTokens, sliceTokens, tile, view } from './tokenOps.js';
import { castMask, expandComputed, maskSelect } from './maskOps.js';
import { image, isSequence, pooled, pooledSequence, sameAs, scalar, sequence, vector } from './graphReader.js';
import { listText } from './common.js';

const shapeOp: Handler = (ctx, index) => {
  const data = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
  const x = data && isStatic(data) ? null : ctx.net(index, 0, { sequence: true, channelsLast: true }); // a sequence's dims are ONNX's [C, L]
  // A shape value's own shape; a tensor whose batch axis moved or merged (attention's heads) at batch 1.
  const all: Array<number | 'batch'> = !x ? ((data as StaticTensor).shape ?? [(data as StaticTensor).values.length]) : x.nd ? x.dims : ['batch', ...x.dims];
  ctx.alias(index, { values: shapeValues(ctx, index, all) });
};

/** Shape node `index`'s values for a tensor of dims `all`: those from its start to its end attribute. */
export function shapeValues(ctx: ImportContext, index: number, all: Array<number | 'batch'>): Array<number | 'batch'> {
  const attrs = ctx.reader.attributes(index, ['start', 'end']);
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + all.length : v, 0), all.length);
  return all.slice(clamp(ctx.reader.intAttribute(index, attrs, 'start', 0)), clamp(ctx.reader.intAttribute(index, attrs, 'end', all.length)));
}

const gather: Handler = (ctx, index) => {
  const attrs = ctx.reader.attributes(index, ['axis']);
  const source = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
  if (source && !isStatic(source)) return gatherTokens(ctx, index, ctx.reader.intAttribute(index, attrs, 'axis', 0)); // x[:, 0]
  const ids = ctx.tensors.get(ctx.reader.nodes[index].input?.[1] ?? '');
  if (ids && !isStatic(ids)) return embeddingOf(ctx, index, ctx.reader.intAttribute(index, attrs, 'axis', 0)); // nn.Embedding
  if (ctx.reader.intAttribute(index, attrs, 'axis', 0) !== 0) throw ctx.reader.nodeError(index, `attribute axis: expected 0 on a shape`);
  const table = ctx.reader.consts.get(ctx.reader.nodes[index].input?.[0] ?? '');
  if (!source && table?.tensor.dataType === FLOAT) return gatherConstantRows(ctx, index, table);
  const data = ctx.staticValues(index, 0, 'data');
  const picks = ctx.staticValues(index, 1, 'indices');
  ctx.alias(index, {
    values: picks.map((k) => {
      const at = typeof k === 'number' ? (k < 0 ? k + data.length : k) : -1;
      if (!(at >= 0 && at < data.length)) throw ctx.reader.nodeError(index, `index ${k} is outside the ${data.length} values of the shape`);
      return data[at];
    }),
  });
};

/**
 * Rows of a float table at folded indices: a constant (BERT's token type embedding of its default
 * token types, all 0), which what reads it adds as a constant.
 */
function gatherConstantRows(ctx: ImportContext, index: number, table: NonNullable<ReturnType<ImportContext['reader']['consts']['get']>>): void {
  const { reader } = ctx;
  const { dims, values } = reader.weightValues(index, table, 'data');
  const picks = staticOf(ctx, index, 1, 'indices');
  const row = dims.slice(1).reduce((a, b) => a * b, 1);
  const shape = [...((reader.consts.get(reader.nodes[index].input?.[1] ?? '')?.tensor.dims ?? picks.shape) as number[]).map(Number), ...dims.slice(1)];
  if (!checkedDims(shape) || picks.values.length * row !== shape.reduce((a, b) => a * b, 1))
    throw reader.nodeError(index, `rows of '${table.root}' at indices of shape ${listText(picks.shape)}: expected at most ${MAX_VALUES} values`);
  const out = new Float32Array(picks.values.length * row);
  picks.values.forEach((k, i) => {
    const at = typeof k === 'number' ? (k < 0 ? k + dims[0] : k) : -1;
    if (!(at >= 0 && at < dims[0])) throw reader.nodeError(index, `index ${k} is outside the ${dims[0]} rows of '${table.root}'`);
    out.set(values.subarray(at * row, (at + 1) * row), i * row);
  });
  reader.consts.set(reader.nodes[index].output?.[0] ?? '', { root: reader.nodes[index].output?.[0] ?? '', tensor: { dataType: FLOAT, dims: shape, rawData: floatBytes(out) } });
}

/**
 * GatherElements of folded values (BERT's buffered token types, expanded and gathered at the
 * positions), or of a computed tensor at folded indices (DeBERTa's scores gathered at the relative
 * positions: a rearrange).
 */
const gatherElements: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis']);
  const tensor = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  const x = tensor && !isStatic(tensor) ? ctx.net(index, 0, { channelsLast: true, sequence: true }) : null;
  const data = x ? { shape: fullOf(x), values: null } : staticOf(ctx, index, 0, 'data');
  const picks = staticOf(ctx, index, 1, 'indices');
  const shape = data.shape ?? [1, ...x!.dims];
  const rank = shape.length;
  const axisValue = reader.intAttribute(index, attrs, 'axis', 0);
  const axis = axisValue < 0 ? axisValue + rank : axisValue;
  if (!data.shape || picks.shape.length !== rank || !(axis >= 0 && axis < rank))
    throw reader.nodeError(index, `indices of shape ${listText(picks.shape)} on axis ${axisValue} of ${listText(shape)}: expected indices of the data's rank${x ? ' (a channels-last tensor)' : ''}`);
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  const at = new Array(rank).fill(0);
  const sources = picks.values.map((k) => {
    const pick = typeof k === 'number' ? (k < 0 ? k + shape[axis] : k) : -1;
    if (!(pick >= 0 && pick < shape[axis])) throw reader.nodeError(index, `index ${k} is outside axis ${axisValue} of ${listText(shape)}`);
    const from = at.reduce((sum, v, d) => sum + (d === axis ? pick : v) * strides[d], 0);
    for (let d = rank - 1; d >= 0 && ++at[d] === picks.shape[d]; d--) at[d] = 0;
    return from;
  });
  if (x) return void emitRearrange(ctx, index, x, picks.shape, Int32Array.from(sources), null);
  ctx.alias(index, { values: sources.map((i) => data.values![i]), ...(picks.shape.length > 1 ? { shape: picks.shape } : {}), ...(floatInput(ctx, index, 0) ? { float: true as const } : {}) });
};

/** The x that Where(IsNaN(x), c, x) keeps (PyTorch 2's guard after attention's softmax), when Where `index` is one; else null. */
function nanGuarded(ctx: ImportContext, index: number): string | null {
  const { reader } = ctx;
  const [condition, value, x] = reader.nodes[index].input ?? [];
  const test = reader.producers.get(condition ?? '');
  return reader.opType(test) === 'IsNaN' && reader.nodes[test!].input?.[0] === x && reader.consts.has(value ?? '') ? x : null;
}

/**
 * IsNaN of a computed tensor, read only by Wheres that keep the tensor where it is a number: a
 * softmax of finite scores has no NaN, so the Where is the tensor itself (nothing to compute here).
 */
const isNaNGuard: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  ctx.net(index, 0, { channelsLast: true, sequence: true });
  const readers = reader.consumers.get(reader.nodes[index].output?.[0] ?? '') ?? [];
  if (!readers.length || !readers.every((r) => reader.opType(r) === 'Where' && nanGuarded(ctx, r) === reader.nodes[index].input?.[0]))
    throw reader.nodeError(index, `expected it read only by a Where that keeps its input where it is a number (Where(IsNaN(x), c, x): PyTorch's guard after a softmax)`);
};

/** Unsqueeze, Squeeze, Cast on a folded shape keep its values (shapes here are at most 1-D). */
const keepValues: Handler = (ctx, index) => {
  const name = ctx.reader.nodes[index].input?.[0] ?? '';
  const tensor = ctx.tensors.get(name);
  if (tensor && !isStatic(tensor)) {
    const op = ctx.reader.nodes[index].opType;
    if (op === 'Cast' && ctx.masks.has(name)) return castMask(ctx, index);
    if (op === 'Cast') {
      const attrs = ctx.reader.attributes(index, ['to', 'saturate']);
      if (ctx.reader.intAttribute(index, attrs, 'to', FLOAT) !== FLOAT) throw ctx.reader.nodeError(index, `casts a computed tensor to another type: expected float32 throughout`);
      ctx.alias(index, tensor);
      return;
    }
    if (op === 'Squeeze' || op === 'Unsqueeze') return squeezePooled(ctx, index, op);
    throw ctx.reader.nodeError(index, `${op} of a computed tensor is not supported: expected it only in shape computations`);
  }
  const op = ctx.reader.nodes[index].opType;
  if (!tensor && (op === 'Unsqueeze' || op === 'Squeeze') && isFloatConstant(ctx, index, 0)) return squeezeConstant(ctx, index, op);
  const values = ctx.staticValues(index, 0, 'data');
  // Unsqueeze of a 1-D table with a rank to keep (an index table built for as_strided: [batch] → [batch, 1, 1, 1]).
  if (op === 'Unsqueeze' && tensor && isStatic(tensor) && (tensor.shape || values.length > 1) && ctx.reader.nodes[index].input?.[1]) {
    const shape = tensor.shape ?? [values.length];
    const given = ctx.staticValues(index, 1, 'axes');
    const axes = given.map((a) => (typeof a === 'number' && a < 0 ? a + shape.length + given.length : a));
    const rank = shape.length + axes.length;
    if (!axes.every((a) => typeof a === 'number' && a >= 0 && a < rank)) throw ctx.reader.nodeError(index, `axes ${listText(axes.map(Number))} of folded values of shape ${listText(shape)}: expected axes within rank ${rank}`);
    const out: number[] = [];
    for (let k = 0, from = 0; k < rank; k++) out.push(axes.includes(k) ? 1 : shape[from++]);
    return ctx.alias(index, { values, shape: out, ...(tensor.float ? { float: true as const } : {}) });
  }
  // Squeeze of a table of more than one axis (DeBERTa's relative positions [1, T, T] → [T, T]): its axes of size 1 go.
  if (op === 'Squeeze' && tensor && isStatic(tensor) && tensor.shape) {
    const given = ctx.reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'axes').map((a) => (typeof a === 'number' && a < 0 ? a + tensor.shape!.length : a)) : null;
    const out = tensor.shape.filter((d, k) => (given ? !given.includes(k) : d !== 1));
    if (given && given.some((a) => typeof a !== 'number' || tensor.shape![a] !== 1)) throw ctx.reader.nodeError(index, `axes ${listText(given.map(Number))} of folded values of shape ${listText(tensor.shape)}: expected axes of size 1`);
    return ctx.alias(index, { values, ...(out.length > 1 ? { shape: out } : {}), ...(tensor.float ? { float: true as const } : {}) });
  }
  if (op !== 'Cast') return ctx.alias(index, { values, ...(isFloat(ctx, index, 0) ? { float: true as const } : {}) });
  const shape = (tensor as StaticTensor | undefined)?.shape;
  // A Cast to float makes later divisions real (attention's scale, size ** −0.5); to an int truncates.
  const to = ctx.reader.intAttribute(index, ctx.reader.attributes(index, ['to', 'saturate']), 'to', FLOAT);
  const float = to === FLOAT || to === DOUBLE;
  ctx.alias(index, { values: float ? values : values.map((v) => (typeof v === 'number' ? Math.trunc(v) : v)), ...(shape ? { shape } : {}), ...(float ? { float: true as const } : {}) });
};

/** Unsqueeze or Squeeze of a float constant (MPNet's position bias, [heads, T, T] → [1, heads, T, T]): the constant with those dims. */
function squeezeConstant(ctx: ImportContext, index: number, op: 'Unsqueeze' | 'Squeeze'): void {
  const { reader } = ctx;
  const attrs = reader.attributes(index, reader.opset < 13 ? ['axes'] : []);
  const given = (reader.opset < 13 ? reader.intsAttribute(index, attrs, 'axes') : reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'axes') : null)?.map(Number) ?? null;
  movedConstant(ctx, index, {
    dims: (from) => {
      if (op === 'Squeeze') {
        const axes = (given ?? from.flatMap((d, k) => (d === 1 ? [k] : []))).map((a) => (a < 0 ? a + from.length : a));
        return from.filter((d, k) => !(axes.includes(k) && d === 1));
      }
      const rank = from.length + (given?.length ?? 0);
      const axes = (given ?? []).map((a) => (a < 0 ? a + rank : a));
      const out: number[] = [];
      for (let k = 0, at = 0; k < rank; k++) out.push(axes.includes(k) ? 1 : from[at++]);
      return out;
    },
  });
}

const DOUBLE = 11;
const isFloat = (ctx: ImportContext, index: number, position: number) => ctx.tensors.has(ctx.reader.nodes[index].input?.[position] ?? '') && floatInput(ctx, index, position);

/** Pow, Sqrt and Reciprocal of one folded shape value (attention's scale: size ** −0.5, 1 / √size), a float; Reciprocal of a computed tensor, the activation. */
function floatOfShape(op: 'Pow' | 'Sqrt' | 'Reciprocal'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    reader.attributes(index, []);
    const input = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
    // 1/x of a computed tensor: the reciprocal activation.
    if (op === 'Reciprocal' && input && !isStatic(input)) return void ctx.emit(index, { kind: 'activation', name: reader.layerName(index), fn: 'reciprocal' }, [ctx.net(index, 0, { channelsLast: true, sequence: true })], sameAs(input));
    if (input && !isStatic(input)) throw reader.nodeError(index, `${op} of a computed tensor is not supported: expected it only in shape computations (attention's scale, size ** −0.5)${op === 'Pow' ? ' or as x³ inside the tanh GELU (½·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))))' : ''}`);
    const [base] = ctx.staticValues(index, 0, 'base');
    const exponent = op === 'Sqrt' ? 0.5 : op === 'Reciprocal' ? -1 : (scalar(reader, reader.nodes[index].input?.[1] ?? '') ?? ctx.staticValues(index, 1, 'exponent')[0]);
    if (ctx.staticValues(index, 0, 'base').length !== 1 || typeof base !== 'number' || typeof exponent !== 'number' || !Number.isFinite(base ** exponent))
      throw reader.nodeError(index, `${op} of a computed tensor or of shape values ${listText(ctx.staticValues(index, 0, 'base').map((v) => (v === 'batch' ? -1 : v)))}: expected it on one size (attention's scale), with a constant exponent`);
    ctx.alias(index, { values: [base ** exponent], float: true });
  };
}

const slice: Handler = (ctx, index) => {
  ctx.reader.attributes(index, []);
  const data = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
  if (data && !isStatic(data)) return data.channelsLast ? tokenSlice(ctx, index) : channelSlice(ctx, index);
  const { values, shape } = staticOf(ctx, index, 0, 'data');
  const given = (position: number, what: string) => (ctx.reader.nodes[index].input?.[position] ? ctx.staticValues(index, position, what) : null);
  const [starts, ends] = [given(1, 'starts') ?? [], given(2, 'ends') ?? []];
  const axes = given(3, 'axes') ?? starts.map((_, k) => k);
  const steps = given(4, 'steps') ?? starts.map(() => 1);
  const all = [starts, ends, axes, steps].flat();
  if (!all.every((v) => typeof v === 'number') || new Set([starts.length, ends.length, axes.length, steps.length]).size !== 1 || steps.includes(0))
    throw ctx.reader.nodeError(index, `starts/ends/axes/steps: expected constants of one length, steps not 0`);
  // ONNX's clamping: a positive step runs over [0, dim], a negative one over [−1, dim − 1].
  const ranges = shape.map((dim) => Array.from({ length: dim }, (_, k) => k));
  (axes as number[]).forEach((a, k) => {
    const axis = a < 0 ? a + shape.length : a;
    const dim = shape[axis];
    const step = steps[k] as number;
    const at = (v: number, lo: number, hi: number) => Math.min(Math.max(v < 0 ? v + dim : v, lo), hi);
    const [from, to] = step > 0 ? [at(starts[k] as number, 0, dim), at(ends[k] as number, 0, dim)] : [at(starts[k] as number, 0, dim - 1), at(ends[k] as number, -1, dim - 1)];
    if (axis < 0 || axis >= shape.length) throw ctx.reader.nodeError(index, `axis ${a} of a shape computation of ${shape.length} axes`);
    ranges[axis] = [];
    for (let v = from; step > 0 ? v < to : v > to; v += step) ranges[axis].push(v);
  });
  ctx.alias(index, gathered(values, shape, ranges));
};

/** A Slice of tokens or channels-last values along any axis (tokenOps.ts). */
function tokenSlice(ctx: ImportContext, index: number): void {
  const value = (position: number, what: string, fallback: number) => (ctx.reader.nodes[index].input?.[position] ? ctx.staticValues(index, position, what) : [fallback]);
  sliceTokens(ctx, index, value(1, 'starts', 0), value(2, 'ends', 0), value(3, 'axes', 0), value(4, 'steps', 1));
}

/** ConstantOfShape of folded shape values (PyTorch's expand(batch, −1, −1)): int64 values. */
const constantOfShape: Handler = (ctx, index) => {
  const attrs = ctx.reader.attributes(index, ['value']);
  const shape = ctx.staticValues(index, 0, 'shape');
  const value = attrs.get('value')?.t;
  const constant = { tensor: value, root: 'value' } as Parameters<typeof ctx.reader.intValues>[1];
  // An int (a shape computation's), or a bool (transformers' mask tables, all true).
  const fill = !value ? [0] : value.dataType === BOOL ? ctx.reader.boolValues(index, constant, 'value').values : ctx.reader.intValues(index, constant, 'value');
  const dims = shape.every((d): d is number => typeof d === 'number') ? checkedDims(shape) : null;
  if (!dims || product(dims) > MAX_STATIC || fill.length !== 1)
    throw ctx.reader.nodeError(index, `shape ${listText(shape.map(Number))}: expected a folded shape of at most ${MAX_STATIC} values and one int or bool value`);
  ctx.alias(index, { values: new Array(product(dims)).fill(fill[0]), ...(dims.length > 1 ? { shape: dims } : {}) });
};

/** Equal and Where on folded shape values ('batch' is at least 1: never equal to a constant below 1). */
const equal: Handler = (ctx, index) => {
  ctx.reader.attributes(index, []);
  const [first, second] = [0, 1].map((k) => staticOf(ctx, index, k, 'shape value'));
  // A mask's table compared with one value (`bias[:, :, :T, :T] == 0`): the table's dims.
  if (first.shape.length > 1 || second.shape.length > 1) {
    const [table, one] = second.values.length === 1 ? [first, second.values[0]] : [second, first.values[0]];
    if (Math.min(first.values.length, second.values.length) !== 1) throw ctx.reader.nodeError(index, `compares folded tables of shapes ${listText(first.shape)} and ${listText(second.shape)}: expected a table and one value`);
    return ctx.alias(index, { values: table.values.map((v) => (v === one ? 1 : 0)), shape: table.shape });
  }
  const [a, b] = [first.values, second.values];
  const n = Math.max(a.length, b.length);
  const at = (v: typeof a, k: number) => (v.length === 1 ? v[0] : v[k]);
  const same = (x: number | 'batch', y: number | 'batch') => (x === y ? 1 : x === 'batch' || y === 'batch' ? (Number(x === 'batch' ? y : x) < 1 ? 0 : NaN) : 0);
  const values = Array.from({ length: n }, (_, k) => same(at(a, k), at(b, k)));
  if ((a.length !== 1 && a.length !== n) || (b.length !== 1 && b.length !== n) || values.some(Number.isNaN))
    throw ctx.reader.nodeError(index, `compares shape values ${listText(a.map((v) => (v === 'batch' ? -1 : v)))} and ${listText(b.map((v) => (v === 'batch' ? -1 : v)))}: expected an answer that holds for every batch size`);
  ctx.alias(index, { values });
};

const where: Handler = (ctx, index) => {
  ctx.reader.attributes(index, []);
  const guarded = nanGuarded(ctx, index);
  if (guarded) return ctx.alias(index, ctx.net(index, 2, { channelsLast: true, sequence: true }));
  const condition = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
  if (condition && !isStatic(condition)) return maskSelect(ctx, index); // an attention mask's bias
  const branch = [1, 2].find((k) => { const t = ctx.tensors.get(ctx.reader.nodes[index].input?.[k] ?? ''); return t && !isStatic(t); });
  if (branch !== undefined) return maskedTokens(ctx, index, branch); // masked_fill of attention's scores
  // Tables of more than one axis (MPNet's buckets: |n| where it is small, else the log bucket): broadcast.
  const tables = [0, 1, 2].map((k) => staticOf(ctx, index, k, k ? 'value' : 'condition'));
  if (tables.some((t) => t.shape.length > 1)) return whereTables(ctx, index, tables);
  const [c, a, b] = [0, 1, 2].map((k) => ctx.staticValues(index, k, k ? 'shape value' : 'condition'));
  const n = Math.max(c.length, a.length, b.length);
  const at = (v: typeof a, k: number) => (v.length === 1 ? v[0] : v[k]);
  if ([c, a, b].some((v) => v.length !== 1 && v.length !== n)) throw ctx.reader.nodeError(index, `on shape values of lengths ${c.length}, ${a.length}, ${b.length}: expected one length (or one value)`);
  ctx.alias(index, { values: Array.from({ length: n }, (_, k) => (at(c, k) ? at(a, k) : at(b, k))) });
};

function whereTables(ctx: ImportContext, index: number, [c, a, b]: Array<{ values: StaticTensor['values']; shape: number[] }>): void {
  const out = broadcastShape(broadcastShape(c.shape, a.shape), b.shape);
  const [vc, va, vb] = [c, a, b].map((t) => (product(out) <= MAX_STATIC ? broadcast(t.values, t.shape, out) : null));
  if (!vc || !va || !vb) throw ctx.reader.nodeError(index, `on folded tables of shapes ${[c, a, b].map((t) => listText(t.shape)).join(', ')}: expected shapes that broadcast (at most ${MAX_STATIC} values)`);
  const float = [1, 2].some((k) => isFloat(ctx, index, k));
  ctx.alias(index, { values: vc.map((v, i) => (v ? va[i] : vb[i])), shape: out, ...(float ? { float: true as const } : {}) });
}

/**
 * Range(start, limit, delta) of folded values: the batch counts as 1 (PyTorch 2's as_strided of a
 * pooled tensor at a dynamic batch indexes from Range(0, batch)); each sample is read at batch 1.
 */
const range: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const [start, limit, delta] = [0, 1, 2].map((k) => {
    const v = ctx.staticValues(index, k, ['start', 'limit', 'delta'][k]);
    return v.length === 1 ? (v[0] === 'batch' ? 1 : v[0]) : NaN;
  });
  const count = Math.ceil((limit - start) / delta);
  if (!Number.isFinite(count) || delta === 0 || count > MAX_STATIC)
    throw reader.nodeError(index, `start ${start}, limit ${limit}, delta ${delta}: expected one folded value each, delta not 0, at most ${MAX_STATIC} values`);
  // A table of one axis even of one value (arange(batch) at batch 1), so an Unsqueeze keeps its rank.
  const n = Math.max(0, count);
  ctx.alias(index, { values: Array.from({ length: n }, (_, k) => start + k * delta), shape: [n] });
};

export const SHAPE_HANDLERS: Record<string, Handler> = {
  Range: range,
  Pow: floatOfShape('Pow'),
  Sqrt: floatOfShape('Sqrt'),
  Reciprocal: floatOfShape('Reciprocal'),
  ConstantOfShape: constantOfShape,
  Equal: equal,
  Where: where,
  // A computed tensor's Expand (a mask's, repeat_kv's) repeats its values; anything else expanded is a constant.
  Expand: (ctx, index) => {
    const tensor = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
    return tensor && !isStatic(tensor) ? expandComputed(ctx, index) : expandConstant(ctx, index);
  },
  Shape: shapeOp,
  Gather: gather,
  GatherElements: gatherElements,
  IsNaN: isNaNGuard,
  Unsqueeze: keepValues,
  Squeeze: keepValues,
  Cast: keepValues,
  Slice: slice,
  Neg: neg,
  Abs: unaryStatic('Abs'),
  Log: unaryStatic('Log'),
  Tile: tile,
  Sign: unaryStatic('Sign'),
  Ceil: unaryStatic('Ceil'),
  Floor: unaryStatic('Floor'),
  Cos: unaryStatic('Cos'),
  Sin: unaryStatic('Sin'),
};

/**
 * Squeeze or Unsqueeze of a computed tensor: only between a pooled tensor ([C, 1, 1], or [C, 1]
 * after a sequence's pool, or a 1×1 image) and the vector [C] (x.squeeze(-1), y.unsqueeze(-1) of
 * a gate): the same values.
 */
function squeezePooled(ctx: ImportContext, index: number, op: 'Squeeze' | 'Unsqueeze'): void {
  const { reader } = ctx;
  const attrs = reader.attributes(index, reader.opset < 13 ? ['axes'] : []);
  const x = ctx.net(index, 0, { sequence: true, channelsLast: true });
  const given = reader.opset < 13 ? reader.intsAttribute(index, attrs, 'axes') : reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'axes') : null;
  const dims = fullOf(x) ?? [1, ...x.dims]; // the batch as 1: a squeeze of it is refused below
  const rank = op === 'Squeeze' ? dims.length : dims.length + (given?.length ?? 0);
  const axes = (given ?? (op === 'Squeeze' ? dims.flatMap((d, k) => (d === 1 && k > 0 ? [k] : [])) : [])).map((a) => (typeof a === 'number' && a < 0 ? a + rank : a));
  let out: number[] | null = null;
  const lowest = x.nd ? 0 : 1; // an nd tensor's batch axis is anywhere (tokenOps.ts)
  if (axes.every((a) => typeof a === 'number' && a >= lowest && a < rank) && new Set(axes).size === axes.length) {
    if (op === 'Squeeze') out = axes.every((a) => dims[a as number] === 1) ? dims.filter((_, k) => !axes.includes(k)) : null;
    else {
      out = [];
      for (let k = 0, from = 0; k < rank; k++) out.push(axes.includes(k) ? 1 : dims[from++]);
    }
  }
  // Tokens' values (attention's q, k, v after a Split), or a mask's (DeBERTa's mask[:, None, None, :]): the same values.
  if ((x.channelsLast || ctx.masks.has(reader.nodes[index].input?.[0] ?? '')) && out) return void view(ctx, index, x, fieldsOf(out));
  // A sequence [C, L] as the image [C, 1, L] of height 1 (PyTorch 2 pools a sequence so), and
  // back: ours is [1, L, C] either way.
  if (out && !x.chw && x.ours.length === 3 && axes.length === 1 && axes[0] === 2) {
    if (op === 'Unsqueeze' && isSequence(x)) return ctx.alias(index, { layer: x.layer, ...image(x.dims[0], 1, x.dims[1]) });
    if (op === 'Squeeze' && x.dims.length === 3 && x.dims[1] === 1) return ctx.alias(index, { layer: x.layer, ...sequence(x.dims[0], x.dims[2]) });
  }
  // Pooled, or an image or sequence whose window ops left one position ([1, 1, C] of ours): C values either way.
  const C = x.dims[0];
  const rest = out?.slice(1) ?? [];
  const fits = x.dims.slice(1).every((d) => d === 1) && !x.chw && !x.channelsLast && out !== null && rest[0] === C && rest.length <= 3 && rest.slice(1).every((d) => d === 1);
  if (!fits)
    throw reader.nodeError(index, `${op} of [batch, ${x.dims.join(', ')}] on axes ${listText((given ?? []).map((a) => (a === 'batch' ? -1 : a)))}: expected it only between features [batch, C] and a pooled [batch, C, 1, 1] or [batch, C, 1] (or in shape computations)`);
  const fields = rest.length === 1 ? vector(C) : rest.length === 2 ? pooledSequence(C) : pooled(C);
  // Ours [1, 1, C] becomes [C] through a flatten layer (the same values); a pooled [C] is already.
  if (x.ours.length === 3) ctx.emit(index, { kind: 'flatten', name: reader.layerName(index) }, [x], fields);
  else ctx.alias(index, { layer: x.layer, ...fields });
}
