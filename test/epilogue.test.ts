// The fused epilogues (shaders/epilogue.wgsl): each kind's stores and partial sums against float64
// sums computed here from the design's float64 operator, on both matmul kernels, a dense X split
// into chunks (slot offsets, one buffer per chunk) and conv patches, whole or split over images; the weight residual pass; then the GPU
// engine's residual sums against the float64 engine's after the same iterations, and the GPU
// memory it holds.
import { afterAll, describe, expect, it } from 'vitest';
import type { MatmulVariant } from '../src/gpu/kernels/matmul.js';
import { subgroupKernelsRun } from '../src/gpu/kernels/subgroups.js';
import { woodburyResponse, woodburyResponseSlots, type Epilogue, type PartialSlots } from '../src/gpu/kernels/epilogue.js';
import { SIDED_BOUND } from '../src/gpu/kernels/sides.js';
import { CHANNELS, SCALAR_CHANNELS, sumPartials, weightResidualSlots, weightResiduals } from '../src/gpu/kernels/reductions.js';
import { Workspace, type Dispatch } from '../src/gpu/workspace.js';
import type { ResidualSums } from '../src/solver/admmDriver.js';
import { CpuAdmmEngine } from '../src/solver/cpuSolver.js';
import { designOf, type Design } from '../src/solver/design.js';
import { readSamples, sampleStorage, uploadDesign, uploadSamples, type GpuDesign, type SampleArray } from '../src/solver/gpu/gpuDesign.js';
import { GpuAdmmEngine } from '../src/solver/gpu/gpuSolver.js';
import { prepareLayerProblem } from '../src/solver/problem.js';
import type { ImagePatches } from '../src/index.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

const f32 = (values: ArrayLike<number>) => Float64Array.from(Float32Array.from(values));
const sum = (n: number, term: (i: number) => number) => {
  let s = 0;
  for (let i = 0; i < n; i++) s += term(i);
  return s;
};
/** Values rounded to float32 as the GPU sees them, about a third of them zero (ReLU-like). */
const reluLike = (rows: number, cols: number, seed: number) => f32(gaussianMatrix(rows, cols, seed).map((v) => Math.max(v + 0.3, 0)));
const gaussian = (rows: number, cols: number, seed: number) => f32(gaussianMatrix(rows, cols, seed));

function run(ws: Workspace, dispatches: Dispatch[]): Promise<void> {
  ws.submit(dispatches);
  return ws.device.queue.onSubmittedWorkDone();
}

/** Runs `dispatches`, then adds up every channel's partials and reads the sums (SCALAR_CHANNELS). */
async function sums(ws: Workspace, partials: PartialSlots, dispatches: Dispatch[]): Promise<Float32Array> {
  const scalars = ws.storage(SCALAR_CHANNELS, 'scalars');
  await run(ws, [...dispatches, sumPartials(ws, { partials: partials.buffer, scalars, slots: partials.stride, stride: partials.stride, firstChannel: 0, channels: SCALAR_CHANNELS })]);
  return ws.read(scalars, SCALAR_CHANNELS);
}

const close = (gpuValue: number, truth: number, tolerance = 2e-4) => expect(Math.abs(gpuValue - truth)).toBeLessThanOrEqual(tolerance * Math.max(Math.abs(truth), 1e-3));

function patchInput(seed: number): ImagePatches {
  const images = Float64Array.from(gaussianMatrix(3, 7 * 6 * 4, seed), (v) => Math.max(v + 0.3, 0));
  return { images, count: 3, inH: 7, inW: 6, channels: 4, kernelH: 3, kernelW: 3, strideH: 1, strideW: 2, padTop: 1, padLeft: 0, outH: 7, outW: 2 };
}

// A dense X of 150 samples in chunks of 64 (three dispatches, slot offsets, a buffer per chunk), or patches.
const designs: Array<[string, MatmulVariant | null, () => { design: Design; chunkRows?: number }]> = [
  ['dense X, register kernel, 3 chunks', 'registers', () => ({ design: designOf({ rows: 150, cols: 37, data: reluLike(150, 37, 1) }, false), chunkRows: 64 })],
  ['dense X, tiled kernel, 3 chunks', 'tiled', () => ({ design: designOf({ rows: 150, cols: 37, data: reluLike(150, 37, 1) }, false), chunkRows: 64 })],
  ['dense X, register kernel, one buffer', 'registers', () => ({ design: designOf({ rows: 150, cols: 37, data: reluLike(150, 37, 1) }, true, 2) })],
  ['dense X, subgroup kernel, 3 chunks', 'subgroups', () => ({ design: designOf({ rows: 150, cols: 37, data: reluLike(150, 37, 1) }, false), chunkRows: 64 })],
  ['conv patches with a bias column', null, () => ({ design: designOf(patchInput(2), true, 1.5) })],
  ['conv patches, one image (14 rows) per chunk', null, () => ({ design: designOf(patchInput(2), true, 1.5), chunkRows: 14 })],
];

