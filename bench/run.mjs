#!/usr/bin/env node
// Layer-solver benchmark: the same ADMM problems on our WebGPU path and the float64 CPU reference,
// side by side in one process. Usage:
//   npm run bench -- [--problems a,b] [--repeats 5] [--iterations 3] [--json out.json] [--readme]
// Times are medians over repeats; ratios compare numbers measured in this same run.
import { Command } from 'commander';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { median, seededNormal, writeAtomically } from './lib.mjs';
import { acquireGpu, prepareLayerProblem, CpuAdmmEngine, GpuAdmmEngine, designOf, materializePatches } from '../dist/node/internals.js';

const PROBLEMS = {
  // The MNIST-sized first layer (784 inputs + bias → 300), at two sample counts.
  'dense-784x300-P2000': { inputs: 784, outputs: 300, samples: 2000 },
  'dense-784x300-P10000': { inputs: 784, outputs: 300, samples: 10000 },
  // The second MNIST layer, and a layer with fewer samples than inputs (Woodbury solve).
  'dense-300x100-P10000': { inputs: 300, outputs: 100, samples: 10000 },
  'dense-784x300-P500': { inputs: 784, outputs: 300, samples: 500 },
  // A conv layer (3×3, 8 → 16 channels, 'same', on 14×14 maps of 400 images: the CNN fixture's
  // conv_2), solved on its patches without materializing them, and on the materialized patch
  // matrix (im2col) for comparison.
  'conv-3x3x8x16-P400': { conv: { count: 400, height: 14, width: 14, channels: 8, kernel: 3, filters: 16 } },
  'conv-3x3x8x16-P400-im2col': { conv: { count: 400, height: 14, width: 14, channels: 8, kernel: 3, filters: 16 }, materialize: true },
  // LeNet's first dense layer as the authors time it (3136 + bias → 512, P = 55 000 samples):
  // X alone is 690 MB, more than one storage binding on most devices, so it runs in chunks of
  // samples. Not in the default list (one iteration is 353 GFLOP); --lenet-samples sets P, and
  // --readme lenet writes its own table.
  'lenet-fc1': { inputs: 3136, outputs: 512, samples: 'lenet' },
};
const DEFAULT_PROBLEMS = Object.keys(PROBLEMS).filter((name) => name !== 'lenet-fc1');

const program = new Command()
  .option('--problems <names>', `comma-separated, from: ${Object.keys(PROBLEMS).join(', ')}`, DEFAULT_PROBLEMS.join(','))
  .option('--lenet-samples <P>', 'samples of the lenet-fc1 problem', (v) => parseInt(v, 10), 55000)
  .option('--repeats <n>', 'timed repeats per measurement (median reported)', (v) => parseInt(v, 10), 5)
  .option('--iterations <n>', 'GPU iterations per timed submit', (v) => parseInt(v, 10), 3)
  .option('--cpu-repeats <n>', 'timed CPU iterations (the float64 reference is slow)', (v) => parseInt(v, 10), 2)
  .option('--check-every <k>', 'iterations between host round trips in a real solve', (v) => parseInt(v, 10), 50)
  .option('--no-cpu', 'skip the CPU reference')
  .option('--no-numpy', 'skip the numpy baseline (bench/numpy_admm.py; needs python3 with numpy)')
  .option('--torch', 'also run the PyTorch CUDA port (bench/torch_admm.py, float32 and float64; needs torch with CUDA)')
  .option('--json <file>', 'write results as JSON')
  .option('--readme [table]', 'replace a table in bench/README.md: results (default) or lenet')
  .parse();
const opts = program.opts();

/** A conv ReLU layer ('same' padding, stride 1) on nonnegative images. */
function makeConvProblem({ count, height, width, channels, kernel, filters }, materialize) {
  const normal = seededNormal(count * 31 + channels * 7 + filters);
  const patches = {
    images: Float32Array.from({ length: count * height * width * channels }, () => Math.max(normal(), 0)),
    count, height, width, channels,
    kernelHeight: kernel, kernelWidth: kernel, strideHeight: 1, strideWidth: 1,
    padTop: (kernel - 1) >> 1, padLeft: (kernel - 1) >> 1, outHeight: height, outWidth: width,
  };
  const N = kernel * kernel * channels;
  const W = Float64Array.from({ length: (N + 1) * filters }, () => normal() / Math.sqrt(N));
  const Y = designOf(patches, true).multiply(W, filters).map((v) => Math.max(v, 0));
  const X = materialize ? materializePatches(patches) : patches;
  return prepareLayerProblem({ X, Y: { rows: Y.length / filters, cols: filters, data: Y }, epsilonGain: 0.05 });
}

