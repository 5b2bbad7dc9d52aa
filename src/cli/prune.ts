// `net-trim prune`: prune a whole TF.js or ONNX model on sample inputs, and write the pruned model
// (same format), a sparse export, report.json and report.html. Everything is checked before the
// solves; the outputs are written only after all of them succeeded (a cancelled run writes nothing).
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Command } from 'commander';
import { modelFileNames } from '../io/modelFiles.js';
import { InputError } from '../errors.js';
import { fileSizes } from '../io/fileSizes.js';
import { measureLatency, type LatencyResult } from '../io/latency.js';
import { latencyModel } from '../io/latencyFiles.js';
import type { LoadedModel } from '../io/loadedModel.js';
import { withSparseInitializers } from '../io/onnx/sparse.js';
import { exportSparse } from '../io/sparseExport.js';
import { deploymentReport, runPrune as runSearchOrPrune, serializeRun, type PruneRun } from '../report/pruneRun.js';
import { DEFAULT_EPSILON_GAIN } from '../prune/pruneNetwork.js';
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
import { nonNegativeNumber, positiveNumber } from './optionValues.js';
import { sampleShapes } from '../network/sampleShapes.js';
import { tokenVocabulary } from '../network/graph.js';
import { partVocabulary } from '../network/inputParts.js';
import { createProgress, progressStyle } from './progress.js';
import { closeDistributed, openDistributed } from './distributedOptions.js';
import { summary } from './pruneSummary.js';
import { packageVersion } from './version.js';
import { quantizeAsWritten, quantizeDtype, QUANTIZE_DTYPES } from '../io/quantize.js';

/** What prune writes besides the model files. */
const PRUNE_FILES = ['weights.sparse.safetensors', 'report.json', 'report.html'] as const;

interface RawPruneOptions extends RawNetworkOptions {
  epsilonGain?: string;
  targetSparsity?: string;
  maxAccuracyDrop?: string;
  removeUnits?: boolean;
  latency?: boolean;
  quantize?: string;
}

