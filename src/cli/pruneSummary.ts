// The lines `net-trim prune` prints when it is done (report.json holds the same numbers).
import { join } from 'node:path';
import { reportedGap, type PruneReportDocument } from '../report/document.js';
import type { DeploymentReport } from '../report/pruneRun.js';

const pad = (s: string | number, n: number) => String(s).padStart(n);
const pct = (a: number) => `${(100 * a).toFixed(1)}%`;
/** Three significant digits that fit the column: toPrecision writes 3.11e-6 as 0.00000311. */
const sig = (x: number) => (x !== 0 && Math.abs(x) < 1e-3 ? x.toExponential(2) : x.toPrecision(3));

export function summary(doc: PruneReportDocument, model: string, outDir: string): string {
  // PyTorch names ('/features/features.2/body/body.0/body.0.0/Conv') are long: the column fits them.
  const width = Math.max(14, ...doc.layers.map((l) => l.name.length + 2));
  const lines = [
    `net-trim prune ${model}: ${doc.mode}, epsilon gain ${doc.deployment?.search?.gain ?? doc.options.epsilonGain}${doc.deployment?.search?.gain !== undefined ? ' (searched)' : ''}, ${doc.samples.count} samples, ${doc.backend} (${doc.adapter})`,
    ...(doc.model.notes ?? []).map((note) => (note.startsWith('--') ? note : `read: ${note}`)), // an option's note (--quantize) names it
    '',
    `${'layer'.padEnd(width)}${pad('nonzeros', 10)}${pad('after', 9)}${pad('kept', 8)}${pad('epsilon', 10)}${pad('discrepancy', 13)}${pad('bound', 9)}${pad('rel. gap', 10)}${pad('iters', 7)}${pad('s', 7)}`,
    ...doc.layers.map(
      (l) =>
        `${l.name.padEnd(width)}${pad(l.nonzerosBefore, 10)}${pad(l.nonzerosAfter, 9)}${pad(pct(l.nonzerosAfter / Math.max(1, l.nonzerosBefore)), 8)}${pad(sig(l.epsilon), 10)}${pad(sig(l.achievedDiscrepancy), 13)}${pad(l.consistencyBound === null ? '–' : sig(l.consistencyBound), 9)}${pad(reportedGap(l)?.toExponential(1) ?? '–', 10)}${pad(l.iterations, 7)}${pad(l.seconds.toFixed(1), 7)}${l.converged ? '' : ' (not converged)'}`,
    ),
    `${'total'.padEnd(width)}${pad(doc.nonzerosBefore, 10)}${pad(doc.nonzerosAfter, 9)}${pad(pct(doc.nonzerosAfter / Math.max(1, doc.nonzerosBefore)), 8)}`,
    ...(doc.keptAsTrained
      ? [`kept as trained: ${doc.keptAsTrained.join(', ')} (no layer pruned before them feeds them, so cascade's ε is 0; a per-layer --epsilon-gain NAME=g or --mode parallel prunes them)`]
      : []),
    '',
    `relative discrepancy of the outputs: ${doc.relativeDiscrepancy.toPrecision(3)}${doc.outputDiscrepancies ? ` (${doc.outputDiscrepancies.map((o) => `${o.name} ${o.relativeDiscrepancy.toPrecision(3)}`).join(', ')})` : ''}`,
    ...(doc.accuracyBefore !== null && doc.accuracyAfter !== null
      ? [`accuracy on the ${doc.samples.count} pruning samples: ${pct(doc.accuracyBefore)} -> ${pct(doc.accuracyAfter)}`]
      : []),
    ...(doc.heldOut ? [`accuracy on ${doc.heldOut.count} held-out samples: ${pct(doc.heldOut.accuracyBefore)} -> ${pct(doc.heldOut.accuracyAfter)}`] : []),
    ...(doc.deployment ? deploymentLines(doc.deployment) : []),
    `sparse export: ${doc.files.sparseExportBytes} bytes (dense weights: ${doc.files.denseWeightBytes} bytes)`,
    `time: ${doc.seconds.toFixed(1)} s`,
    `wrote ${[...doc.files.model, doc.files.sparse, ...doc.files.report].join(', ')} to ${outDir}`,
    `open ${join(outDir, 'report.html')} in a browser for the plots`,
  ];
  return lines.join('\n') + '\n';
}

const count = (n: number) => String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
const share = (after: number, before: number) => (before > 0 ? pct(after / before) : '–');

/** The search, the units removed, parameters and work, file sizes and latency. */
export function deploymentLines(d: DeploymentReport): string[] {
  const lines: string[] = [];
  if (d.search) {
    const what = d.search.measure === 'units' ? 'of the neurons and channels' : 'of the prunable weights';
    const goal = d.search.goal === 'target sparsity' ? `target sparsity ${d.search.value} (${what})` : `max accuracy drop ${(100 * d.search.value).toFixed(1)} points (${d.search.accuracyOn})`;
    lines.push(`search: ${goal}: ${d.search.message} (${d.search.trials.length} prunes in ${d.search.seconds.toFixed(1)} s; gains ${d.search.trials.map((t) => Number(t.gain.toPrecision(3))).join(', ')})`);
  }
  if (d.units) {
    const changed = d.units.layers.filter((l) => l.after < l.before).map((l) => `${l.name} ${l.before} -> ${l.after}`);
    const heads = d.units.heads ? `, attention heads among them ${d.units.heads.before} -> ${d.units.heads.after}` : '';
    lines.push(`${d.units.heads ? 'neurons, channels and heads' : 'neurons and channels'}: ${d.units.before} -> ${d.units.after} (${share(d.units.after, d.units.before)} kept${heads}${changed.length ? `: ${changed.join(', ')}` : ''})`);
    for (const note of d.units.notes) lines.push(`  ${note}`);
  }
  const { before, after } = d.cost;
  lines.push(`parameters stored: ${count(before.params)} -> ${count(after.params)} (${share(after.params, before.params)}); nonzero: ${count(before.nonzeroParams)} -> ${count(after.nonzeroParams)}`);
  lines.push(`multiply-accumulates per sample: dense runtime ${count(before.macs)} -> ${count(after.macs)} (${share(after.macs, before.macs)}); by nonzero weights ${count(before.sparseMacs)} -> ${count(after.sparseMacs)}`);
  if (after.macs === before.macs && before.sparseMacs > after.sparseMacs)
    lines.push('  (TF.js and onnxruntime multiply the zeros too: this model runs at the trained speed; --structured removes whole neurons and channels)');
  if (d.files.length) lines.push(`files: ${d.files.map((f) => `${f.name} ${kib(f.bytes)}${f.gzipBytes === null ? '' : ` (gzip ${kib(f.gzipBytes)})`}`).join(', ')}`);
  if (d.latency) {
    for (const row of d.latency.rows) {
      const [trained, pruned] = row.models;
      lines.push(
        `latency ${row.runtime} (${row.backend}), batch ${row.batch}: ${trained.medianMs.toFixed(3)} ms -> ${pruned?.medianMs.toFixed(3) ?? '–'} ms` +
          (row.ratio === null ? '' : ` (x${row.ratio.toFixed(2)}; kept MAC share ${share(after.macs, before.macs)})`),
      );
    }
  }
  return lines;
}
