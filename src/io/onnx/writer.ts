// writeOnnxModel: the (pruned) weights of a Network written into the model it was read from.
// Everything but the weights is kept, except that a BatchNormalization folded into the Conv/Gemm
// before it (ops.ts) stays folded: its node and parameters are removed, the layer's node writes
// the BatchNormalization's output with the folded weights and bias, and the model's metadata
// says so (key 'net-trim.folded').
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../../network/types.js';
import { denseKernelToOnnx, FLOAT, floatBytes, hwioToOihw, onnx, type GraphProto, type OnnxModelHandle, type TensorProto, type WeightBinding } from './common.js';

/** The tensor named `name` in a graph: an initializer or a Constant node's value. */
function findTensor(graph: GraphProto, name: string): TensorProto | null {
  const init = (graph.initializer ?? []).find((t) => t.name === name);
  if (init) return init;
  for (const node of graph.node ?? []) {
    if (node.opType === 'Constant' && node.output?.[0] === name) {
      return (node.attribute ?? []).find((a) => a.name === 'value')?.t ?? null;
    }
  }
  return null;
}

function replaceData(graph: GraphProto, name: string, values: Float32Array): void {
  const tensor = findTensor(graph, name);
  if (!tensor) throw new Error(`writeOnnxModel: tensor '${name}' is missing from the model`);
  tensor.dataType = FLOAT;
  tensor.floatData = [];
  tensor.rawData = floatBytes(values);
}

/**
 * The model of `handle` with the weights of `network` (matched by layer name, e.g. after pruning
 * `handle.network`), converted back to ONNX layouts. Everything but the weight data is kept.
 * Throws an Error when `network` does not match the model (a missing layer, other dimensions, a
 * nonzero bias where the model has none).
 */
export function writeOnnxModel(handle: OnnxModelHandle, network: Network): Uint8Array {
  const model = onnx.ModelProto.decode(handle.bytes);
  const graph = model.graph!;
  const byName = new Map<string, Layer>();
  for (const layer of network.layers) byName.set(layer.name, layer);
  const bound = new Set(handle.bindings.map((b) => b.layer));
  for (const layer of network.layers) {
    if ((layer.kind === 'dense' || layer.kind === 'conv2d') && !bound.has(layer.name)) {
      throw new Error(`writeOnnxModel: ${handle.source}: the network's ${layer.kind} layer '${layer.name}' is not in the model`);
    }
  }
  for (const binding of handle.bindings) {
    const where = `writeOnnxModel: ${handle.source}: layer '${binding.layer}' (${binding.node})`;
    const layer = byName.get(binding.layer);
    if (!layer || layer.kind !== binding.kind) {
      throw new Error(`${where}: expected a ${binding.kind} layer of that name in the network, found ${layer ? layer.kind : 'none'}`);
    }
    let weight: Float32Array;
    let size: number;
    if (binding.kind === 'dense') {
      const dense = layer as DenseLayer;
      if (dense.inputs !== binding.inputs || dense.units !== binding.units || dense.kernel.length !== binding.inputs * binding.units) {
        throw new Error(
          `${where}: kernel is ${dense.inputs}×${dense.units} (${dense.kernel.length} values): expected ${binding.inputs}×${binding.units}`,
        );
      }
      weight = denseKernelToOnnx(dense.kernel, binding.inputs, binding.units, binding.transB, binding.chw);
      size = binding.units;
    } else {
      const conv = layer as Conv2DLayer;
      const [kh, kw] = binding.kernelSize;
      const groupIn = binding.inChannels / binding.groups;
      const same =
        conv.filters === binding.filters &&
        conv.inChannels === binding.inChannels &&
        (conv.groups ?? 1) === binding.groups &&
        conv.kernelSize[0] === kh &&
        conv.kernelSize[1] === kw &&
        conv.kernel.length === kh * kw * groupIn * binding.filters;
      if (!same) {
        throw new Error(
          `${where}: kernel is ${conv.kernelSize.join('×')}×${conv.inChannels}×${conv.filters} (${conv.kernel.length} values): ` +
            `expected ${kh}×${kw}×${groupIn}×${binding.filters}`,
        );
      }
      weight = hwioToOihw(conv.kernel, binding.filters, groupIn, kh, kw);
      size = binding.filters;
    }
    replaceData(graph, binding.weight, weight);
    const bias = layer.bias;
    if (bias && bias.length !== size) throw new Error(`${where}: bias has ${bias.length} values: expected ${size}`);
    if (binding.bias) {
      replaceData(graph, binding.bias, bias ?? new Float32Array(size));
    } else if (bias && bias.some((v) => v !== 0)) {
      if (!binding.foldedBatchNorm) throw new Error(`${where}: the network has a nonzero bias but the model's node has none`);
      addBias(graph, binding, bias);
    }
    if (binding.foldedBatchNorm) removeFoldedBatchNorm(graph, binding);
  }
  const folded = handle.bindings.filter((b) => b.foldedBatchNorm).map((b) => `${b.foldedBatchNorm!.node} into layer '${b.layer}'`);
  if (folded.length) model.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== 'net-trim.folded'), { key: 'net-trim.folded', value: `BatchNormalization folded: ${folded.join('; ')}` }];
  return new Uint8Array(onnx.ModelProto.encode(model).finish()); // a copy: not a view of a Buffer pool
}

// ---------------------------------------------------------------------------------------------
// Export
/** A bias for a folded layer whose node had none: a new initializer as the Conv's or Gemm's third input. */
function addBias(graph: GraphProto, binding: WeightBinding, bias: Float32Array): void {
  const taken = new Set([...(graph.initializer ?? []).map((t) => t.name), ...(graph.node ?? []).flatMap((n) => n.output ?? [])]);
  let name = `${binding.weight}.folded_bias`;
  for (let k = 1; taken.has(name); k++) name = `${binding.weight}.folded_bias_${k}`;
  graph.initializer = [...(graph.initializer ?? []), { name, dims: [bias.length], dataType: FLOAT, rawData: floatBytes(bias) }];
  const node = (graph.node ?? []).find((n) => n.output?.[0] === binding.output)!;
  node.input = [...(node.input ?? []).slice(0, 2), name];
  // Gemm computes alpha·AB + beta·C: the folded bias needs beta = 1.
  node.attribute = (node.attribute ?? []).filter((a) => a.name !== 'beta');
}

/** Drops a folded BatchNormalization: its layer's node writes its output; unread parameters go. */
function removeFoldedBatchNorm(graph: GraphProto, binding: WeightBinding): void {
  const bn = binding.foldedBatchNorm!;
  const nodes = graph.node ?? [];
  const node = nodes.find((n) => n.output?.[0] === binding.output)!;
  graph.node = nodes.filter((n) => !(n.opType === 'BatchNormalization' && n.output?.[0] === bn.output));
  node.output = [bn.output, ...(node.output ?? []).slice(1)];
  const stillRead = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
  const unread = new Set(bn.params.filter((p) => !stillRead.has(p)));
  graph.initializer = (graph.initializer ?? []).filter((t) => !unread.has(t.name ?? ''));
  graph.input = (graph.input ?? []).filter((i) => !unread.has(i.name ?? ''));
  graph.node = (graph.node ?? []).filter((n) => !(n.opType === 'Constant' && unread.has(n.output?.[0] ?? '')));
}
