// The float64 finish: a GPU stop whose answer meets the ε-ball but whose dual bound, built from the
// float32 duals, does not certify it (nor does a GPU round of 100 more iterations) goes on in
// float64 on the CPU, where that layer's iterations are cheap. The case: the stem conv of the
// bundled PyTorch ResNet (3×3, 1 → 8, 'same' padding) on 100 MNIST digits, whose GPU solve ran
// 20 000 iterations uncertified (153 s) while the CPU certifies it in 250.
import { readFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNpy, parseOnnxModel, solveLayer } from '../src/index.js';
import type { Conv2DLayer } from '../src/network/types.js';
import { programInput } from '../src/prune/layerPrograms.js';
import { gpuForTests } from './helpers/gpu.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const IMAGES = 100;
const SIZE = 28;

const stem = parseOnnxModel(fixture('torch/resnet.onnx'), 'resnet.onnx').network.layers[0] as Conv2DLayer;
const digits = new Float32Array((parseNpy(fixture('mnist-samples.npy'), 'mnist-samples.npy').data as Float32Array).subarray(0, IMAGES * SIZE * SIZE));

/** The stem's response (before ReLU) at every output position, one row per position, by direct convolution in float64. */
function stemResponse(kernel: ArrayLike<number>, bias: ArrayLike<number>): Float64Array {
  const F = stem.filters;
  const out = new Float64Array(IMAGES * SIZE * SIZE * F);
  for (let i = 0; i < IMAGES; i++)
    for (let y = 0; y < SIZE; y++)
      for (let x = 0; x < SIZE; x++)
        for (let f = 0; f < F; f++) {
          let z = bias[f];
          for (let ky = 0; ky < 3; ky++)
            for (let kx = 0; kx < 3; kx++) {
              const [sy, sx] = [y + ky - 1, x + kx - 1];
              if (sy >= 0 && sy < SIZE && sx >= 0 && sx < SIZE) z += digits[(i * SIZE + sy) * SIZE + sx] * kernel[(ky * 3 + kx) * F + f];
            }
          out[((i * SIZE + y) * SIZE + x) * F + f] = z;
        }
  return out;
}

describe.skipIf(!gpu)('the float64 finish', () => {
  it('certifies the ResNet stem a few float64 iterations after the GPU stop that float32 duals could not', async () => {
    expect([stem.kernelSize, stem.strides, stem.inChannels, stem.filters]).toEqual([[3, 3], [1, 1], 1, 8]);
    const Y = stemResponse(stem.kernel, stem.bias!).map((z) => Math.max(z, 0));
    const X = programInput(stem, digits, [SIZE, SIZE, 1], IMAGES);
    const result = await solveLayer({ X, Y: { rows: Y.length / 8, cols: 8, data: Y }, activation: 'relu', epsilonGain: 0.05, backend: 'webgpu', gpu: gpu!, maxIterations: 2000 });
    const r = result.report;
    expect(r.converged, r.statusReason ?? '').toBe(true);
    expect(r.backend).toBe('webgpu');
    expect(r.float64FinishIterations).toBeGreaterThan(0);
    expect(r.float64FinishIterations).toBeLessThan(r.iterations);
    expect(r.iterations).toBeLessThanOrEqual(500);
    // The answer, checked here: the ε-ball with the off-support excess counted, ε = 0.05·‖Y‖.
    const response = stemResponse(result.weights.data, result.bias!);
    let ballSq = 0;
    for (let e = 0; e < Y.length; e++) ballSq += Y[e] > 0 ? (response[e] - Y[e]) ** 2 : Math.max(response[e], 0) ** 2;
    const epsilon = 0.05 * Math.sqrt(Y.reduce((sum, y) => sum + y * y, 0));
    expect(Math.sqrt(ballSq) / epsilon).toBeLessThanOrEqual(1.001);
    expect(r.relativeDualityGap).toBeLessThanOrEqual(0.01);
    expect(result.report.nonzeros).toBeLessThan(80);
  });

  it('is not needed on the CPU, which solves in float64 throughout', async () => {
    const Y = stemResponse(stem.kernel, stem.bias!).map((z) => Math.max(z, 0));
    const X = programInput(stem, digits, [SIZE, SIZE, 1], IMAGES);
    const result = await solveLayer({ X, Y: { rows: Y.length / 8, cols: 8, data: Y }, activation: 'relu', epsilonGain: 0.05, backend: 'cpu', maxIterations: 2000 });
    expect(result.report.converged, result.report.statusReason ?? '').toBe(true);
    expect(result.report.float64FinishIterations).toBe(0);
  });
});
