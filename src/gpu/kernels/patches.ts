// Wrappers of shaders/patches.wgsl: products with a convolution's patch matrix, never materialized.
import patchesSource from '../../../shaders/patches.wgsl';
import subgroupsSource from '../../../shaders/patches_subgroups.wgsl';
import type { GpuRuntime } from '../device.js';
import type { Dispatch, Workspace } from '../workspace.js';
import type { WindowShape } from './window.js';
import { epilogueBytesPerValue, epilogueResources, withEpilogue, type Epilogue } from './epilogue.js';
import { prefersSubgroupKernels, subgroupKernelWidth } from './subgroups.js';

/** The patch kernels, with the epilogue that patch_product fuses (and that declares `out`). */
const shader = withEpilogue('patches', patchesSource);
/** The same and the subgroup forms of the two products (their `<entry>_subgroups`), for devices that prefer them. */
const subgroupShader = withEpilogue('patches_subgroups', `${patchesSource}\n${subgroupsSource}`, 'enable subgroups;\n');
/** Both without the epilogue's vec4 views, for devices with fewer storage buffers per stage. */
const scalarShaders = {
  plain: withEpilogue('patches (no vec4 views)', patchesSource, '', false),
  subgroups: withEpilogue('patches_subgroups (no vec4 views)', `${patchesSource}\n${subgroupsSource}`, 'enable subgroups;\n', false),
};

/**
 * Storage buffers patch_product binds with the epilogue's vec4 views: images, operand, addend,
 * out, the epilogue's B, Y, V and partial sums, and the views of B, Y, V. Fewer fit WebGPU's
 * default of 8 (and SwiftShader's 10): without the views, 8.
 */
export const PRODUCT_STORAGE_BUFFERS = 11;
const viewsFit = (runtime: GpuRuntime) => runtime.limits.maxStorageBuffersPerShaderStage >= PRODUCT_STORAGE_BUFFERS;

/** The products' entry point and lanes per workgroup on this device. */
function productKernel(runtime: GpuRuntime, entryPoint: 'patch_product' | 'patch_gradient') {
  return prefersSubgroupKernels(runtime) ? { entryPoint: `${entryPoint}_subgroups`, lanes: subgroupKernelWidth(runtime), subgroups: true } : { entryPoint, lanes: WORKGROUP, subgroups: false };
}

function patchPipeline(ws: Workspace, entryPoint: string, subgroups = false): GPUComputePipeline {
  const storesInLoop = { STORES_IN_LOOP: ws.runtime.software ? 1 : 0 };
  const views = viewsFit(ws.runtime);
  if (!subgroups) return (views ? shader : scalarShaders.plain).pipeline(ws.runtime, entryPoint, storesInLoop);
  return (views ? subgroupShader : scalarShaders.subgroups).pipeline(ws.runtime, entryPoint, { ...storesInLoop, SUBGROUP_WIDTH: subgroupKernelWidth(ws.runtime) });
}

/** A convolution's patch matrix: `count` images under one window geometry (one row per image and output position). */
export type PatchShape = WindowShape & { count: number };

/** The patch matrix on the GPU: the images buffer (already divided by the scale) and its geometry. */
export interface PatchOperand {
  images: GPUBuffer;
  shape: PatchShape;
  /** The value of the bias column, or null for none. */
  biasValue: number | null;
}

const WORKGROUP = 64;
/** Rows (product) or columns (gradient) per invocation, and outputs per invocation (shaders/patches.wgsl). */
const TILE = 8;
const BLOCK = 16;
const MAX_GROUPS = 4096;

export function patchRows(s: PatchShape): number {
  return s.count * s.outH * s.outW;
}

export function patchInputs(s: PatchShape): number {
  return s.kernelH * s.kernelW * s.channels;
}

function patchColumns(x: PatchOperand): number {
  return patchInputs(x.shape) + (x.biasValue === null ? 0 : 1);
}