describe.skipIf(!gpu)('fused epilogues of X·W', () => {
  // M = 20 takes patch_product's four-at-a-time response sums (M % 4 = 0), over two output blocks.
  for (const [name, variant, make] of designs) {
    for (const M of [19, 20]) {
      it.skipIf(variant === 'subgroups' && !(gpu && subgroupKernelsRun(gpu)))(`${name}, M = ${M}: response (checked and not), squares and feasibility sums, and T`, async () => {
        const saved = gpu!.matmulVariant;
        if (variant) gpu!.matmulVariant = variant;
        const ws = new Workspace(gpu!);
        try {
          const { design, chunkRows } = make();
          const P = design.rows;
          const X: GpuDesign = uploadDesign(ws, design, { chunkRows, outputs: M });
          if (chunkRows) expect(X.chunks.length).toBe(3);
          const samples = (values: Float64Array, label: string) => uploadSamples(ws, X, values, M, label);
          const W = gaussian(design.columns, M, 3);
          const B = gaussian(P, M, 4);
          const W1 = gaussian(P, M, 5);
          const V = gaussian(P, M, 6);
          const Y = f32(gaussianMatrix(P, M, 7).map((v) => Math.max(v, 0))); // half of Ω empty
          const T = design.multiply(W, M);
          const stride = X.productSlots(M);
          const fresh = (): PartialSlots => ({ buffer: ws.storage(SCALAR_CHANNELS * stride, 'partials'), stride });
          const [Tbuf, Bbuf, Ybuf, Vbuf, Wbuf] = [samples(W1, 'T ← W1'), samples(B, 'B'), samples(Y, 'Y'), samples(V, 'V'), ws.upload(W, 'W')];

          // Response, checked: T written, channel 0 the projection's distance, 1/3/4/5 the residual sums.
          const response: Epilogue<SampleArray> = { kind: 'response', partials: fresh(), responseRhs: Bbuf, targetY: Ybuf, classes: 'relu', checked: true, boundV: null };
          const s = await sums(ws, response.partials, X.product({ label: 'T', weights: Wbuf, out: Tbuf, outputs: M, epilogue: response }));
          const written = await readSamples(ws, X, Tbuf);
          expect(Math.max(...T.map((t, i) => Math.abs(written[i] - t)))).toBeLessThan(1e-4 * Math.max(...T.map(Math.abs)));
          close(s[CHANNELS.distance], sum(P * M, (i) => (Y[i] > 0 ? (2 * T[i] - B[i] - Y[i]) ** 2 : 0)));
          close(s[CHANNELS.r1], sum(P * M, (i) => (W1[i] - T[i]) ** 2));
          expect(s[CHANNELS.s1]).toBe(0);
          close(s[CHANNELS.w1], sum(P * M, (i) => W1[i] ** 2));
          close(s[CHANNELS.t], sum(P * M, (i) => T[i] ** 2));
          close(s[CHANNELS.u1], sum(P * M, (i) => (B[i] - T[i]) ** 2));

          // Response, not checked and linear (every entry on Ω): channel 0 only.
          const linearResponse: Epilogue<SampleArray> = { ...response, partials: fresh(), classes: 'linear', checked: false };
          const l = await sums(ws, linearResponse.partials, X.product({ label: 'T', weights: Wbuf, out: Tbuf, outputs: M, epilogue: linearResponse }));
          close(l[0], sum(P * M, (i) => (2 * T[i] - B[i] - Y[i]) ** 2));
          expect(Array.from(l.slice(1))).toEqual(new Array(SCALAR_CHANNELS - 1).fill(0));

          // Sided (Ω marked in V: every third entry, whatever the sign of its target).
          const Ys = f32(gaussianMatrix(P, M, 8));
          const marks = Float64Array.from({ length: P * M }, (_, i) => (i % 3 === 0 ? SIDED_BOUND : i % 3 === 1 ? -SIDED_BOUND : V[i]));
          const [YsBuf, marksBuf] = [samples(Ys, 'Y (sided)'), samples(marks, 'V (marked)')];
          const sidedResponse: Epilogue<SampleArray> = { kind: 'response', partials: fresh(), responseRhs: Bbuf, targetY: YsBuf, classes: 'sided', checked: false, boundV: marksBuf };
          const r = await sums(ws, sidedResponse.partials, X.product({ label: 'T', weights: Wbuf, out: Tbuf, outputs: M, epilogue: sidedResponse }));
          close(r[0], sum(P * M, (i) => (i % 3 === 0 ? (2 * T[i] - B[i] - Ys[i]) ** 2 : 0)));
          const sidedFeasibility: Epilogue<SampleArray> = { kind: 'feasibility', partials: fresh(), targetY: YsBuf, boundV: marksBuf, classes: 'sided' };
          const sf = await sums(ws, sidedFeasibility.partials, X.product({ label: 'X W (feasibility)', weights: Wbuf, out: sampleStorage(ws, X, M, 'X W'), outputs: M, epilogue: sidedFeasibility }));
          close(sf[CHANNELS.activeSq], sum(P * M, (i) => (i % 3 === 0 ? (T[i] - Ys[i]) ** 2 : 0)));
          close(sf[CHANNELS.offSupportExcessSq], sum(P * M, (i) => (i % 3 === 1 ? Math.max(Ys[i] - T[i], 0) ** 2 : i % 3 === 2 ? Math.max(T[i] - V[i], 0) ** 2 : 0)));

          // Squares: only ‖X·W‖² in channel 2, nothing stored.
          const squares: Epilogue<SampleArray> = { kind: 'squares', partials: fresh() };
          const before = await readSamples(ws, X, Tbuf);
          const q = await sums(ws, squares.partials, X.product({ label: 'X W (sums only)', weights: Wbuf, outputs: M, epilogue: squares }));
          close(q[CHANNELS.s1], sum(P * M, (i) => T[i] ** 2));
          expect([q[CHANNELS.distance], q[CHANNELS.r1], q[CHANNELS.w1]]).toEqual([0, 0, 0]);
          expect(await readSamples(ws, X, Tbuf)).toEqual(before);

          // Feasibility of X·W (stored): on Ω the distance to Y, off Ω the excess over V (or over 0
          // without V; every entry when linear).
          for (const [boundV, linear] of [[Vbuf, false], [null, false], [null, true]] as const) {
            const feasibility: Epilogue<SampleArray> = { kind: 'feasibility', partials: fresh(), targetY: Ybuf, boundV, classes: linear ? 'linear' : 'relu' };
            const answer = sampleStorage(ws, X, M, 'X W');
            const f = await sums(ws, feasibility.partials, X.product({ label: 'X W (feasibility)', weights: Wbuf, out: answer, outputs: M, epilogue: feasibility }));
            const onSupport = (i: number) => linear || Y[i] > 0;
            close(f[CHANNELS.activeSq], sum(P * M, (i) => (onSupport(i) ? (T[i] - Y[i]) ** 2 : 0)));
            const excess = sum(P * M, (i) => (onSupport(i) ? 0 : Math.max(T[i] - (boundV ? V[i] : 0), 0) ** 2));
            if (!linear) expect(excess).toBeGreaterThan(0);
            close(f[CHANNELS.offSupportExcessSq], excess);
            const stored = await readSamples(ws, X, answer);
            expect(Math.max(...T.map((t, i) => Math.abs(stored[i] - t)))).toBeLessThan(1e-4 * Math.max(...T.map(Math.abs)));
          }
        } finally {
          ws.release();
          gpu!.matmulVariant = saved;
        }
      });
    }
  }
});

