// The ONNX ops of shape computations (Shape → Gather → Unsqueeze → Concat → Reshape, as PyTorch
// exports x.view(x.size(0), -1)), folded statically for the model's input shape: their values
// are ints, 'batch' standing for the dynamic batch size.
import { FLOAT } from './common.js';
import { channelSlice } from './channelOps.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { pooled, pooledSequence, vector } from './graphReader.js';
import { listText } from './common.js';

const shapeOp: Handler = (ctx, index) => {
  const attrs = ctx.reader.attributes(index, ['start', 'end']);
  const x = ctx.net(index, 0, { sequence: true }); // a sequence's dims are ONNX's [C, L]
  const all: Array<number | 'batch'> = ['batch', ...x.dims];
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + all.length : v, 0), all.length);
  ctx.alias(index, { values: all.slice(clamp(ctx.reader.intAttribute(index, attrs, 'start', 0)), clamp(ctx.reader.intAttribute(index, attrs, 'end', all.length))) });
};

const gather: Handler = (ctx, index) => {
  const attrs = ctx.reader.attributes(index, ['axis']);
  if (ctx.reader.intAttribute(index, attrs, 'axis', 0) !== 0) throw ctx.reader.nodeError(index, `attribute axis: expected 0 on a shape`);
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

/** Unsqueeze, Squeeze, Cast on a folded shape keep its values (shapes here are at most 1-D). */
const keepValues: Handler = (ctx, index) => {
  const name = ctx.reader.nodes[index].input?.[0] ?? '';
  const tensor = ctx.tensors.get(name);
  if (tensor && !isStatic(tensor)) {
    const op = ctx.reader.nodes[index].opType;
    if (op === 'Cast') {
      const attrs = ctx.reader.attributes(index, ['to', 'saturate']);
      if (ctx.reader.intAttribute(index, attrs, 'to', FLOAT) !== FLOAT) throw ctx.reader.nodeError(index, `casts a computed tensor to another type: expected float32 throughout`);
      ctx.alias(index, tensor);
      return;
    }
    if (op === 'Squeeze' || op === 'Unsqueeze') return squeezePooled(ctx, index, op);
    throw ctx.reader.nodeError(index, `${op} of a computed tensor is not supported: expected it only in shape computations`);
  }
  ctx.alias(index, { values: ctx.staticValues(index, 0, 'data') });
};

const slice: Handler = (ctx, index) => {
  ctx.reader.attributes(index, []);
  const data = ctx.tensors.get(ctx.reader.nodes[index].input?.[0] ?? '');
  if (data && !isStatic(data)) return channelSlice(ctx, index);
  const values = ctx.staticValues(index, 0, 'data');
  const [start, end] = [1, 2].map((k) => ctx.staticValues(index, k, k === 1 ? 'starts' : 'ends')[0]);
  if (typeof start !== 'number' || typeof end !== 'number') throw ctx.reader.nodeError(index, `starts/ends: expected constants`);
  const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + values.length : v, 0), values.length);
  ctx.alias(index, { values: values.slice(clamp(start), clamp(end)) });
};

export const SHAPE_HANDLERS: Record<string, Handler> = {
  Shape: shapeOp,
  Gather: gather,
  Unsqueeze: keepValues,
  Squeeze: keepValues,
  Cast: keepValues,
  Slice: slice,
};

/**
 * Squeeze or Unsqueeze of a computed tensor: only between a pooled tensor ([C, 1, 1], or [C, 1]
 * after a sequence's pool, or a 1×1 image) and the vector [C] (x.squeeze(-1), y.unsqueeze(-1) of
 * a gate): the same values.
 */
function squeezePooled(ctx: ImportContext, index: number, op: 'Squeeze' | 'Unsqueeze'): void {
  const { reader } = ctx;
  const attrs = reader.attributes(index, reader.opset < 13 ? ['axes'] : []);
  const x = ctx.net(index, 0, { sequence: true });
  const given = reader.opset < 13 ? reader.intsAttribute(index, attrs, 'axes') : reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'axes') : null;
  const dims = [1, ...x.dims]; // the batch as 1: a squeeze of it is refused below
  const rank = op === 'Squeeze' ? dims.length : dims.length + (given?.length ?? 0);
  const axes = (given ?? (op === 'Squeeze' ? dims.flatMap((d, k) => (d === 1 && k > 0 ? [k] : [])) : [])).map((a) => (typeof a === 'number' && a < 0 ? a + rank : a));
  let out: number[] | null = null;
  if (axes.every((a) => typeof a === 'number' && a > 0 && a < rank) && new Set(axes).size === axes.length) {
    if (op === 'Squeeze') out = axes.every((a) => dims[a as number] === 1) ? dims.filter((_, k) => !axes.includes(k)) : null;
    else {
      out = [];
      for (let k = 0, from = 0; k < rank; k++) out.push(axes.includes(k) ? 1 : dims[from++]);
    }
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
