// The optimality certificate: a lower bound on the optimal ℓ1 from the ADMM duals.
//
// The program is  min ‖U‖₁ (or Σ_g ‖U_g‖₂ over input groups, whose dual norm is max_g ‖·_g‖₂)  s.t.  UᵀX ∈ C,  C = {Z : ‖(Z−Y)_Ω‖_F ≤ ε, Z_B ≤ V, Z_A ≥ Y}
// (B: the entries below their bound, A: above it, for a clipped ReLU; problem.ts).
// Its Fenchel dual is  max −σ_C(Λ)  s.t. ‖XΛᵀ‖_∞ ≤ 1, where
//   σ_C(Λ) = ⟨Λ_Ω, Y⟩ + ε‖Λ_Ω‖_F + ⟨Λ_B, V⟩ + ⟨Λ_A, Y⟩  when Λ_B ≥ 0 and Λ_A ≤ 0 (else +∞).
// ADMM's multiplier of the constraint W1 = W3ᵀX is y1 = ρ·U1, and Λ = −y1 at a saddle point.
// We clamp Λ to those signs off Ω and scale it onto ‖XΛᵀ‖_∞ = 1: every such Λ gives p* ≥ −σ_C(Λ),
// whatever the solver did, so the gap ‖Ŵ‖₁ − bound bounds the answer's distance from optimal.
import { ABOVE, entrySide, groupNorms, ON_SUPPORT, type LayerProblem } from './problem.js';

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
  const lambda = new Float64Array(U1.length);
  const sides = Uint8Array.from({ length: U1.length }, (_, i) => entrySide(problem, i));
  for (let i = 0; i < lambda.length; i++) {
    const v = -rho * U1[i];
    lambda[i] = sides[i] === ON_SUPPORT ? v : sides[i] === ABOVE ? Math.min(v, 0) : Math.max(v, 0);
  }
  const product = await multiplyXTransposed(lambda);
  // The dual norm of the objective: ‖·‖_∞ for ℓ1; for Σ_g ‖W_g‖₂ the largest group ℓ2 norm.
  let dualNorm = 0;
  if (problem.groups) dualNorm = Math.max(...groupNorms(problem.groups, product, problem.outputs));
  else for (let i = 0; i < product.length; i++) dualNorm = Math.max(dualNorm, Math.abs(product[i]));

  let inner = 0; // ⟨Λ_Ω, Y⟩ + ⟨Λ_B, V⟩ + ⟨Λ_A, Y⟩
  let activeSq = 0;
  for (let i = 0; i < lambda.length; i++) {
    if (sides[i] === ON_SUPPORT) {
      inner += lambda[i] * problem.Y[i];
      activeSq += lambda[i] * lambda[i];
    } else if (sides[i] === ABOVE) inner += lambda[i] * problem.Y[i];
    else if (problem.V) inner += lambda[i] * problem.V[i];
  }
  // −σ_C is positively homogeneous: the best multiple of Λ within ‖XΛᵀ‖_∞ ≤ 1 is Λ/‖XΛᵀ‖_∞,
  // scaled up as well as down (the ADMM's Λ ends with a norm a little either side of 1). A
  // direction whose value is not positive bounds nothing better than its shrunk self.
  const value = -(inner + problem.epsilonScaled * Math.sqrt(activeSq));
  const scale = value > 0 && dualNorm > 0 ? 1 / dualNorm : Math.min(1, 1 / dualNorm);
  return scale * value;
}
