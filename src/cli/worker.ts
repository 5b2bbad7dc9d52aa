// `net-trim worker`: a long-running process that solves the layer programs of distributed runs
// (`net-trim prune --mode parallel --queue URL --store DIR`) on this machine's GPU or CPU. SIGTERM
// or Ctrl-C stops it: the solve in progress is aborted and its job goes back to the queue (exit 0);
// a second signal exits at once. Redis unreachable for too long is one stderr line and exit 1; a
// GPU failure (exit 3) or a job's store missing on this machine (exit 2) stops the worker too,
// its job going to another worker.
import type { Command } from 'commander';
import { GpuError, InputError } from '../errors.js';
import { redisLabel, redisOptions, redisTimeout, RedisUnreachableError } from '../distributed/queue.js';
import { removePendingTemporaryFiles } from '../io/files.js';
import { CLI_BACKENDS, resolveBackend, type CliBackend } from './modelInputs.js';
import { oneOf, positiveInteger } from './optionValues.js';

interface RawWorkerOptions {
  redis: string;
  store?: string;
  backend: string;
  concurrency: string;
  quiet?: boolean;
}

export function addWorkerCommand(program: Command): Command {
  return program
    .command('worker')
    .summary('solve the layer programs of distributed runs (net-trim prune --queue) until stopped')
    .description(
      'Take layer jobs from the Redis queue of `net-trim prune --mode parallel --queue URL --store DIR`, solve each on this machine (the same solver as a local run) and write the result to the store. Runs until SIGTERM or Ctrl-C, which hand the job in progress back to the queue.',
    )
    .requiredOption('--redis <url>', 'the Redis server of the queue, e.g. redis://10.0.0.5:6379')
    .option('--store <dir>', "the store folder as this machine mounts it (default: the coordinator's path in each job)")
    .option('--backend <name>', "'auto' (WebGPU when an adapter is found, else the CPU), 'webgpu' or 'cpu'", 'auto')
    .option('--concurrency <n>', 'layers solved at once by this process (one GPU: 1)', '1')
    .option('--quiet', 'print nothing but errors')
    .addHelpText(
      'after',
      `\nOne worker per GPU. Redis unreachable for ${Math.round(redisTimeout() / 1000)} s in a row (NET_TRIM_REDIS_TIMEOUT_MS) stops the worker with exit 1.\n` +
        'Example:\n  net-trim worker --redis redis://10.0.0.5:6379 --store /mnt/net-trim-store',
    )
    .action(async (raw: RawWorkerOptions) => runWorker(raw));
}

async function runWorker(raw: RawWorkerOptions): Promise<void> {
  redisOptions(raw.redis, '--redis'); // a malformed URL is bad input before anything starts
  const backendName = oneOf<CliBackend>(raw.backend, '--backend', CLI_BACKENDS)!;
  const concurrency = positiveInteger(raw.concurrency, '--concurrency')!;
  const { backend, gpu } = await resolveBackend(backendName, raw.quiet);
  const say = (line: string) => {
    if (!raw.quiet) process.stderr.write(`net-trim worker: ${line}\n`);
  };
  let lostMessage: string | null = null;
  let fatal: Error | null = null;
  // Loaded here: BullMQ is only needed by this command.
  const { startWorker } = await import('../distributed/worker.js');
  const worker = await startWorker({
    redis: raw.redis,
    ...(raw.store ? { store: raw.store } : {}),
    backend,
    gpu,
    concurrency,
    log: say,
    onLost: (message) => (lostMessage = message),
    onFatal: (error) => (fatal ??= error),
  }).catch((error) => {
    gpu?.destroy();
    throw error;
  });
  let signals = 0;
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (++signals > 1) {
        removePendingTemporaryFiles();
        process.stderr.write(`net-trim worker: ${signal} again: exiting now\n`);
        process.exit(130);
      }
      say(`${signal}: stopping (a job in progress goes back to the queue)`);
      void worker.stop(signal);
    });
  }
  if (!lostMessage) say(`ready: ${backend === 'webgpu' ? gpu?.adapterDescription : 'CPU (float64)'}, taking jobs from ${redisLabel(raw.redis)}`);
  await worker.stopped;
  gpu?.destroy();
  if (lostMessage) throw new RedisUnreachableError(`${lostMessage}: the worker stops`);
  const failure = fatal as Error | null;
  if (failure instanceof GpuError) throw new GpuError(`${failure.message}: the worker stops (its job goes to another worker)`);
  if (failure instanceof InputError) throw new InputError(`${failure.message}: the worker stops (its job goes back to the queue)`);
  if (failure) throw failure;
  say('stopped');
}
