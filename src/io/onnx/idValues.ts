// Values computed in the graph from the token ids, each followed here as what it is per token;
// anything else computed from the ids is refused, naming the node.
// - RoBERTa's position ids (XLM-R and CamemBERT share the code): mask = ids ≠ pad; positions =
//   cumsum(mask)·mask + pad, then the position table's rows at them (transformers'
//   create_position_ids_from_input_ids). The Gather becomes an embedding layer with a PositionRule
//   (types.ts): the padding's row is `start`, the other tokens count from start + 1. Its token
//   types are a buffer of zeros gathered at the positions, which folds whatever they are.
// - GPT-2's sequence classification (and other decoders'): the last real token is
//   argmax(arange(T)·(ids ≠ pad)), and the logits are the score's at it (a Gather of the
//   flattened [batch·T, C] at it plus the batch's offset, or a GatherND at [0, it]): a lasttoken
//   layer reading the score and the ids.
import type { LastTokenLayer, PositionRule } from '../../network/types.js';
import { listText } from './common.js';
import { isStatic, type ImportContext, type StaticTensor } from './context.js';
import { embeddingOf } from './denseOps.js';
import { vector, type GraphReader, type NetTensor } from './graphReader.js';
import { shapeValues } from './shapeOps.js';
import { staticOf } from './staticValues.js';
import { fieldsOf, fullOf, view } from './tokenOps.js';

/**
 * Values computed from the ids: per token [id = pad], [id ≠ pad], its running count, the positions,
 * t·[id ≠ pad] ('indexed'); per sample the last real token ('last': its dims past the batch, [] or
 * [1]), and the index pair [0, last] a GatherND reads ('lastAt').
 */
export type IdValues = { ids: NetTensor; pad: number } & (
  | { kind: 'isPad' | 'notPad' | 'count' | 'indexed' | 'lastAt' }
  | { kind: 'positions'; start: number }
  | { kind: 'last'; dims: number[] }
);

const KINDS: Record<IdValues['kind'], string> = {
  isPad: '[id = pad]', notPad: '[id ≠ pad]', count: 'a running count', positions: 'positions', indexed: 't·[id ≠ pad]', last: 'the last real token', lastAt: 'the index [0, last real token]',
};

const WHAT =
  "computes with the token ids: expected only RoBERTa's positions (Equal with the padding id, Not, Cast, CumSum over the tokens, Mul by the mask, Add of a constant, and the position table's Gather at them), GPT-2's last real token (ArgMax of arange(T)·(ids ≠ pad), and a Gather or GatherND of the tokens at it), Shape, and GatherElements of a table of one value";

/** Whether node `index` is an Equal of a graph input with one int constant (the padding test RoBERTa's positions and GPT-2's last token start from). */
export function comparesWithConstant(reader: GraphReader, index: number, input: string): boolean {
  const names = reader.nodes[index].input ?? [];
  const other = names.find((n) => n !== input);
  const tensor = other ? reader.consts.get(other)?.tensor : undefined;
  return reader.opType(index) === 'Equal' && names.length === 2 && names.includes(input) && !!tensor && (tensor.dims ?? []).every((d) => Number(d) === 1);
}

/** Whether node `index` reads values computed from the ids, or compares the ids with a constant: idValueOp reads it. */
export function readsIdValues(ctx: ImportContext, index: number): boolean {
  const names = ctx.reader.nodes[index].input ?? [];
  const op = ctx.reader.opType(index);
  return names.some((n) => ctx.idValues.has(n)) || ((op === 'Equal' || (op === 'Reshape' && names.length === 2)) && idsTensor(ctx, names[0]) !== null) || (op === 'Equal' && idsTensor(ctx, names[1]) !== null);
}

