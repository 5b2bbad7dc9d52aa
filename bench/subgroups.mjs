#!/usr/bin/env node
// The subgroup kernels (matmul, and the conv layers' patch products) against the register kernels
// they replace on software adapters, side by side in one process (issue 17: "where the adapter offers subgroups, try them and report speed
// and the float64-measured accuracy"). Needs a device whose subgroups are 8 wide (llvmpipe on
// AVX2); elsewhere it says so and exits 0. After `npm run build`:
//   XDG_RUNTIME_DIR=/tmp/xdg node bench/subgroups.mjs [--rounds 2] [--iterations 30] [--json out.json]
// 1. The kernels alone on the ADMM's product shapes (bench/gpu/kernels.mjs: checked against
//    float64 at 64 entries, medians of 5 submits).
// 2. An ADMM iteration of the bench's problems with each set of kernels (bench/measure.mjs; the
//    register kernels on the same device posing as one without subgroups), in alternating rounds,
//    medians; and how far each one's W after --iterations iterations from zero is from the float64
//    CPU reference's after as many (relative Frobenius distance).
import { parseArgs } from 'node:util';
import * as lib from '../dist/node/internals.js';
import { sweepShape, use } from './gpu/kernels.mjs';
import { writeAtomically } from './lib.mjs';
import { measureEngine, median } from './measure.mjs';
import { makeProblem, problemShape } from './problems.mjs';

const { values: opts } = parseArgs({
  options: {
    rounds: { type: 'string', default: '2' },
    iterations: { type: 'string', default: '30' },
    problems: { type: 'string', default: 'dense-784x300-P2000,dense-300x100-P10000,dense-784x300-P500,conv-3x3x8x16-P400' },
    json: { type: 'string' },
  },
});
const VARIANTS = ['registers', 'subgroups'];

const gpu = await lib.acquireGpu();
console.error(`device: ${gpu.adapterDescription}; subgroup size ${gpu.subgroupSize ?? 'none or varying'}`);
if (!lib.subgroupKernelsRun(gpu)) {
  console.log(`bench/subgroups.mjs: this device has no subgroups exactly 8 wide (${gpu.subgroupSize ?? 'none or varying'}); nothing to compare`);
  process.exit(0);
}

const kernels = [];
use({ lib, gpu, peakGflops: Number.NaN, record: (entry) => kernels.push(entry) });
for (const shape of [
  { label: 'T = X·W3', m: 2000, n: 300, k: 785 },
  { label: 'Xᵀ·B', m: 785, n: 300, k: 2000, ta: true },
  { label: 'A⁻¹·rhs', m: 785, n: 300, k: 785 },
  { label: 'LeNet FC1 A⁻¹·rhs', m: 3137, n: 512, k: 3137 },
])
  await sweepShape(shape, VARIANTS);
for (const e of kernels) console.error(`${e.shape} ${e.m}×${e.n}×${e.k}: ${e.variant} ${e.gflops.toFixed(2)} GFLOP/s, relative error ${e.relativeError.toExponential(1)}`);

const relativeDistance = (got, want) => {
  let d = 0, w = 0;
  for (let i = 0; i < want.length; i++) { d += (got[i] - want[i]) ** 2; w += want[i] ** 2; }
  return Math.sqrt(d / w);
};

// Each configuration's runtime: the register kernels on this device posing as one without subgroups.
const runtimes = {
  registers: Object.create(gpu, { subgroupSize: { value: null }, matmulVariant: { value: 'registers', writable: true } }),
  subgroups: Object.assign(gpu, { matmulVariant: 'subgroups' }),
};
const iterations = [];
const ITERATIONS = Number(opts.iterations);
for (const name of opts.problems.split(',')) {
  const problem = makeProblem(lib, problemShape(name));
  const cpu = new lib.CpuAdmmEngine(problem);
  await cpu.iterate(ITERATIONS);
  const reference = (await cpu.getState()).W2;
  const seconds = Object.fromEntries(VARIANTS.map((v) => [v, []]));
  const entries = {};
  for (let round = 0; round < Number(opts.rounds); round++)
    for (const variant of VARIANTS) {
      const engine = await lib.GpuAdmmEngine.create(runtimes[variant], problem);
      try {
        if (round === 0) {
          await engine.iterate(ITERATIONS);
          entries[variant] = { distanceToFloat64: relativeDistance(await engine.weights(), reference) };
        }
        const entry = await measureEngine(engine, gpu, name, problem, { repeats: 3, iterations: 3, checkEvery: 50, setupSeconds: 0 });
        seconds[variant].push(entry.secondsPerIteration);
        Object.assign(entries[variant], { dispatchesPerIteration: entry.dispatchesPerIteration });
      } finally {
        engine.release();
      }
    }
  for (const variant of VARIANTS) {
    const entry = { problem: name, variant, secondsPerIteration: median(seconds[variant]), ...entries[variant], afterIterations: ITERATIONS };
    iterations.push(entry);
    console.error(JSON.stringify(entry));
  }
}
gpu.destroy();

const groupBy = (list, pick) => list.reduce((groups, e) => ((groups[pick(e)] ??= []).push(e), groups), {});
console.log(`Device: ${gpu.adapterDescription}, ${new Date().toISOString().slice(0, 10)}.\n`);
console.log('| product | m×n×k | registers GFLOP/s | subgroups GFLOP/s | ratio | relative error (both) |\n|---|---|---|---|---|---|');
for (const [label, pair] of Object.entries(groupBy(kernels, (e) => e.shape))) {
  const [r, s] = VARIANTS.map((v) => pair.find((e) => e.variant === v));
  console.log(`| ${label} | ${r.m}×${r.n}×${r.k} | ${r.gflops.toFixed(1)} | ${s.gflops.toFixed(1)} | ${(s.gflops / r.gflops).toFixed(2)}× | ${r.relativeError.toExponential(1)} / ${s.relativeError.toExponential(1)} |`);
}
console.log(`\n| problem | registers s/iteration | subgroups s/iteration | ratio | ‖W − W₆₄‖/‖W₆₄‖ after ${ITERATIONS} (registers / subgroups) |\n|---|---|---|---|---|`);
for (const [name, pair] of Object.entries(groupBy(iterations, (e) => e.problem))) {
  const [r, s] = VARIANTS.map((v) => pair.find((e) => e.variant === v));
  console.log(`| ${name} | ${r.secondsPerIteration.toFixed(4)} | ${s.secondsPerIteration.toFixed(4)} | ${(r.secondsPerIteration / s.secondsPerIteration).toFixed(2)}× | ${r.distanceToFloat64.toExponential(1)} / ${s.distanceToFloat64.toExponential(1)} |`);
}
if (opts.json) writeAtomically(opts.json, JSON.stringify({ device: gpu.adapterDescription, subgroupSize: gpu.subgroupSize, kernels, iterations }, null, 2) + '\n');
process.exit(0);
