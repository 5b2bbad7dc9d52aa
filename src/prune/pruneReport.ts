// What pruneNetwork returns: the network, and per layer its program, sizes, counts, residuals,
// bounds and solver history.
import type { Network } from '../network/types.js';
import type { SolveProgress, SolverState } from '../solver/types.js';

export type PruneMode = 'cascade' | 'parallel';

export interface LayerPruneReport {
  name: string;
  kind: 'dense' | 'conv2d';
  program: 'relu' | 'clip' | 'linear';
  /** Why this program (the layer's place in the graph: ReLU, residual sum, logits, …). */
  programReason: string;
  /** A grouped conv's number of groups: one program per group, their sizes below are per group. */
  groups?: number;
  /** With PruneOptions.columnBlocks: the blocks of outputs solved as separate programs (sizes below are the layer's). */
  columnBlocks?: number;
  /** Rows of the layer program: inputs (+1 with bias) and outputs; samples = P (·H·W for conv). */
  inputs: number;
  outputs: number;
  samples: number;
  /** The distinct samples the solver saw (identical ones merged; SolveLayerOptions.mergeIdenticalSamples). */
  distinctSamples: number;
  nonzerosBefore: number;
  nonzerosAfter: number;
  epsilon: number;
  constraintResidual: number;
  /** ‖(XŴ + b − V)₊‖ off Ω: counted with constraintResidual in the ε-ball. */
  offSupportResidual: number;
  offSupportViolation: number;
  dualityGap: number;
  relativeDualityGap: number;
  iterations: number;
  /** Of `iterations`, those of a float64 finish on the CPU after the GPU's stop (LayerReport.float64FinishIterations). */
  float64FinishIterations: number;
  converged: boolean;
  /** structure 'inputs': the inputs (neurons or channels of the layer before) still read. */
  inputsKept?: number;
  /** Why the layer is not converged (the certificate that failed, or the iteration limit); null when converged. */
  statusReason: string | null;
  seconds: number;
  /** ‖X̂⁽ℓ⁾ − X⁽ℓ⁾‖_F: the pruned network's output of this layer against the original's. */
  achievedDiscrepancy: number;
  /**
   * What the programs guarantee about it (bounds.ts): parallel (1+f)ε + ‖Ŵ‖₂·(the previous bound),
   * cascade γ(1+f)‖W‖₂·(the previous bound), from (1+f)ε₁; the paper's Σ ε_j and ε₁γ^(ℓ−1) on a
   * network whose layers have ‖W‖₂ ≤ 1. null for a branching graph (not derived).
   */
  consistencyBound: number | null;
  /** The solver's residuals at every convergence check (for convergence plots). */
  history: SolveProgress[];
  note?: string;
}

export interface OutputDiscrepancy {
  name: string;
  relativeDiscrepancy: number;
}

/** Each output part's ‖Z − Ẑ‖_F / ‖Z‖_F over `count` samples of packed outputs (the parts' values one after another per sample). */
export function outputDiscrepancies(parts: ReadonlyArray<{ name: string; shape: readonly number[] }>, pruned: ArrayLike<number>, trained: ArrayLike<number>, count: number): OutputDiscrepancy[] {
  const sizes = parts.map((p) => p.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  let start = 0;
  return parts.map((part, k) => {
    let diff = 0;
    let norm = 0;
    for (let p = 0; p < count; p++)
      for (let i = p * total + start; i < p * total + start + sizes[k]; i++) {
        diff += (pruned[i] - trained[i]) ** 2;
        norm += trained[i] ** 2;
      }
    start += sizes[k];
    return { name: part.name, relativeDiscrepancy: Math.sqrt(diff / norm) };
  });
}

export interface PruneResult {
  network: Network;
  mode: PruneMode;
  layers: LayerPruneReport[];
  /** ‖Z − Ẑ‖_F / ‖Z‖_F of the outputs before softmax. */
  relativeDiscrepancy: number;
  /** A model of several outputs (network.outputParts): the same per output, whose scales may differ (the total weighs each value alike). */
  outputDiscrepancies?: OutputDiscrepancy[];
  nonzerosBefore: number;
  nonzerosAfter: number;
  accuracyBefore?: number;
  accuracyAfter?: number;
  /**
   * Cascade: layers left as trained because no layer pruned before them feeds them (their ε would
   * be 0: attention's K and V after Q); a per-layer epsilon gain, or parallel mode, prunes them.
   */
  keptAsTrained?: string[];
  /** Where each layer's solve ended, by layer name: pass the result as `warmStart` to a related run. */
  solverStates: Record<string, SolverState>;
  seconds: number;
}