/** The token ids (a graph input's, or a view of them) the tensor `name` is, or null. */
function idsTensor(ctx: ImportContext, name: string | undefined): NetTensor | null {
  const tensor = ctx.tensors.get(name ?? '');
  return tensor && !isStatic(tensor) && ctx.idInputs.has(tensor.layer) && tensor.dims.length === 1 ? tensor : null;
}

/** One int value of input `position` (a constant or a folded shape value), or null. */
function oneValue(ctx: ImportContext, index: number, position: number): number | null {
  const name = ctx.reader.nodes[index].input?.[position] ?? '';
  const folded = ctx.tensors.get(name);
  if (!folded) return ctx.reader.intScalar(name);
  const values = isStatic(folded) ? folded.values : [];
  return values.length === 1 && typeof values[0] === 'number' && Number.isInteger(values[0]) ? values[0] : null;
}

/** Node `index`, which reads values computed from the ids (readsIdValues): what it computes per token, or an error. */
export function idValueOp(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  const node = reader.nodes[index];
  const names = node.input ?? [];
  const op = reader.opType(index);
  const of = (k: number) => ctx.idValues.get(names[k] ?? '');
  const set = (value: IdValues) => ctx.idValues.set(node.output?.[0] ?? '', value);
  const refuse = (why = WHAT): never => {
    throw reader.nodeError(index, why);
  };
  switch (op) {
    case 'Equal': {
      reader.attributes(index, []);
      const k = idsTensor(ctx, names[0]) ? 0 : 1;
      const ids = idsTensor(ctx, names[k]);
      const pad = oneValue(ctx, index, 1 - k);
      if (!ids || pad === null || pad < 0) return refuse(`compares the token ids '${names[k]}' with '${names[1 - k]}': expected one whole constant ≥ 0 (the padding id)`);
      return void set({ ids, pad, kind: 'isPad' });
    }
    case 'Reshape': {
      // The ids viewed as [batch, T] (GPT-2's input_ids.view(-1, T)): the same ids.
      const ids = idsTensor(ctx, names[0])!;
      const shape = ctx.staticValues(index, 1, 'shape').map((v) => (v === 'batch' ? 1 : v));
      const tokens = ids.dims[0];
      const known = shape.filter((v) => v !== -1 && v !== 0).reduce((a, b) => a * b, 1);
      if (shape.length !== 2 || shape[1] !== tokens || !(shape[0] === 1 || ((shape[0] === -1 || shape[0] === 0) && known === tokens)))
        return refuse(`reshapes the token ids [batch, ${tokens}] to ${listText(shape)}: expected them viewed as [-1, ${tokens}] (the batch, then the tokens)`);
      return void ctx.alias(index, ids);
    }
    case 'Not': {
      const x = of(0);
      if (x?.kind !== 'isPad' && x?.kind !== 'notPad') return refuse();
      return void set({ ...x, kind: x.kind === 'isPad' ? 'notPad' : 'isPad' });
    }
    case 'Cast':
      // Bool, int or float: the values (0 and 1, counts below 2^24) are the same.
      reader.attributes(index, ['to', 'saturate']);
      return void set(of(0)!);
    case 'CumSum': {
      const attrs = reader.attributes(index, ['exclusive', 'reverse']);
      const x = of(0);
      const axis = oneValue(ctx, index, 1);
      const plain = reader.intAttribute(index, attrs, 'exclusive', 0) === 0 && reader.intAttribute(index, attrs, 'reverse', 0) === 0;
      if (x?.kind !== 'notPad' || (axis !== 1 && axis !== -1) || !plain)
        return refuse(`CumSum of ${x ? KINDS[x.kind] : 'a tensor computed from the ids'} on axis ${axis ?? '?'}${plain ? '' : ' (exclusive or reversed)'}: expected the running count of the tokens that are not padding (axis 1, neither exclusive nor reversed), as RoBERTa's positions`);
      return void set({ ...x, kind: 'count' });
    }
    case 'Mul': {
      reader.attributes(index, []);
      const [a, b] = [of(0), of(1)];
      const count = a?.kind === 'count' ? a : b?.kind === 'count' ? b : undefined;
      const mask = a?.kind === 'notPad' ? a : b?.kind === 'notPad' ? b : undefined;
      if (count && mask && count.pad === mask.pad && count.ids.layer === mask.ids.layer) return void set({ ...count, kind: 'positions', start: 0 });
      // arange(T)·[id ≠ pad]: each real token's position, 0 for padding.
      if (mask && !(a && b) && isArange(ctx, index, a ? 1 : 0, mask.ids.dims[0])) return void set({ ...mask, kind: 'indexed' });
      return refuse();
    }
    case 'ArgMax': {
      const attrs = reader.attributes(index, ['axis', 'keepdims', 'select_last_index']);
      const x = of(0);
      const axis = reader.intAttribute(index, attrs, 'axis', 0);
      const keep = reader.intAttribute(index, attrs, 'keepdims', 1);
      if (x?.kind !== 'indexed' || (axis !== 1 && axis !== -1) || reader.intAttribute(index, attrs, 'select_last_index', 0) !== 0)
        return refuse(`ArgMax of ${x ? KINDS[x.kind] : 'a tensor computed from the ids'} on axis ${axis}: expected the last real token, the first maximum of arange(T)·(ids ≠ pad) over the tokens (axis 1 or −1, select_last_index 0)`);
      return void set({ ...x, kind: 'last', dims: keep ? [1] : [] });
    }
    case 'Add': {
      reader.attributes(index, []);
      const k = of(0) ? 0 : 1;
      const x = of(k);
      if (of(1 - k)) return refuse();
      // The batch's offset in a flattened [batch·T, C] (arange(batch)·T): 0 at batch 1.
      if (x?.kind === 'last' && staticOf(ctx, index, 1 - k, 'offset').values.every((v) => v === 0)) return void set(x);
      const c = oneValue(ctx, index, 1 - k);
      if (x?.kind !== 'positions' || c === null) return refuse();
      return void set({ ...x, start: x.start + c });
    }
    case 'Unsqueeze': {
      const x = of(0);
      const axes = ctx.staticValues(index, 1, 'axes');
      if (x?.kind !== 'last' || axes.length !== 1 || (axes[0] !== -1 && axes[0] !== x.dims.length + 1)) return refuse();
      return void set({ ...x, dims: [...x.dims, 1] });
    }
    case 'Concat': {
      // [0, last] (dynamo's index for GatherND): a zero before the last real token, on the last axis.
      const attrs = reader.attributes(index, ['axis']);
      const x = of(1);
      const zero = of(0) ? null : staticOf(ctx, index, 0, 'index');
      if (names.length !== 2 || x?.kind !== 'last' || x.dims.length !== 1 || !zero || zero.values.length !== 1 || zero.values[0] !== 0 || reader.intAttribute(index, attrs, 'axis', 0) !== -1) return refuse();
      return void set({ ...x, kind: 'lastAt' });
    }
    case 'Shape': {
      const x = of(0)!;
      const dims = x.kind === 'last' ? x.dims : x.kind === 'lastAt' ? [2] : x.ids.dims;
      return void ctx.alias(index, { values: shapeValues(ctx, index, ['batch', ...dims]) });
    }
    case 'GatherElements':
      return tokenTypes(ctx, index);
    case 'GatherND':
      return lastTokenOf(ctx, index, 'GatherND');
    case 'Gather': {
      const x = of(1);
      if (x?.kind === 'last') return lastTokenOf(ctx, index, 'Gather');
      if (x?.kind !== 'positions' || of(0) || x.start < 0) return refuse();
      const attrs = reader.attributes(index, ['axis']);
      const rule: PositionRule = { pad: x.pad, start: x.start };
      return embeddingOf(ctx, index, reader.intAttribute(index, attrs, 'axis', 0), { ids: x.ids, positions: rule });
    }
    default:
      return refuse();
  }
}

