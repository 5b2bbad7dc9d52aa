// The WebGPU backend: uploads one layer problem, factors A once, then runs blocks of K
// iterations per submit with a single small readback (the residual sums) per block.
import { GpuError } from '../../errors.js';
import { withErrorScopes, type GpuRuntime } from '../../gpu/device.js';
import { matmul, tuneMatmul } from '../../gpu/kernels/matmul.js';
import { add, rescaleDuals, rescaleUniforms, shrinkUniforms, type WeightGroups } from '../../gpu/kernels/proximal.js';
import { CHANNELS, SCALAR_CHANNELS } from '../../gpu/kernels/channels.js';
import { constraintDistance, DISTANCE_PARTIALS, sumPartials } from '../../gpu/kernels/reductions.js';
import { mapAndCopy, Workspace, type Dispatch, type Step } from '../../gpu/workspace.js';
import type { AdmmEngine, AnswerFeasibility, EngineState, ResidualSums } from '../admmDriver.js';
import { inverseOfIdentityPlusOnHost } from '../spdInverse.js';
import { ABOVE, ON_SUPPORT, type LayerProblem } from '../problem.js';
import { SIDED_BOUND, type EntryClasses } from '../../gpu/kernels/sides.js';
import { readSamples, sampleStorage, uploadDesign, uploadSamples } from './gpuDesign.js';
import { admmIteration, partialSlots, type AdmmBuffers, type IterationProgram, type LayerShape } from './admmIteration.js';

export class GpuAdmmEngine implements AdmmEngine {
  /** Dispatches in one iteration (for benchmarks). */
  readonly dispatchesPerIteration: number;
  /** Whether the W3 solve uses the Woodbury form (P < N). */
  readonly woodbury: boolean;
  /** Sample chunks X and the P×M arrays are split into (1 unless the layer exceeds a storage binding). */
  readonly sampleChunks: number;
  private pendingRescale = false;
  /** scalars[distance] (the projection's distance) does not match the state: set from the host or rescaled. */
  private distanceStale = true;

  private constructor(
    // ws, shape, buffers and program are read by bench/measure.mjs (timing, counts, memory).
    readonly ws: Workspace,
    readonly shape: LayerShape,
    readonly buffers: AdmmBuffers,
    readonly program: IterationProgram,
    private readonly distance: Dispatch[],
    private readonly rescale: { dispatches: Dispatch[]; parts: Array<{ count: number; uniforms: GPUBuffer }> },
    private readonly feasibility: Dispatch[],
    private readonly readback: GPUBuffer,
    private rho: number,
    private readonly relaxation: number,
  ) {
    this.dispatchesPerIteration = program.dispatches.length;
    this.woodbury = buffers.woodbury !== null;
    this.sampleChunks = buffers.X.chunks.length;
  }

  /**
   * @param options.chunkRows samples per chunk of X and of the P×M arrays (tests; default: what one storage binding holds)
   * @param options.gramChunkRows rows of patches materialized at a time for XᵀX (tests; default 16 MiB worth)
   */
  static async create(runtime: GpuRuntime, problem: LayerProblem, options: { chunkRows?: number; gramChunkRows?: number } = {}): Promise<GpuAdmmEngine> {
    await tuneMatmul(runtime);
    const ws = new Workspace(runtime);
    try {
      return await withErrorScopes(runtime.device, 'setting up the layer on the GPU', () => GpuAdmmEngine.setUp(ws, problem, options));
    } catch (error) {
      ws.release();
      throw error;
    }
  }

