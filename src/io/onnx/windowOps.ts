// The window ops' shared pieces and the pools: strides, output sizes, a zero Pad merged into the
// Conv or AveragePool after it (PyTorch writes AvgPool2d as Pad + AveragePool), ceil_mode as extra
// padding at the bottom and right, and the global means (GlobalAveragePool, ReduceMean over H, W).
// A 1-D op on a sequence [C, L] is the 2-D op of height 1 (liftedAttributes).
import { padLayer } from '../../network/composite.js';
import { windowAxis } from '../../network/shapes.js';
import type { Padding, UpsampleMode } from '../../network/types.js';
import { checkedDims, listText, MAX_DIMENSION, MAX_VALUES, shapeText, tfSamePads } from './common.js';
import type { Handler, ImportContext } from './context.js';
import { isPooled, isSequence, pooled, pooledSequence, vector, windowOutput, type GraphReader, type NetTensor } from './graphReader.js';

type Attributes = ReturnType<GraphReader['attributes']>;
type Pads = [number, number, number, number];

export function stridesOf(reader: GraphReader, index: number, attrs: Attributes): [number, number] {
  const strides = reader.intsAttribute(index, attrs, 'strides') ?? [1, 1];
  if (strides.length !== 2 || strides.some((s) => s < 1)) throw reader.nodeError(index, `attribute strides=${listText(strides)}: expected 2 positive values`);
  return [strides[0], strides[1]];
}

/**
 * A 1-D window op's attributes (on a sequence [batch, C, L]) as the 2-D op's of height 1:
 * kernel_shape [k] → [1, k], strides and dilations likewise, pads [b, e] → [0, b, 0, e].
 */
export function liftedAttributes(reader: GraphReader, index: number, attrs: Attributes): Attributes {
  const lifted = new Map(attrs);
  for (const name of ['kernel_shape', 'strides', 'dilations', 'pads']) {
    const values = reader.intsAttribute(index, attrs, name);
    if (!values) continue;
    const count = name === 'pads' ? 2 : 1;
    if (values.length !== count) throw reader.nodeError(index, `attribute ${name}=${listText(values)}: expected ${count} value${count > 1 ? 's' : ''} for a 1-D op on a sequence [batch, C, L]`);
    lifted.set(name, { ...attrs.get(name)!, ints: name === 'pads' ? [0, values[0], 0, values[1]] : [1, values[0]] });
  }
  return lifted;
}

/** Output [H, W] of a window op, or an error naming the node. */
export function windowOut(reader: GraphReader, index: number, hw: [number, number], kernel: [number, number], strides: [number, number], padding: Padding): [number, number] {
  const out = [0, 1].map((d) => windowAxis(hw[d], kernel[d], strides[d], Array.isArray(padding) ? [padding[d], padding[d + 2]] : padding).out);
  if (out[0] < 1 || out[1] < 1) throw reader.nodeError(index, `window ${kernel.join('×')} does not fit the ${hw.join('×')} input with pads ${JSON.stringify(padding)}`);
  return [out[0], out[1]];
}

/** Padding as explicit [top, left, bottom, right]. */
function explicit(padding: Padding, hw: [number, number], kernel: [number, number], strides: [number, number]): Pads {
  if (padding === 'valid') return [0, 0, 0, 0];
  if (padding === 'same') {
    const [h, w] = [0, 1].map((d) => tfSamePads(hw[d], kernel[d], strides[d]));
    return [h[0], w[0], h[1], w[1]];
  }
  return padding;
}

/** Input 0 of a window op: the tensor it reads, or a zero Pad's input and pads when a Pad is before it. */
export function windowSource(ctx: ImportContext, index: number): { x: NetTensor; pads: Pads | null } {
  const pending = ctx.pendingPads.get(ctx.reader.nodes[index].input?.[0] ?? '');
  return pending ? { x: pending.tensor, pads: pending.pads } : { x: ctx.net(index, 0, { sequence: true }), pads: null };
}

/**
 * Input 0 of a window op and its padding: the node's own, plus a zero Pad's before it (then the
 * input is the Pad's). `kernel` is the window's span on the input.
 */
