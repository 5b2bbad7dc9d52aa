// Structured (group-sparse) Net-Trim (issue 16 item 1): the objective Σᵢ ‖wᵢ‖₂ over the weights
// that read one input (a dense row; a conv's input channel), solved by the group soft threshold
// in the W2 step, certified with the dual norm max_g ‖(XᵀΛ)_g‖₂. Planted layers that read only
// some of their inputs: the solve finds exactly those, on both backends.
import { describe, expect, it } from 'vitest';
import { solveLayer } from '../src/solver/solveLayer.js';
import type { ImagePatches, SolveLayerOptions } from '../src/solver/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();

/** A dense ReLU layer reading `used` of its N inputs (every output a random mix of them). */
function plantedInputs(P: number, N: number, M: number, used: number[], seed: number) {
  const X = gaussianMatrix(P, N, seed);
  const values = gaussianMatrix(N, M, seed + 1);
  const W = new Float64Array(N * M);
  for (const n of used) for (let m = 0; m < M; m++) W[n * M + m] = values[n * M + m] + Math.sign(values[n * M + m] || 1) * 0.3;
  const b = Float64Array.from({ length: M }, (_, m) => 0.2 * Math.sin(m));
  const Y = new Float64Array(P * M);
  for (let p = 0; p < P; p++)
    for (let m = 0; m < M; m++) {
      let z = b[m];
      for (let n = 0; n < N; n++) z += X[p * N + n] * W[n * M + m];
      Y[p * M + m] = Math.max(z, 0);
    }
  let objective = Math.hypot(...b);
  for (let n = 0; n < N; n++) objective += Math.hypot(...W.subarray(n * M, (n + 1) * M));
  return { X: { rows: P, cols: N, data: X }, Y: { rows: P, cols: M, data: Y }, objective };
}

const rowNorm = (W: ArrayLike<number>, r: number, M: number) => Math.hypot(...Array.from({ length: M }, (_, m) => W[r * M + m]));

