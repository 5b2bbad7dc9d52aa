// The parallel and cascade schedulers (net-trim.md §2): which data each layer's program sees.
//
// parallel: every layer ℓ gets the original network's input X⁽ℓ⁻¹⁾ and output X⁽ℓ⁾; layers are
//           independent.
// cascade:  layers in order; layer ℓ gets the *pruned* network's input X̂⁽ℓ⁻¹⁾ and the original
//           output as target. After the first pruned layer the original weights W must stay
//           feasible, which sets V = WᵀX̂ on Ωᶜ and ε_ℓ = γ·‖(WᵀX̂ − Y)_Ω‖_F; the last (linear)
//           layer uses ε_L = κ·γ·‖WᵀX̂ − Y‖_F.
// A conv layer is the same program on image patches: X = im2col(input), one row per output
// position, and the kernel as a (kh·kw·cin) × cout matrix. The patches are never materialized:
// the solver gets the images and the window geometry (ImagePatches) and convolves.
import { InputError } from '../errors.js';
import type { GpuRuntime } from '../gpu/device.js';
import { forwardCpu, type ForwardResult } from '../network/forwardCpu.js';
import { forwardGpu } from '../network/forwardGpu.js';
import { layerInputShapes, prunableLayers, windowGeometry, type PrunableLayer } from '../network/shapes.js';
import { designOf, inputColumns, inputRows, isImagePatches } from '../solver/design.js';
import type { Conv2DLayer, DenseLayer, Network } from '../network/types.js';
import { solveLayer } from '../solver/solveLayer.js';
import { throwIfAborted, yieldToEvents } from '../solver/admmDriver.js';
import type { Backend, LayerInput, Matrix, SolveLayerOptions, SolveProgress, SolverState } from '../solver/types.js';

export type PruneMode = 'cascade' | 'parallel';

/** The authors' code uses γ = √1.1. */
export const DEFAULT_GAMMA = Math.sqrt(1.1);
/** κ = 1 keeps the last layer's original weights feasible; κ < 1 trades feasibility for a smaller discrepancy. */
export const DEFAULT_KAPPA = 1;
export const DEFAULT_EPSILON_GAIN = 0.05;

export interface PruneOptions {
  mode?: PruneMode;
  /** ε = gain·‖Y‖_F for each layer of the parallel scheme and the first layer of the cascade. */
  epsilonGain?: number;
  /** Per-layer gains by layer name (override epsilonGain; in cascade ε_ℓ = max(γ rule, gain·‖Y‖)). */
  layerEpsilonGains?: Record<string, number>;
  gamma?: number;
  kappa?: number;
  /** Layer names left as they are. */
  exclude?: string[];
  backend?: Backend;
  gpu?: GpuRuntime;
  /** Passed to every layer's solve. */
  solver?: Pick<SolveLayerOptions, 'rho' | 'adaptiveRho' | 'tolerances' | 'maxIterations' | 'checkEvery'>;
  /** A forward pass of the (original or partly pruned) network on the samples starts. */
  onForwardPass?: () => void;
  /** A layer's solve starts (in parallel mode several may run at once). */
  onLayerStart?: (event: { name: string; position: number; total: number }) => void;
  /** After every convergence check of a layer's solve (every `checkEvery` iterations). */
  onProgress?: (event: { name: string } & SolveProgress) => void;
  /**
   * A layer's solve finished and its weights were replaced (nonzeros known). Its
   * `achievedDiscrepancy` comes later, in the result's `layers`, once the pruned network has run.
   */
  onLayerDone?: (event: { name: string; position: number; total: number; nonzerosBefore: number; nonzerosAfter: number; iterations: number; converged: boolean; seconds: number }) => void;
  /**
   * Cancels: the step in progress (a forward pass, a layer's setup, a block of iterations, or 50 ms
   * of CPU iterations) finishes and pruneNetwork rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /** Parallel mode on the GPU: solve layers concurrently while their arrays total at most this. */
  concurrentBytes?: number;
  /**
   * An earlier result on the same network and samples (e.g. the previous ε of a sweep): each
   * layer's solve starts from where that run's solve of the layer ended (its `solverStates`).
   */
  warmStart?: PruneResult;
}