export function windowInput(
  ctx: ImportContext,
  index: number,
  attrs: Attributes,
  kernel: [number, number],
  strides: [number, number],
  source = windowSource(ctx, index),
): { x: NetTensor; hw: [number, number]; padding: Padding; padded: boolean } {
  const { reader } = ctx;
  const { x, pads: pending } = source;
  const [, H, W] = reader.requireImage(index, x);
  if (!pending) return { x, hw: [H, W], padding: reader.padding(index, attrs, [H, W], kernel, strides), padded: false };
  const [t, l, b, r] = pending;
  const paddedHw: [number, number] = [H + t + b, W + l + r];
  const own = reader.padding(index, attrs, paddedHw, kernel, strides);
  if (own === 'same') throw reader.nodeError(index, `auto_pad SAME after a Pad: expected explicit pads`);
  const [ot, ol, ob, or] = explicit(own, paddedHw, kernel, strides);
  return { x, hw: [H, W], padding: [ot + t, ol + l, ob + b, or + r], padded: true };
}

/** PyTorch's ceil_mode: the bottom and right pads that add the last, partial windows (each starting inside the input or its top/left padding). */
function ceilPads(padding: Pads, hw: [number, number], kernel: [number, number], strides: [number, number]): Pads {
  const extra = [0, 1].map((d) => {
    const [before, after] = [padding[d], padding[d + 2]];
    const span = hw[d] + before + after - kernel[d];
    let out = Math.ceil(span / strides[d]) + 1;
    if ((out - 1) * strides[d] >= hw[d] + before) out--;
    return Math.max(0, (out - 1) * strides[d] + kernel[d] - (hw[d] + before + after));
  });
  return [padding[0], padding[1], padding[2] + extra[0], padding[3] + extra[1]];
}

export function pool(kind: 'maxpool2d' | 'avgpool2d'): Handler {
  return (ctx, index) => {
    const { reader } = ctx;
    const allowed = kind === 'maxpool2d' ? ['auto_pad', 'ceil_mode', 'dilations', 'kernel_shape', 'pads', 'storage_order', 'strides'] : ['auto_pad', 'ceil_mode', 'count_include_pad', 'kernel_shape', 'pads', 'strides'];
    const source = windowSource(ctx, index);
    const given2d = reader.attributes(index, allowed);
    const attrs = isSequence(source.x) ? liftedAttributes(reader, index, given2d) : given2d;
    const dilations = reader.intsAttribute(index, attrs, 'dilations');
    if (dilations && dilations.some((d) => d !== 1)) throw reader.nodeError(index, `unsupported attribute dilations=${listText(dilations)}: expected [1,1]`);
    const kernelShape = reader.intsAttribute(index, attrs, 'kernel_shape');
    if (!kernelShape || kernelShape.length !== 2 || kernelShape.some((k) => k < 1))
      throw reader.nodeError(index, `attribute kernel_shape=${kernelShape ? listText(kernelShape) : '(missing)'}: expected [kh,kw]`);
    const poolSize: [number, number] = [kernelShape[0], kernelShape[1]];
    const strides = stridesOf(reader, index, attrs);
    const { x, hw, padding: given, padded } = windowInput(ctx, index, attrs, poolSize, strides, source);
    const [C] = x.dims;
    const ownPads = reader.intsAttribute(index, attrs, 'pads') ?? [];
    let countIncludePad = kind === 'avgpool2d' && reader.intAttribute(index, attrs, 'count_include_pad', 0) === 1;
    if (padded) {
      // The Pad's zeros are values: they count in the mean (and the pool's own pads must too). (Before a
      // MaxPool, where they could win, the Pad itself refuses.)
      if (!countIncludePad && ownPads.some((p) => p !== 0)) throw reader.nodeError(index, `pads=${listText(ownPads)} with count_include_pad=0 after a Pad: expected the Pad's zeros and the pads counted alike`);
      countIncludePad = true;
    }
    let padding = given;
    const ceilMode = reader.intAttribute(index, attrs, 'ceil_mode', 0);
    if (ceilMode === 1) {
      const pads = explicit(given, hw, poolSize, strides);
      padding = ceilPads(pads, hw, poolSize, strides);
      // The last windows' positions past the padded input are not counted by PyTorch or onnxruntime, even with count_include_pad.
      if (countIncludePad && padding.some((p, k) => p !== pads[k])) throw reader.nodeError(index, `ceil_mode=1 with count_include_pad=1 adds partial windows: expected count_include_pad=0 or windows that fit`);
    } else if (ceilMode !== 0) throw reader.nodeError(index, `attribute ceil_mode=${ceilMode}: expected 0 or 1`);
    if (Array.isArray(padding) && (padding[0] >= poolSize[0] || padding[2] >= poolSize[0] || padding[1] >= poolSize[1] || padding[3] >= poolSize[1]))
      throw reader.nodeError(index, `pads ${listText(padding)} (with ${padded ? 'the Pad before it' : 'ceil_mode'}): expected each pad smaller than the ${poolSize.join('×')} window`);
    const [outH, outW] = windowOut(reader, index, hw, poolSize, strides, padding);
    const name = reader.layerName(index);
    const layer = kind === 'maxpool2d' ? { kind, name, poolSize, strides, padding } : { kind, name, poolSize, strides, padding, countIncludePad };
    ctx.emit(index, layer, [x], windowOutput(x, C, outH, outW));
  };
}

