#!/usr/bin/env node
// Nested spirals (the authors' Table S.1, Fig. S.2 and decision-boundary figure), with magnitude
// pruning at the same per-layer counts beside every Net-Trim result.
//
//   node experiments/prune-spirals.mjs [--table 50,75,125,175,200] [--sweep 50,75,100] [--samples 500] [--gpuFrom 125]
//
// Reads experiments/models/spirals-H/ (experiments/train-spirals.mjs), prunes on the first 500 training points,
// writes experiments/results/spirals.json, docs/figures/spirals-sweep-H.svg and
// docs/figures/spirals-boundary-200.png.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  FIGURES,
  MODELS,
  RESULTS,
  SPIRAL_TEST,
  SPIRAL_TRAIN,
  accuracyOf,
  args,
  evaluateAgainst,
  head,
  lineChart,
  logits,
  magnitudePrune,
  nonzerosByLayer,
  nt,
  pngBytes,
  readJson,
  seconds,
  spirals,
  writeAtomically,
  writeJson,
} from './lib.mjs';

const opts = args({
  // Float64 CPU solver for the small networks (cheaper there than the software GPU's per-dispatch
  // overhead), WebGPU from this width up.
  gpuFrom: 125,
  samples: 500,
  table: '50,75,125,175,200',
  sweep: '50,75,100',
  // Cascade gains tried (largest first) until the overall rd on the samples is below the target.
  tableGains: '0.01,0.005,0.0025',
  target: 0.02,
  sweepGains: '0.005,0.01,0.02,0.05,0.1',
  maxIterations: 1500,
  relativeTolerance: 1e-3,
  boundary: 200,
  gamma: Math.sqrt(1.1),
  // Start from experiments/results/spirals.json and keep what it has for networks not rerun here.
  merge: false,
  // The §6 anchor: 2·200·200·2, cascade, ε = 0.01‖Y‖, γ = 1.1, κ = 0.35 (the paper's setting). 'none' skips it.
  anchor: '200',
});

const trainAll = spirals(SPIRAL_TRAIN.count, SPIRAL_TRAIN.seed);
const train = head(trainAll, opts.samples, 2); // the pruning samples: the first P training points
const test = spirals(SPIRAL_TEST.count, SPIRAL_TEST.seed);
let gpu;
const backendFor = (h) => (h >= opts.gpuFrom ? 'webgpu' : 'cpu');
const started = performance.now();

async function load(h) {
  const dir = join(MODELS, `spirals-${h}`);
  const model = await nt.loadModelFile(join(dir, 'model.json'));
  return { network: model.network, training: readJson(join(dir, 'training.json')) };
}

/** One Net-Trim run and its magnitude-pruning twin, measured on the samples and the test points. */
async function prune(network, mode, gain, warmStart, { gamma = opts.gamma, kappa = 1 } = {}) {
  const backend = backendFor(network.layers[0].units);
  if (backend === 'webgpu') gpu ??= await nt.acquireGpu();
  const result = await nt.pruneNetwork(network, { data: train.x, count: train.count, labels: train.labels }, {
    mode,
    epsilonGain: gain,
    gamma,
    kappa,
    backend,
    gpu: backend === 'webgpu' ? gpu : undefined,
    warmStart,
    solver: { maxIterations: opts.maxIterations, tolerances: { relative: opts.relativeTolerance } },
  });
  const counts = nonzerosByLayer(result.network);
  const magnitude = magnitudePrune(network, counts);
  const summary = {
    mode,
    gain,
    gamma,
    kappa,
    backend,
    nonzerosBefore: nonzerosByLayer(network),
    nonzerosAfter: counts,
    total: { before: result.nonzerosBefore, after: result.nonzerosAfter },
    layers: result.layers.map((l) => ({ name: l.name, epsilon: l.epsilon, iterations: l.iterations, converged: l.converged, seconds: l.seconds, relativeDualityGap: l.relativeDualityGap, ...(l.note ? { note: l.note } : {}) })),
    seconds: result.seconds,
    netTrim: { rdSamples: result.relativeDiscrepancy, rdTrain: evaluateAgainst(result.network, network, trainAll).rd, ...prefixed('test', evaluateAgainst(result.network, network, test)), trainAccuracy: evaluateAgainst(result.network, network, trainAll).accuracy },
    magnitude: { rdSamples: evaluateAgainst(magnitude, network, train).rd, rdTrain: evaluateAgainst(magnitude, network, trainAll).rd, ...prefixed('test', evaluateAgainst(magnitude, network, test)), trainAccuracy: evaluateAgainst(magnitude, network, trainAll).accuracy },
  };
  console.log(
    `  ${mode} gain ${gain}: nonzeros ${Object.values(summary.nonzerosAfter).join('/')} (${summary.total.after}/${summary.total.before}), rd ${summary.netTrim.rdSamples.toFixed(4)} (magnitude ${summary.magnitude.rdSamples.toFixed(4)}), test acc ${(100 * summary.netTrim.testAccuracy).toFixed(2)}% (magnitude ${(100 * summary.magnitude.testAccuracy).toFixed(2)}%), iterations ${summary.layers.map((l) => l.iterations + (l.converged ? '' : '*')).join('/')}, ${result.seconds.toFixed(1)} s`,
  );
  return { summary, result, magnitude };
}