export interface LayerPruneReport {
  name: string;
  kind: 'dense' | 'conv2d';
  program: 'relu' | 'linear';
  /** Rows of the layer program: inputs (+1 with bias) and outputs; samples = P (·H·W for conv). */
  inputs: number;
  outputs: number;
  samples: number;
  nonzerosBefore: number;
  nonzerosAfter: number;
  epsilon: number;
  constraintResidual: number;
  offSupportViolation: number;
  dualityGap: number;
  relativeDualityGap: number;
  iterations: number;
  converged: boolean;
  seconds: number;
  /** ‖X̂⁽ℓ⁾ − X⁽ℓ⁾‖_F: the pruned network's output of this layer against the original's. */
  achievedDiscrepancy: number;
  /** The paper's bound on it for the mode used (Σ ε_j parallel, ε₁·√(Π γ) cascade). */
  consistencyBound: number;
  /** The solver's residuals at every convergence check (for convergence plots). */
  history: SolveProgress[];
  note?: string;
}

export interface PruneResult {
  network: Network;
  mode: PruneMode;
  layers: LayerPruneReport[];
  /** ‖Z − Ẑ‖_F / ‖Z‖_F of the outputs before softmax. */
  relativeDiscrepancy: number;
  nonzerosBefore: number;
  nonzerosAfter: number;
  accuracyBefore?: number;
  accuracyAfter?: number;
  /** Where each layer's solve ended, by layer name: pass the result as `warmStart` to a related run. */
  solverStates: Record<string, SolverState>;
  seconds: number;
}

type Forward = (network: Network) => Promise<ForwardResult>;

/** WebGPU cannot report free device memory; this budget is safe on integrated GPUs too. */
export const DEFAULT_CONCURRENT_BYTES = 512 * 2 ** 20;