/**
 * A Pad of H and W (of L): nothing when all its pads are 0; zeros read by one Conv or AveragePool
 * merge into its pads; any other (reflected, repeated edges, a constant, zeros before a MaxPool)
 * is a rearrange (composite.ts padLayer).
 */
export const pad: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['mode', 'pads', 'value']);
  const mode = reader.stringAttribute(index, attrs, 'mode', 'constant');
  if (mode !== 'constant' && mode !== 'reflect' && mode !== 'edge') throw reader.nodeError(index, `attribute mode='${mode}': expected 'constant', 'reflect' or 'edge'`);
  const x = ctx.net(index, 0, { sequence: true });
  const pads = reader.opset < 11 ? (reader.intsAttribute(index, attrs, 'pads') ?? []) : ctx.staticValues(index, 1, 'pads');
  const value = reader.opset < 11 ? reader.floatAttribute(index, attrs, 'value', 0) : 0;
  const constant = reader.opset < 11 ? null : reader.optionalConstInput(index, 2, 'constant_value');
  const rank = x.dims.length + 1;
  if (pads.length !== 2 * rank || pads.some((p) => typeof p !== 'number' || p < 0))
    throw reader.nodeError(index, `pads ${listText(pads.map((p) => (p === 'batch' ? -1 : p)))}: expected ${2 * rank} values ≥ 0 (begin and end of each axis)`);
  const p = pads as number[];
  const constantValue: ArrayLike<number> = value !== 0 ? [value] : constant ? reader.weightValues(index, constant, 'constant_value').values : [0];
  if (constantValue.length !== 1 || !Number.isFinite(constantValue[0])) throw reader.nodeError(index, `constant_value: expected one finite value, found ${constantValue.length} values`);
  if (p.every((v) => v === 0)) return ctx.alias(index, x);
  const output = reader.nodes[index].output?.[0] ?? '';
  const readers = reader.consumers.get(output) ?? [];
  const readerOp = readers.length === 1 ? reader.nodes[readers[0]].opType : '';
  // [top, left, bottom, right]; a sequence's L is our W.
  const spatial: Pads | null = x.ours.length !== 3 ? null : isSequence(x) ? [0, p[2], 0, p[5]] : rank === 4 ? [p[2], p[3], p[6], p[7]] : null;
  const channelPads = isSequence(x) ? [p[0], p[1], p[3], p[4]] : [p[0], p[1], p[4], p[5]];
  if (!spatial || channelPads.some((v) => v !== 0))
    throw reader.nodeError(index, `pads ${listText(p)} on [batch, ${x.dims.join(', ')}]: expected pads around an image's H and W (a sequence's L) only`);
  const merged = mode === 'constant' && constantValue[0] === 0 && (readerOp === 'Conv' || readerOp === 'AveragePool') && !ctx.outputs.has(output);
  if (merged) return void ctx.pendingPads.set(output, { tensor: x, pads: spatial });
  const [H, W, C] = x.ours;
  const [top, left, bottom, right] = spatial;
  if (mode === 'reflect' && (Math.max(top, bottom) >= H || Math.max(left, right) >= W))
    throw reader.nodeError(index, `reflect pads ${listText(p)} on [batch, ${x.dims.join(', ')}]: expected each pad smaller than its axis (a mirror does not repeat the edge)`);
  // The padded image is sized here, before its index map is: a file's pads may say anything.
  if (!checkedDims([H + top + bottom, W + left + right, C]))
    throw reader.nodeError(index, `pads ${listText(p)} on [batch, ${x.dims.join(', ')}]: expected a padded image of at most ${MAX_DIMENSION} per axis, ${MAX_VALUES} values`);
  const layer = padLayer(reader.layerName(index), [H, W, C], [top, bottom, left, right], mode, constantValue[0]);
  ctx.emit(index, layer, [x], windowOutput(x, C, H + top + bottom, W + left + right));
};