function uniforms(
  ws: Workspace,
  x: PatchOperand,
  o: { outputs: number; rowsPerSlice?: number; alpha?: number; beta?: number; firstRow?: number; chunkRows?: number },
): GPUBuffer {
  const s = x.shape;
  return ws.uniform(
    shader.uniforms('Params', {
      rows: patchRows(s),
      inputs: patchInputs(s),
      outputs: o.outputs,
      rowsPerSlice: o.rowsPerSlice ?? 0,
      inH: s.inH,
      inW: s.inW,
      channels: s.channels,
      outH: s.outH,
      outW: s.outW,
      kernelW: s.kernelW,
      strideH: s.strideH,
      strideW: s.strideW,
      padTop: s.padTop,
      padLeft: s.padLeft,
      kernelH: s.kernelH,
      hasBias: x.biasValue === null ? 0 : 1,
      biasValue: x.biasValue ?? 0,
      alpha: o.alpha ?? 1,
      beta: o.beta ?? 0,
      firstRow: o.firstRow ?? 0,
      chunkRows: o.chunkRows ?? 0,
      dilationH: s.dilationH ?? 1,
      dilationW: s.dilationW ?? 1,
    }),
    'patches Params',
  );
}

/**
 * out (rows×M) = alpha·X·W + beta·addend: a convolution of the images with W (columns×M).
 * `slotOffset` is the first partial-sum slot of the epilogue (after a previous chunk's).
 */
export function patchProduct(
  ws: Workspace,
  x: PatchOperand,
  o: { label: string; weights: GPUBuffer; out?: GPUBuffer; outputs: number; addend?: GPUBuffer; alpha?: number; beta?: number; epilogue?: Epilogue; slotOffset?: number },
): Dispatch {
  if ((o.beta ?? 0) !== 0 && !o.addend) throw new Error(`${o.label}: beta ≠ 0 needs an addend`);
  const rows = patchRows(x.shape);
  const kernel = productKernel(ws.runtime, 'patch_product');
  return ws.dispatch(
    o.label,
    patchPipeline(ws, kernel.entryPoint, kernel.subgroups),
    shader.resources({ ...epilogueResources(ws, o.epilogue, { out: o.out, slotOffset: o.slotOffset, reads: viewsFit(ws.runtime) ? 'both' : 'scalar' }), params: uniforms(ws, x, o), images: x.images, operand: o.weights, addend: o.addend ?? ws.dummy }),
    productGroups(ws.runtime, x, o.outputs),
    {
      bytes:
        4 * (x.shape.count * x.shape.inH * x.shape.inW * x.shape.channels + patchColumns(x) * o.outputs + rows * o.outputs * ((o.beta ?? 0) !== 0 ? 2 : 1)) +
        rows * o.outputs * epilogueBytesPerValue(o.epilogue),
      flops: 2 * rows * patchColumns(x) * o.outputs,
    },
  );
}

function productGroups(runtime: GpuRuntime, x: PatchOperand, outputs: number): [number, number] {
  const { lanes } = productKernel(runtime, 'patch_product');
  return [Math.min(Math.ceil(patchRows(x.shape) / (TILE * lanes)), MAX_GROUPS), Math.ceil(outputs / BLOCK)];
}

/** Partial-sum slots patchProduct's epilogue writes on this device (one per invocation). */
export function patchProductSlots(runtime: GpuRuntime, x: PatchOperand, outputs: number): number {
  const [groupsX, groupsY] = productGroups(runtime, x, outputs);
  return groupsX * productKernel(runtime, 'patch_product').lanes * groupsY;
}

/**
 * Row slices for the split reduction of Xᵀ·B: enough (column, block) × slice invocations to
 * fill a large GPU, with at least 256 rows per slice so the partial sums stay a small fraction
 * of the traffic.
 */
export function sliceRowsFor(rows: number, columns: number, outputs: number): number {
  const invocationsPerSlice = Math.ceil(columns / TILE) * Math.ceil(outputs / BLOCK);
  const slices = Math.max(1, Math.min(Math.ceil(rows / 256), Math.ceil(16384 / invocationsPerSlice), 65535));
  return Math.ceil(rows / slices);
}

/**
 * out (columns×M) = alpha·Xᵀ·B + beta·addend, the kernel gradient of the convolution, as two
 * dispatches: per-slice partial sums into `partials` (see partialsLength), then their sum.
 */
