// Channels picked by index (ShuffleNet V2): a Slice of an image's channels (PyTorch writes
// x.chunk(2, dim=1) as two Slices), a Split of them, and the channel shuffle, which PyTorch writes
// as x.view(b, g, c/g, h, w) → transpose(1, 2) → view(b, −1, h, w): Reshape to 5-D, Transpose
// [0, 2, 1, 3, 4], Reshape back. findShuffles finds that chain before the graph is read; its last
// Reshape becomes one gather layer, the other two are skipped. Each is our 'gather' layer.
//
// A gather's channels are tied to nothing: structured pruning leaves the channels it reads, and
// those it writes, in place (the written model keeps these nodes as they are).
import { listText, toInt } from './common.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { splitTokens } from './tokenOps.js';
import { image, isPooled, isSequence, pooled, sequence, vector, type GraphReader, type NetTensor } from './graphReader.js';
import { cropLayer } from '../../network/composite.js';
import { indexMap, shapeAtBatchOne, strides } from './tokenOps.js';

/** A shuffle's last Reshape (with its first Reshape's and its Transpose's node indices), or a node inside the chain (skipped). */
export type Shuffle = { first: number; transpose: number; perm: number[] } | 'inner';

/** ShuffleNet's perm: a channel shuffle (a gather). Any other perm of such a chain (PixelUnshuffle's) moves values: a rearrange. */
const SHUFFLE_PERM = [0, 2, 1, 3, 4];

/** The channel shuffles of the graph (see the file header), by node index. */
export function findShuffles(reader: GraphReader, outputs: ReadonlySet<string>): Map<number, Shuffle> {
  const op = (index: number | undefined) => reader.opType(index);
  /** The one node reading output 0 of `index` (not the graph output), or undefined. */
  const onlyReader = (index: number): number | undefined => {
    const name = reader.nodes[index].output?.[0] ?? '';
    const readers = reader.consumers.get(name) ?? [];
    return !outputs.has(name) && readers.length === 1 && readers[0] !== undefined ? readers[0] : undefined;
  };
  const shuffles = new Map<number, Shuffle>();
  reader.nodes.forEach((_, first) => {
    if (op(first) !== 'Reshape') return;
    const transpose = onlyReader(first);
    if (transpose === undefined || op(transpose) !== 'Transpose') return;
    const perm = reader.nodes[transpose].attribute?.find((a) => a.name === 'perm')?.ints?.map(toInt) ?? [];
    if (perm.length < 5 || perm[0] !== 0) return;
    const last = onlyReader(transpose);
    if (last === undefined || op(last) !== 'Reshape' || reader.nodes[last].input?.[0] !== reader.nodes[transpose].output?.[0]) return;
    shuffles.set(first, 'inner');
    shuffles.set(transpose, 'inner');
    shuffles.set(last, { first, transpose, perm });
  });
  return shuffles;
}

const leadOk = (v: number | 'batch' | undefined, ctx: ImportContext) => v === 'batch' || v === -1 || v === 0 || (v === 1 && ctx.batch === 1);

/** The gather a shuffle's last Reshape (node `index`) is: output channel k is input channel (k mod g)·(C/g) + ⌊k/g⌋. */
export function emitShuffle(ctx: ImportContext, index: number, shuffle: Exclude<Shuffle, 'inner'>): void {
  if (listText(shuffle.perm) !== listText(SHUFFLE_PERM)) return emitImageChain(ctx, index, shuffle);
  const { reader } = ctx;
  const x = ctx.net(shuffle.first);
  const split = ctx.staticValues(shuffle.first, 1, 'shape');
  const back = ctx.staticValues(index, 1, 'shape');
  const [C, H, W] = x.dims;
  const g = split[1];
  const expected = `a channel shuffle of [batch, ${x.dims.join(', ')}]: Reshape to [batch, g, ${x.dims[0]}/g, ${H}, ${W}], Transpose [0, 2, 1, 3, 4], Reshape to [batch, ${C}, ${H}, ${W}]`;
  const text = (values: Array<number | 'batch'>) => listText(values.map((v) => (v === 'batch' ? -1 : v)));
  if (x.ours.length !== 3 || x.chw) throw reader.nodeError(shuffle.first, `input has shape [batch, ${x.dims.join(', ')}]: expected an image (${expected})`);
  if (split.length !== 5 || !leadOk(split[0], ctx) || typeof g !== 'number' || !(g >= 1) || C % g !== 0 || split[2] !== C / g || split[3] !== H || split[4] !== W)
    throw reader.nodeError(shuffle.first, `shape ${text(split)}: expected ${expected}`);
  if (back.length !== 4 || !leadOk(back[0], ctx) || (back[1] !== C && back[1] !== -1) || back[2] !== H || back[3] !== W) throw reader.nodeError(index, `shape ${text(back)}: expected ${expected}`);
  const perGroup = C / g;
  const indices = Array.from({ length: C }, (_, k) => (k % g) * perGroup + Math.floor(k / g));
  ctx.emit(index, { kind: 'gather', name: reader.layerName(index), indices }, [x], image(C, H, W));
}

