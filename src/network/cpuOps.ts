// The float64 layer operations of forwardCpu. Tensors are samples-major NHWC; kernels are Keras
// layouts (dense N×M, conv HWIO with I = cin / groups).
import type { WindowGeometry } from './shapes.js';
import type { ActivationLayer, PositionRule, UpsampleMode } from './types.js';

type FloatArray = Float32Array | Float64Array;

export interface KernelAndBias {
  kernel: FloatArray;
  bias: FloatArray | null;
}

/** XK + b for X P×N (samples-major) and K N×M. */
export function denseForward(x: Float64Array, samples: number, inputs: number, units: number, w: KernelAndBias): Float64Array {
  const { kernel, bias } = w;
  const out = new Float64Array(samples * units);
  for (let p = 0; p < samples; p++) {
    const row = p * units;
    if (bias) for (let m = 0; m < units; m++) out[row + m] = bias[m];
    for (let n = 0; n < inputs; n++) {
      const v = x[p * inputs + n];
      if (v === 0) continue;
      const k = n * units;
      for (let m = 0; m < units; m++) out[row + m] += v * kernel[k + m];
    }
  }
  return out;
}

/** Direct NHWC convolution with an HWIO kernel over `groups` channel groups, zero padding, plus bias. */
export function convForward(x: Float64Array, samples: number, g: WindowGeometry, filters: number, groups: number, w: KernelAndBias): Float64Array {
  const { kernel, bias } = w;
  const { inH, inW, channels: cin, kernelH, kernelW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const [dilationH, dilationW] = [g.dilationH ?? 1, g.dilationW ?? 1];
  const groupIn = cin / groups;
  const groupOut = filters / groups;
  const out = new Float64Array(samples * outH * outW * filters);
  for (let s = 0; s < samples; s++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const o = ((s * outH + oy) * outW + ox) * filters;
        if (bias) for (let f = 0; f < filters; f++) out[o + f] = bias[f];
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = oy * strideH - padTop + ky * dilationH;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ox * strideW - padLeft + kx * dilationW;
            if (ix < 0 || ix >= inW) continue;
            const xBase = ((s * inH + iy) * inW + ix) * cin;
            const kBase = (ky * kernelW + kx) * groupIn * filters;
            for (let group = 0; group < groups; group++)
              for (let c = 0; c < groupIn; c++) {
                const v = x[xBase + group * groupIn + c];
                if (v === 0) continue;
                const k = kBase + c * filters;
                for (let f = group * groupOut; f < (group + 1) * groupOut; f++) out[o + f] += v * kernel[k + f];
              }
          }
        }
      }
  return out;
}

/**
 * NHWC max or average pooling. Max: positions in the padding never win. Average: the mean over
 * the window's positions inside the input, or over the whole window when `countIncludePad`.
 */
export function poolForward(x: Float64Array, samples: number, g: WindowGeometry, kind: 'max' | 'avg', countIncludePad = false): Float64Array {
  const { inH, inW, channels, kernelH, kernelW, strideH, strideW, outH, outW, padTop, padLeft } = g;
  const out = new Float64Array(samples * outH * outW * channels).fill(kind === 'max' ? -Infinity : 0);
  for (let s = 0; s < samples; s++)
    for (let oy = 0; oy < outH; oy++)
      for (let ox = 0; ox < outW; ox++) {
        const o = ((s * outH + oy) * outW + ox) * channels;
        let inside = 0;
        for (let ky = 0; ky < kernelH; ky++) {
          const iy = oy * strideH - padTop + ky;
          if (iy < 0 || iy >= inH) continue;
          for (let kx = 0; kx < kernelW; kx++) {
            const ix = ox * strideW - padLeft + kx;
            if (ix < 0 || ix >= inW) continue;
            inside++;
            const xBase = ((s * inH + iy) * inW + ix) * channels;
            if (kind === 'max') for (let c = 0; c < channels; c++) out[o + c] = Math.max(out[o + c], x[xBase + c]);
            else for (let c = 0; c < channels; c++) out[o + c] += x[xBase + c];
          }
        }
        if (kind === 'avg') {
          // Windows never overhang the padded input (no ceil mode): with the padding counted, each holds kh·kw positions.
          const count = countIncludePad ? kernelH * kernelW : inside;
          for (let c = 0; c < channels; c++) out[o + c] /= count;
        }
      }
  return out;
}

