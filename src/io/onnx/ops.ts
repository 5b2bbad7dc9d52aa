// One handler per ONNX op: reads the node's inputs as our tensors (ImportContext), checks its
// attributes, and emits our layers (or folds: a MatMul's bias Add, a BatchNormalization into the
// Conv/Gemm before it, shape computations).
import { depthSpace, split } from './channelOps.js';
import { convTranspose } from './convTranspose.js';
import { layerNormalization, transpose } from './layoutOps.js';
import type { ActivationLayer, Conv2DLayer, DenseLayer } from '../../network/types.js';
import { windowSpan } from '../../network/shapes.js';
import { FLOAT, listText, oihwToHwio, product, shapeText } from './common.js';
import { isPooled, isSequence, pooled, pooledSequence, sameAs, sequence as sequenceOf, vector, windowOutput, image, type NetTensor } from './graphReader.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { SHAPE_HANDLERS } from './shapeOps.js';
import { clipStatic, concatTables, reshapeStatic } from './staticValues.js';
import { ifNode } from './ifOps.js';
import { denseBias, gemm, matMul } from './denseOps.js';
import { concatTokens, fieldsOf, fullOf, reshapeTokens, shapeAtBatchOne, view } from './tokenOps.js';
import { groupNormalization, instanceNormalization } from './normOps.js';
import { mul, squeezeConv } from './gating.js';
import { flattenMask, MASK_HANDLERS } from './maskOps.js';
import { constantAffine, div, foldShapeValues, mergeOf, sub, variadic } from './affineOps.js';
import { batchNormalization, layerNamed, soleReaderOf, viewedConv } from './foldOps.js';
import { globalAveragePool, globalMaxPool, liftedAttributes, pad, pool, reduceMean, reduceMax, reduceSum, resize, stridesOf, windowInput, windowOut, windowSource } from './windowOps.js';


const add: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const names = reader.nodes[index].input ?? [];
  if (names.length !== 2) throw reader.nodeError(index, `has ${names.length} inputs: expected 2`);
  if (foldShapeValues(ctx, index, 'Add')) return;
  const constPosition = names.findIndex((n) => reader.consts.has(n));
  if (constPosition >= 0) {
    // A MatMul's bias (the MatMul a dense layer, or a 1×1 conv on a channels-last image), or a Conv's seen channels-last.
    const x = ctx.net(index, 1 - constPosition, { channelsLast: true, sequence: true });
    const viewed = viewedConv(ctx, index, x);
    const binding = viewed ?? soleReaderOf(ctx, index, x);
    const layer = binding && (layerNamed(reader, binding.layer) as DenseLayer | Conv2DLayer);
    // Anything else: x + c, one value or one per channel.
    if (!binding || (binding.op !== 'MatMul' && !viewed) || !layer || layer.bias) return void constantAffine(ctx, index, 'Add');
    const biasConst = reader.consts.get(names[constPosition])!;
    layer.bias = denseBias(reader, index, biasConst, layer.kind === 'dense' ? layer.units : layer.filters);
    binding.bias = biasConst.root;
    binding.biasReader = index;
    binding.output = reader.nodes[index].output?.[0] ?? '';
    ctx.alias(index, x);
    return;
  }
  mergeOf(ctx, index, 'sum'); // a residual sum
};

