// `--queue URL --store DIR` of `net-trim prune` and `net-trim sweep`: the layers of a parallel run
// are solved by `net-trim worker` processes (on other machines) instead of here; everything else
// (loading, forward passes, reports, the written files) is the local run's.
import { resolve, sep } from 'node:path';
import { Option } from 'commander';
import type { Coordinator } from '../distributed/coordinator.js';
import { redisLabel, redisOptions } from '../distributed/queue.js';
import { FileLayerStore } from '../distributed/store.js';
import { InputError } from '../errors.js';
import type { ProgramSolver } from '../prune/layerPrograms.js';
import type { PruneMode } from '../prune/pruneNetwork.js';

/** What a report shows of a distributed run (the URL without its password). */
export interface DistributedOption {
  queue: string;
  store: string;
}

interface Session {
  url: string;
  coordinator: Promise<Coordinator> | null;
}

/** The Redis URL as given (it may hold a password), kept out of the options that reports print. */
const sessions = new WeakMap<DistributedOption, Session>();

/** --queue and --store (on prune and sweep, beside the other solver options). */
export const queueOption = () =>
  new Option('--queue <url>', 'with --mode parallel: solve the layers on `net-trim worker` processes fed from this Redis server (redis://host:port), one job per layer');
export const storeOption = () => new Option('--store <dir>', "with --queue: a folder every worker can read and write (a shared file system) for the layers' inputs and results");

const inside = (path: string, folder: string) => path === folder || path.startsWith(folder.endsWith(sep) ? folder : folder + sep);

/** --queue and --store, checked before anything is loaded; undefined without --queue. */
export function parseDistributedOption(raw: { queue?: string; store?: string; out?: string }, mode: PruneMode): DistributedOption | undefined {
  if (raw.queue === undefined) {
    if (raw.store !== undefined) throw new InputError('--store: expected together with --queue (the store holds the layers the workers solve)');
    return undefined;
  }
  if (mode !== 'parallel') throw new InputError('--queue: expected --mode parallel (in cascade each layer is fed the network pruned before it, so layers cannot be solved at once)');
  if (raw.store === undefined) throw new InputError('--queue: expected --store DIR too, a folder every worker can read and write');
  redisOptions(raw.queue, '--queue');
  const option = { queue: redisLabel(raw.queue), store: resolve(raw.store) };
  // The store apart from the output folder: neither may write into the other.
  if (raw.out !== undefined) {
    const out = resolve(raw.out);
    if (inside(option.store, out) || inside(out, option.store)) throw new InputError(`--store ${raw.store}: expected a folder apart from --out ${raw.out} (neither inside the other)`);
  }
  sessions.set(option, { url: raw.queue, coordinator: null });
  return option;
}

/**
 * Connects to Redis and opens the store (made if missing), once per run. With `inputs`, checks
 * first that none of them is where the store writes programs.
 */
export async function openDistributed(option: DistributedOption, inputs?: ReadonlyArray<string | undefined>): Promise<Coordinator> {
  const session = sessions.get(option);
  if (!session) throw new Error('openDistributed: the option was not made by parseDistributedOption');
  if (inputs) {
    for (const input of inputs)
      if (input !== undefined && inside(resolve(input), resolve(option.store, 'programs')))
        throw new InputError(`--store ${option.store}: expected a folder that holds no input, found ${input} in its programs folder`);
  }
  session.coordinator ??= (async () => {
    // Loaded here: BullMQ is only needed by a distributed run.
    const { openCoordinator } = await import('../distributed/coordinator.js');
    return openCoordinator({ redis: session.url, store: await FileLayerStore.open(option.store) });
  })();
  return session.coordinator;
}

/** pruneNetwork's solveProgram for the run: connects at the first layer unless openDistributed did before. */
export function distributedSolver(option: DistributedOption): ProgramSolver {
  return async (request, context) => (await openDistributed(option)).solveProgram(request, context);
}

/** Closes the run's connections (a waiting job of a failed or cancelled run is taken off the queue). */
export async function closeDistributed(option: DistributedOption | undefined): Promise<void> {
  const session = option && sessions.get(option);
  if (!session?.coordinator) return;
  const coordinator = await session.coordinator.catch(() => null);
  session.coordinator = null;
  await coordinator?.close();
}