function prefixed(prefix, o) {
  return Object.fromEntries(Object.entries(o).map(([k, v]) => [prefix + k[0].toUpperCase() + k.slice(1), v]));
}

const previous = opts.merge && existsSync(join(RESULTS, 'spirals.json')) ? readJson(join(RESULTS, 'spirals.json')) : null;
const out = { samples: train.count, trainPoints: trainAll.count, testPoints: test.count, gpuFrom: opts.gpuFrom, gamma: opts.gamma, kappa: 1, maxIterations: opts.maxIterations, relativeTolerance: opts.relativeTolerance, target: opts.target, networks: {}, table: {}, sweep: {} };
if (previous) for (const key of ['networks', 'table', 'sweep']) Object.assign(out[key], previous[key]);
if (previous?.boundary) out.boundary = previous.boundary;
if (previous?.anchor) out.anchor = previous.anchor;

function base(h, network, training) {
  out.networks[h] ??= { architecture: training.architecture, nonzeros: nonzerosByLayer(network), trainAccuracy: training.trainAccuracy, testAccuracy: training.testAccuracy, dropout: training.dropout, epochs: training.epochs };
}

// Fig. S.2: sweeps in both modes (each ε warm-started from the previous one of the same mode).
const sweepSizes = opts.sweep ? opts.sweep.split(',').map(Number) : [];
const tableSizes = opts.table ? opts.table.split(',').map(Number) : [];
const sweepGains = opts.sweepGains.split(',').map(Number);
for (const h of sweepSizes) {
  const { network, training } = await load(h);
  base(h, network, training);
  console.log(`sweep 2·${h}·${h}·2`);
  out.sweep[h] = {};
  for (const mode of ['cascade', 'parallel']) {
    out.sweep[h][mode] = [];
    let warm;
    for (const gain of sweepGains) {
      const { summary, result } = await prune(network, mode, gain, warm);
      warm = result;
      out.sweep[h][mode].push(summary);
    }
  }
  const pct = (s) => (100 * s.total.after) / s.total.before;
  const svg = lineChart({
    title: `Nested spirals 2·${h}·${h}·2: nonzeros against discrepancy`,
    xLabel: 'relative discrepancy ‖Z − Ẑ‖/‖Z‖ of the logits (training points)',
    yLabel: 'nonzeros kept (% of the trained network)',
    xLog: true,
    series: [
      { name: 'Net-Trim cascade', points: out.sweep[h].cascade.map((s) => [s.netTrim.rdSamples, pct(s)]) },
      { name: 'Net-Trim parallel', points: out.sweep[h].parallel.map((s) => [s.netTrim.rdSamples, pct(s)]) },
      { name: 'magnitude, cascade counts', points: out.sweep[h].cascade.map((s) => [s.magnitude.rdSamples, pct(s)]), dashed: true },
      { name: 'magnitude, parallel counts', points: out.sweep[h].parallel.map((s) => [s.magnitude.rdSamples, pct(s)]), dashed: true },
    ],
  });
  writeAtomically(join(FIGURES, `spirals-sweep-${h}.svg`), svg);
  writeJson(join(RESULTS, 'spirals.json'), out);
}

