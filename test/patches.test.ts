// Conv layers without materialized patches: the float64 patch operator and the GPU convolution /
// kernel-gradient kernels against an explicitly built patch matrix (naive im2col written here),
// and whole solves on patches against the same solve on the materialized matrix.
import { afterAll, describe, expect, it } from 'vitest';
import { acquireGpu, solveLayer, type ImagePatches, type Matrix } from '../src/index.js';
import { Workspace } from '../src/gpu/workspace.js';
import { designOf, materializePatches } from '../src/solver/design.js';
import { GpuAdmmEngine } from '../src/solver/gpu/gpuSolver.js';
import { readSamples, sampleStorage, uploadDesign, uploadSamples } from '../src/solver/gpu/gpuDesign.js';
import { prepareLayerProblem } from '../src/solver/problem.js';
import { gpuForTests, sampleChunksOf, withBindingLimit } from './helpers/gpu.js';
import { plantedLayer, relativeError } from './helpers/problems.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

type Geometry = Omit<ImagePatches, 'images' | 'outH' | 'outW' | 'padTop' | 'padLeft'> & { padding: 'same' | 'valid' };

/** Images with ReLU-like sparsity (about a third zeros), and the output size of the window rule. */
function patchesOf(g: Geometry, seed: number): ImagePatches {
  const images = Float64Array.from(gaussianMatrix(g.count, g.inH * g.inW * g.channels, seed), (v) => Math.max(v + 0.4, 0));
  const axis = (size: number, kernel: number, stride: number) => {
    if (g.padding === 'valid') return { out: Math.floor((size - kernel) / stride) + 1, pad: 0 };
    const out = Math.ceil(size / stride);
    return { out, pad: Math.floor(Math.max((out - 1) * stride + kernel - size, 0) / 2) };
  };
  // A dilated window spans (k − 1)·d + 1 positions.
  const h = axis(g.inH, (g.kernelH - 1) * (g.dilationH ?? 1) + 1, g.strideH);
  const w = axis(g.inW, (g.kernelW - 1) * (g.dilationW ?? 1) + 1, g.strideW);
  const { padding: _, ...rest } = g;
  return { ...rest, images, outH: h.out, outW: w.out, padTop: h.pad, padLeft: w.pad };
}

/** The patch matrix written out directly from its definition, with a bias column of `biasValue`. */
function naivePatchMatrix(p: ImagePatches, biasValue: number | null): Matrix {
  const inputs = p.kernelH * p.kernelW * p.channels;
  const cols = inputs + (biasValue === null ? 0 : 1);
  const rows = p.count * p.outH * p.outW;
  const data = new Float64Array(rows * cols);
  let r = 0;
  for (let n = 0; n < p.count; n++)
    for (let oy = 0; oy < p.outH; oy++)
      for (let ox = 0; ox < p.outW; ox++, r++) {
        for (let ky = 0; ky < p.kernelH; ky++)
          for (let kx = 0; kx < p.kernelW; kx++)
            for (let c = 0; c < p.channels; c++) {
              const iy = oy * p.strideH + ky * (p.dilationH ?? 1) - p.padTop;
              const ix = ox * p.strideW + kx * (p.dilationW ?? 1) - p.padLeft;
              const inside = iy >= 0 && iy < p.inH && ix >= 0 && ix < p.inW;
              data[r * cols + (ky * p.kernelW + kx) * p.channels + c] = inside ? p.images[((n * p.inH + iy) * p.inW + ix) * p.channels + c] : 0;
            }
        if (biasValue !== null) data[r * cols + inputs] = biasValue;
      }
  return { rows, cols, data };
}

function denseProduct(a: Matrix, b: ArrayLike<number>, n: number, transposeA = false): Float64Array {
  const [m, k] = transposeA ? [a.cols, a.rows] : [a.rows, a.cols];
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const v = transposeA ? a.data[p * a.cols + i] : a.data[i * a.cols + p];
      for (let j = 0; j < n; j++) out[i * n + j] += v * b[p * n + j];
    }
  return out;
}

