// The matmul kernels' oracle.

/** op(A)·op(B) in float64, from row-major storage (A stored k×m with ta, B stored n×k with tb). */
export function matmulReference(a: Float64Array, b: Float64Array, m: number, n: number, k: number, ta: boolean, tb: boolean): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = s;
    }
  return out;
}
