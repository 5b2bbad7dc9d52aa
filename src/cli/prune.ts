// `net-trim prune`: prune a whole TF.js or ONNX model on sample inputs, and write the pruned model
// (same format), a sparse export and a report. Everything is checked before the solves; the outputs
// are written only after all of them succeeded.
import { mkdir } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { acquireGpu } from '../gpu/device.js';
import { readNpyFile, writeFilesAtomically } from '../io/files.js';
import { loadModelFile, type LoadedModel } from '../io/modelFiles.js';
import type { NpyArray } from '../io/npy.js';
import { exportSparse } from '../io/sparseExport.js';
import { checkNetwork } from '../network/shapes.js';
import { DEFAULT_EPSILON_GAIN, DEFAULT_GAMMA, DEFAULT_KAPPA, pruneNetwork, type PruneMode, type PruneResult } from '../prune/pruneNetwork.js';
import type { Backend } from '../solver/types.js';
import { nonNegativeNumber, oneOf, positiveInteger, positiveNumber } from './optionValues.js';

interface RawPruneOptions {
  samples: string;
  labels?: string;
  mode?: string;
  epsilonGain?: string;
  gamma?: string;
  kappa?: string;
  exclude?: string;
  backend?: string;
  maxIterations?: string;
  maxSamples?: string;
  out: string;
}

export function addPruneCommand(program: Command): Command {
  return program
    .command('prune')
    .description(
      'Prune every dense and conv layer of a trained model (TF.js model.json or ONNX) so that its responses on the sample inputs stay close to the original, and write the pruned model in the same format.',
    )
    .argument('<model>', 'model.json (TF.js Layers, weight shards beside it) or model.onnx')
    .requiredOption('--samples <S.npy>', 'sample inputs: (P, ...input shape): NHWC images for TF.js, NCHW for ONNX, or (P, features) flattened')
    .option('--labels <L.npy>', 'integer class labels (P,), int32 or int64: reports accuracy before and after')
    .option('--mode <mode>', "'cascade' (layers in order, each fed the pruned network: sparser) or 'parallel' (layers independent)", 'cascade')
    .option(
      '--epsilon-gain <g>',
      'allowed discrepancy per layer: epsilon = g * ||Y||_F (in cascade: the first pruned layer); per layer with name=g, e.g. 0.03,dense_1=0.05',
      String(DEFAULT_EPSILON_GAIN),
    )
    .option('--gamma <γ>', 'cascade: epsilon of later layers = γ·||(W X̂ − Y)_Ω||, γ >= 1', String(Number(DEFAULT_GAMMA.toFixed(4))))
    .option('--kappa <κ>', 'cascade: the last layer uses κ·γ·||W X̂ − Y||, 0 < κ <= 1 (if κ < 1 proves infeasible, the κ = 1 answer is kept)', String(DEFAULT_KAPPA))
    .option('--exclude <names>', 'comma-separated layer names to leave unpruned')
    .option('--backend <name>', "'webgpu' (GPU, float32) or 'cpu' (float64 reference)", 'webgpu')
    .option('--max-iterations <n>', 'ADMM iteration limit per layer')
    .option('--max-samples <n>', 'use only the first n samples (and labels)')
    .requiredOption('--out <dir>', "output folder (created if missing; must not be the model's own folder)")
    .action(async (model: string, raw: RawPruneOptions) => runPrune(model, raw));
}

function parseOptions(raw: RawPruneOptions) {
  return {
    mode: oneOf<PruneMode>(raw.mode, '--mode', ['cascade', 'parallel'])!,
    ...epsilonGains(raw.epsilonGain ?? String(DEFAULT_EPSILON_GAIN)),
    gamma: positiveNumber(raw.gamma, '--gamma')!,
    kappa: positiveNumber(raw.kappa, '--kappa')!,
    backend: oneOf<Backend>(raw.backend, '--backend', ['webgpu', 'cpu'])!,
    maxIterations: positiveInteger(raw.maxIterations, '--max-iterations'),
    maxSamples: positiveInteger(raw.maxSamples, '--max-samples'),
    exclude: raw.exclude ? raw.exclude.split(',').map((s) => s.trim()).filter(Boolean) : [],
  };
}

