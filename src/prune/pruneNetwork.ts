// The parallel and cascade schedulers (net-trim.md §2): which data each layer's program sees.
//
// parallel: every layer ℓ gets the original network's input X⁽ℓ⁻¹⁾ and output X⁽ℓ⁾; layers are
//           independent.
// cascade:  layers in order; layer ℓ gets the *pruned* network's input X̂⁽ℓ⁻¹⁾ and the original
//           output as target. After the first pruned layer the original weights W must stay
//           feasible, which sets V = WᵀX̂ on Ωᶜ and ε_ℓ = γ·‖(WᵀX̂ − Y)_Ω‖_F; the last (linear)
//           layer uses ε_L = κ·γ·‖WᵀX̂ − Y‖_F. A layer no earlier pruned layer feeds would get
//           ε = 0: it keeps its trained weights (PruneResult.keptAsTrained) unless given a gain.
// A conv layer is the same program on image patches: X = im2col(input), one row per output
// position, and the kernel as a (kh·kw·cin) × cout matrix. The patches are never materialized:
// the solver gets the images and the window geometry (ImagePatches) and convolves.
import { headMap } from './attentionHeads.js';
import { InputError } from '../errors.js';
import type { GpuRuntime } from '../gpu/device.js';
import { forwardCpu, type ForwardResult } from '../network/forwardCpu.js';
import { forwardGpu } from '../network/forwardGpu.js';
import { storeLayerWeights, storeOtherLayers } from '../network/storage.js';
import { networkGraph, prunableLayers, type NetworkGraph, type PrunableLayer } from '../network/graph.js';
import { inputColumns, inputRows } from '../solver/design.js';
import type { Conv2DLayer, DenseLayer, Network } from '../network/types.js';
import { ACTIVE_THRESHOLD, DEFAULTS } from '../solver/problem.js';
import { solveLayer } from '../solver/solveLayer.js';
import { throwIfAborted, yieldToEvents } from '../solver/admmDriver.js';
import type { Backend, Matrix, SolveLayerOptions, SolveLayerResult, SolveProgress, SolverState } from '../solver/types.js';
import { consistencyBounds, leastSquaresEpsilon, lipschitzBetween, operatorNorm, type BoundStep } from './bounds.js';
import { accuracy, channelSlice, cloneNetwork, combineReports, DEFAULT_CONCURRENT_BYTES, frobenius, inputGrouping, joinLayerParts, layerNonzeros, layerParts, outputCount, preActivation, problemBytes, linkedController, programInput, runWithinBudget, type Forward, type ProgramSolver } from './layerPrograms.js';

export { DEFAULT_CONCURRENT_BYTES };
export type { LayerSolveRequest, ProgramSolver } from './layerPrograms.js';
export type { LayerPruneReport, PruneResult } from './pruneReport.js';
import { outputDiscrepancies, type LayerPruneReport, type PruneMode, type PruneResult } from './pruneReport.js';

