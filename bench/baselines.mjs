// The Python ports of the iteration, run beside the WebGPU path (bench/run.mjs, bench/gpu/suite.mjs):
// numpy float64 (as the authors compute) and PyTorch on CUDA. Each returns the bench's entries
// for one problem, or none with a line on stderr when python3 lacks the library or the device.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

function runPort(script, args, env = process.env) {
  const run = spawnSync('python3', [fileURLToPath(new URL(script, import.meta.url)), ...args.map(String)], { env, encoding: 'utf8', maxBuffer: 1 << 24 });
  if (run.status !== 0) return { error: (run.stderr || run.error?.message || `exit ${run.status}`).trim().split('\n').pop() };
  return { measured: JSON.parse(run.stdout) };
}

/**
 * The same iteration in numpy (float64), run twice when OPENBLAS_CORETYPE is set: as the machine
 * is configured and with it unset (it slows current OpenBLAS).
 */
export function numpyBaseline(problem, N, M, P, { repeats, iterations }) {
  const variants = [{ label: 'numpy float64', env: process.env }];
  if (process.env.OPENBLAS_CORETYPE) {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    variants.push({ label: 'numpy float64 (OPENBLAS_CORETYPE unset)', env });
  }
  const entries = [];
  for (const { label, env } of variants) {
    const { measured, error } = runPort('./numpy_admm.py', [N, M, P, '--repeats', repeats, '--iterations', iterations], env);
    if (error) {
      console.error(`numpy baseline skipped (${error})`);
      return entries;
    }
    entries.push({ problem, backend: label, device: `CPU, numpy ${measured.numpy}`, N, M, P, ...measured, hostRoundTripsPerIteration: 0, repeats });
  }
  return entries;
}

/**
 * The same iteration in PyTorch on the CUDA device: float32 (IEEE products, as ours), tf32 (the
 * products on TF32 tensor cores) and float64 (as the authors'), by default.
 */
export function torchBaseline(problem, N, M, P, { repeats, iterations = 20, dtypes = ['float32', 'tf32', 'float64'] }) {
  const entries = [];
  for (const dtype of dtypes) {
    const { measured, error } = runPort('./torch_admm.py', [N, M, P, '--repeats', repeats, '--iterations', iterations, '--dtype', dtype]);
    if (error) {
      console.error(`PyTorch baseline (${dtype}) skipped (${error})`);
      return entries;
    }
    entries.push({ problem, backend: `PyTorch ${dtype}`, ...measured, device: `${measured.device}, torch ${measured.torch}`, N, M, P, hostRoundTripsPerIteration: 0, repeats });
  }
  return entries;
}
