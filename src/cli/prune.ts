// `net-trim prune`: prune a whole TF.js or ONNX model on sample inputs, and write the pruned model
// (same format), a sparse export, report.json and report.html. Everything is checked before the
// solves; the outputs are written only after all of them succeeded (a cancelled run writes nothing).
import { basename, join } from 'node:path';
import type { Command } from 'commander';
import { modelFileNames } from '../io/modelFiles.js';
import { exportSparse } from '../io/sparseExport.js';
import { DEFAULT_EPSILON_GAIN, pruneNetwork, type PruneResult } from '../prune/pruneNetwork.js';
import { resultFields, type PruneReportDocument } from '../report/document.js';
import { renderPruneReport } from '../report/html.js';
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

/** What prune writes besides the model files. */
const PRUNE_FILES = ['weights.sparse.safetensors', 'report.json', 'report.html'] as const;

interface RawPruneOptions extends RawNetworkOptions {
  epsilonGain?: string;
}

export function addPruneCommand(program: Command): Command {
  const command = program
    .command('prune')
    .summary('prune every dense and conv layer of a trained model and write the pruned model and a report')
    .description(
      'Prune every dense and conv layer of a trained model (TF.js model.json or ONNX) so that its responses on the sample inputs stay close to the original, and write the pruned model in the same format, a sparse export, report.json and report.html.',
    );
  addInputOptions(command).option(
    '--epsilon-gain <g>',
    'allowed discrepancy per layer: epsilon = g * ||Y||_F (in cascade: the first pruned layer); per layer with name=g, e.g. 0.03,dense_1=0.05',
    String(DEFAULT_EPSILON_GAIN),
  );
  addSolverOptions(command).requiredOption('--out <dir>', "output folder (created if missing; must not be the model's own folder)");
  return addOutputFlags(command)
    .addHelpText(
      'after',
      '\nExample (the bundled MNIST model; `npm start` runs this):\n' +
        '  net-trim prune test/fixtures/mnist-mlp/model.json --samples test/fixtures/mnist-samples.npy \\\n' +
        '    --labels test/fixtures/mnist-labels.npy --max-samples 500 --epsilon-gain 0.04 --out pruned-mnist-mlp\n' +
        '\nWrites to --out: the pruned model (model.json + weights.bin, or model.onnx), weights.sparse.safetensors,\n' +
        'report.json and report.html (open it in a browser). Progress goes to stderr: bars on a terminal, lines otherwise.',
    )
    .action(async (model: string, raw: RawPruneOptions) => runPrune(model, raw));
}

/** "0.03" or "0.03,dense_1=0.05,conv_2=0.02": one gain for all layers and per-layer overrides. */
export function epsilonGains(raw: string): { epsilonGain: number; layerEpsilonGains: Record<string, number> } {
  let epsilonGain = DEFAULT_EPSILON_GAIN;
  const layerEpsilonGains: Record<string, number> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at < 0) epsilonGain = nonNegativeNumber(part, '--epsilon-gain')!;
    else layerEpsilonGains[part.slice(0, at).trim()] = nonNegativeNumber(part.slice(at + 1), `--epsilon-gain ${part.slice(0, at).trim()}`)!;
  }
  return { epsilonGain, layerEpsilonGains };
}

