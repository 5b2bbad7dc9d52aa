// The layer input X of the program as an operator (samples-major: one row per sample, or per
// output position of a convolution). A dense layer's X is a matrix; a conv layer's X is the
// matrix of image patches, which is kh·kw times larger than the images it comes from, so it is
// never materialized: X·W is a convolution and Xᵀ·B a kernel gradient (net-trim.md §5).
// Both backends see X only through these products and the Gram matrix XᵀX.
import { InputError } from '../errors.js';
import { gramOfColumns, gramOfRows } from './linalg64.js';
import type { ImagePatches, LayerInput, Matrix } from './types.js';

/** X (rows × inputs) divided by `scale`, with a column of 1/scale appended when `bias`. */
export interface Design {
  readonly rows: number;
  readonly inputs: number;
  /** inputs + 1 with a bias column. */
  readonly columns: number;
  readonly bias: boolean;
  readonly scale: number;
  /** X·W: rows×M, for W columns×M. */
  multiply(W: ArrayLike<number>, outputs: number): Float64Array;
  /** Xᵀ·B: columns×M, for B rows×M. */
  multiplyTransposed(B: ArrayLike<number>, outputs: number): Float64Array;
  /** XᵀX: columns×columns. */
  gramOfColumns(): Float64Array;
  /** XXᵀ: rows×rows (the Woodbury form, only used when rows < columns). */
  gramOfRows(): Float64Array;
  /** The geometry when X is image patches (the GPU backend convolves instead of multiplying). */
  readonly patches: ImagePatches | null;
  /** Rows first…first+count of X (bias column included), as float32 for the GPU. */
  rowsFloat32(first: number, count: number): Float32Array;
}

export function isImagePatches(x: LayerInput): x is ImagePatches {
  return typeof x === 'object' && x !== null && 'images' in x;
}

export function inputRows(x: LayerInput): number {
  return isImagePatches(x) ? x.count * x.outH * x.outW : x.rows;
}

export function inputColumns(x: LayerInput): number {
  return isImagePatches(x) ? x.kernelH * x.kernelW * x.channels : x.cols;
}

/** Checks an ImagePatches description (field names in errors are prefixed with `field`). */
export function checkImagePatches(p: ImagePatches, field: string): ImagePatches {
  const integers = ['count', 'inH', 'inW', 'channels', 'kernelH', 'kernelW', 'strideH', 'strideW', 'outH', 'outW'] as const;
  for (const key of integers)
    if (!Number.isInteger(p[key]) || p[key] < 1) throw new InputError(`${field}.${key}: expected a positive integer, found ${p[key]}`);
  for (const key of ['dilationH', 'dilationW'] as const)
    if (p[key] !== undefined && (!Number.isInteger(p[key]) || p[key]! < 1)) throw new InputError(`${field}.${key}: expected a positive integer, found ${p[key]}`);
  for (const key of ['padTop', 'padLeft'] as const)
    if (!Number.isInteger(p[key]) || p[key] < 0) throw new InputError(`${field}.${key}: expected an integer ≥ 0, found ${p[key]}`);
  if (!(p.images instanceof Float32Array || p.images instanceof Float64Array))
    throw new InputError(`${field}.images: expected Float32Array or Float64Array data`);
  const expected = p.count * p.inH * p.inW * p.channels;
  if (p.images.length !== expected)
    throw new InputError(`${field}.images: expected ${p.count}×${p.inH}×${p.inW}×${p.channels} = ${expected} values, found ${p.images.length}`);
  // Every window must start inside the padded image.
  if ((p.outH - 1) * p.strideH - p.padTop >= p.inH || (p.outW - 1) * p.strideW - p.padLeft >= p.inW)
    throw new InputError(`${field}: an output of ${p.outH}×${p.outW} does not fit a ${p.inH}×${p.inW} image with these strides and padding`);
  for (let i = 0; i < p.images.length; i++)
    if (!Number.isFinite(p.images[i])) throw new InputError(`${field}.images: expected finite values, found ${p.images[i]} at index ${i}`);
  return p;
}

