// The coordinator of a distributed run (`net-trim prune --mode parallel --queue URL --store DIR`):
// pruneNetwork's solveProgram hook. Each layer program goes to the store (named by its content
// hash), one job per program and store goes to the queue (its id a hash of both: enqueueing it
// twice is a no-op), and the answer is read back from the store when a worker has written it. A
// program whose result is already in the store is not solved again (a re-run, or two runs sharing
// layers).
import { randomUUID } from 'node:crypto';
import { Queue, QueueEvents, type Job } from 'bullmq';
import { InputError } from '../errors.js';
import type { LayerSolveRequest, ProgramSolver } from '../prune/layerPrograms.js';
import type { SolveLayerResult, SolveProgress } from '../solver/types.js';
import { BAD_INPUT_PREFIX, CANCELLED_REASON, cancelKey, JOB_ATTEMPTS, JOB_BACKOFF_MS, jobIdOf, jobPriority, QUEUE_NAME, redisLabel, redisOptions, RedisUnreachableError, waitingKey, type LayerJobData, type LayerJobResult } from './queue.js';
import { watchedConnection } from './connection.js';
import type { LayerStore } from './store.js';

export interface Coordinator {
  solveProgram: ProgramSolver;
  /** Bytes written to the store so far (program inputs; results are the workers'). */
  readonly bytesWritten: number;
  /** Closes the connections (after the run, or after a failure: pending jobs are cancelled first). */
  close(): Promise<void>;
}

interface Waiter {
  layer: string;
  /** The program's key in the store (the job's id is jobIdOf(store, key)). */
  key: string;
  priority: number;
  resolve: (result: SolveLayerResult) => void;
  reject: (error: Error) => void;
  onProgress?: (progress: SolveProgress) => void;
}

/** How often the coordinator also asks for the state of its jobs (an event missed in a reconnect); the variable is for tests. */
const POLL_MS = Number(process.env.NET_TRIM_QUEUE_POLL_MS) > 0 ? Number(process.env.NET_TRIM_QUEUE_POLL_MS) : 5000;
/** A cancelled job's flag outlives any solve's next look at it (and a waiting set its runs). */
const CANCEL_FLAG_SECONDS = 24 * 3600;
/** Leaves a job's waiting set (KEYS[1]) and says how many runs still wait, in one step. */
const LEAVE_WAITING = "redis.call('SREM', KEYS[1], ARGV[1]); return redis.call('SCARD', KEYS[1])";

