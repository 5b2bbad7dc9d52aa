// The float64 reference: net-trim.md §3 written out plainly, samples-major
// (W1, U1, T = W3ᵀX are stored transposed, P×M; W2, W3, U2 are N1×M).
// It is the oracle of the GPU tests and the `--backend cpu` fallback.
import { throwIfAborted, yieldToEvents, type AdmmEngine, type AnswerFeasibility, type EngineState, type ResidualSums } from './admmDriver.js';
import { multiply } from './linalg64.js';
import { spdInverseOfIdentityPlus } from './spdInverse.js';
import { ABOVE, entrySide, groupNorms, isActive, offSupportExcess, ON_SUPPORT, type LayerProblem } from './problem.js';

export class CpuAdmmEngine implements AdmmEngine {
  readonly W1: Float64Array;
  readonly U1: Float64Array;
  readonly W2: Float64Array;
  readonly W3: Float64Array;
  readonly U2: Float64Array;
  private readonly T: Float64Array; // W3ᵀX (transposed: X·W3)
  private readonly solve: (rhs: Float64Array) => Float64Array;
  private rho: number;

  constructor(private readonly problem: LayerProblem) {
    const { samples: P, columns: N, outputs: M, design } = problem;
    this.rho = problem.rho;
    this.W1 = new Float64Array(P * M);
    this.U1 = new Float64Array(P * M);
    this.T = new Float64Array(P * M);
    this.W2 = new Float64Array(N * M);
    this.W3 = new Float64Array(N * M);
    this.U2 = new Float64Array(N * M);
    if (P >= N) {
      // A⁻¹ = (XXᵀ + I)⁻¹, N×N.
      const inverse = spdInverseOfIdentityPlus(design.gramOfColumns(), N);
      this.solve = (rhs) => multiply(inverse, rhs, N, N, M);
    } else {
      // Woodbury: A⁻¹ = I − X(I + XᵀX)⁻¹Xᵀ with a P×P inverse (paper orientation).
      const inner = spdInverseOfIdentityPlus(design.gramOfRows(), P);
      this.solve = (rhs) => {
        const projected = multiply(inner, design.multiply(rhs, M), P, P, M);
        const correction = design.multiplyTransposed(projected, M);
        return rhs.map((v, i) => v - correction[i]);
      };
    }
  }

  setRho(rho: number): void {
    const factor = this.rho / rho;
    for (let i = 0; i < this.U1.length; i++) this.U1[i] *= factor;
    for (let i = 0; i < this.U2.length; i++) this.U2[i] *= factor;
    this.rho = rho;
  }

  async setState(state: EngineState): Promise<void> {
    this.W3.set(state.W3);
    this.W2.set(state.W2);
    this.U1.set(state.U1);
    this.U2.set(state.U2);
    this.T.set(this.problem.design.multiply(this.W3, this.problem.outputs));
  }

  async getState(): Promise<EngineState> {
    return { W3: this.W3, W2: this.W2, U1: this.U1, U2: this.U2 };
  }

  async answerFeasibility(): Promise<AnswerFeasibility> {
    const { outputs: M, design, Y } = this.problem;
    const response = design.multiply(this.W2, M);
    let activeSq = 0;
    let offSupportExcessSq = 0;
    for (let i = 0; i < response.length; i++) {
      if (entrySide(this.problem, i) === ON_SUPPORT) activeSq += (response[i] - Y[i]) ** 2;
      else offSupportExcessSq += Math.max(offSupportExcess(this.problem, i, response[i]), 0) ** 2;
    }
    return { activeSq, offSupportExcessSq };
  }

  async iterate(count: number, signal?: AbortSignal): Promise<ResidualSums> {
    const tPrev = new Float64Array(this.T.length);
    const w3Prev = new Float64Array(this.W3.length);
    let lastYield = performance.now();
    for (let k = 0; k < count; k++) {
      // An iteration of a large layer takes a second here: give a cancel its turn every 50 ms.
      if (performance.now() - lastYield > 50) {
        await yieldToEvents();
        throwIfAborted(signal);
        lastYield = performance.now();
      }
      if (k === count - 1) {
        tPrev.set(this.T);
        w3Prev.set(this.W3);
      }
      this.iterateOnce();
    }
    return this.residualSums(tPrev, w3Prev);
  }