/**
 * Reshape → Transpose → Reshape of a channels-first image back to an image (PyTorch's
 * pixel_unshuffle: [b, C, H/s, s, W/s, s], perm [0, 1, 3, 5, 2, 4], [b, C·s², H/s, W/s]): the
 * values it moves, at batch 1, as a rearrange.
 */
function emitImageChain(ctx: ImportContext, index: number, chain: Exclude<Shuffle, 'inner'>): void {
  const { reader } = ctx;
  const x = ctx.net(chain.first);
  const [C, H, W] = reader.requireImage(chain.first, x);
  const size = C * H * W;
  const atBatchOne = (values: Array<number | 'batch'>, node: number, input: number[]) => {
    const shape = shapeAtBatchOne(values, input, size);
    if (!shape || shape[0] !== 1)
      throw reader.nodeError(node, `shape ${listText(values.map((v) => (v === 'batch' ? -1 : v)))} of [batch, ${C}, ${H}, ${W}]: expected ${size} values per sample, the batch first`);
    return shape;
  };
  const split = atBatchOne(ctx.staticValues(chain.first, 1, 'shape'), chain.first, [1, C, H, W]);
  const back = atBatchOne(ctx.staticValues(index, 1, 'shape'), index, chain.perm.map((p) => split[p]));
  if (x.chw || back.length !== 4 || chain.perm.length !== split.length || [...chain.perm].sort((a, b) => a - b).some((p, k) => p !== k))
    throw reader.nodeError(index, `shape ${listText(back)} after perm ${listText(chain.perm)} of [${split.join(', ')}]: expected an image [batch, C, H, W] (a channel shuffle or pixel_unshuffle)`);
  const inStrides = strides(split);
  const [, c2, h2, w2] = back;
  // Output value k (NCHW order) is the transposed tensor's value k: the input's NCHW index by the perm.
  const nchw = indexMap(chain.perm.map((p) => split[p]), (at) => at.reduce((s, v, d) => s + v * inStrides[chain.perm[d]], 0));
  const indices = new Int32Array(size);
  nchw.forEach((source, k) => {
    const [c, h, w] = [Math.floor(k / (h2 * w2)), Math.floor(k / w2) % h2, k % w2];
    const [ci, hi, wi] = [Math.floor(source / (H * W)), Math.floor(source / W) % H, source % W];
    indices[(h * w2 + w) * c2 + c] = (hi * W + wi) * C + ci; // ours: channels last
  });
  ctx.emit(index, { kind: 'rearrange', name: reader.layerName(index), indices, offset: null, shape: [h2, w2, c2] }, [x], image(c2, h2, w2));
}

/** The channels [start, end) of x as a gather: output `output` of node `index`. */
function emitChannelRange(ctx: ImportContext, index: number, x: NetTensor, start: number, end: number, output: number): NetTensor {
  const indices = Array.from({ length: end - start }, (_, k) => start + k);
  const layer = { kind: 'gather' as const, name: ctx.reader.layerName(index, output), indices };
  const shape = x.ours.length === 3 ? image(indices.length, x.dims[1], x.dims[2]) : isPooled(x) ? pooled(indices.length) : vector(indices.length);
  return ctx.emit(index, layer, [x], shape, output);
}

