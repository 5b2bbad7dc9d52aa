// `net-trim sweep`: prune the same model at a list of ε gains, each run warm-started from the
// previous one, and write sweep.json and sweep.html (nonzeros against discrepancy, and accuracy
// with labels) so that a user can pick the gain to `net-trim prune` with.
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { pruneNetwork, type PruneOptions, type PruneResult } from '../prune/pruneNetwork.js';
import { heldOutAccuracy, type SweepPointDocument, type SweepReportDocument } from '../report/document.js';
import { renderSweepReport } from '../report/html.js';
import { cancelSignal } from './cancel.js';
import {
  addInputOptions,
  addOutputFlags,
  addSolverOptions,
  OutputFolder,
  warnAboutZeroGain,
  resolveBackend,
  loadNetworkInputs,
  parseNetworkOptions,
  commonPruneOptions,
  type RawNetworkOptions,
} from './modelInputs.js';
import { nonNegativeNumber } from './optionValues.js';
import { createProgress, progressStyle } from './progress.js';
import { packageVersion } from './version.js';

export const DEFAULT_SWEEP_GAINS = '0.01,0.02,0.03,0.05,0.08';

interface RawSweepOptions extends RawNetworkOptions {
  epsilonGains?: string;
}

export function addSweepCommand(program: Command): Command {
  const command = program
    .command('sweep')
    .summary('prune at several epsilon gains and plot nonzeros against discrepancy, to pick a gain')
    .description(
      'Prune a trained model (TF.js model.json or ONNX) at each of a list of epsilon gains, each run warm-started from the previous one, and write sweep.json and sweep.html: nonzeros against the relative discrepancy of the outputs (and accuracy, with --labels). No model is written: run `net-trim prune --epsilon-gain g` with the gain you pick.',
    );
  addInputOptions(command).option('--epsilon-gains <list>', 'comma-separated epsilon gains, run in this order (see --epsilon-gain of prune)', DEFAULT_SWEEP_GAINS);
  addSolverOptions(command).requiredOption('--out <dir>', "output folder for sweep.json and sweep.html (created if missing; must not be the model's own folder)");
  return addOutputFlags(command)
    .addHelpText(
      'after',
      '\nExample:\n' +
        '  net-trim sweep test/fixtures/mnist-mlp/model.json --samples test/fixtures/mnist-samples.npy \\\n' +
        '    --labels test/fixtures/mnist-labels.npy --max-samples 300 --epsilon-gains 0.01,0.02,0.04,0.08 --out sweep-mlp',
    )
    .action(async (model: string, raw: RawSweepOptions) => runSweep(model, raw));
}

function parseGains(raw: string): number[] {
  const parts = raw.split(',').map((p) => p.trim()).filter(Boolean);
  if (parts.length === 0) throw new InputError(`--epsilon-gains: expected a comma-separated list of numbers >= 0, found '${raw}'`);
  return parts.map((p) => nonNegativeNumber(p, '--epsilon-gains')!);
}