/** A dense ReLU layer on nonnegative (post-ReLU-like) inputs, as in a trained MLP. */
function makeProblem({ inputs: N, outputs: M, samples: P, conv, materialize }) {
  if (conv) return makeConvProblem(conv, materialize);
  const normal = seededNormal(N * 7 + M * 13 + P);
  const X = Float32Array.from({ length: P * N }, () => Math.max(normal(), 0));
  const W = Float64Array.from({ length: N * M }, () => normal() / Math.sqrt(N));
  const Y = new Float32Array(P * M);
  for (let p = 0; p < P; p++)
    for (let n = 0; n < N; n++) {
      const x = X[p * N + n];
      if (x === 0) continue;
      for (let m = 0; m < M; m++) Y[p * M + m] += x * W[n * M + m];
    }
  for (let i = 0; i < Y.length; i++) Y[i] = Math.max(Y[i] + 0.01, 0);
  return prepareLayerProblem({ X: { rows: P, cols: N, data: X }, Y: { rows: P, cols: M, data: Y }, epsilonGain: 0.05 });
}

const results = [];
const gpu = await acquireGpu();
const device = gpu.adapterDescription;
console.error(`device: ${device}`);
for (const name of opts.problems.split(',')) {
  const shape = PROBLEMS[name];
  if (!shape) throw new Error(`unknown problem ${name}`);
  const problem = makeProblem(shape.samples === 'lenet' ? { ...shape, samples: opts.lenetSamples } : shape);
  const { samples: P, columns: N, outputs: M } = problem;

  let started = performance.now();
  const engine = await GpuAdmmEngine.create(gpu, problem);
  const gpuSetup = (performance.now() - started) / 1000;
  await engine.time(1, 'iteration'); // warm-up: first use of each pipeline
  await engine.time(1, 'productsWithX');
  await engine.time(1, 'allProducts');
  const iteration = [];
  const products = [];
  const allProducts = [];
  for (let r = 0; r < opts.repeats; r++) {
    iteration.push((await engine.time(opts.iterations, 'iteration')) / opts.iterations);
    products.push((await engine.time(opts.iterations, 'productsWithX')) / opts.iterations);
    allProducts.push((await engine.time(opts.iterations, 'allProducts')) / opts.iterations);
  }
  const cost = engine.iterationCost;
  const memory = engine.memory;
  engine.release();
  const secondsPerIteration = median(iteration);
  const productsSeconds = median(products);
  // The ratio of each repeat's pair (timed back to back), then their median: the machine's speed
  // drifts between repeats on shared hosts, less within one pair.
  const pairRatio = median(iteration.map((seconds, r) => seconds / products[r]));
  const allProductsRatio = median(iteration.map((seconds, r) => seconds / allProducts[r]));
  const entry = {
    problem: name,
    backend: 'webgpu',
    device,
    N,
    M,
    P,
    solve: engine.woodbury ? 'woodbury' : 'inverse',
    sampleChunks: engine.sampleChunks,
    secondsPerIteration,
    productsWithXSecondsPerIteration: productsSeconds,
    iterationToMatmulRatio: pairRatio,
    allProductsSecondsPerIteration: median(allProducts),
    iterationToAllProductsRatio: allProductsRatio,
    allProductsToProductsWithXFlops: cost.allProductsFlops / cost.productsWithXFlops,
    matmulGflops: cost.productsWithXFlops / productsSeconds / 1e9,
    iterationGflops: cost.flops / secondsPerIteration / 1e9,
    dispatchesPerIteration: cost.dispatches,
    hostRoundTripsPerIteration: 1 / opts.checkEvery,
    bytesPerIteration: cost.bytes,
    setupSeconds: gpuSetup,
    gpuMegabytes: memory.allocatedBytes / 1e6,
    gpuMemoryToAlgorithmArraysRatio: memory.allocatedBytes / memory.algorithmBytes,
    repeats: opts.repeats,
  };
  results.push(entry);
  console.error(JSON.stringify(entry));

  if (opts.cpu) {
    started = performance.now();
    const cpu = new CpuAdmmEngine(problem);
    const cpuSetup = (performance.now() - started) / 1000;
    const times = [];
    for (let r = 0; r < opts.cpuRepeats; r++) {
      started = performance.now();
      await cpu.iterate(1);
      times.push((performance.now() - started) / 1000);
    }
    const cpuEntry = {
      problem: name,
      backend: 'cpu',
      device: 'CPU, float64 TypeScript reference (one thread)',
      N,
      M,
      P,
      secondsPerIteration: median(times),
      iterationGflops: cost.flops / median(times) / 1e9,
      speedupOfWebgpu: median(times) / secondsPerIteration,
      hostRoundTripsPerIteration: 0,
      setupSeconds: cpuSetup,
      repeats: opts.cpuRepeats,
    };
    results.push(cpuEntry);
    console.error(JSON.stringify(cpuEntry));
  }

  if (opts.torch) for (const entry of torchBaseline(name, N, M, P)) {
    entry.speedupOfWebgpu = entry.secondsPerIteration / secondsPerIteration;
    results.push(entry);
    console.error(JSON.stringify(entry));
  }

  if (opts.numpy) for (const entry of numpyBaseline(name, N, M, P)) {
    entry.speedupOfWebgpu = entry.secondsPerIteration / secondsPerIteration;
    results.push(entry);
    console.error(JSON.stringify(entry));
  }
}
gpu.destroy();

