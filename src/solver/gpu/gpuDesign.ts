// The design X on the GPU behind one interface: a dense matrix multiplied by matmul.wgsl, or a
// convolution's patches multiplied by patches.wgsl without materializing them. The ADMM
// iteration, the feasibility check and the certificate only ever ask for these products.
//
// X is split over its samples into chunks when the layer exceeds one storage binding (or one
// buffer): rows of a dense X, whole images of patches. Every samples-major array (Y, V, T, B: P×M)
// is split the same way, one buffer per chunk (a SampleArray), so no binding ever holds more
// than a chunk; products run chunk by chunk, and Xᵀ·B sums over the chunks.
import { mapEpilogue, type Epilogue } from '../../gpu/kernels/epilogue.js';
import { matmul, matmulDispatches, matmulMaxRows, matmulSlots } from '../../gpu/kernels/matmul.js';
import { partialsLength, patchGradient, patchProduct, patchProductSlots, patchRowsChunk, type PatchOperand } from '../../gpu/kernels/patches.js';
import { GpuError } from '../../errors.js';
import type { Dispatch, Workspace } from '../../gpu/workspace.js';
import type { Design } from '../design.js';

/** Rows first..first+count of X: one chunk of the samples. */
export interface SampleChunk {
  first: number;
  count: number;
}

/** A samples-major array (samples × width floats), one buffer per sample chunk of the design. */
export interface SampleArray {
  width: number;
  parts: GPUBuffer[];
}

export interface ProductSpec {
  label: string;
  /** columns×M */
  weights: GPUBuffer;
  /** rows×M, written (unless the epilogue only sums) */
  out?: SampleArray;
  outputs: number;
  /** rows×M, read when beta ≠ 0 */
  addend?: SampleArray;
  beta?: number;
  /** Fused into the stores of every chunk. */
  epilogue?: Epilogue<SampleArray>;
}

