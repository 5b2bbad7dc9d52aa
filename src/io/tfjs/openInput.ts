// A model.json whose input leaves axes open besides the batch (Keras's Input(shape=(None,)) for
// text of any length: batch_input_shape [null, null]) is read at fixed sizes (inputSizes.ts): the
// checks and TF.js's loading see a copy with them fixed, and the model written back is the
// model.json as read, its axes still open.
import { fixOpenAxes, type DeclaredAxis, type FixedAxis, type InputSizes } from '../inputSizes.js';
import { isObject, type Json } from '../tfjsCheck.js';

/** The layers that declare the input's shape: InputLayers, or a Sequential model's first layer. */
function inputConfigs(modelJson: unknown): Array<{ name: string; config: Json }> {
  if (!isObject(modelJson) || !isObject(modelJson.modelTopology)) return [];
  const top = modelJson.modelTopology as Json;
  const topology = (isObject(top.model_config) ? top.model_config : top) as Json;
  const layers = Array.isArray(topology.config) ? topology.config : isObject(topology.config) ? (topology.config as Json).layers : undefined;
  if (!Array.isArray(layers)) return [];
  const declaring = layers.filter((l, i) => isObject(l) && isObject(l.config) && (l.class_name === 'InputLayer' || (topology.class_name === 'Sequential' && i === 0)));
  return declaring.map((l) => ({ name: String(l.name ?? l.config.name ?? 'input'), config: l.config as Json }));
}

const shapeOf = (config: Json): unknown => config.batch_input_shape ?? config.batchInputShape;
// Sizes and nulls only: any other shape is tfjsCheck's to report.
const open = (shape: unknown): shape is DeclaredAxis[] =>
  Array.isArray(shape) && shape.length >= 2 && shape.slice(1).every((n) => n === null || typeof n === 'number') && shape.slice(1).some((n) => n === null);

/**
 * `modelJson` with its input's open axes fixed from `sizes` (a copy; `modelJson` itself when none is
 * open), and what was fixed. The checks of tfjsCheck.ts then see sizes; a malformed shape is left
 * for them to report.
 */
export function withFixedInput(modelJson: unknown, source: string, sizes?: InputSizes): { json: unknown; fixed: FixedAxis[] } {
  if (!inputConfigs(modelJson).some((l) => open(shapeOf(l.config)))) return { json: modelJson, fixed: [] };
  const json = structuredClone(modelJson);
  const inputs = inputConfigs(json).filter((l) => open(shapeOf(l.config)));
  const { dims, fixed } = fixOpenAxes(
    source,
    inputs.map((l) => ({ name: l.name, axes: shapeOf(l.config) as DeclaredAxis[] })),
    sizes,
  );
  inputs.forEach((l, k) => {
    const key = l.config.batch_input_shape !== undefined ? 'batch_input_shape' : 'batchInputShape';
    l.config[key] = [(shapeOf(l.config) as unknown[])[0], ...dims[k]];
  });
  return { json, fixed };
}
