// The benchmarks' internals in Node (dist/node/internals.js): internals.ts, which pages bundle too,
// plus what only Node has (large layers' setup inverts A on every core: worker threads).
import { parallelInverseOfIdentityPlus } from './solver/parallelSpdInverse.js';
import { setHostInverse } from './solver/spdInverse.js';

export * from './internals.js';
export { parallelInverseOfIdentityPlus };

setHostInverse(parallelInverseOfIdentityPlus);
