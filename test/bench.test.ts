// The benchmark suite (bench/run.mjs on the built dist/) runs from a clean clone: tiny dense
// layers, one per solve form, on the WebGPU path, the CPU reference and (where python3 has numpy)
// the numpy baseline, and its JSON holds what bench/README.md's columns are made of. The machine-independent counts are checked against
// values worked out here; times only for being positive and finite (never for their size).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { gpuForTests } from './helpers/gpu.js';

const gpu = await gpuForTests(); // only to skip (locally) where no adapter is found
gpu?.destroy();
const root = new URL('..', import.meta.url).pathname;
const work = await mkdtemp(join(tmpdir(), 'net-trim-bench-'));
afterAll(() => rm(work, { recursive: true, force: true }));

const runBench = (args: string[]) => spawnSync(process.execPath, [join(root, 'bench/run.mjs'), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env } });

interface Entry {
  problem: string;
  backend: string;
  [field: string]: unknown;
}

describe.skipIf(!gpu)('npm run bench', () => {
  it('times an inverse-form and a Woodbury-form layer on the GPU, the CPU reference and numpy, into JSON', { timeout: 300_000 }, async () => {
    const json = join(work, 'results.json');
    // N = 41 columns with the bias: P = 300 ≥ N takes A⁻¹; P = 30 < N the Woodbury form.
    const run = runBench(['--problems', 'dense-40x12-P300,dense-40x12-P30', '--repeats', '1', '--iterations', '1', '--cpu-repeats', '1', '--json', json]);
    expect(run.status, run.stderr).toBe(0);
    const { device, results } = JSON.parse(await readFile(json, 'utf8')) as { device: string; results: Entry[] };
    expect(device).toBeTruthy();
    const of = (problem: string, backend: string) => results.filter((r) => r.problem === problem && r.backend.startsWith(backend));
    const hasNumpy = spawnSync('python3', ['-c', 'import numpy']).status === 0;
    if (!hasNumpy) expect(run.stderr).toContain('numpy baseline skipped');
    const [N, M] = [41, 12];
    for (const P of [300, 30]) {
      const problem = `dense-40x12-P${P}`;
      const [gpuEntry, cpuEntry] = [of(problem, 'webgpu'), of(problem, 'cpu')].map((entries) => {
        expect(entries).toHaveLength(1);
        return entries[0];
      });
      expect(gpuEntry).toMatchObject({ N, M, P, solve: P >= N ? 'inverse' : 'woodbury', sampleChunks: 1, hostRoundTripsPerIteration: 1 / 50 });
      // The solve's product: N²·M next to the two P·N·M products, or P²·M for Woodbury.
      expect(gpuEntry.allProductsToProductsWithXFlops).toBeCloseTo(P >= N ? 1 + N / (2 * P) : 1 + P / (2 * N), 10);
      for (const field of ['secondsPerIteration', 'productsWithXSecondsPerIteration', 'allProductsSecondsPerIteration', 'iterationToMatmulRatio', 'iterationToAllProductsRatio', 'matmulGflops', 'gpuMemoryToAlgorithmArraysRatio'])
        expect(Number.isFinite(gpuEntry[field]) && (gpuEntry[field] as number) > 0, field).toBe(true);
      expect(gpuEntry.dispatchesPerIteration).toBe(P >= N ? 6 : 7);
      expect(cpuEntry.speedupOfWebgpu).toBeCloseTo((cpuEntry.secondsPerIteration as number) / (gpuEntry.secondsPerIteration as number), 10);
      // numpy: the same fields from bench/numpy_admm.py (once, or twice when OPENBLAS_CORETYPE is set).
      const numpy = of(problem, 'numpy');
      expect(numpy.length > 0).toBe(hasNumpy);
      for (const entry of numpy) {
        expect(entry).toMatchObject({ N, M, P, dtype: 'float64' });
        for (const field of ['secondsPerIteration', 'iterationToMatmulRatio', 'iterationToAllProductsRatio', 'matmulGflops'])
          expect(Number.isFinite(entry[field]) && (entry[field] as number) > 0, field).toBe(true);
        expect(entry.speedupOfWebgpu).toBeCloseTo((entry.secondsPerIteration as number) / (gpuEntry.secondsPerIteration as number), 10);
      }
    }
  });

  it('refuses an unknown problem, naming the option, and writes nothing', () => {
    const json = join(work, 'never.json');
    const run = runBench(['--problems', 'dense-40x12', '--no-cpu', '--no-numpy', '--json', json]);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('--problems: unknown problem dense-40x12');
    expect(existsSync(json)).toBe(false);
  });
});

describe.skipIf(!gpu)('the one-call GPU benchmark (bench/gpu/run.sh)', () => {
  it('runs its steps at --quick sizes into results.json and results.md, with the LeNet solve and float64-checked kernels', { timeout: 300_000 }, async () => {
    const out = join(work, 'gpu-suite');
    const run = spawnSync('bash', [join(root, 'bench/gpu/run.sh'), '--quick', '--no-torch', '--steps', 'matmul,lenet,problems', '--problems', 'dense-40x12-P300', '--lenet-iterations', '50'], {
      cwd: root,
      encoding: 'utf8',
      env: { ...process.env, OUT: out },
    });
    expect(run.status, run.stderr + run.stdout).toBe(0);
    const report = JSON.parse(await readFile(join(out, 'results.json'), 'utf8'));
    expect(Object.values(report.steps).every((s) => !(s as { error?: string }).error), JSON.stringify(report.steps)).toBe(true);
    // Every kernel's product agrees with float64 to f32 rounding (|error| / Σ|terms|).
    expect(report.matmul.length).toBeGreaterThan(0);
    for (const entry of report.matmul) expect(entry.relativeError, entry.variant).toBeLessThan(1e-5);
    // The LeNet-shaped solve: 50 iterations from zero, and the per-iteration measurement beside it.
    expect(report.lenet).toMatchObject({ N: 393, M: 64, P: 3000, iterations: 50 });
    expect(report.lenet.nonzeroShare).toBeGreaterThan(0);
    expect(report.lenet.nonzeroShare).toBeLessThan(1);
    expect(report.results.map((r: Entry) => r.problem)).toEqual(['lenet-fc1', 'dense-40x12-P300']);
    expect(await readFile(join(out, 'results.md'), 'utf8')).toContain('LeNet FC1 (393×64×3000');
    expect(await readFile(join(out, 'log.txt'), 'utf8')).toContain('probe: ');
  });
});
