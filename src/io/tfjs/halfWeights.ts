// TF.js's float16 quantization (tensorflowjs_converter --quantize_float16): a weight stored as
// halves, its manifest entry marked `quantization: { dtype: 'float16' }`, half the bytes. A model
// read so is written so: the float32 data tf.io.encodeWeights makes is turned into halves for the
// weights that were halves (each rounded to the nearest; a pruned zero stays zero).
import type * as tf from '@tensorflow/tfjs';
import { halfBytes } from '../../network/half.js';

/** The manifest's weights stored as float16. */
export function float16Weights(specs: ReadonlyArray<{ name: string; quantization?: unknown }>): string[] {
  return specs.filter((s) => (s.quantization as { dtype?: unknown } | undefined)?.dtype === 'float16').map((s) => s.name);
}

/** The manifest's weights quantized to uint8 or uint16 (affine), by dtype: written back as float32. */
export function affineWeights(specs: ReadonlyArray<{ name: string; quantization?: unknown }>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const s of specs) {
    const dtype = (s.quantization as { dtype?: unknown } | undefined)?.dtype;
    if (dtype === 'uint8' || dtype === 'uint16') counts[dtype] = (counts[dtype] ?? 0) + 1;
  }
  return counts;
}

/** encodeWeights' float32 data and specs, with the weights of `names` stored as float16. */
export function withFloat16(data: ArrayBuffer, specs: tf.io.WeightsManifestEntry[], names: ReadonlySet<string>): { data: Uint8Array; specs: tf.io.WeightsManifestEntry[] } {
  const parts: Uint8Array[] = [];
  let offset = 0;
  const out = specs.map((spec) => {
    const bytes = spec.shape.reduce((a, b) => a * b, 1) * 4; // float32 and int32 alike
    const part = new Uint8Array(data, offset, bytes);
    offset += bytes;
    if (!names.has(spec.name) || spec.dtype !== 'float32') {
      parts.push(part);
      return spec;
    }
    const values = new Float32Array(data.slice(part.byteOffset, part.byteOffset + bytes));
    parts.push(halfBytes(values));
    return { ...spec, quantization: { dtype: 'float16' as const } };
  });
  const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    joined.set(p, at);
    at += p.length;
  }
  return { data: joined, specs: out };
}
