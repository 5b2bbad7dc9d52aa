// TF.js's weight quantization (tensorflowjs_converter --quantize_float16, --quantize_uint8,
// --quantize_uint16): a manifest entry with `quantization: { dtype }` (and for uint8 and uint16 the
// grid's `scale` and `min`) holds halves or grid integers, not float32. A model read so is written
// so, at the same size: each layer records how its kernel and bias were stored (Layer.storage),
// pruning rounds new weights to it (network/storage.ts), and the float32 data tf.io.encodeWeights
// makes is re-encoded here.
import type * as tf from '@tensorflow/tfjs';
import { halfBytes } from '../../network/half.js';
import { onGrid, quantize, storeLayerWeights } from '../../network/storage.js';
import type { Conv2DLayer, DenseLayer, LayerStorage, Network, WeightStorage } from '../../network/types.js';
import type { TfjsFold, TfjsWeightEntry } from './convert.js';

/** The manifest's quantized weights, by name. */
export function storedWeights(specs: ReadonlyArray<{ name: string; dtype?: string; quantization?: unknown }>): Record<string, WeightStorage> {
  const stored: Record<string, WeightStorage> = {};
  for (const spec of specs) {
    const q = spec.quantization as { dtype?: unknown; scale?: number; min?: number } | undefined;
    if (spec.dtype !== undefined && spec.dtype !== 'float32') continue; // an int32 weight is no network weight
    if (q?.dtype === 'float16') stored[spec.name] = 'float16';
    else if (q?.dtype === 'uint8' || q?.dtype === 'uint16') stored[spec.name] = { dtype: q.dtype, scale: q.scale!, min: q.min! };
  }
  return stored;
}

/**
 * Records in each layer how the file stores its kernel and bias. A layer with a BatchNormalization
 * folded into it holds products no grid holds: they are rounded to its kernel's storage (a new
 * grid), and so is the bias a fold adds, so the network computes with what the file will hold.
 */
export function storeLayers(network: Network, weights: readonly TfjsWeightEntry[], stored: Readonly<Record<string, WeightStorage>>, folds: readonly TfjsFold[]): void {
  const layers = new Map(network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d').map((l) => [l.name, l]));
  for (const entry of weights) {
    const layer = layers.get(entry.layer);
    const storage = stored[entry.name];
    if (entry.values || !layer || !storage) continue;
    layer.storage = { ...layer.storage, [entry.role === 'bias' ? 'bias' : 'kernel']: storage } satisfies LayerStorage;
  }
  for (const { into } of folds) {
    const layer = layers.get(into);
    if (!layer?.storage?.kernel) continue;
    layer.storage = { bias: layer.storage.kernel, ...layer.storage };
    storeLayerWeights(layer);
  }
}

/** encodeWeights' float32 data and specs, with the float32 weights `storedAs` names stored so (a quantization entry each). */
export function withStorage(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], storedAs: (name: string) => WeightStorage | undefined): { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const out = specs.map((spec) => {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4; // float32 and int32 alike
    const part = new Uint8Array(data, offset, bytes);
    offset += bytes;
    const storage = spec.dtype === 'float32' ? storedAs(spec.name) : undefined;
    const values = storage && new Float32Array(data.slice(part.byteOffset, part.byteOffset + bytes));
    if (storage === 'float16') {
      parts.push(halfBytes(values!));
      return { ...spec, quantization: { dtype: 'float16' as const } };
    }
    // Values on no grid (none is expected: read so, or rounded by pruning) stay float32, exact.
    const grid = storage && onGrid(values!, storage) ? storage : null;
    if (!grid) {
      parts.push(part);
      return spec;
    }
    const q = quantize(values!, grid);
    parts.push(new Uint8Array(q.buffer));
    return { ...spec, quantization: { dtype: grid.dtype, scale: grid.scale, min: grid.min } };
  });
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { data: joined, specs: out };
}
