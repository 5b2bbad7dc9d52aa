// Each kernel against float64 arithmetic on shapes that are not multiples of the 64×64 tile.
import { afterAll, describe, expect, it } from 'vitest';
import { isSoftwareAdapter, type GpuRuntime } from '../src/gpu/device.js';
import { gpuMatmulCandidates, MATMUL_VARIANTS, matmul, matmulDispatches, measureMatmulVariants, tuneMatmul, type MatmulVariant } from '../src/gpu/kernels/matmul.js';
import { prefersSubgroupKernels, subgroupKernelsRun } from '../src/gpu/kernels/subgroups.js';
import { GpuError } from '../src/errors.js';
import { elementwiseGroups, projectResponse, shrinkUniforms, shrinkWeights } from '../src/gpu/kernels/proximal.js';
import { SIDED_BOUND } from '../src/gpu/kernels/sides.js';
import { constraintDistance, DISTANCE_PARTIALS, SCALAR_CHANNELS } from '../src/gpu/kernels/reductions.js';
import { Workspace, type Dispatch } from '../src/gpu/workspace.js';
import { gpuForTests, withLimits } from './helpers/gpu.js';
import { gaussianMatrix } from './helpers/random.js';
import { matmulReference as reference } from './helpers/matmulReference.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

const pipelineKeys = (runtime: GpuRuntime) => runtime.pipelines.keys;

function run(ws: Workspace, dispatches: Dispatch[]): void {
  ws.submit(dispatches);
}

describe.skipIf(!gpu)('matmul kernel', () => {
  const shapes = [
    [1, 1, 1],
    [3, 5, 7],
    [65, 1, 130], // M = 1 style: a single output column
    [130, 67, 33],
    [70, 129, 200],
    [200, 140, 70], // whole 128×128 tiles and k steps: 'pipelined' loads them without bounds tests
  ];
  // 'tiled', 'wide' and 'pipelined' (workgroup memory, for GPUs) and 'registers' (for software adapters) must
  // all be right whichever device runs the tests; 'subgroups' wherever it runs (lavapipe: yes).
  // [130, 67, 33] and [70, 129, 200] cross the wide kernel's 128-wide tile edges.
  // 'subgroups, 4 lanes': the same device posing as one with 4-wide subgroups (SwiftShader's): a
  // 4-invocation workgroup is one subgroup there too.
  const fourWide = gpu && (Object.create(gpu, { subgroupSize: { value: 4 } }) as GpuRuntime);
  const runs = [['tiled', gpu], ['wide', gpu], ['pipelined', gpu], ['registers', gpu], ['subgroups', gpu], ['subgroups, 4 lanes', fourWide]] as const;
  for (const [name, runtime] of runs)
  for (const [m, n, k] of shapes)
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const) {
      const variant = name.startsWith('subgroups') ? 'subgroups' : (name as MatmulVariant);
      it.skipIf(variant === 'subgroups' && !(gpu && subgroupKernelsRun(gpu)))(`${name}: ${m}×${k} · ${k}×${n} with transposes (${ta}, ${tb}), alpha and an addend`, async () => {
        const inUse = gpu!.buffers.inUse;
        const ws = new Workspace(runtime!);
        const a = gaussianMatrix(m, k, m + 3 * k);
        const b = gaussianMatrix(k, n, n + 5 * k);
        const d = gaussianMatrix(m, n, 11);
        const out = ws.storage(m * n, 'out');
        run(ws, [
          matmul(ws, {
            label: 'test',
            a: ws.upload(a, 'a'),
            b: ws.upload(b, 'b'),
            addend: ws.upload(d, 'addend'),
            out,
            m,
            n,
            k,
            transposeA: ta,
            transposeB: tb,
            alpha: -0.5,
            beta: 2,
            variant,
          }),
        ]);
        const got = await ws.read(out, m * n);
        const want = reference(a, b, m, n, k, ta, tb);
        for (let i = 0; i < m * n; i++) expect(Math.abs(got[i] - (-0.5 * want[i] + 2 * d[i]))).toBeLessThan(1e-4 * (Math.sqrt(k) + 1) * 4);
        ws.release();
        expect(gpu!.buffers.inUse).toBe(inUse); // this test's buffers all returned (a failed one's leak is not the next one's)
      });
    }
});

