// (G + I)⁻¹ in float64 for the solve's operator A⁻¹ (net-trim.md §3): a blocked Cholesky
// factor A = L·Lᵀ, then inv(L) column by column (stored transposed), then A⁻¹ = inv(L)ᵀ·inv(L).
// Every inner loop is a dot product of two contiguous rows.
//
// Each stage works on a share of rows or columns (`first`, `first + step`, …), so the same
// functions serve one thread (first 0, step 1) and the worker threads of parallelSpdInverse.ts,
// which runs their source text in workers: they must stay self-contained (no imports, no
// closures, nothing but their arguments, Math and `dot`).
//
// Matrices are row-major n×n Float64Arrays; `l` starts as A (only its lower triangle is read)
// and is overwritten by L's lower triangle; `linvT` row j is column j of inv(L).

/** Columns per block of the factorization (one round of the workers per block and stage). */
export const CHOLESKY_BLOCK = 64;

/** Σ_{t < length} a[i + t]·b[j + t], in four running sums (V8 then overlaps the multiply-adds). */
export function dot(a: Float64Array, i: number, b: Float64Array, j: number, length: number): number {
  let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  let t = 0;
  for (; t + 3 < length; t += 4) {
    s0 += a[i + t] * b[j + t];
    s1 += a[i + t + 1] * b[j + t + 1];
    s2 += a[i + t + 2] * b[j + t + 2];
    s3 += a[i + t + 3] * b[j + t + 3];
  }
  for (; t < length; t++) s0 += a[i + t] * b[j + t];
  return s0 + s1 + s2 + s3;
}

/** Rows i ≥ j0 of block [j0, j1): l[i, j] −= Σ_{k < j0} l[i,k]·l[j,k] (the bulk of the factorization). */
export function choleskyUpdate(l: Float64Array, n: number, j0: number, j1: number, first: number, step: number): void {
  for (let i = j0 + first; i < n; i += step) {
    const ri = i * n;
    const jEnd = Math.min(j1, i + 1);
    for (let j = j0; j < jEnd; j++) l[ri + j] -= dot(l, ri, l, j * n, j0);
  }
}

/**
 * Rows [j0, n) of block [j0, j1), after choleskyUpdate: the rest of the dot products (k in the
 * block) and the division by the pivot; rows j1.. are independent once the diagonal block
 * (rows j0..j1−1, done first by one thread: rowsFrom = j0, step 1) is factored. Returns the row
 * of a non-positive pivot, or −1.
 */
export function choleskyBlock(l: Float64Array, n: number, j0: number, j1: number, rowsFrom: number, rowsTo: number, first: number, step: number): number {
  for (let i = rowsFrom + first; i < rowsTo; i += step) {
    const ri = i * n;
    const jEnd = Math.min(j1, i + 1);
    for (let j = j0; j < jEnd; j++) {
      const rj = j * n;
      let s = l[ri + j];
      for (let k = j0; k < j; k++) s -= l[ri + k] * l[rj + k];
      if (i === j) {
        if (!(s > 0)) return i;
        l[ri + j] = Math.sqrt(s);
      } else l[ri + j] = s / l[rj + j];
    }
  }
  return -1;
}

/** Columns j of inv(L) (into row j of linvT): forward substitution L·x = e_j. */
export function invertColumns(l: Float64Array, linvT: Float64Array, n: number, first: number, step: number): void {
  for (let j = first; j < n; j += step) {
    const rj = j * n;
    linvT[rj + j] = 1 / l[rj + j];
    for (let i = j + 1; i < n; i++) linvT[rj + i] = -dot(l, i * n + j, linvT, rj + j, i - j) / l[i * n + i];
  }
}

/** Rows i of A⁻¹ = inv(L)ᵀ·inv(L): out[i, j] = out[j, i] = Σ_{k ≥ j} linvT[i,k]·linvT[j,k] for j ≥ i. */
export function inverseRows(linvT: Float64Array, out: Float64Array, n: number, first: number, step: number): void {
  for (let i = first; i < n; i += step) {
    const ri = i * n;
    for (let j = i; j < n; j++) {
      const s = dot(linvT, ri + j, linvT, j * n + j, n - j);
      out[ri + j] = s;
      out[j * n + i] = s;
    }
  }
}

/** A (n×n) with G + I in it: the starting `l` of the stages above. */
export function identityPlus(g: Float64Array, n: number, into: Float64Array = new Float64Array(n * n)): Float64Array {
  into.set(g.subarray(0, n * n));
  for (let i = 0; i < n; i++) into[i * n + i] += 1;
  return into;
}

export const notPositiveDefinite = (row: number, n: number) => new Error(`cholesky: matrix is not positive definite (pivot ${row} of ${n})`);

/** (G + I)⁻¹ on this thread, for G symmetric positive semidefinite. */
export function spdInverseOfIdentityPlus(g: Float64Array, n: number): Float64Array {
  return spdInverse(identityPlus(g, n), n);
}

/** A⁻¹ on this thread, for A symmetric positive definite; `a` is overwritten (by its factor). */
export function spdInverse(a: Float64Array, n: number): Float64Array {
  const l = a;
  for (let j0 = 0; j0 < n; j0 += CHOLESKY_BLOCK) {
    const j1 = Math.min(n, j0 + CHOLESKY_BLOCK);
    choleskyUpdate(l, n, j0, j1, 0, 1);
    const bad = choleskyBlock(l, n, j0, j1, j0, n, 0, 1);
    if (bad >= 0) throw notPositiveDefinite(bad, n);
  }
  const linvT = new Float64Array(n * n);
  invertColumns(l, linvT, n, 0, 1);
  const out = new Float64Array(n * n);
  inverseRows(linvT, out, n, 0, 1);
  return out;
}

type HostInverse = (g: Float64Array, n: number) => Promise<Float64Array>;
let hostInverse: HostInverse = async (g, n) => spdInverseOfIdentityPlus(g, n);

/** Node's entry points install the worker-thread version (parallelSpdInverse.ts); pages keep one thread. */
export function setHostInverse(inverse: HostInverse): void {
  hostInverse = inverse;
}

/**
 * From this size up, the last inverse is kept with its G (2·n² floats, until the next call): a
 * layer's column blocks share X and so G, and each block's setup would otherwise factor it again
 * (LeNet's FC1, N = 3 137: seconds each). Below it the factorization costs less than keeping it.
 */
export const INVERSE_REUSE_MIN_SIZE = 1024;
let last: { g: Float64Array; n: number; inverse: Float64Array } | null = null;

const sameValues = (a: Float64Array, b: Float64Array) => {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
};

/**
 * (G + I)⁻¹ with the installed host implementation (the GPU solver's setup); the same G as the
 * call before (from INVERSE_REUSE_MIN_SIZE up) gets a copy of the same inverse. `g` must not be
 * changed after the call.
 */
export async function inverseOfIdentityPlusOnHost(g: Float64Array, n: number): Promise<Float64Array> {
  if (n < INVERSE_REUSE_MIN_SIZE) return hostInverse(g, n);
  if (last && last.n === n && sameValues(last.g, g)) return Float64Array.from(last.inverse);
  last = null; // the old pair goes before the new one is made
  const inverse = await hostInverse(g, n);
  last = { g, n, inverse: Float64Array.from(inverse) };
  return inverse;
}