const conv: Handler = (ctx, index) => {
  const { reader } = ctx;
  const given = reader.attributes(index, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'pads', 'strides']);
  const source = windowSource(ctx, index);
  if (isPooled(source.x)) return squeezeConv(ctx, index, source.x, given);
  const [C] = reader.requireImage(index, source.x);
  // Conv1d: the weight [cout, cin, k] and 1-D attributes, as a 1×k conv of ours.
  const sequence = isSequence(source.x);
  const attrs = sequence ? liftedAttributes(reader, index, given) : given;
  const groups = reader.intAttribute(index, attrs, 'group', 1);
  if (!(groups >= 1) || C % groups !== 0) throw reader.nodeError(index, `attribute group=${groups}: expected a positive divisor of the ${C} input channels`);
  const dilations = reader.intsAttribute(index, attrs, 'dilations') ?? [1, 1];
  if (dilations.length !== 2 || dilations.some((d) => !(d >= 1 && d <= 1 << 16))) throw reader.nodeError(index, `attribute dilations=${listText(dilations)}: expected 2 positive values`);
  const dilated = dilations.some((d) => d !== 1);
  const weight = reader.constInput(index, 1, 'weight');
  const { dims: given4d, values } = reader.weightValues(index, weight, 'weight');
  const wDims = !sequence ? given4d : given4d.length === 3 ? [given4d[0], given4d[1], 1, given4d[2]] : [];
  if (wDims.length !== 4 || wDims[1] !== C / groups || wDims[0] % groups !== 0)
    throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(given4d)}: expected ${sequence ? `[cout, ${C / groups}, k] (OIL` : `[cout, ${C / groups}, kh, kw] (OIHW`}, ${C} input channels in ${groups} group${groups > 1 ? 's' : ''})`);
  const [cout, , kh, kw] = wDims;
  const kernelShape = reader.intsAttribute(index, attrs, 'kernel_shape');
  if (kernelShape && (kernelShape.length !== 2 || kernelShape[0] !== kh || kernelShape[1] !== kw))
    throw reader.nodeError(index, `attribute kernel_shape=${listText(sequence ? kernelShape.slice(1) : kernelShape)}: expected ${listText(sequence ? [kw] : [kh, kw])} as the weight`);
  const strides = stridesOf(reader, index, attrs);
  const span = windowSpan([kh, kw], [dilations[0], dilations[1]]);
  const { x, hw, padding } = windowInput(ctx, index, attrs, span, strides, source);
  const [outH, outW] = windowOut(reader, index, hw, span, strides, padding);
  const biasConst = reader.optionalConstInput(index, 2, 'bias');
  let bias: Float32Array | null = null;
  if (biasConst) {
    const { dims: bDims, values: bValues } = reader.weightValues(index, biasConst, 'bias');
    if (bValues.length !== cout) throw reader.nodeError(index, `bias '${biasConst.root}' has shape ${shapeText(bDims)}: expected [${cout}]`);
    bias = bValues;
  }
  const name = reader.layerName(index);
  const layer: Conv2DLayer = {
    kind: 'conv2d', name, kernel: oihwToHwio(values, cout, C / groups, kh, kw), kernelSize: [kh, kw], inChannels: C, filters: cout, bias, strides, padding,
    ...(groups > 1 ? { groups } : {}), ...(dilated ? { dilations: [dilations[0], dilations[1]] as [number, number] } : {}), activation: 'linear',
  };
  ctx.emit(index, layer, [x], windowOutput(x, cout, outH, outW));
  const output = reader.nodes[index].output?.[0] ?? '';
  reader.bindings.push({
    kind: 'conv2d', layer: name, node: reader.describe(index), output, weight: weight.root, bias: biasConst?.root ?? null, weightReader: index, biasReader: biasConst ? index : null,
    filters: cout, inChannels: C, groups, kernelSize: [kh, kw], foldedBatchNorm: null, ...(sequence ? { sequence: true as const } : {}),
  });
};


function activation(fn: ActivationLayer['fn'], params: (ctx: ImportContext, index: number) => Partial<ActivationLayer> = () => ({})): Handler {
  return (ctx, index) => {
    const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
    const extra = params(ctx, index);
    ctx.emit(index, { kind: 'activation', name: ctx.reader.layerName(index), fn, ...extra }, [x], sameAs(x));
  };
}

/** PRelu: its slope one value or one per channel (nn.PReLU(C): [C, 1, 1]), bound like a BatchNorm's parameters for channel removal. */
const prelu: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const constant = reader.constInput(index, 1, 'slope');
  const { dims, values } = reader.weightValues(index, constant, 'slope');
  const C = x.ours[x.ours.length - 1];
  // Right-aligned against [batch, ...dims]: the channels on axis 1 (channels-first) or last.
  const full = fullOf(x) ?? [1, ...x.dims];
  const axis = x.channelsLast ? full.length - 1 : 1;
  const aligned = [...Array(Math.max(0, full.length - dims.length)).fill(1), ...dims];
  const perChannel = values.length > 1 && aligned.length === full.length && aligned.every((d, k) => (k === axis ? d === C : d === 1));
  if (!(values.length === 1 || perChannel) || x.chw)
    throw reader.nodeError(index, `slope '${constant.root}' of shape ${shapeText(dims)} on [batch, ${x.dims.join(', ')}]: expected one value or one per channel (${x.channelsLast ? `[${C}]` : `[${C}${x.dims.slice(1).map(() => ', 1').join('')}]`})`);
  const name = reader.layerName(index);
  if (perChannel) reader.batchNorms.push({ layer: name, params: [constant.root], reader: index });
  ctx.emit(index, { kind: 'activation', name, fn: 'prelu', slopes: perChannel ? values : new Float32Array(C).fill(values[0]) }, [x], sameAs(x));
};

/** A float scalar constant input (Clip's min/max since opset 11), or null when absent. */
function scalarInput(ctx: ImportContext, index: number, position: number, what: string): number | null {
  const constant = ctx.reader.optionalConstInput(index, position, what);
  if (!constant) return null;
  if ((constant.tensor.dataType ?? 0) !== FLOAT) throw ctx.reader.nodeError(index, `${what} '${constant.root}': expected a float32 scalar`);
  const raw = constant.tensor.rawData;
  const values = raw && raw.length ? [new DataView(raw.buffer, raw.byteOffset, raw.byteLength).getFloat32(0, true)] : (constant.tensor.floatData ?? []);
  if (values.length !== 1 || (raw && raw.length !== 4)) throw ctx.reader.nodeError(index, `${what} '${constant.root}': expected one float32 value`);
  return values[0];
}

const clip: Handler = (ctx, index) => {
  const { reader } = ctx;
  const input = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  if ((!input || isStatic(input)) && reader.opset >= 11) return clipStatic(ctx, index);
  const attrs = reader.attributes(index, reader.opset < 11 ? ['min', 'max'] : []);
  const min = reader.opset < 11 ? reader.floatAttribute(index, attrs, 'min', -Infinity) : (scalarInput(ctx, index, 1, 'min') ?? -Infinity);
  const max = reader.opset < 11 ? reader.floatAttribute(index, attrs, 'max', Infinity) : (scalarInput(ctx, index, 2, 'max') ?? Infinity);
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  const same = sameAs(x);
  if (min === 0 && max === Infinity) ctx.emit(index, { kind: 'relu', name: reader.layerName(index) }, [x], same);
  else ctx.emit(index, { kind: 'activation', name: reader.layerName(index), fn: 'clip', ...(min > -Infinity ? { min } : {}), ...(max < Infinity ? { max } : {}) }, [x], same);
};

const float = (name: string, fallback: number) => (ctx: ImportContext, index: number) => {
  const attrs = ctx.reader.attributes(index, [name]);
  return ctx.reader.floatAttribute(index, attrs, name, fallback);
};

const flatten: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis']);
  if (ctx.masks.has(reader.nodes[index].input?.[0] ?? '')) return flattenMask(ctx, index);
  const x = ctx.net(index, 0, { sequence: true, channelsLast: true });
  const axis = reader.intAttribute(index, attrs, 'axis', 1);
  // Row-major values (tokens [batch, T, C] flattened to [batch·T, C]: GPT-2's score before its last token is picked): a view.
  const full = x.channelsLast ? fullOf(x) : null;
  if (full) {
    const at = axis < 0 ? axis + full.length : axis;
    if (!(at >= 1 && at < full.length)) throw reader.nodeError(index, `unsupported attribute axis=${axis} of [${full.join(', ')}] (at batch 1): expected an axis past the first`);
    return void view(ctx, index, x, fieldsOf([product(full.slice(0, at)), product(full.slice(at))]));
  }
  const rank = x.dims.length + 1;
  if ((axis < 0 ? axis + rank : axis) !== 1) throw reader.nodeError(index, `unsupported attribute axis=${axis}: expected 1`);
  emitFlatten(ctx, index, x);
};

function emitFlatten(ctx: ImportContext, index: number, x: NetTensor): void {
  const [C, H, W] = isSequence(x) ? [x.dims[0], 1, x.dims[1]] : x.dims;
  // CHW and HWC orders agree when there is one channel or one pixel.
  const chw: [number, number, number] | null = x.ours.length === 3 && C > 1 && H * W > 1 ? [C, H, W] : null;
  const size = product(x.dims);
  ctx.emit(index, { kind: 'flatten', name: ctx.reader.layerName(index) }, [x], { dims: [size], ours: [size], chw: x.chw ?? chw });
}

/**
 * A float constant reshaped by a folded shape (Keras's ONNX export reshapes a DepthwiseConv2D's
 * bias [C] to [1, 1, 1, C] so): the same constant, its data still the original initializer's
 * (what the writer replaces).
 */
function reshapeConstant(ctx: ImportContext, index: number, constant: ReturnType<ImportContext['reader']['constInput']>, allowZero: number): void {
  const { reader } = ctx;
  const dims = (constant.tensor.dims ?? []).map(Number);
  const shape = ctx.staticValues(index, 1, 'shape');
  const target = shapeAtBatchOne(shape, dims, product(dims), allowZero);
  if (!target) throw reader.nodeError(index, `shape ${listText(shape.map((v) => (v === 'batch' ? -1 : v)))} of constant '${constant.root}' ${shapeText(dims)}: expected one that holds its ${product(dims)} values`);
  reader.consts.set(reader.nodes[index].output?.[0] ?? '', { root: constant.root, tensor: { ...constant.tensor, dims: target } });
}

const reshape: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['allowzero']);
  const allowZero = reader.intAttribute(index, attrs, 'allowzero', 0);
  const name = reader.nodes[index].input?.[0] ?? '';
  const data = ctx.tensors.get(name);
  if (data && isStatic(data)) return reshapeStatic(ctx, index, data, allowZero);
  const constant = data ? undefined : reader.consts.get(name);
  if (constant && constant.tensor.dataType === FLOAT) return reshapeConstant(ctx, index, constant, allowZero);
  const x = ctx.net(index, 0, { sequence: true, channelsLast: true });
  const shape = ctx.staticValues(index, 1, 'shape');
  // Tokens, attention's heads, or an image's patches flattened [batch, C, H·W] (a ViT): tokenOps.ts.
  // Also features or a pooled tensor flattened with the batch, read at batch 1 (PyTorch 2 writes
  // `x.view(-1)` and a Gather for an as_strided view of a pooled [batch, C, 1, 1]).
  const flatAtBatchOne = (ctx.batch === 1 || ctx.batch === null) && x.ours.length === 1 && !x.chw && shape.length === 1;
  if (x.channelsLast || flatAtBatchOne || (x.ours.length === 3 && !isSequence(x) && !x.chw && shape.length === 3)) return reshapeTokens(ctx, index, x, shape, allowZero);
  const features = product(x.dims);
  const lead = shape[0];
  const batchOk = lead === 'batch' || lead === -1 || (lead === 0 && allowZero === 0) || (lead === 1 && ctx.batch === 1);
  const rest = shape[1];
  // A vector of C features viewed as [batch, C, 1, 1] (a squeeze-and-excitation gate from Linear layers), or [batch, C, 1] (a 1-D one): the same values.
  const gate = x.ours.length === 1 && !x.chw && (shape.length === 4 || shape.length === 3) && batchOk && (rest === features || rest === -1) && shape.slice(2).every((d) => d === 1);
  if (gate) {
    reader.reshapes.push({ output: reader.nodes[index].output?.[0] ?? '', layer: x.layer, axis: 1, channels: features });
    return ctx.alias(index, { layer: x.layer, ...(shape.length === 4 ? pooled(features) : pooledSequence(features)) });
  }
  if (isSequence(x) && !x.channelsLast && shape.length >= 3) {
    // A channels-first sequence [batch, C, L] (tokens transposed: one head's keys Kᵀ) viewed with
    // three axes or more: its values row-major first, then the view.
    const [C, L] = x.dims;
    const name = reader.uniqueName(`${reader.nodes[index].name || `Reshape_${index}`}:rows`);
    const indices = Int32Array.from({ length: C * L }, (_, k) => (k % L) * C + Math.floor(k / L));
    const rows = ctx.emit(index, { kind: 'rearrange', name, indices, offset: null, shape: fieldsOf([1, C, L]).ours }, [x], fieldsOf([1, C, L]));
    return reshapeTokens(ctx, index, rows, shape, allowZero);
  }
  if (shape.length !== 2 || !batchOk || (rest !== -1 && rest !== features) || (lead === -1 && rest === -1))
    throw reader.nodeError(index, `shape ${listText(shape.map((v) => (v === 'batch' ? -1 : v)))}: expected [batch, -1] (e.g. [0,-1], [-1,${features}], x.view(x.size(0), -1)), a flatten to ${features} features, or a vector viewed as [batch, C, 1, 1] or [batch, C, 1]`);
  reader.reshapes.push({ output: reader.nodes[index].output?.[0] ?? '', layer: x.layer, axis: 'flatten', channels: features });
  emitFlatten(ctx, index, x);
};

const softmax: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis']);
  const axis = reader.intAttribute(index, attrs, 'axis', reader.opset < 13 ? 1 : -1);
  // Features, or the last axis of tokens' values (attention's scores); a channels-first sequence is refused as one.
  const given = ctx.tensors.get(reader.nodes[index].input?.[0] ?? '');
  const x = ctx.net(index, 0, { channelsLast: true, sequence: Boolean(given && !isStatic(given) && given.channelsLast) });
  const rank = (fullOf(x) ?? [1, ...x.dims]).length;
  if (x.ours.length !== 1 && !x.channelsLast) throw reader.nodeError(index, `input has shape [batch, ${x.dims.join(', ')}]: expected [batch, features] or tokens' values (channels-last)`);
  if (axis !== rank - 1 && axis !== -1) throw reader.nodeError(index, `unsupported attribute axis=${axis}: expected the last axis (${rank - 1} or -1)`);
  ctx.emit(index, { kind: 'softmax', name: reader.layerName(index) }, [x], sameAs(x));
};

