// The pieces of pruneNetwork that know a layer, not a schedule: a layer's program input from its
// activations, its pre-activation with the trained weights, sizes and counts, and the budgeted
// runner of parallel solves.
import type { ForwardResult } from '../network/forwardCpu.js';
import type { NetworkGraph } from '../network/graph.js';
import { headGroups, type HeadMap } from './attentionHeads.js';
import { groupedConvSpan } from './liveChannels.js';
import { windowGeometry } from '../network/shapes.js';
import type { Conv2DLayer, DenseLayer, Network } from '../network/types.js';
import { designOf, inputColumns, inputRows, isImagePatches } from '../solver/design.js';
import type { LayerInput, LayerReport, SolveLayerOptions, SolveLayerResult, SolveProgress } from '../solver/types.js';

export type Forward = (network: Network) => Promise<ForwardResult>;

/**
 * One layer program to solve elsewhere (PruneOptions.solveProgram): solveLayer's options without
 * what belongs to the machine that solves (backend, GPU, chunking) or to the caller (callbacks).
 */
export interface LayerSolveRequest {
  /** The layer's name. */
  name: string;
  /** The layer's name, or "name/group g" for a group of a grouped conv (the key of solverStates). */
  key: string;
  options: Omit<SolveLayerOptions, 'backend' | 'gpu' | 'chunkRows' | 'signal' | 'onProgress' | 'epsilonGain'>;
}

/** Solves a layer program somewhere else (e.g. on a worker machine) and resolves as solveLayer does. */
export type ProgramSolver = (
  request: LayerSolveRequest,
  context: { signal?: AbortSignal; onProgress?: (progress: SolveProgress) => void },
) => Promise<SolveLayerResult>;

/** WebGPU cannot report free device memory; this budget is safe on integrated GPUs too. */
export const DEFAULT_CONCURRENT_BYTES = 512 * 2 ** 20;

/** GPU bytes of one layer solve: X (or the images of its patches), Y, V and the state arrays (see solver/gpu/gpuSolver.ts). */
export function problemBytes(X: LayerInput, outputs: number): number {
  const samples = inputRows(X);
  const columns = inputColumns(X) + 1;
  const solveSize = Math.min(samples, columns);
  const xValues = isImagePatches(X) ? X.images.length : samples * columns;
  return 4 * (xValues + 7 * samples * outputs + 6 * columns * outputs + solveSize * solveSize);
}

/**
 * Runs tasks, several at a time while the sum of their `bytes` stays within `budget` (one at a
 * time when budget is 0); results come back in task order.
 */
export async function runWithinBudget<T>(tasks: Array<{ bytes: number; run: () => Promise<T> }>, budget: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let inUse = 0;
  let failure: { error: unknown } | null = null;
  const running = new Set<Promise<void>>();
  while ((next < tasks.length && !failure) || running.size) {
    while (!failure && next < tasks.length && (running.size === 0 || inUse + tasks[next].bytes <= budget)) {
      const index = next++;
      const { bytes, run } = tasks[index];
      inUse += bytes;
      const task: Promise<void> = run()
        .then((value) => void (results[index] = value), (error) => void (failure ??= { error }))
        .finally(() => {
          inUse -= bytes;
          running.delete(task);
        });
      running.add(task);
    }
    if (running.size) await Promise.race(running);
  }
  // Every started solve has settled (none is left running on the device) before the first error is rethrown.
  if (failure) throw (failure as { error: unknown }).error;
  return results;
}

/** A controller aborted with `signal` (and abortable on its own). */
export function linkedController(signal: AbortSignal | undefined): AbortController {
  const controller = new AbortController();
  if (signal?.aborted) controller.abort(signal.reason);
  else signal?.addEventListener('abort', () => controller.abort(signal.reason), { once: true });
  return controller;
}

export function cloneNetwork(network: Network): Network {
  return {
    ...network,
    inputShape: [...network.inputShape],
    layers: network.layers.map((l) =>
      l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: Float32Array.from(l.kernel), bias: l.bias && Float32Array.from(l.bias) } : { ...l },
    ),
  };
}