/** "0.03" or "0.03,dense_1=0.05,conv_2=0.02": one gain for all layers and per-layer overrides. */
function epsilonGains(raw: string): { epsilonGain: number; layerEpsilonGains: Record<string, number> } {
  let epsilonGain = DEFAULT_EPSILON_GAIN;
  const layerEpsilonGains: Record<string, number> = {};
  for (const part of raw.split(',').map((p) => p.trim()).filter(Boolean)) {
    const at = part.indexOf('=');
    if (at < 0) epsilonGain = nonNegativeNumber(part, '--epsilon-gain')!;
    else layerEpsilonGains[part.slice(0, at).trim()] = nonNegativeNumber(part.slice(at + 1), `--epsilon-gain ${part.slice(0, at).trim()}`)!;
  }
  return { epsilonGain, layerEpsilonGains };
}

/** Samples as NHWC float data of the network's input shape. */
function samplesForNetwork(array: NpyArray, path: string, model: LoadedModel): { data: Float32Array | Float64Array; count: number } {
  if (array.dtype !== 'float32' && array.dtype !== 'float64')
    throw new InputError(`${path}: descr: expected float32 or float64 samples, found ${array.dtype}`);
  const data = array.data as Float32Array | Float64Array;
  const inputShape = model.network.inputShape;
  const perSample = inputShape.reduce((a, b) => a * b, 1);
  const [count, ...rest] = array.shape;
  const expected = `(P, ${inputShape.join(', ')})`;
  const found = `(${array.shape.join(', ')})`;
  if (count === undefined || count < 1) throw new InputError(`${path}: shape: expected ${expected} with P ≥ 1, found ${found}`);
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
  const image = inputShape.length === 3;
  const [h, w, c] = inputShape;
  if (image && model.imageLayout === 'nchw' && same(rest, [c, h, w])) {
    // ONNX users hold NCHW images; the network runs NHWC.
    const out = new Float32Array(count * perSample);
    for (let p = 0; p < count; p++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((p * h + y) * w + x) * c + ch] = data[((p * c + ch) * h + y) * w + x];
    return { data: out, count };
  }
  if (same(rest, inputShape) && !(image && model.imageLayout === 'nchw' && c !== 1)) return { data, count };
  // A flattened sample is unambiguous for vector inputs and single-channel images.
  if (rest.length === 1 && rest[0] === perSample && (!image || c === 1)) return { data, count };
  const hint = image ? (model.imageLayout === 'nchw' ? ` (NCHW: (P, ${c}, ${h}, ${w}))` : ' (NHWC)') : '';
  throw new InputError(`${path}: shape: expected ${expected}${hint} to match the model's input, found ${found}`);
}

function labelsFor(array: NpyArray, path: string, count: number): Int32Array {
  if (array.dtype !== 'int32' && array.dtype !== 'int64') throw new InputError(`${path}: descr: expected int32 or int64 labels, found ${array.dtype}`);
  if (array.shape.length !== 1 || array.shape[0] !== count)
    throw new InputError(`${path}: shape: expected (${count},) labels, one per sample, found (${array.shape.join(', ')})`);
  return Int32Array.from(array.data as ArrayLike<number | bigint>, (v) => Number(v));
}

