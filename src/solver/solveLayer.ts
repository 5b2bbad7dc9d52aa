// solveLayer: one layer's Net-Trim program on the chosen backend, with a report whose checks
// (feasibility, ℓ1, duality gap) need no trust in the solver.
import { InputError } from '../errors.js';
import { acquireGpu } from '../gpu/device.js';
import { runAdmm, throwIfAborted, yieldToEvents, type AdmmEngine } from './admmDriver.js';
import { dualBound } from './certificate.js';
import { CpuAdmmEngine } from './cpuSolver.js';
import { checkLayer } from './evaluate.js';
import { GpuAdmmEngine } from './gpu/gpuSolver.js';
import { DEFAULTS, prepareLayerProblem, type LayerProblem } from './problem.js';
import type { SolveLayerOptions, SolveLayerResult } from './types.js';

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

export async function solveLayer(options: SolveLayerOptions): Promise<SolveLayerResult> {
  const started = performance.now();
  const problem = prepareLayerProblem(options);
  const backend = options.backend ?? DEFAULTS.backend;
  if (backend !== 'webgpu' && backend !== 'cpu') throw new InputError(`backend: expected 'webgpu' or 'cpu', found '${backend}'`);
  await yieldToEvents();
  throwIfAborted(options.signal);
  const session = backend === 'cpu' ? await openCpu(problem) : await openGpu(problem, options);
  let weights: Float32Array;
  let outcome;
  let bound: number;
  let state;
  try {
    await yieldToEvents(); // the setup (factoring A) may have held the thread for seconds
    throwIfAborted(options.signal);
    if (options.warmStart) {
      // Weights are the same in normalized units; U1 lives in the units of Y and U = y/ρ.
      const w = options.warmStart;
      const rescale = w.rho / problem.rho;
      await session.engine.setState({ W3: w.W3, W2: w.W2, U2: w.U2.map((u) => u * rescale), U1: w.U1.map((u) => (u * rescale) / problem.scale) });
    }
    outcome = await runAdmm(session.engine, {
      rho: problem.rho,
      adaptiveRho: problem.adaptiveRho,
      tolerances: problem.tolerances,
      maxIterations: problem.maxIterations,
      checkEvery: problem.checkEvery,
      constraintEntries: problem.samples * problem.outputs + problem.columns * problem.outputs,
      responseEntries: problem.samples * problem.outputs,
      targetNorm: Math.sqrt(problem.Y.reduce((s, y) => s + y * y, 0)),
      epsilon: problem.epsilonScaled,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    state = await session.engine.getState();
    weights = Float32Array.from(state.W2);
    bound = await dualBound(problem, state.U1, outcome.rho, session.multiplyXTransposed);
  } finally {
    session.close();
  }

  const checks = checkLayer(problem, weights);
  const { inputs: N, outputs: M } = problem;
  const result: SolveLayerResult = {
    weights: { rows: N, cols: M, data: weights.slice(0, N * M) },
    bias: problem.bias ? weights.slice(N * M) : null,
    report: {
      backend,
      adapter: session.adapter,
      activation: problem.activation,
      rows: N,
      columns: M,
      samples: problem.samples,
      ...checks,
      epsilon: problem.epsilon,
      dualBound: bound,
      dualityGap: checks.l1 - bound,
      relativeDualityGap: (checks.l1 - bound) / Math.max(checks.l1, 1e-30),
      iterations: outcome.iterations,
      converged: outcome.converged,
      status: outcome.converged ? 'converged' : 'not converged',
      primalResidual: outcome.primalResidual,
      dualResidual: outcome.dualResidual,
      rho: outcome.rho,
      seconds: (performance.now() - started) / 1000,
      history: outcome.history,
    },
    state: {
      W3: Float32Array.from(state.W3),
      W2: weights,
      U1: Float32Array.from(state.U1, (u) => u * problem.scale),
      U2: Float32Array.from(state.U2),
      rho: outcome.rho,
    },
  };
  return result;
}
