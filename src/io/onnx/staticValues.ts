// Shape computations on folded values of more than one axis: PyTorch's pads for ReflectionPad2d
// and the like (Concat, Reshape to [n, 2], Slice with step −1, Transpose, Reshape back) fold to
// the constant pads a Pad reads.
import { BOOL, FLOAT, floatBytes, listText, product } from './common.js';
import type { Handler, ImportContext, StaticTensor } from './context.js';
import { isStatic } from './context.js';

/** The most values a folded int table may hold (a [1, 512] buffer of positions, a [T, T] mask). */
export const MAX_STATIC = 1 << 20;

/**
 * Input `position` as folded values with their dims (1-D unless a Reshape gave more). A float
 * constant reads too (a causal mask's buffer, `tril(ones(n, n))`, and the value it is compared with).
 */
export function staticOf(ctx: ImportContext, index: number, position: number, what: string): { values: StaticTensor['values']; shape: number[] } {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  const tensor = ctx.tensors.get(name);
  const constant = tensor ? undefined : ctx.reader.consts.get(name);
  if (constant && (constant.tensor.dataType ?? 0) === FLOAT) {
    const { dims, values } = ctx.reader.weightValues(index, constant, what);
    return { values: Array.from(values), shape: dims.length ? dims : [1] };
  }
  if (constant && constant.tensor.dataType === BOOL) {
    const { dims, values } = ctx.reader.boolValues(index, constant, what);
    return { values, shape: dims.length ? dims : [1] };
  }
  // Tables of ids or positions (a BERT's token types and positions: its buffers, folded) may be larger than a shape.
  const values = ctx.staticValues(index, position, what, MAX_STATIC);
  if (constant) return { values, shape: (constant.tensor.dims ?? []).length ? (constant.tensor.dims ?? []).map(Number) : [1] };
  return { values, shape: tensor && isStatic(tensor) && tensor.shape ? tensor.shape : [values.length] };
}

/** The values of `shape` broadcast to `to` (ONNX's multidirectional broadcasting, `shape` no longer). */
export function broadcast(values: StaticTensor['values'], shape: number[], to: number[]): StaticTensor['values'] | null {
  const aligned = [...Array(Math.max(0, to.length - shape.length)).fill(1), ...shape];
  if (aligned.length !== to.length || !aligned.every((d, k) => d === to[k] || d === 1)) return null;
  return gathered(values, aligned, to.map((d, k) => Array.from({ length: d }, (_, i) => (aligned[k] === 1 ? 0 : i)))).values;
}

/** The shape `a` and `b` broadcast to (ONNX's multidirectional rule): right-aligned, the larger size of each axis (`broadcast` then checks they fit it). */
export function broadcastShape(a: readonly number[], b: readonly number[]): number[] {
  const rank = Math.max(a.length, b.length);
  const pad = (s: readonly number[]) => [...Array(rank - s.length).fill(1), ...s];
  const [pa, pb] = [pad(a), pad(b)];
  return pa.map((d, k) => Math.max(d, pb[k]));
}

/** For each position of `to`, the row-major index of `from` it reads, `from` broadcast to `to`; null when it does not broadcast. */
export function broadcastIndices(from: readonly number[], to: number[]): Int32Array | null {
  const moves = broadcast(Array.from({ length: from.reduce((a, b) => a * b, 1) }, (_, i) => i), [...from], to);
  return moves && Int32Array.from(moves, Number);
}

/** Two folded tables broadcast to one shape: their values there, or null when they do not broadcast, hold more than MAX_STATIC or an unknown batch. */
export function broadcastPair(a: { values: StaticTensor['values']; shape: number[] }, b: { values: StaticTensor['values']; shape: number[] }): { out: number[]; va: number[]; vb: number[] } | null {
  const out = broadcastShape(a.shape, b.shape);
  if (out.reduce((n, d) => n * d, 1) > MAX_STATIC) return null;
  const [va, vb] = [broadcast(a.values, a.shape, out), broadcast(b.values, b.shape, out)];
  if (!va || !vb || va.includes('batch') || vb.includes('batch')) return null;
  return { out, va: va as number[], vb: vb as number[] };
}

