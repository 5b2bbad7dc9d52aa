// The GPU for a test file: a real WebGPU device (Mesa's software Vulkan driver on CI machines).
// Under CI=true a missing adapter fails the run; locally the GPU tests skip and say why.
import { expect } from 'vitest';
import { acquireGpu, forwardCpu, type GpuRuntime, type Network } from '../../src/index.js';
import { forwardGpu } from '../../src/network/forwardGpu.js';
import { GpuAdmmEngine } from '../../src/solver/gpu/gpuSolver.js';
import { prepareLayerProblem } from '../../src/solver/problem.js';
import { relativeError } from './onnxGraphs.js';

export async function gpuForTests(): Promise<GpuRuntime | null> {
  try {
    return await acquireGpu();
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`skipping GPU tests: ${(error as Error).message}`);
    return null;
  }
}

/**
 * The same device claiming other `limits` (the rest its own), with `properties` of the runtime
 * replaced too (e.g. software: false to pose as a GPU).
 */
export function withLimits(gpu: GpuRuntime, limits: Readonly<Record<string, number>>, properties: Record<string, unknown> = {}): GpuRuntime {
  const claimed = new Proxy(gpu.limits, { get: (real, key: string) => limits[key] ?? (real as unknown as Record<string, number>)[key] });
  const replaced = Object.fromEntries(Object.entries(properties).map(([name, value]) => [name, { value, writable: true }]));
  return Object.create(gpu, { limits: { value: claimed }, ...replaced });
}

/**
 * The same device, claiming a storage binding (and buffer) of only `bytes`: layers then have to be
 * split over samples as they would on a device too small for them. The matmul variant is fixed
 * (its tuning product would not fit).
 */
export function withBindingLimit(gpu: GpuRuntime, bytes: number): GpuRuntime {
  return withLimits(gpu, { maxStorageBufferBindingSize: bytes, maxBufferSize: bytes }, { matmulVariant: gpu.matmulVariant ?? 'registers' });
}

/** How many sample chunks the GPU solver splits `layer` into on `gpu` (set up, counted, released). */
export async function sampleChunksOf(gpu: GpuRuntime, layer: Parameters<typeof prepareLayerProblem>[0]): Promise<number> {
  const engine = await GpuAdmmEngine.create(gpu, prepareLayerProblem(layer));
  engine.release();
  return engine.sampleChunks;
}

/**
 * The GPU forward pass (chunks of 5 samples) equals the float64 one within 1e-5: the output, and
 * every prunable layer's input, target and offset (the same layers collected).
 */
export async function expectGpuForwardMatches(gpu: GpuRuntime, network: Network, input: Float32Array | Float64Array, count: number): Promise<void> {
  const cpu = forwardCpu(network, input, count, { collect: true });
  const onGpu = await forwardGpu(gpu, network, input, count, { collect: true, maxChunkSamples: 5 });
  expect(relativeError(onGpu.output, cpu.output)).toBeLessThan(1e-5);
  expect([...onGpu.collected.keys()]).toEqual([...cpu.collected.keys()]);
  for (const [index, want] of cpu.collected)
    for (const key of ['input', 'target', 'offset'] as const) {
      const got = onGpu.collected.get(index)![key];
      expect(Boolean(got), `${want.name} ${key}`).toBe(Boolean(want[key]));
      if (want[key]) expect(relativeError(got!, want[key]!), `${want.name} ${key}`).toBeLessThan(1e-5);
    }
}