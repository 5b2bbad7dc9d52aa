#!/usr/bin/env node
// The sample-complexity result (net-trim.md §5): X with i.i.d. N(0, 1) entries (P×N), a planted
// W* with s nonzeros per column (random support, N(0, 1) values), Y = relu(XW*). Solve the Net-Trim
// program with ε ≈ 0 (1e-4·‖Y‖_F, no bias) and count a column as recovered when
// ‖ŵ − w*‖₂ ≤ 1e-2·‖w*‖₂. Sweeps P over multiples of s·log(N/s), several seeds, M columns per
// solve (the columns are independent trials; with ε ≈ 0 their coupling through ε is immaterial).
// The same sweep with a linear layer (Y = XW*: basis pursuit, the compressed-sensing baseline)
// shows what the ReLU costs.
//
//   node experiments/sample-complexity.mjs [--configs 100:5,100:10,200:10] [--seeds 3] [--columns 10]
//
// Writes experiments/results/sample-complexity.json and docs/figures/sample-complexity.svg.
import { join } from 'node:path';
import { FIGURES, RESULTS, args, gaussian, lineChart, mulberry32, nt, seconds, writeAtomically, writeJson } from './lib.mjs';

const opts = args({
  configs: '100:5,100:10,200:10',
  multiples: '0.5,1,1.5,2,2.5,3,4,5',
  seeds: 3,
  columns: 10,
  activations: 'relu,linear',
  maxIterations: 2500,
  threshold: 1e-2,
  backend: 'cpu',
});

const started = performance.now();
const configs = opts.configs.split(',').map((c) => c.split(':').map(Number));
const multiples = opts.multiples.split(',').map(Number);
const out = { threshold: opts.threshold, columns: opts.columns, seeds: opts.seeds, backend: opts.backend, maxIterations: opts.maxIterations, epsilonGain: 1e-4, runs: [] };

for (const activation of opts.activations.split(',')) {
  for (const [N, s] of configs) {
    const unit = s * Math.log(N / s);
    for (const multiple of multiples) {
      const P = Math.max(2, Math.round(multiple * unit));
      let recovered = 0;
      let trials = 0;
      let errors = [];
      let iterations = 0;
      let unconverged = 0;
      for (let seed = 1; seed <= opts.seeds; seed++) {
        const random = mulberry32(1_000_003 * N + 10_007 * s + 101 * P + seed);
        const normal = gaussian(random);
        const M = opts.columns;
        const X = new Float64Array(P * N).map(() => normal());
        const W = new Float64Array(N * M);
        for (let m = 0; m < M; m++) {
          const support = [...Array(N).keys()];
          for (let k = 0; k < s; k++) {
            const j = k + Math.floor(random() * (N - k));
            [support[k], support[j]] = [support[j], support[k]];
            W[support[k] * M + m] = normal();
          }
        }
        const Y = new Float64Array(P * M);
        for (let p = 0; p < P; p++)
          for (let m = 0; m < M; m++) {
            let z = 0;
            for (let n = 0; n < N; n++) z += X[p * N + n] * W[n * M + m];
            Y[p * M + m] = activation === 'relu' ? Math.max(z, 0) : z;
          }
        const { weights, report } = await nt.solveLayer({
          X: { rows: P, cols: N, data: X },
          Y: { rows: P, cols: M, data: Y },
          activation,
          epsilonGain: out.epsilonGain,
          bias: false,
          backend: opts.backend,
          maxIterations: opts.maxIterations,
        });
        iterations += report.iterations;
        if (!report.converged) unconverged++;
        for (let m = 0; m < M; m++) {
          let d = 0;
          let n2 = 0;
          for (let n = 0; n < N; n++) {
            d += (weights.data[n * M + m] - W[n * M + m]) ** 2;
            n2 += W[n * M + m] ** 2;
          }
          const e = Math.sqrt(d / n2);
          errors.push(e);
          if (e <= opts.threshold) recovered++;
          trials++;
        }
      }
      errors.sort((a, b) => a - b);
      const run = { activation, N, s, P, multiple, unit, rate: recovered / trials, trials, medianError: errors[Math.floor(errors.length / 2)], meanIterations: iterations / opts.seeds, unconvergedSolves: unconverged };
      out.runs.push(run);
      console.log(`${activation} N=${N} s=${s} P=${P} (${multiple}·s·log(N/s)): recovered ${recovered}/${trials}, median error ${run.medianError.toExponential(1)}, ${run.meanIterations.toFixed(0)} iterations, ${unconverged} unconverged (${seconds(started).toFixed(0)} s)`);
      writeJson(join(RESULTS, 'sample-complexity.json'), out);
    }
  }
}

/** The smallest multiple at which the recovery rate reaches 1/2 (linear interpolation). */
function transition(runs) {
  for (let i = 1; i < runs.length; i++)
    if (runs[i - 1].rate < 0.5 && runs[i].rate >= 0.5) return runs[i - 1].multiple + ((0.5 - runs[i - 1].rate) / (runs[i].rate - runs[i - 1].rate)) * (runs[i].multiple - runs[i - 1].multiple);
  return runs[0]?.rate >= 0.5 ? runs[0].multiple : null;
}
out.transitions = [];
const series = [];
for (const activation of opts.activations.split(','))
  for (const [N, s] of configs) {
    const runs = out.runs.filter((r) => r.activation === activation && r.N === N && r.s === s);
    out.transitions.push({ activation, N, s, halfRateMultiple: transition(runs), halfRateP: transition(runs) && transition(runs) * s * Math.log(N / s) });
    series.push({ name: `${activation === 'relu' ? 'ReLU (Net-Trim)' : 'linear (basis pursuit)'} N=${N}, s=${s}`, points: runs.map((r) => [r.multiple, r.rate]), dashed: activation !== 'relu' });
  }
writeAtomically(
  join(FIGURES, 'sample-complexity.svg'),
  lineChart({
    title: `Exact recovery of planted s-sparse layers (ε ≈ 0, ${opts.seeds * opts.columns} columns per point)`,
    xLabel: 'P / (s·log(N/s))',
    yLabel: 'fraction of columns recovered',
    yRange: [0, 1],
    series,
    height: 400,
  }),
);
out.seconds = seconds(started);
writeJson(join(RESULTS, 'sample-complexity.json'), out);
console.log(`done in ${out.seconds.toFixed(0)} s`, JSON.stringify(out.transitions));
