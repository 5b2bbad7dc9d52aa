#!/usr/bin/env node
// The one-call GPU benchmark (bench/gpu/run.sh runs it from the bundle bench/gpu/pack.sh makes):
// the matmul kernels on the layer shapes, LeNet's FC1 at the authors' size (a 300-iteration solve
// from zero, then the per-iteration measurement), the bench's dense and conv problems under each
// GPU matmul kernel, and the PyTorch port beside each (float32, TF32, float64). Every step checks a
// deadline and the results are rewritten after each, so a run cut short still leaves its tables.
//   node bench/gpu/suite.mjs --out DIR [--budget 420] [--quick] [--no-torch]
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import * as lib from '../../dist/node/internals.js';
import { torchBaseline } from '../baselines.mjs';
import { resultsTable, writeAtomically } from '../lib.mjs';
import { measureEngine, measureGpu, median } from '../measure.mjs';
import { splitSweep, sweepShape, timeList, use, warmGpu } from './kernels.mjs';
import { DEFAULT_PROBLEMS, denseLayerData, denseProblem, makeProblem, problemShape } from '../problems.mjs';

const { values: opts } = parseArgs({
  options: {
    out: { type: 'string', default: 'gpu-results' },
    budget: { type: 'string', default: '420' }, // seconds for everything after the device is up
    quick: { type: 'boolean', default: false }, // small sizes: checks the recipe on a software device
    'pose-gpu': { type: 'boolean', default: false }, // a software device treated as a GPU: checks the GPU-only paths here (with tiny sizes)
    torch: { type: 'boolean', default: true },
    'no-torch': { type: 'boolean', default: false },
    'peak-tflops': { type: 'string', default: '67' }, // the H200's f32 datasheet peak (non-tensor)
    driver: { type: 'string', default: '' }, // nvidia-smi's line, from run.sh
    'lenet-samples': { type: 'string' }, // P of the LeNet problem (default 55 000; --quick 3 000)
    'lenet-iterations': { type: 'string' }, // iterations of its timed solve (default 300; --quick 100)
    steps: { type: 'string', default: 'matmul,lenet,inverse,problems' }, // also: splits
    problems: { type: 'string' }, // the bench problems to run (default: all of bench/problems.mjs's defaults)
  },
});
const started = performance.now();
const elapsed = () => (performance.now() - started) / 1000;
const remaining = () => Number(opts.budget) - elapsed();
const peakGflops = Number(opts['peak-tflops']) * 1000;
const torch = opts.torch && !opts['no-torch'];
// The authors' LeNet FC1 (3136 + bias → 512, P = 55 000, 300 iterations: 125.8 s in float64
// TensorFlow on a GPU); --quick keeps the code path with a problem llvmpipe finishes in seconds.
const LENET = opts.quick ? { inputs: 392, outputs: 64, samples: 3000, iterations: 100 } : { inputs: 3136, outputs: 512, samples: 55000, iterations: 300 };
if (opts['lenet-samples']) LENET.samples = Number(opts['lenet-samples']);
if (opts['lenet-iterations']) LENET.iterations = Number(opts['lenet-iterations']);
const AUTHORS_SECONDS = 125.8;
const PROBLEMS = opts.problems ? opts.problems.split(',') : opts.quick ? ['dense-300x100-P2000', 'conv-3x3x8x16-P400'] : DEFAULT_PROBLEMS;
const STEPS = new Set(opts.steps.split(','));

mkdirSync(opts.out, { recursive: true });
const report = { started: new Date().toISOString(), driver: opts.driver, dawnFlags: process.env.NET_TRIM_DAWN_FLAGS ?? '', quick: opts.quick, steps: {}, matmul: [], lenet: null, results: [] };
const save = () => {
  writeAtomically(join(opts.out, 'results.json'), JSON.stringify(report, null, 2) + '\n');
  writeAtomically(join(opts.out, 'results.md'), markdown().join('\n') + '\n');
};

