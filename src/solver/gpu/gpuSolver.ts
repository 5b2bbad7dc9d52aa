// The WebGPU backend: uploads one layer problem, factors A once, then runs blocks of K
// iterations per submit with a single small readback (the residual sums) per block.
import { GpuError } from '../../errors.js';
import { withErrorScopes, type GpuRuntime } from '../../gpu/device.js';
import { matmul, tuneMatmul } from '../../gpu/kernels/matmul.js';
import { add, rescaleDuals, rescaleUniforms, shrinkUniforms } from '../../gpu/kernels/proximal.js';
import { answerFeasibility, iterationResiduals, PARTIALS_LENGTH, SCALAR_CHANNELS } from '../../gpu/kernels/reductions.js';
import { encodeDispatches, mapAndCopy, Workspace, type Dispatch } from '../../gpu/workspace.js';
import type { AdmmEngine, EngineState, ResidualSums } from '../admmDriver.js';
import { inverseOfIdentityPlus } from '../linalg64.js';
import type { LayerProblem } from '../problem.js';
import { uploadDesign } from './gpuDesign.js';
import { admmIteration, type AdmmBuffers, type IterationProgram, type LayerShape } from './admmIteration.js';

export class GpuAdmmEngine implements AdmmEngine {
  /** Dispatches in one iteration (for benchmarks). */
  readonly dispatchesPerIteration: number;
  /** Whether the W3 solve uses the Woodbury form (P < N). */
  readonly woodbury: boolean;
  private pendingRescale = false;

  private constructor(
    private readonly ws: Workspace,
    private readonly shape: LayerShape,
    private readonly buffers: AdmmBuffers,
    private readonly saved: { T: GPUBuffer; B: GPUBuffer; W3: GPUBuffer },
    private readonly program: IterationProgram,
    private readonly residuals: Dispatch[],
    private readonly rescale: { dispatches: Dispatch[]; uniforms: GPUBuffer[] },
    private readonly feasibility: Dispatch[],
    private readonly certificate: Dispatch[],
    private readonly warmStartDispatches: Dispatch[],
    private readonly readback: GPUBuffer,
    private rho: number,
    private readonly relaxation: number,
    private readonly xBytes: number,
    woodbury: boolean,
  ) {
    this.dispatchesPerIteration = program.dispatches.length;
    this.woodbury = woodbury;
  }

