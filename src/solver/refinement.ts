// What follows a stop the float64 checks refuse: rounds of tighter tolerances on the same engine,
// and on the GPU, where only the duality gap refuses, a short GPU round and then a float64 finish
// on the CPU (bench/README.md, "A float64 finish"). A pure policy, so each path is testable alone.
import type { LayerProblem } from './problem.js';

/** Rounds of ten-times-tighter tolerances after a stop whose answer the float64 checks do not certify. */
export const REFINEMENTS = 3;

/**
 * The float64 finish: the most multiply-adds it may cost (the CPU engine's setup, X·Xᵀ and the
 * inverse, then its iterations' two products with X), 5–50 s of this project's reference CPU.
 * Within it, a GPU stop refused on the duality gap alone goes on in float64 after one GPU round
 * of tighter tolerances of at most FINISH_PROBE iterations (where a GPU round certifies, it does
 * so in less time than the CPU would take); measured, the finish mostly needs one check interval.
 */
const FINISH_MULTIPLY_ADDS = 1e10;
const FINISH_PROBE = 100;

/** Iterations a float64 finish of `program` may take within FINISH_MULTIPLY_ADDS. */
export function float64FinishIterations(program: Pick<LayerProblem, 'samples' | 'columns' | 'outputs'>): number {
  const { samples: P, columns: N, outputs: M } = program;
  const setup = P * N * N + (N * N * N) / 3;
  const perIteration = 2 * P * N * M + N * N * M;
  return Math.max(0, Math.floor((FINISH_MULTIPLY_ADDS - setup) / perIteration));
}

export interface RefusedStop {
  /** What the checks refuse: the ball (discrepancy) or only the duality gap; null: certified. */
  failure: 'discrepancy' | 'gap' | null;
  /** The last run ended at a stop (not at its iteration limit). */
  stopped: boolean;
  /** 1 for the first stop's refusal, then one more per run. */
  round: number;
  /** Iterations left within the solve's limit. */
  left: number;
  checkEvery: number;
  /** Solving on the GPU (float32), where a float64 finish can follow. */
  gpu: boolean;
  /** float64FinishIterations of the program. */
  finishBudget: number;
  /** The GPU's short round before a finish has run. */
  probed: boolean;
  /** A float64 finish has run: it ends certified or at its cost, and nothing follows it. */
  finished: boolean;
}

export type NextRun =
  | { kind: 'stop' }
  /** The same engine, at tolerances 10^-round of the problem's, for `iterations` at most. */
  | { kind: 'tighter'; round: number; iterations: number }
  /** As 'tighter', at most FINISH_PROBE iterations, and its end counts as a stop. */
  | { kind: 'probe'; round: number; iterations: number }
  /** float64 on the CPU from this iterate, at the problem's tolerances, to the first stop that certifies. */
  | { kind: 'finish'; iterations: number };

export function nextRun(s: RefusedStop): NextRun {
  if (!s.failure || !s.stopped || s.finished || s.round > REFINEMENTS || s.left < s.checkEvery) return { kind: 'stop' };
  const finish = s.gpu && s.failure === 'gap' ? Math.min(s.left, s.finishBudget) : 0;
  if (finish < s.checkEvery) return { kind: 'tighter', round: s.round, iterations: s.left };
  return s.probed ? { kind: 'finish', iterations: finish } : { kind: 'probe', round: s.round, iterations: Math.min(s.left, FINISH_PROBE) };
}
