// solveLayer: one layer's Net-Trim program on the chosen backend, with a report whose checks
// (feasibility, ℓ1, duality gap) need no trust in the solver.
import { InputError } from '../errors.js';
import { acquireGpu } from '../gpu/device.js';
import { runAdmm, throwIfAborted, yieldToEvents, type AdmmEngine, type AdmmOutcome, type EngineState } from './admmDriver.js';
import { dualBound } from './certificate.js';
import { CpuAdmmEngine } from './cpuSolver.js';
import { checkLayer, type LayerChecks } from './evaluate.js';
import { GpuAdmmEngine } from './gpu/gpuSolver.js';
import { mergeIdenticalRows, type MergedProgram } from './mergeRows.js';
import { float64FinishIterations, nextRun } from './refinement.js';
import { DEFAULTS, prepareLayerProblem, type LayerProblem } from './problem.js';
import type { SolveLayerOptions, SolveLayerResult, SolveProgress, Tolerances } from './types.js';

interface BackendSession {
  engine: AdmmEngine;
  adapter: string;
  multiplyXTransposed(lambda: Float64Array): Promise<ArrayLike<number>>;
  close(): void;
}

async function openCpu(problem: LayerProblem): Promise<BackendSession> {
  const engine = new CpuAdmmEngine(problem);
  return {
    engine,
    adapter: 'CPU (float64 reference)',
    multiplyXTransposed: async (lambda) => problem.design.multiplyTransposed(lambda, problem.outputs),
    close() {},
  };
}

async function openGpu(problem: LayerProblem, options: SolveLayerOptions): Promise<BackendSession> {
  const runtime = options.gpu ?? (await acquireGpu());
  let engine: GpuAdmmEngine;
  try {
    if (options.chunkRows !== undefined && !(Number.isInteger(options.chunkRows) && options.chunkRows >= 1))
      throw new InputError(`chunkRows: expected a positive integer, found ${options.chunkRows}`);
    engine = await GpuAdmmEngine.create(runtime, problem, { chunkRows: options.chunkRows });
  } catch (error) {
    if (!options.gpu) runtime.destroy();
    throw error;
  }
  return {
    engine,
    adapter: runtime.adapterDescription,
    multiplyXTransposed: (lambda) => engine.multiplyXTransposed(lambda),
    close() {
      engine.release();
      if (!options.gpu) runtime.destroy();
    },
  };
}

/** Which certificate an answer fails: its discrepancy (feasibility), or only the duality gap. */
interface CertificateFailure {
  kind: 'discrepancy' | 'gap';
  message: string;
}

/**
 * Why the answer is not certified, or null: in float64, its discrepancy with the off-support
 * excess counted, √(‖(ŴᵀX − Y)_Ω‖² + ‖(ŴᵀX − V)₊ on Ωᶜ‖²) ≤ (1 + feasibility)·ε (for ε = 0:
 * ≤ absolute·‖Y‖), and a relative duality gap of at most tolerances.gap.
 */
function certificateFailure(problem: LayerProblem, checks: LayerChecks, dualBoundValue: number): CertificateFailure | null {
  const { feasibility, absolute, gap } = problem.tolerances;
  const epsilon = problem.epsilon;
  const yNorm = () => {
    let sq = 0;
    for (const y of problem.original.Y.data) sq += y * y;
    return Math.sqrt(sq);
  };
  const limit = epsilon > 0 ? (1 + feasibility) * epsilon : absolute * yNorm(); // ‖Y‖ only for ε = 0
  const discrepancy = Math.hypot(checks.constraintResidual, checks.offSupportResidual);
  if (discrepancy > limit) {
    const parts = `(on Ω ${(checks.constraintResidual / Math.max(epsilon, 1e-30)).toFixed(4)}·ε, off Ω ${(checks.offSupportResidual / Math.max(epsilon, 1e-30)).toExponential(2)}·ε)`;
    const message = epsilon > 0 ? `constraint residual ${(discrepancy / epsilon).toFixed(4)}·ε ${parts}, above ${1 + feasibility}·ε` : `constraint residual ${discrepancy.toExponential(2)} with ε = 0`;
    return { kind: 'discrepancy', message };
  }
  const relativeGap = (checks.objective - dualBoundValue) / Math.max(checks.objective, 1e-30);
  if (relativeGap > gap) return { kind: 'gap', message: `relative duality gap ${(100 * relativeGap).toFixed(2)}%, above ${100 * gap}%` };
  return null;
}

