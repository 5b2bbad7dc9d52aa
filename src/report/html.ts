// report.html and sweep.html: one self-contained page each (inline CSS and SVG, no scripts, no
// network), rendered from the same document that is written as JSON beside it.
import { convergenceChart, histogramChart, nonzerosChart, sweepAccuracyChart, sweepSparsityChart, type SweepPoint } from './charts.js';
import { reportedGap, type PruneReportDocument, type SweepReportDocument } from './document.js';
import type { DeploymentReport } from './pruneRun.js';
import { escapeHtml, formatCount, formatNumber, formatPercent } from './svg.js';

const STYLE = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f4f6f8; color: #212529; font: 14px/1.5 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; }
main { max-width: 1080px; margin: 0 auto; padding: 28px 24px 48px; }
h1 { font-size: 24px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 0 0 6px; }
.subtitle { color: #6c757d; margin: 0 0 20px; }
section { background: #fff; border: 1px solid #e3e7eb; border-radius: 10px; padding: 18px 20px; margin: 0 0 18px; }
section > p { color: #495057; margin: 0 0 12px; max-width: 80ch; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 12px; background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid #e3e7eb; border-radius: 10px; padding: 12px 14px; }
.card .label { color: #6c757d; font-size: 12px; text-transform: uppercase; letter-spacing: .04em; }
.card .value { font-size: 18px; font-weight: 650; margin: 2px 0; }
.card .note { color: #495057; font-size: 12.5px; }
.good { color: #2b8a3e; } .warn { color: #d9480f; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 12px 24px; }
svg.plot { max-width: 100%; height: auto; display: block; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 12.5px; }
th, td { padding: 5px 7px; border-bottom: 1px solid #edf0f2; text-align: right; white-space: nowrap; }
th { color: #495057; font-weight: 600; background: #f8f9fa; }
th:first-child, td:first-child { text-align: left; }
.scroll { overflow-x: auto; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; margin: 0; }
dt { font-weight: 600; } dd { margin: 0; color: #495057; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, monospace; background: #f1f3f5; padding: 1px 4px; border-radius: 4px; }
footer { color: #6c757d; font-size: 12.5px; }
section > p.fine { color: #6c757d; font-size: 12.5px; margin: 8px 0 0; }
`;

function page(title: string, body: string[]): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
<main>
${body.join('\n')}
</main>
</body>
</html>
`;
}

function card(label: string, value: string, note = '', tone = ''): string {
  return `<div class="card"><div class="label">${escapeHtml(label)}</div><div class="value${tone ? ` ${tone}` : ''}">${escapeHtml(value)}</div><div class="note">${escapeHtml(note)}</div></div>`;
}

function table(headers: string[], rows: string[][]): string {
  return `<div class="scroll"><table><thead><tr>${headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`)
    .join('')}</tbody></table></div>`;
}

const pct = (a: number | null) => (a === null ? '–' : formatPercent(a));
const change = (before: number, after: number) => `${formatPercent(before)} → ${formatPercent(after)}`;
const points = (before: number, after: number) => {
  const d = 100 * (after - before);
  return `${d >= 0 ? '+' : '−'}${Math.abs(d).toFixed(1)} points`;
};
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

const GLOSSARY: Array<[string, string]> = [
  ['nonzeros', 'Weights and biases that are not exactly zero. Net-Trim sets weights to exactly 0; the pruned model file keeps them as zeros (same size), the sparse export stores only the nonzeros.'],
  ['ε (epsilon)', "How far a pruned layer's responses on the samples may move from the trained layer's: ‖(XŴ − Y)_Ω‖_F ≤ ε on the active set Ω (outputs the ReLU lets through). ε = g·‖Y‖_F for the ε gain g; in cascade mode later layers use γ·‖(WX̂ − Y)_Ω‖ so the trained weights stay a feasible answer."],
  ['constraint residual', "‖(XŴ − Y)_Ω‖_F of the returned weights: feasible when ≤ ε (checked in float64 on the CPU)."],
  ['discrepancy, bound', "‖X̂ − X‖_F: how far the pruned network's output of this layer is from the trained network's, on the samples, and the paper's bound on it for the mode (Σ ε for parallel, ε₁·√(Π γ) for cascade)."],
  ['relative discrepancy', "‖Z − Ẑ‖_F / ‖Z‖_F of the network's outputs before softmax: 0.05 means the outputs moved by 5% of their size."],
  ['accuracy', 'Share of samples whose largest output is their label, before and after pruning; "held-out" samples were not used to prune.'],
  ['primal / dual residual', 'ADMM\'s stopping measures: how far the split variables disagree (primal) and how much the answer still moves (dual). The solve stops when both are under their tolerances and the sparse answer meets ε.'],
  ['duality gap', 'ℓ1 of the answer minus a lower bound on the best possible ℓ1 (from the solver\'s dual variables): the answer is at most this far from the sparsest feasible weights. Shown relative to the ℓ1.'],
];

function glossary(): string {
  return `<section><h2>What the numbers mean</h2><dl>${GLOSSARY.map(([t, d]) => `<dt>${escapeHtml(t)}</dt><dd>${escapeHtml(d)}</dd>`).join('')}</dl></section>`;
}

export function renderPruneReport(doc: PruneReportDocument): string {
  const kept = doc.nonzerosBefore ? doc.nonzerosAfter / doc.nonzerosBefore : 0;
  const gain = doc.deployment?.search?.gain ?? doc.options.epsilonGain;
  const gainText = doc.mode === 'cascade' ? `ε gain ${gain} (first layer)` : `ε gain ${gain}`;
  const cards = [card('nonzero weights', `${formatCount(doc.nonzerosBefore)} → ${formatCount(doc.nonzerosAfter)}`, `${formatPercent(kept)} kept`, 'good')];
  if (doc.accuracyBefore !== null && doc.accuracyAfter !== null)
    cards.push(card(`accuracy, ${formatCount(doc.samples.count)} pruning samples`, change(doc.accuracyBefore, doc.accuracyAfter), points(doc.accuracyBefore, doc.accuracyAfter)));
  if (doc.heldOut)
    cards.push(card(`accuracy, ${formatCount(doc.heldOut.count)} held-out samples`, change(doc.heldOut.accuracyBefore, doc.heldOut.accuracyAfter), points(doc.heldOut.accuracyBefore, doc.heldOut.accuracyAfter)));
  cards.push(card('relative discrepancy', formatNumber(doc.relativeDiscrepancy), "of the outputs before softmax"));
  cards.push(card('sparse export', kib(doc.files.sparseExportBytes), `dense weights: ${kib(doc.files.denseWeightBytes)}`));
  const notConverged = doc.layers.filter((l) => !l.converged).map((l) => (l.statusReason ? `${l.name} (${l.statusReason})` : l.name));
  // What the import changed or fixed (a fold, an open axis's size), and the layers cascade kept.
  const asRead = [...(doc.model.notes ?? []), ...(doc.keptAsTrained ? [`kept as trained: ${doc.keptAsTrained.join(', ')} (no layer pruned before them feeds them, so cascade's ε is 0)`] : [])];

  const body = [
    `<header><h1>Net-Trim report: ${escapeHtml(doc.model.path)}</h1>`,
    `<p class="subtitle">${escapeHtml(
      [`${doc.mode} mode`, gainText, `${formatCount(doc.samples.count)} samples from ${doc.samples.path}`, `${doc.backend} (${doc.adapter})`, `${doc.seconds.toFixed(1)} s`, doc.createdAt].join(' · '),
    )}</p></header>`,
    `<section class="cards">${cards.join('')}</section>`,
    notConverged.length
      ? `<section><p class="warn">Not converged (no certificate): ${escapeHtml(notConverged.join('; '))}. A converged layer's weights meet ε within 0.1% and a duality gap within the gap tolerance, checked in float64; these were checked too (the table below) but missed one of those; raise --max-iterations for a tighter answer.</p></section>`
      : '',
    asRead.length ? `<section><h2>The model as read</h2>${asRead.map((note) => `<p class="fine">${escapeHtml(note)}</p>`).join('')}</section>` : '',
    doc.deployment ? deploymentSection(doc.deployment) : '',
    `<section><h2>Nonzeros per layer</h2><p>Nonzero weights (kernel and bias) of each pruned layer in the trained model and after Net-Trim, on a log scale.</p>${nonzerosChart(doc.layers)}</section>`,
    `<section><h2>Weights before and after</h2><p>Histogram of each layer's trained weights (grey) and of the nonzero weights left after pruning (blue), on the same bins. Pruning keeps few of the small weights; the zeros it creates are left out of the blue bars.</p><div class="grid">${doc.weightHistograms.map(histogramChart).join('')}</div></section>`,
    `<section><h2>Convergence</h2><p>The solver's primal and dual residuals divided by their tolerances at every convergence check (every 50 iterations by default), on a log scale. A layer's solve stops once both are below 1 and its sparse answer meets ε; the duality gap, computed once at the end, bounds how far the answer is from the sparsest possible.</p><div class="grid">${doc.layers
      .map((l) => convergenceChart({ name: l.name, iterations: l.iterations, float64FinishIterations: l.float64FinishIterations, converged: l.converged, relativeDualityGap: reportedGap(l), history: l.history ?? [] }))
      .join('')}</div></section>`,
    `<section><h2>Per layer</h2>${table(
      ['layer', 'inputs × outputs', 'rows', 'nonzeros', 'kept', 'ε', 'residual', 'discrepancy', 'bound', 'gap', 'iterations', 's'],
      doc.layers.map((l) => [
        `${l.name} (${l.kind})`,
        `${formatCount(l.inputs)} × ${formatCount(l.outputs)}`,
        formatCount(l.samples),
        `${formatCount(l.nonzerosBefore)} → ${formatCount(l.nonzerosAfter)}`,
        formatPercent(l.nonzerosBefore ? l.nonzerosAfter / l.nonzerosBefore : 0),
        formatNumber(l.epsilon),
        formatNumber(l.constraintResidual),
        formatNumber(l.achievedDiscrepancy),
        l.consistencyBound === null ? '–' : formatNumber(l.consistencyBound),
        reportedGap(l) === null ? '–' : formatNumber(l.relativeDualityGap, 2),
        `${formatCount(l.iterations)}${l.converged ? '' : ' (not converged)'}`,
        l.seconds.toFixed(2),
      ]),
    )}<p class="fine">rows: samples (× output positions for conv layers); residual: the constraint residual, ≤ ε when feasible; gap: the relative duality gap ('–' for an answer stopped outside its ball); s: seconds.</p>${doc.layers
      .filter((l) => l.note)
      .map((l) => `<p class="fine">${escapeHtml(`${l.name}: ${l.note}`)}</p>`)
      .join('')}</section>`,
    glossary(),
    `<footer>Written by net-trim ${escapeHtml(doc.version)} beside ${escapeHtml([...doc.files.model, doc.files.sparse, ...doc.files.report].join(', '))}. Every number above is also in report.json.</footer>`,
  ];
  return page(`Net-Trim report: ${doc.model.path}`, body);
}

const count = (n: number) => formatCount(Math.round(n));
const share = (after: number, before: number) => (before > 0 ? formatPercent(after / before) : '–');

/** Smaller and faster: the gain search, units removed, parameters and work, files, latency. */
function deploymentSection(d: DeploymentReport): string {
  const { before, after } = d.cost;
  const parts = [`<section><h2>Smaller and faster</h2><p>What a runtime stores and computes. A dense runtime (TF.js, onnxruntime) multiplies zeros like any weight: only removed neurons and channels make it faster; the multiply-accumulates by nonzero weights are what a sparse kernel would do.</p>`];
  if (d.search) {
    const what = d.search.measure === 'units' ? 'of the neurons and channels' : 'of the prunable weights';
    parts.push(`<p class="${d.search.reached ? '' : 'warn'}">${escapeHtml(`${d.search.goal === 'target sparsity' ? `Target sparsity ${d.search.value} ${what}` : `At most ${(100 * d.search.value).toFixed(1)} points of accuracy lost (${d.search.accuracyOn})`}: ${d.search.message}.`)}</p>`);
    parts.push(
      table(
        ['ε gain', 'removed', 'nonzeros', 'relative discrepancy', 'accuracy', 'warm start from', 's'],
        d.search.trials.map((t) => [String(Number(t.gain.toPrecision(4))), formatPercent(t.sparsity), count(t.nonzerosAfter), formatNumber(t.relativeDiscrepancy), pct(t.accuracy), t.warmStartedFrom === null ? '–' : String(Number(t.warmStartedFrom.toPrecision(4))), t.seconds.toFixed(1)]),
      ),
    );
  }
  const rows = [
    ['parameters stored', count(before.params), count(after.params), share(after.params, before.params)],
    ['nonzero parameters', count(before.nonzeroParams), count(after.nonzeroParams), share(after.nonzeroParams, before.nonzeroParams)],
    ['multiply-accumulates per sample (dense runtime)', count(before.macs), count(after.macs), share(after.macs, before.macs)],
    ['multiply-accumulates by nonzero weights', count(before.sparseMacs), count(after.sparseMacs), share(after.sparseMacs, before.sparseMacs)],
    ...(d.units ? [[d.units.heads ? 'neurons, channels and heads' : 'neurons and channels', count(d.units.before), count(d.units.after), share(d.units.after, d.units.before)]] : []),
    ...(d.units?.heads ? [['attention heads (among them)', count(d.units.heads.before), count(d.units.heads.after), share(d.units.heads.after, d.units.heads.before)]] : []),
  ];
  parts.push(table(['', 'trained', 'written', 'kept'], rows));
  if (d.units) {
    const changed = d.units.layers.filter((l) => l.after < l.before);
    if (changed.length) parts.push(table(['layer', 'units or filters', 'after'], changed.map((l) => [l.name, count(l.before), count(l.after)])));
    for (const note of d.units.notes) parts.push(`<p class="fine">${escapeHtml(note)}</p>`);
  }
  if (d.latency)
    parts.push(
      table(
        ['runtime', 'batch', 'trained (median ms)', 'pruned (median ms)', 'ratio', 'interquartile (trained; pruned)'],
        d.latency.rows.map((r) => [`${r.runtime} ${r.version} (${r.backend})`, String(r.batch), r.models[0].medianMs.toFixed(3), r.models[1]?.medianMs.toFixed(3) ?? '–', r.ratio === null ? '–' : r.ratio.toFixed(2), r.models.map((m) => `${m.q1Ms.toFixed(3)}–${m.q3Ms.toFixed(3)}`).join('; ')]),
      ) + `<p class="fine">${escapeHtml(`Medians of ${d.latency.repeats} runs per model after ${d.latency.warmup} untimed ones, the two models in alternating rounds on this machine.`)}</p>`,
    );
  if (d.files.length) parts.push(table(['file', 'bytes', 'gzip'], d.files.map((f) => [f.name, kib(f.bytes), f.gzipBytes === null ? '–' : kib(f.gzipBytes)])) + '<p class="fine">gzip: the size a web server sends with Content-Encoding gzip (level 6).</p>');
  parts.push('</section>');
  return parts.join('');
}

export function sweepPoints(doc: SweepReportDocument): SweepPoint[] {
  return doc.points.map((p) => ({
    epsilonGain: p.epsilonGain,
    nonzerosFraction: p.nonzerosBefore ? p.nonzerosAfter / p.nonzerosBefore : 0,
    relativeDiscrepancy: p.relativeDiscrepancy,
    accuracyAfter: p.accuracyAfter,
    heldOutAccuracyAfter: p.heldOut?.accuracyAfter ?? null,
  }));
}

export function renderSweepReport(doc: SweepReportDocument): string {
  const pts = sweepPoints(doc);
  const first = doc.points[0];
  const withLabels = first && first.accuracyBefore !== null;
  const body = [
    `<header><h1>Net-Trim sweep: ${escapeHtml(doc.model.path)}</h1>`,
    `<p class="subtitle">${escapeHtml(
      [`${doc.mode} mode`, `ε gains ${doc.options.epsilonGains.join(', ')}`, `${formatCount(doc.samples.count)} samples from ${doc.samples.path}`, `${doc.backend} (${doc.adapter})`, `${doc.seconds.toFixed(1)} s`, doc.createdAt].join(' · '),
    )}</p></header>`,
    `<section><h2>Choosing ε</h2><p>Each point is one pruning of the whole network at the ε gain g it is labelled with: a larger gain allows more discrepancy and removes more weights. Pick the largest gain whose discrepancy${withLabels ? ' and accuracy' : ''} you accept, then run <code>net-trim prune … --epsilon-gain g</code>.${withLabels ? " The dashed lines are the trained model's accuracy." : ''}</p><div class="grid">${sweepSparsityChart(pts)}${
      withLabels ? sweepAccuracyChart(pts, first.accuracyBefore!, first.heldOut?.accuracyBefore ?? null) : ''
    }</div></section>`,
    `<section><h2>Points</h2>${table(
      ['ε gain', 'nonzeros', 'kept', 'relative discrepancy', ...(withLabels ? ['accuracy'] : []), ...(first?.heldOut ? ['held-out accuracy'] : []), 'warm start', 'seconds'],
      doc.points.map((p) => [
        String(p.epsilonGain),
        `${formatCount(p.nonzerosBefore)} → ${formatCount(p.nonzerosAfter)}`,
        formatPercent(p.nonzerosBefore ? p.nonzerosAfter / p.nonzerosBefore : 0),
        formatNumber(p.relativeDiscrepancy),
        ...(withLabels ? [`${pct(p.accuracyBefore)} → ${pct(p.accuracyAfter)}`] : []),
        ...(first?.heldOut ? [p.heldOut ? `${pct(p.heldOut.accuracyBefore)} → ${pct(p.heldOut.accuracyAfter)}` : '–'] : []),
        p.warmStarted ? 'yes' : 'no',
        p.seconds.toFixed(1),
      ]),
    )}</section>`,
    `<section><h2>Nonzeros per layer at each gain</h2>${table(
      ['layer', 'trained', ...doc.points.map((p) => `g = ${p.epsilonGain}`)],
      (first?.layers ?? []).map((l, i) => [l.name, formatCount(l.nonzerosBefore), ...doc.points.map((p) => formatCount(p.layers[i]?.nonzerosAfter ?? NaN) + (p.layers[i]?.converged === false ? '*' : ''))]),
    )}${doc.points.some((p) => p.layers.some((l) => !l.converged)) ? '<p class="fine">* not converged within the iteration limit.</p>' : ''}</section>`,
    glossary(),
    `<footer>Written by net-trim ${escapeHtml(doc.version)}. Every number above is also in sweep.json.</footer>`,
  ];
  return page(`Net-Trim sweep: ${doc.model.path}`, body);
}
