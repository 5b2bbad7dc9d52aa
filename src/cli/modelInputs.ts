// What `net-trim prune` and `net-trim sweep` share: their common options (same names, same
// defaults, same checks), loading the model, samples and labels, the held-out accuracy, and the GPU.
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { Command } from 'commander';
import { GpuError, InputError } from '../errors.js';
import { acquireGpu, type GpuRuntime } from '../gpu/device.js';
import { readNpyFile } from '../io/files.js';
import { loadModelFile, type LoadedModel } from '../io/modelFiles.js';
import type { NpyArray } from '../io/npy.js';
import { forwardCpu } from '../network/forwardCpu.js';
import { checkNetwork } from '../network/shapes.js';
import type { Network } from '../network/types.js';
import { DEFAULT_GAMMA, DEFAULT_KAPPA, type PruneMode, type PruneOptions } from '../prune/pruneNetwork.js';
import type { HeldOutAccuracy } from '../report/document.js';
import { DEFAULTS } from '../solver/problem.js';
import type { Backend } from '../solver/types.js';
import { oneOf, positiveInteger, positiveNumber } from './optionValues.js';

/** The options as commander hands them over (strings, unvalidated). */
export interface RawNetworkOptions {
  samples: string;
  labels?: string;
  mode?: string;
  gamma?: string;
  kappa?: string;
  exclude?: string;
  backend?: string;
  rho?: string;
  maxIterations?: string;
  tolerance?: string;
  maxSamples?: string;
  out: string;
  quiet?: boolean;
  json?: boolean;
}

export interface NetworkOptions {
  mode: PruneMode;
  gamma: number;
  kappa: number;
  exclude: string[];
  backend: Backend;
  rho?: number;
  maxIterations?: number;
  tolerance?: number;
  maxSamples?: number;
}

/** The model and its samples: the argument and first options of prune and sweep. */
export function addInputOptions(command: Command): Command {
  return command
    .argument('<model>', 'model.json (TF.js Layers, weight shards beside it) or model.onnx')
    .requiredOption('--samples <S.npy>', 'sample inputs: (P, ...input shape): NHWC images for TF.js, NCHW for ONNX, or (P, features) flattened')
    .option('--labels <L.npy>', 'integer class labels (P,), int32 or int64: reports accuracy before and after')
    .option('--max-samples <n>', 'prune on the first n samples only; with --labels, the accuracy on the rest (held out) is reported too');
}

/** How each layer is pruned and solved: the same names, help and defaults on prune and sweep. */
export function addSolverOptions(command: Command): Command {
  return command
    .option('--mode <mode>', "'cascade' (layers in order, each fed the pruned network: sparser) or 'parallel' (layers independent)", 'cascade')
    .option('--gamma <γ>', 'cascade: epsilon of later layers = γ·||(W X̂ − Y)_Ω||, γ >= 1', String(Number(DEFAULT_GAMMA.toFixed(4))))
    .option('--kappa <κ>', 'cascade: the last layer uses κ·γ·||W X̂ − Y||, 0 < κ <= 1 (if κ < 1 proves infeasible, the κ = 1 answer is kept)', String(DEFAULT_KAPPA))
    .option('--exclude <names>', 'comma-separated layer names to leave unpruned')
    .option('--backend <name>', "'webgpu' (GPU, float32) or 'cpu' (float64 reference: slower, needs no GPU)", 'webgpu')
    .option('--rho <r>', 'initial ADMM penalty (the soft threshold is 1/rho), > 0; adapted during each solve', String(DEFAULTS.rho))
    .option('--max-iterations <n>', `ADMM iteration limit per layer (convergence is checked every ${DEFAULTS.checkEvery})`, String(DEFAULTS.maxIterations))
    .option('--tolerance <t>', 'relative tolerance of the primal and dual residuals, > 0', String(DEFAULTS.tolerances.relative));
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
    gamma: positiveNumber(raw.gamma ?? String(DEFAULT_GAMMA), '--gamma')!,
    kappa: positiveNumber(raw.kappa ?? String(DEFAULT_KAPPA), '--kappa')!,
    exclude: raw.exclude ? raw.exclude.split(',').map((s) => s.trim()).filter(Boolean) : [],
    backend: oneOf<Backend>(raw.backend ?? 'webgpu', '--backend', ['webgpu', 'cpu'])!,
    rho: positiveNumber(raw.rho, '--rho'),
    maxIterations: positiveInteger(raw.maxIterations, '--max-iterations'),
    tolerance: positiveNumber(raw.tolerance, '--tolerance'),
    maxSamples: positiveInteger(raw.maxSamples, '--max-samples'),
  };
  if (options.kappa > 1) throw new InputError(`--kappa: expected a number in (0, 1], found '${raw.kappa}'`);
  if (options.gamma < 1) throw new InputError(`--gamma: expected a number >= 1, found '${raw.gamma}'`);
  return options;
}