  private iterateOnce(): void {
    const { problem, W1, U1, W2, W3, U2, T } = this;
    const { outputs: M, design, Y, V, epsilonScaled: epsilon } = problem;
    // W1 = projection of Z = W3ᵀX − U1 onto the constraint set.
    let distanceSq = 0;
    for (let i = 0; i < W1.length; i++) if (isActive(problem, i)) distanceSq += (T[i] - U1[i] - Y[i]) ** 2;
    const distance = Math.sqrt(distanceSq);
    const shrink = distance === 0 ? 1 : epsilon / Math.max(distance, epsilon);
    for (let i = 0; i < W1.length; i++) {
      const z = T[i] - U1[i];
      const side = entrySide(problem, i);
      W1[i] = side === ON_SUPPORT ? Y[i] + (z - Y[i]) * shrink : side === ABOVE ? Math.max(z, Y[i]) : Math.min(z, V ? V[i] : 0);
    }
    // W2 = soft_threshold(W3 − U2, 1/ρ), or with structure 'inputs' the group soft threshold
    // w_g ← max(0, 1 − 1/(ρ‖t_g‖))·t_g over each input's rows.
    const threshold = 1 / this.rho;
    if (problem.groups) {
      const t = W3.map((w, i) => w - U2[i]);
      const factors = groupNorms(problem.groups, t, M).map((norm) => (norm > threshold ? 1 - threshold / norm : 0));
      for (let i = 0; i < W2.length; i++) W2[i] = t[i] * factors[problem.groups.ofRow[Math.floor(i / M)]];
    } else
      for (let i = 0; i < W2.length; i++) {
        const t = W3[i] - U2[i];
        W2[i] = Math.sign(t) * Math.max(Math.abs(t) - threshold, 0);
      }
    // Over-relaxation: the W3 solve and the dual updates see Ŵ = α·W + (1 − α)·(W3 side).
    const alpha = problem.relaxation;
    const W1hat = W1.map((w, i) => alpha * w + (1 - alpha) * T[i]);
    const W2hat = W2.map((w, i) => alpha * w + (1 - alpha) * W3[i]);
    // W3 = A⁻¹ (X (Ŵ1 + U1)ᵀ + Ŵ2 + U2).
    const rhs = design.multiplyTransposed(W1hat.map((w, i) => w + U1[i]), M);
    for (let i = 0; i < rhs.length; i++) rhs[i] += W2hat[i] + U2[i];
    W3.set(this.solve(rhs));
    T.set(design.multiply(W3, M));
    // Dual updates.
    for (let i = 0; i < U1.length; i++) U1[i] += W1hat[i] - T[i];
    for (let i = 0; i < U2.length; i++) U2[i] += W2hat[i] - W3[i];
  }

  private residualSums(tPrev: Float64Array, w3Prev: Float64Array): ResidualSums {
    const sums: ResidualSums = { r1: 0, r2: 0, s1: 0, s2: 0, w1: 0, w2: 0, t: 0, w3: 0, u1: 0, u2: 0 };
    const { W1, U1, W2, W3, U2, T } = this;
    for (let i = 0; i < T.length; i++) {
      sums.r1 += (W1[i] - T[i]) ** 2;
      sums.s1 += (T[i] - tPrev[i]) ** 2;
      sums.w1 += W1[i] ** 2;
      sums.t += T[i] ** 2;
      sums.u1 += U1[i] ** 2;
    }
    for (let i = 0; i < W3.length; i++) {
      sums.r2 += (W2[i] - W3[i]) ** 2;
      sums.s2 += (W3[i] - w3Prev[i]) ** 2;
      sums.w2 += W2[i] ** 2;
      sums.w3 += W3[i] ** 2;
      sums.u2 += U2[i] ** 2;
    }
    return sums;
  }
}
