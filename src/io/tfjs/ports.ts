// A Keras model's inputs and outputs as the network's, as ONNX's are read (onnx/inputs.ts,
// onnx/outputs.ts). One input is the network input; several (a functional model's pixels and
// tokens, say) are packed: each sample holds their values one after another, and a rearrange layer
// named after each InputLayer takes its values out (network/inputParts.ts). One output is the
// network output; several are each flattened (channels last, Keras's own order) and joined by a
// concat, so pruning keeps them all (network.outputParts). The written model keeps its inputs and
// outputs as they were: only weights change.
import type * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import type { ImageLayout } from '../../network/sampleShapes.js';
import { DEFAULT_INPUT_NAME, type InputPart, type Layer, type OutputPart } from '../../network/types.js';

/** One model input as read: its InputLayer, its shape per sample (Keras's and ours) and how its users hold it. */
export interface KerasInput {
  layer: tf.layers.Layer;
  /** Ours: a sequence [steps, channels] is the image [1, steps, channels]. */
  ours: number[];
  layout: ImageLayout;
  values: InputPart['values'];
}

/** The model's inputs in model.inputs order, their shapes checked to be fixed. */
export function modelInputs(model: tf.LayersModel, source: string): KerasInput[] {
  return model.inputs.map((input) => {
    const layer = input.sourceLayer;
    const dims = input.shape.slice(1);
    if (!dims.every((n): n is number => typeof n === 'number' && n > 0)) {
      const which = model.inputs.length > 1 ? `input '${layer.name}' shape` : 'input shape';
      throw new InputError(`${source}: ${which}: expected fixed dimensions after the batch, found [${input.shape.map((n) => n ?? 'null').join(', ')}]`);
    }
    // Token ids: an input only Embeddings read (the network checks that only embeddings read ids).
    const readers = layer.outboundNodes.map((node) => node.outboundLayer);
    const ids = readers.length > 0 && readers.every((l) => l.getClassName() === 'Embedding');
    return { layer, ours: dims.length === 2 ? [1, ...dims] : dims, layout: dims.length === 2 ? 'nlc' : 'nhwc', values: ids ? 'ids' : 'float' };
  });
}

/**
 * The model's layers in an order where each follows the layers it is called on (InputLayers among
 * them). Every layer is on a path to an output (tfjsCheck.ts checked model.json for that).
 */
export function layersInOrder(model: tf.LayersModel): tf.layers.Layer[] {
  const order: tf.layers.Layer[] = [];
  const seen = new Set<tf.layers.Layer>();
  const visit = (layer: tf.layers.Layer) => {
    if (seen.has(layer)) return;
    seen.add(layer);
    for (const inbound of layer.inboundNodes[0]?.inboundLayers ?? []) visit(inbound);
    order.push(layer);
  };
  for (const output of model.outputs) visit(output.sourceLayer);
  return order;
}

/** A name for the packed network input that no Keras layer has. */
function packedInputName(model: tf.LayersModel): string {
  const taken = new Set(model.layers.map((l) => l.name));
  let name = DEFAULT_INPUT_NAME;
  for (let k = 1; taken.has(name); k++) name = `${DEFAULT_INPUT_NAME}_${k}`;
  return name;
}

/**
 * The network input for `inputs`: one input is it (named as its InputLayer); several are packed,
 * a rearrange layer per input appended to `layers` (named as its InputLayer, so the Keras layers
 * that read it name it as they name the InputLayer).
 */
export function enterInputs(model: tf.LayersModel, inputs: KerasInput[], layers: Layer[]): { inputShape: number[]; inputName: string; parts?: InputPart[] } {
  if (inputs.length === 1) return { inputShape: inputs[0].ours, inputName: inputs[0].layer.name };
  const inputName = packedInputName(model);
  let start = 0;
  const parts = inputs.map((input) => {
    const size = input.ours.reduce((a, b) => a * b, 1);
    layers.push({ kind: 'rearrange', name: input.layer.name, from: [inputName], indices: Int32Array.from({ length: size }, (_, i) => start + i), offset: null, shape: input.ours });
    start += size;
    return { name: input.layer.name, shape: input.ours, values: input.values };
  });
  return { inputShape: [start], inputName, parts };
}

/**
 * The network output for the model's outputs: the one output's layer, or a concat of several (a
 * flatten appended for each that is not a vector: `vector(name)`), with the parts (their shapes
 * filled in by the caller, from the network's graph).
 */
export function networkOutputs(model: tf.LayersModel, tensorOf: ReadonlyMap<string, string>, inputNames: ReadonlySet<string>, vector: (keras: tf.layers.Layer) => boolean, layers: Layer[], source: string): { layer: string; parts?: Array<{ name: string; tensor: string }> } {
  const outputs = model.outputs.map((output) => {
    const name = output.sourceLayer.name;
    const tensor = tensorOf.get(name)!;
    if (inputNames.has(tensor) || layers.length === 0)
      throw new InputError(`${source}: ${model.outputs.length > 1 ? `output '${name}'` : "the model's output"} is its input: expected at least one layer`);
    return { name, tensor, keras: output.sourceLayer };
  });
  if (outputs.length === 1) return { layer: outputs[0].tensor };
  const seen = new Map<string, string>();
  const flat = outputs.map(({ name, tensor, keras }) => {
    const other = seen.get(tensor);
    if (other !== undefined) throw new InputError(`${source}: outputs '${other}' and '${name}' are the same tensor: expected each output computed apart`);
    seen.set(tensor, name);
    if (vector(keras)) return tensor;
    const layer: Layer = { kind: 'flatten', name: unusedName(model, layers, `${name}:flat`), from: [tensor] };
    layers.push(layer);
    return layer.name;
  });
  const concat: Layer = { kind: 'concat', name: unusedName(model, layers, 'outputs'), from: flat };
  layers.push(concat);
  return { layer: concat.name, parts: outputs.map(({ name, tensor }) => ({ name, tensor })) };
}

function unusedName(model: tf.LayersModel, layers: readonly Layer[], base: string): string {
  const taken = new Set([...model.layers.map((l) => l.name), ...layers.map((l) => l.name)]);
  let name = base;
  for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
  return name;
}

/** Each output part's shape, ours, from `shapes` of the layers by name. */
export function outputParts(parts: ReadonlyArray<{ name: string; tensor: string }>, shapeOf: (layer: string) => number[]): OutputPart[] {
  return parts.map(({ name, tensor }) => ({ name, shape: shapeOf(tensor) }));
}
