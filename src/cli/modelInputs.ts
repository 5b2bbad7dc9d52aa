// What `net-trim prune` and `net-trim sweep` share: their common options (same names, same
// defaults, same checks), loading the model, samples and labels, the held-out accuracy, and the GPU.
import { constants } from 'node:fs';
import { access, mkdir, rmdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { InputError, NoAdapterError } from '../errors.js';
import { acquireGpu, type GpuRuntime } from '../gpu/device.js';
import { pendingFolders, readNpyFile, writeFilesAtomically } from '../io/files.js';
import { loadModelForSamples, type LoadedModel } from '../io/modelFiles.js';
import { makeFolder, OutputGuard, realPathToBe, refuseFolders } from '../io/outputGuard.js';
import { labelsForModel, labelsForSamples, samplesForModel } from '../io/samples.js';
import { checkNetwork } from '../network/graph.js';
import { DEFAULT_GAMMA, DEFAULT_KAPPA, type PruneMode, type PruneOptions } from '../prune/pruneNetwork.js';
import { DEFAULTS } from '../solver/problem.js';
import type { Backend } from '../solver/types.js';
import { cancelSignal, trace } from './cancel.js';
import { distributedSolver, parseDistributedOption, queueOption, storeOption, type DistributedOption } from './distributedOptions.js';
import type { Progress } from './progress.js';
import { axisSizes, collect, oneOf, positiveInteger, positiveNumber } from './optionValues.js';

/** The options as commander hands them over (strings, unvalidated). */
export interface RawNetworkOptions {
  samples: string;
  dim?: string[];
  labels?: string;
  mode?: string;
  structured?: boolean;
  columnBlocks?: string;
  gamma?: string;
  kappa?: string;
  exclude?: string;
  backend?: string;
  rho?: string;
  maxIterations?: string;
  tolerance?: string;
  gapTolerance?: string;
  maxSamples?: string;
  out: string;
  quiet?: boolean;
  json?: boolean;
  queue?: string;
  store?: string;
}

export interface NetworkOptions {
  mode: PruneMode;
  structured: boolean;
  columnBlocks: number;
  gamma: number;
  kappa: number;
  exclude: string[];
  /** 'auto' until resolveBackend has looked for an adapter. */
  backend: CliBackend;
  rho?: number;
  maxIterations?: number;
  tolerance?: number;
  gapTolerance?: number;
  maxSamples?: number;
  /** --dim: sizes of the model's open input axes, by name. */
  dims?: Record<string, number>;
  /** --queue and --store: the layers are solved by `net-trim worker` processes. */
  distributed?: DistributedOption;
}

export const DIM_HELP = "the size of an input axis the model leaves open besides the batch (ONNX's dynamic 'sequence_length', 'height'), by its name; repeat or comma-separate. The written model keeps them open";

/** The model and its samples: the argument and first options of prune and sweep. */
export function addInputOptions(command: Command): Command {
  return command
    .argument('<model>', 'model.json (TF.js Layers, weight shards beside it) or model.onnx')
    .requiredOption('--samples <S.npy>', 'sample inputs: (P, ...input shape): NHWC images for TF.js, NCHW for ONNX, or (P, features) flattened; for a model of several inputs an .npz of one array per input, by name (`net-trim inspect` prints the shapes a model takes)')
    .option('--dim <name=size>', `${DIM_HELP}. Without it the samples' shape fixes them`, collect)
    .option('--labels <L.npy>', 'integer class labels (P,), int32 or int64: reports accuracy before and after')
    .option('--max-samples <n>', 'prune on the first n samples only; with --labels, the accuracy on the rest (held out) is reported too');
}

/** How each layer is pruned and solved: the same names, help and defaults on prune and sweep. */
export function addSolverOptions(command: Command): Command {
  return command
    .option('--mode <mode>', "'cascade' (layers in order, each fed the pruned network: sparser) or 'parallel' (layers independent)", 'cascade')
    .option('--gamma <γ>', 'cascade: epsilon of later layers = γ·||(W X̂ − Y)_Ω||, γ >= 1', String(Number(DEFAULT_GAMMA.toFixed(4))))
    .option('--kappa <κ>', 'cascade: the last layer uses κ·γ·||W X̂ − Y||, 0 < κ <= 1 (if κ < 1 proves infeasible, the κ = 1 answer is kept)', String(DEFAULT_KAPPA))
    .option('--structured', 'group-sparse Net-Trim: minimize the sum over inputs of each input\'s weight norm, removing whole neurons and channels of the layer before (instead of single weights)')
    .option('--column-blocks <B>', 'solve each layer as B programs over blocks of its outputs, each within g·||Y_b|| (the same bound for the layer, a little more l1): programs for several GPUs', '1')
    .option('--exclude <names>', 'comma-separated layer names to leave unpruned')
    .option('--backend <name>', "'auto' (WebGPU when an adapter is found, else the CPU), 'webgpu' (GPU, float32; exit 3 without an adapter) or 'cpu' (float64 reference: slower, needs no GPU)", 'auto')
    .option('--rho <r>', 'initial ADMM penalty (the soft threshold is 1/rho), > 0; adapted during each solve', String(DEFAULTS.rho))
    .option('--max-iterations <n>', `ADMM iteration limit per layer (convergence is checked every ${DEFAULTS.checkEvery})`, String(DEFAULTS.maxIterations))
    .option('--tolerance <t>', 'relative tolerance of the primal and dual residuals, > 0', String(DEFAULTS.tolerances.relative))
    .option('--gap-tolerance <g>', 'a layer counts as converged only when its relative duality gap (how far its l1 can be from the optimum) is at most this, > 0', String(DEFAULTS.tolerances.gap))
    .addOption(queueOption())
    .addOption(storeOption());
}

/** What to print: the same flags on every command. */
export function addOutputFlags(command: Command): Command {
  return command
    .option('--quiet', 'print nothing but errors (no progress, no summary)')
    .option('--json', 'print the report as JSON on stdout instead of the summary (progress still goes to stderr unless --quiet)');
}

export function parseNetworkOptions(raw: RawNetworkOptions): NetworkOptions {
  const options: NetworkOptions = {
    mode: oneOf<PruneMode>(raw.mode ?? 'cascade', '--mode', ['cascade', 'parallel'])!,
    structured: raw.structured === true,
    columnBlocks: positiveInteger(raw.columnBlocks ?? '1', '--column-blocks')!,
    gamma: positiveNumber(raw.gamma ?? String(DEFAULT_GAMMA), '--gamma')!,
    kappa: positiveNumber(raw.kappa ?? String(DEFAULT_KAPPA), '--kappa')!,
    exclude: raw.exclude ? raw.exclude.split(',').map((s) => s.trim()).filter(Boolean) : [],
    backend: oneOf<CliBackend>(raw.backend ?? 'auto', '--backend', CLI_BACKENDS)!,
    rho: positiveNumber(raw.rho, '--rho'),
    maxIterations: positiveInteger(raw.maxIterations, '--max-iterations'),
    tolerance: positiveNumber(raw.tolerance, '--tolerance'),
    gapTolerance: positiveNumber(raw.gapTolerance, '--gap-tolerance'),
    maxSamples: positiveInteger(raw.maxSamples, '--max-samples'),
    dims: axisSizes(raw.dim),
  };
  const distributed = parseDistributedOption(raw, options.mode);
  if (distributed) options.distributed = distributed;
  if (options.kappa > 1) throw new InputError(`--kappa: expected a number in (0, 1], found '${raw.kappa}'`);
  if (options.gamma < 1) throw new InputError(`--gamma: expected a number >= 1, found '${raw.gamma}'`);
  return options;
}

/**
 * A warning line for epsilon gains of 0: every layer must then reproduce its trained outputs
 * exactly, which a float32 solve cannot certify and which keeps most weights (allowed: it is the
 * exact-recovery program of the theory, net-trim.md §5).
 */
export function warnAboutZeroGain(gains: readonly number[], option: string, quiet: boolean | undefined): void {
  if (!quiet && gains.some((g) => g === 0))
    process.stderr.write(`net-trim: warning: ${option} 0 asks for the trained outputs exactly: expect little pruning and, in float32, solves that do not converge; a gain such as 0.001 keeps nearly the same outputs\n`);
}

/** The solver settings of PruneOptions from the command-line options. */
export function solverOptions(options: NetworkOptions): PruneOptions['solver'] {
  return {
    ...(options.rho !== undefined ? { rho: options.rho } : {}),
    ...(options.maxIterations !== undefined ? { maxIterations: options.maxIterations } : {}),
    tolerances: {
      ...(options.tolerance !== undefined ? { relative: options.tolerance } : {}),
      ...(options.gapTolerance !== undefined ? { gap: options.gapTolerance } : {}),
    },
  };
}

/**
 * The pruneNetwork options every command derives the same way from its parsed options: scheme,
 * γ, κ, exclusions, backend, solver knobs, Ctrl-C cancelling and the progress display.
 */
export function commonPruneOptions(options: NetworkOptions, gpu: GpuRuntime | undefined, progress: Progress): PruneOptions {
  return {
    mode: options.mode,
    gamma: options.gamma,
    kappa: options.kappa,
    exclude: options.exclude,
    ...(options.structured ? { structure: 'inputs' as const } : {}),
    ...(options.columnBlocks > 1 ? { columnBlocks: options.columnBlocks } : {}),
    backend: gpu ? 'webgpu' : 'cpu',
    gpu,
    solver: solverOptions(options),
    signal: cancelSignal,
    ...(options.distributed ? { solveProgram: distributedSolver(options.distributed) } : {}),
    onForwardPass: () => trace('forward pass'),
    onLayerStart: (e) => {
      trace(`setup ${e.name}`);
      progress.start(e.name, e.position, e.total);
    },
    onProgress: (e) => {
      trace(`iterations ${e.name} ${e.iteration}`);
      progress.update(e.name, e);
    },
    onLayerDone: (e) => progress.done(e.name, e),
  };
}

/**
 * The output folder of prune and sweep, checked before any solve: not a file, it or its nearest
 * existing parent writable, not the model's own folder (after links), and none of the files to be
 * written there an input (OutputGuard: real paths and inodes). The folder is made, and every check
 * run again, only when the outputs are written, so a failed or cancelled run creates nothing.
 */
export class OutputFolder {
  private guard: OutputGuard | null = null;

  private constructor(
    readonly path: string,
    private readonly modelPath: string,
  ) {}

  static async open(modelPath: string, out: string): Promise<OutputFolder> {
    const folder = new OutputFolder(resolve(out), modelPath);
    const { existing, missing } = await folder.checkFolder();
    const info = await stat(existing).catch(() => null);
    if (info && !info.isDirectory()) throw new InputError(`--out ${out}: expected a folder, found a file at ${existing}`);
    try {
      await access(existing, constants.W_OK);
    } catch {
      throw new InputError(`--out ${out}: cannot write: permission denied on ${existing}`);
    }
    if (missing.length > 0) {
      // Permission bits do not tell whether a folder can be made there (/proc as root): try, and undo.
      const probe = join(existing, missing[0]);
      try {
        await mkdir(probe);
        await rmdir(probe);
      } catch (error) {
        throw new InputError(`--out ${out}: cannot create the folder ${probe}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
      }
    }
    return folder;
  }

  private async checkFolder(): Promise<{ existing: string; missing: string[] }> {
    await refuseFolders(this.path, '--out', [{ folder: dirname(this.modelPath), reason: "the model's own folder (the model would be overwritten)" }]);
    return realPathToBe(this.path, '--out');
  }

  /** Refuses (InputError) if any of `names` in the folder is one of `inputs` (after links, by inode). */
  async avoid(inputs: ReadonlyArray<string | undefined>, names: readonly string[]): Promise<void> {
    this.guard = await OutputGuard.of(inputs);
    for (const name of names) await this.guard.check(join(this.path, name), '--out');
  }

  /** Makes the folder, checks again, and writes `files` into it atomically (all or none). */
  async write(files: ReadonlyArray<{ name: string; bytes: Uint8Array }>): Promise<void> {
    trace('writing');
    cancelSignal.throwIfAborted();
    await this.checkFolder();
    const made = await makeFolder(this.path, '--out');
    pendingFolders.push(...made);
    try {
      const guard = this.guard ?? (await OutputGuard.of([]));
      const targets = [];
      for (const file of files) targets.push({ path: await guard.check(join(this.path, file.name), '--out'), bytes: file.bytes });
      await writeFilesAtomically(targets, cancelSignal);
    } catch (error) {
      // Nothing written: the folders made for the outputs go too (they are empty).
      for (const folder of made.reverse()) await rmdir(folder).catch(() => {});
      throw error;
    } finally {
      pendingFolders.splice(0);
    }
  }
}

export interface Samples {
  data: Float32Array | Float64Array;
  count: number;
  labels?: Int32Array;
}

export interface NetworkInputs {
  model: LoadedModel;
  /** The samples the pruning sees (the first --max-samples). */
  samples: Samples;
  /** The rest of the samples file, with labels: only to measure accuracy on unseen inputs. */
  heldOut: Samples | null;
}

export async function loadNetworkInputs(modelPath: string, raw: RawNetworkOptions, options: NetworkOptions): Promise<NetworkInputs> {
  trace('loading');
  const { model, arrays } = await loadModelForSamples(modelPath, raw.samples, options.dims);
  checkNetwork(model.network, modelPath);
  const all = samplesForModel(arrays, model, raw.samples);
  const classes = checkNetwork(model.network).at(-1)!.reduce((a, b) => a * b, 1);
  if (raw.labels) labelsForModel(model.network, raw.labels);
  const labels = raw.labels ? labelsForSamples(await readNpyFile(raw.labels), raw.labels, all, classes) : undefined;
  const count = Math.min(all.count, options.maxSamples ?? all.count);
  const perSample = all.data.length / all.count;
  const samples = { data: all.data.subarray(0, perSample * count), count, ...(labels ? { labels: labels.subarray(0, count) } : {}) };
  const heldOut = labels && count < all.count ? { data: all.data.subarray(perSample * count), count: all.count - count, labels: labels.subarray(count) } : null;
  return { model, samples, heldOut };
}


export const NO_ADAPTER_MESSAGE =
  'no WebGPU adapter found. On Linux without a GPU install the Mesa software driver (mesa-vulkan-drivers >= 25 and libvulkan1; ' +
  'on Debian 12 from bookworm-backports, see the README), or pass --backend cpu to run on the CPU (float64, slower)';

/** --backend: 'auto' takes WebGPU when an adapter is found and the CPU otherwise. */
export type CliBackend = Backend | 'auto';
export const CLI_BACKENDS: readonly CliBackend[] = ['auto', 'webgpu', 'cpu'];

export const CPU_FALLBACK_MESSAGE =
  "no WebGPU adapter found: solving on the CPU (float64, slower). For WebGPU without a GPU install Mesa's Vulkan driver (mesa-vulkan-drivers >= 25, see the README); --backend webgpu makes a missing adapter an error";

/**
 * The backend a command runs on, and its GPU: --backend auto looks for an adapter and, finding
 * none, says so in one stderr line (unless quiet) and solves on the CPU; --backend webgpu without
 * an adapter is exit 3 (gpuFor).
 */
export async function resolveBackend(requested: CliBackend, quiet: boolean | undefined): Promise<{ backend: Backend; gpu: GpuRuntime | undefined }> {
  if (requested === 'cpu') return { backend: 'cpu', gpu: undefined };
  if (requested === 'webgpu') return { backend: 'webgpu', gpu: await gpuFor('webgpu') };
  try {
    return { backend: 'webgpu', gpu: await acquireGpu() };
  } catch (error) {
    if (!(error instanceof NoAdapterError)) throw error;
    if (!quiet) process.stderr.write(`net-trim: ${CPU_FALLBACK_MESSAGE}\n`);
    return { backend: 'cpu', gpu: undefined };
  }
}

/** The GPU for a command, or undefined for --backend cpu; a missing adapter is one line saying what to do. */
export async function gpuFor(backend: Backend): Promise<GpuRuntime | undefined> {
  if (backend !== 'webgpu') return undefined;
  try {
    return await acquireGpu();
  } catch (error) {
    if (error instanceof NoAdapterError) {
      const detail = /could not load/.test(error.message) ? ` (${error.message.replace(/^.*\((could not load[^)]*)\).*$/, '$1')})` : '';
      throw new NoAdapterError(`${NO_ADAPTER_MESSAGE}${detail}`);
    }
    throw error;
  }
}
