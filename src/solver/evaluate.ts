// The report's solver-free checks, computed in float64 from the returned weights and the
// original (unnormalized) data: nonzeros, ℓ1, both constraints, the output error.
import { ACTIVE_THRESHOLD, type LayerProblem } from './problem.js';

export interface LayerChecks {
  nonzeros: number;
  density: number;
  l1: number;
  constraintResidual: number;
  offSupportViolation: number;
  relativeOutputError: number;
}

/** @param weights N1×M (bias row last when the problem has a bias) */
export function checkLayer(problem: LayerProblem, weights: ArrayLike<number>): LayerChecks {
  const { samples: P, columns: N1, outputs: M, activation } = problem;
  const { Y, V, design } = problem.original;
  let nonzeros = 0;
  let l1 = 0;
  for (let i = 0; i < N1 * M; i++) {
    if (weights[i] === 0) continue;
    nonzeros++;
    l1 += Math.abs(weights[i]);
  }
  const pre = design.multiply(weights, M); // XŴ + b
  let activeSq = 0;
  let offSupport = 0;
  let errorSq = 0;
  let ySq = 0;
  for (let i = 0; i < P * M; i++) {
    const y = Y.data[i];
    ySq += y * y;
    if (activation === 'linear') {
      activeSq += (pre[i] - y) ** 2;
      errorSq += (pre[i] - y) ** 2;
      continue;
    }
    if (y > ACTIVE_THRESHOLD) activeSq += (pre[i] - y) ** 2;
    else offSupport = Math.max(offSupport, pre[i] - (V ? V.data[i] : 0));
    errorSq += (Math.max(pre[i], 0) - y) ** 2;
  }
  return {
    nonzeros,
    density: nonzeros / (N1 * M),
    l1,
    constraintResidual: Math.sqrt(activeSq),
    offSupportViolation: Math.max(offSupport, 0),
    relativeOutputError: ySq > 0 ? Math.sqrt(errorSq / ySq) : Math.sqrt(errorSq),
  };
}
