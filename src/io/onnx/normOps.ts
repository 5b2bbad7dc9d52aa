// Group and instance normalization (diffusion U-Nets, style transfer, ResNet-GN): ONNX's
// InstanceNormalization (PyTorch's InstanceNorm2d/1d) on an image or a sequence, and PyTorch's
// GroupNorm below opset 18 as Reshape [batch, G, −1] → InstanceNormalization → Reshape back (its
// scale and shift follow as a Mul and an Add, which affineOps.ts folds into the layer). findGroupNorms finds the
// chain before the graph is read; its last Reshape becomes one groupnorm layer, the others are
// skipped. The layer mixes the channels of a group: structured pruning leaves them.
import type { GroupNormLayer } from '../../network/types.js';
import { listText, shapeText } from './common.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { sameAs, type GraphReader, type NetTensor } from './graphReader.js';

/** A GroupNorm chain's last Reshape (with the first Reshape's and the norm's node indices), or a node inside it (skipped). */
export type GroupNormChain = { first: number; norm: number } | 'inner';

/** The GroupNorm chains of the graph (see the file header), by node index. */
export function findGroupNorms(reader: GraphReader, outputs: ReadonlySet<string>): Map<number, GroupNormChain> {
  const onlyReader = (index: number): number | undefined => {
    const name = reader.nodes[index].output?.[0] ?? '';
    const readers = reader.consumers.get(name) ?? [];
    return !outputs.has(name) && readers.length === 1 ? readers[0] : undefined;
  };
  const chains = new Map<number, GroupNormChain>();
  reader.nodes.forEach((_, first) => {
    if (reader.opType(first) !== 'Reshape') return;
    const norm = onlyReader(first);
    if (norm === undefined || reader.opType(norm) !== 'InstanceNormalization' || reader.nodes[norm].input?.[0] !== reader.nodes[first].output?.[0]) return;
    const last = onlyReader(norm);
    if (last === undefined || reader.opType(last) !== 'Reshape' || reader.nodes[last].input?.[0] !== reader.nodes[norm].output?.[0]) return;
    chains.set(first, 'inner');
    chains.set(norm, 'inner');
    chains.set(last, { first, norm });
  });
  return chains;
}

/** An InstanceNormalization's scale, bias (per channel of `count`) and epsilon. */
function normParams(ctx: ImportContext, index: number, count: number): { scale: Float32Array; bias: Float32Array; epsilon: number } {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['epsilon']);
  const epsilon = reader.floatAttribute(index, attrs, 'epsilon', 1e-5);
  if (!(epsilon >= 0 && Number.isFinite(epsilon))) throw reader.nodeError(index, `epsilon ${epsilon}: expected a finite value ≥ 0`);
  const [scale, bias] = (['scale', 'B'] as const).map((what, k) => {
    const constant = reader.constInput(index, k + 1, what);
    const { dims, values } = reader.weightValues(index, constant, what);
    if (values.length !== count) throw reader.nodeError(index, `${what} '${constant.root}' has shape ${shapeText(dims)}: expected [${count}]`);
    return values;
  });
  return { scale, bias, epsilon };
}

/** The groupnorm layer of x (an image, or a sequence as our [1, L, C]) with `groups`, emitted as node `index`. */
function emitGroupNorm(ctx: ImportContext, index: number, x: NetTensor, groups: number, scale: Float32Array, offset: Float32Array, epsilon: number): void {
  const layer: GroupNormLayer = { kind: 'groupnorm', name: ctx.reader.layerName(index), groups, scale, offset, epsilon };
  ctx.emit(index, layer, [x], sameAs(x));
}

/** InstanceNormalization of an image or a sequence: a groupnorm of one channel per group. */
export const instanceNormalization: Handler = (ctx, index) => {
  const x = ctx.net(index, 0, { sequence: true });
  if (x.ours.length !== 3 || x.chw) throw ctx.reader.nodeError(index, `input has shape [batch, ${x.dims.join(', ')}]: expected an image [batch, C, H, W] or a sequence [batch, C, L]`);
  const C = x.dims[0];
  const { scale, bias, epsilon } = normParams(ctx, index, C);
  emitGroupNorm(ctx, index, x, C, scale, bias, epsilon);
};