const geometries: Array<[string, Geometry]> = [
  ['3×3 same, stride 1', { count: 3, inH: 7, inW: 6, channels: 3, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padding: 'same' }],
  ['3×2 valid, stride 2', { count: 2, inH: 9, inW: 8, channels: 2, kernelH: 3, kernelW: 2, strideH: 2, strideW: 2, padding: 'valid' }],
  ['4×4 same, stride 2 (uneven padding)', { count: 2, inH: 5, inW: 7, channels: 1, kernelH: 4, kernelW: 4, strideH: 2, strideW: 2, padding: 'same' }],
  ['1×1, 5 channels', { count: 2, inH: 4, inW: 4, channels: 5, kernelH: 1, kernelW: 1, strideH: 1, strideW: 1, padding: 'valid' }],
  ['3×3 dilated 2×3, same', { count: 2, inH: 9, inW: 10, channels: 2, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, dilationH: 2, dilationW: 3, padding: 'same' }],
];

describe('the float64 patch operator', () => {
  for (const [name, g] of geometries)
    for (const bias of [true, false])
      it(`${name}${bias ? ', bias' : ''}: products and Gram = the explicit patch matrix's`, () => {
        const p = patchesOf(g, 11);
        const scale = 1.7;
        const explicit = naivePatchMatrix(p, bias ? 1 : null);
        expect(Array.from(materializePatches(p).data)).toEqual(Array.from(naivePatchMatrix(p, null).data));
        const design = designOf(p, bias, scale);
        expect([design.rows, design.columns]).toEqual([explicit.rows, explicit.cols]);
        const M = 5;
        const W = gaussianMatrix(explicit.cols, M, 12);
        const B = gaussianMatrix(explicit.rows, M, 13);
        expect(relativeError(design.multiply(W, M), denseProduct(explicit, W, M).map((v) => v / scale))).toBeLessThan(1e-13);
        expect(relativeError(design.multiplyTransposed(B, M), denseProduct(explicit, B, M, true).map((v) => v / scale))).toBeLessThan(1e-13);
        const want = new Float64Array(explicit.cols * explicit.cols);
        for (let r = 0; r < explicit.rows; r++)
          for (let i = 0; i < explicit.cols; i++)
            for (let j = 0; j < explicit.cols; j++) want[i * explicit.cols + j] += (explicit.data[r * explicit.cols + i] * explicit.data[r * explicit.cols + j]) / scale ** 2;
        expect(relativeError(design.gramOfColumns(), want)).toBeLessThan(1e-13);
      });
});

