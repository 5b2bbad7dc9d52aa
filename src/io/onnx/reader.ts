// parseOnnxModel: an ONNX graph into a Network (a DAG of our layers). Nodes are visited in a
// topological order computed here (a cycle, a missing tensor or a node that does not reach the
// output is an error naming the node); each op's handler (ops.ts) maps its input tensors to ours
// and emits layers. Shape subgraphs (Shape → Gather → Unsqueeze → Concat → Reshape, as PyTorch
// exports x.view(x.size(0), -1)) are folded statically for the model's input shape; activations
// written as several nodes (SiLU, GELU, Hardswish) become one layer (gating.ts).
import { InputError } from '../../errors.js';
import { networkGraph, sourceNames } from '../../network/graph.js';
import type { Layer, Network } from '../../network/types.js';
import { decodeModel, defaultOpset, type ModelProto, type OnnxModelHandle } from './common.js';
import { enterInputs, graphInputs } from './inputs.js';
import type { InputSizes } from '../inputSizes.js';
import { followMask } from './maskOps.js';
import { idValueOp, readsIdValues } from './idValues.js';
import { networkOutput } from './outputs.js';
import { attachExternalData, externalFiles, externalReferences, readExternalData, type DataFileBytes, type DataRange } from './externalData.js';
import { GraphReader, sameAs } from './graphReader.js';
import { halfLayers, liftFloat16 } from './float16.js';
import { ImportContext, isStatic } from './context.js';
import { OP_HANDLERS, SUPPORTED_OPS } from './ops.js';
import { emitShuffle, findShuffles } from './channelOps.js';
import { emitLayerNormFusion, findLayerNorms } from './layoutOps.js';
import { findRmsNorms } from './rmsNorm.js';
import { exposeOuterReads } from './ifOps.js';
import { findFusions, FUSED_PARTS } from './gating.js';
import { emitGroupNormChain, findGroupNorms } from './normOps.js';

/** The nodes that compute the graph outputs, in an order where each follows the nodes it reads. */
function topologicalOrder(reader: GraphReader, ctx: ImportContext): number[] {
  const producer = reader.producers;
  const needed = new Set<number>();
  const stack = [...ctx.outputs];
  while (stack.length) {
    const name = stack.pop()!;
    const index = producer.get(name);
    if (index === undefined || needed.has(index)) continue;
    needed.add(index);
    for (const input of reader.nodes[index].input ?? []) {
      if (!input || reader.consts.has(input) || ctx.graphInputs.has(input)) continue;
      if (!producer.has(input)) throw reader.nodeError(index, `reads '${input}', which no node computes and which is neither a graph input nor an initializer`);
      stack.push(input);
    }
  }
  for (const name of ctx.outputs) if (!producer.has(name) && !ctx.graphInputs.has(name)) throw new InputError(`${reader.source}: output '${name}': no node computes it`);
  const outputs = [...ctx.outputs].map((name) => `'${name}'`).join(', ');
  reader.nodes.forEach((_, index) => {
    if (!reader.constNodes.has(index) && !reader.skipped.has(index) && !needed.has(index)) throw reader.nodeError(index, `does not contribute to the graph output${ctx.outputs.size > 1 ? 's' : ''} ${outputs}: expected every node to`);
  });
  // Kahn's algorithm over the needed nodes, in file order where free.
  const waiting = new Map<number, number>();
  const readers = new Map<number, number[]>();
  for (const index of needed) {
    const deps = new Set((reader.nodes[index].input ?? []).map((n) => producer.get(n)).filter((d): d is number => d !== undefined));
    waiting.set(index, deps.size);
    for (const d of deps) readers.set(d, [...(readers.get(d) ?? []), index]);
  }
  const ready = [...needed].filter((i) => waiting.get(i) === 0).sort((a, b) => a - b);
  const order: number[] = [];
  while (ready.length) {
    const index = ready.shift()!;
    order.push(index);
    for (const r of readers.get(index) ?? []) {
      const left = waiting.get(r)! - 1;
      waiting.set(r, left);
      if (left === 0) ready.push(r);
    }
    ready.sort((a, b) => a - b);
  }
  const stuck = [...needed].filter((i) => !order.includes(i)).sort((a, b) => a - b);
  if (stuck.length) throw reader.nodeError(stuck[0], `is on a cycle of the graph: expected an acyclic graph`);
  return order;
}

