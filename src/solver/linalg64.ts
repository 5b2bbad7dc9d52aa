// Plain float64 dense linear algebra for the CPU reference solver and the per-layer setup.
// Matrices are row-major Float64Array with explicit sizes (no classes: these are hot loops).

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

/** C (k×n) = Aᵀ · B, with A m×k and B m×n. */
export function multiplyTransposedA(a: Float64Array, b: Float64Array, m: number, k: number, n: number, out: Float64Array = new Float64Array(k * n)): Float64Array {
  out.fill(0);
  for (let p = 0; p < m; p++) {
    const brow = p * n;
    for (let i = 0; i < k; i++) {
      const api = a[p * k + i];
      if (api === 0) continue;
      const row = i * n;
      for (let j = 0; j < n; j++) out[row + j] += api * b[brow + j];
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
 * Cholesky factor L (lower triangular, row-major) with A = L·Lᵀ.
 * Throws when A is not symmetric positive definite (a non-positive pivot).
 */
export function cholesky(a: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    let d = a[j * n + j];
    const lj = j * n;
    for (let k = 0; k < j; k++) d -= l[lj + k] * l[lj + k];
    if (!(d > 0)) throw new Error(`cholesky: matrix is not positive definite (pivot ${j} is ${d})`);
    const ljj = Math.sqrt(d);
    l[lj + j] = ljj;
    for (let i = j + 1; i < n; i++) {
      const li = i * n;
      let s = a[li + j];
      for (let k = 0; k < j; k++) s -= l[li + k] * l[lj + k];
      l[li + j] = s / ljj;
    }
  }
  return l;
}

/** A⁻¹ from the Cholesky factor of A: inv(L) by forward substitution, then inv(L)ᵀ·inv(L). */
export function inverseFromCholesky(l: Float64Array, n: number): Float64Array {
  const linv = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    linv[j * n + j] = 1 / l[j * n + j];
    for (let i = j + 1; i < n; i++) {
      let s = 0;
      for (let k = j; k < i; k++) s -= l[i * n + k] * linv[k * n + j];
      linv[i * n + j] = s / l[i * n + i];
    }
  }
  // A⁻¹ = inv(L)ᵀ inv(L); inv(L) is lower triangular.
  const inv = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      let s = 0;
      for (let k = j; k < n; k++) s += linv[k * n + i] * linv[k * n + j];
      inv[i * n + j] = s;
      inv[j * n + i] = s;
    }
  }
  return inv;
}

/** (G + I)⁻¹ for a symmetric positive semidefinite G, via Cholesky. */
export function inverseOfIdentityPlus(g: Float64Array, n: number): Float64Array {
  const a = Float64Array.from(g);
  for (let i = 0; i < n; i++) a[i * n + i] += 1;
  return inverseFromCholesky(cholesky(a, n), n);
}

export function frobeniusNormSquared(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return s;
}