const concat: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['axis']);
  const axis = reader.intAttribute(index, attrs, 'axis', 0);
  const names = reader.nodes[index].input ?? [];
  // Empty slices join nothing (Phi-3's rotated half beside its empty unrotated rest).
  const kept = names.filter((n) => !ctx.empty.has(n));
  if (kept.length < names.length) {
    const tensor = ctx.tensors.get(kept[0] ?? '');
    if (kept.length === 1 && tensor && !isStatic(tensor)) return void ctx.alias(index, tensor);
    throw reader.nodeError(index, `joins ${names.length - kept.length} empty slices and ${kept.length} other inputs: expected one computed tensor beside them`);
  }
  const tensors = names.map((n) => ctx.tensors.get(n));
  if (tensors.every((t) => t && isStatic(t)) || tensors.every((t) => !t || isStatic(t))) {
    // Folded tables of more than one axis (torch.export's GatherND index grids [b, T, 1] joined
    // on the last axis): joined along `axis`.
    if (tensors.some((t) => t && isStatic(t) && (t.shape?.length ?? 1) > 1)) return void ctx.alias(index, concatTables(ctx, index, axis));
    // A shape computation (constants are int64 pieces of it).
    const values = names.flatMap((_, k) => ctx.staticValues(index, k, 'shape piece'));
    ctx.alias(index, { values });
    return;
  }
  // Channels-last images joined on their channels (Keras's Concatenate exported to ONNX): ours is channels-last already.
  const images = tensors.map((t) => (t && !isStatic(t) && t.channelsLast && !t.nd && t.dims.length === 3 ? t : null));
  if (images.every(Boolean) && (axis === 3 || axis === -1)) {
    const parts = names.map((_, k) => ctx.net(index, k, { channelsLast: true }));
    const [H, W] = parts[0].dims;
    if (parts.some((t) => t.dims[0] !== H || t.dims[1] !== W))
      throw reader.nodeError(index, `joins channels-last images ${parts.map((t) => `[batch, ${t.dims.join(', ')}]`).join(', ')}: expected the same H and W`);
    const C = parts.reduce((n, t) => n + t.dims[2], 0);
    return void ctx.emit(index, { kind: 'concat', name: reader.layerName(index) }, parts, { dims: [H, W, C], ours: [H, W, C], chw: null, channelsLast: true });
  }
  const constants = names.map((n, k) => ctx.constants.get(n) ?? sampleConstant(ctx, index, k));
  if (constants.some(Boolean) || tensors.some((t) => t && !isStatic(t) && t.channelsLast)) return concatTokens(ctx, index, axis, (k) => constants[k]);
  const parts = names.map((_, k) => ctx.net(index, k, { sequence: true }));
  if (parts.length === 1) return ctx.alias(index, parts[0]); // torch.cat([x]) (DenseNet's first layer)
  const rank = parts[0].dims.length + 1;
  if ((axis < 0 ? axis + rank : axis) !== 1) throw reader.nodeError(index, `unsupported attribute axis=${axis}: expected 1 (channels or features)`);
  const rest = (t: NetTensor) => shapeText(t.dims.slice(1));
  if (parts.some((t) => t.dims.length !== parts[0].dims.length || rest(t) !== rest(parts[0]) || t.ours.length !== (isSequence(t) ? 3 : t.dims.length) || t.chw))
    throw reader.nodeError(index, `joins tensors of shapes ${parts.map((t) => `[batch, ${t.dims.join(', ')}]`).join(', ')}: expected the same sizes besides axis 1`);
  const channels = parts.reduce((s, t) => s + t.dims[0], 0);
  const [first] = parts;
  const out = isSequence(first) ? sequenceOf(channels, first.dims[1]) : first.dims.length === 3 ? image(channels, first.dims[1], first.dims[2]) : vector(channels);
  ctx.emit(index, { kind: 'concat', name: reader.layerName(index) }, parts, out);
};

