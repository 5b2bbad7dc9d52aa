// `net-trim layer`: prune one dense layer from its input and output activations saved as .npy.
// Everything the user gave is checked before the (possibly long) solve, and the outputs are
// written only after it succeeded, all or none.
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError } from '../errors.js';
import { assertWritable, readNpyFile, writeFilesAtomically, type FileToWrite } from '../io/files.js';
import { OutputGuard } from '../io/outputGuard.js';
import { npyToMatrix, serializeNpy } from '../io/npy.js';
import { DEFAULTS } from '../solver/problem.js';
import { solveLayer } from '../solver/solveLayer.js';
import type { Activation, Matrix, SolveLayerResult } from '../solver/types.js';
import { cancelSignal, trace } from './cancel.js';
import { addOutputFlags, CLI_BACKENDS, resolveBackend, type CliBackend } from './modelInputs.js';
import { nonNegativeNumber, oneOf, positiveInteger, positiveNumber } from './optionValues.js';
import { createProgress, progressStyle } from './progress.js';

const ACTIVATIONS: readonly Activation[] = ['relu', 'linear'];
const DEFAULT_ACTIVATION: Activation = DEFAULTS.activation;
const DEFAULT_BACKEND: CliBackend = 'auto';
const DEFAULT_EPSILON_GAIN = DEFAULTS.epsilonGain;

/** The options as commander hands them over (strings, unvalidated). */
interface RawLayerOptions {
  input: string;
  target: string;
  activation?: string;
  epsilonGain?: string;
  epsilon?: string;
  rho?: string;
  maxIterations?: string;
  tolerance?: string;
  gapTolerance?: string;
  backend?: string;
  bias: boolean;
  outWeights: string;
  outBias?: string;
  report?: string;
  quiet?: boolean;
  json?: boolean;
}

/** Validated options; undefined numbers mean "the solver's default". */
interface LayerJob {
  inputPath: string;
  targetPath: string;
  activation: Activation;
  epsilon?: number;
  epsilonGain?: number;
  rho?: number;
  maxIterations?: number;
  tolerance?: number;
  gapTolerance?: number;
  backend: CliBackend;
  bias: boolean;
  weightsPath: string;
  biasPath?: string;
  reportPath?: string;
  quiet: boolean;
  json: boolean;
}

interface LoadedMatrix {
  path: string;
  dtype: 'float32' | 'float64';
  matrix: Matrix;
}