/** The ONNX model with its pruned kernels as sparse_initializer, written beside model.onnx when smaller. */
const SPARSE_ONNX = 'model.sparse.onnx';

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
  command
    .option('--target-sparsity <s>', 'instead of one gain, search the gain (bisection on log g, from --epsilon-gain) that removes this share, 0 < s < 1, +-1 point: of the prunable weights, or with --structured of the neurons and channels')
    .option('--max-accuracy-drop <d>', 'instead of one gain, the most pruning whose accuracy (on the held-out samples with --max-samples, else the pruning samples) drops by at most d points; needs --labels')
    .option('--remove-units', 'take the neurons and channels no layer reads any more out of the written model (default with --structured)')
    .option('--no-remove-units', 'keep every neuron and channel (the model keeps its shapes; zeros stay zeros)')
    .option('--quantize <dtype>', `TF.js models: write the dense and conv weights as ${QUANTIZE_DTYPES.join(', ')} (as tensorflowjs_converter --quantize_* stores them: 1/2, 1/2, 1/4 of the bytes), each layer pruned on the quantized layers before it; the report's numbers are the written model's`)
    .option('--latency', 'measure inference latency of the trained and pruned model side by side (onnxruntime-node for ONNX, TF.js for model.json; batch 1 and 64) and put it in the report');
  addSolverOptions(command).requiredOption('--out <dir>', "output folder (created if missing; must not be the model's own folder)");
  return addOutputFlags(command)
    .addHelpText(
      'after',
      '\nExample (the bundled MNIST model; `npm start` runs this):\n' +
        '  net-trim prune test/fixtures/mnist-mlp/model.json --samples test/fixtures/mnist-samples.npy \\\n' +
        '    --labels test/fixtures/mnist-labels.npy --max-samples 500 --epsilon-gain 0.04 --out pruned-mnist-mlp\n' +
        '\nSmaller and faster models: --structured --target-sparsity 0.5 removes half of the neurons and channels\n' +
        '(the written model has fewer units and filters); add --latency to measure the speed-up.\n' +
        '\nWrites to --out: the pruned model (model.json + weights.bin, or model.onnx, and model.sparse.onnx when\n' +
        'sparse_initializers make it smaller), weights.sparse.safetensors,\n' +
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
  const quantize = quantizeDtype(raw.quantize);
  const options = { ...parseNetworkOptions(raw), ...epsilonGains(raw.epsilonGain ?? String(DEFAULT_EPSILON_GAIN)), ...searchOptions(raw), ...(quantize ? { quantize } : {}) };
  warnAboutZeroGain([options.epsilonGain, ...Object.values(options.layerEpsilonGains)], '--epsilon-gain', raw.quiet);
  const out = await OutputFolder.open(modelPath, raw.out);
  const { model, samples, heldOut } = await loadNetworkInputs(modelPath, raw, options);
  if (quantize) quantizeAsWritten(model, quantize);
  if (options.maxAccuracyDrop !== undefined && !samples.labels) throw new InputError('--max-accuracy-drop: accuracy needs labels: pass --labels L.npy');
  const names = [...modelFileNames(model.format), ...(model.format === 'onnx' ? [SPARSE_ONNX] : []), ...PRUNE_FILES];
  await out.avoid([...model.files, raw.samples, raw.labels], names);

  // A distributed run connects (and checks its store) before any computation.
  if (options.distributed) await openDistributed(options.distributed, [...model.files, raw.samples, raw.labels]);
  const { backend, gpu } = await resolveBackend(options.backend, raw.quiet).catch(async (error) => {
    await closeDistributed(options.distributed);
    throw error;
  });
  options.backend = backend;
  const progress = createProgress(progressStyle(raw.quiet));
  let run: PruneRun;
  try {
    run = await runSearchOrPrune(model.network, samples, {
      ...commonPruneOptions(options, gpu, progress),
      epsilonGain: options.epsilonGain,
      layerEpsilonGains: options.layerEpsilonGains,
      targetSparsity: options.targetSparsity,
      maxAccuracyDrop: options.maxAccuracyDrop,
      heldOut,
      ...(options.removeUnits !== undefined ? { removeUnits: options.removeUnits } : {}),
      onTrial: (t) => {
        if (!raw.quiet) progress.log(`gain ${Number(t.gain.toPrecision(3))}: ${(100 * t.sparsity).toFixed(1)}% removed${t.accuracy === null ? '' : `, accuracy ${(100 * t.accuracy).toFixed(1)}%`}`);
      },
    });
  } finally {
    progress.stop();
    gpu?.destroy();
    await closeDistributed(options.distributed);
  }
  cancelSignal.throwIfAborted();
  const serialized = await serializeRun(run, (network, resizing) => model.serialize(network, resizing));
  run = serialized.run;
  const { result, written } = run;
  const modelFiles = serialized.files;
  const sparseOnnx = model.format === 'onnx' ? withSparseInitializers(modelFiles[0].bytes, modelPath) : null;
  const extraFiles = sparseOnnx && sparseOnnx.tensors.some((t) => t.sparseBytes < t.denseBytes) ? [{ name: SPARSE_ONNX, bytes: sparseOnnx.bytes }] : [];
  const sparse = exportSparse(written);
  const [sparseName, jsonName, htmlName] = PRUNE_FILES;
  const outputs = [...modelFiles, ...extraFiles, { name: sparseName, bytes: sparse.bytes }];
  const latency = raw.latency ? await measureModelLatency(model, modelFiles, raw.quiet) : null;
  const document: PruneReportDocument = {
    report: 'net-trim prune',
    version: packageVersion(),
    createdAt: new Date().toISOString(),
    model: { path: modelPath, format: model.format, ...(model.notes?.length ? { notes: model.notes } : {}) },
    samples: { path: raw.samples, count: samples.count },
    labels: raw.labels ?? null,
    options,
    backend: options.backend,
    adapter: gpu?.adapterDescription ?? 'CPU (float64 reference)',
    ...resultFields(model.network, result, { heldOut, modelFiles: [...modelFiles, ...extraFiles].map((f) => f.name), sparse }),
    deployment: deploymentReport(model.network, run, await fileSizes(outputs), latency),
  };
  const encode = (text: string) => new TextEncoder().encode(text);
  await out.write([
    ...outputs,
    { name: jsonName, bytes: encode(JSON.stringify(document, null, 2) + '\n') },
    { name: htmlName, bytes: encode(renderPruneReport(document)) },
  ]);
  if (raw.json) process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  else if (!raw.quiet) process.stdout.write(summary(document, basename(modelPath), out.path));
}

