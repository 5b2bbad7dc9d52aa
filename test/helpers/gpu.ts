// The GPU for a test file: a real WebGPU device (Mesa's software Vulkan driver on CI machines).
// Under CI=true a missing adapter fails the run; locally the GPU tests skip and say why.
import { acquireGpu, type GpuRuntime } from '../../src/index.js';

export async function gpuForTests(): Promise<GpuRuntime | null> {
  try {
    return await acquireGpu();
  } catch (error) {
    if (process.env.CI === 'true') throw error;
    console.warn(`skipping GPU tests: ${(error as Error).message}`);
    return null;
  }
}