/** The values of a row-major `shape` at the index lists `ranges` (one per axis), as a StaticTensor. */
export function gathered(values: StaticTensor['values'], shape: number[], ranges: number[][]): StaticTensor {
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  let offsets = [0];
  for (const [k, range] of ranges.entries()) offsets = offsets.flatMap((o) => range.map((r) => o + r * strides[k]));
  const dims = ranges.map((r) => r.length);
  return { values: offsets.map((o) => values[o]), ...(dims.length > 1 ? { shape: dims } : {}) };
}

/** Clip of folded values (DeBERTa's relative positions clamped to the attention span), bounds from inputs 1 and 2 (opset 11+). */
export function clipStatic(ctx: ImportContext, index: number): void {
  const { values, shape } = staticOf(ctx, index, 0, 'input');
  const [min, max] = [1, 2].map((k) => (ctx.reader.nodes[index].input?.[k] ? ctx.staticValues(index, k, k === 1 ? 'min' : 'max') : [k === 1 ? -Infinity : Infinity]));
  if (min.length !== 1 || max.length !== 1 || [...min, ...max, ...values].some((v) => typeof v !== 'number'))
    throw ctx.reader.nodeError(index, `Clip of folded values by ${listText(min.map(Number))} and ${listText(max.map(Number))}: expected known values and one bound each`);
  const clamp = (v: number) => Math.min(Math.max(v, min[0] as number), max[0] as number);
  ctx.alias(index, { values: values.map((v) => clamp(v as number)), ...(shape.length > 1 ? { shape } : {}), ...(floatInput(ctx, index, 0) ? { float: true as const } : {}) });
}

/** Whether input `position` of node `index` holds floats: a folded float table, or a float constant. */
export function floatInput(ctx: ImportContext, index: number, position: number): boolean {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  const tensor = ctx.tensors.get(name);
  return tensor ? isStatic(tensor) && tensor.float === true : ctx.reader.consts.get(name)?.tensor.dataType === FLOAT;
}

/** Transpose of folded values (PyTorch's pads: a [n, 2] table of begins and ends, transposed). */
export function transposeStatic(ctx: ImportContext, index: number, perm: number[]): void {
  const { values, shape } = staticOf(ctx, index, 0, 'data');
  const order = perm.length ? perm : shape.map((_, k) => shape.length - 1 - k);
  if (order.length !== shape.length || !shape.every((_, k) => order.includes(k)))
    throw ctx.reader.nodeError(index, `perm ${listText(order)} of a shape computation of shape ${listText(shape)}: expected a permutation of its axes`);
  const dims = order.map((a) => shape[a]);
  ctx.alias(index, { values: transposedIndices(shape, order).map((o) => values[o]), ...(dims.length > 1 ? { shape: dims } : {}), ...(floatInput(ctx, index, 0) ? { float: true as const } : {}) });
}

/** Reshape of folded values to constant dims (0 copies the input's, −1 the rest). */
export function reshapeStatic(ctx: ImportContext, index: number, data: StaticTensor, allowZero: number): void {
  const target = ctx.staticValues(index, 1, 'shape');
  const from = data.shape ?? [data.values.length];
  const dims = target.map((d, k) => (d === 0 && !allowZero ? from[k] : d));
  const known = dims.filter((d) => d !== -1).reduce((a: number, b) => a * (b as number), 1);
  const resolved = dims.map((d) => (d === -1 ? data.values.length / known : d));
  if (!resolved.every((d) => typeof d === 'number' && Number.isInteger(d) && d >= 0) || (resolved as number[]).reduce((a, b) => a * b, 1) !== data.values.length)
    throw ctx.reader.nodeError(index, `reshapes ${data.values.length} folded values to ${listText(target.map((v) => (v === 'batch' ? -1 : v)))}: expected constant sizes of that product`);
  ctx.alias(index, { values: data.values, ...(resolved.length > 1 ? { shape: resolved as number[] } : {}), ...(data.float ? { float: true as const } : {}) });
}


