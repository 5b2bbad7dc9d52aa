// What each layer's program guarantees about the pruned network's response, worked out in
// float64 from the trained weights (net-trim.md §2, "Consistency").
//
// A layer program's answer Ŵ keeps (ŴᵀX − Y)_Ω within ε and, off Ω, ŴᵀX ≤ V. With the layer's
// input perturbed by Δ (the layers before it were pruned), ‖relu(ŴᵀX̂) − relu(WᵀX)‖_F is at most:
//   parallel (Ŵ solved on X):      (1 + f)·ε + ‖Ŵ‖₂·‖Δ‖_F
//   cascade (Ŵ solved on X̂, V = WᵀX̂, ε = γ‖(WᵀX̂ − Y)_Ω‖):  γ·(1 + f)·‖W‖₂·‖Δ‖_F
// (on Ω, |relu(z) − y| ≤ |z − y|; off Ω, relu(ŴᵀX̂) ≤ relu(WᵀX̂) ≤ |Wᵀ(X̂ − X)|), plus the
// off-support slack; f is the certified feasibility (0.1%). Between two pruned layers, pooling
// multiplies ‖Δ‖ by at most √(windows per input). On a normalized network (every ‖W‖₂ ≤ 1) these
// are the paper's Σ ε_j and ε₁·γ^(ℓ−1); its ε₁·√(γ^(ℓ−1)) assumed that normalization and a √γ
// the scheduler's ε = γ‖…‖ does not have, which is why trained layers exceeded it.
import { upsampleInput, windowGeometry } from '../network/shapes.js';
import { upsampleTaps } from '../network/cpuOps.js';
import type { ActivationLayer, Conv2DLayer, DenseLayer, Layer, UpsampleMode } from '../network/types.js';
import { designOf } from '../solver/design.js';
import { leastSquaresResidual } from '../solver/linalg64.js';
import type { LayerInput, Matrix } from '../solver/types.js';

/**
 * ‖K‖₂ of a rows×cols row-major matrix by power iteration on KᵀK (float64), with a small margin
 * over the estimate (power iteration approaches the largest singular value from below).
 */
export function spectralNorm(kernel: ArrayLike<number>, rows: number, cols: number, iterations = 200): number {
  let v = new Float64Array(cols).fill(1 / Math.sqrt(cols));
  let sigma = 0;
  const u = new Float64Array(rows);
  for (let it = 0; it < iterations; it++) {
    u.fill(0);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j < cols; j++) s += kernel[i * cols + j] * v[j];
      u[i] = s;
    }
    const next = new Float64Array(cols);
    for (let i = 0; i < rows; i++) {
      const ui = u[i];
      if (ui !== 0) for (let j = 0; j < cols; j++) next[j] += kernel[i * cols + j] * ui;
    }
    const norm = Math.sqrt(next.reduce((s, x) => s + x * x, 0));
    if (norm === 0) return 0;
    sigma = Math.sqrt(norm);
    v = next.map((x) => x / norm);
  }
  return sigma * 1.001;
}

/** √(the most windows one input value falls in): the Lipschitz factor of a window operation in ‖·‖_F. */
function overlap(kernel: [number, number], strides: [number, number]): number {
  return Math.sqrt(Math.ceil(kernel[0] / strides[0]) * Math.ceil(kernel[1] / strides[1]));
}

/** ‖layer‖₂ as a linear map of its input (bias left out: it cancels in differences). */
export function operatorNorm(layer: DenseLayer | Conv2DLayer, kernel: ArrayLike<number>): number {
  if (layer.kind === 'dense') return spectralNorm(kernel, layer.inputs, layer.units);
  const [kh, kw] = layer.kernelSize;
  // A grouped conv is block-diagonal over its groups: its norm is the largest group's.
  const groups = layer.kind === 'conv2d' ? (layer.groups ?? 1) : 1;
  const rows = kh * kw * (layer.inChannels / groups);
  const outG = layer.filters / groups;
  let norm = 0;
  for (let g = 0; g < groups; g++) {
    const block = new Float64Array(rows * outG);
    for (let r = 0; r < rows; r++) for (let f = 0; f < outG; f++) block[r * outG + f] = kernel[r * layer.filters + g * outG + f];
    norm = Math.max(norm, spectralNorm(block, rows, outG));
  }
  // A dilated tap pattern: each input still falls in at most kh·kw windows (one per tap).
  const dilated = layer.kind === 'conv2d' && (layer.dilations ?? [1, 1]).some((d) => d !== 1);
  return norm * overlap(layer.kernelSize, dilated ? [1, 1] : layer.strides);
}

/** Lipschitz constants of the pointwise activations (sup |f'|). */
function activationLipschitz(layer: ActivationLayer): number {
  const alpha = Math.abs(layer.alpha ?? 0);
  switch (layer.fn) {
    case 'clip':
    case 'tanh':
      return 1;
    case 'leakyRelu':
    case 'elu':
      return Math.max(1, alpha || (layer.fn === 'elu' ? 1 : 0.01));
    case 'sigmoid':
      return 0.25;
    case 'gelu':
    case 'geluTanh':
      return 1.13; // max of Φ(x) + xφ(x), at x = √2 (the tanh form's, 1.129, at x ≈ 1.5)
    case 'silu':
      return 1.1; // max of σ(x)(1 + x(1 − σ(x))), at x ≈ 2.4
    case 'hardSwish':
      return 1.5; // (2x + 3) / 6 at x = 3
    case 'hardSigmoid':
      return layer.alpha === undefined ? 0.2 : alpha;
    case 'softplus':
    case 'softsign':
      return 1; // σ(x) < 1; 1/(1 + |x|)² ≤ 1
    case 'selu':
      return Math.abs(layer.beta ?? 1.0507009873554805) * Math.max(1, layer.alpha === undefined ? 1.6732632423543772 : alpha);
    case 'mish':
      return 1.09; // max of mish′, near x ≈ 1.2
    case 'reciprocal':
      return Infinity; // 1/x² grows without bound near 0
    case 'prelu':
      return Math.max(1, ...Array.from(layer.slopes ?? [], Math.abs));
  }
}