/** --target-sparsity and --max-accuracy-drop, checked before anything is loaded. */
function searchOptions(raw: RawPruneOptions): { targetSparsity?: number; maxAccuracyDrop?: number; removeUnits?: boolean } {
  const targetSparsity = positiveNumber(raw.targetSparsity, '--target-sparsity');
  const drop = nonNegativeNumber(raw.maxAccuracyDrop, '--max-accuracy-drop');
  if (targetSparsity !== undefined && !(targetSparsity < 1))
    throw new InputError(`--target-sparsity: expected the share to remove, a number between 0 and 1 (e.g. 0.5), found '${raw.targetSparsity}'`);
  if (drop !== undefined && drop > 100) throw new InputError(`--max-accuracy-drop: expected accuracy points between 0 and 100 (e.g. 1), found '${raw.maxAccuracyDrop}'`);
  if (targetSparsity !== undefined && drop !== undefined) throw new InputError('--target-sparsity and --max-accuracy-drop: expected one of them (each chooses the gain)');
  if (raw.epsilonGain !== undefined && raw.epsilonGain.includes('=') && (targetSparsity !== undefined || drop !== undefined))
    throw new InputError('--epsilon-gain: per-layer gains (name=g) cannot be combined with a search (--target-sparsity, --max-accuracy-drop), which sets one gain for all layers');
  return {
    ...(targetSparsity !== undefined ? { targetSparsity } : {}),
    ...(drop !== undefined ? { maxAccuracyDrop: drop / 100 } : {}),
    ...(raw.removeUnits !== undefined ? { removeUnits: raw.removeUnits } : {}),
  };
}

/** The trained model (its files as read) against the written one, side by side in its runtime. */
async function measureModelLatency(model: LoadedModel, written: { name: string; bytes: Uint8Array }[], quiet: boolean | undefined): Promise<LatencyResult> {
  if (!quiet) process.stderr.write('net-trim: measuring latency (trained vs pruned)\n');
  // ONNX: onnxruntime reads the trained model (and its data files) from disk itself.
  const trained = model.format === 'onnx' ? [] : await Promise.all(model.files.map(async (path) => ({ name: basename(path), bytes: new Uint8Array(await readFile(path)) })));
  // The runtime takes the graph's own input: the users' layout (NCHW, NCL, NHWC, NLC).
  const inputShape = sampleShapes(model.network.inputShape, model.imageLayout)[0].shape;
  const parts = model.network.inputParts;
  const inputs = parts?.map((part, k) => ({ name: part.name, shape: sampleShapes(part.shape, model.partLayouts?.[k] ?? model.imageLayout)[0].shape, values: part.values, vocabulary: partVocabulary(model.network, part) }));
  const pruned = await latencyModel('pruned', model.format, written);
  try {
    return await measureLatency(
      [{ label: 'trained', format: model.format, files: trained, ...(model.format === 'onnx' ? { path: model.path } : {}) }, pruned.model],
      { inputShape, signal: cancelSignal, vocabulary: tokenVocabulary(model.network), ...(inputs ? { inputs } : {}) },
    );
  } finally {
    await pruned.cleanup();
  }
}