export type { PruneMode } from './pruneReport.js';

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
  /**
   * 'weights' (default): the paper's ℓ1 program; 'inputs': structured Net-Trim, Σᵢ ‖wᵢ‖₂ over the
   * weights reading each input (neuron or channel of the layer before), which zeroes whole inputs.
   */
  structure?: 'weights' | 'inputs';
  /**
   * Solve each (ungrouped) layer as this many programs over blocks of its outputs, ε_b = g·‖Y_b‖
   * (the same bound for the layer; ℓ1 ≤ 1% larger for 8 blocks): programs for several GPUs.
   */
  columnBlocks?: number;
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
  onLayerDone?: (event: { name: string; position: number; total: number; nonzerosBefore: number; nonzerosAfter: number; iterations: number; float64FinishIterations: number; converged: boolean; seconds: number }) => void;
  /**
   * Cancels: the step in progress (a forward pass, a layer's setup, a block of iterations, or 50 ms
   * of CPU iterations) finishes and pruneNetwork rejects with the signal's reason.
   */
  signal?: AbortSignal;
  /**
   * An earlier result on the same network and samples (e.g. the previous ε of a sweep): each
   * layer's solve starts from where that run's solve of the layer ended (its `solverStates`).
   */
  warmStart?: PruneResult;
  /**
   * Parallel mode: solves each layer program instead of solveLayer on this machine (e.g. the
   * workers of a distributed run, src/distributed/). Every layer is handed over at once.
   */
  solveProgram?: ProgramSolver;
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
  const blocks = options.columnBlocks ?? 1;
  if (!(Number.isInteger(blocks) && blocks >= 1)) throw new InputError(`columnBlocks: expected a whole number ≥ 1, found ${options.columnBlocks}`);
  if (blocks > 1 && options.structure === 'inputs') throw new InputError("columnBlocks: structure 'inputs' couples every output's weights of an input; it cannot be split by outputs");
  const graph = networkGraph(network);
  // Structured, a layer reading attention heads merged drops whole heads (its groups are heads).
  const heads = options.structure === 'inputs' ? headMap(network, graph) : null;
  const targets = prunableLayers(network, graph);
  // One sample's (first) input shape of each layer.
  const inputShapes = graph.inputShapes.map((shapes) => shapes[0]);
  const names = new Set(targets.map((t) => t.layer.name));
  for (const name of [...(options.exclude ?? []), ...Object.keys(options.layerEpsilonGains ?? {})])
    if (!names.has(name)) throw new InputError(`layer '${name}': no prunable (dense or conv2d) layer has this name; prunable layers are ${[...names].join(', ')}`);

  const gpu = backend === 'webgpu' ? options.gpu : undefined;
  if (options.solveProgram && mode !== 'parallel') throw new InputError("solveProgram: expected mode 'parallel' (cascade solves layers in order, each on the network pruned before it)");
  const remote = options.solveProgram;
  // Remote solves all run at once: the first failure (or a cancel) stops the others.
  const remoteStop = remote && linkedController(options.signal);
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

  const original = await forward(network);
  const pruned = cloneNetwork(network);
  const reports: LayerPruneReport[] = [];
  const solverStates: Record<string, SolverState> = {};
  const chosen = targets.filter((t) => !(options.exclude ?? []).includes(t.layer.name));
  // Cascade: a layer that no layer pruned before it feeds (attention's K and V after Q, a branch
  // beside one pruned already) sees its trained input, so the γ rule gives ε = 0, whose program
  // runs to the iteration limit for almost nothing. It keeps its trained weights unless given a gain.
  const active: PrunableLayer[] = [];
  const unfed: PrunableLayer[] = [];
  for (const t of chosen) (mode === 'cascade' && active.length > 0 && options.layerEpsilonGains?.[t.layer.name] === undefined && !fedBy(graph, t, active) ? unfed : active).push(t);
  // Layers kept as trained are stored as the file stores them too (a model quantized as written):
  // rounded first, and in cascade the layers after are solved on their rounded outputs.
  const rounded = storeOtherLayers(pruned, new Set(active.map((t) => t.index)));
  let current = rounded && mode === 'cascade' ? await forward(pruned) : original; // the pruned network's activations so far

  /**
   * One layer's programs (one per group of a grouped conv), from the activations of `source`
   * (original, or pruned so far). A layer feeding a residual Add is fitted to the Add's output
   * minus the Add's other inputs in `source` (its offset).
   */
  const prepare = (target: PrunableLayer, source: ForwardResult, first: boolean) => {
    const layer = pruned.layers[target.index] as DenseLayer | Conv2DLayer;
    const seen = source.collected.get(target.index)!;
    const targetAll = Float64Array.from(original.collected.get(target.index)!.target);
    const [low, high] = target.program === 'clip' ? target.clip! : [0, Infinity];
    const inOmega = (y: number) => target.program === 'linear' || (y > low + ACTIVE_THRESHOLD && y < high - ACTIVE_THRESHOLD);
    const gain = options.layerEpsilonGains?.[layer.name] ?? options.epsilonGain ?? DEFAULT_EPSILON_GAIN;
    const parts = layerParts(layer, options.columnBlocks);
    const inChannels = layer.kind === 'conv2d' ? layer.inChannels : 0;
    const programs = parts.map(({ layer: part, outStart, inStart }) => {
      const input = inStart === null ? seen.input : channelSlice(seen.input, inChannels, inStart, (part as Conv2DLayer).inChannels);
      const shape = inStart === null ? inputShapes[target.index] : [...inputShapes[target.index].slice(0, -1), (part as Conv2DLayer).inChannels];
      const X = programInput(part, input, shape, samples.count);
      const M = outputCount(part);
      const Y: Matrix = { rows: inputRows(X), cols: M, data: channelSlice(targetAll, outputCount(layer), outStart, M) };
      // A residual sum's other inputs, as the network being pruned computes them.
      const offset: Matrix | undefined = seen.offset && { rows: Y.rows, cols: M, data: channelSlice(Float64Array.from(seen.offset), outputCount(layer), outStart, M) };
      const yNorm = frobenius(Y.data, new Float64Array(Y.data.length));
      let epsilon = gain * yNorm;
      let V: Matrix | undefined;
      let layerKappa = 1;
      if (mode === 'cascade' && !first) {
        // Keep the original weights feasible on the pruned network's input (net-trim.md §2).
        const pre = preActivation(X, part);
        if (offset) for (let i = 0; i < pre.length; i++) pre[i] += offset.data[i];
        if (target.program !== 'linear') {
          V = { rows: Y.rows, cols: Y.cols, data: pre };
          epsilon = gamma * frobenius(pre, Y.data, (i) => inOmega(Y.data[i]));
        } else {
          layerKappa = kappa;
          epsilon = kappa * gamma * frobenius(pre, Y.data);
        }
        if (options.layerEpsilonGains?.[layer.name] !== undefined) epsilon = Math.max(epsilon, gain * yNorm);
      }
      return { part, X, Y, V, offset, epsilon, layerKappa };
    });
    return { target, layer, parts, programs, ...(options.structure === 'inputs' ? inputGrouping(network, graph, target.index, heads) : {}) };
  };

  type Job = ReturnType<typeof prepare>;
  type Program = Job['programs'][number];
  const stateKey = (job: Job, g: number) => job.parts[g].layer.name; // the layer's, or 'name/group g', 'name/columns a-b'

  /** One program's solve, with the κ < 1 fallback of a linear program (net-trim.md §2). */
  const solveProgram = async (job: Job, program: Program, g: number) => {
    const run = (epsilon: number) => {
      const warmStart = options.warmStart?.solverStates[stateKey(job, g)];
      const request = {
        X: program.X,
        Y: program.Y,
        ...(program.V ? { V: program.V } : {}),
        ...(program.offset ? { offset: program.offset } : {}),
        ...(options.structure ? { structure: options.structure } : {}),
        ...(job.inputChannels ? { inputChannels: job.inputChannels } : {}),
        ...(job.groupSpan ? { groupSpan: job.groupSpan } : {}),
        activation: job.target.program,
        ...(job.target.clip ? { clip: job.target.clip } : {}),
        epsilon,
        bias: job.layer.bias !== null,
        ...options.solver,
        ...(warmStart ? { warmStart } : {}),
      };
      const onProgress = options.onProgress && ((p: SolveProgress) => options.onProgress!({ name: job.layer.name, ...p }));
      if (remote && remoteStop)
        return remote({ name: job.layer.name, key: stateKey(job, g), options: request }, { signal: remoteStop.signal, onProgress }).catch((error) => {
          remoteStop.abort(error); // the other layers' jobs are cancelled instead of awaited
          throw error;
        });
      return solveLayer({ ...request, backend, gpu, signal: options.signal, onProgress });
    };
    let epsilon = program.epsilon;
    let note: string | undefined;
    let result: SolveLayerResult | null = null;
    if (program.layerKappa < 1) {
      // Infeasible or merely not converged? For a linear program the smallest ε any weights
      // reach is the least-squares residual: below it, no solve is tried.
      const shifted = program.offset ? { ...program.Y, data: program.Y.data.map((y, i) => y - program.offset!.data[i]) } : program.Y;
      const reachable = leastSquaresEpsilon(program.X, shifted, job.layer.bias !== null);
      if (epsilon < reachable * (1 - 1e-9)) note = `κ = ${program.layerKappa} is infeasible: ε = ${epsilon.toPrecision(4)} is below ${reachable.toPrecision(4)}, the least any weights reach (least squares); kept the κ = 1 answer`;
      else {
        result = await run(epsilon);
        if (!result.report.converged) {
          note = `κ = ${program.layerKappa} is feasible (least squares reaches ${reachable.toPrecision(4)} ≤ ε = ${epsilon.toPrecision(4)}) but its solve did not converge (${result.report.statusReason}); kept the κ = 1 answer`;
          result = null;
        }
      }
      if (!result) epsilon /= program.layerKappa;
    }
    result ??= await run(epsilon);
    program.part.kernel = Float32Array.from(result.weights.data);
    if (program.part.bias) program.part.bias = Float32Array.from(result.bias!);
    solverStates[stateKey(job, g)] = result.state;
    return { result, epsilon, note };
  };

  type Outcome = Awaited<ReturnType<typeof solveProgram>>;
  const solve = async (job: Job, position: number, total: number) => {
    throwIfAborted(options.signal);
    const nonzerosBefore = layerNonzeros(job.layer);
    // Remote: a layer's blocks (or groups) are separate jobs, on as many workers at once. Local: one
    // after the other, so one block's arrays are on the device at a time.
    const outcomes: Outcome[] = [];
    if (remote) outcomes.push(...(await Promise.all(job.programs.map((program, g) => solveProgram(job, program, g)))));
    else for (const [g, program] of job.programs.entries()) outcomes.push(await solveProgram(job, program, g));
    joinLayerParts(job.layer, job.parts);
    // As the model stores them (float16, a quantization grid): the layers after (cascade), the
    // report and the file see the same weights.
    storeLayerWeights(job.layer);
    const r = combineReports(outcomes.map((o) => o.result.report));
    const notes = outcomes.map((o, g) => o.note && (outcomes.length > 1 ? `${job.parts[g].layer.name}: ${o.note}` : o.note)).filter(Boolean);
    options.onLayerDone?.({
      name: job.layer.name,
      position,
      total,
      nonzerosBefore,
      nonzerosAfter: layerNonzeros(job.layer),
      iterations: r.iterations,
      float64FinishIterations: r.float64FinishIterations,
      converged: r.converged,
      seconds: r.seconds,
    });
    const epsilon = Math.hypot(...outcomes.map((o) => o.epsilon));
    return { job, report: r, epsilon, note: notes.length ? notes.join('; ') : undefined, nonzerosBefore };
  };

  type Solved = Awaited<ReturnType<typeof solve>>;
  /** The inputs of the bound of each solved layer (bounds.ts), in network order. */
  const boundSteps = (solved: Solved[]): BoundStep[] =>
    solved.map((s, i) => {
      const index = s.job.target.index;
      const from = i === 0 ? 0 : solved[i - 1].job.target.targetIndex + 1;
      const trained = network.layers[index] as DenseLayer | Conv2DLayer;
      const kernel = mode === 'cascade' ? trained.kernel : s.job.layer.kernel;
      return {
        epsilon: s.epsilon,
        gain: operatorNorm(trained, kernel) * lipschitzBetween(network.layers, inputShapes, from, index),
        offSupportSlack: s.report.offSupportResidual,
      };
    });
  const withBounds = (solved: Solved[], achieved: number[]): LayerPruneReport[] => {
    // The chain bound composes layer after layer; a branching graph's is not derived (null).
    const bounds = graph.isChain ? consistencyBounds(mode, boundSteps(solved), gamma, options.solver?.tolerances?.feasibility ?? DEFAULTS.tolerances.feasibility) : [];
    return solved.map((s, i) => report(s, achieved[i], bounds[i] ?? null));
  };
  const discrepancy = (solved: Solved, after: ForwardResult) =>
    frobenius(after.collected.get(solved.job.target.index)!.target, original.collected.get(solved.job.target.index)!.target);

  const report = (solved: Solved, achievedDiscrepancy: number, consistencyBound: number | null): LayerPruneReport => {
    const { job, report: r, epsilon, note, nonzerosBefore } = solved;
    const first = job.programs[0];
    return {
      name: job.layer.name,
      kind: job.layer.kind,
      program: job.target.program,
      programReason: job.target.reason,
      ...(job.parts.length > 1 ? (job.parts[0].inStart === null ? { columnBlocks: job.parts.length } : { groups: job.parts.length }) : {}),
      inputs: inputColumns(first.X) + (job.layer.bias ? 1 : 0),
      outputs: outputCount(job.layer),
      samples: first.Y.rows,
      distinctSamples: r.distinctSamples,
      nonzerosBefore,
      nonzerosAfter: layerNonzeros(job.layer),
      epsilon,
      constraintResidual: r.constraintResidual,
      offSupportResidual: r.offSupportResidual,
      offSupportViolation: r.offSupportViolation,
      dualityGap: r.dualityGap,
      relativeDualityGap: r.relativeDualityGap,
      iterations: r.iterations,
      float64FinishIterations: r.float64FinishIterations,
      converged: r.converged,
      ...(r.inputsKept !== undefined ? { inputsKept: r.inputsKept } : {}),
      statusReason: r.statusReason,
      seconds: r.seconds,
      achievedDiscrepancy,
      consistencyBound,
      history: r.history,
      ...(note ? { note } : {}),
    };
  };

  if (mode === 'cascade') {
    const solvedLayers: Solved[] = [];
    const achieved: number[] = [];
    for (const [position, target] of active.entries()) {
      throwIfAborted(options.signal);
      options.onLayerStart?.({ name: target.layer.name, position, total: active.length });
      const solved = await solve(prepare(target, current, position === 0), position, active.length);
      current = await forward(pruned);
      solvedLayers.push(solved);
      achieved.push(discrepancy(solved, current));
    }
    reports.push(...withBounds(solvedLayers, achieved));
  } else {
    // Layers are independent: solve several at once while their GPU arrays fit the budget.
    const jobs = active.map((target) => prepare(target, original, false));
    const solved = await runWithinBudget(
      jobs.map((job, position) => ({
        bytes: Math.max(...job.programs.map((p) => problemBytes(p.X, p.Y.cols))),
        run: () => {
          options.onLayerStart?.({ name: job.layer.name, position, total: jobs.length });
          return solve(job, position, jobs.length);
        },
      })),
      // Parallel mode on the GPU: layers solve concurrently while their arrays total at most this;
      // solved elsewhere, all at once (the workers take them as they are free).
      remote ? Infinity : backend === 'webgpu' ? DEFAULT_CONCURRENT_BYTES : 0,
    );
    if (active.length) current = await forward(pruned);
    reports.push(...withBounds(solved, solved.map((s) => discrepancy(s, current))));
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
    ...(network.outputParts ? { outputDiscrepancies: outputDiscrepancies(network.outputParts, final.logits, original.logits, samples.count) } : {}),
    nonzerosBefore: allLayers.reduce((s, l) => s + layerNonzeros(l), 0),
    nonzerosAfter: targets.reduce((s, t) => s + layerNonzeros(pruned.layers[t.index] as DenseLayer | Conv2DLayer), 0),
    ...(samples.labels
      ? { accuracyBefore: accuracy(original.logits, samples.labels, classes), accuracyAfter: accuracy(final.logits, samples.labels, classes) }
      : {}),
    ...(unfed.length ? { keptAsTrained: unfed.map((t) => t.layer.name) } : {}),
    solverStates,
    seconds: (performance.now() - started) / 1000,
  };
}

export type { PrunableLayer };

/** Whether any of `pruned` computes (directly or not) the input or the residual offset of `target`. */
function fedBy(graph: NetworkGraph, target: PrunableLayer, pruned: PrunableLayer[]): boolean {
  const seen = new Set<number>();
  const stack = [...graph.sources[target.index], ...target.offsetSources].filter((i) => i >= 0);
  while (stack.length) {
    const i = stack.pop()!;
    if (seen.has(i)) continue;
    seen.add(i);
    for (const s of graph.sources[i]) if (s >= 0) stack.push(s);
  }
  return pruned.some((t) => seen.has(t.index));
}