/** GlobalAveragePool and GlobalMaxPool (PyTorch's AdaptiveAvgPool2d(1), AdaptiveMaxPool2d(1)). */
const globalPool = (kind: 'globalavgpool' | 'globalmaxpool'): Handler => (ctx, index) => {
  ctx.reader.attributes(index, []);
  const x = ctx.net(index, 0, { sequence: true });
  const [C] = ctx.reader.requireImage(index, x);
  // ONNX keeps [C, 1, 1] ([C, 1] of a sequence); ours is [C] (the same values in the same order).
  ctx.emit(index, { kind, name: ctx.reader.layerName(index) }, [x], isSequence(x) ? pooledSequence(C) : pooled(C));
};
export const globalAveragePool = globalPool('globalavgpool');
export const globalMaxPool = globalPool('globalmaxpool');

/**
 * ReduceMean or ReduceMax (PyTorch 2 writes adaptive pools to 1 and `amax` so) over H and W, over
 * L, or over the tokens: a global pool. ReduceSum (mean pooling's sum of the masked tokens): the
 * mean times the positions summed, a per-channel scale after the pool.
 */
const reduce = (kind: 'globalavgpool' | 'globalmaxpool', sum = false): Handler => (ctx, index) => {
  const what = sum ? 'sum' : kind === 'globalavgpool' ? 'mean' : 'max';
  const { reader } = ctx;
  const name = reader.layerName(index);
  // The pool, and for a sum its scale by the `positions` pooled (the node's output).
  const emit = (x: NetTensor, out: Omit<NetTensor, 'layer'>, positions: number) => {
    if (!sum) return void ctx.emit(index, { kind, name }, [x], out);
    const C = out.ours[out.ours.length - 1];
    const mean = `${name}:mean`;
    ctx.emitLayers(index, [{ kind, name: mean, from: [x.layer] }, { kind: 'batchnorm', name, from: [mean], scale: new Float32Array(C).fill(positions), offset: new Float32Array(C) }], out);
  };
  const attrs = reader.attributes(index, ['axes', 'keepdims', 'noop_with_empty_axes']);
  const x = ctx.net(index, 0, { sequence: true, channelsLast: true });
  const axes = reader.intsAttribute(index, attrs, 'axes') ?? (reader.nodes[index].input?.[1] ? ctx.staticValues(index, 1, 'axes') : []);
  const keep = reader.intAttribute(index, attrs, 'keepdims', 1);
  if (x.channelsLast && !x.nd && x.dims.length === 3) {
    // A channels-last image [batch, H, W, C] over H and W (Keras's GlobalAveragePooling2D exported
    // to ONNX, and its max): the global pool of ours, C features ([1, 1, C] kept: [C] of ours).
    const sorted = axes.map((a) => (typeof a === 'number' && a < 0 ? a + 4 : a)).sort();
    if (listText(sorted as number[]) !== listText([1, 2])) throw reader.nodeError(index, `axes ${listText(axes.map((a) => (a === 'batch' ? -1 : a)))} of channels-last [batch, ${x.dims.join(', ')}]: expected the ${what} over H and W (axes [1, 2])`);
    const C = x.dims[2];
    return emit(x, keep ? { dims: [1, 1, C], ours: [C], chw: null, channelsLast: true } : vector(C), x.dims[0] * x.dims[1]);
  }
  if (x.channelsLast) {
    // Tokens [batch, T, D] over T (x.mean(1)): the global pool of ours [1, T, D], D features.
    const axis = typeof axes[0] === 'number' && axes[0] < 0 ? axes[0] + 3 : axes[0];
    if (x.nd || x.dims.length !== 2 || axes.length !== 1 || axis !== 1 || keep) throw reader.nodeError(index, `axes ${listText(axes.map((a) => (a === 'batch' ? -1 : a)))}, keepdims ${keep} of channels-last [batch, ${x.dims.join(', ')}]: expected the ${what} over the tokens of tokens [batch, T, D] (axis 1, keepdims 0)`);
    return emit(x, vector(x.dims[1]), x.dims[0]);
  }
  const rank = x.dims.length + 1;
  const sorted = axes.map((a) => (typeof a === 'number' && a < 0 ? a + rank : a)).sort();
  const spatial = isSequence(x) ? [2] : [2, 3];
  if (x.ours.length !== 3 || shapeText(sorted as number[]) !== shapeText(spatial))
    throw reader.nodeError(index, `axes ${listText(axes.map((a) => (a === 'batch' ? -1 : a)))} of [batch, ${x.dims.join(', ')}]: expected the ${what} over H and W (axes [2, 3]) of an image, or over L (axis 2) of a sequence`);
  const C = x.dims[0];
  emit(x, keep ? (isSequence(x) ? pooledSequence(C) : pooled(C)) : vector(C), x.dims.slice(1).reduce((a, b) => a * b, 1));
};