describe.skipIf(!gpu)('matmul split over k (GPUs)', () => {
  // A product with few output tiles and a long k is split into k slices plus a summing dispatch
  // on GPUs; the software adapter never splits, so the test poses as a GPU for the plan.
  for (const [variant, ta, k, slices] of [['tiled', true, 2000, 3], ['wide', false, 1500, 2], ['pipelined', true, 1500, 2]] as const)
    it(`${variant}: 70×${k} · ${k}×40 (transposeA ${ta}) in k slices, alpha and an addend, equals float64`, async () => {
      const runtime = gpu!;
      const saved = { software: runtime.software, variant: runtime.matmulVariant };
      Object.assign(runtime, { software: false, matmulVariant: 'tiled' });
      const ws = new Workspace(runtime);
      try {
        const [m, n] = [70, 40];
        const a = gaussianMatrix(ta ? k : m, ta ? m : k, 5);
        const b = gaussianMatrix(k, n, 6);
        const d = gaussianMatrix(m, n, 7);
        const out = ws.storage(m * n, 'out');
        const dispatches = matmulDispatches(ws, { label: 'split', a: ws.upload(a, 'a'), b: ws.upload(b, 'b'), addend: ws.upload(d, 'addend'), out, m, n, k, transposeA: ta, alpha: 0.5, beta: -1, variant });
        expect(dispatches.map((x) => x.workgroups[2])).toEqual([slices, 1]); // k / 512 slices at most
        expect(dispatches[1].label).toContain('sum of k slices');
        run(ws, dispatches);
        const got = await ws.read(out, m * n);
        const want = reference(a, b, m, n, k, ta, false);
        for (let i = 0; i < m * n; i++) expect(Math.abs(got[i] - (0.5 * want[i] - d[i]))).toBeLessThan(1e-4 * Math.sqrt(k));
      } finally {
        ws.release();
        Object.assign(runtime, { software: saved.software, matmulVariant: saved.variant });
      }
    });
});

describe.skipIf(!gpu)('matmul split over k on request', () => {
  for (const variant of ['registers', 'subgroups'] as const)
  it.skipIf(variant === 'subgroups' && !(gpu && subgroupKernelsRun(gpu)))(`${variant}: 37×900 · 900×21 in 3 requested slices equals float64 (any adapter)`, async () => {
    const ws = new Workspace(gpu!);
    try {
      const [m, n, k] = [37, 21, 900];
      const a = gaussianMatrix(m, k, 9);
      const b = gaussianMatrix(k, n, 10);
      const out = ws.storage(m * n, 'out');
      const dispatches = matmulDispatches(ws, { label: 'split', a: ws.upload(a, 'a'), b: ws.upload(b, 'b'), out, m, n, k, variant, slices: 3 });
      expect(dispatches.map((x) => x.workgroups[2])).toEqual([3, 1]);
      run(ws, dispatches);
      const got = await ws.read(out, m * n);
      const want = reference(a, b, m, n, k, false, false);
      for (let i = 0; i < m * n; i++) expect(Math.abs(got[i] - want[i])).toBeLessThan(1e-4 * Math.sqrt(k));
    } finally {
      ws.release();
    }
  });
});