  private static async setUp(ws: Workspace, problem: LayerProblem, options: { chunkRows?: number; gramChunkRows?: number }): Promise<GpuAdmmEngine> {
    const shape: LayerShape = { samples: problem.samples, columns: problem.columns, outputs: problem.outputs };
    const { samples: P, columns: N, outputs: M } = shape;
    const woodbury = P < N;
    const X = uploadDesign(ws, problem.design, { chunkRows: options.chunkRows, outputs: M });
    if (woodbury && !X.dense)
      throw new GpuError(`X (${P}×${N}, fewer samples than inputs) or Y (${P}×${M}) exceeds one storage binding of this device, which the Woodbury solve needs whole; use fewer inputs or the cpu backend`);

    // A = XXᵀ + I (paper orientation) is factored once in float64 on the CPU, from a Gram
    // matrix computed on the GPU: N×N, or P×P for the Woodbury form when P < N (X is then
    // dense: designOf materializes patches that have fewer rows than columns).
    const size = woodbury ? P : N;
    const scratch = new Workspace(ws.runtime);
    let inverse: Float64Array;
    try {
      const gram = scratch.storage(size * size, 'Gram matrix');
      ws.submit(woodbury ? [matmul(scratch, { label: 'X Xᵀ', a: X.dense!, b: X.dense!, out: gram, m: P, n: P, k: N, transposeB: true })] : X.gramOfColumns(gram, scratch, options.gramChunkRows));
      inverse = await inverseOfIdentityPlusOnHost(Float64Array.from(await scratch.read(gram, size * size)), size);
    } finally {
      scratch.release();
    }

    const stride = partialSlots(shape, X, woodbury);
    const buffers: AdmmBuffers = {
      X,
      Y: uploadSamples(ws, X, problem.Y, M, 'Y'),
      V: problem.sides ? uploadSamples(ws, X, sidedBounds(problem), M, 'V (sides marked)') : problem.V ? uploadSamples(ws, X, problem.V, M, 'V') : null,
      solveOperator: ws.upload(inverse, woodbury ? 'Woodbury inner inverse' : 'A⁻¹'),
      T: sampleStorage(ws, X, M, 'T = W3ᵀX'),
      B: sampleStorage(ws, X, M, 'B = W1 + U1'),
      W3: ws.storage(N * M, 'W3'),
      Q: ws.storage(N * M, 'Q = W2 + U2'),
      W2: ws.storage(N * M, 'W2'),
      rhs: woodbury ? null : ws.storage(N * M, 'rhs = XᵀB + Q'),
      previousW3: ws.storage(N * M, 'W3 before the checked iteration, then ΔW3'),
      woodbury: woodbury ? { residual: sampleStorage(ws, X, M, 'X Q − B'), correction: sampleStorage(ws, X, M, 'E') } : null,
      scalars: ws.storage(SCALAR_CHANNELS, 'scalars'),
      partials: { buffer: ws.storage(SCALAR_CHANNELS * stride, 'epilogue partial sums'), stride },
      shrinkUniforms: ws.uniform(shrinkUniforms(N * M, problem.rho, problem.relaxation, weightGroups(problem)), 'ShrinkParams'),
      groups: problem.groups ? { shape: weightGroups(problem)!, factors: ws.storage(problem.groups.count, 'input group factors') } : null,
    };
    const classes: EntryClasses = problem.sides ? 'sided' : problem.activation === 'linear' ? 'linear' : 'relu';
    const program = admmIteration(ws, shape, buffers, { classes, epsilon: problem.epsilonScaled, relaxation: problem.relaxation });
    const distance = constraintDistance(ws, {
      parts: X.chunks.map(({ count }, i) => ({ count: count * M, response: buffers.T.parts[i], responseRhs: buffers.B.parts[i], targetY: buffers.Y.parts[i], boundV: classes === 'sided' ? buffers.V!.parts[i] : null })),
      classes,
      partials: ws.storage(DISTANCE_PARTIALS * X.chunks.length, 'distance partial sums'),
      scalars: buffers.scalars,
    });
    // U1 = B − T and U2 = Q − W3 scaled by ρ_old/ρ_new: one uniform (count, factor) per part.
    const rescaleParts = [
      ...X.chunks.map(({ count }, i) => ({ count: count * M, anchor: buffers.T.parts[i], rhs: buffers.B.parts[i] })),
      { count: N * M, anchor: buffers.W3, rhs: buffers.Q },
    ].map((part) => ({ ...part, uniforms: ws.uniform(rescaleUniforms(part.count, 1), 'RescaleParams') }));
    const rescale = { parts: rescaleParts, dispatches: rescaleParts.map((part) => rescaleDuals(ws, part)) };
    // The answer's response X·W2 goes to T while its violations are summed; T = X·W3 is then
    // recomputed (the same product as the iteration's, so the same values).
    const feasibility = [
      ...X.product({ label: 'X W2 (feasibility)', weights: buffers.W2, out: buffers.T, outputs: M, epilogue: { kind: 'feasibility', partials: buffers.partials, targetY: buffers.Y, boundV: buffers.V, classes } }),
      sumPartials(ws, { partials: buffers.partials.buffer, scalars: buffers.scalars, slots: X.productSlots(M), stride, firstChannel: CHANNELS.activeSq, channels: 2 }), // activeSq, offSupportExcessSq
      ...X.product({ label: 'T = X W3', weights: buffers.W3, out: buffers.T, outputs: M }),
    ];
    const readback = ws.readbackBuffer(SCALAR_CHANNELS * 4);
    return new GpuAdmmEngine(ws, shape, buffers, program, distance, rescale, feasibility, readback, problem.rho, problem.relaxation);
  }