  /**
   * @param options.chunkRows rows of a dense X per buffer (tests; default: one storage binding's worth)
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
    const X = uploadDesign(ws, problem.design, { chunkRows: options.chunkRows });
    if (woodbury && !X.dense)
      throw new GpuError(`X (${P}×${N}, fewer samples than inputs) exceeds one storage binding of this device; use fewer inputs or the cpu backend`);

    // A = XXᵀ + I (paper orientation) is factored once in float64 on the CPU, from a Gram
    // matrix computed on the GPU: N×N, or P×P for the Woodbury form when P < N (X is then
    // dense: designOf materializes patches that have fewer rows than columns).
    const size = woodbury ? P : N;
    const scratch = new Workspace(ws.runtime);
    let inverse: Float64Array;
    try {
      const gram = scratch.storage(size * size, 'Gram matrix');
      submit(ws, woodbury ? [matmul(scratch, { label: 'X Xᵀ', a: X.dense!, b: X.dense!, out: gram, m: P, n: P, k: N, transposeB: true })] : X.gramOfColumns(gram, scratch, options.gramChunkRows));
      inverse = inverseOfIdentityPlus(Float64Array.from(await scratch.read(gram, size * size)), size);
    } finally {
      scratch.release();
    }

    const buffers: AdmmBuffers = {
      X,
      Y: ws.upload(problem.Y, 'Y'),
      V: problem.V ? ws.upload(problem.V, 'V') : null,
      solveOperator: ws.upload(inverse, woodbury ? 'Woodbury inner inverse' : 'A⁻¹'),
      T: ws.storage(P * M, 'T = W3ᵀX'),
      B: ws.storage(P * M, 'B = W1 + U1'),
      W3: ws.storage(N * M, 'W3'),
      Q: ws.storage(N * M, 'Q = W2 + U2'),
      W2: ws.storage(N * M, 'W2'),
      scratchWeights: ws.storage(N * M, 'scratch N×M'),
      scratchResponse: woodbury ? [ws.storage(P * M, 'scratch P×M'), ws.storage(P * M, 'scratch P×M')] : null,
      scalars: ws.storage(SCALAR_CHANNELS, 'scalars'),
      partials: ws.storage(PARTIALS_LENGTH, 'partials'),
      shrinkUniforms: ws.uniform(shrinkUniforms(N * M, problem.rho, problem.relaxation)),
    };
    const saved = { T: ws.storage(P * M, 'T before the checked iteration'), B: ws.storage(P * M, 'B before'), W3: ws.storage(N * M, 'W3 before') };
    const linear = problem.activation === 'linear';
    const program = admmIteration(ws, shape, buffers, { linear, epsilon: problem.epsilonScaled, relaxation: problem.relaxation, woodbury });
    const residuals = iterationResiduals(ws, {
      responseCount: P * M,
      relaxation: problem.relaxation,
      weightCount: N * M,
      response: buffers.T,
      responseRhs: buffers.B,
      responsePrev: saved.T,
      responseRhsPrev: saved.B,
      W3: buffers.W3,
      W2: buffers.W2,
      weightRhs: buffers.Q,
      W3Prev: saved.W3,
      partials: buffers.partials,
      scalars: buffers.scalars,
    });
    const rescaleUniformBuffers = [ws.uniform(rescaleUniforms(P * M, 1)), ws.uniform(rescaleUniforms(N * M, 1))];
    const rescale = {
      uniforms: rescaleUniformBuffers,
      dispatches: [
        rescaleDuals(ws, { count: P * M, uniforms: rescaleUniformBuffers[0], anchor: buffers.T, rhs: buffers.B }),
        rescaleDuals(ws, { count: N * M, uniforms: rescaleUniformBuffers[1], anchor: buffers.W3, rhs: buffers.Q }),
      ],
    };
    // The answer's response X·W2 goes to a scratch buffer (saved.T is free between blocks).
    const feasibility = [
      ...X.product({ label: 'X W2', weights: buffers.W2, out: saved.T, outputs: M }),
      ...answerFeasibility(ws, { count: P * M, linear, answerResponse: saved.T, targetY: buffers.Y, boundV: buffers.V, partials: buffers.partials, scalars: buffers.scalars }),
    ];
    const certificate = X.transposedProduct({ label: 'Xᵀ Λ', response: saved.T, out: saved.W3, outputs: M });
    // A warm start uploads W3 and U1 (into saved.B), then T = X·W3 and B = T + U1.
    const warmStart = [...X.product({ label: 'T = X W3', weights: buffers.W3, out: buffers.T, outputs: M }), add(ws, { count: P * M, left: buffers.T, right: saved.B, sum: buffers.B })];
    const readback = ws.readbackBuffer(SCALAR_CHANNELS * 4);
    return new GpuAdmmEngine(ws, shape, buffers, saved, program, residuals, rescale, feasibility, certificate, warmStart, readback, problem.rho, problem.relaxation, X.bytes, woodbury);
  }

  setRho(rho: number): void {
    const { samples: P, columns: N, outputs: M } = this.shape;
    const factor = this.rho / rho;
    const queue = this.ws.device.queue;
    queue.writeBuffer(this.rescale.uniforms[0], 0, rescaleUniforms(P * M, factor));
    queue.writeBuffer(this.rescale.uniforms[1], 0, rescaleUniforms(N * M, factor));
    queue.writeBuffer(this.buffers.shrinkUniforms, 0, shrinkUniforms(N * M, rho, this.relaxation));
    this.pendingRescale = true;
    this.rho = rho;
  }

  /** Encodes `count` iterations in one submit; copies the state before the last one to measure its residuals. */
  async iterate(count: number): Promise<ResidualSums> {
    const { samples: P, columns: N, outputs: M } = this.shape;
    const { T, B, W3 } = this.buffers;
    const encoder = this.ws.device.createCommandEncoder();
    let pass = encoder.beginComputePass();
    if (this.pendingRescale) {
      encodeDispatches(pass, this.rescale.dispatches);
      this.pendingRescale = false;
    }
    for (let k = 0; k < count; k++) {
      if (k === count - 1) {
        pass.end();
        encoder.copyBufferToBuffer(T, 0, this.saved.T, 0, P * M * 4);
        encoder.copyBufferToBuffer(B, 0, this.saved.B, 0, P * M * 4);
        encoder.copyBufferToBuffer(W3, 0, this.saved.W3, 0, N * M * 4);
        pass = encoder.beginComputePass();
      }
      encodeDispatches(pass, this.program.dispatches);
    }
    encodeDispatches(pass, this.residuals);
    pass.end();
    encoder.copyBufferToBuffer(this.buffers.scalars, 0, this.readback, 0, SCALAR_CHANNELS * 4);
    this.ws.device.queue.submit([encoder.finish()]);
    const s = await mapAndCopy(this.readback, SCALAR_CHANNELS);
    this.ws.runtime.assertHealthy();
    this.lastNonzeros = s[11];
    return { r1: s[1], s1: s[2], w1: s[3], t: s[4], u1: s[5], r2: s[6], s2: s[7], w2: s[8], w3: s[9], u2: s[10] };
  }