describe.skipIf(!gpu)('two-stage reduction', () => {
  it('sums ‖(2T − B − Y)_Ω‖² over more entries than one pass of workgroups covers, whole or in two parts', async () => {
    const count = 256 * 256 * 3 + 17;
    const t = gaussianMatrix(1, count, 1);
    const b = gaussianMatrix(1, count, 2);
    const y = gaussianMatrix(1, count, 3).map((v) => Math.max(v, 0));
    // Sided: every third entry in Ω (V marked), whatever the sign of its Y.
    const marks = Float64Array.from({ length: count }, (_, i) => (i % 3 === 0 ? SIDED_BOUND : i % 3 === 1 ? -SIDED_BOUND : 0.5));
    const ySided = gaussianMatrix(1, count, 5);
    for (const [classes, cuts] of [['relu', [0, count]], ['linear', [0, count]], ['relu', [0, 1000, count]], ['sided', [0, 1000, count]]] as const) {
      const yUsed = classes === 'sided' ? ySided : y;
      const ws = new Workspace(gpu!);
      const scalars = ws.storage(SCALAR_CHANNELS, 'scalars');
      // Parts [cuts[i], cuts[i+1]) in buffers of their own (the sample chunks of a large layer).
      const parts = cuts.slice(1).map((end, i) => {
        const part = (v: Float64Array, label: string) => ws.upload(v.subarray(cuts[i], end), label);
        return { count: end - cuts[i], response: part(t, 't'), responseRhs: part(b, 'b'), targetY: part(yUsed, 'y'), boundV: classes === 'sided' ? part(marks, 'V (marked)') : null };
      });
      run(ws, constraintDistance(ws, { parts, classes, partials: ws.storage(DISTANCE_PARTIALS * parts.length, 'partials'), scalars }));
      const [got] = await ws.read(scalars, 1);
      let want = 0;
      for (let i = 0; i < count; i++) if (classes === 'linear' || (classes === 'sided' ? i % 3 === 0 : y[i] > 0)) want += (2 * t[i] - b[i] - yUsed[i]) ** 2;
      expect(Math.abs(got - want) / want).toBeLessThan(1e-5);
      ws.release();
    }
  });
});

describe.skipIf(!gpu)('matmul tuning', () => {
  it('measures the GPU kernels once per device (software adapters: subgroups where it runs and passes its check, else registers; no other kernel compiled) and makes matmul use the faster', async () => {
    const before = new Set(pipelineKeys(gpu!));
    const choice = await tuneMatmul(gpu!);
    if (gpu!.software) {
      expect(choice).toBe(subgroupKernelsRun(gpu!) ? 'subgroups' : 'registers');
      expect(pipelineKeys(gpu!).filter((key) => !before.has(key)).every((key) => key.includes(`:${MATMUL_VARIANTS[choice].entryPoint}:`))).toBe(true);
    } else expect(gpuMatmulCandidates(gpu!)).toContain(choice);
    expect(gpu!.matmulVariant).toBe(choice);
    const pipelines = gpu!.pipelines.size;
    expect(await tuneMatmul(gpu!)).toBe(choice); // cached: nothing measured or compiled again
    expect(gpu!.pipelines.size).toBe(pipelines);
    const ws = new Workspace(gpu!);
    try {
      const [m, n, k] = [20, 30, 10];
      const a = gaussianMatrix(m, k, 91);
      const b = gaussianMatrix(k, n, 92);
      const out = ws.storage(m * n, 'out');
      const dispatch = matmul(ws, { label: 'tuned', a: ws.upload(a, 'a'), b: ws.upload(b, 'b'), out, m, n, k });
      expect(dispatch.pipeline.label).toMatch(new RegExp(`^matmul(_subgroups|_wide)?:${MATMUL_VARIANTS[choice].entryPoint}:`));
      run(ws, [dispatch]);
      const want = reference(Float64Array.from(a), Float64Array.from(b), m, n, k, false, false);
      const got = await ws.read(out, m * n);
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 4);
    } finally {
      ws.release();
    }
  });
});

