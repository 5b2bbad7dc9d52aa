// Identical samples merged into one row weighted by √k before the ADMM sees the program.
//
// A conv layer's rows are its output positions, and on images with a plain background most of
// them are the same patch (conv_1 of the bundled CNN on 100 MNIST images: 67 600 rows, 22 308
// distinct, one patch 42 552 times). k identical rows x with the same target y and bounds are one
// row √k·x with target √k·y: they add k·(xᵀw − y)² to the ε-ball, as the merged row does, and k
// copies of an inequality xᵀw ≤ v are the inequality √k·xᵀw ≤ √k·v, whose excess, squared, is
// the k copies' (so the stop's sums are the original program's). The program, its optimum and
// its dual bound are unchanged, and so is the ADMM (copies that start equal stay equal: the merged
// iteration is the same iteration, in float64 step for step); what changes is the cost of each
// iteration, in proportion to the rows, on the CPU. On the GPU a conv layer's patches are
// multiplied without being materialized, faster per row than the dense matrix the merged rows
// make, so merging pays only where it removes most rows (bench/README.md "Identical samples").
import { designOf, isImagePatches, materializePatches } from './design.js';
import type { LayerProblem } from './problem.js';

/** Programs with more entries than this (P·N) are not searched (the rows are materialized in float64). */
export const MERGE_MAX_ENTRIES = 2 ** 24;
/**
 * Merging replaces a conv layer's patches operator by a dense X, about 3–4× slower per row on the
 * GPU (lavapipe): only worth it when it removes at least this share of the rows.
 */
export const MERGE_MIN_SAVING = 0.5;

export interface MergedProgram {
  /** The program the engines solve: `samples` distinct rows, X dense with the bias column explicit. */
  program: LayerProblem;
  /** √k of each merged row (k: how many original rows it stands for). */
  weight: Float64Array;
  /** The scaled dual U1 of the merged program (P'×M) as the original program's (P×M): each copy gets u/√k. */
  expandU1(U1: ArrayLike<number>): Float64Array;
  /** A P×M array whose copies agree (a response, a residual) as the merged program's: each merged row's value times √k. */
  restrict(values: ArrayLike<number>): Float64Array;
  /** The original program's U1 (P×M) as the merged program's: Σ copies / √k (√k·u when the copies agree). */
  compressU1(U1: ArrayLike<number>): Float64Array;
}

/** The program with its identical rows merged, or null when it has none worth merging (or is too large to search). */
export function mergeIdenticalRows(problem: LayerProblem): MergedProgram | null {
  const { samples: P, inputs: N, columns: N1, outputs: M, Y, V, sides } = problem;
  if (P * N1 > MERGE_MAX_ENTRIES) return null;
  const X = problem.original.X;
  const x = isImagePatches(X) ? materializePatches(X).data : X.data;
  // A row's identity: its inputs, and in every output its target, bound and side.
  const parts: Array<{ data: ArrayLike<number>; width: number }> = [{ data: x, width: N }, { data: Y, width: M }];
  if (V) parts.push({ data: V, width: M });
  if (sides) parts.push({ data: sides, width: M });
  const same = (p: number, q: number) => parts.every(({ data, width }) => {
    for (let j = 0; j < width; j++) if (data[p * width + j] !== data[q * width + j]) return false;
    return true;
  });

  const rowOf = new Int32Array(P);
  const first: number[] = []; // the first original row of each merged row
  const buckets = new Map<number, number[]>(); // row hash → merged rows with that hash
  const bits = new Float64Array(1);
  const words = new Uint32Array(bits.buffer);
  for (let p = 0; p < P; p++) {
    let h = 0x811c9dc5;
    for (const { data, width } of parts)
      for (let j = 0; j < width; j++) {
        bits[0] = data[p * width + j] + 0; // +0: −0 and 0 are the same input
        h = Math.imul(h ^ words[0], 0x01000193);
        h = Math.imul(h ^ words[1], 0x01000193);
      }
    const bucket = buckets.get(h);
    const found = bucket?.find((q) => same(p, first[q]));
    if (found !== undefined) rowOf[p] = found;
    else {
      rowOf[p] = first.length;
      first.push(p);
      if (bucket) bucket.push(rowOf[p]);
      else buckets.set(h, [rowOf[p]]);
    }
  }
  const rows = first.length;
  if (rows > (1 - MERGE_MIN_SAVING) * P) return null;

  const counts = new Float64Array(rows);
  for (let p = 0; p < P; p++) counts[rowOf[p]]++;
  const weight = counts.map(Math.sqrt);
  const data = new Float64Array(rows * N1);
  const scaled = (source: ArrayLike<number>, width: number) => {
    const out = new Float64Array(rows * width);
    for (let q = 0; q < rows; q++) for (let j = 0; j < width; j++) out[q * width + j] = weight[q] * source[first[q] * width + j];
    return out;
  };
  for (let q = 0; q < rows; q++) {
    for (let j = 0; j < N; j++) data[q * N1 + j] = weight[q] * x[first[q] * N + j];
    if (problem.bias) data[q * N1 + N] = weight[q];
  }
  const program: LayerProblem = {
    ...problem,
    samples: rows,
    // The bias column is in `data` (weighted like the row), so the design adds none.
    design: designOf({ rows, cols: N1, data }, false, problem.scale),
    Y: scaled(Y, M),
    V: V ? scaled(V, M) : null,
    sides: sides ? Uint8Array.from({ length: rows * M }, (_, i) => sides[first[Math.floor(i / M)] * M + (i % M)]) : null,
  };
  return {
    program,
    weight,
    expandU1(U1) {
      const out = new Float64Array(P * M);
      for (let p = 0; p < P; p++) for (let m = 0; m < M; m++) out[p * M + m] = U1[rowOf[p] * M + m] / weight[rowOf[p]];
      return out;
    },
    restrict: (values) => scaled(values, M),
    compressU1(U1) {
      const out = new Float64Array(rows * M);
      for (let p = 0; p < P; p++) for (let m = 0; m < M; m++) out[rowOf[p] * M + m] += U1[p * M + m];
      for (let i = 0; i < out.length; i++) out[i] /= weight[Math.floor(i / M)];
      return out;
    },
  };
}