/**
 * The layers less those whose output only shape computations read (nanoGPT's `k.size(-1)` reads a
 * transposed k that nothing else does): once the Shape folds, nothing reads them. Layers with
 * weights stay (the graph check then names them).
 */
function withoutShapeOnly(layers: Layer[], inputName: string): Layer[] {
  let kept = layers;
  for (let changed = true; changed; ) {
    const read = new Set<string>();
    kept.forEach((_, i) => sourceNames(kept, i, inputName).forEach((n) => read.add(n)));
    // (The layer after an unread one names its sources: it did not read that one.)
    const next = kept.filter((l, i) => i === kept.length - 1 || read.has(l.name) || l.kind === 'dense' || l.kind === 'conv2d');
    changed = next.length !== kept.length;
    kept = next;
  }
  return kept;
}

/**
 * Parses an ONNX model into a Network (see onnxModel.ts for what is accepted). A model whose
 * tensors are in external data files needs parseOnnxModelWithData, which reads them. `sizes`:
 * the sizes of input axes the model leaves open besides the batch (inputSizes.ts).
 */
export function parseOnnxModel(bytes: Uint8Array, source: string, sizes?: InputSizes): OnnxModelHandle {
  const model = decodeModel(bytes, source);
  const external = externalReferences(model, source);
  if (external.length) {
    const files = [...externalFiles(external).keys()].map((f) => `'${f}'`).join(', ');
    throw new InputError(`${source}: ${external[0].what}: its data is in the external data file ${files}: expected it given with the model (loadModelFile, or the files beside it)`);
  }
  return parseModel(model, new Uint8Array(bytes), source, sizes);
}

/**
 * Parses an ONNX model whose tensors may be in external data files (PyTorch ≥ 2.9 writes
 * `model.onnx.data`): `file(location, needed, ranges)` gives a data file's bytes, whole or the
 * ranges its tensors read (externalData.ts says what is checked). The handle keeps them for
 * writing the pruned model.
 */
export async function parseOnnxModelWithData(
  bytes: Uint8Array,
  source: string,
  file: (location: string, needed: number, ranges: DataRange[]) => Promise<DataFileBytes>,
  sizes?: InputSizes,
): Promise<OnnxModelHandle & { dataFiles: string[] }> {
  const model = decodeModel(bytes, source);
  const externalData = await readExternalData(model, source, file);
  attachExternalData(model, source, externalData);
  return { ...parseModel(model, new Uint8Array(bytes), source, sizes, externalData.size ? externalData : undefined), dataFiles: [...externalData.keys()] };
}

/** The network of a model already decoded, its data inside (the writer's check of what it writes). */
export function reparseModel(model: ModelProto, source: string, sizes?: InputSizes): Network {
  return parseModel(model, new Uint8Array(0), source, sizes).network;
}

