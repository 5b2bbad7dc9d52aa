// The design X on the GPU behind one interface: a dense matrix multiplied by matmul.wgsl, or a
// convolution's patches multiplied by patches.wgsl without materializing them. The ADMM
// iteration, the feasibility check and the certificate only ever ask for these products.
import { matmul } from '../../gpu/kernels/matmul.js';
import { partialsLength, patchGradient, patchProduct, patchRowsChunk, type PatchOperand } from '../../gpu/kernels/patches.js';
import type { Dispatch, Workspace } from '../../gpu/workspace.js';
import type { Design } from '../design.js';

export interface ProductSpec {
  label: string;
  /** columns×M */
  weights: GPUBuffer;
  /** rows×M, written */
  out: GPUBuffer;
  outputs: number;
  /** rows×M, read when beta ≠ 0 */
  addend?: GPUBuffer;
  beta?: number;
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

export function uploadDesign(ws: Workspace, design: Design): GpuDesign {
  const { rows, columns } = design;
  if (!design.patches) {
    const X = ws.upload(design.denseFloat32(), 'X');
    return {
      rows,
      columns,
      dense: X,
      bytes: rows * columns * 4,
      product: (s) => [matmul(ws, { label: s.label, a: X, b: s.weights, out: s.out, addend: s.addend, beta: s.beta, m: rows, n: s.outputs, k: columns })],
      transposedProduct: (s) => [
        matmul(ws, { label: s.label, a: X, b: s.response, out: s.out, addend: s.addend, alpha: s.alpha, beta: s.beta, m: columns, n: s.outputs, k: rows, transposeA: true }),
      ],
      gramOfColumns: (out, scratch) => [matmul(scratch, { label: 'Xᵀ X', a: X, b: X, out, m: columns, n: columns, k: rows, transposeA: true })],
    };
  }

  const p = design.patches;
  const images = ws.upload(Float32Array.from(p.images, (v) => v / design.scale), 'images (X as patches)');
  const x: PatchOperand = { images, shape: p, biasValue: design.bias ? 1 / design.scale : null };
  return {
    rows,
    columns,
    dense: null,
    bytes: p.images.length * 4,
    product: (s) => [patchProduct(ws, x, { label: s.label, weights: s.weights, out: s.out, outputs: s.outputs, addend: s.addend, beta: s.beta })],
    transposedProduct: (s) => {
      const partials = ws.storage(partialsLength(x, s.outputs), `${s.label}: partial sums`);
      return patchGradient(ws, x, { label: s.label, response: s.response, out: s.out, partials, outputs: s.outputs, addend: s.addend, alpha: s.alpha, beta: s.beta });
    },
    gramOfColumns: (out, scratch, requestedChunkRows) => {
      // XᵀX = Σ over row chunks of chunkᵀ·chunk, accumulated in two buffers used in turn
      // (a dispatch cannot read and write one buffer through two bindings).
      const chunkRows = Math.max(1, Math.min(rows, requestedChunkRows ?? Math.floor(GRAM_CHUNK_BYTES / (4 * columns))));
      const chunk = scratch.storage(chunkRows * columns, 'patch rows chunk');
      const chunks = Math.ceil(rows / chunkRows);
      const sums = [out, chunks > 1 ? scratch.storage(columns * columns, 'Xᵀ X partial') : out];
      const dispatches: Dispatch[] = [];
      for (let i = 0; i < chunks; i++) {
        const firstRow = i * chunkRows;
        const count = Math.min(chunkRows, rows - firstRow);
        // The last chunk lands in `out`.
        const target = sums[(chunks - 1 - i) % 2];
        const previous = sums[(chunks - i) % 2];
        dispatches.push(
          patchRowsChunk(scratch, x, { firstRow, chunkRows: count, chunk }),
          matmul(scratch, { label: 'Xᵀ X (chunk)', a: chunk, b: chunk, out: target, addend: i > 0 ? previous : undefined, beta: i > 0 ? 1 : 0, m: columns, n: columns, k: count, transposeA: true }),
        );
      }
      return dispatches;
    },
  };
}