/** The largest total weight one input of an upsampled axis gets (the interpolation matrix's ‖·‖₁). */
function upsampleColumnSum(size: number, scale: number, mode: UpsampleMode | undefined): number {
  const { first, second, weight } = upsampleTaps(size, scale, mode);
  const sums = new Float64Array(size);
  first.forEach((i, o) => (sums[i] += 1 - weight[o]));
  second.forEach((i, o) => (sums[i] += weight[o]));
  return Math.max(...sums);
}

/** The Lipschitz factor (‖·‖_F) of the non-prunable layers from `from` to `to` (exclusive). */
export function lipschitzBetween(layers: readonly Layer[], shapes: readonly number[][], from: number, to: number): number {
  let factor = 1;
  for (let i = from; i < to; i++) {
    const layer = layers[i];
    if (layer.kind === 'maxpool2d' || layer.kind === 'avgpool2d') {
      // A max or a mean of a window is at most its ℓ2 norm.
      const g = windowGeometry(layer, shapes[i]);
      factor *= overlap([g.kernelH, g.kernelW], [g.strideH, g.strideW]);
    } else if (layer.kind === 'globalavgpool') factor /= Math.sqrt(shapes[i][0] * shapes[i][1]);
    else if (layer.kind === 'batchnorm') factor *= layer.scale.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    else if (layer.kind === 'activation') factor *= activationLipschitz(layer);
    // u ↦ u / √(‖u‖²/C + ε) after centring (a contraction) has slope at most 1/√ε: loose, but a bound.
    else if (layer.kind === 'layernorm' || layer.kind === 'groupnorm') factor *= layer.scale.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / Math.sqrt(layer.epsilon);
    // ‖A‖₂ ≤ √(‖A‖₁‖A‖∞) per axis: each output's weights add up to 1, an input's at most its column sum (s for nearest).
    else if (layer.kind === 'upsample') {
      const [h, w] = upsampleInput(shapes[i]);
      factor *= Math.sqrt(upsampleColumnSum(h, layer.scale[0], layer.mode) * upsampleColumnSum(w, layer.scale[1], layer.mode));
    }
    else if (layer.kind === 'gather') {
      // A channel picked k times counts k times in the norm.
      const counts = new Map<number, number>();
      for (const c of layer.indices) counts.set(c, (counts.get(c) ?? 0) + 1);
      factor *= Math.sqrt(Math.max(...counts.values()));
    }
    else if (layer.kind === 'rearrange') {
      // As a gather's: an input value copied k times counts k times (the constant cancels in a difference).
      const counts = new Map<number, number>();
      for (const k of layer.indices) if (k >= 0) counts.set(k, (counts.get(k) ?? 0) + 1);
      factor *= Math.sqrt(Math.max(1, ...counts.values()));
    }
    // The product of two computed tensors (attention) grows with its inputs: no Lipschitz factor holds.
    else if (layer.kind === 'matmul') factor = Infinity;
    // relu, flatten and insertzeros (isometries), a global max pool (|max a − max b| ≤ max |a − b| per channel) and softmax-free paths: 1.
  }
  return factor;
}

export interface BoundStep {
  /** The layer's ε (what its program was given). */
  epsilon: number;
  /** ‖Ŵ‖₂ (parallel) or ‖W‖₂ (cascade) of the layer, times the Lipschitz factor of what lies between it and the previous pruned layer. */
  gain: number;
  /** ‖(ŴᵀX − V)₊‖ over the off-support entries (the report's offSupportResidual): the slack of ŴᵀX ≤ V. */
  offSupportSlack: number;
}

/**
 * The bound on each pruned layer's response discrepancy, in order: parallel B = (1 + f)·ε +
 * gain·B_prev + slack; cascade B = γ·(1 + f)·gain·B_prev + slack, B = (1 + f)·ε for the first.
 */
export function consistencyBounds(mode: 'parallel' | 'cascade', steps: readonly BoundStep[], gamma: number, feasibility: number): number[] {
  const bounds: number[] = [];
  let previous = 0;
  steps.forEach((step, i) => {
    const own = (1 + feasibility) * step.epsilon;
    const bound =
      i === 0 ? own + step.offSupportSlack
      : mode === 'parallel' ? own + step.gain * previous + step.offSupportSlack
      : gamma * (1 + feasibility) * step.gain * previous + step.offSupportSlack;
    bounds.push(bound);
    previous = bound;
  });
  return bounds;
}


/** min over W, b of ‖XW + b − Y‖_F: the smallest ε a linear layer program can have (float64). */
export function leastSquaresEpsilon(X: LayerInput, Y: Matrix, bias: boolean): number {
  const design = designOf(X, bias);
  const M = Y.cols;
  return leastSquaresResidual(design.gramOfColumns(), design.multiplyTransposed(Y.data, M), design.columns, M, (W) => design.multiply(W, M), Y.data);
}
