// The graph outputs of an ONNX model as the network's output. One output is the network output;
// several (torchvision's segmentation 'out' and 'aux', a sentence embedder's token and sentence
// embeddings) are packed: each flattened (ours, NHWC) and joined by a concat layer, so pruning
// keeps them all (network.outputParts). The written model keeps its outputs as they were.
import { InputError } from '../../errors.js';
import type { Layer, OutputPart } from '../../network/types.js';
import { isStatic, type ImportContext } from './context.js';
import type { NetTensor } from './graphReader.js';

/** The graph output `name` as the tensor our layers compute, checked. */
function outputTensor(ctx: ImportContext, name: string): NetTensor {
  const { source } = ctx.reader;
  const tensor = ctx.tensors.get(name);
  if (!tensor || isStatic(tensor) || ctx.graphInputs.has(tensor.layer))
    throw new InputError(`${source}: output '${name}' does not depend on the input through any layer: expected a network`);
  if (tensor.chw)
    throw new InputError(`${source}: output '${name}' is a flattened image: expected a Gemm or MatMul after the Flatten (our NHWC network orders these features differently)`);
  return tensor;
}

/**
 * The network output for the graph outputs `names` (in ctx.outputs' order): the one output's
 * layer, or the concat of several, its layers appended (a flatten per output that is not a
 * vector), with the parts.
 */
export function networkOutput(ctx: ImportContext, names: readonly string[]): { layer: string; parts?: OutputPart[] } {
  const tensors = names.map((name) => outputTensor(ctx, name));
  if (tensors.length === 1) return { layer: tensors[0].layer };
  const { reader } = ctx;
  const seen = new Map<string, string>();
  const flat = tensors.map((t, k) => {
    const other = seen.get(t.layer);
    if (other !== undefined) throw new InputError(`${reader.source}: outputs '${other}' and '${names[k]}' are the same tensor: expected each output computed apart`);
    seen.set(t.layer, names[k]);
    if (t.ours.length === 1) return t.layer;
    const layer: Layer = { kind: 'flatten', name: reader.uniqueName(`${names[k]}:flat`), from: [t.layer] };
    reader.layers.push(layer);
    return layer.name;
  });
  const concat: Layer = { kind: 'concat', name: reader.uniqueName('outputs'), from: flat };
  reader.layers.push(concat);
  return { layer: concat.name, parts: tensors.map((t, k) => ({ name: names[k], shape: t.ours })) };
}