/** The mean over H and W of each sample's [H, W, C]: P × C. */
/** The mean ('avg') or max over H and W of each sample's [H, W, C]: samples × C. */
export function globalPoolForward(x: Float64Array, samples: number, shape: readonly number[], mode: 'avg' | 'max'): Float64Array {
  const [h, w, c] = shape;
  const out = new Float64Array(samples * c).fill(mode === 'max' ? -Infinity : 0);
  for (let s = 0; s < samples; s++)
    for (let i = 0; i < h * w; i++) {
      const base = (s * h * w + i) * c;
      for (let k = 0; k < c; k++) out[s * c + k] = mode === 'max' ? Math.max(out[s * c + k], x[base + k]) : out[s * c + k] + x[base + k];
    }
  if (mode === 'avg') for (let i = 0; i < out.length; i++) out[i] /= h * w;
  return out;
}

/** Per-channel scale·x + offset over the last axis. */
export function affineForward(x: Float64Array, scale: ArrayLike<number>, offset: ArrayLike<number>): Float64Array {
  const c = scale.length;
  return x.map((v, i) => scale[i % c] * v + offset[i % c]);
}

/** The channel-axis concatenation of tensors with `widths` channels each (samples-major, channels last). */
export function concatForward(parts: Float64Array[], widths: number[]): Float64Array {
  const total = widths.reduce((a, b) => a + b, 0);
  const positions = parts[0].length / widths[0];
  const out = new Float64Array(positions * total);
  for (let p = 0; p < positions; p++) {
    let offset = p * total;
    parts.forEach((part, k) => {
      out.set(part.subarray(p * widths[k], (p + 1) * widths[k]), offset);
      offset += widths[k];
    });
  }
  return out;
}

/** Each position's channels normalized (mean 0, biased variance 1 + ε; `rms`: mean square 1 + ε, nothing subtracted), then scaled and shifted per channel. */
export function layerNormForward(x: Float64Array, scale: ArrayLike<number>, offset: ArrayLike<number>, epsilon: number, rms = false): Float64Array {
  const channels = scale.length;
  const out = new Float64Array(x.length);
  for (let p = 0; p < x.length; p += channels) {
    let mean = 0;
    if (!rms) for (let c = 0; c < channels; c++) mean += x[p + c];
    mean /= channels;
    let variance = 0;
    for (let c = 0; c < channels; c++) variance += (x[p + c] - mean) ** 2;
    const inv = 1 / Math.sqrt(variance / channels + epsilon);
    for (let c = 0; c < channels; c++) out[p + c] = (x[p + c] - mean) * inv * scale[c] + offset[c];
  }
  return out;
}

/** Group normalization of each sample's [H, W, C] (types.ts GroupNormLayer), in float64. */
export function groupNormForward(x: Float64Array, samples: number, positions: number, groups: number, scale: ArrayLike<number>, offset: ArrayLike<number>, epsilon: number): Float64Array {
  const channels = scale.length;
  const per = channels / groups;
  const count = positions * per;
  const out = new Float64Array(x.length);
  for (let s = 0; s < samples; s++)
    for (let g = 0; g < groups; g++) {
      const at = (p: number, k: number) => (s * positions + p) * channels + g * per + k;
      let mean = 0;
      for (let p = 0; p < positions; p++) for (let k = 0; k < per; k++) mean += x[at(p, k)];
      mean /= count;
      let variance = 0;
      for (let p = 0; p < positions; p++) for (let k = 0; k < per; k++) variance += (x[at(p, k)] - mean) ** 2;
      const inv = 1 / Math.sqrt(variance / count + epsilon);
      for (let p = 0; p < positions; p++) for (let k = 0; k < per; k++) out[at(p, k)] = (x[at(p, k)] - mean) * inv * scale[g * per + k] + offset[g * per + k];
    }
  return out;
}