/** Runs one step unless it is not asked for or fewer than `needs` seconds are left; records its time or its error. */
async function step(name, needs, body) {
  if (!STEPS.has(name.split(':')[0])) return;
  if (remaining() < needs) {
    report.steps[name] = { skipped: `${remaining().toFixed(0)} s left, needs about ${needs}` };
    console.error(`skipped ${name}: ${report.steps[name].skipped}`);
    return save();
  }
  const t = elapsed();
  console.error(`[${t.toFixed(1)} s] ${name}`);
  try {
    await body();
    report.steps[name] = { seconds: elapsed() - t };
  } catch (error) {
    report.steps[name] = { seconds: elapsed() - t, error: String(error?.stack ?? error) };
    console.error(`${name} failed: ${error?.stack ?? error}`);
  }
  save();
}

const gpu = await lib.acquireGpu();
if (opts['pose-gpu']) gpu.software = false;
const { limits } = gpu;
report.device = {
  adapter: gpu.adapterDescription,
  software: gpu.software,
  features: gpu.adapterFeatures,
  matmulCandidates: gpu.software ? [] : lib.gpuMatmulCandidates(gpu), // what tuneMatmul times here
  pipelinedDepth: lib.pipelineDepth(gpu), // 'pipelined''s k step here (null: it does not fit)
  limits: Object.fromEntries(['maxStorageBufferBindingSize', 'maxBufferSize', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupsPerDimension', 'maxStorageBuffersPerShaderStage'].map((k) => [k, limits[k]])),
};
console.error(`device: ${gpu.adapterDescription}\nfeatures: ${gpu.adapterFeatures.join(' ')}`);
save();
use({ lib, gpu, peakGflops, record: (entry) => (report.matmul.push(entry), console.error(JSON.stringify(entry))) });

const { inputs: LN, outputs: LM, samples: LP } = LENET;
const N1 = LN + 1;
/** Rows of `width` floats that one storage binding holds (the sweep's X is one buffer). */
const bindingRows = (width) => Math.floor(Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize) / (4 * width));
await step('matmul: matmul kernels', 30, async () => {
  await lib.tuneMatmul(gpu); // so that 'auto' is the plan a solve gets
  const samples = Math.min(LP, bindingRows(N1));
  const shapes = [
    { label: `T = X·W3 (LeNet FC1)`, m: samples, n: LM, k: N1 },
    { label: `Xᵀ·B (LeNet FC1)`, m: N1, n: LM, k: samples, ta: true },
    { label: `A⁻¹·rhs (LeNet FC1)`, m: N1, n: LM, k: N1 },
    { label: 'square', m: opts.quick ? 512 : 4096, n: opts.quick ? 512 : 4096, k: opts.quick ? 512 : 4096 },
  ];
  for (const shape of shapes) {
    if (remaining() < 20) break;
    try {
      await sweepShape(shape);
    } catch (error) {
      report.matmul.push({ shape: shape.label, error: String(error) });
      console.error(`${shape.label}: ${error}`);
    }
  }
});

await step('splits: k splits', 20, async () => {
  for (const shape of [
    { label: 'Xᵀ·B (MNIST layer, P = 10 000)', m: 785, n: 300, k: 10000, ta: true },
    { label: 'Xᵀ·B (MNIST layer, n = 304)', m: 785, n: 304, k: 10000, ta: true },
    { label: 'Xᵀ·B (LeNet FC1)', m: N1, n: LM, k: Math.min(LP, bindingRows(N1)), ta: true },
    { label: 'A⁻¹·rhs (LeNet FC1)', m: N1, n: LM, k: N1 },
  ])
    if (remaining() > 15) await splitSweep(shape);
});

/** The kernels the matmul sweep found wrong on this device (over 1e-4 of the terms' sum from float64). */
const wrongKernels = () => new Set(report.matmul.filter((e) => e.relativeError !== undefined && !(e.relativeError < 1e-4)).map((e) => e.variant));

/** The tuned kernel, unless the sweep found it wrong on this device (then a kernel it found right). */
async function trustedVariant() {
  const tuned = await lib.tuneMatmul(gpu);
  const wrong = wrongKernels();
  if (!wrong.has(tuned)) return tuned;
  const fallback = ['tiled', 'registers', 'wide', 'pipelined'].find((v) => !wrong.has(v)) ?? tuned;
  console.error(`matmul kernel '${tuned}' failed its check on this device; using '${fallback}'`);
  return (gpu.matmulVariant = fallback);
}

// LeNet's FC1: X drawn on the host, Y = relu(XW + 0.01) by the GPU (the host product is 44 G
// multiply-adds), then a solve from zero of 300 iterations in blocks of 50 (one host round trip
// each, as the driver's default check interval), timed from the first submit to the last answer.
await step('lenet: LeNet FC1', 90, async () => {
  await trustedVariant();
  const t0 = elapsed();
  const data = denseLayerData(LENET);
  const pre = new Float32Array(LP * LM);
  const rows = Math.min(LP, bindingRows(LN));
  for (let first = 0; first < LP; first += rows) {
    const count = Math.min(rows, LP - first);
    const ws = new lib.Workspace(gpu);
    try {
      const out = ws.storage(count * LM, 'XW');
      const x = ws.upload(data.X.subarray(first * LN, (first + count) * LN), 'X');
      const d = lib.matmul(ws, { label: 'XW', a: x, b: ws.upload(data.W, 'W'), out, m: count, n: LM, k: LN });
      const encoder = gpu.device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      lib.encodeDispatches(pass, [d]);
      pass.end();
      gpu.device.queue.submit([encoder.finish()]);
      pre.set(await ws.read(out, count * LM), first * LM);
    } finally {
      ws.release();
    }
  }
  const problem = denseProblem(lib, data, pre);
  const dataSeconds = elapsed() - t0;
  let t = performance.now();
  const engine = await lib.GpuAdmmEngine.create(gpu, problem);
  const setupSeconds = (performance.now() - t) / 1000;
  try {
    await warmGpu();
    t = performance.now();
    let sums;
    for (let done = 0; done < LENET.iterations; done += 50) sums = await engine.iterate(Math.min(50, LENET.iterations - done));
    const solveSeconds = (performance.now() - t) / 1000;
    const W2 = await engine.weights();
    const nonzeros = W2.reduce((c, w) => c + (w !== 0 ? 1 : 0), 0);
    report.lenet = { N: N1, M: LM, P: LP, iterations: LENET.iterations, matmulVariant: gpu.matmulVariant, dataSeconds, setupSeconds, solveSeconds, secondsPerIteration: solveSeconds / LENET.iterations, authorsSeconds: AUTHORS_SECONDS, speedupOverAuthors: opts.quick || LP !== 55000 || LENET.iterations !== 300 ? null : AUTHORS_SECONDS / solveSeconds, nonzeroShare: nonzeros / W2.length, lastResiduals: sums };
    console.error(JSON.stringify(report.lenet));
    save();
    const entry = await measureEngine(engine, gpu, 'lenet-fc1', problem, { repeats: 3, iterations: 10, checkEvery: 50, setupSeconds });
    entry.backend = `webgpu ${gpu.matmulVariant}`;
    report.results.push(entry);
    console.error(JSON.stringify(entry));
    await otherKernels(engine, problem, setupSeconds);
  } finally {
    engine.release();
  }
  if (torch) addTorch('lenet-fc1', N1, LM, LP, { repeats: 3, iterations: 10 });
});

/**
 * The same LeNet iteration with each other GPU kernel (the engine's arrays and setup kept, its
 * dispatches bound again with that kernel), where the kernel's partial sums fit the engine's.
 */
async function otherKernels(engine, problem, setupSeconds) {
  const tuned = gpu.matmulVariant;
  const wrong = wrongKernels();
  try {
    for (const variant of gpu.software ? [] : lib.gpuMatmulCandidates(gpu).filter((v) => v !== tuned && !wrong.has(v))) {
      if (remaining() < 20) break;
      gpu.matmulVariant = variant;
      if (engine.buffers.X.productSlots(engine.shape.outputs) > engine.buffers.partials.stride) continue;
      const program = lib.admmIteration(engine.ws, engine.shape, engine.buffers, { classes: 'relu', epsilon: problem.epsilonScaled, relaxation: problem.relaxation });
      const entry = await measureEngine(Object.create(engine, { program: { value: program } }), gpu, 'lenet-fc1', problem, { repeats: 3, iterations: 10, checkEvery: 50, setupSeconds });
      entry.backend = `webgpu ${variant}`;
      report.results.push(entry);
      console.error(JSON.stringify(entry));
      save();
    }
  } finally {
    gpu.matmulVariant = tuned;
  }
}

function addTorch(name, N, M, P, options) {
  const gpuEntry = report.results.find((r) => r.problem === name && r.backend === `webgpu ${gpu.matmulVariant}`);
  for (const entry of torchBaseline(name, N, M, P, options)) {
    if (gpuEntry) entry.speedupOfWebgpu = entry.secondsPerIteration / gpuEntry.secondsPerIteration;
    report.results.push(entry);
    console.error(JSON.stringify(entry));
  }
  save();
}

// Each dispatch of an iteration alone (20 in a submit, medians of 3), under each GPU kernel plan.
await step('dispatches: one iteration dispatch by dispatch', 20, async () => {
  report.dispatches = [];
  for (const name of PROBLEMS) {
    const problem = makeProblem(lib, problemShape(name));
    await warmGpu();
    for (const variant of gpu.software ? [await lib.tuneMatmul(gpu)] : lib.gpuMatmulCandidates(gpu)) {
      gpu.matmulVariant = variant;
      const engine = await lib.GpuAdmmEngine.create(gpu, problem);
      try {
        for (const d of engine.program.dispatches) {
          const times = [];
          for (let r = 0; r < 4; r++) times.push(await timeList([d], 20));
          const entry = { problem: name, plan: variant, label: d.label, pipeline: d.pipeline.label, workgroups: d.workgroups.join('×'), milliseconds: 1000 * median(times.slice(1)) };
          report.dispatches.push(entry);
          console.error(JSON.stringify(entry));
        }
      } finally {
        engine.release();
      }
    }
  }
});

// The host's float64 inverse of LeNet's A (N = 3137), the part of the setup the GPU does not do,
// on every core (worker threads, as the solver's setup runs it).
await step('inverse: host inverse', 20, async () => {
  const n = N1;
  const gram = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) gram[i * n + j] = i === j ? n * 1e-3 : 1e-3 / (1 + Math.abs(i - j));
  const t = performance.now();
  await lib.parallelInverseOfIdentityPlus(gram, n);
  report.hostInverse = { N: n, seconds: (performance.now() - t) / 1000, threads: Math.min(16, (await import('node:os')).availableParallelism()) };
  console.error(JSON.stringify(report.hostInverse));
});