export function countNonzeros(values: ArrayLike<number> | null): number {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

export function layerNonzeros(layer: DenseLayer | Conv2DLayer): number {
  return countNonzeros(layer.kernel) + countNonzeros(layer.bias);
}

/** The layer's program input: X (one row per sample), or a conv layer's patches (one row per output position). */
export function programInput(layer: DenseLayer | Conv2DLayer, input: Float32Array | Float64Array, inputShape: number[], samples: number): LayerInput {
  if (layer.kind === 'dense') return { rows: samples, cols: layer.inputs, data: input };
  // The layer's window geometry is the patch matrix's: one type for both.
  return { images: input, count: samples, ...windowGeometry(layer, inputShape) };
}

export function outputCount(layer: DenseLayer | Conv2DLayer): number {
  return layer.kind === 'dense' ? layer.units : layer.filters;
}

/** XW + b, P×M in float64. */
export function preActivation(X: LayerInput, layer: DenseLayer | Conv2DLayer): Float64Array {
  const M = outputCount(layer);
  const weights = new Float64Array((inputColumns(X) + (layer.bias ? 1 : 0)) * M);
  weights.set(layer.kernel);
  if (layer.bias) weights.set(layer.bias, layer.kernel.length);
  return designOf(X, layer.bias !== null).multiply(weights, M);
}

export function frobenius(a: ArrayLike<number>, b: ArrayLike<number>, mask?: (i: number) => boolean): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (!mask || mask(i)) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function accuracy(outputs: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (outputs[p * classes + c] > outputs[p * classes + best]) best = c;
    if (best === Number(labels[p])) correct++;
  }
  return correct / labels.length;
}

/**
 * How structured Net-Trim groups layer `index`'s inputs, beyond one group per input: a dense layer
 * after a flatten of an image by channel (`inputChannels`: whole channels go); a layer reading
 * merged attention heads by head, one reading a grouped conv by that conv's groups (`groupSpan`).
 */
export function inputGrouping(network: Network, graph: NetworkGraph, index: number, heads: HeadMap | null): { inputChannels?: number; groupSpan?: number } {
  const reads = graph.sources[index][0];
  const flat = network.layers[index].kind === 'dense' && reads >= 0 && network.layers[reads].kind === 'flatten' ? graph.inputShapes[reads][0] : [];
  const span = (heads && headGroups(heads, graph, index))?.span ?? groupedConvSpan(network, graph, index);
  return { ...(flat.length === 3 ? { inputChannels: flat[2] } : {}), ...(span ? { groupSpan: span } : {}) };
}

/** One program of a layer: its outputs from `outStart` on, reading the whole input or its channels from `inStart` on. */
export interface LayerPart {
  layer: DenseLayer | Conv2DLayer;
  outStart: number;
  /** First input channel of a grouped conv's group; null: the whole input. */
  inStart: number | null;
}

/**
 * The programs a layer is solved as. A grouped conv: its groups, ungrouped convs on channel slices
 * of the input (docs/net-trim.md §4: the block-diagonal program with its constraint split per
 * group). Otherwise `columnBlocks` blocks of its outputs, each reading the whole input with
 * ε_b = g·‖Y_b‖ (Σ ε_b² = ε², the layer's own bound; bench/README.md, "Column blocks"). One part
 * is the layer itself, the same object.
 */
