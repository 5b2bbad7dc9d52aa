// One Net-Trim ADMM iteration on the GPU (net-trim.md §3), as a list of dispatches bound once.
//
//   Z  = W3ᵀX − U1                                   (= 2T − B, below)
//   W1 = projection of Z onto the constraint set       projectResponse (‖Z − Y‖ from the last product)
//   W2 = soft_threshold(W3 − U2, 1/ρ)                  shrinkWeights
//   W3 = A⁻¹ (X (W1 + U1)ᵀ + W2 + U2)                  matmuls
//   U1 = U1 + W1 − W3ᵀX,  U2 = U2 + W2 − W3            implicit (see below)
//
// Stored state, samples-major (the transpose of the paper's M×P arrays):
//   T = W3ᵀX (P×M), B = W1 + U1 (P×M), W3 and Q = W2 + U2 (N×M), W2 (N×M, the answer).
// The duals are implicit: U1 = B − T and U2 = Q − W3 hold after every iteration, so the dual
// updates cost nothing and B, Q are exactly the right-hand side of the W3 solve.
//
// The product that writes T also sums ‖(2T − B − Y)_Ω‖² for the next projection (a fused
// epilogue, shaders/epilogue.wgsl), so no pass over M×P arrays is spent on it. The last
// iteration of a block (`checkedDispatches`) also leaves its residual sums in scalars[r1..u2]:
// the projection parks W1 in T until the product overwrites it (and sums against it), the new
// W3 is compared with a copy of the old one (N×M), and one more product X·ΔW3 gives ‖ΔT‖. No
// M×P array beyond the algorithm's own is held.
//
// A layer larger than one storage binding has X and every P×M array split over samples (see
// gpuDesign.ts): the elementwise projection then runs once per chunk, the products chunk by chunk.
import { mapEpilogue, woodburyResponse, woodburyResponseSlots, type Epilogue, type PartialSlots } from '../../gpu/kernels/epilogue.js';
import { CHANNELS } from '../../gpu/kernels/channels.js';
import { matmulDispatches } from '../../gpu/kernels/matmul.js';
import { groupFactors, projectResponse, shrinkWeights, type WeightGroups } from '../../gpu/kernels/proximal.js';
import { sumPartials, weightResidualSlots, weightResiduals } from '../../gpu/kernels/reductions.js';
import type { EntryClasses } from '../../gpu/kernels/sides.js';
import type { Dispatch, Workspace } from '../../gpu/workspace.js';
import type { GpuDesign, SampleArray } from './gpuDesign.js';

export interface LayerShape {
  samples: number; // P
  columns: number; // N (with the bias column)
  outputs: number; // M
}

export interface AdmmBuffers {
  /** X (P×N, normalized): a dense matrix, or a convolution's patches (see gpuDesign.ts). */
  X: GpuDesign;
  Y: SampleArray; // P×M, 0 off Ω
  V: SampleArray | null; // P×M
  /** (XXᵀ + I)⁻¹ (N×N) when P ≥ N; the Woodbury inner (I + XᵀX)⁻¹ (P×P) when P < N. */
  solveOperator: GPUBuffer;
  T: SampleArray;
  B: SampleArray;
  W3: GPUBuffer;
  Q: GPUBuffer;
  W2: GPUBuffer;
  /** N×M, the W3 solve's right-hand side XᵀB + Q (standard form only). */
  rhs: GPUBuffer | null;
  /** N×M: W3 before the last iteration of a block (copied by the caller), then ΔW3. */
  previousW3: GPUBuffer;
  /** The Woodbury form's two P×M intermediates X·Q − B and E (X is then one chunk). */
  woodbury: { residual: SampleArray; correction: SampleArray } | null;
  scalars: GPUBuffer;
  /** Partial sums of the fused epilogues; stride ≥ partialSlots(). */
  partials: PartialSlots;
  shrinkUniforms: GPUBuffer;
  /** Structured (group-sparse) W2 step: the input groups and a buffer of their factors; null for ℓ1. */
  groups: { shape: WeightGroups; factors: GPUBuffer } | null;
}

export interface IterationProgram {
  dispatches: Dispatch[];
  /** The same iteration, also leaving its residual sums in scalars[r1..u2] (the last of a block). */
  checkedDispatches: Dispatch[];
  /**
   * The iteration's three products unfused: `first` and `second` with X, `solve` with A⁻¹ (N²·M)
   * or the Woodbury factor (P²·M). The iteration runs them with its fused epilogues; bench/
   * measures an iteration against them (its elementwise work's cost is the difference).
   */
  products: { first: Dispatch[]; solve: Dispatch[]; second: Dispatch[] };
}

/** Partial-sum slots per channel the iteration's epilogues need (the stride of `partials`). */
export function partialSlots(shape: LayerShape, X: GpuDesign, woodbury: boolean): number {
  const { samples: P, columns: N, outputs: M } = shape;
  return Math.max(X.productSlots(M), weightResidualSlots(N * M), woodbury ? woodburyResponseSlots(P * M) : 0);
}

