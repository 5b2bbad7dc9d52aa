// The layer solver on the GPU against the float64 reference, and against properties that need no
// solver: feasibility of both constraints, the duality gap, recovery of a planted layer.
import { afterAll, describe, expect, it } from 'vitest';
import { InputError, solveLayer, type SolveLayerOptions, type SolveLayerResult } from '../src/index.js';
import { runAdmm } from '../src/solver/admmDriver.js';
import { gpuForTests, sampleChunksOf, withBindingLimit } from './helpers/gpu.js';
import { plantedLayer, relativeError } from './helpers/problems.js';
import { gaussianMatrix } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

function maxAbs(values: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m;
}

/** Both constraints hold up to the solver's tolerance, and the certificate is tight. */
function expectFeasibleAndNearOptimal(result: SolveLayerResult, Y: ArrayLike<number>): void {
  const r = result.report;
  expect(r.converged).toBe(true);
  expect(Math.hypot(r.constraintResidual, r.offSupportResidual)).toBeLessThanOrEqual(r.epsilon * 1.01 + 1e-3 * maxAbs(Y));
  expect(r.offSupportViolation).toBeLessThanOrEqual(1e-2 * maxAbs(Y));
  expect(r.relativeDualityGap).toBeGreaterThan(-1e-2);
  expect(r.relativeDualityGap).toBeLessThan(1e-2);
}

function flatten(result: SolveLayerResult): Float32Array {
  const out = new Float32Array(result.weights.data.length + (result.bias?.length ?? 0));
  out.set(result.weights.data);
  if (result.bias) out.set(result.bias, result.weights.data.length);
  return out;
}

describe.skipIf(!gpu)('GPU solver against the float64 reference', () => {
  const V = gaussianMatrix(300, 6, 99).map((v) => Math.abs(v) * 0.1);
  const cases: Array<{ name: string; options: () => SolveLayerOptions }> = [
    { name: 'a ReLU layer (P > N)', options: () => ({ ...plantedLayer({ samples: 300, inputs: 40, outputs: 10, nonzerosPerColumn: 8, seed: 1, bias: true }), epsilonGain: 0.02 }) },
    { name: 'P < N (Woodbury solve)', options: () => ({ ...plantedLayer({ samples: 60, inputs: 120, outputs: 7, nonzerosPerColumn: 10, seed: 2, bias: true }), epsilonGain: 0.05 }) },
    { name: 'a single output neuron (M = 1)', options: () => ({ ...plantedLayer({ samples: 200, inputs: 30, outputs: 1, nonzerosPerColumn: 6, seed: 3, bias: true }), epsilonGain: 0.02 }) },
    { name: 'a linear last layer', options: () => ({ ...plantedLayer({ samples: 250, inputs: 33, outputs: 5, nonzerosPerColumn: 6, seed: 4, activation: 'linear', bias: true }), activation: 'linear', epsilonGain: 0.03 }) },
    {
      name: 'a cascade bound V on Ωᶜ, no bias',
      options: () => ({ ...plantedLayer({ samples: 300, inputs: 25, outputs: 6, nonzerosPerColumn: 5, seed: 5 }), bias: false, V: { rows: 300, cols: 6, data: V }, epsilonGain: 0.02 }),
    },
    {
      name: 'every dimension larger than one 64×64 tile, none a multiple of it',
      options: () => ({ ...plantedLayer({ samples: 401, inputs: 70, outputs: 67, nonzerosPerColumn: 6, seed: 6, bias: true }), epsilonGain: 0.02 }),
    },
  ];

  for (const { name, options } of cases) {
    it(`agrees on ${name}`, async () => {
      const o = options();
      const cpu = await solveLayer({ ...o, backend: 'cpu' });
      const onGpu = await solveLayer({ ...o, backend: 'webgpu', gpu: gpu! });
      expectFeasibleAndNearOptimal(cpu, o.Y.data);
      expectFeasibleAndNearOptimal(onGpu, o.Y.data);
      // Objective within a fraction of a percent; support equal but for a few borderline entries.
      expect(Math.abs(onGpu.report.l1 - cpu.report.l1) / cpu.report.l1).toBeLessThan(5e-3);
      const a = flatten(cpu);
      const b = flatten(onGpu);
      let supportMismatches = 0;
      for (let i = 0; i < a.length; i++) if ((a[i] !== 0) !== (b[i] !== 0)) supportMismatches++;
      expect(supportMismatches).toBeLessThanOrEqual(Math.max(2, 0.01 * cpu.report.nonzeros));
      expect(relativeError(b, a)).toBeLessThan(2e-2);
      expect(onGpu.report.backend).toBe('webgpu');
      expect(onGpu.report.adapter).not.toBe('');
    });
  }

  it('leaks no buffers and compiles no new pipelines on a second solve', async () => {
    const o = plantedLayer({ samples: 100, inputs: 20, outputs: 4, nonzerosPerColumn: 4, seed: 7, bias: true });
    await solveLayer({ ...o, gpu: gpu!, maxIterations: 100 });
    const pipelines = gpu!.pipelines.size;
    await solveLayer({ ...o, gpu: gpu!, maxIterations: 100 });
    expect(gpu!.buffers.inUse).toBe(0);
    expect(gpu!.pipelines.size).toBe(pipelines);
  });
});

