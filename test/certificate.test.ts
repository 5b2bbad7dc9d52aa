// The dual bound (src/solver/certificate.ts) against the Fenchel dual written out by hand on a
// small program, and as what it must be whatever multipliers it is given: a lower bound on the
// optimal ℓ1.
import { describe, expect, it } from 'vitest';
import { solveLayer } from '../src/index.js';
import { dualBound } from '../src/solver/certificate.js';
import { prepareLayerProblem } from '../src/solver/problem.js';
import { plantedLayer } from './helpers/problems.js';
import { gaussianMatrix } from './helpers/random.js';

/**
 * The bound written out over a dense normalized X (P×N1), ReLU with V = 0: Λ = −ρ·U1, clamped ≥ 0
 * off Ω, its part on Ω of any length t (a brute-force search), each Λ at its best multiple within
 * ‖XΛᵀ‖_∞ ≤ 1: −σ_C(Λ)/‖XΛᵀ‖_∞ where that is positive.
 */
function byHand(X: Float64Array, Y: Float64Array, U1: ArrayLike<number>, rho: number, epsilon: number, P: number, N1: number, M: number): number {
  const base = Array.from(U1, (u, i) => (Y[i] > 0 ? -rho * u : Math.max(-rho * u, 0)));
  let best = -Infinity;
  for (let k = -2000; k <= 2000; k++) {
    const t = 10 ** (k / 2000);
    const lambda = base.map((l, i) => (Y[i] > 0 ? t * l : l));
    let inner = 0;
    let sq = 0;
    for (let i = 0; i < P * M; i++) if (Y[i] > 0) [inner, sq] = [inner + lambda[i] * Y[i], sq + lambda[i] ** 2];
    let norm = 0;
    for (let n = 0; n < N1; n++)
      for (let m = 0; m < M; m++) {
        let s = 0;
        for (let p = 0; p < P; p++) s += X[p * N1 + n] * lambda[p * M + m];
        norm = Math.max(norm, Math.abs(s));
      }
    const value = -(inner + epsilon * Math.sqrt(sq));
    best = Math.max(best, value > 0 ? value / norm : value * Math.min(1, 1 / norm));
  }
  return best;
}

describe('the dual bound', () => {
  const o = plantedLayer({ samples: 40, inputs: 5, outputs: 3, nonzerosPerColumn: 2, seed: 12, bias: false });
  const problem = prepareLayerProblem({ X: o.X, Y: o.Y, bias: false, epsilonGain: 0.1 });
  const [P, N1, M] = [40, 5, 3];
  const Xn = Float64Array.from(o.X.data, (x) => x / problem.scale);
  const multiply = async (lambda: Float64Array) => problem.design.multiplyTransposed(lambda, M);

  it('is −σ_C(Λ) at the best length of Λ on Ω, scaled onto ‖XΛᵀ‖_∞ = 1, up as well as down', async () => {
    // Multipliers pointing against Y on Ω (a positive value), at two lengths: the bound is the same.
    const base = Float64Array.from(problem.Y, (y, i) => (y > 0 ? y : 0.1 * ((i % 3) - 1)));
    for (const length of [1e-3, 1e3]) {
      const U1 = base.map((u) => u * length);
      const expected = byHand(Xn, problem.Y, U1, 2, problem.epsilonScaled, P, N1, M);
      expect(expected).toBeGreaterThan(0);
      const found = await dualBound(problem, U1, 2, multiply);
      expect(Math.abs(found - expected)).toBeLessThan(1e-3 * expected);
    }
    const small = await dualBound(problem, base.map((u) => u * 1e-3), 2, multiply);
    expect(await dualBound(problem, base.map((u) => u * 1e3), 2, multiply)).toBeCloseTo(small, 10);
  });

  it('never exceeds the optimal ℓ1, whatever multipliers it is given', async () => {
    const solved = await solveLayer({ X: o.X, Y: o.Y, bias: false, epsilonGain: 0.1, backend: 'cpu', tolerances: { gap: 1e-4, relative: 1e-6 } });
    expect(solved.report.converged).toBe(true);
    const optimum = solved.report.l1;
    // The solve's own multipliers come close; perturbed and random ones stay below.
    const own = Float64Array.from(solved.state.U1, (u) => u / problem.scale);
    const close = await dualBound(problem, own, solved.state.rho, multiply);
    expect(close).toBeGreaterThan(0.99 * optimum);
    for (let seed = 1; seed <= 12; seed++) {
      const noise = gaussianMatrix(P, M, seed);
      const U1 = own.map((u, i) => u + (seed / 12) * 0.5 * Math.abs(u + 1e-3) * noise[i]);
      expect(await dualBound(problem, U1, solved.state.rho, multiply)).toBeLessThanOrEqual(optimum * (1 + 1e-6));
      expect(await dualBound(problem, noise, 1, multiply)).toBeLessThanOrEqual(optimum * (1 + 1e-6));
      // Any residual direction on Ω is still a dual point.
      expect(await dualBound(problem, U1, solved.state.rho, multiply, gaussianMatrix(P, M, 100 + seed))).toBeLessThanOrEqual(optimum * (1 + 1e-6));
    }
  });

  it('takes Λ on Ω along the answer\'s residual, which float32-noisy multipliers lose', async () => {
    const solved = await solveLayer({ X: o.X, Y: o.Y, bias: false, epsilonGain: 0.1, backend: 'cpu', tolerances: { gap: 1e-4, relative: 1e-6 } });
    const optimum = solved.report.l1;
    const own = Float64Array.from(solved.state.U1, (u) => u / problem.scale);
    // Multipliers noisy on Ω (30% of their size), exact off it.
    const noise = gaussianMatrix(P, M, 77);
    const noisy = own.map((u, i) => (problem.Y[i] > 0 ? u * (1 + 0.3 * noise[i]) : u));
    // The answer's residual XŴ − Y (normalized), written out.
    const W = solved.weights.data;
    const residual = new Float64Array(P * M);
    for (let p = 0; p < P; p++)
      for (let m = 0; m < M; m++) {
        let z = 0;
        for (let n = 0; n < N1; n++) z += Xn[p * N1 + n] * W[n * M + m];
        residual[p * M + m] = z - problem.Y[p * M + m];
      }
    const without = await dualBound(problem, noisy, solved.state.rho, multiply);
    const along = await dualBound(problem, noisy, solved.state.rho, multiply, residual);
    expect(without).toBeLessThan(0.97 * optimum);
    expect(along).toBeGreaterThan(0.995 * optimum);
    expect(along).toBeLessThanOrEqual(optimum * (1 + 1e-6));
  });
});
