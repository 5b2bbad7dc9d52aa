#!/usr/bin/env node
// MNIST: the fully connected network and the LeNet-style CNN (experiments/train-mnist.mjs), pruned
// by Net-Trim in both modes over a range of ε gains (each gain warm-started from the previous one of
// the same mode), with magnitude pruning to the same per-layer counts beside every result.
//
//   node experiments/prune-mnist.mjs [--models mlp,lenet] [--mlpGains 0.03,0.08,0.2,0.4] [--lenetGains 'cascade=0.03,0.08,0.2;parallel=0.05,0.2']
//
// Gains: one list for every mode, or per mode as 'cascade=a,b;parallel=c'.
//
// Samples: the first P training digits (--mlpSamples, --lenetSamples). Accuracy and discrepancy on
// the 2000 test digits. Writes experiments/results/mnist-{mlp,lenet}.json and docs/figures/mnist-{mlp,lenet}.svg.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { FIGURES, MODELS, RESULTS, args, evaluateAgainst, head, lineChart, magnitudePrune, mnistDigits, nonzerosByLayer, nt, readJson, seconds, writeAtomically, writeJson } from './lib.mjs';

const opts = args({
  models: 'mlp,lenet',
  mlpGains: '0.03,0.08,0.2,0.4',
  lenetGains: 'cascade=0.03,0.08,0.2;parallel=0.05,0.2',
  modes: 'cascade,parallel',
  mlpSamples: 500,
  lenetSamples: 150,
  maxIterations: 600,
  lenetMaxIterations: 400,
  relativeTolerance: 1e-3,
  backend: 'webgpu',
  // Add these runs to experiments/results/mnist-<model>.json instead of starting it afresh.
  merge: false,
  // Suffix of the result and figure names (e.g. '-P2000' for a run with other samples).
  tag: '',
});

const { train, test } = mnistDigits();
const gpu = opts.backend === 'webgpu' ? await nt.acquireGpu() : undefined;

const settings = {
  mlp: { gains: opts.mlpGains, samples: opts.mlpSamples, maxIterations: opts.maxIterations, title: 'MNIST MLP 784·300·100·10' },
  lenet: { gains: opts.lenetGains, samples: opts.lenetSamples, maxIterations: opts.lenetMaxIterations, title: 'MNIST LeNet-style CNN' },
};

for (const key of opts.models.split(',')) {
  const started = performance.now();
  const dir = join(MODELS, `mnist-${key}`);
  const model = await nt.loadModelFile(join(dir, 'model.json'));
  const network = model.network;
  const { gains, samples: P, maxIterations, title } = settings[key];
  const gainsFor = (mode) => {
    if (!gains.includes('=')) return gains.split(',').map(Number);
    const part = gains.split(';').find((p) => p.startsWith(`${mode}=`));
    return part ? part.slice(mode.length + 1).split(',').map(Number) : [];
  };
  const samples = head(train, P, 784);
  const before = evaluateAgainst(network, network, test);
  const out = {
    model: key,
    training: readJson(join(dir, 'training.json')),
    samples: P,
    testDigits: test.count,
    backend: opts.backend,
    maxIterations,
    relativeTolerance: opts.relativeTolerance,
    nonzeros: nonzerosByLayer(network),
    testAccuracy: before.accuracy,
    runs: [],
  };
  const previousPath = join(RESULTS, `mnist-${key}${opts.tag}.json`);
  if (opts.merge && existsSync(previousPath)) out.runs = readJson(previousPath).runs;
  console.log(`${title}: ${Object.values(out.nonzeros).join('/')} nonzeros, test accuracy ${(100 * before.accuracy).toFixed(2)}%, P = ${P}`);
  for (const mode of opts.modes.split(',')) {
    let warm;
    for (const gain of gainsFor(mode)) {
      const result = await nt.pruneNetwork(network, { data: samples.x, count: P, labels: samples.labels }, {
        mode,
        epsilonGain: gain,
        backend: opts.backend,
        gpu,
        warmStart: warm,
        solver: { maxIterations, tolerances: { relative: opts.relativeTolerance } },
        onLayerDone: (e) => console.log(`    ${e.name}: ${e.nonzerosBefore} → ${e.nonzerosAfter}, ${e.iterations} iterations${e.converged ? '' : ' (not converged)'}, ${e.seconds.toFixed(0)} s`),
      });
      warm = result;
      const counts = nonzerosByLayer(result.network);
      const magnitude = magnitudePrune(network, counts);
      const run = {
        mode,
        gain,
        nonzerosAfter: counts,
        total: { before: result.nonzerosBefore, after: result.nonzerosAfter },
        layers: result.layers.map((l) => ({ name: l.name, kind: l.kind, samples: l.samples, epsilon: l.epsilon, iterations: l.iterations, converged: l.converged, seconds: l.seconds, relativeDualityGap: l.relativeDualityGap })),
        seconds: result.seconds,
        netTrim: { rdSamples: result.relativeDiscrepancy, sampleAccuracy: result.accuracyAfter, ...evaluateAgainst(result.network, network, test) },
        magnitude: { rdSamples: evaluateAgainst(magnitude, network, samples).rd, ...evaluateAgainst(magnitude, network, test) },
      };
      out.runs = [...out.runs.filter((r) => !(r.mode === run.mode && r.gain === run.gain)), run].sort((a, b) => a.mode.localeCompare(b.mode) || a.gain - b.gain);
      console.log(
        `  ${mode} gain ${gain}: ${Object.values(counts).join('/')} (${((100 * run.total.after) / run.total.before).toFixed(1)}%), test accuracy ${(100 * run.netTrim.accuracy).toFixed(2)}% (magnitude ${(100 * run.magnitude.accuracy).toFixed(2)}%), test rd ${run.netTrim.rd.toFixed(3)} (magnitude ${run.magnitude.rd.toFixed(3)}), ${result.seconds.toFixed(0)} s`,
      );
      out.seconds = seconds(started);
      writeJson(join(RESULTS, `mnist-${key}${opts.tag}.json`), out);
    }
  }
  const pct = (r) => (100 * r.total.after) / r.total.before;
  const series = [];
  for (const mode of [...new Set(out.runs.map((r) => r.mode))]) {
    const runs = out.runs.filter((r) => r.mode === mode);
    series.push({ name: `Net-Trim ${mode}`, points: runs.map((r) => [pct(r), 100 * r.netTrim.accuracy]) });
    series.push({ name: `magnitude, ${mode} counts`, points: runs.map((r) => [pct(r), 100 * r.magnitude.accuracy]), dashed: true });
  }
  series.push({ name: 'trained network', points: [[100, 100 * before.accuracy]], line: false });
  writeAtomically(join(FIGURES, `mnist-${key}${opts.tag}.svg`), lineChart({ title: `${title}: test accuracy against nonzeros`, xLabel: 'nonzeros kept (% of the trained network)', yLabel: `test accuracy (%, ${test.count} digits)`, xLog: true, series }));
}
gpu?.destroy();
