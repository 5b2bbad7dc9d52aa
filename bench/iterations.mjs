#!/usr/bin/env node
// Iterations (machine-independent) and seconds to reach the same tolerance, for the ways of
// running the ADMM iteration side by side in one run: the authors' fixed ρ, residual-balancing
// ρ, over-relaxation, and a warm start from the previous ε of a sweep. Usage:
//   npm run build && node bench/iterations.mjs [--problems a,b] [--backend webgpu|cpu] [--max-iterations n] [--json out.json]
import { Command } from 'commander';
import { writeAtomically } from './lib.mjs';
import { seededNormal } from './problems.mjs';
import { acquireGpu, solveLayer } from '../dist/node/index.js';
import { designOf } from '../dist/node/internals.js';

/** Y = relu(X·W + b) for a dense random W on nonnegative inputs X (dense rows or image patches). */
function layer(X, columns, outputs, seed) {
  const normal = seededNormal(seed);
  const W = Float64Array.from({ length: (columns + 1) * outputs }, () => normal() / Math.sqrt(columns));
  const Y = designOf(X, true).multiply(W, outputs).map((v) => Math.max(v, 0));
  return { X, Y: { rows: Y.length / outputs, cols: outputs, data: Y } };
}

const PROBLEMS = {
  'dense-300x100-P2000': () => {
    const normal = seededNormal(1);
    const [P, N] = [2000, 300];
    return layer({ rows: P, cols: N, data: Float32Array.from({ length: P * N }, () => Math.max(normal(), 0)) }, N, 100, 2);
  },
  'conv-3x3x8x16-P100': () => {
    const normal = seededNormal(3);
    const [count, size, channels] = [100, 14, 8];
    const X = {
      images: Float32Array.from({ length: count * size * size * channels }, () => Math.max(normal(), 0)),
      count, inH: size, inW: size, channels,
      kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, outH: size, outW: size,
    };
    return layer(X, 9 * channels, 16, 4);
  },
};

const VARIANTS = [
  { name: 'fixed ρ = 1, α = 1 (the authors’ iteration)', options: { rho: 1, adaptiveRho: false, relaxation: 1 } },
  { name: 'fixed ρ = 10, α = 1', options: { rho: 10, adaptiveRho: false, relaxation: 1 } },
  { name: 'adaptive ρ, α = 1', options: { adaptiveRho: true, relaxation: 1 } },
  { name: 'adaptive ρ, α = 1.8 (default)', options: {} },
  { name: 'default, warm-started from ε gain 0.05', options: {}, warm: true },
];

const opts = new Command()
  .option('--problems <names>', `comma-separated, from: ${Object.keys(PROBLEMS).join(', ')}`, Object.keys(PROBLEMS).join(','))
  .option('--backend <backend>', 'webgpu or cpu', 'webgpu')
  .option('--epsilon-gain <g>', 'ε = g·‖Y‖ of the compared solves', parseFloat, 0.03)
  .option('--max-iterations <n>', 'cap per solve', (v) => parseInt(v, 10), 6000)
  .option('--json <file>', 'write results as JSON')
  .parse()
  .opts();

const gpu = opts.backend === 'webgpu' ? await acquireGpu() : undefined;
const device = gpu ? gpu.adapterDescription : 'CPU, float64 TypeScript reference';
console.error(`device: ${device}`);
const results = [];
for (const problemName of opts.problems.split(',')) {
  const make = PROBLEMS[problemName];
  if (!make) throw new Error(`unknown problem ${problemName}`);
  const { X, Y } = make();
  const base = { X, Y, backend: opts.backend, gpu, maxIterations: opts.maxIterations };
  const previous = await solveLayer({ ...base, epsilonGain: 0.05 });
  for (const variant of VARIANTS) {
    const result = await solveLayer({ ...base, ...variant.options, epsilonGain: opts.epsilonGain, ...(variant.warm ? { warmStart: previous.state } : {}) });
    const r = result.report;
    const entry = {
      problem: problemName,
      variant: variant.name,
      device,
      iterations: r.iterations,
      converged: r.converged,
      seconds: r.seconds,
      l1: r.l1,
      relativeDualityGap: r.relativeDualityGap,
      nonzeros: r.nonzeros,
    };
    results.push(entry);
    console.error(JSON.stringify(entry));
  }
}
gpu?.destroy();

const fmt = (v, d = 3) => Number(v).toPrecision(d);
console.log(`Device: ${device}; ε = ${opts.epsilonGain}·‖Y‖, tolerances at their defaults, at most ${opts.maxIterations} iterations.\n`);
console.log('| problem | iteration | iterations | converged | seconds | ℓ1 | relative duality gap |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(`| ${r.problem} | ${r.variant} | ${r.iterations} | ${r.converged ? 'yes' : 'no'} | ${fmt(r.seconds)} | ${fmt(r.l1, 6)} | ${fmt(r.relativeDualityGap, 2)} |`);
if (opts.json) writeAtomically(opts.json, JSON.stringify({ device, results }, null, 2) + '\n');
