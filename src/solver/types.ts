// The public contract of one layer's Net-Trim program. Both backends (webgpu, cpu) implement it.
//
import type { GpuRuntime } from '../gpu/device.js';
import type { PatchShape } from '../gpu/kernels/patches.js';

// Layout: activations are samples-major, as frameworks dump them. X is P×N (one sample per row;
// the transpose of the paper's X), Y and V are P×M, weights are N×M (Keras/TF.js kernel layout).

/** A dense row-major matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float32Array | Float64Array;
}

/**
 * A conv layer's input as the program sees it: the matrix of image patches (one row per sample
 * and output position, columns in kernel order ky, kx, c — the HWIO kernel's rows), described by
 * the images and the window geometry instead of materialized.
 */
export interface ImagePatches extends PatchShape {
  /** Samples-major NHWC images: count·inH·inW·channels values. */
  images: Float32Array | Float64Array;
}

/** X of a layer program: a P×N matrix, or the patches of a convolution (P = count·outH·outW). */
export type LayerInput = Matrix | ImagePatches;

/**
 * The activation after the layer, which sets the program's constraints (net-trim.md §1): 'relu'
 * (Ω where the target is positive, ≤ V elsewhere), 'clip' (a clipped ReLU such as ReLU6: Ω strictly
 * between the clamps, ≤ V where the target sits at the lower clamp, ≥ V at the upper one), or
 * 'linear' (every entry in Ω: the pre-activation is the target).
 */
export type Activation = 'relu' | 'clip' | 'linear';
export type Backend = 'webgpu' | 'cpu';

export interface Tolerances {
  /** Absolute tolerance per entry of the primal/dual residuals (Boyd et al. §3.3.1). */
  absolute: number;
  /** Relative tolerance of the primal/dual residuals. */
  relative: number;
  /**
   * A solve counts as converged only when the returned weights, checked in float64, meet
   * √(‖(ŴᵀX − Y)_Ω‖² + ‖(ŴᵀX − V)₊ on Ωᶜ‖²) ≤ (1 + feasibility)·ε: the ε-ball with what the answer
   * passes its off-support bounds counted in it, which bounds the layer's error after its
   * activation. Small residuals alone can leave the sparse answer measurably outside it.
   */
  feasibility: number;
  /**
   * ... and when the relative duality gap (‖Ŵ‖₁ − dual bound) / ‖Ŵ‖₁ is at most this: the answer's
   * ℓ1 is then provably within this share of the optimum. Default 0.01.
   */
  gap: number;
}

export interface SolveProgress {
  iteration: number;
  primalResidual: number;
  dualResidual: number;
  primalTolerance: number;
  dualTolerance: number;
  rho: number;
  seconds: number;
}

export interface SolveLayerOptions {
  /** P×N layer input (without the bias column: `bias` appends it), or a conv layer's image patches. */
  X: LayerInput;
  /** P×M trained layer output: after ReLU for 'relu', the pre-activation for 'linear'. */
  Y: Matrix;
  activation?: Activation;
  /** Absolute ε of the constraint ‖(UᵀX − Y)_Ω‖_F ≤ ε. Give this or epsilonGain. */
  epsilon?: number;
  /** ε = epsilonGain·‖Y‖_F (default 0.05 when epsilon is not given). */
  epsilonGain?: number;
  /**
   * P×M bounds off Ω (cascade scheme): the response stays ≤ V where the target is 0 (at the lower
   * clamp for 'clip') and ≥ V where it is at the upper clamp. Default: 0 (the clamps). Ignored
   * for 'linear'.
   */
  V?: Matrix;
  /**
   * The objective: 'weights' (default) the paper's ‖W‖₁; 'inputs' the group-sparse Σᵢ ‖wᵢ‖₂ over
   * the weights that read one input (a row of a dense kernel; for a conv, the kh·kw·cout weights
   * that read one input channel; the bias row is a group of its own), which zeroes whole inputs:
   * neurons or channels of the layer before.
   */
  structure?: 'weights' | 'inputs';
  /**
   * structure 'inputs' on a dense layer that reads a flattened [H, W, C] image (NHWC): C, so that a
   * group is one channel of the layer before (its H·W rows r with r mod C = c), like a conv's.
   */
  inputChannels?: number;
  /**
   * structure 'inputs' on a layer that reads attention heads merged ([T, heads·d]): d, so that a
   * group is one head, d inputs in a run (input r's group: ⌊r / d⌋ mod the group count).
   */
  groupSpan?: number;
  /** 'clip': the clamps [lower, upper] (default [0, 6], ReLU6); −Infinity for no lower clamp. */
  clip?: [number, number];
  /**
   * P×M values added to the layer's response before the activation: the other inputs of a
   * residual sum (z = ŴᵀX + b + offset). The constraints hold for z; Y and V are in z's terms.
   */
  offset?: Matrix;
  /** Fit a bias (a column of ones appended to X; its weight row counts in the ℓ1 objective). Default true. */
  bias?: boolean;
  /** ADMM penalty; the soft threshold is 1/ρ. */
  rho?: number;
  /**
   * Over-relaxation α ∈ (0, 2) (Boyd et al. 2011, §3.4.3): the W3 solve and the dual updates use
   * α·W + (1 − α)·(the W3 side) in place of the proximal steps' W. 1 is plain ADMM.
   */
  relaxation?: number;
  /** Adapt ρ by residual balancing at each convergence check. Default true. */
  adaptiveRho?: boolean;
  tolerances?: Partial<Tolerances>;
  maxIterations?: number;
  /** Iterations between convergence checks (the only host round trips of the loop). */
  checkEvery?: number;
  /**
   * Merge identical samples (same inputs, targets and bounds) into one row weighted by √k before
   * solving: the same program, in fewer rows and far fewer iterations where many rows repeat (a
   * conv layer's background patches). Default true; false solves the rows as given.
   */
  mergeIdenticalSamples?: boolean;
  backend?: Backend;
  /**
   * webgpu: samples per GPU buffer of X and of the P×M arrays (Y, V and the state), rounded down
   * to whole images for a conv layer. Default: as many as one storage binding of the device holds;
   * larger layers are split over samples and multiplied chunk by chunk.
   */
  chunkRows?: number;
  /** A device to reuse (see acquireGpu); without it a device is acquired and released per call. */
  gpu?: GpuRuntime;
  /**
   * Start from the end of an earlier solve of a related problem (same shapes: an ε sweep, or the
   * same layer fed slightly different inputs) instead of from zero. Its ρ is the starting ρ
   * unless `rho` is given.
   */
  warmStart?: SolverState;
  /** Progress after every convergence check. */
  onProgress?: (progress: SolveProgress) => void;
  signal?: AbortSignal;
}