describe.skipIf(!gpu)('matmul tuning on a GPU (this device posing as one, on small products)', () => {
  // What tuneMatmul runs once per GPU: every candidate the device's workgroup memory allows, on
  // A·B and on AᵀA split over k (both transposes of each kernel compiled and run).
  for (const bytes of [32768, 16384])
    it(`with ${bytes} bytes of workgroup memory: times ${bytes === 32768 ? "'tiled', 'wide' and 'pipelined'" : "'tiled' alone"} and returns one of them`, async () => {
      const posed = withLimits(gpu!, { maxComputeWorkgroupStorageSize: bytes }, { software: false, matmulVariant: null });
      const candidates = gpuMatmulCandidates(posed);
      expect(candidates).toEqual(bytes === 32768 ? ['tiled', 'wide', 'pipelined'] : ['tiled']);
      const choice = await measureMatmulVariants(posed, [1024, 128, 128]);
      expect(candidates).toContain(choice);
      const compiled = pipelineKeys(gpu!);
      for (const variant of candidates)
        for (const transposeA of [0, 1]) expect(compiled.some((key) => key.includes(`:${MATMUL_VARIANTS[variant].entryPoint}:`) && key.includes(`"TRANSPOSE_A":${transposeA}`)), `${variant}, transposeA ${transposeA}`).toBe(true);
      expect(compiled.some((key) => key.includes(':matmul_slices:'))).toBe(true); // AᵀA was split
    });
});

describe.skipIf(!gpu?.software || !subgroupKernelsRun(gpu))('the subgroup kernels\' check (software adapters with 8-wide subgroups)', () => {
  it('a device whose subgroup kernel fails falls back to the register kernels for good, for the conv kernels too', async () => {
    // The same device, posing as one on which the subgroup module cannot be compiled.
    const pipelines = Object.create(gpu!.pipelines, {
      get: { value: (name: string, ...rest: [string, string, Record<string, number>?]) => (name.endsWith('_subgroups') ? failing(name) : gpu!.pipelines.get(name, ...rest)) },
    });
    const posed = Object.create(gpu!, { pipelines: { value: pipelines }, subgroupSize: { value: 8, writable: true }, matmulVariant: { value: null, writable: true } }) as GpuRuntime;
    expect(prefersSubgroupKernels(posed)).toBe(true);
    expect(await tuneMatmul(posed)).toBe('registers');
    expect(posed.subgroupSize).toBeNull();
    expect(prefersSubgroupKernels(posed)).toBe(false);
    expect(gpu!.subgroupSize).toBe(8); // the real runtime is untouched
  });
});

function failing(name: string): never {
  throw new GpuError(`${name}: no subgroups here`);
}

describe('grid-stride workgroup counts', () => {
  it('launch up to 4096 workgroups on a GPU but at most 512 on a CPU implementation, and never past the device limit', () => {
    const limits = { maxComputeWorkgroupsPerDimension: 65535 } as GPUSupportedLimits;
    const onGpu = { software: false, limits } as GpuRuntime;
    const onCpu = { software: true, limits } as GpuRuntime;
    expect(elementwiseGroups(onGpu, 10)).toBe(1);
    expect(elementwiseGroups(onGpu, 256 * 3000 + 1)).toBe(3001);
    expect(elementwiseGroups(onGpu, 1e9)).toBe(4096);
    expect(elementwiseGroups(onCpu, 256 * 3000)).toBe(512);
    expect(elementwiseGroups(onCpu, 256 * 100)).toBe(100);
    expect(elementwiseGroups({ software: false, limits: { maxComputeWorkgroupsPerDimension: 1000 } } as GpuRuntime, 1e9)).toBe(1000);
  });
  it('recognizes the software adapters by name', () => {
    expect(isSoftwareAdapter('mesa software llvmpipe-llvm-15-0-6-256-bits- (llvmpipe: Mesa 25.0.7)')).toBe(true);
    expect(isSoftwareAdapter('Google SwiftShader')).toBe(true);
    expect(isSoftwareAdapter('nvidia hopper NVIDIA H100 80GB HBM3')).toBe(false);
  });
});

