#!/usr/bin/env node
// Iterations (machine-independent) and seconds to reach the same tolerance, for the ways of
// running the ADMM iteration side by side in one run: the authors' fixed ρ, residual-balancing
// ρ, over-relaxation, and a warm start from the previous ε of a sweep. Usage:
//   npm run build && node bench/iterations.mjs [--problems a,b] [--backend webgpu|cpu] [--max-iterations n] [--json out.json]
import { Command } from 'commander';
import { writeAtomically } from './lib.mjs';
import { seededNormal } from './problems.mjs';
import { acquireGpu, forwardCpu, loadModelFile, readNpyFile, solveLayer } from '../dist/node/index.js';
import { designOf, programInput } from '../dist/node/internals.js';

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

/** The programs of a bundled model's layers (the parallel scheme's X and Y) on its first `count` samples. */
async function modelLayers(model, count) {
  const { network } = await loadModelFile(new URL(`../test/fixtures/${model}/model.json`, import.meta.url).pathname);
  const samples = await readNpyFile(new URL('../test/fixtures/mnist-samples.npy', import.meta.url).pathname);
  const input = Float32Array.from(samples.data.subarray(0, count * 784));
  const layers = {};
  for (const [index, c] of forwardCpu(network, input, count, { collect: true }).collected) {
    const layer = network.layers[index];
    const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
    layers[c.name] = {
      X: programInput(layer, c.input, c.inputShape, count),
      Y: { rows: c.target.length / outputs, cols: outputs, data: c.target },
      activation: c.program,
      bias: layer.bias !== null,
    };
  }
  return layers;
}
const layerOf = (model, count, name) => async () => (await modelLayers(model, count))[name];
for (const name of ['conv_1', 'conv_2', 'dense_out']) PROBLEMS[`mnist-cnn ${name} (100 images)`] = layerOf('mnist-cnn', 100, name);
for (const name of ['dense_1', 'dense_2', 'dense_3']) PROBLEMS[`mnist-mlp ${name} (1000 images)`] = layerOf('mnist-mlp', 1000, name);

const VARIANTS = [
  { name: 'fixed ρ = 1, α = 1 (the authors’ iteration)', options: { rho: 1, adaptiveRho: false, relaxation: 1 } },
  { name: 'fixed ρ = 10, α = 1', options: { rho: 10, adaptiveRho: false, relaxation: 1 } },
  { name: 'adaptive ρ, α = 1', options: { adaptiveRho: true, relaxation: 1 } },
  { name: 'adaptive ρ, α = 1.8 (default)', options: {} },
  { name: 'default, warm-started from ε gain 0.05', options: {}, warm: true },
  { name: 'default, identical samples not merged', options: { mergeIdenticalSamples: false } },
  { name: 'default, relative residual tolerance 10⁻⁴ (the default before 2026-12-05)', options: { tolerances: { relative: 1e-4 } } },
];

const opts = new Command()
  .option('--problems <names>', `comma-separated, from: ${Object.keys(PROBLEMS).join(', ')}`, Object.keys(PROBLEMS).join(','))
  .option('--backend <backend>', 'webgpu or cpu', 'webgpu')
  .option('--epsilon-gain <g>', 'ε = g·‖Y‖ of the compared solves', parseFloat, 0.03)
  .option('--max-iterations <n>', 'cap per solve', (v) => parseInt(v, 10), 6000)
  .option('--variants <list>', `'all', or comma-separated indices into: ${VARIANTS.map((v, i) => `${i} ${v.name}`).join('; ')}`, 'all')
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
  const { X, Y, activation, bias } = await make();
  const base = { X, Y, activation, bias, backend: opts.backend, gpu, maxIterations: opts.maxIterations };
  const variants = opts.variants === 'all' ? VARIANTS : opts.variants.split(',').map((i) => VARIANTS[Number(i)]);
  const previous = variants.some((v) => v.warm) ? await solveLayer({ ...base, epsilonGain: 0.05 }) : null;
  for (const variant of variants) {
    const result = await solveLayer({ ...base, ...variant.options, epsilonGain: opts.epsilonGain, ...(variant.warm ? { warmStart: previous.state } : {}) });
    const r = result.report;
    const entry = {
      problem: problemName,
      variant: variant.name,
      kind: 'images' in X ? 'conv' : 'dense',
      shape: `N ${r.rows}${base.bias !== false ? ' + 1' : ''}, M ${r.columns}, P ${r.samples}${r.distinctSamples < r.samples ? ` (${r.distinctSamples} distinct)` : ''}`,
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
  console.log(`| ${r.problem} (${r.shape}) | ${r.variant} | ${r.iterations} | ${r.converged ? 'yes' : 'no'} | ${fmt(r.seconds)} | ${fmt(r.l1, 6)} | ${fmt(r.relativeDualityGap, 2)} |`);
// Issue 17's measure: the default iteration's conv programs against its dense ones.
const byKind = (kind) => results.filter((r) => r.kind === kind && r.variant === VARIANTS[3].name).map((r) => r.iterations).sort((a, b) => a - b);
const [conv, dense] = [byKind('conv'), byKind('dense')];
if (conv.length && dense.length) {
  const median = (v) => (v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2);
  console.log(`\nDefault iteration: conv programs ${conv.join(', ')} iterations, dense ${dense.join(', ')}; the slowest conv ÷ the median dense: ${fmt(conv.at(-1) / median(dense), 2)}.`);
}
if (opts.json) writeAtomically(opts.json, JSON.stringify({ device, results }, null, 2) + '\n');