async function runSweep(modelPath: string, raw: RawSweepOptions): Promise<void> {
  const options = parseNetworkOptions(raw);
  const gains = parseGains(raw.epsilonGains ?? DEFAULT_SWEEP_GAINS);
  warnAboutZeroGain(gains, '--epsilon-gains', raw.quiet);
  const out = await OutputFolder.open(modelPath, raw.out);
  const { model, samples, heldOut } = await loadNetworkInputs(modelPath, raw, options);
  await out.avoid([...model.files, raw.samples, raw.labels], ['sweep.json', 'sweep.html']);

  const started = performance.now();
  const { backend, gpu } = await resolveBackend(options.backend, raw.quiet);
  options.backend = backend;
  const progress = createProgress(progressStyle(raw.quiet));
  const points: SweepPointDocument[] = [];
  try {
    let previous: PruneResult | undefined;
    for (const gain of gains) {
      progress.setContext(`g=${gain}`);
      const pruneOptions: PruneOptions = {
        ...commonPruneOptions(options, gpu, progress),
        epsilonGain: gain,
        // Each layer's solve starts where the previous gain's solve of that layer ended.
        warmStart: previous,
      };
      const result = await pruneNetwork(model.network, samples, pruneOptions);
      points.push({
        epsilonGain: gain,
        nonzerosBefore: result.nonzerosBefore,
        nonzerosAfter: result.nonzerosAfter,
        relativeDiscrepancy: result.relativeDiscrepancy,
        accuracyBefore: result.accuracyBefore ?? null,
        accuracyAfter: result.accuracyAfter ?? null,
        heldOut: heldOutAccuracy(model.network, result.network, heldOut),
        warmStarted: previous !== undefined,
        layers: result.layers.map((l) => ({
          name: l.name,
          nonzerosBefore: l.nonzerosBefore,
          nonzerosAfter: l.nonzerosAfter,
          epsilon: l.epsilon,
          iterations: l.iterations,
          converged: l.converged,
          relativeDualityGap: l.relativeDualityGap,
          seconds: l.seconds,
        })),
        seconds: result.seconds,
      });
      previous = result;
    }
  } finally {
    progress.stop();
    gpu?.destroy();
  }
  cancelSignal.throwIfAborted();

  const document: SweepReportDocument = {
    report: 'net-trim sweep',
    version: packageVersion(),
    createdAt: new Date().toISOString(),
    model: { path: modelPath, format: model.format, ...(model.notes?.length ? { notes: model.notes } : {}) },
    samples: { path: raw.samples, count: samples.count },
    labels: raw.labels ?? null,
    options: { ...options, epsilonGains: gains },
    mode: options.mode,
    backend: options.backend,
    adapter: gpu?.adapterDescription ?? 'CPU (float64 reference)',
    points,
    seconds: (performance.now() - started) / 1000,
  };
  const encode = (text: string) => new TextEncoder().encode(text);
  await out.write([
    { name: 'sweep.json', bytes: encode(JSON.stringify(document, null, 2) + '\n') },
    { name: 'sweep.html', bytes: encode(renderSweepReport(document)) },
  ]);
  if (raw.json) process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  else if (!raw.quiet) process.stdout.write(summary(document, modelPath, out.path, raw));
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const pct = (a: number | null) => (a === null ? '–' : `${(100 * a).toFixed(1)}%`);

function summary(doc: SweepReportDocument, modelPath: string, outDir: string, raw: RawSweepOptions): string {
  const labels = doc.points[0]?.accuracyBefore !== null;
  const heldOut = doc.points[0]?.heldOut ?? null;
  const lines = [
    `net-trim sweep ${basename(modelPath)}: ${doc.mode}, ${doc.samples.count} samples, ${doc.backend} (${doc.adapter})`,
    '',
    `${'gain'.padEnd(8)}${pad('nonzeros', 10)}${pad('kept', 8)}${pad('discrepancy', 13)}${labels ? pad('accuracy', 18) : ''}${heldOut ? pad(`held-out (${heldOut.count})`, 20) : ''}${pad('s', 7)}`,
    ...doc.points.map(
      (p) =>
        `${String(p.epsilonGain).padEnd(8)}${pad(p.nonzerosAfter, 10)}${pad(pct(p.nonzerosAfter / Math.max(1, p.nonzerosBefore)), 8)}${pad(p.relativeDiscrepancy.toPrecision(3), 13)}${labels ? pad(`${pct(p.accuracyBefore)} -> ${pct(p.accuracyAfter)}`, 18) : ''}${heldOut ? pad(p.heldOut ? `${pct(p.heldOut.accuracyBefore)} -> ${pct(p.heldOut.accuracyAfter)}` : '–', 20) : ''}${pad(p.seconds.toFixed(1), 7)}${p.layers.every((l) => l.converged) ? '' : ' (not all layers converged)'}`,
    ),
    '',
    `time: ${doc.seconds.toFixed(1)} s; wrote sweep.json, sweep.html to ${outDir}`,
    `open ${join(outDir, 'sweep.html')} in a browser; then prune at the gain you pick:`,
    `  net-trim prune ${modelPath} --samples ${raw.samples}${raw.labels ? ` --labels ${raw.labels}` : ''}${raw.maxSamples ? ` --max-samples ${raw.maxSamples}` : ''} --epsilon-gain <g> --out <dir>`,
  ];
  return lines.join('\n') + '\n';
}