describe.skipIf(!gpu)('the weight residual pass and the Woodbury response', () => {
  it('channels r2..u2 from W3, W2, Q and the previous W3, which becomes ΔW3', async () => {
    const ws = new Workspace(gpu!);
    try {
      const count = 45 * 70;
      const [W3, previous, Q] = [gaussian(45, 70, 11), gaussian(45, 70, 13), gaussian(45, 70, 14)];
      const W2 = f32(gaussianMatrix(45, 70, 15).map((v) => (Math.abs(v) < 0.7 ? 0 : v)));
      const stride = weightResidualSlots(count);
      const partials = { buffer: ws.storage(SCALAR_CHANNELS * stride, 'partials'), stride };
      const delta = ws.upload(previous, 'W3 (previous)');
      const s = await sums(ws, partials, [weightResiduals(ws, { count, W3: ws.upload(W3, 'W3'), W2: ws.upload(W2, 'W2'), weightRhs: ws.upload(Q, 'Q'), W3Prev: delta, partials: partials.buffer, stride })]);
      const deltas = await ws.read(delta, count);
      expect(Math.max(...W3.map((w, i) => Math.abs(deltas[i] - (w - previous[i]))))).toBeLessThan(1e-5);
      close(s[CHANNELS.r2], sum(count, (i) => (W2[i] - W3[i]) ** 2));
      close(s[CHANNELS.s2], sum(count, (i) => (W3[i] - previous[i]) ** 2));
      close(s[CHANNELS.w2], sum(count, (i) => W2[i] ** 2));
      close(s[CHANNELS.w3], sum(count, (i) => W3[i] ** 2));
      close(s[CHANNELS.u2], sum(count, (i) => (Q[i] - W3[i]) ** 2));
      // Nothing outside r2..u2 (the response and feasibility channels stay 0).
      const others = Array.from(s).filter((_, c) => c < CHANNELS.r2 || c > CHANNELS.u2);
      expect(others).toEqual(new Array(SCALAR_CHANNELS - 5).fill(0));
    } finally {
      ws.release();
    }
  });

  // An odd count: the last group of four runs into the buffers' zero padding.
  for (const [classes, checked] of [['linear', true], ['relu', false], ['sided', false]] as const)
    it(`T = B + E with the response epilogue (${classes}, ${checked ? 'checked' : 'not checked'}), 3 001 entries`, async () => {
      const ws = new Workspace(gpu!);
      try {
        const count = 3001;
        const [B, E, W1] = [gaussian(1, count, 21), gaussian(1, count, 22), gaussian(1, count, 23)];
        const Y = f32(gaussianMatrix(1, count, 24).map((v) => Math.max(v, 0))); // half of Ω empty
        const stride = woodburyResponseSlots(count);
        const partials = { buffer: ws.storage(SCALAR_CHANNELS * stride, 'partials'), stride };
        const T = ws.upload(W1, 'T ← W1');
        const marks = Float64Array.from({ length: count }, (_, i) => (i % 3 === 0 ? SIDED_BOUND : i % 3 === 1 ? -SIDED_BOUND : 0));
        const inOmega = (i: number) => (classes === 'sided' ? i % 3 === 0 : classes === 'linear' || Y[i] > 0);
        const epilogue = { kind: 'response' as const, partials, responseRhs: ws.upload(B, 'B'), targetY: ws.upload(Y, 'Y'), classes, checked, boundV: classes === 'sided' ? ws.upload(marks, 'V (marked)') : null };
        const s = await sums(ws, partials, [woodburyResponse(ws, { count, correction: ws.upload(E, 'E'), response: T, epilogue })]);
        const t = B.map((b, i) => b + E[i]);
        expect(Array.from(await ws.read(T, count)).every((v, i) => Math.abs(v - t[i]) < 1e-5)).toBe(true);
        close(s[0], sum(count, (i) => (inOmega(i) ? (2 * t[i] - B[i] - Y[i]) ** 2 : 0)));
        if (checked) {
          close(s[1], sum(count, (i) => (W1[i] - t[i]) ** 2));
          close(s[3], sum(count, (i) => W1[i] ** 2));
          close(s[4], sum(count, (i) => t[i] ** 2));
          close(s[5], sum(count, (i) => (B[i] - t[i]) ** 2));
        } else expect(Array.from(s.slice(1))).toEqual(new Array(SCALAR_CHANNELS - 1).fill(0));
      } finally {
        ws.release();
      }
    });
});