describe.skipIf(!gpu)('GPU convolution and kernel-gradient kernels', () => {
  // Each geometry whole, and split into one chunk per image (products per chunk, Xᵀ·B summed over
  // them); and whole with the register block stored as GPUs store it (unrolled: STORES_IN_LOOP
  // off), posing as a hardware adapter, since this one is a software one.
  // With subgroups 8 wide (lavapipe), this adapter runs the subgroup kernels; posing as one
  // without subgroups, the plain ones.
  const asGpu = gpu && (Object.create(gpu, { software: { value: false } }) as typeof gpu);
  const withoutSubgroups = gpu && (Object.create(gpu, { subgroupSize: { value: null } }) as typeof gpu);
  const fourWide = gpu && (Object.create(gpu, { subgroupSize: { value: gpu.subgroupSize === 8 ? 4 : gpu.subgroupSize } }) as typeof gpu); // as SwiftShader's
  const cases = geometries.flatMap(([name, g]) => [[name, g, false, gpu], [`${name}, one image per chunk`, g, true, gpu], [`${name}, stores unrolled (GPUs)`, g, false, asGpu], [`${name}, no subgroups`, g, false, withoutSubgroups], [`${name}, 4-wide subgroups`, g, false, fourWide]] as const);
  for (const [name, g, split, runtime] of cases)
    it(`${name}: X·W + βA and αXᵀB + βA, in float32, match float64`, async () => {
      const p = patchesOf(g, 21);
      const design = designOf(p, true, 2);
      const unscaled = naivePatchMatrix(p, 1);
      const explicit = { ...unscaled, data: unscaled.data.map((v) => v / 2) };
      const M = 19; // more than one 16-wide output block, not a multiple of it
      const W = gaussianMatrix(explicit.cols, M, 22);
      const B = gaussianMatrix(explicit.rows, M, 23);
      const A1 = gaussianMatrix(explicit.rows, M, 24);
      const A2 = gaussianMatrix(explicit.cols, M, 25);
      const ws = new Workspace(runtime!);
      try {
        // chunkRows 1 rounds up to one whole image per chunk.
        const X = uploadDesign(ws, design, { chunkRows: split ? 1 : undefined, outputs: M });
        expect(X.dense).toBeNull();
        expect(X.chunks.length).toBe(split ? p.count : 1);
        const [w, b, a1, a2] = [ws.upload(W, 'W'), uploadSamples(ws, X, B, M, 'B'), uploadSamples(ws, X, A1, M, 'A1'), ws.upload(A2, 'A2')];
        const product = sampleStorage(ws, X, M, 'XW');
        const gradient = ws.storage(explicit.cols * M, 'XᵀB');
        const gram = ws.storage(explicit.cols ** 2, 'XᵀX');
        ws.submit([
          ...X.product({ label: 'XW', weights: w, out: product, outputs: M, addend: a1, beta: -0.5 }),
          ...X.transposedProduct({ label: 'XᵀB', response: b, out: gradient, outputs: M, addend: a2, alpha: 2, beta: 3 }),
          ...X.gramOfColumns(gram, ws, 7), // chunks of 7 rows: the accumulation path
        ]);
        const wantProduct = denseProduct(explicit, W, M).map((v, i) => v - 0.5 * A1[i]);
        const wantGradient = denseProduct(explicit, B, M, true).map((v, i) => 2 * v + 3 * A2[i]);
        const wantGram = new Float64Array(explicit.cols ** 2);
        for (let r = 0; r < explicit.rows; r++)
          for (let i = 0; i < explicit.cols; i++)
            for (let j = 0; j < explicit.cols; j++) wantGram[i * explicit.cols + j] += explicit.data[r * explicit.cols + i] * explicit.data[r * explicit.cols + j];
        expect(relativeError(await readSamples(ws, X, product), wantProduct)).toBeLessThan(1e-5);
        expect(relativeError(await ws.read(gradient, explicit.cols * M), wantGradient)).toBeLessThan(1e-5);
        expect(relativeError(await ws.read(gram, explicit.cols ** 2), wantGram)).toBeLessThan(1e-5);
      } finally {
        ws.release();
      }
    });
});

/** A conv layer with a planted sparse kernel: Y = ReLU(X·W + b) on the patches of `p`. */
function plantedConv(p: ImagePatches, filters: number, seed: number): { X: ImagePatches; Y: Matrix } {
  const explicit = naivePatchMatrix(p, 1);
  const random = mulberry32(seed);
  const W = gaussianMatrix(explicit.cols, filters, seed).map((v) => (random() < 0.25 ? v : 0));
  const pre = denseProduct(explicit, W, filters);
  return { X: p, Y: { rows: explicit.rows, cols: filters, data: pre.map((v) => Math.max(v, 0)) } };
}

