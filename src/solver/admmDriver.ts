// The outer ADMM loop shared by both backends: run K iterations, read the residuals once,
// decide convergence (Boyd et al. 2011, §3.3.1) and adapt ρ by residual balancing (§3.4.1).
// A backend only knows how to iterate; this file knows when to stop.
import type { SolveProgress, Tolerances } from './types.js';

/**
 * Squared Frobenius norms measured on the last iteration of a block.
 * Constraints of the splitting: W1 = W3ᵀX (r1) and W2 = W3 (r2); W1 is P×M, W2/W3 are N×M.
 */
export interface ResidualSums {
  r1: number; // ‖W1 − W3ᵀX‖²
  r2: number; // ‖W2 − W3‖²
  s1: number; // ‖W3ᵀX − W3_prevᵀX‖²
  s2: number; // ‖W3 − W3_prev‖²
  w1: number; // ‖W1‖²
  w2: number; // ‖W2‖²
  t: number; // ‖W3ᵀX‖²
  w3: number; // ‖W3‖²
  u1: number; // ‖U1‖² (scaled dual)
  u2: number; // ‖U2‖²
}

export interface AdmmEngine {
  /** Runs `count` iterations with the current ρ and returns the residual sums of the last one. */
  /** `count` iterations; an engine that computes on this thread checks `signal` between them. */
  iterate(count: number, signal?: AbortSignal): Promise<ResidualSums>;
  /** Changes ρ; the scaled duals U = y/ρ are rescaled so the unscaled duals y stay put. */
  setRho(rho: number): void;
  /** Starts from an earlier iterate (normalized units): W3, W2, U2 are N×M, U1 is P×M. */
  setState(state: EngineState): Promise<void>;
  /** The current iterate (normalized units). */
  getState(): Promise<EngineState>;
  /** How far the current answer W2 is from feasible (normalized units). */
  answerFeasibility(): Promise<AnswerFeasibility>;
}

export interface AnswerFeasibility {
  /** ‖(W2ᵀX − Y)_Ω‖². */
  activeSq: number;
  /** Σ over Ωᶜ of excess₊², excess = W2ᵀX − V (Y − W2ᵀX on an ABOVE entry). */
  offSupportExcessSq: number;
}

export interface EngineState {
  W3: ArrayLike<number>;
  W2: ArrayLike<number>;
  U1: ArrayLike<number>;
  U2: ArrayLike<number>;
}

export interface AdmmSettings {
  rho: number;
  adaptiveRho: boolean;
  tolerances: Tolerances;
  maxIterations: number;
  checkEvery: number;
  /** Number of entries of W1 (P·M) and of W2 (N·M), for the absolute tolerance. */
  constraintEntries: number;
  /** Number of entries of W1 (P·M), for the absolute feasibility tolerance. */
  responseEntries: number;
  /** ‖Y‖_F in the engine's units: the relative tolerance's share of the feasibility slack. */
  targetNorm: number;
  /** ε in the engine's (normalized) units. */
  epsilon: number;
  onProgress?: (p: SolveProgress) => void;
  signal?: AbortSignal;
  /**
   * A further test of a stop the residuals and the ball allow, at the current ρ; false iterates on
   * (the float64 finish: the certificate itself, so that it ends where the answer certifies).
   */
  accept?: (rho: number) => Promise<boolean>;
}

export interface AdmmOutcome {
  iterations: number;
  converged: boolean;
  primalResidual: number;
  dualResidual: number;
  rho: number;
  history: SolveProgress[];
}

// Residual balancing: change ρ by TAU when one residual (relative to its tolerance scale)
// exceeds the other by MU. Adaptation stops after MAX_RHO_CHANGES so the iteration settles.
// MU = 5 rather than Boyd's 10: on conv layers (many rows, few columns) the primal residual sits
// 5–7× above the dual for thousands of iterations at MU = 10; MU = 5 took 18–29% fewer iterations
// there (3 was faster still but left 5× larger duality gaps) and changed nothing on dense layers.
const MU = 5;
const TAU = 2;
const MAX_RHO_CHANGES = 30;