/** The solver settings of PruneOptions from the command-line options. */
export function solverOptions(options: NetworkOptions): PruneOptions['solver'] {
  return {
    ...(options.rho !== undefined ? { rho: options.rho } : {}),
    ...(options.maxIterations !== undefined ? { maxIterations: options.maxIterations } : {}),
    ...(options.tolerance !== undefined ? { tolerances: { relative: options.tolerance } } : {}),
  };
}

/**
 * Checks before any solve that the output folder can be written: not the model's own folder (the
 * pruned model would overwrite it), not a file, and it or its nearest existing parent writable.
 * Nothing is created here; the folder is made when the outputs are written.
 */
export async function checkOutputFolder(modelPath: string, out: string): Promise<string> {
  const outDir = resolve(out);
  if (outDir === resolve(dirname(modelPath)))
    throw new InputError(`--out: refusing to write into the model's own folder (${outDir}): the model would be overwritten; choose another folder`);
  let existing = outDir;
  while (!(await stat(existing).catch(() => null))) {
    const parent = dirname(existing);
    if (parent === existing) break;
    existing = parent;
  }
  const info = await stat(existing).catch(() => null);
  if (info && !info.isDirectory()) throw new InputError(`--out ${out}: expected a folder, found a file at ${existing}`);
  try {
    await access(existing, constants.W_OK);
  } catch {
    throw new InputError(`--out ${out}: cannot write: permission denied on ${existing}`);
  }
  return outDir;
}

/** Samples as NHWC float data of the network's input shape. */
export function samplesForNetwork(array: NpyArray, path: string, model: LoadedModel): { data: Float32Array | Float64Array; count: number } {
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

export function labelsFor(array: NpyArray, path: string, count: number): Int32Array {
  if (array.dtype !== 'int32' && array.dtype !== 'int64') throw new InputError(`${path}: descr: expected int32 or int64 labels, found ${array.dtype}`);
  if (array.shape.length !== 1 || array.shape[0] !== count)
    throw new InputError(`${path}: shape: expected (${count},) labels, one per sample, found (${array.shape.join(', ')})`);
  return Int32Array.from(array.data as ArrayLike<number | bigint>, (v) => Number(v));
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
  const model = await loadModelFile(modelPath);
  checkNetwork(model.network, modelPath);
  const all = samplesForNetwork(await readNpyFile(raw.samples), raw.samples, model);
  const labels = raw.labels ? labelsFor(await readNpyFile(raw.labels), raw.labels, all.count) : undefined;
  const count = Math.min(all.count, options.maxSamples ?? all.count);
  const perSample = all.data.length / all.count;
  const samples = { data: all.data.subarray(0, perSample * count), count, ...(labels ? { labels: labels.subarray(0, count) } : {}) };
  const heldOut = labels && count < all.count ? { data: all.data.subarray(perSample * count), count: all.count - count, labels: labels.subarray(count) } : null;
  return { model, samples, heldOut };
}

/** Share of samples whose largest output is their label (float64 forward pass on the CPU). */
export function accuracyOf(network: Network, samples: Samples): number {
  const logits = forwardCpu(network, samples.data, samples.count).logits;
  const classes = logits.length / samples.count;
  let correct = 0;
  for (let p = 0; p < samples.count; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[p * classes + c] > logits[p * classes + best]) best = c;
    if (best === samples.labels![p]) correct++;
  }
  return correct / samples.count;
}

export function heldOutAccuracy(trained: Network, pruned: Network, heldOut: Samples | null): HeldOutAccuracy | null {
  if (!heldOut?.labels) return null;
  return { count: heldOut.count, accuracyBefore: accuracyOf(trained, heldOut), accuracyAfter: accuracyOf(pruned, heldOut) };
}

export const NO_ADAPTER_MESSAGE =
  'no WebGPU adapter found. On Linux without a GPU install the Mesa software driver (mesa-vulkan-drivers >= 25 and libvulkan1; ' +
  'on Debian 12 from bookworm-backports, see the README), or pass --backend cpu to run on the CPU (float64, slower)';

/** The GPU for a command, or undefined for --backend cpu; a missing adapter is one line saying what to do. */
export async function gpuFor(backend: Backend): Promise<GpuRuntime | undefined> {
  if (backend !== 'webgpu') return undefined;
  try {
    return await acquireGpu();
  } catch (error) {
    if (error instanceof GpuError && /adapter/i.test(error.message)) {
      const detail = /could not load/.test(error.message) ? ` (${error.message.replace(/^.*\((could not load[^)]*)\).*$/, '$1')})` : '';
      throw new GpuError(`${NO_ADAPTER_MESSAGE}${detail}`);
    }
    throw error;
  }
}