/** The channels at `indices` of each position's `channels` values: out[p, c] = x[p, indices[c]]. */
export function gatherForward(x: Float64Array, channels: number, indices: readonly number[]): Float64Array {
  const positions = x.length / channels;
  const out = new Float64Array(positions * indices.length);
  for (let p = 0; p < positions; p++) for (let c = 0; c < indices.length; c++) out[p * indices.length + c] = x[p * channels + indices[c]];
  return out;
}

/** Each sample's values moved and a constant added (types.ts RearrangeLayer): out[i] = x[indices[i]] + offset[i]. */
export function rearrangeForward(x: Float64Array, samples: number, indices: Int32Array, offset: Float32Array | null): Float64Array {
  const inSize = x.length / samples;
  const size = indices.length;
  const out = new Float64Array(samples * size);
  for (let s = 0; s < samples; s++)
    for (let i = 0; i < size; i++) out[s * size + i] = (indices[i] >= 0 ? x[s * inSize + indices[i]] : 0) + (offset ? offset[i] : 0);
  return out;
}

/**
 * The table row of each token of samples of `tokens` ids: the id, or with a position rule
 * RoBERTa's position (padding at start, the other tokens counted from start + 1 in each sample).
 */
export function tableRows(ids: ArrayLike<number>, tokens: number, positions?: PositionRule): ArrayLike<number> {
  if (!positions) return ids;
  const rows = new Int32Array(ids.length);
  for (let s = 0; s < ids.length; s += tokens) {
    let count = 0;
    for (let t = s; t < s + tokens; t++) rows[t] = ids[t] === positions.pad ? positions.start : positions.start + ++count;
  }
  return rows;
}

/** Table rows (tableRows of ids checked by checkForwardInput) written into `out` (float64 here, float32 for the GPU's host lookup). */
export function embeddingRows<T extends Float32Array | Float64Array>(ids: ArrayLike<number>, table: Float32Array, dims: number, out: T): T {
  for (let t = 0; t < ids.length; t++) out.set(table.subarray(ids[t] * dims, (ids[t] + 1) * dims), t * dims);
  return out;
}

/** The position of the last of `tokens` ids from `at` that is not `pad`, 0 when none past the first is (transformers' argmax of t·[id ≠ pad]). */
export function lastTokenOf(ids: ArrayLike<number>, at: number, tokens: number, pad: number): number {
  for (let t = tokens - 1; t > 0; t--) if (ids[at + t] !== pad) return t;
  return 0;
}

/** Each sample's token at its last id that is not `pad`: [1, T, C] (and T ids) → [C]. */
export function lastTokenForward(x: Float64Array, ids: ArrayLike<number>, samples: number, tokens: number, channels: number, pad: number): Float64Array {
  const out = new Float64Array(samples * channels);
  for (let s = 0; s < samples; s++) {
    const t = lastTokenOf(ids, s * tokens, tokens, pad);
    out.set(x.subarray((s * tokens + t) * channels, (s * tokens + t + 1) * channels), s * channels);
  }
  return out;
}

/** Each sample's [B, M, K] times [B, K, N]: [B, M, N]. */
export function matmulForward(a: Float64Array, b: Float64Array, samples: number, [batch, m, k]: readonly number[], n: number): Float64Array {
  const out = new Float64Array(samples * batch * m * n);
  for (let z = 0; z < samples * batch; z++)
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += a[(z * m + i) * k + t] * b[(z * k + t) * n + j];
        out[(z * m + i) * n + j] = sum;
      }
  return out;
}

