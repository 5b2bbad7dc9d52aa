// (G + I)⁻¹ on several CPU cores (Node worker threads over shared memory), for the setup of large
// layers: at N = 3 137 (LeNet's FC1) one thread took 47–59 s on the H200 machine's CPU, longer
// than 300 GPU iterations by 10×. The stages are those of spdInverse.ts, whose functions run here
// from their source text; each worker takes every T-th row or column.
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { CHOLESKY_BLOCK, choleskyBlock, choleskyUpdate, dot, identityPlus, inverseRows, invertColumns, notPositiveDefinite, setHostInverse, spdInverseOfIdentityPlus } from './spdInverse.js';

/** Below this size one thread is faster than starting workers. */
export const PARALLEL_MIN_SIZE = 384;

const WORKER_SOURCE = `
const { parentPort } = require('node:worker_threads');
const dot = ${dot.toString()};
const choleskyUpdate = ${choleskyUpdate.toString()};
const choleskyBlock = ${choleskyBlock.toString()};
const invertColumns = ${invertColumns.toString()};
const inverseRows = ${inverseRows.toString()};
let l, linvT, out, n;
parentPort.on('message', (m) => {
  let result = -1;
  if (m.stage === 'init') ({ l, linvT, out, n } = { l: new Float64Array(m.l), linvT: new Float64Array(m.linvT), out: new Float64Array(m.out), n: m.n });
  else if (m.stage === 'update') choleskyUpdate(l, n, m.j0, m.j1, m.first, m.step);
  else if (m.stage === 'block') result = choleskyBlock(l, n, m.j0, m.j1, m.j1, n, m.first, m.step);
  else if (m.stage === 'invert') invertColumns(l, linvT, n, m.first, m.step);
  else if (m.stage === 'rows') inverseRows(linvT, out, n, m.first, m.step);
  parentPort.postMessage(result);
});
`;

/**
 * (G + I)⁻¹ for G symmetric positive semidefinite (n×n), on up to `threads` worker threads (default:
 * the machine's available parallelism); on this thread when n or the thread count is small.
 */
export async function parallelInverseOfIdentityPlus(g: Float64Array, n: number, threads = availableParallelism()): Promise<Float64Array> {
  const count = Math.min(threads, 16);
  if (n < PARALLEL_MIN_SIZE || count < 2) return spdInverseOfIdentityPlus(g, n);
  const shared = () => new SharedArrayBuffer(n * n * 8);
  const buffers = { l: shared(), linvT: shared(), out: shared() };
  const l = identityPlus(g, n, new Float64Array(buffers.l));
  const workers = Array.from({ length: count }, () => new Worker(WORKER_SOURCE, { eval: true }));
  try {
    // One message per worker and stage; a worker's reply is its stage's result.
    const replies: Array<(value: number) => void> = [];
    const failed = new Promise<never>((_, reject) =>
      workers.forEach((w, i) => {
        w.on('message', (value: number) => replies[i](value));
        w.on('error', reject);
      }),
    );
    failed.catch(() => {}); // observed through the race below
    const round = (message: object) =>
      Promise.race([
        Promise.all(workers.map((w, i) => new Promise<number>((resolve) => {
          replies[i] = resolve;
          w.postMessage({ ...message, first: i, step: count });
        }))),
        failed,
      ]);
    await round({ stage: 'init', ...buffers, n });
    for (let j0 = 0; j0 < n; j0 += CHOLESKY_BLOCK) {
      const j1 = Math.min(n, j0 + CHOLESKY_BLOCK);
      await round({ stage: 'update', j0, j1 });
      const diagonal = choleskyBlock(l, n, j0, j1, j0, j1, 0, 1); // the block's own rows, here
      if (diagonal >= 0) throw notPositiveDefinite(diagonal, n);
      const bad = (await round({ stage: 'block', j0, j1 })).find((row) => row >= 0);
      if (bad !== undefined) throw notPositiveDefinite(bad, n);
    }
    await round({ stage: 'invert' });
    await round({ stage: 'rows' });
    return Float64Array.from(new Float64Array(buffers.out));
  } finally {
    await Promise.all(workers.map((w) => w.terminate()));
  }
}

/** Makes the GPU solver's setup invert A on worker threads (Node's entry points call this once). */
export function invertOnWorkerThreads(): void {
  setHostInverse(parallelInverseOfIdentityPlus);
}