// Table S.1: cascade with the largest gain whose overall rd on the samples is below the target.
let boundaryRun = null;
for (const h of tableSizes) {
  const { network, training } = await load(h);
  base(h, network, training);
  console.log(`table 2·${h}·${h}·2`);
  let chosen = null;
  const fromSweep = out.sweep[h]?.cascade ?? [];
  const gains = opts.tableGains.split(',').map(Number);
  let warm;
  let secondsAllGains = 0;
  for (const gain of gains) {
    const known = fromSweep.find((s) => s.gain === gain);
    const run = known ? { summary: known } : await prune(network, 'cascade', gain, warm);
    if (run.result) warm = run.result;
    secondsAllGains += run.summary.seconds;
    chosen = run;
    if (run.summary.netTrim.rdSamples < opts.target) break;
  }
  out.table[h] = { ...chosen.summary, secondsAllGains };
  if (h === opts.boundary) boundaryRun = chosen.result ? { network, pruned: chosen.result.network, counts: chosen.summary.nonzerosAfter } : null;
  writeJson(join(RESULTS, 'spirals.json'), out);
}

// The paper's §6 setting on the widest network.
if (opts.anchor !== 'none') {
  const h = Number(opts.anchor);
  const { network, training } = await load(h);
  base(h, network, training);
  console.log(`anchor 2·${h}·${h}·2 (gain 0.01, γ = 1.1, κ = 0.35)`);
  out.anchor = { network: h, ...(await prune(network, 'cascade', 0.01, undefined, { gamma: 1.1, kappa: 0.35 })).summary };
  writeJson(join(RESULTS, 'spirals.json'), out);
}

// Decision boundary of 2·200·200·2: original | Net-Trim cascade | magnitude pruning at the same counts.
if (boundaryRun) {
  const size = 240;
  const gap = 8;
  const grid = new Float32Array(size * size * 2);
  const extent = 1.15;
  for (let i = 0; i < size; i++)
    for (let j = 0; j < size; j++) {
      grid[2 * (i * size + j)] = -extent + (2 * extent * (j + 0.5)) / size;
      grid[2 * (i * size + j) + 1] = extent - (2 * extent * (i + 0.5)) / size;
    }
  const panels = [boundaryRun.network, boundaryRun.pruned, magnitudePrune(boundaryRun.network, boundaryRun.counts)];
  const width = panels.length * size + (panels.length - 1) * gap;
  const rgb = new Uint8Array(width * size * 3).fill(255);
  const background = [
    [198, 219, 239],
    [253, 208, 162],
  ];
  const dots = [
    [33, 113, 181],
    [217, 72, 1],
  ];
  panels.forEach((network, k) => {
    const z = logits(network, grid, size * size);
    const x0 = k * (size + gap);
    for (let i = 0; i < size; i++)
      for (let j = 0; j < size; j++) {
        const c = z[2 * (i * size + j) + 1] > z[2 * (i * size + j)] ? 1 : 0;
        rgb.set(background[c], 3 * (i * width + x0 + j));
      }
    for (let p = 0; p < train.count; p++) {
      const j = Math.round(((train.x[2 * p] + extent) / (2 * extent)) * size - 0.5);
      const i = Math.round(((extent - train.x[2 * p + 1]) / (2 * extent)) * size - 0.5);
      for (let di = -1; di <= 1; di++)
        for (let dj = -1; dj <= 1; dj++) {
          const ii = i + di;
          const jj = j + dj;
          if (ii >= 0 && ii < size && jj >= 0 && jj < size && Math.abs(di) + Math.abs(dj) < 2) rgb.set(dots[train.labels[p]], 3 * (ii * width + x0 + jj));
        }
    }
  });
  writeAtomically(join(FIGURES, `spirals-boundary-${opts.boundary}.png`), pngBytes(width, size, rgb));
  out.boundary = { size: opts.boundary, accuracies: panels.map((n) => accuracyOf(logits(n, test.x, test.count), test.labels)) };
}

out.seconds = seconds(started);
writeJson(join(RESULTS, 'spirals.json'), out);
console.log(`done in ${out.seconds.toFixed(0)} s`);
gpu?.destroy();