/**
 * One axis of an upsampling (UPSAMPLE_MODES, the GPU kernel's upsampleTap): for each output index
 * the two inputs it reads and the second one's weight.
 */
export function upsampleTaps(size: number, scale: number, mode: UpsampleMode = 'nearest'): { first: Int32Array; second: Int32Array; weight: Float64Array } {
  const out = size * scale;
  const [first, second, weight] = [new Int32Array(out), new Int32Array(out), new Float64Array(out)];
  for (let o = 0; o < out; o++) {
    if (mode === 'nearest') {
      first[o] = second[o] = Math.floor(o / scale);
      continue;
    }
    const source =
      mode === 'bilinear' ? Math.max((o + 0.5) / scale - 0.5, 0) : mode === 'bilinear-align-corners' ? (out > 1 ? (o * (size - 1)) / (out - 1) : 0) : o / scale;
    first[o] = Math.min(Math.floor(source), size - 1);
    second[o] = Math.min(first[o] + 1, size - 1);
    weight[o] = source - first[o];
  }
  return { first, second, weight };
}

/** Upsampling of `samples` images [H, W, C] by whole factors (UpsampleLayer): each axis's taps, weighted. */
export function upsampleForward(x: Float64Array, samples: number, [h, w, c]: readonly number[], scale: readonly [number, number], mode: UpsampleMode = 'nearest'): Float64Array {
  const [rows, cols] = [upsampleTaps(h, scale[0], mode), upsampleTaps(w, scale[1], mode)];
  const [outH, outW] = [h * scale[0], w * scale[1]];
  const out = new Float64Array(samples * outH * outW * c);
  const at = (n: number, y: number, xi: number, ch: number) => x[((n * h + y) * w + xi) * c + ch];
  for (let n = 0; n < samples; n++)
    for (let y = 0; y < outH; y++)
      for (let xo = 0; xo < outW; xo++) {
        const [y0, y1, wy, x0, x1, wx] = [rows.first[y], rows.second[y], rows.weight[y], cols.first[xo], cols.second[xo], cols.weight[xo]];
        for (let ch = 0; ch < c; ch++) {
          const top = (1 - wx) * at(n, y0, x0, ch) + wx * at(n, y0, x1, ch);
          const bottom = (1 - wx) * at(n, y1, x0, ch) + wx * at(n, y1, x1, ch);
          out[((n * outH + y) * outW + xo) * c + ch] = (1 - wy) * top + wy * bottom;
        }
      }
  return out;
}

/** Zeros between the pixels of `samples` images [H, W, C] (InsertZerosLayer). */
export function insertZerosForward(x: Float64Array, samples: number, [h, w, c]: readonly number[], [sh, sw]: readonly [number, number]): Float64Array {
  const [outH, outW] = [(h - 1) * sh + 1, (w - 1) * sw + 1];
  const out = new Float64Array(samples * outH * outW * c);
  for (let n = 0; n < samples; n++)
    for (let y = 0; y < h; y++)
      for (let xi = 0; xi < w; xi++) {
        const from = ((n * h + y) * w + xi) * c;
        out.set(x.subarray(from, from + c), ((n * outH + y * sh) * outW + xi * sw) * c);
      }
  return out;
}

export function sumForward(parts: Float64Array[]): Float64Array {
  const out = Float64Array.from(parts[0]);
  for (const part of parts.slice(1)) for (let i = 0; i < out.length; i++) out[i] += part[i];
  return out;
}

/** x·gate elementwise, the gate of x's size or one value per channel per sample (broadcast over positions). */
export function gateForward(x: Float64Array, gate: Float64Array, samples: number): Float64Array {
  const perSample = x.length / samples;
  const gateSize = gate.length / samples;
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i] * gate[Math.floor(i / perSample) * gateSize + ((i % perSample) % gateSize)];
  return out;
}