/** The current answer, its float64 checks and dual bound, and why they refuse it (null: certified). */
interface Verdict {
  state: EngineState;
  weights: Float32Array;
  bound: number;
  checks: LayerChecks;
  failure: CertificateFailure | null;
}

async function judge(problem: LayerProblem, program: LayerProblem, merged: MergedProgram | null, session: BackendSession, rho: number): Promise<Verdict> {
  const state = await session.engine.getState();
  const weights = Float32Array.from(state.W2);
  const pre = problem.original.design.multiply(weights, problem.outputs);
  const residual = pre.map((z, i) => z / problem.scale - problem.Y[i]); // normalized, read on Ω
  const bound = await dualBound(program, state.U1, rho, session.multiplyXTransposed, merged ? merged.restrict(residual) : residual);
  const checks = checkLayer(problem, weights, pre);
  return { state, weights, bound, checks, failure: certificateFailure(problem, checks, bound) };
}

export async function solveLayer(options: SolveLayerOptions): Promise<SolveLayerResult> {
  const started = performance.now();
  const problem = prepareLayerProblem(options);
  const backend = options.backend ?? DEFAULTS.backend;
  if (backend !== 'webgpu' && backend !== 'cpu') throw new InputError(`backend: expected 'webgpu' or 'cpu', found '${backend}'`);
  await yieldToEvents();
  throwIfAborted(options.signal);
  // The engines solve `program` (identical samples merged); the checks and the report are on `problem`.
  const merged = options.mergeIdenticalSamples === false ? null : mergeIdenticalRows(problem);
  const program = merged?.program ?? problem;
  let session = backend === 'cpu' ? await openCpu(program) : await openGpu(program, options);
  const adapter = session.adapter;
  let outcome: AdmmOutcome;
  let verdict: Verdict;
  let finishIterations = 0; // of a float64 finish on the CPU
  let finishCut: string | null = null; // why a finish ended uncertified
  let probed = false; // the GPU's round before a finish has run
  try {
    await yieldToEvents(); // the setup (factoring A) may have held the thread for seconds
    throwIfAborted(options.signal);
    if (options.warmStart) {
      // Weights are the same in normalized units; U1 lives in the units of Y and U = y/ρ.
      const w = options.warmStart;
      const rescale = w.rho / problem.rho;
      const U1 = w.U1.map((u) => (u * rescale) / problem.scale);
      await session.engine.setState({ W3: w.W3, W2: w.W2, U2: w.U2.map((u) => u * rescale), U1: merged ? merged.compressU1(U1) : U1 });
    }
    // `done`: iterations before this run (progress and history count from the start of the solve).
    const settings = (tolerances: Tolerances, maxIterations: number, rho: number, done = 0) => ({
      rho,
      adaptiveRho: problem.adaptiveRho,
      tolerances,
      maxIterations,
      checkEvery: problem.checkEvery,
      constraintEntries: program.samples * problem.outputs + problem.columns * problem.outputs,
      responseEntries: program.samples * problem.outputs,
      targetNorm: Math.sqrt(program.Y.reduce((s, y) => s + y * y, 0)),
      epsilon: problem.epsilonScaled,
      onProgress: options.onProgress && ((p: SolveProgress) => options.onProgress!({ ...p, iteration: p.iteration + done })),
      signal: options.signal,
    });
    outcome = await runAdmm(session.engine, settings(problem.tolerances, problem.maxIterations, problem.rho));
    // The stop is only a candidate: the answer is checked in float64 (both constraints, the duality
    // gap). If the checks fail, the iteration goes on from where it stopped (nextRun says how).
    for (let round = 1; ; round++) {
      verdict = await judge(problem, program, merged, session, outcome.rho);
      const next = nextRun({
        failure: verdict.failure?.kind ?? null,
        stopped: outcome.converged,
        round,
        left: problem.maxIterations - outcome.iterations,
        checkEvery: problem.checkEvery,
        gpu: backend === 'webgpu',
        finishBudget: float64FinishIterations(program),
        probed,
        finished: finishIterations > 0,
      });
      if (next.kind === 'stop') break;
      let more: AdmmOutcome;
      if (next.kind === 'finish') {
        // The answer meets the ball; its dual bound is what falls short: on programs of many rows
        // the GPU's float32 duals drift from float64's (by percent) while its answer does not, and
        // further with every round. Where float64 iterations are cheap, go on in float64 from this
        // iterate to the first stop that certifies (its checks cost two of its iterations' products).
        const gpuSession = session;
        session = await openCpu(program);
        gpuSession.close();
        session.engine.setRho(outcome.rho);
        await session.engine.setState(verdict.state);
        const cpu = session;
        const accept = async (rho: number) => !(await judge(problem, program, merged, cpu, rho)).failure;
        more = await runAdmm(session.engine, { ...settings(problem.tolerances, next.iterations, outcome.rho, outcome.iterations), accept });
        finishIterations = more.iterations;
        if (!more.converged) finishCut = `float64 finish: not certified within ${next.iterations} iterations (what its CPU cost allows)`;
      } else {
        const tighter = { ...problem.tolerances, absolute: problem.tolerances.absolute / 10 ** next.round, relative: problem.tolerances.relative / 10 ** next.round };
        more = await runAdmm(session.engine, settings(tighter, next.iterations, outcome.rho, outcome.iterations));
        if (next.kind === 'probe') [probed, more] = [true, { ...more, converged: true }];
      }
      outcome = { ...more, iterations: outcome.iterations + more.iterations, history: [...outcome.history, ...more.history.map((h) => ({ ...h, iteration: h.iteration + outcome.iterations }))] };
    }
  } finally {
    session.close();
  }

  const { state, weights, bound, checks, failure } = verdict;
  const converged = outcome.converged && !failure;
  const limit = `iteration limit ${problem.maxIterations} reached (residuals ${outcome.primalResidual.toExponential(1)}, ${outcome.dualResidual.toExponential(1)})`;
  // The limit is part of the reason whenever it cut the solve short (also when it left no room
  // for another round after a stop the checks refused).
  const atLimit = !finishCut && (!outcome.converged || outcome.iterations + problem.checkEvery > problem.maxIterations);
  const statusReason = converged ? null : [atLimit ? limit : finishCut, failure?.message].filter(Boolean).join('; ');
  const { inputs: N, outputs: M } = problem;
  const result: SolveLayerResult = {
    weights: { rows: N, cols: M, data: weights.slice(0, N * M) },
    bias: problem.bias ? weights.slice(N * M) : null,
    report: {
      backend,
      adapter,
      activation: problem.activation,
      rows: N,
      columns: M,
      samples: problem.samples,
      distinctSamples: program.samples,
      ...checks,
      epsilon: problem.epsilon,
      dualBound: bound,
      dualityGap: checks.objective - bound,
      relativeDualityGap: (checks.objective - bound) / Math.max(checks.objective, 1e-30),
      iterations: outcome.iterations,
      float64FinishIterations: finishIterations,
      converged,
      status: converged ? 'converged' : 'not converged',
      statusReason,
      primalResidual: outcome.primalResidual,
      dualResidual: outcome.dualResidual,
      rho: outcome.rho,
      seconds: (performance.now() - started) / 1000,
      history: outcome.history,
    },
    state: {
      W3: Float32Array.from(state.W3),
      W2: weights,
      U1: Float32Array.from(merged ? merged.expandU1(state.U1) : state.U1, (u) => u * problem.scale),
      U2: Float32Array.from(state.U2),
      rho: outcome.rho,
    },
  };
  return result;
}
