// The design X on the GPU behind one interface: a dense matrix multiplied by matmul.wgsl, or a
// convolution's patches multiplied by patches.wgsl without materializing them. The ADMM
// iteration, the feasibility check and the certificate only ever ask for these products.
import { epilogueRows, type Epilogue } from '../../gpu/kernels/epilogue.js';
import { matmul, matmulSlots } from '../../gpu/kernels/matmul.js';
import { partialsLength, patchGradient, patchProduct, patchProductSlots, patchRowsChunk, type PatchOperand } from '../../gpu/kernels/patches.js';
import type { Dispatch, Workspace } from '../../gpu/workspace.js';
import type { Design } from '../design.js';

export interface ProductSpec {
  label: string;
  /** columns×M */
  weights: GPUBuffer;
  /** rows×M, written (unless the epilogue only sums) */
  out?: GPUBuffer;
  outputs: number;
  /** rows×M, read when beta ≠ 0 */
  addend?: GPUBuffer;
  beta?: number;
  /** Fused into the stores; its rows×M bindings are whole arrays (split here with X). */
  epilogue?: Epilogue;
}

export interface TransposedProductSpec {
  label: string;
  /** rows×M */
  response: GPUBuffer;
  /** columns×M, written */
  out: GPUBuffer;
  outputs: number;
  /** columns×M, read when beta ≠ 0 */
  addend?: GPUBuffer;
  alpha?: number;
  beta?: number;
}

export interface GpuDesign {
  rows: number;
  columns: number;
  /** The dense X (rows×columns) for the Woodbury solve; null for patches. */
  dense: GPUBuffer | null;
  /** out = X·W + beta·addend. */
  product(spec: ProductSpec): Dispatch[];
  /** Partial-sum slots the epilogue of product() writes for M outputs. */
  productSlots(outputs: number): number;
  /** out = alpha·Xᵀ·B + beta·addend. */
  transposedProduct(spec: TransposedProductSpec): Dispatch[];
  /**
   * XᵀX (columns×columns) into `out`. The patch form accumulates it over chunks of `chunkRows`
   * materialized rows (default: 16 MiB of them) held in `scratch`, a workspace released after.
   */
  gramOfColumns(out: GPUBuffer, scratch: Workspace, chunkRows?: number): Dispatch[];
  /** Bytes of the arrays uploaded for X. */
  bytes: number;
}

/** Rows of patches materialized at once while accumulating XᵀX (a 16 MiB chunk at most). */
const GRAM_CHUNK_BYTES = 16 * 2 ** 20;

/** A range of rows of a row-major array with `width` floats per row. */
function rowRange(buffer: GPUBuffer, first: number, count: number, width: number): GPUBufferBinding {
  return { buffer, offset: first * width * 4, size: count * width * 4 };
}

/**
 * Sums over chunks i of f(i, out_i, previous) where each dispatch reads the previous partial sum
 * as its addend: partial sums alternate between `out` and `spare` (a dispatch cannot read and
 * write one buffer through two bindings), arranged so that the last lands in `out`.
 */
function chainedSum<T>(chunks: number, out: GPUBuffer, spare: () => GPUBuffer, step: (i: number, target: GPUBuffer, previous: GPUBuffer | null) => T): T[] {
  const sums = [out, chunks > 1 ? spare() : out];
  return Array.from({ length: chunks }, (_, i) => step(i, sums[(chunks - 1 - i) % 2], i > 0 ? sums[(chunks - i) % 2] : null));
}

/**
 * Uploads X for the GPU solver. A dense X larger than one storage binding is split over its rows
 * (samples) into chunks of `options.chunkRows` (default: as many as one binding holds, a multiple
 * of 64 so that every P×M range starts at an aligned offset); products then run chunk by chunk.
 */