describe.skipIf(!gpu)('the elementwise ADMM steps, four entries per access', () => {
  // 1 001 entries: not a multiple of 4, so the last vec4 is part padding (which must stay zero).
  const count = 1001;
  const [t, b, v] = [gaussianMatrix(1, count, 41), gaussianMatrix(1, count, 42), gaussianMatrix(1, count, 43)];
  const y = gaussianMatrix(1, count, 44).map((value) => Math.max(value, 0));
  const f32 = (values: Float64Array) => Float64Array.from(Float32Array.from(values));
  const [T, B, V, Y] = [f32(t), f32(b), f32(v), f32(y)];

  // Sided: entry i in Ω when i % 3 = 0 (any sign of Y), above its bound Y when 1, below V when 2.
  const side = (i: number) => i % 3;
  const marked = V.map((value, i) => (side(i) === 0 ? SIDED_BOUND : side(i) === 1 ? -SIDED_BOUND : value));
  const Ysided = f32(gaussianMatrix(1, count, 45));
  for (const [classes, withV] of [['relu', true], ['relu', false], ['linear', false], ['sided', true]] as const)
    it(`projectResponse (${classes}${withV ? ', bound V' : ''}): B and W1 against float64`, async () => {
      const ws = new Workspace(gpu!);
      try {
        const [epsilon, relaxation] = [3, 1.6];
        const sided = classes === 'sided';
        const Yc = sided ? Ysided : Y;
        const onSupport = (i: number) => classes === 'linear' || (sided ? side(i) === 0 : Y[i] > 0);
        let distanceSq = 0;
        for (let i = 0; i < count; i++) if (onSupport(i)) distanceSq += (T[i] - (B[i] - T[i]) - Yc[i]) ** 2;
        const [response, responseRhs] = [ws.upload(T, 'T'), ws.upload(B, 'B')];
        const scalars = ws.upload([distanceSq], 'scalars');
        const boundV = sided ? ws.upload(marked, 'V (marked)') : withV ? ws.upload(V, 'V') : null;
        run(ws, [projectResponse(ws, { count, classes, epsilon, relaxation, saveW1: true, response, targetY: ws.upload(Yc, 'Y'), boundV, scalars, responseRhs })]);
        const [w1, bNew] = [await ws.read(response, count + 3), await ws.read(responseRhs, count + 3)];
        const shrink = epsilon / Math.max(Math.sqrt(distanceSq), epsilon);
        expect(shrink).toBeLessThan(1); // the ball constraint is active
        for (let i = 0; i < count; i++) {
          const z = T[i] - (B[i] - T[i]);
          const want = onSupport(i) ? Yc[i] + (z - Yc[i]) * shrink : sided && side(i) === 1 ? Math.max(z, Yc[i]) : Math.min(z, withV ? V[i] : 0);
          expect(w1[i]).toBeCloseTo(want, 4);
          expect(bNew[i]).toBeCloseTo(B[i] + relaxation * (want - T[i]), 4);
        }
        expect([...w1.slice(count), ...bNew.slice(count)]).toEqual([0, 0, 0, 0, 0, 0]);
      } finally {
        ws.release();
      }
    });

  it('shrinkWeights: W2 = soft-threshold(W3 − U2, 1/ρ) and Q against float64', async () => {
    const ws = new Workspace(gpu!);
    try {
      const [rho, relaxation] = [2, 1.6];
      const [W3, Q] = [ws.upload(T, 'W3'), ws.upload(B, 'Q')];
      const W2 = ws.storage(count, 'W2');
      run(ws, [shrinkWeights(ws, { count, uniforms: ws.uniform(shrinkUniforms(count, rho, relaxation)), W3, weightRhs: Q, W2 })]);
      const [w2, q] = [await ws.read(W2, count + 3), await ws.read(Q, count + 3)];
      for (let i = 0; i < count; i++) {
        const target = T[i] - (B[i] - T[i]);
        const want = Math.sign(target) * Math.max(Math.abs(target) - 1 / rho, 0);
        expect(w2[i]).toBeCloseTo(want, 5);
        expect(q[i]).toBeCloseTo(B[i] + relaxation * (want - T[i]), 5);
      }
      expect([...w2.slice(count), ...q.slice(count)]).toEqual([0, 0, 0, 0, 0, 0]);
    } finally {
      ws.release();
    }
  });
});
