// IEEE half precision, the storage of float16 models (a layer's storage: storage.ts): conversions
// to and from float32 bits, and the rounding pruning applies to such a model's new weights.

const halfView = new DataView(new ArrayBuffer(4));

/** The float32 value of IEEE half-precision bits (exact: float32 holds every half). */
export function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // subnormal (and ±0)
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** The half-precision bits nearest a float32 value (ties to even; past 65504 → ±∞), as hardware converts. */
export function floatToHalf(value: number): number {
  halfView.setFloat32(0, value);
  const x = halfView.getUint32(0);
  const sign = (x >>> 16) & 0x8000;
  const exponent = (x >>> 23) & 0xff;
  let mantissa = x & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0); // ∞, NaN (quiet)
  const e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mantissa |= 0x800000; // the implicit 1, then shifted into the subnormal range
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const middle = 1 << (shift - 1);
    return sign | (half + (rest > middle || (rest === middle && half & 1) ? 1 : 0));
  }
  const rest = mantissa & 0x1fff;
  let bits = (e << 10) | (mantissa >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && bits & 1)) bits++; // a carry into the exponent is right too
  return sign | bits;
}

/** Each value rounded to the nearest half-precision value (what a float16 file stores of it). */
export function roundToHalf(values: ArrayLike<number>): Float32Array {
  return Float32Array.from(values, (v) => halfToFloat(floatToHalf(v)));
}

/** Values as half-precision bytes, little-endian (ONNX's raw_data, TF.js's weight data), each rounded to the nearest half. */
export function halfBytes(values: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(values.length * 2);
  const out = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) out.setUint16(i * 2, floatToHalf(values[i]), true);
  return bytes;
}