export function addLayerCommand(program: Command): Command {
  const command = program
    .command('layer')
    .summary('prune one dense layer from its input and output activations')
    .description(
      'Prune one dense layer: find the sparsest weights (and bias) whose responses on the sample ' +
        'inputs X stay within epsilon of the trained layer outputs Y (Net-Trim, one convex program). ' +
        'X and Y are .npy files with one sample per row (C order, float32 or float64).',
    )
    .requiredOption('--input <X.npy>', 'layer inputs on P samples: a P x N array')
    .requiredOption('--target <Y.npy>', "trained layer outputs on the same samples: a P x M array (after the ReLU for 'relu')")
    .option('--activation <name>', `'relu' (Y is a ReLU output, so Y >= 0) or 'linear' (Y is a pre-activation, e.g. logits) (default: ${DEFAULT_ACTIVATION})`)
    .option('--epsilon-gain <g>', `allowed output discrepancy relative to Y: epsilon = g * ||Y||_F, g >= 0 (default: ${DEFAULT_EPSILON_GAIN})`)
    .option('--epsilon <e>', 'allowed output discrepancy ||XW + b - Y||_F (on the active set for relu) in absolute units, >= 0; instead of --epsilon-gain')
    .option('--rho <r>', `initial ADMM penalty (the soft threshold is 1/rho), > 0; adapted during the solve by residual balancing (default: ${DEFAULTS.rho})`)
    .option('--max-iterations <n>', `iteration limit, a positive integer; convergence is checked every ${DEFAULTS.checkEvery} iterations (default: ${DEFAULTS.maxIterations})`)
    .option('--tolerance <t>', `relative tolerance of the primal and dual residuals, > 0 (default: ${DEFAULTS.tolerances.relative}; absolute ${DEFAULTS.tolerances.absolute}, and the answer must meet epsilon within ${DEFAULTS.tolerances.feasibility * 100}%)`)
    .option('--gap-tolerance <g>', `converged only when the relative duality gap is at most this, > 0 (default: ${DEFAULTS.tolerances.gap})`)
    .option('--backend <name>', `'auto' (WebGPU when an adapter is found, else the CPU), 'webgpu' (GPU, float32; exit 3 without an adapter) or 'cpu' (float64 reference) (default: ${DEFAULT_BACKEND})`)
    .option('--no-bias', 'fit no bias (by default a bias is fitted and counts in the sparsity objective)')
    .requiredOption('--out-weights <W.npy>', 'where to write the pruned weights: an N x M float32 array')
    .option('--out-bias <b.npy>', 'where to write the fitted bias: an (M,) float32 array')
    .option('--report <report.json>', 'where to write the report: checks of the result, the options and the input files');
  return addOutputFlags(command)
    .addHelpText(
      'after',
      '\nRows and columns in messages are 0-based, as in NumPy (Y[3, 7] is row 3, column 7).\n' +
        'Outputs are written only after a successful solve, all together; inputs are never modified.',
    )
    .action(async (raw: RawLayerOptions) => {
      await runLayer(raw);
    });
}

function validateOptions(raw: RawLayerOptions): LayerJob {
  if (raw.epsilon !== undefined && raw.epsilonGain !== undefined)
    throw new InputError('--epsilon and --epsilon-gain: expected at most one of them, found both');
  if (!raw.bias && raw.outBias !== undefined)
    throw new InputError('--out-bias and --no-bias: expected at most one of them (--no-bias fits no bias to write), found both');
  const epsilon = nonNegativeNumber(raw.epsilon, '--epsilon');
  return {
    inputPath: raw.input,
    targetPath: raw.target,
    activation: oneOf(raw.activation, '--activation', ACTIVATIONS) ?? DEFAULT_ACTIVATION,
    epsilon,
    epsilonGain: epsilon === undefined ? (nonNegativeNumber(raw.epsilonGain, '--epsilon-gain') ?? DEFAULT_EPSILON_GAIN) : undefined,
    rho: positiveNumber(raw.rho, '--rho'),
    maxIterations: positiveInteger(raw.maxIterations, '--max-iterations'),
    tolerance: positiveNumber(raw.tolerance, '--tolerance'),
    gapTolerance: positiveNumber(raw.gapTolerance, '--gap-tolerance'),
    backend: oneOf(raw.backend, '--backend', CLI_BACKENDS) ?? DEFAULT_BACKEND,
    bias: raw.bias,
    weightsPath: raw.outWeights,
    biasPath: raw.outBias,
    reportPath: raw.report,
    quiet: Boolean(raw.quiet),
    json: Boolean(raw.json),
  };
}

/** Outputs must not overwrite the inputs or each other. */
function checkDistinctPaths(job: LayerJob): void {
  const seen = new Map<string, string>([
    [resolve(job.inputPath), '--input'],
    [resolve(job.targetPath), '--target'],
  ]);
  const outputs: [string, string | undefined][] = [
    ['--out-weights', job.weightsPath],
    ['--out-bias', job.biasPath],
    ['--report', job.reportPath],
  ];
  for (const [option, path] of outputs) {
    if (path === undefined) continue;
    const other = seen.get(resolve(path));
    if (other) throw new InputError(`${option}: expected a path other than the ${other} file, found the same path ${path}`);
    seen.set(resolve(path), option);
  }
}

