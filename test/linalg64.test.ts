import { describe, expect, it } from 'vitest';
import { gramOfColumns, multiply } from '../src/solver/linalg64.js';
import { parallelInverseOfIdentityPlus, PARALLEL_MIN_SIZE } from '../src/solver/parallelSpdInverse.js';
import { CHOLESKY_BLOCK, choleskyBlock, choleskyUpdate, identityPlus, INVERSE_REUSE_MIN_SIZE, inverseOfIdentityPlusOnHost, setHostInverse, spdInverseOfIdentityPlus as inverseOfIdentityPlus } from '../src/solver/spdInverse.js';
import { gaussianMatrix } from './helpers/random.js';

/** max |(G + I)·inverse − I| over all entries. */
function identityError(g: Float64Array, inverse: Float64Array, n: number): number {
  const product = multiply(identityPlus(g, n), inverse, n, n, n);
  let worst = 0;
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) worst = Math.max(worst, Math.abs(product[i * n + j] - (i === j ? 1 : 0)));
  return worst;
}

describe('float64 Cholesky and (G + I)⁻¹', () => {
  // Sizes across block edges: one block, a partial second one, several blocks.
  for (const n of [23, CHOLESKY_BLOCK + 5, 3 * CHOLESKY_BLOCK - 1]) {
    it(`factors A = L·Lᵀ with L lower triangular (n = ${n}, blocks of ${CHOLESKY_BLOCK})`, () => {
      const a = identityPlus(gramOfColumns(gaussianMatrix(n + 17, n, n), n + 17, n), n);
      const l = Float64Array.from(a);
      for (let j0 = 0; j0 < n; j0 += CHOLESKY_BLOCK) {
        const j1 = Math.min(n, j0 + CHOLESKY_BLOCK);
        choleskyUpdate(l, n, j0, j1, 0, 1);
        expect(choleskyBlock(l, n, j0, j1, j0, n, 0, 1)).toBe(-1);
      }
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) l[i * n + j] = 0; // the upper triangle is never read
      const lt = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) lt[i * n + j] = l[j * n + i];
      const product = multiply(l, lt, n, n, n);
      for (let i = 0; i < n * n; i++) expect(product[i]).toBeCloseTo(a[i], 9);
    });

    it(`inverts G + I: (G + I)·inverse = I, rank-deficient G (n = ${n})`, () => {
      const g = gramOfColumns(gaussianMatrix(15, n, 8), 15, n);
      expect(identityError(g, inverseOfIdentityPlus(g, n), n)).toBeLessThan(1e-10);
    });
  }

  it('refuses a matrix that is not positive definite', () => {
    expect(() => inverseOfIdentityPlus(Float64Array.from([0, 2, 2, 0]), 2)).toThrow(/not positive definite \(pivot 1 of 2\)/);
  });
});

describe('(G + I)⁻¹ on worker threads', () => {
  const n = PARALLEL_MIN_SIZE + 37; // large enough to use the workers, several blocks, not a multiple of them
  const g = gramOfColumns(gaussianMatrix(n + 50, n, 3), n + 50, n);

  it('equals the one-thread inverse to rounding, for 2 and 3 threads (uneven shares)', async () => {
    const serial = inverseOfIdentityPlus(g, n);
    for (const threads of [2, 3]) {
      const parallel = await parallelInverseOfIdentityPlus(g, n, threads);
      let worst = 0;
      for (let i = 0; i < n * n; i++) worst = Math.max(worst, Math.abs(parallel[i] - serial[i]));
      expect(worst).toBeLessThan(1e-12);
      expect(identityError(g, parallel, n)).toBeLessThan(1e-9);
    }
  });

  it('refuses a matrix that is not positive definite, naming the pivot, and leaves no worker running', async () => {
    const bad = Float64Array.from(g);
    const row = n - 3; // a pivot in the workers' share of the last block
    for (let j = 0; j < n; j++) bad[row * n + j] = bad[j * n + row] = 0;
    bad[row * n + row] = -2; // (G + I)[row,row] = −1
    await expect(parallelInverseOfIdentityPlus(bad, n, 2)).rejects.toThrow(new RegExp(`not positive definite \\(pivot ${row} of ${n}\\)`));
  });
});

describe('the GPU setup\'s host inverse, kept for the same G', () => {
  it('factors a G once when the next call brings the same G (a layer\'s column blocks), again for another G, and hands out copies', async () => {
    const n = INVERSE_REUSE_MIN_SIZE;
    const calls: Float64Array[] = [];
    // A stand-in host inverse that records its calls (the real one is tested above).
    setHostInverse(async (g) => {
      calls.push(g);
      return Float64Array.from(g, (v, i) => v + i);
    });
    try {
      const g = Float64Array.from({ length: n * n }, (_, i) => (i % 7) / 7);
      const first = await inverseOfIdentityPlusOnHost(g, n);
      first.fill(-1); // the caller's copy: changing it does not change the kept inverse
      const again = await inverseOfIdentityPlusOnHost(Float64Array.from(g), n);
      expect(calls).toHaveLength(1);
      expect(again[5]).toBe(g[5] + 5);
      const other = Float64Array.from(g);
      other[n * n - 1] += 1;
      await inverseOfIdentityPlusOnHost(other, n);
      expect(calls).toHaveLength(2);
      // Below the size, nothing is kept.
      const small = new Float64Array(4);
      await inverseOfIdentityPlusOnHost(small, 2);
      await inverseOfIdentityPlusOnHost(small, 2);
      expect(calls).toHaveLength(4);
    } finally {
      setHostInverse(async (g, size) => inverseOfIdentityPlus(g, size));
    }
  });
});