/** The largest squared column norm of X (without bias): the normalization of problem.ts. */
export function maxColumnNormSquared(x: LayerInput): number {
  let best = 0;
  if (!isImagePatches(x)) {
    const norms = new Float64Array(x.cols);
    for (let p = 0; p < x.rows; p++) for (let j = 0; j < x.cols; j++) norms[j] += x.data[p * x.cols + j] ** 2;
    for (const v of norms) best = Math.max(best, v);
    return best;
  }
  const norms = new Float64Array(inputColumns(x));
  forEachPatchEntry(x, (_row, column, value) => (norms[column] += value * value));
  for (const v of norms) best = Math.max(best, v);
  return best;
}

/**
 * Visits the nonzero-able entries of the patch matrix: for every row (sample, oy, ox) and every
 * in-bounds (ky, kx), the channel run starting at `column` with values images[source + c].
 */
function forEachPatchRun(p: ImagePatches, visit: (row: number, column: number, source: number) => void): void {
  for (let n = 0; n < p.count; n++)
    for (let oy = 0; oy < p.outH; oy++)
      for (let ox = 0; ox < p.outW; ox++) {
        const row = (n * p.outH + oy) * p.outW + ox;
        for (let ky = 0; ky < p.kernelH; ky++) {
          const iy = oy * p.strideH - p.padTop + ky * (p.dilationH ?? 1);
          if (iy < 0 || iy >= p.inH) continue;
          for (let kx = 0; kx < p.kernelW; kx++) {
            const ix = ox * p.strideW - p.padLeft + kx * (p.dilationW ?? 1);
            if (ix < 0 || ix >= p.inW) continue;
            visit(row, (ky * p.kernelW + kx) * p.channels, ((n * p.inH + iy) * p.inW + ix) * p.channels);
          }
        }
      }
}

function forEachPatchEntry(p: ImagePatches, visit: (row: number, column: number, value: number) => void): void {
  forEachPatchRun(p, (row, column, source) => {
    for (let c = 0; c < p.channels; c++) visit(row, column + c, p.images[source + c]);
  });
}

/** All patches as a dense rows × (kh·kw·C) matrix (im2col); for small problems and tests. */
export function materializePatches(p: ImagePatches): Matrix {
  const cols = inputColumns(p);
  const data = new Float64Array(inputRows(p) * cols);
  forEachPatchEntry(p, (row, column, value) => (data[row * cols + column] = value));
  return { rows: inputRows(p), cols, data };
}

class DenseDesign implements Design {
  readonly rows: number;
  readonly inputs: number;
  readonly columns: number;
  readonly patches = null;

  constructor(private readonly x: Matrix, readonly bias: boolean, readonly scale: number) {
    this.rows = x.rows;
    this.inputs = x.cols;
    this.columns = x.cols + (bias ? 1 : 0);
  }

  multiply(W: ArrayLike<number>, M: number): Float64Array {
    const { rows: P, inputs: N, x } = this;
    const out = new Float64Array(P * M);
    for (let p = 0; p < P; p++) {
      const row = p * M;
      for (let j = 0; j < N; j++) {
        const v = x.data[p * N + j];
        if (v === 0) continue;
        for (let m = 0; m < M; m++) out[row + m] += v * W[j * M + m];
      }
      if (this.bias) for (let m = 0; m < M; m++) out[row + m] += W[N * M + m];
    }
    return scaleInPlace(out, 1 / this.scale);
  }

  multiplyTransposed(B: ArrayLike<number>, M: number): Float64Array {
    const { rows: P, inputs: N, x } = this;
    const out = new Float64Array(this.columns * M);
    for (let p = 0; p < P; p++) {
      const row = p * M;
      for (let j = 0; j < N; j++) {
        const v = x.data[p * N + j];
        if (v === 0) continue;
        for (let m = 0; m < M; m++) out[j * M + m] += v * B[row + m];
      }
      if (this.bias) for (let m = 0; m < M; m++) out[N * M + m] += B[row + m];
    }
    return scaleInPlace(out, 1 / this.scale);
  }

  private normalized(first = 0, count = this.rows, out: Float64Array | Float32Array = new Float64Array(count * this.columns)): Float64Array | Float32Array {
    const { inputs: N, columns: N1, x } = this;
    for (let i = 0; i < count; i++) {
      const p = first + i;
      for (let j = 0; j < N; j++) out[i * N1 + j] = x.data[p * N + j] / this.scale;
      if (this.bias) out[i * N1 + N] = 1 / this.scale;
    }
    return out;
  }

  gramOfColumns(): Float64Array {
    return gramOfColumns(this.normalized() as Float64Array, this.rows, this.columns);
  }