export async function runAdmm(engine: AdmmEngine, settings: AdmmSettings): Promise<AdmmOutcome> {
  const { tolerances, maxIterations, checkEvery, signal } = settings;
  const started = performance.now();
  const history: SolveProgress[] = [];
  const sqrtEntries = Math.sqrt(settings.constraintEntries);
  let rho = settings.rho;
  let rhoChanges = 0;
  let iterations = 0;
  let primal = Infinity;
  let dual = Infinity;
  let converged = false;

  while (iterations < maxIterations) {
    await yieldToEvents(); // lets a Ctrl-C handler run even when the engine never waits
    throwIfAborted(signal);
    const count = Math.min(checkEvery, maxIterations - iterations);
    const sums = await engine.iterate(count, signal);
    iterations += count;

    primal = Math.sqrt(sums.r1 + sums.r2);
    dual = rho * Math.sqrt(sums.s1 + sums.s2);
    const primalScale = Math.max(Math.sqrt(sums.w1 + sums.w2), Math.sqrt(sums.t + sums.w3));
    const dualScale = rho * Math.sqrt(sums.u1 + sums.u2);
    const primalTolerance = sqrtEntries * tolerances.absolute + tolerances.relative * primalScale;
    const dualTolerance = sqrtEntries * tolerances.absolute + tolerances.relative * dualScale;
    if (!Number.isFinite(primal) || !Number.isFinite(dual))
      throw new Error(`ADMM diverged at iteration ${iterations} (residuals ${primal}, ${dual})`);

    const progress = { iteration: iterations, primalResidual: primal, dualResidual: dual, primalTolerance, dualTolerance, rho, seconds: (performance.now() - started) / 1000 };
    history.push(progress);
    settings.onProgress?.(progress);
    if (primal <= primalTolerance && dual <= dualTolerance && (await answerIsFeasible(engine, settings)) && (!settings.accept || (await settings.accept(rho)))) {
      converged = true;
      break;
    }

    if (settings.adaptiveRho && rhoChanges < MAX_RHO_CHANGES) {
      const relativePrimal = primal / Math.max(primalScale, 1e-30);
      const relativeDual = dual / Math.max(dualScale, 1e-30);
      let next = rho;
      if (relativePrimal > MU * relativeDual) next = rho * TAU;
      else if (relativeDual > MU * relativePrimal) next = rho / TAU;
      if (next !== rho) {
        engine.setRho(next);
        rho = next;
        rhoChanges++;
      }
    }
  }
  return { iterations, converged, primalResidual: primal, dualResidual: dual, rho, history };
}

/**
 * The answer W2 (not only the ADMM iterate) is within the ε-ball once its off-support excess is
 * counted in it: √(‖(W2ᵀX − Y)_Ω‖² + Σ_Ωᶜ excess₊²) ≤ (1 + feasibility)·ε, which bounds what the
 * layer's output after its activation is off by (README, "Converged is a certificate"). Small
 * residuals alone can leave the sparse answer measurably outside it.
 */
async function answerIsFeasible(engine: AdmmEngine, settings: AdmmSettings): Promise<boolean> {
  const { activeSq, offSupportExcessSq } = await engine.answerFeasibility();
  // The relative term keeps a small ε (a tight program) from demanding a residual below what
  // float32 responses can resolve: 10⁻⁴·‖Y‖ is 0.2% of ε at the default gain.
  const slack = Math.sqrt(settings.responseEntries) * settings.tolerances.absolute + RESPONSE_ROUNDING * settings.targetNorm;
  return Math.sqrt(activeSq + offSupportExcessSq) <= (1 + settings.tolerances.feasibility) * settings.epsilon + slack;
}

/** What float32 responses resolve, relative to ‖Y‖ (not the residuals' tolerance: the ball is the certificate's). */
const RESPONSE_ROUNDING = 1e-4;

/**
 * Lets the event loop run what is waiting (a signal handler, a page's cancel button): long
 * computations on this thread call it between steps, then check their AbortSignal.
 */
export function yieldToEvents(): Promise<void> {
  const later = (globalThis as { setImmediate?: (f: () => void) => void }).setImmediate ?? ((f: () => void) => setTimeout(f, 0));
  return new Promise((resolve) => later(resolve));
}

export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) {
    const reason = signal.reason;
    throw reason instanceof Error ? reason : new DOMException('The solve was cancelled', 'AbortError');
  }
}
