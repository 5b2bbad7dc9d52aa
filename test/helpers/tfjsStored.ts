// Copies of a TF.js fixture whose weights are stored as tensorflowjs_converter's --quantize_*
// options store them (halves, or uint8/uint16 on an affine grid), made here since the converter
// (Python) is not installed: the grid is transcribed from its quantization.py, in float64 as numpy
// computes it, independently of src/network/storage.ts.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { floatToHalf } from '../../src/network/half.js';
import type { LayerStorage, Network } from '../../src/network/types.js';

export interface Manifest {
  weightsManifest: Array<{ paths: string[]; weights: Weight[] }>;
}

export interface Weight {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: { dtype: string; scale?: number; min?: number };
}

/**
 * A copy of the fixture `model` (a folder under fixtures/) in `dir`/`name`/ whose weights `store`
 * writes (setting their manifest entry's quantization, as the converter does), or null for a
 * float32 weight kept as it is. Returns the copy's model.json.
 */
export async function storedCopy(fixtures: string, model: string, dir: string, name: string, store: (weight: Weight, values: Float32Array) => Uint8Array | null): Promise<string> {
  const json = JSON.parse(await readFile(join(fixtures, model, 'model.json'), 'utf8')) as Manifest;
  const bin = await readFile(join(fixtures, model, 'weights.bin'));
  const floats = new Float32Array(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length));
  const parts: Uint8Array[] = [];
  let at = 0;
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    const values = floats.subarray(at, (at += w.shape.reduce((a, b) => a * b, 1)));
    parts.push(store(w, values) ?? new Uint8Array(values.slice().buffer));
  }
  const folder = join(dir, name);
  await mkdir(folder);
  await writeFile(join(folder, 'model.json'), JSON.stringify(json));
  await writeFile(join(folder, 'weights.bin'), Buffer.concat(parts));
  return join(folder, 'model.json');
}

/** --quantize_float16 for the weights `which` picks. */
export const toHalves = (which: (weight: string) => boolean) => (w: Weight, values: Float32Array) => {
  if (!which(w.name) || w.dtype !== 'float32') return null;
  w.quantization = { dtype: 'float16' };
  return new Uint8Array(Uint16Array.from(values, floatToHalf).buffer);
};

/** numpy's np.round: to the nearest integer, ties to even. */
function npRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** --quantize_uint8 or --quantize_uint16 for the weights `which` picks (quantization.py: quantize_weights). */
export const toGrid = (dtype: 'uint8' | 'uint16', which: (weight: string) => boolean) => (w: Weight, values: Float32Array) => {
  if (!which(w.name) || w.dtype !== 'float32') return null; // an int32 weight (a Normalization's count) kept as it is
  const quantMax = dtype === 'uint8' ? 255 : 65535;
  let minVal = Math.min(...values);
  let maxVal = Math.max(...values);
  let scale = 1;
  let q: number[];
  if (minVal === maxVal) q = Array.from(values, () => 0);
  else {
    scale = (maxVal - minVal) / quantMax;
    if (minVal <= 0 && 0 <= maxVal) {
      const nudgedZeroPoint = npRound((0 - minVal) / scale);
      minVal = -nudgedZeroPoint * scale;
      maxVal = quantMax * scale + minVal;
    }
    q = Array.from(values, (v) => npRound((Math.min(Math.max(v, minVal), maxVal) - minVal) / scale));
  }
  w.quantization = { dtype, scale, min: minVal };
  return dtype === 'uint8' ? Uint8Array.from(q) : new Uint8Array(Uint16Array.from(q).buffer);
};

/** Each manifest weight's name and how it is stored (its quantization dtype, else its dtype). */
export async function storedTypes(modelJson: string): Promise<Array<[string, string]>> {
  return (JSON.parse(await readFile(modelJson, 'utf8')) as Manifest).weightsManifest.flatMap((g) => g.weights).map((w) => [w.name, w.quantization?.dtype ?? w.dtype]);
}

/** Each dense and conv layer's storage, by layer name (those with one). */
export function storages(network: Network): Record<string, LayerStorage> {
  const found: Record<string, LayerStorage> = {};
  for (const l of network.layers) if ((l.kind === 'dense' || l.kind === 'conv2d') && l.storage) found[l.name] = l.storage;
  return found;
}