/**
 * GatherElements of a folded table at values computed from the ids (RoBERTa's token types: its
 * buffer of zeros gathered at the positions): the table's one value at every token.
 */
function tokenTypes(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  reader.attributes(index, ['axis']);
  const names = reader.nodes[index].input ?? [];
  const x = ctx.idValues.get(names[1] ?? '');
  const data = !x || ctx.idValues.has(names[0] ?? '') ? null : staticOf(ctx, index, 0, 'data');
  const one = data && data.values.length > 0 && data.values.every((v) => v === data.values[0]) && typeof data.values[0] === 'number' ? data.values[0] : null;
  if (!x || !data || one === null || data.shape.length !== 2)
    throw reader.nodeError(index, `gathers ${data ? `a table of shape ${listText(data.shape)}` : 'values computed from the ids'} at values computed from the ids: expected a [1, n] table of one value (RoBERTa's token types, all 0) at the positions`);
  const tokens = x.ids.dims[0];
  ctx.alias(index, { values: new Array(tokens).fill(one), shape: [1, tokens] } satisfies StaticTensor);
}

/** Whether input `position` is the folded arange(T) (a Range, or its constant), as [T] or [1, T]. */
function isArange(ctx: ImportContext, index: number, position: number, tokens: number): boolean {
  const { values, shape } = staticOf(ctx, index, position, 'arange');
  return values.length === tokens && values.every((v, t) => v === t) && shape[shape.length - 1] === tokens;
}