/**
 * Input `position` of a Concat as a constant per sample: a float initializer [1, …] in a model of
 * batch 1 (PyTorch 2 exports a fixed batch, and folds cls_token.expand(1, −1, −1) into one); else null.
 */
function sampleConstant(ctx: ImportContext, index: number, position: number): { dims: number[]; values: Float32Array } | null {
  const constant = ctx.reader.consts.get(ctx.reader.nodes[index].input?.[position] ?? '');
  if (ctx.batch !== 1 || !constant || constant.tensor.dataType !== FLOAT || (constant.tensor.dims ?? []).length < 2 || Number(constant.tensor.dims![0]) !== 1) return null;
  return ctx.reader.weightValues(index, constant, 'constant');
}

const identity: Handler = (ctx, index) => {
  const name = ctx.reader.nodes[index].input?.[0] ?? '';
  const tensor = ctx.tensors.get(name);
  ctx.alias(index, tensor ?? ctx.net(index));
};

const dropout: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, ['ratio', 'seed', 'is_test']);
  const training = reader.optionalConstInput(index, 2, 'training_mode');
  if (training) {
    const raw = training.tensor.rawData;
    const on = raw && raw.length > 0 ? raw[0] !== 0 : (training.tensor.int32Data ?? []).some((v) => v !== 0);
    // A model exported in training mode (no model.eval()): onnxruntime's default optimizations run its dropouts as inference, and so does this.
    if (on) reader.trainingDropouts.push(reader.nodes[index].name || `node ${index}`);
  }
  ctx.alias(index, ctx.net(index, 0, { sequence: true, channelsLast: true }));
};