describe.skipIf(!gpu)('planted recovery (net-trim.md §5)', () => {
  // s = 4 nonzeros per column among N = 60 inputs; ε ≈ 0.
  const planted = (samples: number) => plantedLayer({ samples, inputs: 60, outputs: 3, nonzerosPerColumn: 4, seed: 21 });
  const solve = (samples: number, maxIterations: number) => {
    const o = planted(samples);
    return solveLayer({ X: o.X, Y: o.Y, bias: false, epsilonGain: 1e-5, gpu: gpu!, tolerances: { relative: 1e-5 }, maxIterations }).then((r) => ({ r, o }));
  };

  it('recovers W* from enough samples', async () => {
    const { r, o } = await solve(160, 20_000);
    expect(r.report.converged).toBe(true);
    expect(relativeError(r.weights.data, o.W)).toBeLessThan(2e-2);
  });

  it('does not recover W* from far too few samples', async () => {
    // Converged or not, 8 equations per neuron cannot pin down 4 of 60 unknowns.
    const { r, o } = await solve(8, 2_000);
    expect(relativeError(r.weights.data, o.W)).toBeGreaterThan(0.3);
  });
});

describe.skipIf(!gpu)('optimality certificate', () => {
  const o = plantedLayer({ samples: 300, inputs: 40, outputs: 8, nonzerosPerColumn: 8, seed: 31, bias: true });
  it('reports a small non-negative gap at convergence and a larger one after an early stop', async () => {
    const done = await solveLayer({ ...o, epsilonGain: 0.02, gpu: gpu! });
    const early = await solveLayer({ ...o, epsilonGain: 0.02, gpu: gpu!, maxIterations: 20, checkEvery: 10 });
    expect(done.report.converged).toBe(true);
    expect(done.report.relativeDualityGap).toBeGreaterThan(-1e-2);
    expect(done.report.relativeDualityGap).toBeLessThan(1e-2);
    expect(early.report.converged).toBe(false);
    expect(early.report.status).toBe('not converged');
    expect(early.report.dualityGap).toBeGreaterThan(10 * Math.abs(done.report.dualityGap));
  });

  it('bounds the optimum from below on the CPU too (dual bound ≤ ℓ1 of a feasible answer)', async () => {
    const done = await solveLayer({ ...o, epsilonGain: 0.02, backend: 'cpu' });
    expect(done.report.dualBound).toBeLessThanOrEqual(done.report.l1 * (1 + 1e-3));
    expect(done.report.dualBound).toBeGreaterThan(0);
  });
});

