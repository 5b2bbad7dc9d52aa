// The ONNX ops of shape computations (Shape → Gather → Unsqueeze → Concat → Reshape, as PyTorch
// exports x.view(x.size(0), -1)), folded statically for the model's input shape: their values
// are ints, 'batch' standing for the dynamic batch size.
import { FLOAT } from './common.js';
import { channelSlice } from './channelOps.js';
import { isStatic, type Handler } from './context.js';

const shapeOp: Handler = (ctx, index) => {
  const attrs = ctx.reader.attributes(index, ['start', 'end']);
  const x = ctx.net(index);
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
