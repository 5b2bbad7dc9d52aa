// RoBERTa's position ids, computed from the token ids in the graph (XLM-R and CamemBERT share the
// code): mask = ids ≠ pad; positions = cumsum(mask) · mask + pad, then the position table's rows
// at them (transformers' create_position_ids_from_input_ids). Each step is followed here as what
// it is per token, and the Gather becomes an embedding layer with a PositionRule (types.ts): the
// padding's row is `start`, the other tokens count from start + 1. Its token types are a buffer of
// zeros gathered at the positions, which folds whatever they are. Anything else computed from the
// ids is refused, naming the node.
import type { PositionRule } from '../../network/types.js';
import { listText } from './common.js';
import { isStatic, type ImportContext, type StaticTensor } from './context.js';
import { embeddingOf } from './denseOps.js';
import type { GraphReader, NetTensor } from './graphReader.js';
import { shapeValues } from './shapeOps.js';
import { staticOf } from './staticValues.js';

/** A value per token computed from the ids: [id = pad], [id ≠ pad], its running count, or the positions. */
export type IdValues = { ids: NetTensor; pad: number } & ({ kind: 'isPad' | 'notPad' | 'count' } | { kind: 'positions'; start: number });

const KINDS: Record<IdValues['kind'], string> = { isPad: '[id = pad]', notPad: '[id ≠ pad]', count: 'a running count', positions: 'positions' };

const WHAT = "computes with the token ids: expected only RoBERTa's positions (Equal with the padding id, Not, Cast, CumSum over the tokens, Mul by the mask, Add of a constant, and the position table's Gather at them), Shape, and GatherElements of a table of one value";

/** Whether node `index` is an Equal of a graph input with one int constant (the start of RoBERTa's positions). */
export function comparesWithConstant(reader: GraphReader, index: number, input: string): boolean {
  const names = reader.nodes[index].input ?? [];
  const other = names.find((n) => n !== input);
  const tensor = other ? reader.consts.get(other)?.tensor : undefined;
  return reader.opType(index) === 'Equal' && names.length === 2 && names.includes(input) && !!tensor && (tensor.dims ?? []).every((d) => Number(d) === 1);
}

/** Whether node `index` reads values computed from the ids, or compares the ids with a constant: positionOp reads it. */
export function readsIdValues(ctx: ImportContext, index: number): boolean {
  const names = ctx.reader.nodes[index].input ?? [];
  return names.some((n) => ctx.idValues.has(n)) || (ctx.reader.opType(index) === 'Equal' && names.some((n) => ctx.idInputs.has(n)));
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
export function positionOp(ctx: ImportContext, index: number): void {
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
      const k = ctx.idInputs.has(names[0]) ? 0 : 1;
      const ids = ctx.tensors.get(names[k]);
      const pad = oneValue(ctx, index, 1 - k);
      if (!ids || isStatic(ids) || pad === null || pad < 0) return refuse(`compares the token ids '${names[k]}' with '${names[1 - k]}': expected one whole constant ≥ 0 (the padding id of RoBERTa's positions)`);
      return void set({ ids, pad, kind: 'isPad' });
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
      if (!count || !mask || count.pad !== mask.pad || count.ids.layer !== mask.ids.layer) return refuse();
      return void set({ ...count, kind: 'positions', start: 0 });
    }
    case 'Add': {
      reader.attributes(index, []);
      const k = of(0) ? 0 : 1;
      const x = of(k);
      const c = of(1 - k) ? null : oneValue(ctx, index, 1 - k);
      if (x?.kind !== 'positions' || c === null) return refuse();
      return void set({ ...x, start: x.start + c });
    }
    case 'Shape': {
      const x = of(0)!;
      return void ctx.alias(index, { values: shapeValues(ctx, index, ['batch', ...x.ids.dims]) });
    }
    case 'GatherElements':
      return tokenTypes(ctx, index);
    case 'Gather': {
      const x = of(1);
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