  async answerFeasibility(): Promise<{ activeSq: number; offSupportSq: number }> {
    const encoder = this.ws.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    encodeDispatches(pass, this.feasibility);
    pass.end();
    encoder.copyBufferToBuffer(this.buffers.scalars, 0, this.readback, 0, SCALAR_CHANNELS * 4);
    this.ws.device.queue.submit([encoder.finish()]);
    const s = await mapAndCopy(this.readback, SCALAR_CHANNELS);
    return { activeSq: s[12], offSupportSq: s[13] };
  }

  async setState(state: EngineState): Promise<void> {
    const queue = this.ws.device.queue;
    queue.writeBuffer(this.buffers.W3, 0, Float32Array.from(state.W3));
    queue.writeBuffer(this.buffers.W2, 0, Float32Array.from(state.W2));
    queue.writeBuffer(this.buffers.Q, 0, Float32Array.from(state.W2, (w, i) => w + state.U2[i]));
    queue.writeBuffer(this.saved.B, 0, Float32Array.from(state.U1));
    submit(this.ws, this.warmStartDispatches);
  }

  async getState(): Promise<EngineState> {
    const { columns: N, outputs: M } = this.shape;
    const [W3, W2, Q] = [await this.ws.read(this.buffers.W3, N * M), await this.weights(), await this.ws.read(this.buffers.Q, N * M)];
    return { W3, W2, U1: await this.scaledDual(), U2: Q.map((q, i) => q - W3[i]) };
  }

  /** Nonzeros of W2 at the last check (progress reports). */
  lastNonzeros = 0;

  /** W2, N×M (bias row last). */
  weights(): Promise<Float32Array> {
    const { columns: N, outputs: M } = this.shape;
    return this.ws.read(this.buffers.W2, N * M);
  }

  /** U1 = B − T, samples-major P×M, for the certificate. */
  async scaledDual(): Promise<Float64Array> {
    const { samples: P, outputs: M } = this.shape;
    const [b, t] = [await this.ws.read(this.buffers.B, P * M), await this.ws.read(this.buffers.T, P * M)];
    return Float64Array.from(b, (v, i) => v - t[i]);
  }

  /** Xᵀ Λ (N×M) on the GPU, after the solve (reuses the saved-state buffers as scratch). */
  async multiplyXTransposed(lambda: Float64Array): Promise<Float32Array> {
    const { columns: N, outputs: M } = this.shape;
    this.ws.device.queue.writeBuffer(this.saved.T, 0, Float32Array.from(lambda));
    submit(this.ws, this.certificate);
    return this.ws.read(this.saved.W3, N * M);
  }

  /**
   * GPU memory held during the solve against the arrays the algorithm itself needs (X or its
   * images, Y, V, the state T, B, W3, Q, W2 and the solve operator), for benchmarks.
   */
  get memory(): { allocatedBytes: number; algorithmBytes: number } {
    const { samples: P, columns: N, outputs: M } = this.shape;
    const operator = this.woodbury ? P * P : N * N;
    const algorithmBytes = this.xBytes + 4 * ((this.buffers.V ? 4 : 3) * P * M + 3 * N * M + operator);
    return { allocatedBytes: this.ws.bytes, algorithmBytes };
  }

  /** Machine-independent counts of one iteration (for benchmarks). */
  get iterationCost(): { dispatches: number; bytes: number; flops: number; productsWithXFlops: number } {
    const sum = (list: Dispatch[], key: 'bytes' | 'flops') => list.reduce((total, d) => total + d.cost[key], 0);
    return {
      dispatches: this.program.dispatches.length,
      bytes: sum(this.program.dispatches, 'bytes'),
      flops: sum(this.program.dispatches, 'flops'),
      productsWithXFlops: sum(this.program.productsWithX, 'flops'),
    };
  }

  /**
   * Benchmarks: runs `count` iterations (or only their two products with X) in one submit and
   * returns the seconds until the queue drained. The state advances; use on a throwaway engine.
   */
  async time(count: number, what: 'iteration' | 'productsWithX'): Promise<number> {
    const list = what === 'iteration' ? this.program.dispatches : this.program.productsWithX;
    await this.ws.device.queue.onSubmittedWorkDone();
    const started = performance.now();
    const encoder = this.ws.device.createCommandEncoder();
    const pass = encoder.beginComputePass();
    for (let k = 0; k < count; k++) encodeDispatches(pass, list);
    pass.end();
    this.ws.device.queue.submit([encoder.finish()]);
    await this.ws.device.queue.onSubmittedWorkDone();
    return (performance.now() - started) / 1000;
  }

  release(): void {
    this.ws.release();
  }
}

function submit(ws: Workspace, dispatches: Dispatch[]): void {
  const encoder = ws.device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  encodeDispatches(pass, dispatches);
  pass.end();
  ws.device.queue.submit([encoder.finish()]);
}
