// The dense ops: Gemm and MatMul (its bias in the Add after it, ops.ts) become dense layers,
// bound to their weights for writeOnnxModel.
import type { DenseLayer, PositionRule } from '../../network/types.js';
import { denseKernelFromOnnx, shapeText, type DenseBinding } from './common.js';
import { isSequence, pooled, pooledSequence, vector, type GraphReader, type NetTensor } from './graphReader.js';
import { isStatic, type Handler, type ImportContext } from './context.js';
import { gemmOnTokens, isFloatTable, productOfTensors } from './tokenOps.js';
import { channelsLastMatMul } from './layoutOps.js';
import { foldMatMul } from './staticValues.js';

export const gemm: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['alpha', 'beta', 'transA', 'transB', 'broadcast']);
  const alpha = reader.floatAttribute(index, attrs, 'alpha', 1);
  const beta = reader.floatAttribute(index, attrs, 'beta', 1);
  const transA = reader.intAttribute(index, attrs, 'transA', 0);
  const transB = reader.intAttribute(index, attrs, 'transB', 0);
  if (alpha !== 1) throw reader.nodeError(index, `unsupported attribute alpha=${alpha}: expected 1`);
  if (transA !== 0) throw reader.nodeError(index, `unsupported attribute transA=${transA}: expected 0`);
  if (transB !== 0 && transB !== 1) throw reader.nodeError(index, `unsupported attribute transB=${transB}: expected 0 or 1`);
  const x = ctx.net(index, 0, { channelsLast: true });
  if (x.channelsLast) {
    // Tokens [T·batch, D] (nn.MultiheadAttention's output projection): a 1×1 conv with the Gemm's bias.
    if (reader.optionalConstInput(index, 2, 'bias') && beta !== 1) throw reader.nodeError(index, `unsupported attribute beta=${beta}: expected 1`);
    return gemmOnTokens(ctx, index, x, transB === 1);
  }
  const n = reader.requireVector(index, x);
  const weight = reader.constInput(index, 1, 'weight');
  const { dims: wDims, values } = reader.weightValues(index, weight, 'weight');
  const units = wDims.length === 2 ? (transB ? wDims[0] : wDims[1]) : -1;
  if (wDims.length !== 2 || (transB ? wDims[1] : wDims[0]) !== n)
    throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(wDims)}: expected ${transB ? `[M, ${n}]` : `[${n}, M]`} (transB=${transB}, ${n} input features)`);
  const biasConst = reader.optionalConstInput(index, 2, 'bias');
  let bias: Float32Array | null = null;
  if (biasConst) {
    if (beta !== 1) throw reader.nodeError(index, `unsupported attribute beta=${beta}: expected 1`);
    bias = denseBias(reader, index, biasConst, units);
  }
  addDense(ctx, index, x, { op: 'Gemm', weight: weight.root, biasName: biasConst?.root ?? null, transB: transB === 1, values, bias, inputs: n, units });
};

export const matMul: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const [first, other] = [0, 1].map((k) => ctx.tensors.get(reader.nodes[index].input?.[k] ?? ''));
  const known = (t: typeof first) => !t || isStatic(t);
  if (known(first) && known(other)) return foldMatMul(ctx, index); // of constants and folded tables (RoPE's angles)
  // attention: Q·Kᵀ, scores·V; Q times a table folded from constants (DeBERTa's relative-position keys)
  if ((other && !isStatic(other)) || isFloatTable(ctx, index, 1)) return productOfTensors(ctx, index);
  const x = ctx.net(index, 0, { channelsLast: true, sequence: true });
  if (x.channelsLast) return channelsLastMatMul(ctx, index, x);
  if (isSequence(x)) throw reader.nodeError(index, `input is a sequence [batch, ${x.dims.join(', ')}]: expected its steps channels-last (after a Transpose [0, 2, 1]) or features`);
  const n = reader.requireVector(index, x);
  const weight = reader.constInput(index, 1, 'weight');
  const { dims: wDims, values } = reader.weightValues(index, weight, 'weight');
  if (wDims.length !== 2 || wDims[0] !== n) throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(wDims)}: expected [${n}, M] (${n} input features)`);
  addDense(ctx, index, x, { op: 'MatMul', weight: weight.root, biasName: null, transB: false, values, bias: null, inputs: n, units: wDims[1] });
};

