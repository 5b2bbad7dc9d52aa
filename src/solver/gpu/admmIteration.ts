// One Net-Trim ADMM iteration on the GPU (net-trim.md §3), as a list of dispatches bound once.
//
//   Z  = W3ᵀX − U1                                   (= 2T − B, below)
//   W1 = projection of Z onto the constraint set       constraintDistance + projectResponse
//   W2 = soft_threshold(W3 − U2, 1/ρ)                  shrinkWeights
//   W3 = A⁻¹ (X (W1 + U1)ᵀ + W2 + U2)                  matmuls
//   U1 = U1 + W1 − W3ᵀX,  U2 = U2 + W2 − W3            implicit (see below)
//
// Stored state, samples-major (the transpose of the paper's M×P arrays):
//   T = W3ᵀX (P×M), B = W1 + U1 (P×M), W3 and Q = W2 + U2 (N×M), W2 (N×M, the answer).
// The duals are implicit: U1 = B − T and U2 = Q − W3 hold after every iteration, so the dual
// updates cost nothing and B, Q are exactly the right-hand side of the W3 solve.
import { matmul } from '../../gpu/kernels/matmul.js';
import { add, projectResponse, shrinkWeights } from '../../gpu/kernels/proximal.js';
import { constraintDistance } from '../../gpu/kernels/reductions.js';
import type { Dispatch, Workspace } from '../../gpu/workspace.js';
import type { GpuDesign } from './gpuDesign.js';

export interface LayerShape {
  samples: number; // P
  columns: number; // N (with the bias column)
  outputs: number; // M
}

export interface AdmmBuffers {
  /** X (P×N, normalized): a dense matrix, or a convolution's patches (see gpuDesign.ts). */
  X: GpuDesign;
  Y: GPUBuffer; // P×M, 0 off Ω
  V: GPUBuffer | null; // P×M
  /** (XXᵀ + I)⁻¹ (N×N) when P ≥ N; the Woodbury inner (I + XᵀX)⁻¹ (P×P) when P < N. */
  solveOperator: GPUBuffer;
  T: GPUBuffer;
  B: GPUBuffer;
  W3: GPUBuffer;
  Q: GPUBuffer;
  W2: GPUBuffer;
  /** Scratch: N×M for the standard solve; two P×M for Woodbury. */
  scratchWeights: GPUBuffer;
  scratchResponse: [GPUBuffer, GPUBuffer] | null;
  scalars: GPUBuffer;
  partials: GPUBuffer;
  shrinkUniforms: GPUBuffer;
}

export interface IterationProgram {
  dispatches: Dispatch[];
  /** The two products with X (M·N·P multiply-adds each): the floor an iteration is measured against. */
  productsWithX: Dispatch[];
}

export function admmIteration(
  ws: Workspace,
  shape: LayerShape,
  b: AdmmBuffers,
  o: { linear: boolean; epsilon: number; relaxation: number; woodbury: boolean },
): IterationProgram {
  const { samples: P, columns: N, outputs: M } = shape;
  const steps: Dispatch[] = [
    // W1 step: ‖(Z − Y)_Ω‖ on the GPU, then the projection reads it from `scalars`.
    ...constraintDistance(ws, { count: P * M, linear: o.linear, response: b.T, responseRhs: b.B, targetY: b.Y, partials: b.partials, scalars: b.scalars }),
    projectResponse(ws, { count: P * M, linear: o.linear, epsilon: o.epsilon, relaxation: o.relaxation, response: b.T, targetY: b.Y, boundV: b.V, scalars: b.scalars, responseRhs: b.B }),
    // W2 step.
    shrinkWeights(ws, { count: N * M, uniforms: b.shrinkUniforms, W3: b.W3, weightRhs: b.Q, W2: b.W2 }),
  ];
  if (!o.woodbury) {
    // W3 = A⁻¹ (XᵀB + Q), then T = X W3.
    const rhs = b.X.transposedProduct({ label: 'rhs = XᵀB + Q', response: b.B, out: b.scratchWeights, addend: b.Q, outputs: M, beta: 1 });
    const response = b.X.product({ label: 'T = X W3', weights: b.W3, out: b.T, outputs: M });
    steps.push(...rhs, matmul(ws, { label: 'W3 = A⁻¹ rhs', a: b.solveOperator, b: b.scratchWeights, out: b.W3, m: N, n: M, k: N }), ...response);
    return { dispatches: steps, productsWithX: [...rhs, ...response] };
  }
  // Woodbury, with K = (I + XXᵀ)⁻¹ (samples-major X): E = K (X Q − B), W3 = Q − Xᵀ E, T = B + E.
  const [residual, correction] = b.scratchResponse!;
  const projected = b.X.product({ label: 'X Q − B', weights: b.Q, out: residual, addend: b.B, outputs: M, beta: -1 });
  const weights = b.X.transposedProduct({ label: 'W3 = Q − Xᵀ E', response: correction, out: b.W3, addend: b.Q, outputs: M, alpha: -1, beta: 1 });
  steps.push(
    ...projected,
    matmul(ws, { label: 'E = K (X Q − B)', a: b.solveOperator, b: residual, out: correction, m: P, n: M, k: P }),
    ...weights,
    add(ws, { count: P * M, left: b.B, right: correction, sum: b.T }),
  );
  return { dispatches: steps, productsWithX: [...projected, ...weights] };
}