export function layerParts(layer: DenseLayer | Conv2DLayer, columnBlocks = 1): LayerPart[] {
  const groups = layer.kind === 'conv2d' ? (layer.groups ?? 1) : 1;
  const outputs = outputCount(layer);
  const blocks = groups > 1 ? groups : Math.min(columnBlocks, outputs);
  if (blocks === 1) return [{ layer, outStart: 0, inStart: null }];
  const inG = layer.kind === 'conv2d' ? layer.inChannels / groups : 0;
  // The kernel's rows (kh·kw·cin/groups for a conv, inputs for a dense layer), each `outputs` wide.
  const count = layer.kernel.length / outputs;
  return Array.from({ length: blocks }, (_, b) => {
    const from = Math.round((b * outputs) / blocks);
    const to = Math.round(((b + 1) * outputs) / blocks);
    const width = to - from;
    const kernel = new Float32Array(count * width);
    for (let r = 0; r < count; r++) kernel.set(layer.kernel.subarray(r * outputs + from, r * outputs + to), r * width);
    const bias = layer.bias && layer.bias.slice(from, to);
    const name = groups > 1 ? `${layer.name}/group ${b}` : `${layer.name}/columns ${from}-${to - 1}`;
    const part: DenseLayer | Conv2DLayer =
      layer.kind === 'dense' ? { ...layer, name, kernel, bias, units: width } : { ...layer, name, kernel, bias, filters: width, ...(groups > 1 ? { inChannels: inG, groups: 1 } : {}) };
    return { layer: part, outStart: from, inStart: groups > 1 ? b * inG : null };
  });
}

/** Writes the parts' kernels and biases back into the layer (layerParts' inverse). */
export function joinLayerParts(layer: DenseLayer | Conv2DLayer, parts: LayerPart[]): void {
  if (parts.length === 1 && parts[0].layer === layer) return;
  const outputs = outputCount(layer);
  for (const { layer: part, outStart } of parts) {
    const width = outputCount(part);
    for (let r = 0; r < part.kernel.length / width; r++) layer.kernel.set(part.kernel.subarray(r * width, (r + 1) * width), r * outputs + outStart);
    if (layer.bias && part.bias) layer.bias.set(part.bias, outStart);
  }
}

/** Channels start … start+count−1 of every position of a channels-last tensor with `channels` channels. */
export function channelSlice<T extends Float32Array | Float64Array>(data: T, channels: number, start: number, count: number): T {
  if (start === 0 && count === channels) return data;
  const positions = data.length / channels;
  const out = new (data.constructor as { new (n: number): T })(positions * count);
  for (let p = 0; p < positions; p++) out.set(data.subarray(p * channels + start, p * channels + start + count), p * count);
  return out;
}

/** One report for a layer solved as several programs (a grouped conv): residuals and gaps combined. */
export function combineReports(reports: LayerReport[]): LayerReport {
  if (reports.length === 1) return reports[0];
  const sum = (key: 'dualityGap' | 'l1' | 'objective' | 'seconds' | 'nonzeros') => reports.reduce((s, r) => s + r[key], 0);
  const l1 = sum('l1');
  const objective = sum('objective');
  const failed = reports.map((r, g) => r.statusReason && `group ${g}: ${r.statusReason}`).filter(Boolean);
  return {
    ...reports[0],
    nonzeros: sum('nonzeros'),
    epsilon: Math.hypot(...reports.map((r) => r.epsilon)),
    constraintResidual: Math.hypot(...reports.map((r) => r.constraintResidual)),
    offSupportResidual: Math.hypot(...reports.map((r) => r.offSupportResidual)),
    offSupportViolation: Math.max(...reports.map((r) => r.offSupportViolation)),
    l1,
    objective,
    ...(reports[0].inputsKept !== undefined ? { inputsKept: reports.reduce((s, r) => s + (r.inputsKept ?? 0), 0) } : {}),
    dualityGap: sum('dualityGap'),
    relativeDualityGap: objective > 0 ? sum('dualityGap') / objective : 0,
    iterations: Math.max(...reports.map((r) => r.iterations)),
    float64FinishIterations: Math.max(...reports.map((r) => r.float64FinishIterations)),
    distinctSamples: Math.max(...reports.map((r) => r.distinctSamples)),
    converged: reports.every((r) => r.converged),
    statusReason: failed.length ? failed.join('; ') : null,
    seconds: sum('seconds'),
    history: reports.reduce((longest, r) => (r.history.length > longest.length ? r.history : longest), reports[0].history),
  };
}