/**
 * Gather(table, ids) with the graph input's token ids (nn.Embedding's export): an embedding layer.
 * Its table is bound like a per-channel parameter whose rows are the vocabulary, so that
 * writeOnnxModel keeps the dimensions structured pruning keeps.
 */
export function embeddingOf(ctx: ImportContext, index: number, axis: number, computed?: { ids: NetTensor; positions: PositionRule }): void {
  const { reader } = ctx;
  // RoBERTa's positions (idValues.ts) are rows computed from the ids.
  const ids = computed?.ids ?? ctx.tensors.get(reader.nodes[index].input?.[1] ?? '');
  if (!ids || isStatic(ids) || !ctx.idInputs.has(ids.layer))
    throw reader.nodeError(index, `indices: expected the graph input (token ids) or constants, found a computed tensor (only an embedding's lookup of the input's ids is supported)`);
  if (axis !== 0) throw reader.nodeError(index, `attribute axis: expected 0 (rows of the embedding table), found ${axis}`);
  const table = reader.constInput(index, 0, 'embedding table');
  const { dims, values } = reader.weightValues(index, table, 'embedding table');
  if (dims.length !== 2) throw reader.nodeError(index, `embedding table '${table.root}' has shape ${shapeText(dims)}: expected [vocabulary, dims]`);
  const [vocabulary, size] = dims;
  const name = reader.layerName(index);
  const tokens = ids.dims[0];
  // Tokens [batch, T, D] are ours [1, T, D], read channels-last (a Linear, LayerNorm or attention per token).
  ctx.emit(index, { kind: 'embedding', name, table: values, vocabulary, dims: size, ...(computed ? { positions: computed.positions } : {}) }, [ids], { dims: [tokens, size], ours: [1, tokens, size], chw: null, channelsLast: true });
  reader.batchNorms.push({ layer: name, params: [table.root], reader: index, rows: vocabulary });
}

export function denseBias(reader: GraphReader, index: number, constant: ReturnType<GraphReader['constInput']>, units: number): Float32Array {
  const { dims, values } = reader.weightValues(index, constant, 'bias');
  // [units], or with leading axes of 1 ([1, units]; [1, 1, 1, C] on a channels-last image).
  const shapeOk = dims.length >= 1 && dims.length <= 4 && dims[dims.length - 1] === units && dims.slice(0, -1).every((d) => d === 1);
  if (!shapeOk) throw reader.nodeError(index, `bias '${constant.root}' has shape ${shapeText(dims)}: expected [${units}]`);
  return values;
}

/** Emits node `index` as a dense layer reading `x`, and binds it to its weights. */
export function addDense(
  ctx: ImportContext,
  index: number,
  x: NetTensor,
  spec: { op: DenseBinding['op']; weight: string; biasName: string | null; transB: boolean; values: Float32Array; bias: Float32Array | null; inputs: number; units: number },
): void {
  const { reader } = ctx;
  const name = reader.layerName(index);
  const layer: DenseLayer = { kind: 'dense', name, kernel: denseKernelFromOnnx(spec.values, spec.inputs, spec.units, spec.transB, x.chw), inputs: spec.inputs, units: spec.units, bias: spec.bias, activation: 'linear' };
  // A 1×1 Conv on a pooled tensor keeps its rank: [units, 1, 1], or [units, 1] after a sequence's pool.
  const sequence = spec.op === 'Conv' && isSequence(x);
  ctx.emit(index, layer, [x], spec.op !== 'Conv' ? vector(spec.units) : sequence ? pooledSequence(spec.units) : pooled(spec.units));
  const output = reader.nodes[index].output?.[0] ?? '';
  reader.bindings.push({
    kind: 'dense', op: spec.op, layer: name, node: reader.describe(index), output, weight: spec.weight, bias: spec.biasName, weightReader: index, biasReader: spec.biasName ? index : null,
    transB: spec.transB, inputs: spec.inputs, units: spec.units, chw: x.chw, foldedBatchNorm: null, ...(sequence ? { sequence: true as const } : {}),
  });
}

