// A worker of a distributed run: takes layer jobs from the queue, solves each with solveLayer (the
// same call as a local run) on its own backend, and writes the result to the store. Stopping
// (SIGTERM) aborts the solve in progress and puts its job back in the queue for another worker.
import { hostname } from 'node:os';
import { UnrecoverableError, WaitingError, Worker, type Job } from 'bullmq';
import { GpuError, InputError } from '../errors.js';
import type { GpuRuntime } from '../gpu/device.js';
import { solveLayer } from '../solver/solveLayer.js';
import type { Backend } from '../solver/types.js';
import { BAD_INPUT_PREFIX, CANCELLED_REASON, cancelKey, QUEUE_NAME, workerTimings, type LayerJobData, type LayerJobResult } from './queue.js';
import { watchedConnection } from './connection.js';
import { FileLayerStore, type LayerStore } from './store.js';

export interface WorkerOptions {
  redis: string;
  /** The store folder on this machine; default: the path in each job (the coordinator's). */
  store?: string;
  backend: Backend;
  gpu?: GpuRuntime;
  /** Jobs solved at once by this process (1: one GPU, one layer at a time). */
  concurrency?: number;
  /** One line per event (job taken, finished, failed), for the log. */
  log?: (line: string) => void;
  /** Redis stayed unreachable for too long: the worker stops. */
  onLost?: (message: string) => void;
  /** This machine cannot solve (its GPU failed, the job's store is not mounted here): the job is handed on and the worker stops. */
  onFatal?: (error: Error) => void;
}

export interface RunningWorker {
  /** Stops taking jobs; a solve in progress is aborted and its job returned to the queue. */
  stop(reason: string): Promise<void>;
  /** Resolves when the worker has stopped (after stop(), or when Redis was lost). */
  stopped: Promise<void>;
}

/** Why a solve was aborted: this worker stops (the job goes back) or the coordinator cancelled. */
class Stop extends Error {}

/** How often a worker looks whether the coordinator cancelled the job it solves. */
const CANCEL_POLL_MS = 1000;

export async function startWorker(options: WorkerOptions): Promise<RunningWorker> {
  const log = options.log ?? (() => {});
  const stores = new Map<string, LayerStore>();
  const storeFor = async (path: string) => {
    const location = options.store ?? path;
    if (!stores.has(location)) stores.set(location, await FileLayerStore.open(location, options.store ? '--store' : "the job's store", false));
    return stores.get(location)!;
  };
  if (options.store) await storeFor(options.store); // a missing --store is bad input before any job
  let lost: string | null = null;
  let worker: Worker<LayerJobData, LayerJobResult> | null = null;
  const connection = watchedConnection(options.redis, '--redis', (message) => {
    lost = message;
    options.onLost?.(message);
    void stop(message);
  });
  let stopping: Promise<void> | null = null;
  let resolveStopped: () => void = () => {};
  const stopped = new Promise<void>((resolve) => (resolveStopped = resolve));
  const stop = (reason: string): Promise<void> => {
    stopping ??= (async () => {
      connection.stop();
      if (worker) {
        worker.cancelAllJobs(reason);
        // Unreachable Redis: nothing to hand the job back to; do not wait for it.
        await worker.close(lost !== null).catch(() => {});
      }
      connection.redis.disconnect();
      resolveStopped();
    })();
    return stopping;
  };

  await Promise.race([connection.firstReady, stopped]);
  if (lost) return { stop, stopped };

  const solveJob = async (job: Job<LayerJobData, LayerJobResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<LayerJobResult> => {
    const { key, layer } = job.data;
    // A store missing here is this machine's problem, not the layer's: the job goes back (no
    // attempt spent) for a worker that has it, and this one stops, saying why.
    let store: LayerStore;
    try {
      store = await storeFor(job.data.store);
    } catch (error) {
      options.onFatal?.(error as Error);
      if (token) await job.moveToWait(token).catch(() => {});
      setTimeout(() => void stop('no store'), 0);
      throw new WaitingError();
    }
    // Solved already (a duplicate job, or a worker killed after writing): the files are the answer.
    const existing = await store.getResult(key);
    if (existing) {
      log(`${layer}: already solved in the store`);
      return summary(existing);
    }
    const abort = new AbortController();
    signal?.addEventListener('abort', () => abort.abort(new Stop(String(signal.reason ?? 'stopping'))), { once: true });
    const poll = setInterval(() => {
      connection.redis.exists(cancelKey(job.id!)).then(
        (n) => n && abort.abort(new Stop(CANCELLED_REASON)),
        () => {},
      );
    }, CANCEL_POLL_MS);
    try {
      const program = await store.getProgram(key);
      log(`${layer}: solving (job ${job.id!.slice(0, 12)}, attempt ${job.attemptsStarted})`);
      let lastProgress = 0;
      const result = await solveLayer({
        ...program,
        backend: options.backend,
        gpu: options.gpu,
        signal: abort.signal,
        onProgress: (p) => {
          // At most about one Redis round trip a second, the last one always.
          const now = Date.now();
          if (now - lastProgress < 500) return;
          lastProgress = now;
          void job.updateProgress({ ...p }).catch(() => {});
        },
      });
      await store.putResult(key, result);
      log(`${layer}: solved, ${result.report.nonzeros} nonzeros, ${result.report.iterations} iterations, ${result.report.seconds.toFixed(1)} s`);
      return summary(result);
    } catch (error) {
      const reason = abort.signal.reason;
      if (abort.signal.aborted && reason instanceof Stop) {
        if (reason.message === CANCELLED_REASON) {
          log(`${layer}: ${CANCELLED_REASON}`);
          throw new UnrecoverableError(CANCELLED_REASON);
        }
        // This worker stops: the job goes back to the queue, for this worker's next life or another.
        log(`${layer}: stopped (${reason.message}); the job goes back to the queue`);
        if (token) await job.moveToWait(token).catch(() => {});
        throw new WaitingError();
      }
      if (error instanceof InputError) {
        log(`${layer}: bad input: ${error.message}`);
        throw new UnrecoverableError(BAD_INPUT_PREFIX + error.message);
      }
      log(`${layer}: failed: ${(error as Error).message}`);
      if (error instanceof GpuError) {
        // A lost or broken device fails every job after it: hand this one on (another attempt
        // elsewhere) and stop, so that the process supervisor sees it.
        options.onFatal?.(error);
        setTimeout(() => void stop('GPU failure'), 0);
      }
      throw new Error(`worker on ${hostname()}: ${(error as Error).message}`, { cause: error });
    } finally {
      clearInterval(poll);
    }
  };

  worker = new Worker<LayerJobData, LayerJobResult>(QUEUE_NAME, (job, token, signal) => solveJob(job, token, signal), {
    connection: connection.redis,
    concurrency: options.concurrency ?? 1,
    ...workerTimings(),
    autorun: true,
  });
  // Connection errors are the watchdog's business (one line after the timeout); others go to the log.
  worker.on('error', (error) => {
    if (!/ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|Connection is closed/i.test(error.message)) log(`error: ${error.message}`);
  });
  await Promise.race([worker.waitUntilReady(), stopped]);
  return { stop, stopped };
}

function summary(result: { report: { nonzeros: number; iterations: number; converged: boolean; seconds: number } }): LayerJobResult {
  const { nonzeros, iterations, converged, seconds } = result.report;
  return { nonzeros, iterations, converged, seconds };
}