/** A GroupNorm chain's last Reshape (node `index`): the groupnorm of the first Reshape's input. */
export function emitGroupNormChain(ctx: ImportContext, index: number, chain: Exclude<GroupNormChain, 'inner'>): void {
  const { reader } = ctx;
  const x = ctx.net(chain.first, 0, { sequence: true });
  if (x.ours.length !== 3 || x.chw) throw reader.nodeError(chain.first, `input has shape [batch, ${x.dims.join(', ')}]: expected an image or a sequence (GroupNorm's Reshape to [batch, G, −1])`);
  const C = x.dims[0];
  const split = ctx.staticValues(chain.first, 1, 'shape');
  const groups = split[1];
  const leadOk = (v: number | 'batch' | undefined) => v === 'batch' || v === 0 || v === -1 || v === 1;
  if (split.length !== 3 || !leadOk(split[0]) || typeof groups !== 'number' || !(groups >= 1) || C % groups !== 0 || (split[2] !== -1 && split[2] !== (x.dims.reduce((a, b) => a * b, 1) / groups)))
    throw reader.nodeError(chain.first, `shape ${listText(split.map((v) => (v === 'batch' ? -1 : v)))} of [batch, ${x.dims.join(', ')}]: expected [batch, G, −1] with G dividing the ${C} channels (GroupNorm)`);
  const back = ctx.tensors.get(reader.nodes[index].input?.[1] ?? '');
  const target = back && isStatic(back) ? back.values : ctx.staticValues(index, 1, 'shape');
  const same = target.length === x.dims.length + 1 && leadOk(target[0]) && target.slice(1).every((v, k) => v === x.dims[k] || (v === -1 && k === 0));
  if (!same) throw reader.nodeError(index, `shape ${listText(target.map((v) => (v === 'batch' ? -1 : v)))}: expected the input's [batch, ${x.dims.join(', ')}] back (GroupNorm)`);
  // The norm's scale and bias are per group: each channel of a group takes its group's.
  const { scale, bias, epsilon } = normParams(ctx, chain.norm, groups);
  const per = C / groups;
  emitGroupNorm(ctx, index, x, groups, Float32Array.from({ length: C }, (_, c) => scale[Math.floor(c / per)]), Float32Array.from({ length: C }, (_, c) => bias[Math.floor(c / per)]), epsilon);
}

/** GroupNormalization (opset 18: scale and bias per group; opset 21: per channel) of an image or a sequence. */
export const groupNormalization: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['epsilon', 'num_groups', 'stash_type']);
  const x = ctx.net(index, 0, { sequence: true });
  if (x.ours.length !== 3 || x.chw) throw reader.nodeError(index, `input has shape [batch, ${x.dims.join(', ')}]: expected an image [batch, C, H, W] or a sequence [batch, C, L]`);
  const C = x.dims[0];
  const groups = reader.intAttribute(index, attrs, 'num_groups', 0);
  const epsilon = reader.floatAttribute(index, attrs, 'epsilon', 1e-5);
  if (!(groups >= 1) || C % groups !== 0 || !(epsilon >= 0 && Number.isFinite(epsilon)))
    throw reader.nodeError(index, `num_groups ${groups}, epsilon ${epsilon}: expected a positive divisor of the ${C} channels and a finite epsilon ≥ 0`);
  const [scale, bias] = (['scale', 'bias'] as const).map((what, k) => {
    const constant = reader.constInput(index, k + 1, what);
    const { dims, values } = reader.weightValues(index, constant, what);
    if (values.length !== groups && values.length !== C) throw reader.nodeError(index, `${what} '${constant.root}' has shape ${shapeText(dims)}: expected [${groups}] (per group) or [${C}] (per channel)`);
    return values.length === C ? values : Float32Array.from({ length: C }, (_, c) => values[Math.floor(c / (C / groups))]);
  });
  emitGroupNorm(ctx, index, x, groups, scale, bias, epsilon);
};