describe('structured Net-Trim: whole inputs removed', () => {
  const used = [1, 4, 5, 9, 13, 20, 22, 27, 31, 38];
  const planted = plantedInputs(400, 40, 8, used, 91);
  const results: Record<string, number> = {};
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`dense, ${backend}: the planted inputs and no other, certified, the objective at most the planted one`, async () => {
      const r = await solveLayer({ X: planted.X, Y: planted.Y, structure: 'inputs', epsilonGain: 0.01, backend, gpu: gpu ?? undefined });
      expect(r.report.converged, r.report.statusReason ?? '').toBe(true);
      expect(r.report.relativeDualityGap).toBeLessThan(0.01);
      expect(r.report.objective).toBeLessThanOrEqual(planted.objective * 1.001);
      const kept = Array.from({ length: 40 }, (_, n) => n).filter((n) => rowNorm(r.weights.data, n, 8) > 0);
      expect(kept).toEqual(used);
      expect(r.report.inputsKept).toBe(used.length);
      results[backend] = r.report.objective;
      if (results.cpu && results.webgpu) expect(Math.abs(results.webgpu - results.cpu) / results.cpu).toBeLessThan(0.01);
    });

  it('the ℓ1 program on the same layer keeps entries of more inputs spread out (the structures differ)', async () => {
    const r = await solveLayer({ X: planted.X, Y: planted.Y, epsilonGain: 0.01, backend: 'cpu' });
    const kept = Array.from({ length: 40 }, (_, n) => n).filter((n) => rowNorm(r.weights.data, n, 8) > 0);
    expect(r.report.objective).toBe(r.report.l1);
    expect(kept.length).toBeGreaterThanOrEqual(used.length);
  });

  // A 3×3 conv on 6 input channels reading channels 0, 2 and 5 only.
  const convPlanted = (() => {
    const rand = mulberry32(93);
    const [count, H, W, C, F] = [12, 8, 8, 6, 4];
    const images = Float64Array.from({ length: count * H * W * C }, () => rand() * 2 - 1); // zero-mean: channels not alike
    const kernel = new Float64Array(9 * C * F);
    const usedChannels = [0, 2, 5];
    for (let tap = 0; tap < 9; tap++) for (const c of usedChannels) for (let f = 0; f < F; f++) kernel[(tap * C + c) * F + f] = rand() * 2 - 1;
    const X: ImagePatches = { images, count, inH: H, inW: W, channels: C, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 1, padLeft: 1, outH: H, outW: W };
    const Y = new Float64Array(count * H * W * F);
    for (let n = 0; n < count; n++)
      for (let oy = 0; oy < H; oy++)
        for (let ox = 0; ox < W; ox++)
          for (let f = 0; f < F; f++) {
            let z = 0.1;
            for (let ky = 0; ky < 3; ky++)
              for (let kx = 0; kx < 3; kx++) {
                const [iy, ix] = [oy + ky - 1, ox + kx - 1];
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                for (let c = 0; c < C; c++) z += images[((n * H + iy) * W + ix) * C + c] * kernel[((ky * 3 + kx) * C + c) * F + f];
              }
            Y[((n * H + oy) * W + ox) * F + f] = Math.max(z, 0);
          }
    return { X, Y: { rows: count * H * W, cols: F, data: Y }, usedChannels, C, F };
  })();
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`conv, ${backend}: whole input channels (all kh·kw·cout weights reading one) removed`, async () => {
      const { X, Y, usedChannels, C, F } = convPlanted;
      const options: SolveLayerOptions = { X, Y, structure: 'inputs', epsilonGain: 0.01, backend, gpu: gpu ?? undefined, maxIterations: 6000 };
      const r = await solveLayer(options);
      expect(r.report.converged, r.report.statusReason ?? '').toBe(true);
      const channelNorm = (c: number) => Math.hypot(...Array.from({ length: 9 }, (_, tap) => rowNorm(r.weights.data, tap * C + c, F)));
      expect(Array.from({ length: C }, (_, c) => c).filter((c) => channelNorm(c) > 0)).toEqual(usedChannels);
      expect(r.report.inputsKept).toBe(usedChannels.length);
    }, 120_000);

  // A dense layer after a flatten of 4 pixels × 5 channels (NHWC rows: pixel·5 + c) reading channels 1 and 3.
  const flatChannels = [1, 3];
  const flatPlanted = plantedInputs(300, 20, 6, Array.from({ length: 20 }, (_, r) => r).filter((r) => flatChannels.includes(r % 5)), 95);
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`dense after a flatten, ${backend}: inputChannels makes a group one channel (all its pixels)`, async () => {
      const r = await solveLayer({ X: flatPlanted.X, Y: flatPlanted.Y, structure: 'inputs', inputChannels: 5, epsilonGain: 0.01, backend, gpu: gpu ?? undefined });
      expect(r.report.converged, r.report.statusReason ?? '').toBe(true);
      const channelNorm = (c: number) => Math.hypot(...[0, 1, 2, 3].map((pixel) => rowNorm(r.weights.data, pixel * 5 + c, 6)));
      expect([0, 1, 2, 3, 4].filter((c) => channelNorm(c) > 0)).toEqual(flatChannels);
      expect(r.report.inputsKept).toBe(flatChannels.length);
    });

  // A dense layer reading attention heads merged: 5 heads of 4 inputs (rows head·4 + i), heads 0 and 3 read.
  const headsRead = [0, 3];
  const headPlanted = plantedInputs(300, 20, 6, Array.from({ length: 20 }, (_, r) => r).filter((r) => headsRead.includes(Math.floor(r / 4))), 97);
  for (const backend of ['cpu', 'webgpu'] as const)
    it.skipIf(backend === 'webgpu' && !gpu)(`dense on merged heads, ${backend}: groupSpan makes a group one head (a run of its inputs)`, async () => {
      const r = await solveLayer({ X: headPlanted.X, Y: headPlanted.Y, structure: 'inputs', groupSpan: 4, epsilonGain: 0.01, backend, gpu: gpu ?? undefined });
      expect(r.report.converged, r.report.statusReason ?? '').toBe(true);
      // Whole heads go or stay (a head of the planted 0 and 3 helps a little within ε: the optimum keeps a trace of it).
      const rows = (h: number) => [0, 1, 2, 3].map((i) => rowNorm(r.weights.data, h * 4 + i, 6));
      for (const h of [0, 1, 2, 3, 4]) expect(new Set(rows(h).map((n) => n > 0)).size, `head ${h}: ${rows(h)}`).toBe(1);
      expect([1, 4].flatMap(rows).every((n) => n === 0)).toBe(true);
      for (const h of headsRead) expect(Math.hypot(...rows(h))).toBeGreaterThan(1);
      expect(r.report.inputsKept).toBe([0, 1, 2, 3, 4].filter((h) => rows(h)[0] > 0).length);
      results[`heads ${backend}`] = r.report.objective;
      if (results['heads cpu'] && results['heads webgpu']) expect(Math.abs(results['heads webgpu'] - results['heads cpu']) / results['heads cpu']).toBeLessThan(0.01);
    });

  it('rejects a groupSpan that does not divide the inputs', async () => {
    await expect(solveLayer({ X: headPlanted.X, Y: headPlanted.Y, structure: 'inputs', groupSpan: 3, backend: 'cpu' })).rejects.toThrow(/groupSpan: expected a whole number ≥ 1 dividing the 20 input channels/);
  });

  it('rejects an inputChannels that does not divide the inputs', async () => {
    await expect(solveLayer({ X: flatPlanted.X, Y: flatPlanted.Y, structure: 'inputs', inputChannels: 3, backend: 'cpu' })).rejects.toThrow(/inputChannels: expected a whole number ≥ 1 dividing the dense input's 20 columns/);
  });

  it('rejects an unknown structure, naming the field', async () => {
    await expect(solveLayer({ X: planted.X, Y: planted.Y, structure: 'rows' as 'inputs', backend: 'cpu' })).rejects.toThrow(/structure: expected 'weights' or 'inputs', found 'rows'/);
  });
});