describe.skipIf(!gpu)('progress and cancelling', () => {
  it('reports progress at every check and stops promptly when aborted, releasing its buffers', async () => {
    const o = plantedLayer({ samples: 200, inputs: 30, outputs: 6, nonzerosPerColumn: 5, seed: 51, bias: true });
    const controller = new AbortController();
    const seen: number[] = [];
    const attempt = solveLayer({
      ...o,
      gpu: gpu!,
      tolerances: { relative: 1e-9 }, // would run to maxIterations
      maxIterations: 100_000,
      checkEvery: 10,
      onProgress: (p) => {
        seen.push(p.iteration);
        if (seen.length === 3) controller.abort();
      },
      signal: controller.signal,
    });
    await expect(attempt).rejects.toThrow(/abort/i);
    expect(seen).toEqual([10, 20, 30]);
    expect(gpu!.buffers.inUse).toBe(0);
  });
});

describe('the convergence test of the returned answer', () => {
  // An engine whose residuals are already zero: only the answer's feasibility decides.
  const engineWith = (active: number, offSupportExcess: number) => ({
    iterate: async () => ({ r1: 0, r2: 0, s1: 0, s2: 0, w1: 1, w2: 1, t: 1, w3: 1, u1: 1, u2: 1 }),
    setRho() {},
    setState: async () => {},
    getState: async () => ({ W3: [], W2: [], U1: [], U2: [] }),
    answerFeasibility: async () => ({ activeSq: active ** 2, offSupportExcessSq: offSupportExcess ** 2 }),
  });
  // The ball: (1 + 1e-3)·ε plus the slack √4·1e-6 + 1e-4·‖Y‖ = 0.011012.
  const settings = {
    rho: 1, adaptiveRho: false, maxIterations: 100, checkEvery: 50,
    tolerances: { absolute: 1e-6, relative: 1e-4, feasibility: 1e-3, gap: 0.01 },
    constraintEntries: 1, responseEntries: 4, epsilon: 0.01, targetNorm: 10,
  };
  const converges = async (active: number, excess: number) => (await runAdmm(engineWith(active, excess), settings)).converged;
  it('accepts an answer whose off-support excess fits in the ε-ball with its distance on Ω', async () => {
    expect(await converges(0.01, 0)).toBe(true);
    expect(await converges(0.01, 0.004)).toBe(true); // √(0.01² + 0.004²) = 0.01077
    expect(await converges(0.011, 0)).toBe(true);
  });
  it('refuses one whose two parts together leave the ball, though each alone is inside it', async () => {
    expect(await converges(0.01, 0.005)).toBe(false); // 0.01118
    expect(await converges(0.0105, 0.0035)).toBe(false); // 0.01107
    expect(await converges(0.0111, 0)).toBe(false);
  });
  it('with an accept test (the float64 finish), stops at the first stop it accepts, and only there', async () => {
    const asked: number[] = [];
    const accept = async (rho: number) => asked.push(rho) >= 3; // the third candidate certifies
    const outcome = await runAdmm(engineWith(0.01, 0), { ...settings, rho: 4, maxIterations: 500, accept });
    expect([outcome.converged, outcome.iterations, asked]).toEqual([true, 150, [4, 4, 4]]);
    const never = await runAdmm(engineWith(0.01, 0), { ...settings, maxIterations: 200, accept: async () => false });
    expect([never.converged, never.iterations]).toEqual([false, 200]);
    // A stop outside the ball is refused before the (costly) test is asked.
    asked.length = 0;
    expect((await runAdmm(engineWith(0.02, 0), { ...settings, accept })).converged).toBe(false);
    expect(asked).toEqual([]);
  });
});