  gramOfRows(): Float64Array {
    return gramOfRows(this.normalized() as Float64Array, this.rows, this.columns);
  }

  rowsFloat32(first: number, count: number): Float32Array {
    return this.normalized(first, count, new Float32Array(count * this.columns)) as Float32Array;
  }
}

class PatchDesign implements Design {
  readonly rows: number;
  readonly inputs: number;
  readonly columns: number;

  constructor(readonly patches: ImagePatches, readonly bias: boolean, readonly scale: number) {
    this.rows = inputRows(patches);
    this.inputs = inputColumns(patches);
    this.columns = this.inputs + (bias ? 1 : 0);
  }

  multiply(W: ArrayLike<number>, M: number): Float64Array {
    const { patches: p, inputs: N } = this;
    const out = new Float64Array(this.rows * M);
    forEachPatchRun(p, (row, column, source) => {
      for (let c = 0; c < p.channels; c++) {
        const v = p.images[source + c];
        if (v === 0) continue;
        const w = (column + c) * M;
        for (let m = 0; m < M; m++) out[row * M + m] += v * W[w + m];
      }
    });
    if (this.bias) for (let r = 0; r < this.rows; r++) for (let m = 0; m < M; m++) out[r * M + m] += W[N * M + m];
    return scaleInPlace(out, 1 / this.scale);
  }

  multiplyTransposed(B: ArrayLike<number>, M: number): Float64Array {
    const { patches: p, inputs: N } = this;
    const out = new Float64Array(this.columns * M);
    forEachPatchRun(p, (row, column, source) => {
      for (let c = 0; c < p.channels; c++) {
        const v = p.images[source + c];
        if (v === 0) continue;
        const w = (column + c) * M;
        for (let m = 0; m < M; m++) out[w + m] += v * B[row * M + m];
      }
    });
    if (this.bias) for (let r = 0; r < this.rows; r++) for (let m = 0; m < M; m++) out[N * M + m] += B[r * M + m];
    return scaleInPlace(out, 1 / this.scale);
  }

  gramOfColumns(): Float64Array {
    // One patch row at a time (a rank-one update), so memory stays columns².
    const { columns: N1, inputs: N, patches: p } = this;
    const g = new Float64Array(N1 * N1);
    const row = new Float64Array(N1);
    if (this.bias) row[N] = 1;
    let current = -1;
    let visitedRows = 0;
    const flush = () => {
      visitedRows++;
      for (let i = 0; i < N1; i++) {
        const v = row[i];
        if (v === 0) continue;
        for (let j = i; j < N1; j++) g[i * N1 + j] += v * row[j];
      }
    };
    forEachPatchRun(p, (r, column, source) => {
      if (r !== current) {
        if (current >= 0) flush();
        row.fill(0, 0, N);
        current = r;
      }
      for (let c = 0; c < p.channels; c++) row[column + c] = p.images[source + c];
    });
    if (current >= 0) flush();
    // Rows whose every window lies in the padding are zero except for the bias entry.
    if (this.bias) g[N * N1 + N] += this.rows - visitedRows;
    for (let i = 0; i < N1; i++) for (let j = 0; j < i; j++) g[i * N1 + j] = g[j * N1 + i];
    return scaleInPlace(g, 1 / (this.scale * this.scale));
  }

  gramOfRows(): Float64Array {
    return this.dense().gramOfRows();
  }

  private dense(): DenseDesign {
    return new DenseDesign(materializePatches(this.patches), this.bias, this.scale);
  }

  rowsFloat32(first: number, count: number): Float32Array {
    return this.dense().rowsFloat32(first, count);
  }
}

function scaleInPlace(a: Float64Array, factor: number): Float64Array {
  if (factor !== 1) for (let i = 0; i < a.length; i++) a[i] *= factor;
  return a;
}

/**
 * The design of a layer input, normalized by `scale`. Patches with fewer rows than columns are
 * materialized: they are small, and the Woodbury solve that case uses needs XXᵀ.
 */
export function designOf(x: LayerInput, bias: boolean, scale = 1): Design {
  if (!isImagePatches(x)) return new DenseDesign(x, bias, scale);
  if (inputRows(x) < inputColumns(x) + (bias ? 1 : 0)) return new DenseDesign(materializePatches(x), bias, scale);
  return new PatchDesign(x, bias, scale);
}
