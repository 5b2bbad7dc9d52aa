// Wrappers of shaders/patches.wgsl: products with a convolution's patch matrix, never materialized.
import patchesSource from '../../../shaders/patches.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';
import type { WindowShape } from './window.js';
import { epilogueBytesPerValue, epiloguePipeline, epilogueResources, type Epilogue } from './epilogue.js';

/** The patch kernels, with the epilogue that patch_product fuses (and that declares `out`). */
const patchPipeline = (ws: Workspace, entryPoint: string) => epiloguePipeline(ws, 'patches', patchesSource, entryPoint);

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
    packUniforms([
      ['u32', patchRows(s)],
      ['u32', patchInputs(s)],
      ['u32', o.outputs],
      ['u32', o.rowsPerSlice ?? 0],
      ['u32', s.inH],
      ['u32', s.inW],
      ['u32', s.channels],
      ['u32', s.outH],
      ['u32', s.outW],
      ['u32', s.kernelW],
      ['u32', s.strideH],
      ['u32', s.strideW],
      ['u32', s.padTop],
      ['u32', s.padLeft],
      ['u32', s.kernelH],
      ['u32', x.biasValue === null ? 0 : 1],
      ['f32', x.biasValue ?? 0],
      ['f32', o.alpha ?? 1],
      ['f32', o.beta ?? 0],
      ['u32', o.firstRow ?? 0],
      ['u32', o.chunkRows ?? 0],
      ['u32', s.dilationH ?? 1],
      ['u32', s.dilationW ?? 1],
    ]),
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
  return ws.dispatch(
    o.label,
    patchPipeline(ws, 'patch_product'),
    { ...epilogueResources(ws, o.epilogue, { out: o.out, slotOffset: o.slotOffset, reads: 'both' }), 0: uniforms(ws, x, o), 1: x.images, 2: o.weights, 3: o.addend ?? ws.dummy },
    productGroups(x, o.outputs),
    {
      bytes:
        4 * (x.shape.count * x.shape.inH * x.shape.inW * x.shape.channels + patchColumns(x) * o.outputs + rows * o.outputs * ((o.beta ?? 0) !== 0 ? 2 : 1)) +
        rows * o.outputs * epilogueBytesPerValue(o.epilogue),
      flops: 2 * rows * patchColumns(x) * o.outputs,
    },
  );
}

function productGroups(x: PatchOperand, outputs: number): [number, number] {
  return [Math.min(Math.ceil(patchRows(x.shape) / (TILE * WORKGROUP)), MAX_GROUPS), Math.ceil(outputs / BLOCK)];
}

/** Partial-sum slots patchProduct's epilogue writes (one per invocation). */
export function patchProductSlots(x: PatchOperand, outputs: number): number {
  const [groupsX, groupsY] = productGroups(x, outputs);
  return groupsX * WORKGROUP * groupsY;
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
  const partial = ws.dispatch(
    `${o.label} (row slices)`,
    patchPipeline(ws, 'patch_gradient'),
    { 0: uniforms(ws, x, { outputs: o.outputs, rowsPerSlice }), 1: x.images, 2: o.response, 4: o.partials },
    [Math.min(Math.ceil((Math.ceil(columns / TILE) * Math.ceil(o.outputs / BLOCK)) / WORKGROUP), MAX_GROUPS), slices],
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
  const params = ws.uniform(packUniforms([['u32', o.count], ['u32', o.slices], ['f32', o.alpha ?? 1], ['f32', o.beta]]));
  return ws.dispatch(
    `${o.label} (sum of slices)`,
    pipeline,
    { 10: params, 11: o.partials, 12: o.addend ?? ws.dummy, 13: o.out },
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
    { 0: uniforms(ws, x, { outputs: 1, firstRow: o.firstRow, chunkRows: o.chunkRows }), 1: x.images, 4: o.chunk },
    [Math.max(1, Math.min(Math.ceil((o.chunkRows * columns) / WORKGROUP), MAX_GROUPS))],
    { bytes: 4 * 2 * o.chunkRows * columns, flops: 0 },
  );
}