/** A computed tensor's channels this Slice takes (axis 1, step 1), or the static Slice of a shape. */
export function channelSlice(ctx: ImportContext, index: number): void {
  const { reader } = ctx;
  const given = ctx.net(index, 0, { sequence: true });
  if (given.chw) throw reader.nodeError(index, `slices a flattened image: expected a Slice of an image's channels or of features`);
  const value = (position: number, what: string, fallback: number) => {
    if (!reader.nodes[index].input?.[position]) return [fallback];
    return ctx.staticValues(index, position, what);
  };
  const [starts, ends, axes, steps] = [value(1, 'starts', 0), value(2, 'ends', 0), value(3, 'axes', 0), value(4, 'steps', 1)];
  const rank = given.dims.length + 1;
  const axis = typeof axes[0] === 'number' && axes[0] < 0 ? axes[0] + rank : axes[0];
  const spatial = axes.map((a) => (typeof a === 'number' && a < 0 ? a + rank : a));
  if (given.ours.length === 3 && spatial.every((a) => a === 2 || a === 3) && spatial.length === new Set(spatial).size && steps.every((s) => s === 1) && starts.length === axes.length && ends.length === axes.length)
    return cropSlice(ctx, index, given, starts, ends, spatial as number[]);
  const x = ctx.net(index); // channels: of an image or of features (a sequence's are refused as such)
  if (starts.length !== 1 || ends.length !== 1 || axes.length !== 1 || axis !== 1 || steps.length !== 1 || steps[0] !== 1)
    throw reader.nodeError(index, `starts ${listText(starts.map(Number))}, ends ${listText(ends.map(Number))}, axes ${listText(axes.map(Number))}: expected one range of channels (axis 1, step 1), or ranges of H and W (a crop, step 1), of a computed tensor`);
  const channels = x.dims[0];
  const clamp = (v: number | 'batch') => (typeof v !== 'number' ? NaN : Math.min(Math.max(v < 0 ? v + channels : v, 0), channels));
  const [start, end] = [clamp(starts[0]), clamp(ends[0])];
  if (!(start < end)) throw reader.nodeError(index, `channels ${starts[0]} to ${ends[0]} of ${channels}: expected a non-empty range`);
  emitChannelRange(ctx, index, x, start, end, 0);
}

/** A Slice of an image's H and W (a U-Net's centre crop, x[:, :, a:b, c:d]) or of a sequence's L: a crop (composite.ts). */
function cropSlice(ctx: ImportContext, index: number, x: NetTensor, starts: Array<number | 'batch'>, ends: Array<number | 'batch'>, axes: number[]): void {
  const { reader } = ctx;
  const [C, H, W] = isSequence(x) ? [x.dims[0], 1, x.dims[1]] : x.dims;
  // A sequence [C, L] is our [1, L, C]: its axis 2 is our W.
  const sizes = isSequence(x) ? [0, 0, W] : [0, 0, H, W];
  const crop = [0, 0, 0, 0]; // top, bottom, left, right
  axes.forEach((axis, k) => {
    const size = sizes[axis];
    const clamp = (v: number | 'batch') => (typeof v !== 'number' ? NaN : Math.min(Math.max(v < 0 ? v + size : v, 0), size));
    const [start, end] = [clamp(starts[k]), clamp(ends[k])];
    if (!(start < end) || size === undefined) throw reader.nodeError(index, `${starts[k]} to ${ends[k]} on axis ${axis} of [batch, ${x.dims.join(', ')}]: expected a non-empty range`);
    const at = isSequence(x) || axis === 3 ? 2 : 0;
    crop[at] = start;
    crop[at + 1] = size - end;
  });
  const [h, w] = [H - crop[0] - crop[1], W - crop[2] - crop[3]];
  ctx.emit(index, cropLayer(reader.layerName(index), [H, W, C], crop), [x], isSequence(x) ? sequence(C, w) : image(C, h, w));
}

