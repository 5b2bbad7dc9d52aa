// The convergence test's view of the answer W2 (both engines) against a float64 sum written out
// from the caller's data: off Ω, only what passes the certificate's entrywise limit
// feasibility·max|Y| counts, so the ADMM stops exactly when the certificate will accept.
import { afterAll, describe, expect, it } from 'vitest';
import { CpuAdmmEngine } from '../src/solver/cpuSolver.js';
import { GpuAdmmEngine } from '../src/solver/gpu/gpuSolver.js';
import { prepareLayerProblem } from '../src/solver/problem.js';
import { gpuForTests } from './helpers/gpu.js';
import { plantedLayer } from './helpers/problems.js';
import { gaussianMatrix } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

const [P, N, M] = [120, 12, 5];
const layer = plantedLayer({ samples: P, inputs: N, outputs: M, nonzerosPerColumn: 4, seed: 7, bias: true });
// A perturbed answer (N+1 rows with the bias): some inactive entries end up above 0 by various amounts.
const planted = Float64Array.from({ length: (N + 1) * M }, (_, i) => (i < N * M ? layer.W[i] : layer.b[i - N * M]));
const noise = gaussianMatrix(N + 1, M, 11);
const answer = planted.map((w, i) => w + 0.15 * noise[i]);

const yMax = Math.max(...Array.from(layer.Y.data, Math.abs));

/** Σ on Ω (XW − Y)², Σ off Ω (XW − limit)₊², in the caller's units then normalized by scale². */
function expected(limit: number, scale: number) {
  const Y = layer.Y.data;
  let activeSq = 0;
  let excessSq = 0;
  for (let p = 0; p < P; p++)
    for (let m = 0; m < M; m++) {
      let z = answer[N * M + m];
      for (let n = 0; n < N; n++) z += layer.X.data[p * N + n] * answer[n * M + m];
      const y = Y[p * M + m];
      if (y > 0) activeSq += (z - y) ** 2;
      else excessSq += Math.max(z - limit, 0) ** 2;
    }
  return { activeSq: activeSq / scale ** 2, offSupportExcessSq: excessSq / scale ** 2 };
}

describe('the answer feasibility the convergence test reads', () => {
  for (const feasibility of [1e-3, 0.02]) {
    const problem = prepareLayerProblem({ X: layer.X, Y: layer.Y, epsilonGain: 0.05, tolerances: { feasibility } });
    const limit = problem.offSupportLimit * problem.scale; // in the caller's units
    const want = expected(limit, problem.scale);

    it(`feasibility ${feasibility}: the stop's limit is the certificate's bound feasibility·max|Y| less a small margin`, () => {
      expect(limit).toBeLessThan(feasibility * yMax);
      expect(limit).toBeGreaterThan(0.95 * feasibility * yMax);
    });
    const state = { W3: answer, W2: answer, U1: new Float64Array(P * M), U2: new Float64Array((N + 1) * M) };

    it(`CPU, feasibility ${feasibility}: matches the sums from the caller's data`, async () => {
      const engine = new CpuAdmmEngine(problem);
      await engine.setState(state);
      const got = await engine.answerFeasibility();
      expect(got.activeSq).toBeCloseTo(want.activeSq, 10);
      expect(got.offSupportExcessSq / want.offSupportExcessSq).toBeCloseTo(1, 10);
      expect(want.offSupportExcessSq).toBeGreaterThan(0);
    });

    it.skipIf(!gpu)(`WebGPU, feasibility ${feasibility}: the same in float32`, async () => {
      const engine = await GpuAdmmEngine.create(gpu!, problem);
      try {
        await engine.setState(state);
        const got = await engine.answerFeasibility();
        expect(Math.abs(got.activeSq / want.activeSq - 1)).toBeLessThan(1e-4);
        expect(Math.abs(got.offSupportExcessSq / want.offSupportExcessSq - 1)).toBeLessThan(1e-3);
      } finally {
        engine.release();
      }
    });
  }

  it('a larger limit leaves less excess (the limit is in the sum, not only in the certificate)', () => {
    expect(expected(0.02 * yMax, 1).offSupportExcessSq).toBeLessThan(expected(1e-3 * yMax, 1).offSupportExcessSq);
  });
});
