// Layer problems with a known answer: Gaussian inputs and a planted sparse layer (net-trim.md §5).
import type { Matrix } from '../../src/index.js';
import { gaussianMatrix, mulberry32 } from './random.js';

export interface PlantedLayer {
  X: Matrix; // P×N
  Y: Matrix; // P×M
  W: Float64Array; // N×M planted weights
  b: Float64Array; // M
}

export function plantedLayer(o: {
  samples: number;
  inputs: number;
  outputs: number;
  nonzerosPerColumn: number;
  seed: number;
  activation?: 'relu' | 'linear' | 'clip';
  /** 'clip': the clamps (default [0, 6]). */
  clip?: [number, number];
  /** Added to XW + b before the activation (a residual sum's other inputs), P×M. */
  offset?: Float64Array;
  bias?: boolean;
}): PlantedLayer {
  const { samples: P, inputs: N, outputs: M, nonzerosPerColumn: s } = o;
  const X = gaussianMatrix(P, N, o.seed);
  const values = gaussianMatrix(N, M, o.seed + 1);
  const pick = mulberry32(o.seed + 2);
  const W = new Float64Array(N * M);
  for (let m = 0; m < M; m++) {
    const rows = new Set<number>();
    while (rows.size < s) rows.add(Math.floor(pick() * N));
    // Keep planted weights away from 0 so "support" is unambiguous.
    for (const n of rows) W[n * M + m] = values[n * M + m] + Math.sign(values[n * M + m] || 1) * 0.5;
  }
  const b = new Float64Array(M);
  if (o.bias) for (let m = 0; m < M; m++) b[m] = 0.3 * (pick() - 0.5);
  const Y = new Float64Array(P * M);
  for (let p = 0; p < P; p++) {
    for (let m = 0; m < M; m++) {
      let z = b[m];
      for (let n = 0; n < N; n++) z += X[p * N + n] * W[n * M + m];
      z += o.offset ? o.offset[p * M + m] : 0;
      const [low, high] = o.activation === 'clip' ? (o.clip ?? [0, 6]) : [0, Infinity];
      Y[p * M + m] = o.activation === 'linear' ? z : Math.min(Math.max(z, low), high);
    }
  }
  return { X: { rows: P, cols: N, data: X }, Y: { rows: P, cols: M, data: Y }, W, b };
}

export function relativeError(estimate: ArrayLike<number>, truth: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < truth.length; i++) {
    num += (estimate[i] - truth[i]) ** 2;
    den += truth[i] ** 2;
  }
  return Math.sqrt(num / den);
}
