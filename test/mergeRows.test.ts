// Identical samples merged into one row weighted by √k (src/solver/mergeRows.ts): the merged
// program is the same program (checked against sums written out over the original rows), the
// ADMM on it is the same iteration (same iterations and answer as on the rows as given), and a
// conv layer's repeated background patches are found.
import { afterAll, describe, expect, it } from 'vitest';
import { solveLayer } from '../src/index.js';
import { designOf } from '../src/solver/design.js';
import { CpuAdmmEngine } from '../src/solver/cpuSolver.js';
import { mergeIdenticalRows } from '../src/solver/mergeRows.js';
import { prepareLayerProblem } from '../src/solver/problem.js';
import type { ImagePatches, Matrix } from '../src/solver/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { plantedLayer } from './helpers/problems.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

// 9 distinct samples, each repeated 1–7 times (rows shuffled): 36 rows.
const [N, M] = [6, 4];
const base = plantedLayer({ samples: 9, inputs: N, outputs: M, nonzerosPerColumn: 3, seed: 21, bias: true });
const pick = mulberry32(5);
const order = Array.from({ length: 9 }, (_, i) => Array.from({ length: 1 + (i % 7) }, () => i)).flat();
for (let i = order.length - 1; i > 0; i--) {
  const j = Math.floor(pick() * (i + 1));
  [order[i], order[j]] = [order[j], order[i]];
}
const P = order.length;
const rowsOf = (m: Matrix): Matrix => ({ rows: P, cols: m.cols, data: Float64Array.from({ length: P * m.cols }, (_, i) => m.data[order[Math.floor(i / m.cols)] * m.cols + (i % m.cols)]) });
const X = rowsOf(base.X);
const Y = rowsOf(base.Y);