export function admmIteration(
  ws: Workspace,
  shape: LayerShape,
  b: AdmmBuffers,
  o: { classes: EntryClasses; epsilon: number; relaxation: number },
): IterationProgram {
  const { samples: P, columns: N, outputs: M } = shape;
  const partials = b.partials;
  // The three products, bound once: `first` and `solve` (and Woodbury's `second`) serve the
  // iteration as they are; the standard form's `second`, T = X W3, runs there with its fused
  // epilogue instead; the benchmarks time all three unfused (IterationProgram.products).
  const products = !b.woodbury
    ? {
        first: b.X.transposedProduct({ label: 'rhs = XᵀB + Q', response: b.B, out: b.rhs!, addend: b.Q, outputs: M, beta: 1 }),
        solve: matmulDispatches(ws, { label: 'W3 = A⁻¹ rhs', a: b.solveOperator, b: b.rhs!, out: b.W3, m: N, n: M, k: N }),
        second: b.X.product({ label: 'T = X W3', weights: b.W3, out: b.T, outputs: M }),
      }
    : {
        first: b.X.product({ label: 'X Q − B', weights: b.Q, out: b.woodbury.residual, addend: b.B, outputs: M, beta: -1 }),
        solve: matmulDispatches(ws, { label: 'E = K (X Q − B)', a: b.solveOperator, b: b.woodbury.residual.parts[0], out: b.woodbury.correction.parts[0], m: P, n: M, k: P }),
        second: b.X.transposedProduct({ label: 'W3 = Q − Xᵀ E', response: b.woodbury.correction, out: b.W3, addend: b.Q, outputs: M, alpha: -1, beta: 1 }),
      };
  const build = (checked: boolean): Dispatch[] => {
    const response: Epilogue<SampleArray> = { kind: 'response', partials, responseRhs: b.B, targetY: b.Y, classes: o.classes, checked, boundV: o.classes === 'sided' ? b.V : null };
    const weightSums = checked
      ? [weightResiduals(ws, { count: N * M, W3: b.W3, W2: b.W2, weightRhs: b.Q, W3Prev: b.previousW3, partials: partials.buffer, stride: partials.stride })]
      : [];
    const steps: Dispatch[] = [
      // W1 step, chunk by chunk (the distance ‖(Z − Y)_Ω‖ is already in scalars[distance]), then the W2 step.
      ...b.X.chunks.map(({ count }, i) =>
        projectResponse(ws, { count: count * M, classes: o.classes, epsilon: o.epsilon, relaxation: o.relaxation, saveW1: checked, response: b.T.parts[i], targetY: b.Y.parts[i], boundV: b.V?.parts[i] ?? null, scalars: b.scalars, responseRhs: b.B.parts[i] }),
      ),
      ...(b.groups ? [groupFactors(ws, { groups: b.groups.shape, uniforms: b.shrinkUniforms, W3: b.W3, weightRhs: b.Q, factors: b.groups.factors })] : []),
      shrinkWeights(ws, { count: N * M, uniforms: b.shrinkUniforms, W3: b.W3, weightRhs: b.Q, W2: b.W2, factors: b.groups?.factors }),
    ];
    let responseSlots: number;
    if (!b.woodbury) {
      // W3 = A⁻¹ (XᵀB + Q), then T = X W3.
      steps.push(...products.first, ...products.solve, ...weightSums, ...b.X.product({ label: 'T = X W3', weights: b.W3, out: b.T, outputs: M, epilogue: response }));
      responseSlots = b.X.productSlots(M);
    } else {
      // Woodbury, with K = (I + XXᵀ)⁻¹ (samples-major X): E = K (X Q − B), W3 = Q − Xᵀ E, T = B + E.
      const correction = b.woodbury.correction.parts[0];
      const epilogue = mapEpilogue(response, (a) => a.parts[0]) as Epilogue & { kind: 'response' };
      steps.push(...products.first, ...products.solve, ...products.second, ...weightSums, woodburyResponse(ws, { count: P * M, correction, response: b.T.parts[0], epilogue }));
      responseSlots = woodburyResponseSlots(P * M);
    }
    if (!checked) {
      steps.push(sumPartials(ws, { partials: partials.buffer, scalars: b.scalars, slots: responseSlots, stride: partials.stride, firstChannel: CHANNELS.distance, channels: 1 }));
      return steps;
    }
    // ‖ΔT‖² = ‖X·ΔW3‖² (channel s1), then every channel's sum: distance … u1 from the products, r2 … u2 from weightResiduals.
    steps.push(
      ...b.X.product({ label: 'X ΔW3 (sums only)', weights: b.previousW3, outputs: M, epilogue: { kind: 'squares', partials } }),
      sumPartials(ws, { partials: partials.buffer, scalars: b.scalars, slots: Math.max(responseSlots, b.X.productSlots(M)), stride: partials.stride, firstChannel: CHANNELS.distance, channels: CHANNELS.u1 - CHANNELS.distance + 1 }),
      sumPartials(ws, { partials: partials.buffer, scalars: b.scalars, slots: weightResidualSlots(N * M), stride: partials.stride, firstChannel: CHANNELS.r2, channels: CHANNELS.u2 - CHANNELS.r2 + 1 }),
    );
    return steps;
  };

  return { dispatches: build(false), checkedDispatches: build(true), products };
}
