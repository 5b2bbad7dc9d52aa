// How a model file stores a dense or conv layer's weights when not float32 (the layer's
// `storage`), and the values such a file holds: IEEE halves (half.ts), or TF.js's affine
// quantization to 8 or 16 bits (tensorflowjs_converter --quantize_uint8/--quantize_uint16), each
// tensor on its own grid q·scale + min, q = 0 … 2^bits − 1, spanning its values with zero on the
// grid, so a pruned weight stays exactly zero. The grid is the converter's (quantization.py:
// quantize_weights); its values are what TF.js's decodeWeights makes of it (q·scale + min in
// float64, then float32). Pruning rounds each new kernel and bias here (storeLayerWeights), so the
// layers after it, the report and the written file all hold the same weights.
import { roundToHalf } from './half.js';
import type { AffineGrid, Conv2DLayer, DenseLayer, Network, WeightStorage } from './types.js';

const LEVELS = { uint8: 255, uint16: 65535 } as const;

/** Bytes a value takes in storage (float32 where there is none). */
export function storageBytes(storage: WeightStorage | undefined): number {
  return storage === undefined ? 4 : storage === 'float16' ? 2 : storage.dtype === 'uint8' ? 1 : 2;
}

/** x rounded to the nearest integer, ties to even (numpy's round, which the converter uses). */
export function roundHalfEven(x: number): number {
  const floor = Math.floor(x);
  const rest = x - floor;
  return rest > 0.5 || (rest === 0.5 && floor % 2 !== 0) ? floor + 1 : floor;
}

/**
 * The converter's grid for `values`: scale = (max − min) / (2^bits − 1) and, when the range holds
 * zero, min nudged to −round(−min / scale)·scale so that zero is a grid point; a constant tensor is
 * all q = 0 with scale 1.
 */
export function affineGrid(values: ArrayLike<number>, dtype: AffineGrid['dtype']): AffineGrid {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    lo = Math.min(lo, values[i]);
    hi = Math.max(hi, values[i]);
  }
  if (!(lo < hi)) return { dtype, scale: 1, min: values.length ? lo : 0 };
  const scale = (hi - lo) / LEVELS[dtype];
  return { dtype, scale, min: lo <= 0 && hi >= 0 ? -roundHalfEven(-lo / scale) * scale : lo };
}

/** Each value's integer on `grid` (clipped to the grid's range, rounded to the nearest, ties to even). */
export function quantize(values: ArrayLike<number>, grid: AffineGrid): Uint8Array | Uint16Array {
  const top = LEVELS[grid.dtype];
  const max = top * grid.scale + grid.min;
  const q = grid.dtype === 'uint8' ? new Uint8Array(values.length) : new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) q[i] = roundHalfEven((Math.min(Math.max(values[i], grid.min), max) - grid.min) / grid.scale);
  return q;
}

/** The float32 values of grid integers, as TF.js decodes them. */
export function dequantize(q: ArrayLike<number>, grid: AffineGrid): Float32Array {
  return Float32Array.from(q, (v) => v * grid.scale + grid.min);
}

/** `values` as a file with `storage` holds them, and that storage (for affine, the new grid of the values, which they then lie on). */
export function storeAs(values: ArrayLike<number>, storage: WeightStorage): { values: Float32Array; storage: WeightStorage } {
  if (storage === 'float16') return { values: roundToHalf(values), storage };
  const grid = affineGrid(values, storage.dtype);
  return { values: dequantize(quantize(values, grid), grid), storage: grid };
}

/**
 * Whether `values` all lie on `grid` (as read, or as storeAs left them): a writer stores them on
 * it, bit for bit, and otherwise as float32, never a weight it was not given.
 */
export function onGrid(values: ArrayLike<number>, grid: AffineGrid): boolean {
  return dequantize(quantize(values, grid), grid).every((v, i) => v === values[i]);
}

/** How `dtype` stores a tensor before its grid is made (a scale and minimum of NaN: storeAs makes them from the values). */
export function storageFor(dtype: 'float16' | AffineGrid['dtype']): WeightStorage {
  return dtype === 'float16' ? dtype : { dtype, scale: NaN, min: NaN };
}

/** Whether a layer's kernel and bias already hold values their storage holds (on its grid, or halves). */
function onStorage(layer: DenseLayer | Conv2DLayer): boolean {
  const on = (values: Float32Array | null, storage: WeightStorage | undefined) =>
    !values || !storage || (storage === 'float16' ? roundToHalf(values).every((v, i) => v === values[i]) : onGrid(values, storage));
  return on(layer.kernel, layer.storage?.kernel) && on(layer.bias, layer.storage?.bias);
}

/** Rounds a layer's kernel and bias to its storage, new grids and all (in place; the values a pruning set). */
export function storeLayerWeights(layer: DenseLayer | Conv2DLayer): void {
  const { kernel, bias } = layer.storage ?? {};
  if (!kernel && !bias) return;
  const storage = { ...layer.storage };
  if (kernel) ({ values: layer.kernel, storage: storage.kernel } = storeAs(layer.kernel, kernel));
  if (bias && layer.bias) ({ values: layer.bias, storage: storage.bias } = storeAs(layer.bias, bias));
  layer.storage = storage;
}

/** Rounds the dense and conv layers of `network` but those at `except` (indices) that are not on their storage yet; whether there was one. */
export function storeOtherLayers(network: Network, except: ReadonlySet<number>): boolean {
  const others = network.layers.filter((l, i): l is DenseLayer | Conv2DLayer => (l.kind === 'dense' || l.kind === 'conv2d') && !except.has(i) && !onStorage(l));
  for (const layer of others) storeLayerWeights(layer);
  return others.length > 0;
}