describe('merging identical samples', () => {
  it('finds the distinct rows, and keeps rows apart whose targets differ', () => {
    const merged = mergeIdenticalRows(prepareLayerProblem({ X, Y }))!;
    expect(merged.program.samples).toBe(9);
    expect(Array.from(merged.weight, (w) => Math.round(w * w)).sort()).toEqual([1, 1, 2, 2, 3, 4, 5, 6, 7]);
    expect(Array.from(merged.weight, (w) => w * w - Math.round(w * w)).every((d) => Math.abs(d) < 1e-12)).toBe(true);
    // The same inputs with another target (a cascade's Y) are another row.
    const Y2 = { ...Y, data: Float64Array.from(Y.data) };
    const twice = order.indexOf(6, order.indexOf(6) + 1);
    Y2.data[twice * M] += 0.5;
    expect(mergeIdenticalRows(prepareLayerProblem({ X, Y: Y2 }))!.program.samples).toBe(10);
    // Nothing repeated: nothing merged.
    expect(mergeIdenticalRows(prepareLayerProblem({ X: base.X, Y: base.Y }))).toBeNull();
  });

  it('is the same program: the ε-ball and the off-support excess measured over the original rows', async () => {
    const problem = prepareLayerProblem({ X, Y, epsilonGain: 0.05 });
    const merged = mergeIdenticalRows(problem)!;
    const W = gaussianMatrix(N + 1, M, 8);
    // Over the original rows, in normalized units (X/c0 with a bias column, Y/c0).
    let activeSq = 0;
    let excessSq = 0;
    for (let p = 0; p < P; p++)
      for (let m = 0; m < M; m++) {
        let z = W[N * M + m];
        for (let n = 0; n < N; n++) z += X.data[p * N + n] * W[n * M + m];
        z /= problem.scale;
        const y = Y.data[p * M + m] / problem.scale;
        if (y > 0) activeSq += (z - y) ** 2;
        else excessSq += Math.max(z, 0) ** 2;
      }
    expect(excessSq).toBeGreaterThan(0);
    // What the stop reads from an engine solving the merged program: the same two sums (a merged
    // row's excess is √k times each copy's, its square the k copies').
    const engine = new CpuAdmmEngine(merged.program);
    await engine.setState({ W3: W, W2: W, U1: new Float64Array(merged.program.samples * M), U2: new Float64Array((N + 1) * M) });
    const got = await engine.answerFeasibility();
    expect(got.activeSq).toBeCloseTo(activeSq, 10);
    expect(got.offSupportExcessSq / excessSq).toBeCloseTo(1, 10);
  });

  it('runs the same iteration: same iterations and answer as the rows as given; the state is per original row', async () => {
    const options = { X, Y, epsilonGain: 0.05, backend: 'cpu' as const };
    const merged = await solveLayer(options);
    const plain = await solveLayer({ ...options, mergeIdenticalSamples: false });
    expect(merged.report.distinctSamples).toBe(9);
    expect(plain.report.distinctSamples).toBe(P);
    expect(merged.report.converged).toBe(true);
    expect(merged.report.iterations).toBe(plain.report.iterations);
    for (let i = 0; i < merged.weights.data.length; i++) expect(merged.weights.data[i]).toBeCloseTo(plain.weights.data[i], 5);
    expect(merged.state.U1.length).toBe(P * M);
    for (let i = 0; i < P * M; i++) expect(merged.state.U1[i]).toBeCloseTo(plain.state.U1[i], 4);
    // A warm start from either state serves the other: it starts where the first one ended.
    const warm = await solveLayer({ ...options, mergeIdenticalSamples: false, warmStart: merged.state });
    expect(warm.report.converged).toBe(true);
    expect(warm.report.iterations).toBeLessThanOrEqual(2 * 50);
  });

  it('finds a conv layer\'s background patches; the GPU solves the merged program to the CPU\'s answer', async (context) => {
    // 4 images 8×8×2, zero but for a 3×3 blot each: most 3×3 patches (padding 1) are all zero.
    const images = new Float32Array(4 * 8 * 8 * 2);
    const noise = gaussianMatrix(4, 18, 3);
    for (let n = 0; n < 4; n++)
      for (let k = 0; k < 18; k++) images[((n * 8 + 2 + (k % 3)) * 8 + 3 + Math.floor(k / 6)) * 2 + (Math.floor(k / 3) % 2)] = Math.abs(noise[n * 18 + k]);
    const patches: ImagePatches = { images, count: 4, inH: 8, inW: 8, channels: 2, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, outH: 8, outW: 8 };
    const weights = gaussianMatrix(18 + 1, 3, 4);
    const response = designOf(patches, true).multiply(weights, 3);
    const Yc = { rows: 256, cols: 3, data: response.map((v) => Math.max(v, 0)) };
    const problem = prepareLayerProblem({ X: patches, Y: Yc });
    const merged = mergeIdenticalRows(problem)!;
    // Every patch that misses the blots is the zero patch: count them independently.
    const distinct = new Set<string>();
    for (let n = 0; n < 4; n++)
      for (let oy = 0; oy < 8; oy++)
        for (let ox = 0; ox < 8; ox++) {
          const values: number[] = [];
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++)
              for (let c = 0; c < 2; c++) {
                const [iy, ix] = [oy + ky - 1, ox + kx - 1];
                values.push(iy < 0 || iy >= 8 || ix < 0 || ix >= 8 ? 0 : images[((n * 8 + iy) * 8 + ix) * 2 + c]);
              }
          distinct.add(values.join(','));
        }
    expect(merged.program.samples).toBe(distinct.size);
    expect(distinct.size).toBeLessThan(0.7 * 256);
    if (!gpu) return context.skip();
    const cpu = await solveLayer({ X: patches, Y: Yc, backend: 'cpu', mergeIdenticalSamples: false });
    const onGpu = await solveLayer({ X: patches, Y: Yc, backend: 'webgpu', gpu });
    expect(onGpu.report.distinctSamples).toBe(distinct.size);
    expect(onGpu.report.converged).toBe(true);
    expect(onGpu.report.l1).toBeCloseTo(cpu.report.l1, 2);
    expect(Math.abs(onGpu.report.l1 - cpu.report.l1) / cpu.report.l1).toBeLessThan(0.01);
  });
});
