// What the coordinator (`net-trim prune --queue`) and the workers (`net-trim worker`) agree on: the
// BullMQ queue's name, what a job carries, the lock and stalled-job settings, and the Redis
// connection with its "unreachable for too long" watchdog.
import { createHash } from 'node:crypto';
import { InputError } from '../errors.js';
import type { LayerSolveRequest } from '../prune/layerPrograms.js';
import { inputColumns, inputRows } from '../solver/design.js';

/** One BullMQ queue for every run: a job is one layer program, named by its content hash. */
export const QUEUE_NAME = 'net-trim-layers';

/** A job carries only references: the program's key in the store, and where the coordinator's store is. */
export interface LayerJobData {
  /** The program's key (the hex SHA-256 of its files) in the store. */
  key: string;
  /** The layer's name (and group), for progress and messages. */
  layer: string;
  /** The store as the coordinator sees it; a worker's --store overrides it (another mount point). */
  store: string;
}

/** What a finished job returns (the result itself is in the store). */
export interface LayerJobResult {
  nonzeros: number;
  iterations: number;
  converged: boolean;
  seconds: number;
}

/**
 * A job's BullMQ priority (1 is taken first): the more work per iteration (samples × inputs ×
 * outputs), the earlier its solve starts, so that the longest solves do not start last (largest
 * first: a shorter run on N workers). Work ratios within 2× share a priority, in queue order.
 */
export function jobPriority(options: Pick<LayerSolveRequest['options'], 'X' | 'Y'>): number {
  const work = inputRows(options.X) * (inputColumns(options.X) + 1) * options.Y.cols;
  return Math.max(1, 64 - Math.floor(Math.log2(Math.max(work, 1))));
}

/**
 * A job's id: its program's key within one store. Runs on one store share a layer's job however
 * many enqueue it; runs on two stores never do (a worker writes the answer to the job's store only).
 */
export const jobIdOf = (store: string, key: string): string => createHash('sha256').update(`${store}\0${key}`).digest('hex');

/** A job that failed for bad input says so first; the coordinator turns it back into an InputError. */
export const BAD_INPUT_PREFIX = 'bad input: ';
/** The Redis key the coordinator sets to cancel a job a worker has (a waiting job is just removed). */
export const cancelKey = (jobId: string) => `net-trim:cancelled:${jobId}`;
/**
 * The Redis set of the runs (coordinators) waiting for a job: two runs that share a layer share its
 * job, and one's Ctrl-C cancels the job only when no other run waits for it.
 */
export const waitingKey = (jobId: string) => `net-trim:waiting:${jobId}`;
/** A job the coordinator cancelled (Ctrl-C) while a worker had it. */
export const CANCELLED_REASON = 'cancelled by the coordinator';

const fromEnv = (name: string, fallback: number): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!(Number.isInteger(value) && value > 0)) throw new InputError(`${name}: expected a positive integer (milliseconds or a count), found '${raw}'`);
  return value;
};

/**
 * The worker's lock and the stalled-job check. A worker holds a job's lock for `lockDuration` and
 * renews it every lockDuration/2 from a timer, which runs while a solve computes (the CPU solver
 * yields every 50 ms, the GPU one between blocks), so a solve of any length keeps its lock while
 * its process lives. A SIGKILLed worker stops renewing: its job is seen stalled at the first
 * check (every `stalledInterval`) after the lock expired, i.e. within lockDuration +
 * stalledInterval (90 s by default), and goes back to the queue for another worker; a job seen
 * stalled more than `maxStalledCount` times fails (a layer that kills every worker that takes it).
 * The environment variables shorten them for tests.
 */
export function workerTimings(): { lockDuration: number; stalledInterval: number; maxStalledCount: number } {
  return {
    lockDuration: fromEnv('NET_TRIM_LOCK_DURATION_MS', 60_000),
    stalledInterval: fromEnv('NET_TRIM_STALLED_INTERVAL_MS', 30_000),
    maxStalledCount: fromEnv('NET_TRIM_MAX_STALLED_COUNT', 2),
  };
}

/**
 * Attempts of a job that fails with an error other than bad input (a GPU lost, a full disk, …), a
 * few seconds apart; bad input fails at once (UnrecoverableError).
 */
export const JOB_ATTEMPTS = 3;
export const JOB_BACKOFF_MS = 5_000;

/** Redis stayed unreachable: the CLI prints the message as its one line and exits 1 (no stack hint: nothing is wrong with net-trim). */
export class RedisUnreachableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RedisUnreachableError';
  }
}

/** How long Redis may stay unreachable before a worker or coordinator gives up with one line. */
export function redisTimeout(): number {
  return fromEnv('NET_TRIM_REDIS_TIMEOUT_MS', 30_000);
}

/** ioredis options from a redis:// or rediss:// URL; refuses anything else naming the option. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  db: number;
  username?: string;
  password?: string;
  tls?: object;
  maxRetriesPerRequest: null;
  retryStrategy: (times: number) => number;
}

export function redisOptions(url: string, option: string): RedisConnectionOptions {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new InputError(`${option}: expected a Redis URL such as redis://host:6379, found '${url}'`);
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new InputError(`${option}: expected a redis:// or rediss:// URL, found '${url}'`);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0) throw new InputError(`${option}: expected a database number after the port (redis://host:6379/0), found '${parsed.pathname.slice(1)}'`);
  return {
    host: parsed.hostname || '127.0.0.1',
    port: parsed.port ? Number(parsed.port) : 6379,
    db,
    ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
    ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
    ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    // BullMQ's blocking commands need this; a lost connection is retried every ≤ 2 s (the watchdog decides when to give up).
    maxRetriesPerRequest: null,
    retryStrategy: (times: number) => Math.min(200 * times, 2000),
  };
}

/** The URL without a password, for messages. */
export function redisLabel(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}
