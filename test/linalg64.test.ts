import { describe, expect, it } from 'vitest';
import { cholesky, gramOfColumns, inverseOfIdentityPlus, multiply } from '../src/solver/linalg64.js';
import { gaussianMatrix } from './helpers/random.js';

describe('float64 Cholesky', () => {
  const n = 23;
  const a = gramOfColumns(gaussianMatrix(40, n, 7), 40, n);
  for (let i = 0; i < n; i++) a[i * n + i] += 1;

  it('factors A = L·Lᵀ with L lower triangular', () => {
    const l = cholesky(a, n);
    for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) expect(l[i * n + j]).toBe(0);
    const lt = new Float64Array(n * n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) lt[i * n + j] = l[j * n + i];
    const product = multiply(l, lt, n, n, n);
    for (let i = 0; i < n * n; i++) expect(product[i]).toBeCloseTo(a[i], 9);
  });

  it('inverts G + I: (G + I)·inverse = I', () => {
    const g = gramOfColumns(gaussianMatrix(15, n, 8), 15, n); // rank-deficient G: still fine with + I
    const inverse = inverseOfIdentityPlus(g, n);
    const shifted = Float64Array.from(g);
    for (let i = 0; i < n; i++) shifted[i * n + i] += 1;
    const product = multiply(shifted, inverse, n, n, n);
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(product[i * n + j]).toBeCloseTo(i === j ? 1 : 0, 10);
  });

  it('refuses a matrix that is not positive definite', () => {
    const indefinite = Float64Array.from([1, 2, 2, 1]);
    expect(() => cholesky(indefinite, 2)).toThrow(/not positive definite/);
  });
});