export const reduceMean = reduce('globalavgpool');
export const reduceMax = reduce('globalmaxpool');
export const reduceSum = reduce('globalavgpool', true);

/** The (coordinate_transformation_mode, nearest_mode) pairs that are ⌊y / s⌋ for whole factors s: nearest upsampling. */
const NEAREST_AS_FLOOR = ['asymmetric floor', 'tf_half_pixel_for_nn floor', 'half_pixel round_prefer_floor', 'half_pixel round_prefer_ceil', 'pytorch_half_pixel round_prefer_floor', 'pytorch_half_pixel round_prefer_ceil'];
/** Linear mode's coordinate_transformation_mode as our bilinear modes (pytorch_half_pixel is half_pixel unless an axis ends at one value). */
const BILINEAR: Record<string, UpsampleMode> = { half_pixel: 'bilinear', pytorch_half_pixel: 'bilinear', align_corners: 'bilinear-align-corners', asymmetric: 'bilinear-asymmetric' };

/**
 * Resize (opset ≥ 10) and Upsample (opset 7–9) by whole factors of H and W (of L), nearest or
 * linear: an upsample layer (U-Net, FPN, DeepLab decoders: PyTorch's nn.Upsample(scale_factor=2),
 * F.interpolate, bilinear with or without align_corners). The factors come from scales, or from
 * sizes (folded for the input shape).
 */
