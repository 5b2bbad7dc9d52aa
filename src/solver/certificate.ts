// The optimality certificate: a lower bound on the optimal ℓ1 from the ADMM duals.
//
// The program is  min ‖U‖₁  s.t.  UᵀX ∈ C,  C = {Z : ‖(Z−Y)_Ω‖_F ≤ ε, Z_Ωᶜ ≤ V}.
// Its Fenchel dual is  max −σ_C(Λ)  s.t. ‖XΛᵀ‖_∞ ≤ 1, where
//   σ_C(Λ) = ⟨Λ_Ω, Y⟩ + ε‖Λ_Ω‖_F + ⟨Λ_Ωᶜ, V⟩  when Λ_Ωᶜ ≥ 0 (else +∞).
// ADMM's multiplier of the constraint W1 = W3ᵀX is y1 = ρ·U1, and Λ = −y1 at a saddle point.
// We clamp Λ on Ωᶜ to ≥ 0 and scale it into ‖XΛᵀ‖_∞ ≤ 1: every such Λ gives p* ≥ −σ_C(Λ),
// whatever the solver did, so the gap ‖Ŵ‖₁ − bound bounds the answer's distance from optimal.
import { isActive, type LayerProblem } from './problem.js';

/**
 * @param U1 the scaled dual, P×M samples-major (the transpose of the paper's M×P)
 * @param multiplyXTransposed computes Xᵀ·Λ (N1×M) for the normalized X (P×N1) of the problem
 */
export async function dualBound(
  problem: LayerProblem,
  U1: ArrayLike<number>,
  rho: number,
  multiplyXTransposed: (lambda: Float64Array) => Promise<ArrayLike<number>>,
): Promise<number> {
  const relu = problem.activation === 'relu';
  const lambda = new Float64Array(U1.length);
  for (let i = 0; i < lambda.length; i++) {
    const v = -rho * U1[i];
    lambda[i] = !relu || isActive(problem, i) ? v : Math.max(v, 0);
  }
  const product = await multiplyXTransposed(lambda);
  let infNorm = 0;
  for (let i = 0; i < product.length; i++) infNorm = Math.max(infNorm, Math.abs(product[i]));
  const shrink = infNorm > 1 ? 1 / infNorm : 1;

  let inner = 0; // ⟨Λ_Ω, Y⟩ + ⟨Λ_Ωᶜ, V⟩
  let activeSq = 0;
  for (let i = 0; i < lambda.length; i++) {
    if (!relu || isActive(problem, i)) {
      inner += lambda[i] * problem.Y[i];
      activeSq += lambda[i] * lambda[i];
    } else if (problem.V) inner += lambda[i] * problem.V[i];
  }
  return -shrink * (inner + problem.epsilonScaled * Math.sqrt(activeSq));
}
