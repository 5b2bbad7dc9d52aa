#!/usr/bin/env node
// Rewrites the generated tables of docs/results.md (between <!-- BEGIN name --> and
// <!-- END name --> markers) from experiments/results/*.json. The prose around them is written by hand.
//
//   node experiments/report.mjs
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

// No library import: the report needs neither dist/ nor a GPU.
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS = join(ROOT, 'experiments', 'results');
const readJson = (path) => JSON.parse(readFileSync(path, 'utf8'));
function writeAtomically(path, text) {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

const DOC = join(ROOT, 'docs', 'results.md');
const load = (name) => (existsSync(join(RESULTS, name)) ? readJson(join(RESULTS, name)) : null);
const pct = (x, d = 1) => `${(100 * x).toFixed(d)}%`;
const rd = (x) => x.toFixed(4);
const nz = (o) => Object.values(o).join(' / ');
const share = (after, before) => `${after} (${pct(after / before)})`;
const conv = (layers) => `${layers.filter((l) => l.converged).length}/${layers.length}`;

const tables = {};

const spirals = load('spirals.json');
if (spirals) {
  const rows = Object.entries(spirals.networks).map(
    ([h, n]) => `| ${n.architecture} | ${nz(n.nonzeros)} | ${n.dropout} | ${n.epochs} | ${pct(n.trainAccuracy, 2)} | ${pct(n.testAccuracy, 2)} |`,
  );
  tables['spirals-networks'] = ['| network | nonzeros per layer | dropout | epochs | train accuracy (1000) | test accuracy (2000) |', '|---|---|---|---|---|---|', ...rows].join('\n');

  const paper = { 200: { before: '400 / 39668 / 399', after: '399 / 1991 / 113' } };
  const t = Object.entries(spirals.table).map(([h, s]) => {
    const n = spirals.networks[h];
    const p = paper[h];
    return `| 2·${h}·${h}·2 | ${s.gain} | ${nz(s.nonzerosBefore)} | **${nz(s.nonzerosAfter)}** | ${share(s.total.after, s.total.before)} | ${rd(s.netTrim.rdSamples)} | ${rd(s.netTrim.rdTrain)} | ${pct(n.testAccuracy, 2)} → ${pct(s.netTrim.testAccuracy, 2)} | ${rd(s.magnitude.rdSamples)} | ${pct(s.magnitude.testAccuracy, 2)} | ${p ? `${p.before} → ${p.after}` : 'not in our notes'} | ${s.backend}, ${s.seconds.toFixed(0)} s |`;
  });
  tables['spirals-table'] = [
    `| network | ε gain | nonzeros before | Net-Trim cascade after | total after | rd (${spirals.samples} samples) | rd (${spirals.trainPoints} train points) | test accuracy | magnitude, same counts: rd (samples) | magnitude: test accuracy | paper, Table S.1 | backend, time |`,
    '|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...t,
  ].join('\n');

  const sw = [];
  for (const [h, modes] of Object.entries(spirals.sweep))
    for (const [mode, runs] of Object.entries(modes))
      for (const s of runs)
        sw.push(
          `| 2·${h}·${h}·2 | ${mode} | ${s.gain} | ${nz(s.nonzerosAfter)} | ${pct(s.total.after / s.total.before)} | ${rd(s.netTrim.rdSamples)} | ${pct(s.netTrim.testAccuracy, 2)} | ${rd(s.magnitude.rdSamples)} | ${pct(s.magnitude.testAccuracy, 2)} | ${s.seconds.toFixed(0)} s |`,
        );
  tables['spirals-sweep'] = ['| network | mode | ε gain | nonzeros per layer | kept | Net-Trim rd | Net-Trim test accuracy | magnitude rd | magnitude test accuracy | time |', '|---|---|---|---|---|---|---|---|---|---|', ...sw].join('\n');
  if (spirals.anchor) {
    const a = spirals.anchor;
    const notes = a.layers.filter((l) => l.note).map((l) => `${l.name}: ${l.note}`);
    tables['spirals-anchor'] = [
      '| setting | nonzeros after | rd (samples) | rd (1000 train points) | test accuracy | magnitude, same counts: rd / test accuracy |',
      '|---|---|---|---|---|---|',
      `| paper (§6): ε = 0.01‖Y‖, γ = 1.1, κ = 0.35 | 362 / 2663 / 131 (of 397 / 39770 / 399, no biases) | 0.046 | | | |`,
      `| ours, same setting | ${nz(a.nonzerosAfter)} (of ${nz(a.nonzerosBefore)}) | ${rd(a.netTrim.rdSamples)} | ${rd(a.netTrim.rdTrain)} | ${pct(spirals.networks[a.network].testAccuracy, 2)} → ${pct(a.netTrim.testAccuracy, 2)} | ${rd(a.magnitude.rdSamples)} / ${pct(a.magnitude.testAccuracy, 2)} |`,
      ...(notes.length ? ['', `Note: ${notes.join('; ')}.`] : []),
    ].join('\n');
  }
  if (spirals.boundary)
    tables['spirals-boundary'] = `Test accuracy (2000 points): trained ${pct(spirals.boundary.accuracies[0], 2)}, Net-Trim cascade ${pct(spirals.boundary.accuracies[1], 2)}, magnitude pruning at the same counts ${pct(spirals.boundary.accuracies[2], 2)}.`;
}

for (const key of ['mlp', 'lenet', 'mlp-P2000']) {
  const m = load(`mnist-${key}.json`);
  if (!m) continue;
  const header = `Trained: ${nz(m.nonzeros)} nonzeros per layer (${Object.values(m.nonzeros).reduce((a, b) => a + b, 0)}), ${m.training.epochs} epochs on ${m.training.trainDigits} digits (${m.training.seconds.toFixed(0)} s), test accuracy ${pct(m.testAccuracy, 2)} on ${m.testDigits} digits. Net-Trim samples: the first ${m.samples} training digits; ${m.backend}, at most ${m.maxIterations} ADMM iterations per layer.`;
  const rows = m.runs.map(
    (r) =>
      `| ${r.mode} | ${r.gain} | ${nz(r.nonzerosAfter)} | ${pct(r.total.after / r.total.before)} | ${rd(r.netTrim.rdSamples)} | ${rd(r.netTrim.rd)} | **${pct(r.netTrim.accuracy, 2)}** | ${rd(r.magnitude.rd)} | ${pct(r.magnitude.accuracy, 2)} | ${r.seconds.toFixed(0)} s | ${conv(r.layers)} |`,
  );
  tables[`mnist-${key}`] = [
    header,
    '',
    `| mode | ε gain | nonzeros per layer | kept | Net-Trim rd (samples) | Net-Trim rd (test) | Net-Trim test accuracy | magnitude rd (test) | magnitude test accuracy | time | layers converged |`,
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

const sc = load('sample-complexity.json');
if (sc) {
  const configs = [...new Set(sc.runs.map((r) => `${r.N}:${r.s}`))];
  const rows = configs.map((c) => {
    const [N, s] = c.split(':').map(Number);
    const t = (a) => sc.transitions?.find((x) => x.activation === a && x.N === N && x.s === s);
    const f = (x) => (x?.halfRateMultiple ? `${x.halfRateMultiple.toFixed(2)} (P ≈ ${Math.round(x.halfRateP)})` : '—');
    const full = (a) => sc.runs.find((r) => r.activation === a && r.N === N && r.s === s && r.rate === 1);
    return `| ${N} | ${s} | ${(s * Math.log(N / s)).toFixed(1)} | ${f(t('relu'))} | ${full('relu') ? `${full('relu').multiple} (P = ${full('relu').P})` : '—'} | ${f(t('linear'))} | ${full('linear') ? `${full('linear').multiple} (P = ${full('linear').P})` : '—'} |`;
  });
  tables['sample-complexity'] = [
    '| N | s | s·log(N/s) | ReLU: 50% recovery at P/(s·log(N/s)) | ReLU: first 100% | linear: 50% recovery | linear: first 100% |',
    '|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

// Wall times on the machine that produced the numbers (sums of the runs' own timings).
{
  const rows = [];
  const min = (s) => `${(s / 60).toFixed(1)} min`;
  const trained = (dir) => (existsSync(join(ROOT, 'experiments', 'models', dir, 'training.json')) ? readJson(join(ROOT, 'experiments', 'models', dir, 'training.json')).seconds : null);
  const spiralTraining = [50, 75, 100, 125, 175, 200].map((h) => trained(`spirals-${h}`)).filter((s) => s !== null);
  if (spiralTraining.length) rows.push(`| train-spirals.mjs (${spiralTraining.length} networks) | ${min(spiralTraining.reduce((a, b) => a + b, 0))} |`);
  for (const key of ['mlp', 'lenet']) if (trained(`mnist-${key}`) !== null) rows.push(`| train-mnist.mjs ${key} | ${min(trained(`mnist-${key}`))} |`);
  if (spirals) {
    const sweep = Object.values(spirals.sweep).flatMap((m) => Object.values(m).flat());
    const table = Object.entries(spirals.table).filter(([h]) => !spirals.sweep[h]).map(([, s]) => s);
    rows.push(`| prune-spirals.mjs: sweeps (${sweep.length} runs) | ${min(sweep.reduce((a, s) => a + s.seconds, 0))} |`);
    rows.push(`| prune-spirals.mjs: Table S.1 runs beyond the sweeps (${table.length} networks, all gains tried) | ${min(table.reduce((a, s) => a + (s.secondsAllGains ?? s.seconds), 0))} |`);
  }
  for (const key of ['mlp', 'lenet', 'mlp-P2000']) {
    const m = load(`mnist-${key}.json`);
    if (m) rows.push(`| prune-mnist.mjs ${key} (${m.runs.length} runs) | ${min(m.runs.reduce((a, r) => a + r.seconds, 0))} |`);
  }
  if (sc?.seconds) rows.push(`| sample-complexity.mjs (${sc.runs.length} points, ${sc.runs.length * sc.seeds} solves) | ${min(sc.seconds)} |`);
  tables.timings = [
    'Wall times of the runs behind this page (two shared CPU cores, load average 10–18 from other jobs during the runs, so expect less on an idle machine):',
    '',
    '| step | wall time |',
    '|---|---|',
    ...rows,
  ].join('\n');
}

let doc = readFileSync(DOC, 'utf8');
for (const [name, text] of Object.entries(tables)) {
  const re = new RegExp(`(<!-- BEGIN ${name} -->\\n)[\\s\\S]*?(<!-- END ${name} -->)`);
  if (!re.test(doc)) {
    console.warn(`docs/results.md has no ${name} markers`);
    continue;
  }
  doc = doc.replace(re, `$1${text}\n$2`);
}
writeAtomically(DOC, doc);
console.log(`rewrote ${Object.keys(tables).join(', ')} in ${DOC}`);