export const resize: Handler = (ctx, index) => {
  const { reader } = ctx;
  const node = reader.nodes[index];
  const attrs = reader.attributes(index, ['mode', 'coordinate_transformation_mode', 'nearest_mode', 'cubic_coeff_a', 'exclude_outside', 'extrapolation_value', 'scales', 'antialias', 'axes', 'keep_aspect_ratio_policy']);
  const x = ctx.net(index, 0, { sequence: true });
  // A pooled tensor (ASPP's image pooling) is the 1×1 image: every mode broadcasts it.
  const [C, H, W] = isPooled(x) ? [x.ours[0], 1, 1] : reader.requireImage(index, x);
  const mode = reader.stringAttribute(index, attrs, 'mode', 'nearest');
  const modern = node.opType === 'Resize' && reader.opset >= 11;
  // Before opset 11: asymmetric (nearest ⌊y / s⌋).
  const coordinates = modern ? reader.stringAttribute(index, attrs, 'coordinate_transformation_mode', 'half_pixel') : 'asymmetric';
  const rule = mode === 'nearest' ? `${coordinates} ${modern ? reader.stringAttribute(index, attrs, 'nearest_mode', 'round_prefer_floor') : 'floor'}` : coordinates;
  const ours: UpsampleMode | undefined = mode === 'nearest' ? (NEAREST_AS_FLOOR.includes(rule) ? 'nearest' : undefined) : mode === 'linear' ? BILINEAR[coordinates] : undefined;
  if (!ours || reader.intAttribute(index, attrs, 'antialias', 0) !== 0)
    throw reader.nodeError(index, `mode '${mode}' (${rule}): expected nearest upsampling (coordinate_transformation_mode 'asymmetric' with nearest_mode 'floor', as PyTorch writes it, or 'half_pixel' with a round nearest_mode) or linear (half_pixel, pytorch_half_pixel, align_corners or asymmetric)`);
  const dims = [1, ...x.dims]; // ONNX's, the batch as 1
  const scalesAt = node.opType === 'Upsample' || reader.opset < 11 ? 1 : 2;
  const scalesConst = node.opType === 'Upsample' && reader.opset < 9 ? null : reader.optionalConstInput(index, scalesAt, 'scales');
  let factors: number[];
  const scales = scalesConst ? reader.weightValues(index, scalesConst, 'scales').values : node.opType === 'Upsample' && reader.opset < 9 ? Float32Array.from(attrs.get('scales')?.floats ?? []) : new Float32Array();
  // Opset 18: scales or sizes of the listed axes only (the others keep their size); a policy
  // other than 'stretch' changes sizes only where they would not keep the aspect ratio.
  const axes = (reader.intsAttribute(index, attrs, 'axes') ?? dims.map((_, k) => k)).map((a) => (a < 0 ? a + dims.length : a));
  const policy = reader.stringAttribute(index, attrs, 'keep_aspect_ratio_policy', 'stretch');
  if (policy !== 'stretch') throw reader.nodeError(index, `keep_aspect_ratio_policy '${policy}': expected 'stretch' (sizes as given)`);
  let given: number[];
  if (scales.length) given = [...scales];
  else if (modern && node.input?.[3]) given = ctx.staticValues(index, 3, 'sizes').map((v, k) => (typeof v === 'number' ? v / dims[axes[k]] : axes[k] === 0 ? 1 : NaN));
  else throw reader.nodeError(index, `has neither scales nor sizes: expected one of them`);
  if (given.length !== axes.length || !axes.every((a) => a >= 0 && a < dims.length))
    throw reader.nodeError(index, `${given.length} scales or sizes for axes ${listText(axes)} of [batch, ${x.dims.join(', ')}]: expected one per axis listed`);
  factors = dims.map(() => 1);
  axes.forEach((a, k) => (factors[a] = given[k]));
  const whole = (f: number) => Number.isInteger(f) && f >= 1 && f <= 1024;
  if (factors.length !== dims.length || factors[0] !== 1 || factors[1] !== 1 || !factors.slice(2).every(whole))
    throw reader.nodeError(index, `scales ${listText(factors.map((f) => Number(f.toPrecision(6))))} of [batch, ${x.dims.join(', ')}]: expected 1 for the batch and the channels and whole factors of the rest`);
  const scale: [number, number] = factors.length === 4 ? [factors[2], factors[3]] : [1, factors[2]];
  ctx.emit(index, { kind: 'upsample', name: reader.layerName(index), scale, ...(ours === 'nearest' ? {} : { mode: ours }) }, [x], windowOutput(x, C, H * scale[0], W * scale[1]));
};