/**
 * The tokens at the last real token: Gather of the flattened [batch·T, C] (axis 0) or of [batch,
 * T, C] (axis 1) at it, or GatherND of [batch, T, C] at [0, it] (batch_dims 0): a lasttoken layer.
 */
function lastTokenOf(ctx: ImportContext, index: number, op: 'Gather' | 'GatherND'): void {
  const { reader } = ctx;
  const names = reader.nodes[index].input ?? [];
  const attrs = reader.attributes(index, op === 'Gather' ? ['axis'] : ['batch_dims']);
  const at = ctx.idValues.get(names[1] ?? '');
  const data = ctx.tensors.get(names[0] ?? '');
  const x = data && !isStatic(data) ? data : null;
  const full = x ? fullOf(x) : null;
  const axis = op === 'Gather' ? reader.intAttribute(index, attrs, 'axis', 0) : reader.intAttribute(index, attrs, 'batch_dims', 0);
  const channels = full?.[full.length - 1] ?? 0;
  const tokens = at?.ids.dims[0];
  const fits =
    op === 'Gather'
      ? at?.kind === 'last' && full !== null && ((full.length === 2 && axis === 0 && full[0] === tokens) || (full.length === 3 && full[0] === 1 && axis === 1 && full[1] === tokens))
      : at?.kind === 'lastAt' && full?.length === 3 && full[0] === 1 && full[1] === tokens && axis === 0;
  if (!fits || !x || !at)
    throw reader.nodeError(index, `${op} of ${full ? `[${full.join(', ')}] (at batch 1)` : 'a constant'} at ${at ? KINDS[at.kind] : 'values computed from the ids'}: expected the tokens [batch, T, C] (or flattened [batch·T, C]) at the last real token, ${tokens} tokens`);
  const layer: LastTokenLayer = { kind: 'lasttoken', name: reader.layerName(index), pad: at.pad };
  const picked = ctx.emit(index, layer, [x, at.ids], vector(channels));
  // Its full shape at batch 1: a Gather's the index's [batch, ...dims] in place of the axis; [1, C] is ours [C] already.
  const out = op === 'Gather' ? [...full!.slice(0, axis), 1, ...(at.kind === 'last' ? at.dims : []), ...full!.slice(axis + 1)] : [1, channels];
  if (out.length !== 2) view(ctx, index, picked, fieldsOf(out));
}