async function loadMatrix(path: string, description: string): Promise<LoadedMatrix> {
  const array = await readNpyFile(path, { dtypes: ['float32', 'float64'] });
  const matrix = npyToMatrix(array, path, description);
  if (matrix.rows < 1 || matrix.cols < 1)
    throw new InputError(`${path}: shape: expected at least one row and one column, found shape (${matrix.rows}, ${matrix.cols})`);
  return { path, dtype: array.dtype as LoadedMatrix['dtype'], matrix };
}

function checkReluTarget(target: LoadedMatrix): void {
  const { cols, data } = target.matrix;
  const index = data.findIndex((value) => value < 0);
  if (index >= 0)
    throw new InputError(
      `${target.path}: data: expected values >= 0 for --activation relu (Y is the layer's output after the ReLU), ` +
        `found ${data[index]} at row ${Math.floor(index / cols)}, column ${index % cols} (use --activation linear for a pre-activation)`,
    );
}

async function loadInputs(job: LayerJob): Promise<{ X: LoadedMatrix; Y: LoadedMatrix }> {
  const X = await loadMatrix(job.inputPath, 'samples x inputs');
  const Y = await loadMatrix(job.targetPath, 'samples x outputs');
  if (X.matrix.rows !== Y.matrix.rows)
    throw new InputError(`${X.path} has ${X.matrix.rows} samples (rows) but ${Y.path} has ${Y.matrix.rows}: expected the same number`);
  if (job.activation === 'relu') checkReluTarget(Y);
  return { X, Y };
}

/** The report: checks of the result, the inputs, the options and the outputs. */
function reportDocument(job: LayerJob, X: LoadedMatrix, Y: LoadedMatrix, result: SolveLayerResult) {
  const { bias, report } = result;
  const { history, ...checks } = report;
  return {
    ...checks,
    inputs: {
      input: { path: X.path, dtype: X.dtype, shape: [X.matrix.rows, X.matrix.cols] },
      target: { path: Y.path, dtype: Y.dtype, shape: [Y.matrix.rows, Y.matrix.cols] },
    },
    // null: the solver's default was used.
    options: {
      activation: job.activation,
      epsilon: job.epsilon ?? null,
      epsilonGain: job.epsilonGain ?? null,
      rho: job.rho ?? null,
      maxIterations: job.maxIterations ?? null,
      tolerance: job.tolerance ?? null,
      gapTolerance: job.gapTolerance ?? null,
      backend: job.backend,
      bias: job.bias,
    },
    outputs: { weights: job.weightsPath, bias: bias && job.biasPath !== undefined ? job.biasPath : null, report: job.reportPath ?? null },
    history,
  };
}

function outputFiles(job: LayerJob, document: ReturnType<typeof reportDocument>, result: SolveLayerResult): FileToWrite[] {
  const { weights, bias } = result;
  const files: FileToWrite[] = [
    {
      path: job.weightsPath,
      bytes: serializeNpy({ shape: [weights.rows, weights.cols], dtype: 'float32', data: Float32Array.from(weights.data) }),
    },
  ];
  if (job.biasPath !== undefined && bias) files.push({ path: job.biasPath, bytes: serializeNpy({ shape: [bias.length], dtype: 'float32', data: bias }) });
  if (job.reportPath !== undefined) files.push({ path: job.reportPath, bytes: new TextEncoder().encode(JSON.stringify(document, null, 2) + '\n') });
  return files;
}

/** A number in 4 significant digits, in exponent form when very small or large. */
function formatNumber(value: number): string {
  if (value === 0 || !Number.isFinite(value)) return String(value);
  const magnitude = Math.abs(value);
  return magnitude >= 1e-3 && magnitude < 1e5 ? String(Number(value.toPrecision(4))) : value.toExponential(3);
}