// The bench's problems, once per GPU matmul kernel (the tuned one first), then PyTorch's ports.
await step('problems: bench problems', 30, async () => {
  const tuned = await trustedVariant();
  const wrong = wrongKernels();
  const variants = gpu.software ? [tuned] : [tuned, ...lib.gpuMatmulCandidates(gpu).filter((v) => v !== tuned && !wrong.has(v))];
  for (const name of PROBLEMS) {
    if (remaining() < 15) break;
    const problem = makeProblem(lib, problemShape(name));
    await warmGpu();
    for (const variant of variants) {
      gpu.matmulVariant = variant;
      const entry = await measureGpu(lib, gpu, name, problem, { repeats: 5, iterations: 10, checkEvery: 50 });
      entry.backend = `webgpu ${variant}`;
      report.results.push(entry);
      console.error(JSON.stringify(entry));
      save();
    }
    gpu.matmulVariant = tuned;
    if (torch && remaining() > 20) addTorch(name, problem.columns, problem.outputs, problem.samples, { repeats: 5, iterations: 20 });
  }
});

gpu.destroy();
report.seconds = elapsed();
save();
console.log(markdown().join('\n'));

function markdown() {
  const fmt = (v, d = 3) => (v === undefined || v === null ? '' : Number(v).toPrecision(d));
  const lines = [
    `Device: ${report.device?.adapter ?? '?'}${report.driver ? `; nvidia-smi: ${report.driver}` : ''}. Run of ${report.started.slice(0, 10)}${report.quick ? ' (--quick sizes)' : ''}.`,
    '',
    `Adapter features: ${report.device?.features?.join(', ') || 'none'}.${report.dawnFlags ? ` Dawn flags (NET_TRIM_DAWN_FLAGS): ${report.dawnFlags}.` : ''}`,
    '',
    `GPU matmul kernels tuneMatmul timed: ${report.device?.matmulCandidates?.join(', ') || 'none (a software adapter)'}; chosen: ${gpu.matmulVariant ?? 'not tuned yet'}; 'pipelined' k step: ${report.device?.pipelinedDepth ?? 'does not fit'}.`,
    '',
  ];
  if (report.lenet) {
    const l = report.lenet;
    lines.push(
      `LeNet FC1 (${l.N}×${l.M}×${l.P}, matmul kernel '${l.matmulVariant}'): ${l.iterations} iterations from zero in ${fmt(l.solveSeconds)} s (${fmt(l.secondsPerIteration * 1000)} ms each${l.speedupOverAuthors ? `, ${fmt(l.speedupOverAuthors)}× the authors' ${l.authorsSeconds} s` : ''}), after ${fmt(l.setupSeconds)} s of setup (Gram matrix on the GPU, A⁻¹ in float64 on the host); ${fmt(100 * l.nonzeroShare)}% of weights nonzero at iteration ${l.iterations}.`,
      '',
    );
  }
  if (report.hostInverse) lines.push(`Host float64 inverse of A at N = ${report.hostInverse.N} on ${report.hostInverse.threads} threads: ${fmt(report.hostInverse.seconds)} s.`, '');
  if (report.matmul.length) {
    lines.push('| product | m×n×k | kernel | GFLOP/s | share of f32 peak | error / Σ|terms| |', '|---|---|---|---|---|---|');
    for (const e of report.matmul) lines.push(`| ${e.shape} | ${e.m}×${e.n}×${e.k} | ${e.variant} | ${fmt(e.gflops)} | ${fmt(100 * e.peakShare, 2)}% | ${e.relativeError === undefined ? '' : fmt(e.relativeError, 2)} |`);
    lines.push('', `Peak: ${opts['peak-tflops']} TFLOP/s (datasheet f32, no tensor cores).`, '');
  }
  if (report.dispatches?.length) {
    lines.push('| problem | plan | dispatch | pipeline | workgroups | ms |', '|---|---|---|---|---|---|');
    for (const d of report.dispatches) lines.push(`| ${d.problem} | ${d.plan} | ${d.label} | ${d.pipeline} | ${d.workgroups} | ${fmt(d.milliseconds)} |`);
    lines.push('');
  }
  if (report.results.length) lines.push(...resultsTable(report.results, 'Iteration timings (medians; PyTorch rows are the port in bench/torch_admm.py on the same GPU):'), '');
  const failed = Object.entries(report.steps).filter(([, s]) => s.error || s.skipped);
  for (const [name, s] of failed) lines.push(`- ${name}: ${s.skipped ? `skipped (${s.skipped})` : `failed: ${s.error.split('\n')[0]}`}`);
  return lines;
}