async function runPrune(modelPath: string, raw: RawPruneOptions): Promise<void> {
  const options = parseOptions(raw);
  if (options.kappa > 1) throw new InputError(`--kappa: expected a number in (0, 1], found '${raw.kappa}'`);
  if (options.gamma < 1) throw new InputError(`--gamma: expected a number >= 1, found '${raw.gamma}'`);
  const outDir = resolve(raw.out);
  if (outDir === resolve(dirname(modelPath)))
    throw new InputError(`--out: refusing to write into the model's own folder (${outDir}): the model would be overwritten; choose another folder`);

  const model = await loadModelFile(modelPath);
  checkNetwork(model.network, modelPath);
  const all = samplesForNetwork(await readNpyFile(raw.samples), raw.samples, model);
  const allLabels = raw.labels ? labelsFor(await readNpyFile(raw.labels), raw.labels, all.count) : undefined;
  const count = Math.min(all.count, options.maxSamples ?? all.count);
  const samples = { data: all.data.subarray(0, (all.data.length / all.count) * count), count };
  const labels = allLabels?.subarray(0, count);

  const gpu = options.backend === 'webgpu' ? await acquireGpu() : undefined;
  let result: PruneResult;
  try {
    result = await pruneNetwork(model.network, { ...samples, labels }, {
      mode: options.mode,
      epsilonGain: options.epsilonGain,
      layerEpsilonGains: options.layerEpsilonGains,
      gamma: options.gamma,
      kappa: options.kappa,
      exclude: options.exclude,
      backend: options.backend,
      gpu,
      solver: options.maxIterations ? { maxIterations: options.maxIterations } : undefined,
      onLayerStart: ({ name, position, total }) => process.stderr.write(`net-trim: layer ${position + 1}/${total} '${name}'...\n`),
    });
  } finally {
    gpu?.destroy();
  }

  const modelFiles = await model.serialize(result.network);
  const sparse = exportSparse(result.network);
  const report = {
    model: { path: modelPath, format: model.format },
    samples: { path: raw.samples, count: samples.count },
    labels: raw.labels ?? null,
    options: { ...options, backend: options.backend },
    mode: result.mode,
    relativeDiscrepancy: result.relativeDiscrepancy,
    accuracyBefore: result.accuracyBefore ?? null,
    accuracyAfter: result.accuracyAfter ?? null,
    nonzerosBefore: result.nonzerosBefore,
    nonzerosAfter: result.nonzerosAfter,
    files: {
      model: modelFiles.map((f) => f.name),
      sparse: 'weights.sparse.safetensors',
      denseWeightBytes: sparse.denseBytes,
      sparseExportBytes: sparse.sparseBytes,
    },
    layers: result.layers,
    seconds: result.seconds,
  };
  await mkdir(outDir, { recursive: true });
  await writeFilesAtomically([
    ...modelFiles.map((f) => ({ path: join(outDir, f.name), bytes: f.bytes })),
    { path: join(outDir, 'weights.sparse.safetensors'), bytes: sparse.bytes },
    { path: join(outDir, 'report.json'), bytes: new TextEncoder().encode(JSON.stringify(report, null, 2) + '\n') },
  ]);
  process.stdout.write(summary(result, basename(modelPath), sparse, outDir));
}

function summary(result: PruneResult, model: string, sparse: { denseBytes: number; sparseBytes: number }, outDir: string): string {
  const pad = (s: string | number, n: number) => String(s).padStart(n);
  const lines = [
    `net-trim prune ${model} (${result.mode})`,
    `${'layer'.padEnd(14)}${pad('nonzeros before', 16)}${pad('after', 9)}${pad('epsilon', 11)}${pad('discrepancy', 13)}${pad('bound', 11)}${pad('gap', 10)}${pad('iters', 7)}`,
    ...result.layers.map(
      (l) =>
        `${l.name.padEnd(14)}${pad(l.nonzerosBefore, 16)}${pad(l.nonzerosAfter, 9)}${pad(l.epsilon.toPrecision(3), 11)}${pad(l.achievedDiscrepancy.toPrecision(3), 13)}${pad(l.consistencyBound.toPrecision(3), 11)}${pad(l.relativeDualityGap.toExponential(1), 10)}${pad(l.iterations, 7)}${l.converged ? '' : ' (not converged)'}`,
    ),
    `nonzeros ${result.nonzerosBefore} -> ${result.nonzerosAfter} (${((100 * result.nonzerosAfter) / result.nonzerosBefore).toFixed(1)}%), relative discrepancy of the outputs ${result.relativeDiscrepancy.toPrecision(3)}`,
    ...(result.accuracyBefore !== undefined ? [`accuracy ${(100 * result.accuracyBefore).toFixed(2)}% -> ${(100 * result.accuracyAfter!).toFixed(2)}%`] : []),
    `sparse export ${sparse.sparseBytes} bytes (dense float32 weights: ${sparse.denseBytes} bytes)`,
    `wrote ${outDir}`,
  ];
  return lines.join('\n') + '\n';
}