/** Checks of the returned weights that need no solver, computed in float64. */
export interface LayerReport {
  backend: Backend;
  adapter: string;
  activation: Activation;
  rows: number; // N (inputs, without bias)
  columns: number; // M (outputs)
  samples: number; // P
  /** The distinct samples the ADMM solved (SolveLayerOptions.mergeIdenticalSamples); = samples when none were merged. */
  distinctSamples: number;
  /** Nonzeros of the returned weights and bias together. */
  nonzeros: number;
  /** nonzeros / ((N + bias) · M). */
  density: number;
  epsilon: number;
  /** ‖(ŴᵀX + b − Y)_Ω‖_F, to compare with epsilon (Ω = all entries for 'linear'). */
  constraintResidual: number;
  /** ‖(ŴᵀX + b − V)₊‖_F over Ωᶜ (below Y on an entry held above it): counted in the ε-ball. */
  offSupportResidual: number;
  /** max over Ωᶜ of (ŴᵀX + b − V), clipped at 0 ('relu' only, else 0). */
  offSupportViolation: number;
  /** ‖act(ŴᵀX + b) − Y‖_F / ‖Y‖_F. */
  relativeOutputError: number;
  /** ‖Ŵ‖₁ + ‖b‖₁. */
  l1: number;
  /** The program's objective at the answer: l1, or Σᵢ ‖wᵢ‖₂ over input groups with structure 'inputs'. */
  objective: number;
  /** structure 'inputs': the input groups (inputs, or input channels of a conv) with a nonzero weight. */
  inputsKept?: number;
  /** A lower bound on the optimal ℓ1 from a dual-feasible point built from the ADMM duals. */
  dualBound: number;
  /** objective − dualBound: how far from optimal the answer can be (≥ 0 up to feasibility error). */
  dualityGap: number;
  relativeDualityGap: number;
  iterations: number;
  /**
   * Of `iterations`, those run in float64 on the CPU after a GPU stop whose answer met the ball but
   * not the duality gap (a float64 finish, where the layer's CPU iterations are cheap); 0 if none.
   */
  float64FinishIterations: number;
  converged: boolean;
  status: 'converged' | 'not converged';
  /** Why a solve is not converged: which certificate failed, or the iteration limit. */
  statusReason: string | null;
  primalResidual: number;
  dualResidual: number;
  rho: number;
  seconds: number;
  history: SolveProgress[];
}

/**
 * The ADMM iterate at the end of a solve (see SolveLayerOptions.warmStart): the splitting's
 * weights W3 and W2 (N1×M, bias row last), the scaled duals U1 (P×M, in the units of Y) and U2
 * (N1×M), and the final ρ.
 */
export interface SolverState {
  W3: Float32Array;
  W2: Float32Array;
  U1: Float32Array;
  U2: Float32Array;
  rho: number;
}

export interface SolveLayerResult {
  /** N×M pruned weights (exactly sparse), float32 for Keras/TF.js. */
  weights: Matrix;
  /** M biases, or null without bias. */
  bias: Float32Array | null;
  report: LayerReport;
  /** Where the iteration ended, to warm-start a related solve. */
  state: SolverState;
}
