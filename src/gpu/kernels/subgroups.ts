// When the subgroup kernels run (shaders/matmul_subgroups.wgsl, shaders/patches_subgroups.wgsl):
// each workgroup is one subgroup, SUBGROUP_WIDTH lanes (an override constant there), written for
// the widths below (test/gpuContract.test.ts compares the WGSL's bounds).
import { GpuError } from '../../errors.js';
import type { GpuRuntime } from '../device.js';

/** llvmpipe's subgroups are 8 wide (its AVX2 vectors), SwiftShader's (Chromium without a GPU) 4. */
export const SUBGROUP_KERNEL_WIDTHS: readonly number[] = [4, 8];

/** Whether they can run: the device has 'subgroups' (enabled where offered) of one of those widths. */
export const subgroupKernelsRun = (runtime: GpuRuntime): boolean => runtime.subgroupSize !== null && SUBGROUP_KERNEL_WIDTHS.includes(runtime.subgroupSize);

/** Their workgroup width on this device (SUBGROUP_WIDTH); a GpuError where they cannot run. */
export function subgroupKernelWidth(runtime: GpuRuntime): number {
  if (!subgroupKernelsRun(runtime)) throw new GpuError(`the subgroup kernels need subgroups ${SUBGROUP_KERNEL_WIDTHS.join(' or ')} wide; this device's: ${runtime.subgroupSize ?? 'none, or of varying width'}`);
  return runtime.subgroupSize!;
}

/**
 * Whether a kernel family uses them unless told otherwise: on software adapters (llvmpipe: 1.5–1.9×
 * the register kernels, bench/README.md). GPUs keep their measured workgroup-memory kernels.
 */
export const prefersSubgroupKernels = (runtime: GpuRuntime): boolean => runtime.software && subgroupKernelsRun(runtime);