export const OP_HANDLERS: Record<string, Handler> = {
  Gemm: gemm,
  MatMul: matMul,
  Add: add,
  Mul: mul,
  Sub: sub,
  Div: div,
  Conv: conv,
  ConvTranspose: convTranspose,
  BatchNormalization: batchNormalization,
  Relu: (ctx, index) => {
    ctx.reader.attributes(index, []);
    const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
    ctx.emit(index, { kind: 'relu', name: ctx.reader.layerName(index) }, [x], sameAs(x));
  },
  Clip: clip,
  If: ifNode,
  LeakyRelu: activation('leakyRelu', (ctx, i) => ({ alpha: float('alpha', 0.01)(ctx, i) })),
  Elu: activation('elu', (ctx, i) => ({ alpha: float('alpha', 1)(ctx, i) })),
  Sigmoid: activation('sigmoid', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  Tanh: activation('tanh', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  HardSwish: activation('hardSwish', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  HardSigmoid: activation('hardSigmoid', (ctx, i) => {
    const attrs = ctx.reader.attributes(i, ['alpha', 'beta']);
    return { alpha: ctx.reader.floatAttribute(i, attrs, 'alpha', 0.2), beta: ctx.reader.floatAttribute(i, attrs, 'beta', 0.5) };
  }),
  // Opset 20: approximate 'tanh' is GPT-2's GELU.
  Gelu: (ctx, index) => {
    const attrs = ctx.reader.attributes(index, ['approximate']);
    const approximate = ctx.reader.stringAttribute(index, attrs, 'approximate', 'none');
    if (approximate !== 'none' && approximate !== 'tanh') throw ctx.reader.nodeError(index, `unsupported attribute approximate '${approximate}': expected 'none' or 'tanh'`);
    activation(approximate === 'tanh' ? 'geluTanh' : 'gelu', () => ({}))(ctx, index);
  },
  Softplus: activation('softplus', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  Softsign: activation('softsign', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  Mish: activation('mish', (ctx, i) => (ctx.reader.attributes(i, []), {})),
  Selu: activation('selu', (ctx, i) => {
    const attrs = ctx.reader.attributes(i, ['alpha', 'gamma']);
    return { alpha: ctx.reader.floatAttribute(i, attrs, 'alpha', 1.67326319217681884765625), beta: ctx.reader.floatAttribute(i, attrs, 'gamma', 1.05070102214813232421875) };
  }),
  PRelu: prelu,
  InstanceNormalization: instanceNormalization,
  GroupNormalization: groupNormalization,
  DepthToSpace: depthSpace('DepthToSpace'),
  SpaceToDepth: depthSpace('SpaceToDepth'),
  Sum: variadic('sum'),
  Mean: variadic('average'),
  Max: variadic('maximum'),
  Min: variadic('minimum'),
  MaxPool: pool('maxpool2d'),
  AveragePool: pool('avgpool2d'),
  GlobalAveragePool: globalAveragePool,
  GlobalMaxPool: globalMaxPool,
  ReduceMean: reduceMean,
  ReduceSum: reduceSum,
  ReduceMax: reduceMax,
  Resize: resize,
  Upsample: resize,
  Pad: pad,
  Concat: concat,
  Split: split,
  Transpose: transpose,
  LayerNormalization: layerNormalization,
  Flatten: flatten,
  Reshape: reshape,
  Softmax: softmax,
  Identity: identity,
  Dropout: dropout,
  ...SHAPE_HANDLERS,
  ...MASK_HANDLERS,
};

export const SUPPORTED_OPS = Object.keys(OP_HANDLERS).join(', ');