export function patchGradient(
  ws: Workspace,
  x: PatchOperand,
  o: { label: string; response: GPUBuffer; out: GPUBuffer; partials: GPUBuffer; outputs: number; addend?: GPUBuffer; alpha?: number; beta?: number },
): Dispatch[] {
  const rows = patchRows(x.shape);
  const columns = patchColumns(x);
  const rowsPerSlice = sliceRowsFor(rows, columns, o.outputs);
  const slices = Math.ceil(rows / rowsPerSlice);
  const count = columns * o.outputs;
  const beta = o.beta ?? 0;
  if (beta !== 0 && !o.addend) throw new Error(`${o.label}: beta ≠ 0 needs an addend`);
  const kernel = productKernel(ws.runtime, 'patch_gradient');
  // Plain: one invocation per (column block, output block); subgroups: one workgroup per `lanes` column blocks of an output block.
  const invocations = kernel.subgroups ? Math.ceil(columns / TILE / kernel.lanes) * kernel.lanes : Math.ceil(columns / TILE);
  const partial = ws.dispatch(
    `${o.label} (row slices)`,
    patchPipeline(ws, kernel.entryPoint, kernel.subgroups),
    shader.resources({ params: uniforms(ws, x, { outputs: o.outputs, rowsPerSlice }), images: x.images, operand: o.response, out: o.partials }),
    [Math.min(Math.ceil((invocations * Math.ceil(o.outputs / BLOCK)) / kernel.lanes), MAX_GROUPS), slices],
    {
      bytes: 4 * (x.shape.count * x.shape.inH * x.shape.inW * x.shape.channels + rows * o.outputs + slices * count),
      flops: 2 * rows * columns * o.outputs,
    },
  );
  return [partial, reduceSlices(ws, { label: o.label, partials: o.partials, slices, count, out: o.out, addend: o.addend, alpha: o.alpha, beta })];
}

/** Floats of the `partials` scratch buffer patchGradient needs for M outputs. */
export function partialsLength(x: PatchOperand, outputs: number): number {
  const rows = patchRows(x.shape);
  const columns = patchColumns(x);
  return Math.ceil(rows / sliceRowsFor(rows, columns, outputs)) * columns * outputs;
}

function reduceSlices(
  ws: Workspace,
  o: { label: string; partials: GPUBuffer; slices: number; count: number; out: GPUBuffer; addend?: GPUBuffer; alpha?: number; beta: number },
): Dispatch {
  const pipeline = patchPipeline(ws, 'reduce_slices');
  const params = ws.uniform(shader.uniforms('ReduceParams', { count: o.count, slices: o.slices, alpha: o.alpha ?? 1, beta: o.beta }), 'ReduceParams');
  return ws.dispatch(
    `${o.label} (sum of slices)`,
    pipeline,
    shader.resources({ reduce: params, partials: o.partials, reduceAddend: o.addend ?? ws.dummy, reduced: o.out }),
    [Math.max(1, Math.min(Math.ceil(o.count / 256), MAX_GROUPS))],
    { bytes: 4 * o.count * (o.slices + (o.beta !== 0 ? 2 : 1)), flops: o.count * o.slices },
  );
}

/** chunk (chunkRows × columns) = rows firstRow… of X, for accumulating XᵀX chunk by chunk. */
export function patchRowsChunk(ws: Workspace, x: PatchOperand, o: { firstRow: number; chunkRows: number; chunk: GPUBuffer }): Dispatch {
  const columns = patchColumns(x);
  const pipeline = patchPipeline(ws, 'patch_rows');
  return ws.dispatch(
    'patch rows',
    pipeline,
    shader.resources({ params: uniforms(ws, x, { outputs: 1, firstRow: o.firstRow, chunkRows: o.chunkRows }), images: x.images, out: o.chunk }),
    [Math.max(1, Math.min(Math.ceil((o.chunkRows * columns) / WORKGROUP), MAX_GROUPS))],
    { bytes: 4 * 2 * o.chunkRows * columns, flops: 0 },
  );
}