export async function openCoordinator(options: { redis: string; store: LayerStore }): Promise<Coordinator> {
  const { store } = options;
  const label = redisLabel(options.redis);
  const waiters = new Map<string, Waiter[]>();
  let lost: Error | null = null;
  let connected = false;
  let rejectLost: (error: Error) => void = () => {};
  const lostPromise = new Promise<never>((_, reject) => (rejectLost = reject));
  lostPromise.catch(() => {});
  const connection = watchedConnection(options.redis, '--queue', (message) => {
    lost = connected ? new RedisUnreachableError(`${message}: the run stops (the jobs stay queued; run the same command again to continue)`) : new InputError(`--queue ${label}: cannot connect: ${message}`);
    rejectLost(lost);
    for (const list of waiters.values()) for (const w of list) w.reject(lost);
    waiters.clear();
  });
  try {
    await Promise.race([connection.firstReady, lostPromise]);
  } catch (error) {
    connection.redis.disconnect();
    throw error;
  }
  connected = true;
  const queue = new Queue<LayerJobData, LayerJobResult>(QUEUE_NAME, { connection: connection.redis });
  // QueueEvents blocks on its own connection.
  const events = new QueueEvents(QUEUE_NAME, { connection: redisOptions(options.redis, '--queue') });
  // A lost Redis is the watchdog's to report (one line after the timeout), not every retry's.
  queue.on('error', () => {});
  events.on('error', () => {});
  await Promise.race([Promise.all([queue.waitUntilReady(), events.waitUntilReady()]), lostPromise]);

  /** This run, among those waiting for a job (waitingKey). */
  const runId = randomUUID();
  const settle = async (jobId: string, failedReason?: string) => {
    const list = waiters.get(jobId);
    if (!list) return;
    if (failedReason === CANCELLED_REASON) {
      // Another run sharing the job cancelled it (its Ctrl-C, in the moment before this run said
      // it waits too): this run still wants the answer, so the job goes on the queue again.
      await resubmit(jobId, list[0].key, list[0].layer, list[0].priority).catch((error: Error) => settle(jobId, error.message));
      return;
    }
    waiters.delete(jobId);
    void connection.redis.srem(waitingKey(jobId), runId).catch(() => {});
    if (failedReason !== undefined) {
      const message = failedReason.startsWith(BAD_INPUT_PREFIX)
        ? new InputError(`layer ${list[0].layer}: ${failedReason.slice(BAD_INPUT_PREFIX.length)}`)
        : new Error(`layer ${list[0].layer}: the job failed on the workers: ${failedReason}`);
      for (const w of list) w.reject(message);
      return;
    }
    try {
      const result = await store.getResult(list[0].key);
      if (!result) throw new Error(`layer ${list[0].layer}: the job completed but its result is not in the store ${store.location} (does the worker write to another folder? see --store)`);
      for (const w of list) w.resolve(result);
    } catch (error) {
      for (const w of list) w.reject(error as Error);
    }
  };
  events.on('progress', ({ jobId, data }) => {
    for (const w of waiters.get(jobId) ?? []) if (typeof data === 'object' && data) w.onProgress?.(data as unknown as SolveProgress);
  });
  events.on('completed', ({ jobId }) => void settle(jobId));
  events.on('failed', ({ jobId, failedReason }) => void settle(jobId, failedReason));
  // Events are not replayed after a reconnection: ask for the state of what is pending, now and then.
  const poll = setInterval(() => {
    for (const jobId of waiters.keys()) {
      void queue.getJobState(jobId).then(async (state) => {
        if (state === 'completed') await settle(jobId);
        else if (state === 'failed') await settle(jobId, (await queue.getJob(jobId))?.failedReason ?? 'unknown reason');
        else if (state === 'unknown') {
          const waiter = waiters.get(jobId)?.[0];
          if (!waiter) return;
          // Gone: done (its event missed), or lost with a Redis restarted without its data: queue it again.
          if (await store.getResult(waiter.key)) await settle(jobId);
          else if (waiters.has(jobId)) await resubmit(jobId, waiter.key, waiter.layer, waiter.priority);
        }
      }, () => {});
    }
  }, POLL_MS);
  poll.unref();

  const enqueue = (jobId: string, key: string, layer: string, priority: number) =>
    queue.add(
      layer,
      { key, layer, store: store.location },
      {
        jobId,
        priority,
        attempts: JOB_ATTEMPTS,
        backoff: { type: 'fixed', delay: JOB_BACKOFF_MS },
        removeOnComplete: true,
        // Kept a day for `net-trim` re-runs and for inspection; the next add of the id removes it.
        removeOnFail: { age: 24 * 3600 },
      },
    );

  /**
   * Queues a job, after an earlier one under its id failed or was cancelled, or was lost with
   * Redis's data; this run joins the job's waiting runs (again, after such a loss).
   */
  const resubmit = async (jobId: string, key: string, layer: string, priority: number) => {
    await connection.redis.multi().sadd(waitingKey(jobId), runId).expire(waitingKey(jobId), CANCEL_FLAG_SECONDS).exec();
    const previous: Job<LayerJobData, LayerJobResult> | undefined = await queue.getJob(jobId);
    if (previous && (await previous.getState()) === 'failed') await previous.remove();
    await connection.redis.del(cancelKey(jobId));
    await enqueue(jobId, key, layer, priority);
  };

  let bytesWritten = 0;
  /**
   * Takes a job off the queue (waiting) or tells its worker to stop (active); the store keeps the
   * program. Not while another run waits for the job: it goes on for that run.
   */
  const cancel = async (jobId: string) => {
    const others = await connection.redis.eval(LEAVE_WAITING, 1, waitingKey(jobId), runId);
    if (Number(others) > 0) return;
    const job = await queue.getJob(jobId);
    if (!job) return;
    const state = await job.getState();
    if (state === 'active') await connection.redis.set(cancelKey(jobId), '1', 'EX', CANCEL_FLAG_SECONDS);
    else if (state !== 'completed') await job.remove().catch(() => connection.redis.set(cancelKey(jobId), '1', 'EX', CANCEL_FLAG_SECONDS));
  };

  const solveProgram: ProgramSolver = async (request: LayerSolveRequest, context) => {
    if (lost) throw lost;
    context.signal?.throwIfAborted();
    const { key, bytes } = await store.putProgram(request.options, request.key);
    bytesWritten += bytes;
    const done = await store.getResult(key);
    if (done) return done;
    context.signal?.throwIfAborted();
    // A failed job of an earlier run under this id would make the add a no-op: cleared first.
    const priority = jobPriority(request.options);
    const jobId = jobIdOf(store.location, key);
    await resubmit(jobId, key, request.key, priority);
    if (lost) throw lost;
    const result = new Promise<SolveLayerResult>((resolve, reject) => {
      const list = waiters.get(jobId) ?? [];
      list.push({ layer: request.key, key, priority, resolve, reject, onProgress: context.onProgress });
      waiters.set(jobId, list);
    });
    // Done before it was waited for (a quick solve, or another run's job): its event is gone, the
    // result is in the store. (Failed before: the poll finds the failed job.)
    if ((await store.getResult(key)) !== null) void settle(jobId);
    if (!context.signal) return result;
    const signal = context.signal;
    const aborted = new Promise<never>((_, reject) => {
      const onAbort = () => {
        waiters.delete(jobId);
        // Within the CLI's second of grace: the waiting job is removed, an active one flagged.
        void Promise.race([cancel(jobId).catch(() => {}), new Promise((r) => setTimeout(r, 500))]).then(() => reject(signal.reason));
      };
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
      void result.finally(() => signal.removeEventListener('abort', onAbort)).catch(() => {});
    });
    return Promise.race([result, aborted]);
  };

  return {
    solveProgram,
    get bytesWritten() {
      return bytesWritten;
    },
    async close() {
      clearInterval(poll);
      connection.stop();
      // A run that stops before its layers are done (a failed layer) takes its other jobs back
      // (not with Redis gone: they stay queued, and a re-run finds what the workers solved).
      // Forgotten first: the cancelled jobs' events must not queue them again (settle).
      const pending = [...waiters.keys()];
      waiters.clear();
      if (!lost) await Promise.race([Promise.all(pending.map((jobId) => cancel(jobId).catch(() => {}))), new Promise((r) => setTimeout(r, 2000))]);
      await Promise.race([Promise.all([events.close(), queue.close()]), new Promise((r) => setTimeout(r, 2000))]).catch(() => {});
      connection.redis.disconnect();
    },
  };
}
