// Folds into the dense or conv layer before: a bias Add (a MatMul's; a Conv's seen channels-last),
// a BatchNormalization, and per-channel affine constants (Keras's BatchNormalization as Sub, Mul,
// Add). Each is exact, and the written model keeps it (writer.ts).
import type { Conv2DLayer, DenseLayer } from '../../network/types.js';
import { listText, shapeText, type ConvBinding, type DenseBinding } from './common.js';
import { isPooled, sameAs, type GraphReader, type NetTensor } from './graphReader.js';
import type { Handler, ImportContext } from './context.js';

export function bindingOf(reader: GraphReader, layer: string): DenseBinding | ConvBinding | undefined {
  return reader.bindings.find((b) => b.layer === layer) as DenseBinding | ConvBinding | undefined;
}

export function layerNamed(reader: GraphReader, name: string) {
  return reader.layers.find((l) => l.name === name);
}

/** The binding of the dense/conv layer that computes `tensor` when only node `index` reads it (a fold is possible), else null. */
export function soleReaderOf(ctx: ImportContext, index: number, tensor: NetTensor): DenseBinding | ConvBinding | null {
  const binding = bindingOf(ctx.reader, tensor.layer);
  const layer = layerNamed(ctx.reader, tensor.layer);
  if (!binding || !layer || layer.kind !== binding.kind || (layer as DenseLayer).activation !== 'linear') return null;
  const readers = ctx.reader.consumers.get(binding.output) ?? [];
  return readers.length === 1 && readers[0] === index && !ctx.outputs.has(binding.output) ? binding : null;
}

/**
 * Whether Add `index` adds the bias of a Conv (without its own) through the Transpose to
 * channels-last that alone reads it (Keras's ONNX export, tf2onnx: Conv, Transpose [0, 2, 3, 1],
 * Add of the bias [1, 1, 1, C]; a Conv1D's Transpose [0, 2, 1], its bias [1, 1, C]).
 */
export function viewedConv(ctx: ImportContext, index: number, tensor: NetTensor): ConvBinding | null {
  const { reader } = ctx;
  const binding = bindingOf(reader, tensor.layer);
  const layer = layerNamed(reader, tensor.layer);
  if (!tensor.channelsLast || binding?.kind !== 'conv2d' || binding.op !== undefined || layer?.kind !== 'conv2d' || layer.activation !== 'linear') return null;
  const readers = reader.consumers.get(binding.output) ?? [];
  const node = reader.nodes[readers[0]];
  const perm = (node?.attribute ?? []).find((a) => a.name === 'perm')?.ints?.map(Number) ?? [];
  // Back to channels-last: an image's [0, 2, 3, 1], a sequence's [0, 2, 1] (Keras's Conv1D).
  const viewed = readers.length === 1 && reader.opType(readers[0]) === 'Transpose' && [listText([0, 2, 3, 1]), listText([0, 2, 1])].includes(listText(perm));
  return viewed && listText(reader.consumers.get(node.output?.[0] ?? '') ?? []) === listText([index]) ? binding : null;
}

export const batchNormalization: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['epsilon', 'momentum', 'spatial', 'training_mode']);
  if (reader.intAttribute(index, attrs, 'training_mode', 0) !== 0) throw reader.nodeError(index, `training_mode=1: expected an inference graph`);
  if (reader.intAttribute(index, attrs, 'spatial', 1) !== 1) throw reader.nodeError(index, `unsupported attribute spatial=0: expected per-channel statistics`);
  const epsilon = reader.floatAttribute(index, attrs, 'epsilon', 1e-5);
  const x = ctx.net(index, 0, { sequence: true });
  const channels = x.dims[0];
  const params = ['scale', 'B', 'mean', 'var'].map((what, k) => {
    const constant = reader.constInput(index, k + 1, what);
    const { dims, values } = reader.weightValues(index, constant, what);
    if (values.length !== channels) throw reader.nodeError(index, `${what} '${constant.root}' has shape ${shapeText(dims)}: expected [${channels}] (one per channel)`);
    return { root: constant.root, values };
  });
  const [gamma, beta, mean, variance] = params.map((p) => p.values);
  // y = a·x + c per channel, computed in float64.
  const scale = Float64Array.from(gamma, (g, c) => g / Math.sqrt(variance[c] + epsilon));
  const offset = Float64Array.from(beta, (b, c) => b - scale[c] * mean[c]);
  if (x.ours[x.ours.length - 1] !== channels || (x.dims.length >= 2 && x.ours.length !== 3 && !isPooled(x)))
    throw reader.nodeError(index, `input has shape [batch, ${x.dims.join(', ')}]: expected channels on axis 1 of an image or of features`);
  const binding = soleReaderOf(ctx, index, x);
  if (binding && !binding.foldedBatchNorm && (binding.kind === 'conv2d' || binding.op !== 'MatMul' || binding.bias)) {
    // Exact fold: W' = W·a (per output), b' = a·b + c.
    const layer = layerNamed(reader, binding.layer) as DenseLayer | Conv2DLayer;
    const outputs = channels;
    layer.kernel = Float32Array.from(layer.kernel, (w, i) => w * scale[i % outputs]);
    layer.bias = Float32Array.from(offset, (c, f) => scale[f] * (layer.bias?.[f] ?? 0) + c);
    binding.foldedBatchNorm = { node: reader.describe(index), output: reader.nodes[index].output?.[0] ?? '', params: params.map((p) => p.root) };
    ctx.alias(index, x);
    return;
  }
  const name = reader.layerName(index);
  reader.batchNorms.push({ layer: name, params: params.map((p) => p.root), reader: index });
  ctx.emit(index, { kind: 'batchnorm', name, scale: Float32Array.from(scale), offset: Float32Array.from(offset) }, [x], sameAs(x));
};

/**
 * Folds y = scale·x + offset per channel (Sub, Mul, Add or Div by per-channel constants after a
 * dense or conv layer that only they read: Keras's BatchNormalization exported to ONNX, an affine
 * map written by hand) into that layer: exact, W' = W·scale per output, b' = scale·b + offset. The
 * writer drops the node (its readers read its input) and writes the folded weights. False when
 * x is not such a layer's output.
 */
export function foldAffine(ctx: ImportContext, index: number, x: NetTensor, scale: Float32Array, offset: Float32Array, params: string[]): boolean {
  const { reader } = ctx;
  const binding = soleReaderOf(ctx, index, x);
  const output = reader.nodes[index].output?.[0] ?? '';
  if (!binding || ctx.outputs.has(output) || binding.foldedBatchNorm) return false;
  const layer = layerNamed(reader, binding.layer) as DenseLayer | Conv2DLayer;
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  if (scale.length !== outputs) return false;
  layer.kernel = Float32Array.from(layer.kernel, (w, i) => w * scale[i % outputs]);
  layer.bias = Float32Array.from(offset, (c, f) => scale[f] * (layer.bias?.[f] ?? 0) + c);
  binding.foldedOps = { from: binding.foldedOps?.from ?? binding.output, nodes: [...(binding.foldedOps?.nodes ?? []), output], params: [...(binding.foldedOps?.params ?? []), ...params] };
  binding.output = output;
  ctx.alias(index, x);
  return true;
}