async function runPrune(modelPath: string, raw: RawPruneOptions): Promise<void> {
  const options = { ...parseNetworkOptions(raw), ...epsilonGains(raw.epsilonGain ?? String(DEFAULT_EPSILON_GAIN)) };
  warnAboutZeroGain([options.epsilonGain, ...Object.values(options.layerEpsilonGains)], '--epsilon-gain', raw.quiet);
  const out = await OutputFolder.open(modelPath, raw.out);
  const { model, samples, heldOut } = await loadNetworkInputs(modelPath, raw, options);
  await out.avoid([...model.files, raw.samples, raw.labels], [...modelFileNames(model.format), ...PRUNE_FILES]);

  const { backend, gpu } = await resolveBackend(options.backend, raw.quiet);
  options.backend = backend;
  const progress = createProgress(progressStyle(raw.quiet));
  let result: PruneResult;
  try {
    result = await pruneNetwork(model.network, samples, {
      ...commonPruneOptions(options, gpu, progress),
      epsilonGain: options.epsilonGain,
      layerEpsilonGains: options.layerEpsilonGains,
    });
  } finally {
    progress.stop();
    gpu?.destroy();
  }
  cancelSignal.throwIfAborted();

  const modelFiles = await model.serialize(result.network);
  const sparse = exportSparse(result.network);
  const document: PruneReportDocument = {
    report: 'net-trim prune',
    version: packageVersion(),
    createdAt: new Date().toISOString(),
    model: { path: modelPath, format: model.format },
    samples: { path: raw.samples, count: samples.count },
    labels: raw.labels ?? null,
    options,
    backend: options.backend,
    adapter: gpu?.adapterDescription ?? 'CPU (float64 reference)',
    ...resultFields(model.network, result, { heldOut, modelFiles: modelFiles.map((f) => f.name), sparse }),
  };
  const encode = (text: string) => new TextEncoder().encode(text);
  const [sparseName, jsonName, htmlName] = PRUNE_FILES;
  await out.write([
    ...modelFiles,
    { name: sparseName, bytes: sparse.bytes },
    { name: jsonName, bytes: encode(JSON.stringify(document, null, 2) + '\n') },
    { name: htmlName, bytes: encode(renderPruneReport(document)) },
  ]);
  if (raw.json) process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  else if (!raw.quiet) process.stdout.write(summary(document, basename(modelPath), out.path));
}

const pad = (s: string | number, n: number) => String(s).padStart(n);
const pct = (a: number) => `${(100 * a).toFixed(1)}%`;

function summary(doc: PruneReportDocument, model: string, outDir: string): string {
  const lines = [
    `net-trim prune ${model}: ${doc.mode}, epsilon gain ${doc.options.epsilonGain}, ${doc.samples.count} samples, ${doc.backend} (${doc.adapter})`,
    '',
    `${'layer'.padEnd(14)}${pad('nonzeros', 10)}${pad('after', 9)}${pad('kept', 8)}${pad('epsilon', 10)}${pad('discrepancy', 13)}${pad('bound', 9)}${pad('rel. gap', 10)}${pad('iters', 7)}${pad('s', 7)}`,
    ...doc.layers.map(
      (l) =>
        `${l.name.padEnd(14)}${pad(l.nonzerosBefore, 10)}${pad(l.nonzerosAfter, 9)}${pad(pct(l.nonzerosAfter / Math.max(1, l.nonzerosBefore)), 8)}${pad(l.epsilon.toPrecision(3), 10)}${pad(l.achievedDiscrepancy.toPrecision(3), 13)}${pad(l.consistencyBound === null ? '–' : l.consistencyBound.toPrecision(3), 9)}${pad(l.relativeDualityGap.toExponential(1), 10)}${pad(l.iterations, 7)}${pad(l.seconds.toFixed(1), 7)}${l.converged ? '' : ' (not converged)'}`,
    ),
    `${'total'.padEnd(14)}${pad(doc.nonzerosBefore, 10)}${pad(doc.nonzerosAfter, 9)}${pad(pct(doc.nonzerosAfter / Math.max(1, doc.nonzerosBefore)), 8)}`,
    '',
    `relative discrepancy of the outputs: ${doc.relativeDiscrepancy.toPrecision(3)}`,
    ...(doc.accuracyBefore !== null && doc.accuracyAfter !== null
      ? [`accuracy on the ${doc.samples.count} pruning samples: ${pct(doc.accuracyBefore)} -> ${pct(doc.accuracyAfter)}`]
      : []),
    ...(doc.heldOut ? [`accuracy on ${doc.heldOut.count} held-out samples: ${pct(doc.heldOut.accuracyBefore)} -> ${pct(doc.heldOut.accuracyAfter)}`] : []),
    `sparse export: ${doc.files.sparseExportBytes} bytes (dense float32 weights: ${doc.files.denseWeightBytes} bytes)`,
    `time: ${doc.seconds.toFixed(1)} s`,
    `wrote ${[...doc.files.model, doc.files.sparse, ...doc.files.report].join(', ')} to ${outDir}`,
    `open ${join(outDir, 'report.html')} in a browser for the plots`,
  ];
  return lines.join('\n') + '\n';
}