describe.skipIf(!gpu)('the GPU iteration against the float64 one', () => {
  const cases: Array<[string, () => Parameters<typeof prepareLayerProblem>[0], { chunkRows?: number }]> = [
    ['dense, X in chunks of 64 samples', () => denseLayer(200, 30, 12, 31), { chunkRows: 64 }],
    ['P < N (Woodbury)', () => denseLayer(40, 60, 9, 32), {}],
    ['conv patches', () => ({ X: patchInput(33), Y: convTarget(patchInput(33), 8, 34), epsilonGain: 0.05 }), {}],
    ['conv patches, one image per chunk', () => ({ X: patchInput(33), Y: convTarget(patchInput(33), 8, 34), epsilonGain: 0.05 }), { chunkRows: 14 }],
  ];
  for (const [name, make, options] of cases)
    it(`${name}: the residual sums of every block match, with ρ changes between blocks`, async () => {
      const problem = prepareLayerProblem(make());
      const cpu = new CpuAdmmEngine(problem);
      const engine = await GpuAdmmEngine.create(gpu!, problem, options);
      try {
        for (const [block, rho] of [[0, 0], [1, 4], [2, 1.5], [3, 0]]) {
          if (rho) {
            cpu.setRho(rho);
            engine.setRho(rho);
          }
          const [expected, got] = [await cpu.iterate(7), await engine.iterate(7)];
          for (const key of Object.keys(expected) as Array<keyof ResidualSums>) {
            const scale = Math.max(expected[key], 1e-6 * (expected.t + expected.w3));
            expect(Math.abs(got[key] - expected[key]) / scale, `block ${block}, ${key}: ${got[key]} vs ${expected[key]}`).toBeLessThan(2e-3);
          }
        }
        // After a warm start from the float64 state, the sums still agree.
        await engine.setState(await cpu.getState());
        const [expected, got] = [await cpu.iterate(5), await engine.iterate(5)];
        expect(Math.abs(got.r1 - expected.r1) / expected.r1).toBeLessThan(2e-3);
        expect(Math.abs(got.s1 - expected.s1) / expected.s1).toBeLessThan(2e-3);
      } finally {
        engine.release();
      }
    });

  // Layers of a realistic shape (on toy ones the uniforms and 256-byte rounding dominate).
  const sizes: Array<[string, () => Parameters<typeof prepareLayerProblem>[0]]> = [
    ['dense 100×50, 2 000 samples', () => denseLayer(2000, 100, 50, 41)],
    ['P < N (Woodbury) 500×50, 300 samples', () => denseLayer(300, 500, 50, 42)],
    ['conv 3×3×4 → 8 on 20 maps of 14×14', () => {
      const images = Float64Array.from(gaussianMatrix(20, 14 * 14 * 4, 43), (v) => Math.max(v + 0.3, 0));
      const X: ImagePatches = { images, count: 20, inH: 14, inW: 14, channels: 4, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, outH: 14, outW: 14 };
      return { X, Y: convTarget(X, 8, 44), epsilonGain: 0.05 };
    }],
  ];
  for (const [name, make] of sizes)
    it(`${name}: GPU memory held is within 1.2× the algorithm's arrays (no M×P copy of the state)`, async () => {
      const problem = prepareLayerProblem(make());
      const engine = await GpuAdmmEngine.create(gpu!, problem);
      try {
        // What the algorithm needs, in float32: X (or the images its patches come from), Y, the
        // state T and B (P×M), W3, Q, W2 (N×M), the solve operator (N² or, Woodbury, P² and two P×M).
        const { samples: P, columns: N, outputs: M, original } = problem;
        const woodbury = P < N;
        const xValues = 'images' in original.X ? original.X.images.length : P * N;
        const algorithmBytes = 4 * (xValues + 3 * P * M + 3 * N * M + (woodbury ? P * P + 2 * P * M : N * N));
        const allocatedBytes = engine.allocatedBytes;
        expect(allocatedBytes / algorithmBytes).toBeLessThan(1.2);
        expect(allocatedBytes).toBeGreaterThanOrEqual(algorithmBytes);
        // Iterating allocates nothing.
        await engine.iterate(3);
        expect(engine.allocatedBytes).toBe(allocatedBytes);
      } finally {
        engine.release();
      }
    });
});

function denseLayer(P: number, N: number, M: number, seed: number) {
  const X = reluLike(P, N, seed);
  const W = gaussian(N, M, seed + 1);
  const Y = new Float64Array(P * M);
  for (let p = 0; p < P; p++) for (let n = 0; n < N; n++) for (let m = 0; m < M; m++) Y[p * M + m] += X[p * N + n] * W[n * M + m];
  return { X: { rows: P, cols: N, data: X }, Y: { rows: P, cols: M, data: Y.map((v) => Math.max(v + 0.05, 0)) }, epsilonGain: 0.05 };
}

function convTarget(p: ImagePatches, filters: number, seed: number) {
  const design = designOf(p, true);
  const random = mulberry32(seed);
  const W = Float64Array.from({ length: design.columns * filters }, () => random() - 0.45);
  return { rows: design.rows, cols: filters, data: design.multiply(W, filters).map((v) => Math.max(v, 0)) };
}
