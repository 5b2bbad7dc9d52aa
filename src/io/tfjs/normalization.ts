// Keras's Normalization layer, which TF.js does not know (browser-safe). keras.applications'
// EfficientNets start with one ((x − mean) / max(√variance, ε) per channel, ε = 1e-7), so a model
// converted from Keras has it; TF.js refuses the whole model ("Unknown layer: Normalization").
// It is read here, not by TF.js: TF.js loads the model with a linear Activation of the same name
// in its place and without its weights, and the Network gets a per-channel affine layer there.
// The written model keeps the Normalization and its weights (Keras reads it back).
import * as tf from '@tensorflow/tfjs';
import { InputError } from '../../errors.js';
import type { Layer } from '../../network/types.js';
import { specBytes, type CheckedModelJson, type LayerEntry, type WeightSpec } from '../tfjsCheck.js';
import type { TfjsWeightEntry } from './convert.js';
import type { Json } from './fields.js';
import { perChannel } from './layerShapes.js';

/** Keras's backend epsilon: the least divisor of a Normalization. */
const KERAS_EPSILON = 1e-7;

export interface Normalizations {
  /** By layer name: the per-channel affine map it is. */
  layers: Map<string, { scale: Float32Array; offset: Float32Array }>;
  /** Their weights (mean, variance, count), written back as read. */
  weights: TfjsWeightEntry[];
  /** What TF.js is given: the manifest and shard bytes without those weights. */
  specs: WeightSpec[];
  weightData: ArrayBuffer;
}

/** The Normalization layers of a checked model.json and what TF.js is given without them. */
export function readNormalizations(checked: CheckedModelJson, weightData: ArrayBuffer, source: string): Normalizations {
  const found = checked.entries.filter((e) => e.className === 'Normalization');
  const result: Normalizations = { layers: new Map(), weights: [], specs: checked.specs, weightData };
  if (!found.length) return result;
  const owner = new Map<string, LayerEntry>();
  for (const e of found) for (const role of ['mean', 'variance', 'count']) owner.set(`${e.name}/${role}`, e);
  const ownerOf = (spec: WeightSpec) => owner.get(spec.name) ?? found.find((e) => ['mean', 'variance', 'count'].some((r) => spec.name.endsWith(`/${e.name}/${r}`)));
  const values = new Map<string, Float32Array>();
  const kept: Uint8Array[] = [];
  let offset = 0;
  result.specs = [];
  for (const spec of checked.specs) {
    const bytes = specBytes(spec);
    const at = offset;
    offset += bytes;
    const entry = ownerOf(spec);
    if (!entry) {
      result.specs.push(spec);
      kept.push(new Uint8Array(weightData, at, bytes));
      continue;
    }
    const role = spec.name.slice(spec.name.lastIndexOf('/') + 1);
    if (spec.dtype !== 'float32' && role !== 'count')
      throw new InputError(`${source}: weightsManifest: weight '${spec.name}': dtype: expected float32 (a Normalization's ${role}), found ${spec.dtype}`);
    // As TF.js decodes it (a quantized mean or variance too: float16, or uint8/uint16 on its grid).
    const decoded = tf.io.decodeWeights(weightData.slice(at, at + bytes), [spec as tf.io.WeightsManifestEntry])[spec.name];
    const data = Float32Array.from(decoded.dataSync());
    decoded.dispose();
    values.set(`${entry.name}/${role}`, data);
    result.weights.push({ name: spec.name, layer: entry.name, role, shape: [...spec.shape], values: data, ...(spec.dtype === 'int32' ? { dtype: 'int32' as const } : {}) });
  }
  const total = kept.reduce((n, k) => n + k.length, 0);
  const joined = new Uint8Array(total);
  let at = 0;
  for (const k of kept) {
    joined.set(k, at);
    at += k.length;
  }
  result.weightData = joined.buffer;

  for (const e of found) {
    const where = `${source}: layer ${e.index} ('${e.name}')`;
    const channels = checked.shapes.get(e.name)!.at(-1)!;
    const config = e.config;
    const adapted = config.mean === undefined || config.mean === null;
    const mean = adapted ? values.get(`${e.name}/mean`)! : perChannel(config.mean, channels)!;
    const variance = adapted ? values.get(`${e.name}/variance`)! : perChannel(config.variance, channels)!;
    const scale = new Float32Array(channels);
    const shift = new Float32Array(channels);
    for (let c = 0; c < channels; c++) {
      if (!Number.isFinite(mean[c]) || !(variance[c] >= 0) || !Number.isFinite(variance[c]))
        throw new InputError(`${where}: ${Number.isFinite(mean[c]) ? 'variance' : 'mean'}[${c}]: expected a finite ${Number.isFinite(mean[c]) ? 'value ≥ 0' : 'value'}, found ${Number.isFinite(mean[c]) ? variance[c] : mean[c]}`);
      scale[c] = 1 / Math.max(Math.sqrt(variance[c]), KERAS_EPSILON);
      shift[c] = -mean[c] * scale[c];
    }
    result.layers.set(e.name, { scale, offset: shift });
  }
  return result;
}

/** The topology TF.js loads: each Normalization a linear Activation of the same name (same graph, no weights). */
export function withoutNormalizations(layers: Json[], names: ReadonlyMap<string, unknown>): void {
  for (const layer of layers) {
    const config = layer.config as Json;
    const name = (layer.name as string | undefined) ?? (config.name as string);
    if (layer.class_name !== 'Normalization' || !names.has(name)) continue;
    layer.class_name = 'Activation';
    layer.config = { name: config.name, activation: 'linear', ...(config.batch_input_shape ? { batch_input_shape: config.batch_input_shape } : {}) };
  }
}

/** The Network layer a Normalization is. */
export function normalizationLayer(name: string, normalizations: Normalizations): Layer {
  const { scale, offset } = normalizations.layers.get(name)!;
  return { kind: 'batchnorm', name, scale, offset };
}