describe('net-trim prune --structured', () => {
  it('removes whole neurons from the MLP fixture: the written kernels have the rows the report counts', async () => {
    const { runCli } = await import('./helpers/cli.js');
    const { loadTfjsModelFile } = await import('../src/io/tfjsFiles.js');
    const { mkdtemp, readFile, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const fixtures = new URL('./fixtures/', import.meta.url).pathname;
    const out = await mkdtemp(join(tmpdir(), 'net-trim-structured-'));
    try {
      const run = await runCli(['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', join(fixtures, 'mnist-samples.npy'), '--labels', join(fixtures, 'mnist-labels.npy'), '--max-samples', '300', '--structured', '--epsilon-gain', '0.05', '--backend', 'cpu', '--out', join(out, 'm')]);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'm', 'report.json'), 'utf8'));
      const { network } = await loadTfjsModelFile(join(out, 'm', 'model.json'));
      for (const [i, layer] of network.layers.entries()) {
        if (layer.kind !== 'dense') continue;
        const rowsKept = Array.from({ length: layer.inputs }, (_, r) => r).filter((r) => layer.kernel.subarray(r * layer.units, (r + 1) * layer.units).some((v) => v !== 0)).length;
        const entry = report.layers.find((l: { name: string }) => l.name === layer.name);
        expect(entry.inputsKept, layer.name).toBe(rowsKept);
        // Past the input, the neurons no layer reads are gone from the written model (--structured removes them).
        if (i > 0) expect(layer.inputs, layer.name).toBe(entry.inputsKept);
      }
      // The hidden layers read fewer neurons than they have (dense_2 reads dense_1's 64).
      expect(report.layers[1].inputsKept).toBeLessThan(64);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});