describe.skipIf(!gpu)('layers larger than one storage binding (X split over samples)', () => {
  it('solves with X in chunks of 64 samples to the same answer as in one buffer', async () => {
    // 300 samples: four full chunks and a partial one; the P×M ranges start at aligned offsets.
    const o = { ...plantedLayer({ samples: 300, inputs: 40, outputs: 8, nonzerosPerColumn: 8, seed: 81, bias: true }), epsilonGain: 0.02 };
    const whole = await solveLayer({ ...o, gpu: gpu! });
    const chunked = await solveLayer({ ...o, gpu: gpu!, chunkRows: 64 });
    const cpu = await solveLayer({ ...o, backend: 'cpu' });
    expect(chunked.report.converged).toBe(true);
    expect(chunked.report.constraintResidual).toBeLessThanOrEqual(chunked.report.epsilon * 1.01);
    expect(Math.abs(chunked.report.relativeDualityGap)).toBeLessThan(1e-2);
    expect(Math.abs(chunked.report.l1 - cpu.report.l1) / cpu.report.l1).toBeLessThan(5e-3);
    expect(relativeError(flatten(chunked), flatten(whole))).toBeLessThan(1e-3);
    expect(gpu!.buffers.inUse).toBe(0);
  });

  it('splits by itself when only the P×M arrays exceed the device\'s binding (a device claiming 256 KiB)', async () => {
    // M = 40 > N: Y, T and B (2 000 × 40 floats, 313 KiB) exceed the binding, X (164 KiB) does not.
    const small = withBindingLimit(gpu!, 256 * 1024);
    const o = { ...plantedLayer({ samples: 2000, inputs: 20, outputs: 40, nonzerosPerColumn: 6, seed: 82, bias: true }), epsilonGain: 0.02 };
    expect(await sampleChunksOf(small, o)).toBe(2);
    const split = await solveLayer({ ...o, gpu: small });
    const whole = await solveLayer({ ...o, gpu: gpu! });
    expect(split.report.converged).toBe(true);
    expect(split.report.constraintResidual).toBeLessThanOrEqual(split.report.epsilon * 1.01);
    expect(relativeError(flatten(split), flatten(whole))).toBeLessThan(1e-3);
    // A layer whose N×M arrays exceed it is refused with the array named.
    const wide = { ...plantedLayer({ samples: 128, inputs: 99, outputs: 700, nonzerosPerColumn: 6, seed: 83, bias: true }), epsilonGain: 0.02 };
    await expect(solveLayer({ ...wide, gpu: small })).rejects.toThrow(/W3 needs .* storage binding/);
    // So is a layer with fewer samples than inputs whose X exceeds it (the Woodbury solve needs X whole).
    const woodbury = { ...plantedLayer({ samples: 300, inputs: 400, outputs: 5, nonzerosPerColumn: 6, seed: 84, bias: true }), epsilonGain: 0.02 };
    await expect(solveLayer({ ...woodbury, gpu: small })).rejects.toThrow(/X \(300×401, fewer samples than inputs\).*Woodbury solve needs whole/);
    expect(gpu!.buffers.inUse).toBe(0);
  });
});

describe('over-relaxation', () => {
  const o = plantedLayer({ samples: 300, inputs: 40, outputs: 8, nonzerosPerColumn: 8, seed: 71, bias: true });
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`${backend}: plain ADMM (α = 1) and the default α reach the same optimum`, async () => {
      const base = { ...o, epsilonGain: 0.02, backend, gpu: gpu ?? undefined };
      const plain = await solveLayer({ ...base, relaxation: 1 });
      const relaxed = await solveLayer(base);
      for (const r of [plain, relaxed]) {
        expect(r.report.converged).toBe(true);
        expect(r.report.constraintResidual).toBeLessThanOrEqual(r.report.epsilon * 1.01);
        expect(Math.abs(r.report.relativeDualityGap)).toBeLessThan(1e-2);
      }
      expect(Math.abs(relaxed.report.l1 - plain.report.l1) / plain.report.l1).toBeLessThan(5e-3);
    });
});