  setRho(rho: number): void {
    const { columns: N, outputs: M } = this.shape;
    const factor = this.rho / rho;
    const queue = this.ws.device.queue;
    for (const { count, uniforms } of this.rescale.parts) queue.writeBuffer(uniforms, 0, rescaleUniforms(count, factor));
    queue.writeBuffer(this.buffers.shrinkUniforms, 0, shrinkUniforms(N * M, rho, this.relaxation, this.buffers.groups?.shape ?? null));
    this.pendingRescale = true;
    this.rho = rho;
  }

  /** Encodes `count` iterations in one submit; the last one leaves its residual sums in `scalars`. */
  async iterate(count: number): Promise<ResidualSums> {
    const { columns: N, outputs: M } = this.shape;
    const steps: Step[] = [];
    if (this.pendingRescale) steps.push(...this.rescale.dispatches);
    if (this.pendingRescale || this.distanceStale) steps.push(...this.distance);
    this.pendingRescale = this.distanceStale = false;
    for (let k = 0; k < count - 1; k++) steps.push(...this.program.dispatches);
    // The last iteration compares its W3 with the one before (N×M: the only state copied).
    steps.push({ copy: this.buffers.W3, to: this.buffers.previousW3, bytes: N * M * 4 }, ...this.program.checkedDispatches, this.readScalars);
    this.ws.submit(steps, 'ADMM iterations');
    const s = await mapAndCopy(this.readback, SCALAR_CHANNELS);
    this.ws.runtime.assertHealthy();
    return residualSumsOf(s);
  }

  /** The copy of `scalars` into the readback buffer that ends a submit. */
  private get readScalars(): Step {
    return { copy: this.buffers.scalars, to: this.readback, bytes: SCALAR_CHANNELS * 4 };
  }

  async answerFeasibility(): Promise<AnswerFeasibility> {
    this.ws.submit([...this.feasibility, this.readScalars], 'feasibility of the answer');
    const s = await mapAndCopy(this.readback, SCALAR_CHANNELS);
    return { activeSq: s[CHANNELS.activeSq], offSupportExcessSq: s[CHANNELS.offSupportExcessSq] };
  }