function summary(result: SolveLayerResult, files: readonly FileToWrite[]): string {
  const r = result.report;
  const entries = (r.rows + (result.bias ? 1 : 0)) * r.columns;
  const lines = [
    `net-trim layer: ${r.rows} inputs${result.bias ? ' + bias' : ''} -> ${r.columns} outputs, ${r.samples} samples, ${r.activation}, ${r.backend} (${r.adapter})`,
    `  nonzeros              ${r.nonzeros} of ${entries} (density ${(100 * r.density).toFixed(2)}%)`,
    `  constraint residual   ${formatNumber(r.constraintResidual)} (epsilon ${formatNumber(r.epsilon)})`,
    `  relative output error ${formatNumber(r.relativeOutputError)}`,
    `  duality gap           ${formatNumber(r.dualityGap)} (relative ${formatNumber(r.relativeDualityGap)})`,
    `  iterations            ${r.iterations}${r.float64FinishIterations ? ` (the last ${r.float64FinishIterations} in float64 on the CPU)` : ''}, ${r.converged ? 'converged' : `NOT converged: ${r.statusReason} (raise --max-iterations)`}`,
    `  time                  ${r.seconds.toFixed(2)} s`,
    `wrote ${files.map((f) => f.path).join(', ')}`,
  ];
  return lines.join('\n') + '\n';
}

async function runLayer(raw: RawLayerOptions): Promise<void> {
  const job = validateOptions(raw);
  checkDistinctPaths(job);
  trace('loading');
  const { X, Y } = await loadInputs(job);
  // No output on an input, through links or hard links included (checked again before writing).
  const guard = await OutputGuard.of([job.inputPath, job.targetPath]);
  const outputs: [string, string | undefined][] = [
    ['--out-weights', job.weightsPath],
    ['--out-bias', job.biasPath],
    ['--report', job.reportPath],
  ];
  for (const [option, path] of outputs)
    if (path !== undefined) {
      await assertWritable(path);
      await guard.check(path, option);
    }
  if (job.bias && job.biasPath === undefined && !job.quiet)
    process.stderr.write('net-trim: warning: a bias is fitted but not saved: add --out-bias b.npy to save it, or --no-bias to fit none\n');

  const { backend, gpu } = await resolveBackend(job.backend, job.quiet);
  job.backend = backend;
  const progress = createProgress(progressStyle(job.quiet));
  const entries = (X.matrix.cols + (job.bias ? 1 : 0)) * Y.matrix.cols;
  trace('setup layer');
  progress.start('layer', 0, 1);
  let result: SolveLayerResult;
  try {
    result = await solveLayer({
      X: X.matrix,
      Y: Y.matrix,
      activation: job.activation,
      epsilon: job.epsilon,
      epsilonGain: job.epsilonGain,
      bias: job.bias,
      rho: job.rho,
      maxIterations: job.maxIterations,
      tolerances: {
        ...(job.tolerance === undefined ? {} : { relative: job.tolerance }),
        ...(job.gapTolerance === undefined ? {} : { gap: job.gapTolerance }),
      },
      backend,
      gpu,
      onProgress: (p) => {
        trace(`iterations layer ${p.iteration}`);
        progress.update('layer', p);
      },
      signal: cancelSignal,
    });
    const r = result.report;
    progress.done('layer', { nonzerosBefore: entries, nonzerosAfter: r.nonzeros, iterations: r.iterations, float64FinishIterations: r.float64FinishIterations, converged: r.converged, seconds: r.seconds });
  } finally {
    progress.stop();
    gpu?.destroy();
  }
  cancelSignal.throwIfAborted();

  const document = reportDocument(job, X, Y, result);
  const files = outputFiles(job, document, result);
  trace('writing');
  const targets = [];
  for (const file of files) targets.push({ path: await guard.check(file.path, 'output'), bytes: file.bytes });
  await writeFilesAtomically(targets, cancelSignal);
  if (job.json) process.stdout.write(JSON.stringify(document, null, 2) + '\n');
  else if (!job.quiet) process.stdout.write(summary(result, files));
}
