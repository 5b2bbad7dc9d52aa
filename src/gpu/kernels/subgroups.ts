// When the subgroup kernels run (shaders/matmul_subgroups.wgsl, shaders/patches_subgroups.wgsl):
// their workgroups are one subgroup of exactly this many lanes (REG_LANES and SUBGROUP_WIDTH in
// the WGSL; test/gpuContract.test.ts compares).
import type { GpuRuntime } from '../device.js';

export const SUBGROUP_KERNEL_WIDTH = 8;

/** Whether they can run: the device has 'subgroups' (enabled where offered), exactly 8 wide. */
export const subgroupKernelsRun = (runtime: GpuRuntime): boolean => runtime.subgroupSize === SUBGROUP_KERNEL_WIDTH;

/**
 * Whether a kernel family uses them unless told otherwise: on software adapters (llvmpipe: 1.5–1.9×
 * the register kernels, bench/README.md). GPUs keep their measured workgroup-memory kernels.
 */
export const prefersSubgroupKernels = (runtime: GpuRuntime): boolean => runtime.software && subgroupKernelsRun(runtime);