function parseModel(model: ModelProto, bytes: Uint8Array, source: string, sizes: InputSizes | undefined, externalData?: ReadonlyMap<string, DataFileBytes>): OnnxModelHandle {
  const opset = defaultOpset(model, source);
  const half = liftFloat16(model, source); // the rest reads float32
  const graph = model.graph!;
  exposeOuterReads(graph);
  const reader = new GraphReader(graph, source, opset);

  const { inputs, fixed } = graphInputs(reader, graph, source, sizes);
  const outputNames = (graph.output ?? []).map((o) => o.name ?? '');
  if (outputNames.length === 0 || new Set(outputNames).size !== outputNames.length)
    throw new InputError(`${source}: graph outputs: expected one or more, each named once, found ${outputNames.length ? outputNames.map((n) => `'${n}'`).join(', ') : 'none'}`);
  const outputs = new Set(outputNames);
  // Several inputs are packed into one network input, named so that no layer has its name.
  const inputName = inputs.length === 1 ? inputs[0].name : reader.uniqueName('inputs');
  const ctx = new ImportContext(reader, inputName, outputs, inputs[0].batch, inputs);
  const { inputShape, parts } = enterInputs(ctx, inputs);
  const fusions = findFusions(reader, outputs);
  const shuffles = findShuffles(reader, outputs);
  const centred = findLayerNorms(reader, outputs);
  const layerNorms = new Map([...centred, ...findRmsNorms(reader, outputs, centred)]);
  const groupNorms = findGroupNorms(reader, outputs);
  for (const index of topologicalOrder(reader, ctx)) {
    const node = reader.nodes[index];
    const fusion = fusions.get(index);
    const shuffle = shuffles.get(index);
    const layerNorm = layerNorms.get(index);
    const groupNorm = groupNorms.get(index);
    if (fusion === 'inner' || shuffle === 'inner' || layerNorm === 'inner' || groupNorm === 'inner') continue;
    if (groupNorm) {
      emitGroupNormChain(ctx, index, groupNorm);
      continue;
    }
    if (layerNorm) {
      emitLayerNormFusion(ctx, index, layerNorm);
      continue;
    }
    if (shuffle) {
      emitShuffle(ctx, index, shuffle);
      continue;
    }
    if (fusion) {
      const x = ctx.tensors.get(fusion.input);
      if (!x || isStatic(x)) throw reader.nodeError(index, `input '${fusion.input}' of its ${fusion.fn}: expected a tensor computed from the graph input`);
      ctx.emit(index, { kind: 'activation', name: reader.layerName(index), fn: fusion.fn }, [x], sameAs(x));
      continue;
    }
    if (readsIdValues(ctx, index)) {
      idValueOp(ctx, index);
      continue;
    }
    const op = node.opType ?? '';
    const handler = OP_HANDLERS[op];
    if (!handler || !(node.domain === '' || node.domain === undefined || node.domain === null || node.domain === 'ai.onnx'))
      throw reader.nodeError(index, `op '${node.domain ? `${node.domain}.` : ''}${op}' is not supported: supported are ${SUPPORTED_OPS}${op in FUSED_PARTS ? `, and ${op} ${FUSED_PARTS[op]}` : ''}`);
    if (op !== 'Split') reader.requireOnlyFirstOutput(index, outputs);
    handler(ctx, index);
    followMask(ctx, index);
  }

  // Several outputs are packed: flattened, then a concat (outputs.ts).
  const final = networkOutput(ctx, outputNames);
  const layers = withoutShapeOnly(reader.layers, inputName);
  if (layers[layers.length - 1].name !== final.layer)
    throw new InputError(`${source}: output '${outputNames[0]}' is computed by layer '${final.layer}', not by the graph's last node: expected the output to be computed last`);
  if (half) halfLayers(layers, reader.bindings, half);
  const network = { inputShape, ...(inputName === 'input' ? {} : { inputName }), ...(parts ? { inputParts: parts } : {}), layers, ...(final.parts ? { outputParts: final.parts } : {}) };
  networkGraph(network, source);
  const sampleLayout = inputs[0].layout;
  const partLayouts = parts ? { partLayouts: inputs.map((i) => i.layout) } : {};
  return { source, network, opset, producer: model.producerName ?? '', bytes, ...(externalData ? { externalData } : {}), bindings: reader.bindings, batchNorms: reader.batchNorms, ...(reader.reshapes.length ? { reshapes: reader.reshapes } : {}), ...(reader.views.length ? { views: reader.views } : {}), ...(reader.ranges.length ? { ranges: reader.ranges } : {}), ...(sizes ? { sizes } : {}), sampleLayout, ...partLayouts, ...(fixed.length ? { fixedAxes: fixed } : {}), ...(reader.trainingDropouts.length ? { trainingDropouts: reader.trainingDropouts } : {}), ...(half ? { float16: true as const } : {}) };
}