export function uploadDesign(ws: Workspace, design: Design, options: { chunkRows?: number } = {}): GpuDesign {
  const { rows, columns } = design;
  if (!design.patches) {
    const bindingRows = Math.floor(ws.runtime.limits.maxStorageBufferBindingSize / (4 * columns));
    const chunkRows = Math.min(rows, options.chunkRows ?? (rows <= bindingRows ? rows : Math.floor(bindingRows / 64) * 64));
    if (chunkRows < 1) throw new Error(`one row of X (${columns} values) exceeds a storage binding`);
    const chunks = Array.from({ length: Math.ceil(rows / chunkRows) }, (_, i) => {
      const first = i * chunkRows;
      const count = Math.min(chunkRows, rows - first);
      return { first, count, X: ws.upload(design.rowsFloat32(first, count), `X rows (chunk ${i + 1})`) };
    });
    return {
      rows,
      columns,
      dense: chunks.length === 1 ? chunks[0].X : null,
      bytes: rows * columns * 4,
      product: (s) => {
        let slotOffset = 0;
        return chunks.map(({ first, count, X }) => {
          const dispatch = matmul(ws, {
            label: s.label,
            a: X,
            b: s.weights,
            out: s.out && (chunks.length === 1 ? s.out : rowRange(s.out, first, count, s.outputs)),
            addend: s.addend && (chunks.length === 1 ? s.addend : rowRange(s.addend, first, count, s.outputs)),
            beta: s.beta,
            m: count,
            n: s.outputs,
            k: columns,
            epilogue: chunks.length === 1 ? s.epilogue : epilogueRows(s.epilogue, first, count, s.outputs),
            slotOffset,
          });
          slotOffset += matmulSlots(ws, count, s.outputs);
          return dispatch;
        });
      },
      productSlots: (outputs) => chunks.reduce((sum, { count }) => sum + matmulSlots(ws, count, outputs), 0),
      transposedProduct: (s) =>
        chainedSum(chunks.length, s.out, () => ws.storage(columns * s.outputs, `${s.label}: partial sum`), (i, target, previous) => {
          const { first, count, X } = chunks[i];
          return matmul(ws, {
            label: s.label,
            a: X,
            b: chunks.length === 1 ? s.response : rowRange(s.response, first, count, s.outputs),
            out: target,
            addend: previous ?? s.addend,
            alpha: s.alpha,
            beta: previous ? 1 : s.beta,
            m: columns,
            n: s.outputs,
            k: count,
            transposeA: true,
          });
        }),
      gramOfColumns: (out, scratch) =>
        chainedSum(chunks.length, out, () => scratch.storage(columns * columns, 'Xᵀ X partial sum'), (i, target, previous) =>
          matmul(scratch, { label: 'Xᵀ X', a: chunks[i].X, b: chunks[i].X, out: target, addend: previous ?? undefined, beta: previous ? 1 : 0, m: columns, n: columns, k: chunks[i].count, transposeA: true }),
        ),
    };
  }

  const p = design.patches;
  const images = ws.upload(Float32Array.from(p.images, (v) => v / design.scale), 'images (X as patches)');
  const x: PatchOperand = { images, shape: p, biasValue: design.bias ? 1 / design.scale : null };
  let partials: { buffer: GPUBuffer; length: number } | null = null;
  return {
    rows,
    columns,
    dense: null,
    bytes: p.images.length * 4,
    product: (s) => [patchProduct(ws, x, { label: s.label, weights: s.weights, out: s.out, outputs: s.outputs, addend: s.addend, beta: s.beta, epilogue: s.epilogue })],
    productSlots: (outputs) => patchProductSlots(x, outputs),
    transposedProduct: (s) => {
      // One scratch for every Xᵀ·B of the solve: they run one after another, never at once.
      const length = partialsLength(x, s.outputs);
      if (!partials || partials.length < length) partials = { buffer: ws.storage(length, 'Xᵀ·B partial sums'), length };
      return patchGradient(ws, x, { label: s.label, response: s.response, out: s.out, partials: partials.buffer, outputs: s.outputs, addend: s.addend, alpha: s.alpha, beta: s.beta });
    },
    gramOfColumns: (out, scratch, requestedChunkRows) => {
      // XᵀX = Σ over chunks of materialized patch rows of chunkᵀ·chunk.
      const chunkRows = Math.max(1, Math.min(rows, requestedChunkRows ?? Math.floor(GRAM_CHUNK_BYTES / (4 * columns))));
      const chunk = scratch.storage(chunkRows * columns, 'patch rows chunk');
      const chunks = Math.ceil(rows / chunkRows);
      return chainedSum(chunks, out, () => scratch.storage(columns * columns, 'Xᵀ X partial sum'), (i, target, previous) => {
        const firstRow = i * chunkRows;
        const count = Math.min(chunkRows, rows - firstRow);
        return [
          patchRowsChunk(scratch, x, { firstRow, chunkRows: count, chunk }),
          matmul(scratch, { label: 'Xᵀ X (chunk)', a: chunk, b: chunk, out: target, addend: previous ?? undefined, beta: previous ? 1 : 0, m: columns, n: columns, k: count, transposeA: true }),
        ];
      }).flat();
    },
  };
}
