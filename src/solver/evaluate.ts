// The report's solver-free checks, computed in float64 from the returned weights and the
// original (unnormalized) data: nonzeros, ℓ1, both constraints, the output error.
import { entrySide, groupNorms, offSupportExcess, ON_SUPPORT, type LayerProblem } from './problem.js';

export interface LayerChecks {
  nonzeros: number;
  density: number;
  l1: number;
  objective: number;
  inputsKept?: number;
  constraintResidual: number;
  offSupportResidual: number;
  offSupportViolation: number;
  relativeOutputError: number;
}

/**
 * @param weights N1×M (bias row last when the problem has a bias)
 * @param pre XŴ + b over the original rows, in original units, when the caller has it already
 */
export function checkLayer(problem: LayerProblem, weights: ArrayLike<number>, pre = problem.original.design.multiply(weights, problem.outputs)): LayerChecks {
  const { samples: P, columns: N1, outputs: M, activation, scale } = problem;
  const { Y, offset } = problem.original;
  let nonzeros = 0;
  let l1 = 0;
  for (let i = 0; i < N1 * M; i++) {
    if (weights[i] === 0) continue;
    nonzeros++;
    l1 += Math.abs(weights[i]);
  }
  const [low, high] = problem.clip ?? (activation === 'relu' ? [0, Infinity] : [-Infinity, Infinity]);
  let activeSq = 0;
  let offSupport = 0;
  let offSupportSq = 0;
  let errorSq = 0;
  let ySq = 0;
  for (let i = 0; i < P * M; i++) {
    // Targets and bounds in the layer's own terms (the offset taken out), in original units.
    const side = entrySide(problem, i);
    if (side === ON_SUPPORT) activeSq += (pre[i] - problem.Y[i] * scale) ** 2;
    else {
      const excess = Math.max(offSupportExcess(problem, i, pre[i] / scale) * scale, 0);
      offSupport = Math.max(offSupport, excess);
      offSupportSq += excess * excess;
    }
    const y = Y.data[i];
    ySq += y * y;
    const z = pre[i] + (offset ? offset.data[i] : 0);
    errorSq += (Math.min(Math.max(z, low), high) - y) ** 2;
  }
  const norms = problem.groups ? groupNorms(problem.groups, weights, M) : null;
  return {
    nonzeros,
    density: nonzeros / (N1 * M),
    l1,
    objective: norms ? norms.reduce((a, b) => a + b, 0) : l1,
    // (the bias row's group, last, is not an input)
    ...(norms ? { inputsKept: norms.slice(0, problem.bias ? -1 : undefined).filter((n) => n > 0).length } : {}),
    constraintResidual: Math.sqrt(activeSq),
    offSupportResidual: Math.sqrt(offSupportSq),
    offSupportViolation: offSupport,
    relativeOutputError: ySq > 0 ? Math.sqrt(errorSq / ySq) : Math.sqrt(errorSq),
  };
}
