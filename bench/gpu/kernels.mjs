// The matmul kernels measured on their own (bench/gpu/suite.mjs's `matmul` and `splits` steps):
// each product checked against float64 at 64 entries, then timed in submits of about 30–50 ms,
// medians of 5. `use` binds the library, the device and where entries go, once per run.
import { median } from '../measure.mjs';

let lib, gpu, peakGflops, record;

/** The library's internals, the GpuRuntime, the f32 peak in GFLOP/s and a sink for the entries. */
export function use(context) {
  ({ lib, gpu, peakGflops, record } = context);
}

/** Runs `list` `times` times in one submit; seconds per run, waited for. */
export async function timeList(list, times) {
  const t = performance.now();
  const encoder = gpu.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let r = 0; r < times; r++) lib.encodeDispatches(pass, list);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
  await gpu.device.queue.onSubmittedWorkDone();
  return (performance.now() - t) / 1000 / times;
}

/** Medians of 5 submits of about `target` seconds each, after the first (which compiles). */
async function timed(list, target = 0.03) {
  const first = await timeList(list, 1);
  const per = Math.max(1, Math.min(50, Math.round(target / Math.max(first, 1e-5))));
  const times = [];
  for (let r = 0; r < 5; r++) times.push(await timeList(list, per));
  return { seconds: median(times), first, per };
}

/**
 * Keeps the GPU busy for about `seconds` before a measurement: after seconds of host work (a
 * problem drawn in JS) its clocks have dropped, and the first configuration measured would pay
 * for the ramp (seen on the H200: the first of two plans measured after drawing a problem ran up
 * to 4× slower, the same plans in the other order did not).
 */
export async function warmGpu(seconds = 0.5) {
  if (gpu.software) return;
  const ws = new lib.Workspace(gpu);
  try {
    const size = 2048;
    const a = ws.upload(fill(size * size, 5), 'warm-up A');
    const out = ws.storage(size * size, 'warm-up out');
    const d = lib.matmul(ws, { label: 'warm-up', a, b: a, out, m: size, n: size, k: size });
    const until = performance.now() + seconds * 1000;
    while (performance.now() < until) await timeList([d], 8);
  } finally {
    ws.release();
  }
}

/** A fast reproducible fill in [-0.5, 0.5) (the matmul sweep needs data, not a distribution). */
export function fill(length, seed) {
  const out = new Float32Array(length);
  let x = seed >>> 0;
  for (let i = 0; i < length; i++) out[i] = ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0) / 2 ** 32) - 0.5;
  return out;
}

/** The largest |error| / Σ|terms| over 64 entries of op(A)·B against float64 (f32 sums: ~1e-7·√k). */
function checkEntries(got, a, b, { m, n, k, ta }) {
  let worst = 0;
  for (let s = 0; s < 64; s++) {
    const i = (s * 7919) % m, j = (s * 104729) % n;
    let sum = 0, bound = 0;
    for (let p = 0; p < k; p++) {
      const term = (ta ? a[p * m + i] : a[i * k + p]) * b[p * n + j];
      sum += term;
      bound += Math.abs(term);
    }
    worst = Math.max(worst, Math.abs(got[i * n + j] - sum) / bound);
  }
  return worst;
}

/**
 * One m×n×k product (op(A) = Aᵀ with `ta`) under each configuration, as a [label, Dispatch[]]
 * list from `configure(ws, spec)`: checked, then timed after a GPU warm-up.
 */
async function measureProduct(shape, configure) {
  const { m, n, k, ta = false } = shape;
  const a = fill(m * k, 1), b = fill(k * n, 2);
  const ws = new lib.Workspace(gpu);
  try {
    const A = ws.upload(a, 'sweep A'), B = ws.upload(b, 'sweep B');
    await warmGpu();
    for (const [variant, makeList] of configure()) {
      const out = ws.storage(m * n, 'sweep out');
      const list = makeList(ws, { label: 'sweep', a: A, b: B, out, m, n, k, transposeA: ta });
      const { seconds, first, per } = await timed(list);
      const relativeError = checkEntries(await ws.read(out, m * n), a, b, { m, n, k, ta });
      const gflops = (2 * m * n * k) / seconds / 1e9;
      const slices = list[0].workgroups[2];
      record({ shape: shape.label, m, n, k, transposeA: ta, variant: slices > 1 ? `${variant}, ${slices} k slices` : variant, secondsPerProduct: seconds, firstSubmitSeconds: first, gflops, peakShare: gflops / peakGflops, relativeError, dispatchesPerSubmit: per });
    }
  } finally {
    ws.release();
  }
}

/** Each kernel alone (`variants`, default: the device's candidates), and on GPUs the library's plan ('auto': matmulDispatches). */
export function sweepShape(shape, variants = gpu.software ? ['registers', 'wide'] : lib.gpuMatmulCandidates(gpu)) {
  return measureProduct(shape, () => [
    ...variants.map((variant) => [variant, (ws, spec) => [lib.matmul(ws, { ...spec, variant })]]),
    ...(gpu.software ? [] : [['auto', (ws, spec) => lib.matmulDispatches(ws, spec)]]),
  ]);
}

/** The k splits of a product whose output is small: each GPU kernel at fixed slice counts. */
export function splitSweep(shape) {
  return measureProduct(shape, () =>
    lib.gpuMatmulCandidates(gpu).flatMap((variant) => [1, 4, 16].map((slices) => [variant, (ws, spec) => lib.matmulDispatches(ws, { ...spec, variant, slices })])),
  );
}
