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
 * @param residual the answer's XŴ − Y (normalized, P×M; read on Ω only): at a saddle point Λ_Ω
 *   points along (XŴ − Y)_Ω, the ball's outward normal (−U1 is in the normal cone at W1), which
 *   the answer gives in float64 where the GPU's float32 multipliers are noisy; the bound is then
 *   the better of the two directions.
 */
export async function dualBound(
  problem: LayerProblem,
  U1: ArrayLike<number>,
  rho: number,
  multiplyXTransposed: (lambda: Float64Array) => Promise<ArrayLike<number>>,
  residual?: ArrayLike<number>,
): Promise<number> {
  const sides = Uint8Array.from({ length: U1.length }, (_, i) => entrySide(problem, i));
  const onSupport = new Float64Array(U1.length);
  const offSupport = new Float64Array(U1.length);
  for (let i = 0; i < U1.length; i++) {
    const v = -rho * U1[i];
    if (sides[i] === ON_SUPPORT) onSupport[i] = v;
    else offSupport[i] = sides[i] === ABOVE ? Math.min(v, 0) : Math.max(v, 0);
  }
  const off = await partOf(problem, offSupport, sides, multiplyXTransposed);
  const along = await partOf(problem, onSupport, sides, multiplyXTransposed);
  let best = bestOverLength(problem, along, off);
  if (residual && along.norm > 0) {
    let residualSq = 0;
    for (let i = 0; i < U1.length; i++) if (sides[i] === ON_SUPPORT) residualSq += residual[i] ** 2;
    const t = along.norm / Math.sqrt(residualSq);
    if (Number.isFinite(t)) {
      const direction = Float64Array.from(onSupport, (_, i) => (sides[i] === ON_SUPPORT ? t * residual[i] : 0));
      best = Math.max(best, bestOverLength(problem, await partOf(problem, direction, sides, multiplyXTransposed), off));
    }
  }
  return best;
}

/** What the bound needs of one part of Λ: XΛᵀ, ⟨Λ_Ω, Y⟩ + ⟨Λ_B, V⟩ + ⟨Λ_A, Y⟩, and ‖Λ_Ω‖. */
interface Part {
  product: ArrayLike<number>;
  inner: number;
  norm: number;
}

async function partOf(problem: LayerProblem, lambda: Float64Array, sides: Uint8Array, multiplyXTransposed: (lambda: Float64Array) => Promise<ArrayLike<number>>): Promise<Part> {
  let inner = 0;
  let activeSq = 0;
  for (let i = 0; i < lambda.length; i++) {
    if (sides[i] === ON_SUPPORT) {
      inner += lambda[i] * problem.Y[i];
      activeSq += lambda[i] * lambda[i];
    } else if (sides[i] === ABOVE) inner += lambda[i] * problem.Y[i];
    else if (problem.V) inner += lambda[i] * problem.V[i];
  }
  return { product: await multiplyXTransposed(lambda), inner, norm: Math.sqrt(activeSq) };
}

/**
 * The best bound from Λ = t·Λ_Ω + Λ_off over the length t of the part on Ω (t = 1 is the ADMM's
 * own Λ): −σ_C(Λ) and XΛᵀ are linear in t, so each t costs only N1·M here. Each Λ is then taken
 * at its best multiple within ‖XΛᵀ‖_∞ ≤ 1 (−σ_C is positively homogeneous: scaled up as well as
 * down; a direction whose value is not positive bounds nothing better than its shrunk self).
 */
function bestOverLength(problem: LayerProblem, along: Part, off: Part): number {
  const product = new Float64Array(along.product.length);
  const at = (t: number) => {
    for (let i = 0; i < product.length; i++) product[i] = t * along.product[i] + off.product[i];
    // The dual norm of the objective: ‖·‖_∞ for ℓ1; for Σ_g ‖W_g‖₂ the largest group ℓ2 norm.
    let dualNorm = 0;
    if (problem.groups) dualNorm = Math.max(...groupNorms(problem.groups, product, problem.outputs));
    else for (let i = 0; i < product.length; i++) dualNorm = Math.max(dualNorm, Math.abs(product[i]));
    const value = -(t * along.inner + off.inner + problem.epsilonScaled * t * along.norm);
    return value * (value > 0 && dualNorm > 0 ? 1 / dualNorm : Math.min(1, 1 / dualNorm));
  };
  // t from 1/10 to 10 in steps of 12%, then around the best in steps of 0.6%.
  let best = at(1);
  let bestT = 1;
  for (let k = -20; k <= 20; k++) {
    const t = 10 ** (k / 20);
    const b = at(t);
    if (b > best) [best, bestT] = [b, t];
  }
  for (let k = -20; k <= 20; k++) {
    const t = bestT * 10 ** (k / 400);
    const b = at(t);
    if (b > best) [best, bestT] = [b, t];
  }
  return best;
}