/** Softmax over the last axis (rows of `cols` values). */
export function softmaxForward(x: Float64Array, cols: number): Float64Array {
  const out = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += cols) {
    let max = -Infinity;
    for (let j = 0; j < cols; j++) max = Math.max(max, x[r + j]);
    let sum = 0;
    for (let j = 0; j < cols; j++) sum += out[r + j] = Math.exp(x[r + j] - max);
    for (let j = 0; j < cols; j++) out[r + j] /= sum;
  }
  return out;
}

export function reluInPlace(x: Float64Array): Float64Array {
  for (let i = 0; i < x.length; i++) if (!(x[i] > 0)) x[i] = 0;
  return x;
}

/** erf to ~1e-7 (Abramowitz–Stegun 7.1.26 is 1.5e-7): GELU in float64 at the precision of an f32 model. */
function erf(x: number): number {
  const t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return x >= 0 ? y : -y;
}

/** alpha and beta of the activations that have them, when a layer leaves them out (Keras's and ONNX's defaults). */
export const ACTIVATION_DEFAULTS: Partial<Record<ActivationLayer['fn'], { alpha: number; beta?: number }>> = {
  leakyRelu: { alpha: 0.01 },
  elu: { alpha: 1 },
  hardSigmoid: { alpha: 0.2, beta: 0.5 },
  // SELU's fixed point constants (Klambauer et al. 2017), as ONNX, PyTorch and Keras take them.
  selu: { alpha: 1.6732632423543772, beta: 1.0507009873554805 },
  // 0.5·x·(1 + tanh(alpha·(x + beta·x³))): GPT-2's and BERT's "gelu_new", PyTorch's approximate='tanh'.
  geluTanh: { alpha: Math.sqrt(2 / Math.PI), beta: 0.044715 },
};

const softplus = (v: number) => (v > 20 ? v : Math.log1p(Math.exp(v)));

/** The pointwise function of an activation layer; `at`: the value's index in its sample (PReLU's slope). */
export function activationFunction(layer: ActivationLayer): (v: number, at: number) => number {
  const alpha = layer.alpha ?? ACTIVATION_DEFAULTS[layer.fn]?.alpha;
  const beta = layer.beta ?? ACTIVATION_DEFAULTS[layer.fn]?.beta;
  switch (layer.fn) {
    case 'clip': {
      const lo = layer.min ?? -Infinity;
      const hi = layer.max ?? Infinity;
      return (v) => Math.min(Math.max(v, lo), hi);
    }
    case 'leakyRelu':
      return (v) => (v >= 0 ? v : alpha! * v);
    case 'elu':
      return (v) => (v >= 0 ? v : alpha! * (Math.exp(v) - 1));
    case 'sigmoid':
      return (v) => 1 / (1 + Math.exp(-v));
    case 'tanh':
      return Math.tanh;
    case 'gelu':
      return (v) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    case 'geluTanh':
      return (v) => 0.5 * v * (1 + Math.tanh(alpha! * (v + beta! * v ** 3)));
    case 'silu':
      return (v) => v / (1 + Math.exp(-v));
    case 'hardSigmoid':
      return (v) => Math.min(Math.max(alpha! * v + beta!, 0), 1);
    case 'hardSwish':
      return (v) => (v * Math.min(Math.max(v + 3, 0), 6)) / 6;
    case 'softplus':
      return softplus;
    case 'softsign':
      return (v) => v / (1 + Math.abs(v));
    case 'selu':
      return (v) => beta! * (v >= 0 ? v : alpha! * (Math.exp(v) - 1));
    case 'reciprocal':
      return (v) => 1 / v;
    case 'mish':
      return (v) => v * Math.tanh(softplus(v));
    case 'prelu': {
      const slopes = layer.slopes!;
      return (v, at) => (v >= 0 ? v : slopes[at % slopes.length] * v);
    }
  }
}
