// The convergence test's view of the answer W2 (both engines) against a float64 sum written out
// from the caller's data: on Ω the squared distance from Y, off Ω the squared excess over the
// bound; the stop holds their sum to the ε-ball, as the float64 certificate does (checkLayer's
// constraintResidual and offSupportResidual are the same two sums).
import { afterAll, describe, expect, it } from 'vitest';
import { CpuAdmmEngine } from '../src/solver/cpuSolver.js';
import { GpuAdmmEngine } from '../src/solver/gpu/gpuSolver.js';
import { checkLayer } from '../src/solver/evaluate.js';
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

/** Σ on Ω (XW − Y)², Σ off Ω (XW)₊², in the caller's units then normalized by scale². */
function expected(scale: number) {
  const Y = layer.Y.data;
  let activeSq = 0;
  let excessSq = 0;
  for (let p = 0; p < P; p++)
    for (let m = 0; m < M; m++) {
      let z = answer[N * M + m];
      for (let n = 0; n < N; n++) z += layer.X.data[p * N + n] * answer[n * M + m];
      const y = Y[p * M + m];
      if (y > 0) activeSq += (z - y) ** 2;
      else excessSq += Math.max(z, 0) ** 2;
    }
  return { activeSq: activeSq / scale ** 2, offSupportExcessSq: excessSq / scale ** 2 };
}

describe('the answer feasibility the convergence test reads', () => {
  const problem = prepareLayerProblem({ X: layer.X, Y: layer.Y, epsilonGain: 0.05 });
  const want = expected(problem.scale);
  const state = { W3: answer, W2: answer, U1: new Float64Array(P * M), U2: new Float64Array((N + 1) * M) };

  it('CPU: matches the sums from the caller\'s data', async () => {
    const engine = new CpuAdmmEngine(problem);
    await engine.setState(state);
    const got = await engine.answerFeasibility();
    expect(got.activeSq).toBeCloseTo(want.activeSq, 10);
    expect(got.offSupportExcessSq / want.offSupportExcessSq).toBeCloseTo(1, 10);
    expect(want.offSupportExcessSq).toBeGreaterThan(0);
  });

  it.skipIf(!gpu)('WebGPU: the same in float32', async () => {
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

  it('the float64 certificate reads the same two sums (in the caller\'s units)', () => {
    const checks = checkLayer(problem, answer);
    expect(checks.constraintResidual ** 2 / (want.activeSq * problem.scale ** 2)).toBeCloseTo(1, 10);
    expect(checks.offSupportResidual ** 2 / (want.offSupportExcessSq * problem.scale ** 2)).toBeCloseTo(1, 10);
    expect(checks.offSupportViolation).toBeGreaterThan(0);
    expect(checks.offSupportViolation).toBeLessThanOrEqual(checks.offSupportResidual);
  });
});