/** Folded tables of one rank joined along `axis` (their other axes equal). */
export function concatTables(ctx: ImportContext, index: number, axis: number): { values: StaticTensor['values']; shape: number[] } {
  const pieces = (ctx.reader.nodes[index].input ?? []).map((_, k) => staticOf(ctx, index, k, 'table'));
  const rank = pieces[0].shape.length;
  const at = axis < 0 ? axis + rank : axis;
  const others = (shape: number[]) => shape.filter((_, k) => k !== at).join(',');
  if (at < 0 || at >= rank || pieces.some((p) => p.shape.length !== rank || others(p.shape) !== others(pieces[0].shape)))
    throw ctx.reader.nodeError(index, `joins folded tables of shapes ${pieces.map((p) => listText(p.shape)).join(', ')} on axis ${axis}: expected one rank and equal sizes but on that axis`);
  const outer = pieces[0].shape.slice(0, at).reduce((a, b) => a * b, 1);
  const inner = pieces[0].shape.slice(at + 1).reduce((a, b) => a * b, 1);
  const values: StaticTensor['values'] = [];
  for (let o = 0; o < outer; o++) for (const p of pieces) values.push(...p.values.slice(o * p.shape[at] * inner, (o + 1) * p.shape[at] * inner));
  return { values, shape: pieces[0].shape.map((d, k) => (k === at ? pieces.reduce((s, p) => s + p.shape[at], 0) : d)) };
}

/**
 * Neg, Abs, Sign, Ceil, Floor and Log of folded values (MPNet's and DeBERTa's relative-position
 * buckets: −(j − i), |n|, sign(n), ⌈log(n / 8)·k⌉),
 * Cos and Sin (RoPE's tables, as TorchScript writes them): elementwise, the shape kept; Log, Cos and
 * Sin make them floats.
 */
export function unaryStatic(op: 'Neg' | 'Abs' | 'Log' | 'Cos' | 'Sin' | 'Sign' | 'Ceil' | 'Floor'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    reader.attributes(index, []);
    const name = reader.nodes[index].input?.[0] ?? '';
    const tensor = ctx.tensors.get(name);
    if (tensor && !isStatic(tensor)) throw reader.nodeError(index, `${op} of a computed tensor is not supported: expected it only in shape computations (relative positions)`);
    const { values, shape } = staticOf(ctx, index, 0, 'value');
    if (values.includes('batch')) throw reader.nodeError(index, `${op} of shape values ${listText(values.map((v) => (v === 'batch' ? -1 : v)))}: expected known sizes`);
    // (Float32 as the runtime computes: a bucket is the log truncated.)
    const exact: Partial<Record<typeof op, (v: number) => number>> = { Neg: (v) => -v, Abs: Math.abs, Sign: Math.sign, Ceil: Math.ceil, Floor: Math.floor };
    const f = exact[op] ?? ((v: number) => Math.fround(Math[op === 'Log' ? 'log' : op === 'Cos' ? 'cos' : 'sin'](v)));
    const float = op === 'Log' || op === 'Cos' || op === 'Sin' || floatInput(ctx, index, 0);
    ctx.alias(index, { values: values.map((v) => f(v as number)), ...(shape.length > 1 ? { shape } : {}), ...(float ? { float: true as const } : {}) });
  };
}

/**
 * MatMul of two folded tables (RoPE's inv_freq expanded times the positions, as TorchScript writes
 * it): [..., M, K]·[..., K, N], leading axes broadcast, in float32 as the runtime computes.
 */