/**
 * The same iteration in numpy (float64, as the authors compute), run twice when OPENBLAS_CORETYPE
 * is set: as the machine is configured and with it unset (it slows current OpenBLAS).
 */
function numpyBaseline(problem, N, M, P) {
  const script = fileURLToPath(new URL('./numpy_admm.py', import.meta.url));
  const variants = [{ label: 'numpy float64', env: process.env }];
  if (process.env.OPENBLAS_CORETYPE) {
    const env = { ...process.env };
    delete env.OPENBLAS_CORETYPE;
    delete env.OPENBLAS_L2_SIZE;
    variants.push({ label: 'numpy float64 (OPENBLAS_CORETYPE unset)', env });
  }
  const entries = [];
  for (const { label, env } of variants) {
    const run = spawnSync('python3', [script, String(N), String(M), String(P), '--repeats', String(opts.repeats), '--iterations', String(opts.iterations)], { env, encoding: 'utf8' });
    if (run.status !== 0) {
      console.error(`numpy baseline skipped (${(run.stderr || run.error?.message || '').trim().split('\n').pop()})`);
      return entries;
    }
    const measured = JSON.parse(run.stdout);
    entries.push({ problem, backend: label, device: `CPU, numpy ${measured.numpy}`, N, M, P, ...measured, hostRoundTripsPerIteration: 0, repeats: opts.repeats });
  }
  return entries;
}

/** The same iteration in PyTorch on the CUDA device, float32 (as ours) and float64 (as the authors'). */
function torchBaseline(problem, N, M, P) {
  const script = fileURLToPath(new URL('./torch_admm.py', import.meta.url));
  const entries = [];
  for (const dtype of ['float32', 'float64']) {
    const run = spawnSync('python3', [script, String(N), String(M), String(P), '--repeats', String(opts.repeats), '--dtype', dtype], { encoding: 'utf8' });
    if (run.status !== 0) {
      console.error(`PyTorch baseline skipped (${(run.stderr || run.error?.message || '').trim().split('\n').pop()})`);
      return entries;
    }
    const measured = JSON.parse(run.stdout);
    entries.push({ problem, backend: `PyTorch ${dtype}`, ...measured, device: `${measured.device}, torch ${measured.torch}`, N, M, P, hostRoundTripsPerIteration: 0, repeats: opts.repeats });
  }
  return entries;
}

const fmt = (v, d = 3) => (v === undefined ? '' : Number(v).toPrecision(d));
const lines = [
  `Device: ${device}. Medians of ${opts.repeats} repeats (GPU, ${opts.iterations} iterations per submit)${opts.cpu ? ` and ${opts.cpuRepeats} CPU iterations` : ''}, measured in one run on ${new Date().toISOString().slice(0, 10)}.`,
  '',
  '| problem | N×M×P | backend | s / iteration | iteration ÷ its 2 products with X | iteration ÷ its 3 products (with the solve) | GFLOP/s (products) | GFLOP/s (iteration) | WebGPU speed-up over this row | dispatches / it. | host round trips / it. | MB moved / it. | GPU MB held (÷ algorithm arrays) | setup s |',
  '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
  ...results.map((r) =>
    `| ${r.problem} | ${r.N}×${r.M}×${r.P} | ${r.backend}${r.solve ? ` (${r.solve}${r.sampleChunks > 1 ? `, ${r.sampleChunks} sample chunks` : ''})` : ''} | ${fmt(r.secondsPerIteration)} | ${fmt(r.iterationToMatmulRatio)} | ${fmt(r.iterationToAllProductsRatio)} | ${fmt(r.matmulGflops)} | ${fmt(r.iterationGflops)} | ${fmt(r.speedupOfWebgpu)} | ${r.dispatchesPerIteration ?? ''} | ${fmt(r.hostRoundTripsPerIteration, 2)} | ${r.bytesPerIteration ? fmt(r.bytesPerIteration / 1e6) : ''} | ${r.gpuMegabytes ? `${fmt(r.gpuMegabytes)} (${fmt(r.gpuMemoryToAlgorithmArraysRatio)})` : ''} | ${fmt(r.setupSeconds)} |`,
  ),
];
console.log(lines.join('\n'));

if (opts.json) writeAtomically(opts.json, JSON.stringify({ device, results }, null, 2) + '\n');
if (opts.readme) {
  const readme = fileURLToPath(new URL('./README.md', import.meta.url));
  const text = readFileSync(readme, 'utf8');
  const table = opts.readme === true ? 'results' : opts.readme;
  const begin = `<!-- ${table}:begin -->`;
  const end = `<!-- ${table}:end -->`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`bench/README.md lacks the ${begin} … ${end} markers`);
  writeAtomically(readme, text.slice(0, a + begin.length) + '\n' + lines.join('\n') + '\n' + text.slice(b));
}
