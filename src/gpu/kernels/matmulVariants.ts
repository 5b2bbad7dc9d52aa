// The matmul kernels of shaders/matmul.wgsl and their output tiles: a leaf module, so that the
// runtime (gpu/device.ts, which remembers the tuned variant) and the kernel wrapper (matmul.ts)
// both import it without importing each other.

/**
 * 'tiled': 64×64 tiles staged through workgroup memory, 4×4 outputs per invocation.
 * 'wide': 128×128 tiles, 8×8 outputs per invocation read as vec4 from workgroup memory (4× the
 * arithmetic per workgroup-memory load of 'tiled'; fewer workgroups, so small products fill a
 * large GPU less well).
 * 'pipelined': 'wide' with two stages of workgroup memory (one barrier per k step instead of two)
 * and loads without bounds tests inside the operands; a k step of 16 where the device's workgroup
 * memory holds it (38 KiB with the epilogue's), else 8. Not yet measured on a GPU: tuneMatmul
 * times it beside the others.
 * 'registers': 16×64 tiles, a 16×8 register block per invocation and direct global loads, no
 * workgroup memory or barriers (about 4× faster on llvmpipe, where each workgroup is SIMD lanes of
 * one CPU thread and barriers/workgroup memory buy nothing).
 * 'subgroups': 'registers' with op(A) loaded once per subgroup and shared by subgroupShuffle, for
 * devices whose subgroups are 4 or 8 wide, its workgroup (llvmpipe: 1.5–1.9× 'registers').
 */
export type MatmulVariant = 'tiled' | 'wide' | 'pipelined' | 'registers' | 'subgroups';

/**
 * Entry point, output tile (rows × columns per workgroup: dispatch y covers rows, x columns) and
 * workgroup memory in bytes, the epilogue's included, at the override constants' defaults;
 * test/gpuContract.test.ts compares them with the WGSL.
 */
export const MATMUL_VARIANTS: Readonly<Record<MatmulVariant, { entryPoint: string; tileRows: number; tileCols: number; workgroupBytes: number }>> = {
  tiled: { entryPoint: 'matmul', tileRows: 64, tileCols: 64, workgroupBytes: 14336 },
  wide: { entryPoint: 'matmul_wide', tileRows: 128, tileCols: 128, workgroupBytes: 22528 },
  pipelined: { entryPoint: 'matmul_pipelined', tileRows: 128, tileCols: 128, workgroupBytes: 38912 },
  registers: { entryPoint: 'matmul_registers', tileRows: 16, tileCols: 64, workgroupBytes: 0 },
  // At 8 lanes: REGISTER_BLOCK_COLUMNS per lane of the device's subgroup (matmulTile).
  subgroups: { entryPoint: 'matmul_subgroups', tileRows: 16, tileCols: 64, workgroupBytes: 0 },
};

/** Columns of a lane's register block in the register kernels (REG_COLS in shaders/matmul.wgsl). */
export const REGISTER_BLOCK_COLUMNS = 8;

/** 'pipelined''s k steps (PIPE_K), the default first, and its workgroup memory per k of one (two stages of both 128-wide tiles). */
export const PIPELINE_DEPTHS: readonly number[] = [16, 8];
export const STAGED_BYTES_PER_K = 2 * 2 * 128 * 4;
