// Plain float64 dense linear algebra for the CPU reference solver and the per-layer setup.
// Matrices are row-major Float64Array with explicit sizes (no classes: these are hot loops).
import { spdInverse } from './spdInverse.js';

/** C (m×n) = A (m×k) · B (k×n). */
export function multiply(a: Float64Array, b: Float64Array, m: number, k: number, n: number, out: Float64Array = new Float64Array(m * n)): Float64Array {
  out.fill(0);
  for (let i = 0; i < m; i++) {
    const row = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      if (aip === 0) continue;
      const brow = p * n;
      for (let j = 0; j < n; j++) out[row + j] += aip * b[brow + j];
    }
  }
  return out;
}

/** G (k×k) = Aᵀ A for A m×k (upper triangle computed, mirrored). */
export function gramOfColumns(a: Float64Array, m: number, k: number): Float64Array {
  const g = new Float64Array(k * k);
  for (let p = 0; p < m; p++) {
    const arow = p * k;
    for (let i = 0; i < k; i++) {
      const v = a[arow + i];
      if (v === 0) continue;
      const grow = i * k;
      for (let j = i; j < k; j++) g[grow + j] += v * a[arow + j];
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) g[i * k + j] = g[j * k + i];
  return g;
}

/** G (m×m) = A Aᵀ for A m×k. */
export function gramOfRows(a: Float64Array, m: number, k: number): Float64Array {
  const g = new Float64Array(m * m);
  for (let i = 0; i < m; i++) {
    for (let j = i; j < m; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p] * a[j * k + p];
      g[i * m + j] = s;
      g[j * m + i] = s;
    }
  }
  return g;
}

/**
 * min over W of ‖X·W − Y‖_F (X rows×cols, Y rows×M): the least-squares residual, from the normal
 * equations by Cholesky. `gram` is XᵀX, `xty` is XᵀY, `multiplyX(W)` is X·W. A relative ridge of
 * 10⁻¹² keeps a rank-deficient XᵀX factorable (it raises the residual by a share of that order).
 */
export function leastSquaresResidual(gram: Float64Array, xty: Float64Array, cols: number, M: number, multiplyX: (W: Float64Array) => Float64Array, Y: ArrayLike<number>): number {
  const a = Float64Array.from(gram);
  let trace = 0;
  for (let i = 0; i < cols; i++) trace += a[i * cols + i];
  for (let i = 0; i < cols; i++) a[i * cols + i] += 1e-12 * (trace / cols || 1);
  const W = multiply(spdInverse(a, cols), xty, cols, cols, M);
  const fitted = multiplyX(W);
  let sq = 0;
  for (let i = 0; i < fitted.length; i++) sq += (fitted[i] - Y[i]) ** 2;
  return Math.sqrt(sq);
}