describe('solving a conv layer on its patches', () => {
  const p = patchesOf({ count: 4, inH: 8, inW: 8, channels: 4, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padding: 'same' }, 31);
  const { X, Y } = plantedConv(p, 6, 32);
  const dense = materializePatches(p);

  it('the CPU reference gives the same answer on patches as on the materialized matrix', async () => {
    const onPatches = await solveLayer({ X, Y, epsilonGain: 0.02, backend: 'cpu' });
    const onMatrix = await solveLayer({ X: dense, Y, epsilonGain: 0.02, backend: 'cpu' });
    expect(onPatches.report.converged).toBe(true);
    expect(onPatches.report.iterations).toBe(onMatrix.report.iterations);
    expect(relativeError(onPatches.weights.data, onMatrix.weights.data)).toBeLessThan(1e-6);
    expect(onPatches.report.constraintResidual).toBeLessThanOrEqual(onPatches.report.epsilon * 1.01);
    expect(Math.abs(onPatches.report.relativeDualityGap)).toBeLessThan(1e-2);
  });

  it.skipIf(!gpu)('the GPU solves the patches to the float64 answer, feasible, with a small duality gap', async () => {
    const cpu = await solveLayer({ X, Y, epsilonGain: 0.02, backend: 'cpu' });
    const onGpu = await solveLayer({ X, Y, epsilonGain: 0.02, gpu: gpu! });
    const r = onGpu.report;
    expect(r.converged).toBe(true);
    expect(Math.hypot(r.constraintResidual, r.offSupportResidual)).toBeLessThanOrEqual(r.epsilon * 1.01);
    expect(Math.abs(r.relativeDualityGap)).toBeLessThan(1e-2);
    expect(Math.abs(r.l1 - cpu.report.l1) / cpu.report.l1).toBeLessThan(5e-3);
    expect(r.nonzeros).toBeLessThan(0.5 * (X.kernelH * X.kernelW * X.channels + 1) * 6);
  });

  it.skipIf(!gpu)('splits at whole images when the responses exceed a storage binding (a device claiming 8 KiB)', async () => {
    // 8 images: Y is 8·64·6 floats (12 KiB); 5 images' worth fit, so two chunks (5 + 3).
    const eight = patchesOf({ count: 8, inH: 8, inW: 8, channels: 4, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padding: 'same' }, 33);
    const layer = { ...plantedConv(eight, 6, 34), epsilonGain: 0.02 };
    const small = withBindingLimit(gpu!, 8 * 1024);
    expect(await sampleChunksOf(small, layer)).toBe(2);
    const split = await solveLayer({ ...layer, gpu: small });
    const whole = await solveLayer({ ...layer, gpu: gpu! });
    expect(split.report.converged).toBe(true);
    expect(split.report.constraintResidual).toBeLessThanOrEqual(split.report.epsilon * 1.01);
    expect(split.report.iterations).toBe(whole.report.iterations);
    expect(relativeError(split.weights.data, whole.weights.data)).toBeLessThan(1e-3);
  });

  it.skipIf(!gpu)("on a device with WebGPU's default 8 storage buffers per stage (SwiftShader's: 10), conv and dense layers solve as on this one (the epilogue without its vec4 views)", async () => {
    // M = 8, a multiple of 4: patch_product takes the four-at-a-time response sums. The dense
    // layer: its products with their epilogues, and the Woodbury form (P < N).
    const conv = { ...plantedConv(p, 8, 35), epsilonGain: 0.02 };
    const dense = { ...plantedLayer({ samples: 40, inputs: 60, outputs: 8, nonzerosPerColumn: 5, seed: 36 }), epsilonGain: 0.02 };
    const small = await acquireGpu({ limits: { maxStorageBuffersPerShaderStage: 8 } });
    try {
      expect(small.limits.maxStorageBuffersPerShaderStage).toBe(8);
      for (const layer of [conv, dense]) {
        const onSmall = await solveLayer({ ...layer, gpu: small });
        const onThis = await solveLayer({ ...layer, gpu: gpu! });
        expect(onSmall.report.converged).toBe(true);
        expect(onSmall.report.iterations).toBe(onThis.report.iterations);
        expect(relativeError(onSmall.weights.data, onThis.weights.data)).toBeLessThan(1e-4);
      }
    } finally {
      small.destroy();
    }
  });

  it.skipIf(!gpu)('never allocates the patch matrix on the GPU', async () => {
    const problem = prepareLayerProblem({ X, Y, epsilonGain: 0.02 });
    const patchBytes = dense.rows * (dense.cols + 1) * 4;
    const sizes: number[] = [];
    const pool = gpu!.buffers;
    const acquire = pool.acquire.bind(pool);
    pool.acquire = (bytes, usage, label) => (sizes.push(bytes), acquire(bytes, usage, label));
    let engine: GpuAdmmEngine | null = null;
    try {
      engine = await GpuAdmmEngine.create(gpu!, problem, { gramChunkRows: 32 });
      await engine.iterate(3);
    } finally {
      pool.acquire = acquire;
      engine?.release();
    }
    // The largest arrays are Y-sized (rows×M) and the Gram matrix; the patch matrix is 6× larger.
    expect(patchBytes).toBeGreaterThan(4 * Math.max(dense.rows * 6, (dense.cols + 1) ** 2));
    expect(Math.max(...sizes)).toBeLessThan(patchBytes);
  });
});