/** Split along the channel axis: one gather per output. */
export const split: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis', 'split', 'num_outputs']);
  const tokens = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if (tokens && !isStatic(tokens) && tokens.channelsLast) return splitTokens(ctx, index, tokens, reader.intAttribute(index, attrs, 'axis', 0), attrs.get('split')?.ints?.map(toInt));
  const x = ctx.net(index);
  if (x.chw) throw reader.nodeError(index, `splits a flattened image: expected a Split of an image's channels or of features`);
  const rank = x.dims.length + 1;
  const axisValue = reader.intAttribute(index, attrs, 'axis', 0);
  if ((axisValue < 0 ? axisValue + rank : axisValue) !== 1) throw reader.nodeError(index, `attribute axis=${axisValue}: expected 1 (the channels)`);
  const outputs = (reader.nodes[index].output ?? []).length;
  const channels = x.dims[0];
  // Sizes: the 'split' input (opset 13+), the attribute (before), or equal parts.
  const given = reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'split') : attrs.get('split')?.ints?.map(toInt);
  const sizes = given ?? (channels % outputs === 0 ? new Array(outputs).fill(channels / outputs) : Array.from({ length: outputs }, (_, k) => (k < outputs - 1 ? Math.ceil(channels / outputs) : channels - (outputs - 1) * Math.ceil(channels / outputs))));
  if (sizes.length !== outputs || !sizes.every((n) => typeof n === 'number' && n > 0) || (sizes as number[]).reduce((a, b) => a + b, 0) !== channels)
    throw reader.nodeError(index, `split ${listText(sizes.map(Number))}: expected ${outputs} positive sizes adding up to the ${channels} channels`);
  let start = 0;
  (sizes as number[]).forEach((size, k) => {
    // An output nobody reads (x.split(...) with a part left over) is no layer.
    const name = reader.nodes[index].output?.[k] ?? '';
    if (name && ((reader.consumers.get(name)?.length ?? 0) > 0 || ctx.outputs.has(name))) emitChannelRange(ctx, index, x, start, start + size, k);
    start += size;
  });
};

/**
 * DepthToSpace (PyTorch's pixel_shuffle: mode CRD; TF's: DCR) and SpaceToDepth (DCR): channels
 * moved to b×b blocks of pixels and back, a rearrange. Its channels tie to nothing (each output
 * channel reads several input channels).
 */
export function depthSpace(op: 'DepthToSpace' | 'SpaceToDepth'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    const attrs = reader.attributes(index, op === 'DepthToSpace' ? ['blocksize', 'mode'] : ['blocksize']);
    const b = reader.intAttribute(index, attrs, 'blocksize', 0);
    const mode = op === 'DepthToSpace' ? reader.stringAttribute(index, attrs, 'mode', 'DCR') : 'DCR';
    const x = ctx.net(index);
    const [C, H, W] = reader.requireImage(index, x);
    const toSpace = op === 'DepthToSpace';
    if (!(b >= 1) || (toSpace ? C % (b * b) !== 0 : H % b !== 0 || W % b !== 0) || (mode !== 'DCR' && mode !== 'CRD'))
      throw reader.nodeError(index, `blocksize ${b}, mode ${mode} on [batch, ${C}, ${H}, ${W}]: expected a blocksize dividing ${toSpace ? 'the channels by its square' : 'H and W'}, mode DCR or CRD`);
    // In the space-side tensor [c, y, x] (c < C'), the depth-side channel of block offset (i, j).
    const [small, [sH, sW]] = toSpace ? [C / (b * b), [H, W]] : [C, [H / b, W / b]];
    const depth = (c: number, i: number, j: number) => (mode === 'CRD' ? c * b * b + i * b + j : (i * b + j) * small + c);
    const [bigH, bigW] = [sH * b, sW * b];
    const indices = new Int32Array(C * H * W);
    for (let y = 0; y < bigH; y++)
      for (let xx = 0; xx < bigW; xx++)
        for (let c = 0; c < small; c++) {
          const space = (y * bigW + xx) * small + c; // ours: channels last
          const other = ((Math.floor(y / b) * sW + Math.floor(xx / b)) * small * b * b) + depth(c, y % b, xx % b);
          if (toSpace) indices[space] = other;
          else indices[other] = space;
        }
    const out = toSpace ? image(small, bigH, bigW) : image(small * b * b, sH, sW);
    ctx.emit(index, { kind: 'rearrange', name: reader.layerName(index), indices, offset: null, shape: out.ours }, [x], out);
  };
}
