// The benchmarks' internals in Node (dist/node/internals.js): internals.ts, which pages bundle too,
// plus what only Node has (large layers' setup inverts A on every core: worker threads).
import { invertOnWorkerThreads } from './solver/parallelSpdInverse.js';

export * from './internals.js';
export { parallelInverseOfIdentityPlus } from './solver/parallelSpdInverse.js';

invertOnWorkerThreads();