export interface TransposedProductSpec {
  label: string;
  /** rows×M */
  response: SampleArray;
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
  /** The sample chunks, in order; one unless the layer exceeds a storage binding. */
  chunks: SampleChunk[];
  /** The dense X (rows×columns) for the Woodbury solve; null for patches or a split X. */
  dense: GPUBuffer | null;
  /** out = X·W + beta·addend. */
  product(spec: ProductSpec): Dispatch[];
  /** Partial-sum slots the epilogue of product() writes for M outputs (all chunks). */
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

/** A zeroed samples-major array of `width` floats per sample, in `ws`, split like X. */
export function sampleStorage(ws: Workspace, X: GpuDesign, width: number, label: string): SampleArray {
  return { width, parts: X.chunks.map(({ count }, i) => ws.storage(count * width, partLabel(label, i, X.chunks.length))) };
}

/** `values` (samples × width, samples-major) uploaded into `ws`, split like X. */
export function uploadSamples(ws: Workspace, X: GpuDesign, values: ArrayLike<number>, width: number, label: string): SampleArray {
  // A view per chunk (ws.upload converts it to f32): no copy of the whole array first.
  const all = ArrayBuffer.isView(values) ? (values as Float32Array | Float64Array) : Float64Array.from(values);
  return { width, parts: X.chunks.map(({ first, count }, i) => ws.upload(all.subarray(first * width, (first + count) * width), partLabel(label, i, X.chunks.length))) };
}

/** A samples-major array read back whole (round trips: never inside the ADMM loop). */
export async function readSamples(ws: Workspace, X: GpuDesign, array: SampleArray): Promise<Float32Array> {
  const out = new Float32Array(X.rows * array.width);
  for (const [i, { first, count }] of X.chunks.entries()) out.set(await ws.read(array.parts[i], count * array.width), first * array.width);
  return out;
}

const partLabel = (label: string, i: number, chunks: number) => (chunks === 1 ? label : `${label} (chunk ${i + 1} of ${chunks})`);

/** Chunk i's buffers of a spec's samples-major arrays. */
function partOf(i: number) {
  return {
    array: (a: SampleArray | undefined) => a?.parts[i],
    epilogue: (e: Epilogue<SampleArray> | undefined) => e && mapEpilogue(e, (a) => a.parts[i]),
  };
}

/** Rows of patches materialized at once while accumulating XᵀX (a 16 MiB chunk at most). */
const GRAM_CHUNK_BYTES = 16 * 2 ** 20;

/**
 * Sums over chunks i of f(i, out_i, previous) where each dispatch reads the previous partial sum
 * as its addend: partial sums alternate between `out` and `spare` (a dispatch cannot read and
 * write one buffer through two bindings), arranged so that the last lands in `out`.
 */
function chainedSum<T>(chunks: number, out: GPUBuffer, spare: () => GPUBuffer, step: (i: number, target: GPUBuffer, previous: GPUBuffer | null) => T): T[] {
  const sums = [out, chunks > 1 ? spare() : out];
  return Array.from({ length: chunks }, (_, i) => step(i, sums[(chunks - 1 - i) % 2], i > 0 ? sums[(chunks - i) % 2] : null));
}

/** One chunk of X on the GPU: its products, given the chunk's buffers of the samples-major arrays. */
interface GpuChunk extends SampleChunk {
  /** A dense chunk's rows of X (the Woodbury solve multiplies it directly). */
  X?: GPUBuffer;
  product(s: { label: string; weights: GPUBuffer; outputs: number; out?: GPUBuffer; addend?: GPUBuffer; beta?: number; epilogue?: Epilogue; slotOffset: number }): Dispatch;
  slots(outputs: number): number;
  /** out = alpha·X_chunkᵀ·response + beta·addend. */
  transposed(s: { label: string; response: GPUBuffer; out: GPUBuffer; outputs: number; addend?: GPUBuffer; alpha?: number; beta?: number }): Dispatch[];
  /** out = X_chunkᵀ·X_chunk + (previous when given). */
  gram(out: GPUBuffer, previous: GPUBuffer | null, scratch: Workspace, chunkRows?: number): Dispatch[];
}

/**
 * Uploads X for the GPU solver, split over its samples so that no chunk of X, nor of a
 * samples-major array `options.outputs` wide, exceeds one storage binding or one buffer (nor a
 * dense chunk the rows one matmul dispatch covers): a dense X at multiples of 64 rows, patches at whole images. `options.chunkRows` caps the rows per
 * chunk (tests, or to bound memory per dispatch).
 */
export function uploadDesign(ws: Workspace, design: Design, options: { chunkRows?: number; outputs?: number } = {}): GpuDesign {
  const { rows, columns } = design;
  const { maxStorageBufferBindingSize, maxBufferSize } = ws.runtime.limits;
  const bindingFloats = Math.floor(Math.min(maxStorageBufferBindingSize, maxBufferSize) / 4);
  const width = Math.max(1, options.outputs ?? 1);
  const chunks = design.patches ? patchChunks(ws, design, bindingFloats, width, options.chunkRows) : denseChunks(ws, design, bindingFloats, width, options.chunkRows);
  // One spare for the chained partial sums of every Xᵀ·B of this width (they run one after another).
  const spare = (floats: number) => () => ws.placeholder(`Xᵀ·B partial sum ${floats}`, () => ws.storage(floats, 'Xᵀ·B partial sum'));
  return {
    rows,
    columns,
    chunks: chunks.map(({ first, count }) => ({ first, count })),
    dense: chunks.length === 1 ? (chunks[0].X ?? null) : null,
    bytes: design.patches ? design.patches.images.length * 4 : rows * columns * 4,
    product: (s) => {
      let slotOffset = 0;
      return chunks.map((chunk, i) => {
        const part = partOf(i);
        const dispatch = chunk.product({ label: s.label, weights: s.weights, outputs: s.outputs, out: part.array(s.out), addend: part.array(s.addend), beta: s.beta, epilogue: part.epilogue(s.epilogue), slotOffset });
        slotOffset += chunk.slots(s.outputs);
        return dispatch;
      });
    },
    productSlots: (outputs) => chunks.reduce((sum, chunk) => sum + chunk.slots(outputs), 0),
    transposedProduct: (s) =>
      chainedSum(chunks.length, s.out, spare(columns * s.outputs), (i, target, previous) =>
        chunks[i].transposed({ label: s.label, response: s.response.parts[i], out: target, outputs: s.outputs, addend: previous ?? s.addend, alpha: s.alpha, beta: previous ? 1 : s.beta }),
      ).flat(),
    gramOfColumns: (out, scratch, chunkRows) =>
      chainedSum(chunks.length, out, () => scratch.storage(columns * columns, 'Xᵀ X partial sum'), (i, target, previous) => chunks[i].gram(target, previous, scratch, chunkRows)).flat(),
  };
}

function denseChunks(ws: Workspace, design: Design, bindingFloats: number, width: number, requestedRows?: number): GpuChunk[] {
  const { rows, columns } = design;
  // A chunk's X·W has one row per sample: at most what one matmul dispatch covers.
  const fitRows = Math.min(Math.floor(bindingFloats / Math.max(columns, width)), matmulMaxRows(ws.runtime));
  if (fitRows < 1) throw new GpuError(`one sample of X (${columns} values) or of the response (${width} values) exceeds one storage binding of this device`);
  const chunkRows = Math.min(rows, fitRows, requestedRows ?? (rows <= fitRows ? rows : fitRows >= 64 ? Math.floor(fitRows / 64) * 64 : fitRows));
  const count = Math.ceil(rows / chunkRows);
  return Array.from({ length: count }, (_, i) => {
    const first = i * chunkRows;
    const n = Math.min(chunkRows, rows - first);
    const X = ws.upload(design.rowsFloat32(first, n), partLabel('X rows', i, count));
    return {
      first,
      count: n,
      X,
      product: (s) => matmul(ws, { label: s.label, a: X, b: s.weights, out: s.out, addend: s.addend, beta: s.beta, m: n, n: s.outputs, k: columns, epilogue: s.epilogue, slotOffset: s.slotOffset }),
      slots: (outputs) => matmulSlots(ws, n, outputs),
      // N×M or N×N outputs with k = the samples: split over k on GPUs (matmulDispatches).
      transposed: (s) => matmulDispatches(ws, { label: s.label, a: X, b: s.response, out: s.out, addend: s.addend, alpha: s.alpha, beta: s.beta, m: columns, n: s.outputs, k: n, transposeA: true }),
      gram: (out, previous, scratch) => matmulDispatches(scratch, { label: 'Xᵀ X', a: X, b: X, out, addend: previous ?? undefined, beta: previous ? 1 : 0, m: columns, n: columns, k: n, transposeA: true }),
    };
  });
}

/** Patches split at whole images: each chunk is the patch matrix of its own images. */
function patchChunks(ws: Workspace, design: Design, bindingFloats: number, width: number, requestedRows?: number): GpuChunk[] {
  const p = design.patches!;
  const { columns } = design;
  const imageFloats = p.inH * p.inW * p.channels;
  const rowsPerImage = p.outH * p.outW;
  const fitImages = Math.floor(bindingFloats / Math.max(imageFloats, rowsPerImage * width));
  if (fitImages < 1) throw new GpuError(`one image (${imageFloats} values) or its response (${rowsPerImage}×${width} values) exceeds one storage binding of this device`);
  const chunkImages = Math.min(p.count, fitImages, requestedRows === undefined ? Infinity : Math.max(1, Math.floor(requestedRows / rowsPerImage)));
  const count = Math.ceil(p.count / chunkImages);
  const biasValue = design.bias ? 1 / design.scale : null;
  // One scratch for every Xᵀ·B slice reduction of the solve: they run one after another.
  let partials: { buffer: GPUBuffer; length: number } | null = null;
  return Array.from({ length: count }, (_, i) => {
    const firstImage = i * chunkImages;
    const images = Math.min(chunkImages, p.count - firstImage);
    const values = Float32Array.from(p.images.subarray(firstImage * imageFloats, (firstImage + images) * imageFloats), (v) => v / design.scale);
    const x: PatchOperand = { images: ws.upload(values, partLabel('images (X as patches)', i, count)), shape: { ...p, count: images }, biasValue };
    const rows = images * rowsPerImage;
    return {
      first: firstImage * rowsPerImage,
      count: rows,
      product: (s) => patchProduct(ws, x, s),
      slots: (outputs) => patchProductSlots(ws.runtime, x, outputs),
      transposed: (s) => {
        const length = partialsLength(x, s.outputs);
        if (!partials || partials.length < length) partials = { buffer: ws.storage(length, 'Xᵀ·B partial sums'), length };
        return patchGradient(ws, x, { ...s, partials: partials.buffer });
      },
      gram: (out, previous, scratch, requestedChunkRows) => {
        // XᵀX = Σ over chunks of materialized patch rows of chunkᵀ·chunk.
        const chunkRows = Math.max(1, Math.min(rows, Math.floor(bindingFloats / columns), requestedChunkRows ?? Math.floor(GRAM_CHUNK_BYTES / (4 * columns))));
        const chunk = scratch.placeholder(`patch rows chunk ${chunkRows}`, () => scratch.storage(chunkRows * columns, 'patch rows chunk'));
        const steps = Math.ceil(rows / chunkRows);
        return chainedSum(steps, out, () => scratch.storage(columns * columns, 'Xᵀ X partial sum'), (j, target, before) => {
          const firstRow = j * chunkRows;
          const n = Math.min(chunkRows, rows - firstRow);
          const sumSoFar = before ?? previous;
          return [
            patchRowsChunk(scratch, x, { firstRow, chunkRows: n, chunk }),
            matmul(scratch, { label: 'Xᵀ X (chunk)', a: chunk, b: chunk, out: target, addend: sumSoFar ?? undefined, beta: sumSoFar ? 1 : 0, m: columns, n: columns, k: n, transposeA: true }),
          ];
        }).flat();
      },
    };
  });
}