describe('warm starts (an ε sweep)', () => {
  const o = plantedLayer({ samples: 300, inputs: 40, outputs: 8, nonzerosPerColumn: 8, seed: 61, bias: true });
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`${backend}: starting from the previous ε's answer reaches the cold answer in fewer iterations`, async () => {
      // A tight tolerance and frequent checks, so the iteration counts resolve the difference.
      const base = { ...o, backend, gpu: gpu ?? undefined, tolerances: { relative: 1e-5 }, checkEvery: 10 };
      const first = await solveLayer({ ...base, epsilonGain: 0.05 });
      const cold = await solveLayer({ ...base, epsilonGain: 0.03 });
      const warm = await solveLayer({ ...base, epsilonGain: 0.03, warmStart: first.state });
      expect(first.report.converged && cold.report.converged && warm.report.converged).toBe(true);
      expect(warm.report.constraintResidual).toBeLessThanOrEqual(warm.report.epsilon * 1.01);
      expect(Math.abs(warm.report.l1 - cold.report.l1) / cold.report.l1).toBeLessThan(5e-3);
      expect(Math.abs(warm.report.relativeDualityGap)).toBeLessThan(1e-2);
      expect(warm.report.iterations).toBeLessThan(cold.report.iterations);
    });

  it('rejects a state of another shape, naming the field', async () => {
    const small = await solveLayer({ ...plantedLayer({ samples: 30, inputs: 5, outputs: 2, nonzerosPerColumn: 2, seed: 62 }), backend: 'cpu', maxIterations: 50 });
    const attempt = solveLayer({ ...o, backend: 'cpu', warmStart: small.state });
    await expect(attempt).rejects.toThrow(InputError);
    await expect(attempt).rejects.toThrow(/warmStart\.W3: expected 328 values \(41 weight rows × 8 outputs\), found 12/);
  });
});

describe('bad options', () => {
  const o = plantedLayer({ samples: 20, inputs: 5, outputs: 2, nonzerosPerColumn: 2, seed: 41 });
  const bad: Array<[string, Partial<SolveLayerOptions>, RegExp]> = [
    ['a negative epsilon', { epsilon: -1 }, /epsilon: expected a number ≥ 0/],
    ['both epsilon and epsilonGain', { epsilon: 1, epsilonGain: 0.1 }, /either epsilon or epsilonGain/],
    ['mismatched sample counts', { Y: { rows: 19, cols: 2, data: new Float64Array(38) } }, /Y: expected 20 samples/],
    ['a NaN in X', { X: { rows: 20, cols: 5, data: Float64Array.from(o.X.data, (v, i) => (i === 7 ? NaN : v)) } }, /X: expected finite values, found NaN at row 1, column 2/],
    ['a negative ReLU output', { Y: { rows: 20, cols: 2, data: Float64Array.from(o.Y.data, (v, i) => (i === 3 ? -1 : v)) } }, /Y: expected a ReLU output/],
    ['a zero rho', { rho: 0 }, /rho: expected a positive number/],
    ['an over-relaxation of 2', { relaxation: 2 }, /relaxation: expected a number in \(0, 2\), found 2/],
    ['a wrong V shape', { V: { rows: 20, cols: 3, data: new Float64Array(60) } }, /V: expected the shape of Y/],
    ['a wrong offset shape', { offset: { rows: 20, cols: 3, data: new Float64Array(60) } }, /offset: expected the shape of Y \(20×2\), found 20×3/],
    ['a clip output above the upper clamp', { activation: 'clip', clip: [0, 0.5] }, /Y: expected a clipped output \(values in \[0, 0.5\]\) for activation 'clip'/],
    ['clamps in the wrong order', { activation: 'clip', clip: [1, 0] }, /clip: expected \[lower, upper\] with lower < upper/],
  ];
  for (const [name, patch, message] of bad)
    it(`rejects ${name} with an InputError`, async () => {
      const attempt = solveLayer({ X: o.X, Y: o.Y, backend: 'cpu', ...patch });
      await expect(attempt).rejects.toThrow(InputError);
      await expect(attempt).rejects.toThrow(message);
    });
});