/** GPU bytes of one layer solve: X (or the images of its patches), Y, V and the state arrays (see solver/gpu/gpuSolver.ts). */
function problemBytes(X: LayerInput, outputs: number): number {
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
async function runWithinBudget<T>(tasks: Array<{ bytes: number; run: () => Promise<T> }>, budget: number): Promise<T[]> {
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

function cloneNetwork(network: Network): Network {
  return {
    inputShape: [...network.inputShape],
    layers: network.layers.map((l) =>
      l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: Float32Array.from(l.kernel), bias: l.bias && Float32Array.from(l.bias) } : { ...l },
    ),
  };
}

function countNonzeros(values: ArrayLike<number> | null): number {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

function layerNonzeros(layer: DenseLayer | Conv2DLayer): number {
  return countNonzeros(layer.kernel) + countNonzeros(layer.bias);
}

/** The layer's program input: X (one row per sample), or a conv layer's patches (one row per output position). */
function programInput(layer: DenseLayer | Conv2DLayer, input: Float32Array | Float64Array, inputShape: number[], samples: number): LayerInput {
  if (layer.kind === 'dense') return { rows: samples, cols: layer.inputs, data: input };
  const g = windowGeometry(layer, inputShape);
  return {
    images: input,
    count: samples,
    height: g.inH,
    width: g.inW,
    channels: g.channels,
    kernelHeight: g.kernelH,
    kernelWidth: g.kernelW,
    strideHeight: g.strideH,
    strideWidth: g.strideW,
    padTop: g.padTop,
    padLeft: g.padLeft,
    outHeight: g.outH,
    outWidth: g.outW,
  };
}

function outputCount(layer: DenseLayer | Conv2DLayer): number {
  return layer.kind === 'dense' ? layer.units : layer.filters;
}

/** XW + b, P×M in float64. */
function preActivation(X: LayerInput, layer: DenseLayer | Conv2DLayer): Float64Array {
  const M = outputCount(layer);
  const weights = new Float64Array((inputColumns(X) + (layer.bias ? 1 : 0)) * M);
  weights.set(layer.kernel);
  if (layer.bias) weights.set(layer.bias, layer.kernel.length);
  return designOf(X, layer.bias !== null).multiply(weights, M);
}

function frobenius(a: ArrayLike<number>, b: ArrayLike<number>, mask?: (i: number) => boolean): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (!mask || mask(i)) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

function accuracy(outputs: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (outputs[p * classes + c] > outputs[p * classes + best]) best = c;
    if (best === Number(labels[p])) correct++;
  }
  return correct / labels.length;
}

/**
 * Prunes every dense and conv layer of `network` (except `exclude`) on `samples` (P samples of
 * the network's input shape, samples-major NHWC). The input network is not modified.
 */
export async function pruneNetwork(
  network: Network,
  samples: { data: Float32Array | Float64Array; count: number; labels?: ArrayLike<number> },
  options: PruneOptions = {},
): Promise<PruneResult> {
  const started = performance.now();
  const mode = options.mode ?? 'cascade';
  const gamma = options.gamma ?? DEFAULT_GAMMA;
  const kappa = options.kappa ?? DEFAULT_KAPPA;
  const backend = options.backend ?? 'webgpu';
  if (mode !== 'cascade' && mode !== 'parallel') throw new InputError(`mode: expected 'cascade' or 'parallel', found '${mode}'`);
  if (!(gamma >= 1)) throw new InputError(`gamma: expected a number ≥ 1, found ${gamma}`);
  if (!(kappa > 0 && kappa <= 1)) throw new InputError(`kappa: expected a number in (0, 1], found ${kappa}`);
  const targets = prunableLayers(network);
  const names = new Set(targets.map((t) => t.layer.name));
  for (const name of [...(options.exclude ?? []), ...Object.keys(options.layerEpsilonGains ?? {})])
    if (!names.has(name)) throw new InputError(`layer '${name}': no prunable (dense or conv2d) layer has this name; prunable layers are ${[...names].join(', ')}`);

  const gpu = backend === 'webgpu' ? options.gpu : undefined;
  const pass: Forward = gpu
    ? (net) => forwardGpu(gpu, net, samples.data, samples.count, { collect: true })
    : async (net) => forwardCpu(net, samples.data, samples.count, { collect: true });
  const forward: Forward = async (net) => {
    await yieldToEvents();
    throwIfAborted(options.signal);
    options.onForwardPass?.();
    const result = await pass(net);
    await yieldToEvents();
    throwIfAborted(options.signal);
    return result;
  };
  const inputShapes = layerInputShapes(network);

  const original = await forward(network);
  const pruned = cloneNetwork(network);
  const reports: LayerPruneReport[] = [];
  const solverStates: Record<string, SolverState> = {};
  const active = targets.filter((t) => !(options.exclude ?? []).includes(t.layer.name));
  let current = original; // the pruned network's activations so far

  /** One layer's program, from the activations of `source` (original, or pruned so far). */
  const prepare = (target: PrunableLayer, source: ForwardResult, first: boolean) => {
    const layer = pruned.layers[target.index] as DenseLayer | Conv2DLayer;
    const X = programInput(layer, source.collected.get(target.index)!.input, inputShapes[target.index], samples.count);
    const Y: Matrix = { rows: inputRows(X), cols: outputCount(layer), data: Float64Array.from(original.collected.get(target.index)!.target) };
    const gain = options.layerEpsilonGains?.[layer.name] ?? options.epsilonGain ?? DEFAULT_EPSILON_GAIN;
    const yNorm = frobenius(Y.data, new Float64Array(Y.data.length));
    let epsilon = gain * yNorm;
    let V: Matrix | undefined;
    let layerKappa = 1;
    if (mode === 'cascade' && !first) {
      // Keep the original weights feasible on the pruned network's input (net-trim.md §2).
      const pre = preActivation(X, layer);
      if (target.program === 'relu') {
        V = { rows: Y.rows, cols: Y.cols, data: pre };
        epsilon = gamma * frobenius(pre, Y.data, (i) => Y.data[i] > 1e-6);
      } else {
        layerKappa = kappa;
        epsilon = kappa * gamma * frobenius(pre, Y.data);
      }
      if (options.layerEpsilonGains?.[layer.name] !== undefined) epsilon = Math.max(epsilon, gain * yNorm);
    }
    return { target, layer, X, Y, V, epsilon, layerKappa };
  };

  const solve = async (job: ReturnType<typeof prepare>, position: number, total: number) => {
    throwIfAborted(options.signal);
    const run = (epsilon: number) =>
      solveLayer({
        X: job.X,
        Y: job.Y,
        V: job.V,
        activation: job.target.program,
        epsilon,
        bias: job.layer.bias !== null,
        backend,
        gpu,
        ...options.solver,
        signal: options.signal,
        warmStart: options.warmStart?.solverStates[job.layer.name],
        onProgress: options.onProgress && ((p) => options.onProgress!({ name: job.layer.name, ...p })),
      });
    let epsilon = job.epsilon;
    let result = await run(epsilon);
    let note: string | undefined;
    if (job.layerKappa < 1 && !result.report.converged) {
      note = `κ = ${job.layerKappa} made the last program infeasible (no convergence): kept the κ = 1 answer`;
      epsilon /= job.layerKappa;
      result = await run(epsilon);
    }
    const nonzerosBefore = layerNonzeros(job.layer);
    job.layer.kernel = Float32Array.from(result.weights.data);
    if (job.layer.bias) job.layer.bias = result.bias!;
    const r = result.report;
    options.onLayerDone?.({
      name: job.layer.name,
      position,
      total,
      nonzerosBefore,
      nonzerosAfter: layerNonzeros(job.layer),
      iterations: r.iterations,
      converged: r.converged,
      seconds: r.seconds,
    });
    solverStates[job.layer.name] = result.state;
    return { job, result, epsilon, note, nonzerosBefore };
  };

  const report = (solved: Awaited<ReturnType<typeof solve>>, after: ForwardResult, consistencyBound: number): LayerPruneReport => {
    const { job, result, epsilon, note, nonzerosBefore } = solved;
    const r = result.report;
    return {
      name: job.layer.name,
      kind: job.layer.kind,
      program: job.target.program,
      inputs: inputColumns(job.X) + (job.layer.bias ? 1 : 0),
      outputs: job.Y.cols,
      samples: job.Y.rows,
      nonzerosBefore,
      nonzerosAfter: layerNonzeros(job.layer),
      epsilon,
      constraintResidual: r.constraintResidual,
      offSupportViolation: r.offSupportViolation,
      dualityGap: r.dualityGap,
      relativeDualityGap: r.relativeDualityGap,
      iterations: r.iterations,
      converged: r.converged,
      seconds: r.seconds,
      achievedDiscrepancy: frobenius(after.collected.get(job.target.index)!.target, original.collected.get(job.target.index)!.target),
      consistencyBound,
      history: r.history,
      ...(note ? { note } : {}),
    };
  };

  if (mode === 'cascade') {
    let epsilonFirst = 0;
    let gammaProduct = 1;
    for (const [position, target] of active.entries()) {
      throwIfAborted(options.signal);
      options.onLayerStart?.({ name: target.layer.name, position, total: active.length });
      const solved = await solve(prepare(target, current, position === 0), position, active.length);
      if (position === 0) epsilonFirst = solved.epsilon;
      else gammaProduct *= gamma;
      current = await forward(pruned);
      reports.push(report(solved, current, epsilonFirst * Math.sqrt(gammaProduct)));
    }
  } else {
    // Layers are independent: solve several at once while their GPU arrays fit the budget.
    const jobs = active.map((target) => prepare(target, original, false));
    const solved = await runWithinBudget(
      jobs.map((job, position) => ({
        bytes: problemBytes(job.X, job.Y.cols),
        run: () => {
          options.onLayerStart?.({ name: job.layer.name, position, total: jobs.length });
          return solve(job, position, jobs.length);
        },
      })),
      backend === 'webgpu' ? (options.concurrentBytes ?? DEFAULT_CONCURRENT_BYTES) : 0,
    );
    if (active.length) current = await forward(pruned);
    let boundSum = 0;
    for (const s of solved) reports.push(report(s, current, (boundSum += s.epsilon)));
  }

  throwIfAborted(options.signal);
  const final = active.length ? current : original;
  const classes = original.logits.length / samples.count;
  const allLayers = targets.map((t) => network.layers[t.index] as DenseLayer | Conv2DLayer);
  return {
    network: pruned,
    mode,
    layers: reports,
    relativeDiscrepancy: frobenius(final.logits, original.logits) / Math.sqrt(Array.from(original.logits).reduce((s, v) => s + v * v, 0)),
    nonzerosBefore: allLayers.reduce((s, l) => s + layerNonzeros(l), 0),
    nonzerosAfter: targets.reduce((s, t) => s + layerNonzeros(pruned.layers[t.index] as DenseLayer | Conv2DLayer), 0),
    ...(samples.labels
      ? { accuracyBefore: accuracy(original.logits, samples.labels, classes), accuracyAfter: accuracy(final.logits, samples.labels, classes) }
      : {}),
    solverStates,
    seconds: (performance.now() - started) / 1000,
  };
}

export type { PrunableLayer };