export function foldMatMul(ctx: ImportContext, index: number): void {
  const [a, b] = [0, 1].map((k) => staticOf(ctx, index, k, k === 0 ? 'A' : 'B'));
  const [M, K] = a.shape.length >= 2 ? a.shape.slice(-2) : [1, a.shape[0]];
  const [K2, N] = b.shape.length >= 2 ? b.shape.slice(-2) : [b.shape[0], 1];
  const lead = a.shape.length > 2 || b.shape.length > 2 ? broadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2)) : [];
  const spread = (t: typeof a, rows: number, cols: number) => broadcast(t.values, [...t.shape.slice(0, -2), rows, cols], [...lead, rows, cols]);
  const [va, vb] = [spread(a, M, K), spread(b, K2, N)];
  if (K !== K2 || !va || !vb || [...va, ...vb].some((v) => typeof v !== 'number') || product(lead) * M * N > MAX_STATIC)
    throw ctx.reader.nodeError(index, `MatMul of folded tables of shapes ${listText(a.shape)} and ${listText(b.shape)}: expected [..., M, K] and [..., K, N] of known values`);
  const out: number[] = [];
  for (let l = 0; l < product(lead); l++)
    for (let m = 0; m < M; m++)
      for (let n = 0; n < N; n++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += Math.fround((va[(l * M + m) * K + k] as number) * (vb[(l * K + k) * N + n] as number));
        out.push(Math.fround(sum));
      }
  ctx.alias(index, { values: out, shape: [...lead, M, N], float: true });
}

/** Whether input `position` of node `index` is a float constant (not a computed or folded tensor). */
export function isFloatConstant(ctx: ImportContext, index: number, position: number): boolean {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  return !ctx.tensors.has(name) && ctx.reader.consts.get(name)?.tensor.dataType === FLOAT;
}

/**
 * A float constant transposed by `perm`, or given other dims (Unsqueeze, Squeeze): a new
 * constant (MPNet's relative-position bias, [T, T, heads] from its table, to [1, heads, T, T]).
 * It is computed from the model's constants, so the written model computes it as it did.
 */
export function movedConstant(ctx: ImportContext, index: number, move: { perm: number[] } | { dims: (from: number[]) => number[] }): void {
  const { reader } = ctx;
  const constant = reader.consts.get(reader.nodes[index].input?.[0] ?? '')!;
  const { dims, values } = reader.weightValues(index, constant, 'constant');
  let out = values;
  let outDims: number[];
  if ('perm' in move) {
    const perm = move.perm.length ? move.perm : dims.map((_, k) => dims.length - 1 - k);
    if (perm.length !== dims.length || !dims.every((_, k) => perm.includes(k)))
      throw reader.nodeError(index, `perm ${listText(perm)} of constant '${constant.root}' ${listText(dims)}: expected a permutation of its axes`);
    const moved = transposedIndices(dims, perm);
    out = Float32Array.from(moved, (k) => values[k]);
    outDims = perm.map((a) => dims[a]);
  } else outDims = move.dims(dims);
  if (outDims.reduce((a, b) => a * b, 1) !== values.length) throw reader.nodeError(index, `dims ${listText(outDims)} of constant '${constant.root}' ${listText(dims)}: expected ${values.length} values`);
  const name = reader.nodes[index].output?.[0] ?? '';
  reader.consts.set(name, { root: name, tensor: { dataType: FLOAT, dims: outDims, rawData: floatBytes(out) } });
}

/** For each position of `shape` transposed by `perm` (row-major), the index it reads. */
function transposedIndices(shape: number[], perm: number[]): number[] {
  const strides = shape.map((_, k) => shape.slice(k + 1).reduce((a, b) => a * b, 1));
  let offsets = [0];
  perm.forEach((a) => (offsets = offsets.flatMap((o) => Array.from({ length: shape[a] }, (_, i) => o + i * strides[a]))));
  return offsets;
}