  async setState(state: EngineState): Promise<void> {
    const { outputs: M } = this.shape;
    const queue = this.ws.device.queue;
    queue.writeBuffer(this.buffers.W3, 0, Float32Array.from(state.W3));
    queue.writeBuffer(this.buffers.W2, 0, Float32Array.from(state.W2));
    // Q = W3 + U2 (U2 = Q − W3 holds after every iteration; the W2 step recomputes W2 from it).
    queue.writeBuffer(this.buffers.Q, 0, Float32Array.from(state.W3, (w, i) => w + state.U2[i]));
    // T = X·W3, then B = T + U1 (U1 in a buffer held only for this).
    const scratch = new Workspace(this.ws.runtime);
    try {
      const { X, T, B } = this.buffers;
      const U1 = uploadSamples(scratch, X, state.U1, M, 'U1 (warm start)');
      this.ws.submit([
        ...X.product({ label: 'T = X W3', weights: this.buffers.W3, out: T, outputs: M }),
        ...X.chunks.map(({ count }, i) => add(scratch, { count: count * M, left: T.parts[i], right: U1.parts[i], sum: B.parts[i] })),
      ]);
      await queue.onSubmittedWorkDone();
    } finally {
      scratch.release();
    }
    this.distanceStale = true;
  }

  async getState(): Promise<EngineState> {
    const { columns: N, outputs: M } = this.shape;
    const [W3, W2, Q] = [await this.ws.read(this.buffers.W3, N * M), await this.weights(), await this.ws.read(this.buffers.Q, N * M)];
    return { W3, W2, U1: await this.scaledDual(), U2: Q.map((q, i) => q - W3[i]) };
  }

  /** W2, N×M (bias row last); bench/gpu/suite.mjs reads the answer of its timed solve with it. */
  weights(): Promise<Float32Array> {
    const { columns: N, outputs: M } = this.shape;
    return this.ws.read(this.buffers.W2, N * M);
  }

  /** U1 = B − T, samples-major P×M, for the certificate. */
  async scaledDual(): Promise<Float64Array> {
    const { X, B, T } = this.buffers;
    const [b, t] = [await readSamples(this.ws, X, B), await readSamples(this.ws, X, T)];
    return Float64Array.from(b, (v, i) => v - t[i]);
  }

  /** Xᵀ Λ (N×M) on the GPU, after the solve (Λ and the product in buffers held only for this). */
  async multiplyXTransposed(lambda: Float64Array): Promise<Float32Array> {
    const { columns: N, outputs: M } = this.shape;
    const scratch = new Workspace(this.ws.runtime);
    try {
      const out = scratch.storage(N * M, 'Xᵀ Λ');
      this.ws.submit(this.buffers.X.transposedProduct({ label: 'Xᵀ Λ', response: uploadSamples(scratch, this.buffers.X, lambda, M, 'Λ'), out, outputs: M }));
      return await scratch.read(out, N * M);
    } finally {
      scratch.release();
    }
  }

  /** GPU bytes this engine holds (all of it allocated at setup: iterating allocates nothing). */
  get allocatedBytes(): number {
    return this.ws.bytes;
  }

  release(): void {
    this.ws.release();
  }
}

/** V with the sides marked for the kernels (gpu/kernels/sides.ts): Ω ≥ SIDED_BOUND, ABOVE ≤ −SIDED_BOUND (their bound is in Y). */
function sidedBounds(problem: LayerProblem): Float64Array {
  const sides = problem.sides!;
  return Float64Array.from(sides, (side, i) => (side === ON_SUPPORT ? SIDED_BOUND : side === ABOVE ? -SIDED_BOUND : problem.V ? problem.V[i] : 0));
}

/** The input groups of a structured problem as the W2 kernels take them (problem.ts inputGroups). */
function weightGroups(problem: LayerProblem): WeightGroups | null {
  if (!problem.groups) return null;
  const channels = problem.groups.count - (problem.bias ? 1 : 0);
  return { outputs: problem.outputs, inputs: problem.inputs, channels, count: problem.groups.count, span: problem.groups.span };
}

/** The residual sums of a block's last iteration, read from `scalars` by channel name. */
function residualSumsOf(scalars: Float32Array): ResidualSums {
  const { r1, s1, w1, t, u1, r2, s2, w2, w3, u2 } = CHANNELS;
  return { r1: scalars[r1], s1: scalars[s1], w1: scalars[w1], t: scalars[t], u1: scalars[u1], r2: scalars[r2], s2: scalars[s2], w2: scalars[w2], w3: scalars[w3], u2: scalars[u2] };
}
