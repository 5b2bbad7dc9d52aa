// The programs with sides (solver/problem.ts): a clipped ReLU (ReLU6: Ω strictly between the
// clamps, ≤ 0 at the lower one, ≥ 6 at the upper) and a layer inside a residual sum (the other
// inputs as an offset). Planted layers make the answer known to be feasible; the constraints are
// checked here from the returned weights, independently of the solver's report, and the GPU's
// answer against the float64 CPU reference.
import { describe, expect, it } from 'vitest';
import { solveLayer } from '../src/solver/solveLayer.js';
import type { SolveLayerOptions } from '../src/solver/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { plantedLayer } from './helpers/problems.js';
import { gaussianMatrix } from './helpers/random.js';

const gpu = await gpuForTests();

/**
 * The program's constraints at weights `W` (N1×M, bias last), in float64: the distance from Y on
 * Ω, the excess past the clamps off it (‖·‖ and largest), and the clipped output's distance from Y.
 */
function violations(o: Omit<Case, 'plantedL1'>, W: ArrayLike<number>, bias: ArrayLike<number> | null, low: number, high: number) {
  const { rows: P, cols: N, data: X } = o.X;
  const M = o.Y.cols;
  let ballSq = 0;
  let excessSq = 0;
  let outputSq = 0;
  for (let p = 0; p < P; p++)
    for (let m = 0; m < M; m++) {
      let z = (bias ? bias[m] : 0) + (o.offset ? o.offset.data[p * M + m] : 0);
      for (let n = 0; n < N; n++) z += X[p * N + n] * W[n * M + m];
      const y = o.Y.data[p * M + m];
      if (y > low + 1e-6 && y < high - 1e-6) ballSq += (z - y) ** 2;
      else if (y >= high - 1e-6) excessSq += Math.max(high - z, 0) ** 2;
      else excessSq += Math.max(z - low, 0) ** 2;
      outputSq += (Math.min(Math.max(z, low), high) - y) ** 2;
    }
  return { ball: Math.sqrt(ballSq), excess: Math.sqrt(excessSq), output: Math.sqrt(outputSq) };
}

type Case = SolveLayerOptions & { X: { rows: number; cols: number; data: Float64Array | Float32Array }; plantedL1: number };
const l1 = (o: { W: Float64Array; b: Float64Array }) => [...o.W, ...o.b].reduce((s, v) => s + Math.abs(v), 0);

const cases: Array<[string, () => Case, [number, number], number]> = [
  ['ReLU6 (clip 0…6)', () => {
    const o = plantedLayer({ samples: 400, inputs: 30, outputs: 6, nonzerosPerColumn: 6, seed: 81, bias: true, activation: 'clip', clip: [0, 6] });
    return { X: o.X, Y: o.Y, activation: 'clip', clip: [0, 6], plantedL1: l1(o) };
  }, [0, 6], 0.02],
  ['ReLU after a residual sum (offset)', () => {
    const offset = gaussianMatrix(400, 6, 83);
    const o = plantedLayer({ samples: 400, inputs: 30, outputs: 6, nonzerosPerColumn: 6, seed: 82, bias: true, offset });
    return { X: o.X, Y: o.Y, activation: 'relu', offset: { rows: 400, cols: 6, data: offset }, plantedL1: l1(o) };
  }, [0, Infinity], 0.02],
  ['a clip −3…3 after a residual sum', () => {
    const offset = gaussianMatrix(400, 6, 85).map((v) => 0.5 * v);
    const o = plantedLayer({ samples: 400, inputs: 30, outputs: 6, nonzerosPerColumn: 6, seed: 84, bias: true, activation: 'clip', clip: [-3, 3], offset });
    return { X: o.X, Y: o.Y, activation: 'clip', clip: [-3, 3], offset: { rows: 400, cols: 6, data: offset }, plantedL1: l1(o) };
  }, [-3, 3], 0.02],
];

describe('programs with sides: clipped ReLUs and residual offsets', () => {
  for (const [name, make, [low, high], gain] of cases) {
    const results: Record<string, { l1: number; nonzeros: number }> = {};
    for (const backend of ['cpu', 'webgpu'] as const)
      it.skipIf(backend === 'webgpu' && !gpu)(`${name}, ${backend}: converged and certified; every constraint holds when checked from the weights`, async () => {
        const { plantedL1, ...o } = make();
        const r = await solveLayer({ ...o, epsilonGain: gain, backend, gpu: gpu ?? undefined, maxIterations: 6000 });
        expect(r.report.converged, r.report.statusReason ?? '').toBe(true);
        const v = violations(o, r.weights.data, r.bias, low, high);
        // The ε-ball with the excess past the clamps counted in it, which bounds the clipped output's error.
        expect(Math.hypot(v.ball, v.excess)).toBeLessThanOrEqual(r.report.epsilon * 1.001 + 1e-9);
        expect(v.output).toBeLessThanOrEqual(Math.hypot(v.ball, v.excess) * (1 + 1e-12));
        expect(Math.abs(v.ball - r.report.constraintResidual)).toBeLessThan(1e-6 * (1 + v.ball));
        expect(Math.abs(v.excess - r.report.offSupportResidual)).toBeLessThan(1e-6 * (1 + v.excess));
        expect(r.report.relativeDualityGap).toBeLessThan(0.01);
        // The planted weights meet every constraint (with ε = 0): the optimum's ℓ1 is at most theirs.
        expect(r.report.l1).toBeLessThanOrEqual(plantedL1 * 1.001);
        results[backend] = { l1: r.report.l1, nonzeros: r.report.nonzeros };
        if (results.cpu && results.webgpu) expect(Math.abs(results.webgpu.l1 - results.cpu.l1) / results.cpu.l1).toBeLessThan(0.01);
      }, 120_000);
  }

  it('the sides matter: the plain ReLU program on a residual layer (no offset) is a different program', async () => {
    const { plantedL1: _, ...o } = cases[1][1]();
    const withOffset = await solveLayer({ ...o, epsilonGain: 0.02, backend: 'cpu' });
    const v = violations({ ...o, offset: undefined }, withOffset.weights.data, withOffset.bias, 0, Infinity);
    // Without the offset, the same weights miss the targets by far more than ε.
    expect(v.ball).toBeGreaterThan(5 * withOffset.report.epsilon);
  });
});
