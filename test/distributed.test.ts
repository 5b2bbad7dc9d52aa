// Distributed parallel Net-Trim with the real thing: a redis-server of its own, `net-trim worker`
// child processes on the CPU backend (deterministic float64), and `net-trim prune --queue` as users
// run it (dist/node/cli.js). The distributed answer must be the local parallel one.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { openCoordinator } from '../src/distributed/coordinator.js';
import { FileLayerStore, type LayerStore } from '../src/distributed/store.js';
import { InputError } from '../src/errors.js';
import { solveLayer } from '../src/solver/solveLayer.js';
import { runCli, startCli, type StartedCli } from './helpers/cli.js';
import { gaussianMatrix } from './helpers/random.js';
import { freePort, redisSkipReason, startRedis, type RedisServer } from './helpers/redis.js';

const skip = redisSkipReason();
if (skip) console.warn(skip);

const MODEL = 'test/fixtures/mnist-mlp/model.json';
const PRUNE = ['prune', MODEL, '--samples', 'test/fixtures/mnist-samples.npy', '--max-samples', '200', '--max-iterations', '400', '--mode', 'parallel', '--backend', 'cpu'];
/** Short lock and stalled check, so that a killed worker's job comes back within seconds. */
const FAST_STALL = { NET_TRIM_LOCK_DURATION_MS: '1000', NET_TRIM_STALLED_INTERVAL_MS: '500' };

let root: string;
let redis: RedisServer;
let client: Redis;
let local: { weights: Float32Array; nonzeros: number[] };
const workers: StartedCli[] = [];

async function result(folder: string): Promise<{ weights: Float32Array; nonzeros: number[] }> {
  const bytes = await readFile(join(folder, 'weights.bin'));
  const report = JSON.parse(await readFile(join(folder, 'report.json'), 'utf8')) as { layers: Array<{ nonzerosAfter: number }> };
  return { weights: new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4), nonzeros: report.layers.map((l) => l.nonzerosAfter) };
}

function expectSameAsLocal(found: { weights: Float32Array; nonzeros: number[] }): void {
  expect(found.nonzeros).toEqual(local.nonzeros);
  expect(found.weights.length).toBe(local.weights.length);
  let worst = 0;
  for (let i = 0; i < found.weights.length; i++) worst = Math.max(worst, Math.abs(found.weights[i] - local.weights[i]) / Math.max(Math.abs(local.weights[i]), 1e-30));
  expect(worst).toBeLessThanOrEqual(1e-6);
}

/** Every file under `folder`, relative; temporary files of an atomic write end in .tmp. */
async function filesUnder(folder: string): Promise<string[]> {
  if (!existsSync(folder)) return [];
  return (await readdir(folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(folder.length + 1));
}

/** The store holds whole programs and whole results only: no temporary file, each result complete. */
async function expectStoreComplete(store: string): Promise<void> {
  const files = await filesUnder(store);
  expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
  const programs = new Set(files.filter((f) => f.startsWith('programs/')).map((f) => f.split('/')[1]));
  for (const key of programs) {
    const names = files.filter((f) => f.split('/')[1] === key).map((f) => f.split('/')[2]);
    expect(names).toContain('program.json');
    if (names.includes('result.json')) expect(names).toEqual(expect.arrayContaining(['weights.npy', 'bias.npy', 'state-W2.npy', 'state-U1.npy']));
  }
}

function startWorker(env: NodeJS.ProcessEnv = {}, extra: string[] = []): StartedCli {
  const worker = startCli(['worker', '--redis', redis.url, '--backend', 'cpu', ...extra], { runtimeDir: root, env });
  workers.push(worker);
  return worker;
}

const prune = (out: string, store: string, env: NodeJS.ProcessEnv = {}) =>
  startCli([...PRUNE, '--queue', redis.url, '--store', store, '--out', out], { runtimeDir: root, env });

/** Jobs waiting for a worker (every job has a priority: BullMQ keeps them in a sorted set, not the wait list). */
const queued = async () => (await client.llen('bull:net-trim-layers:wait')) + (await client.zcard('bull:net-trim-layers:prioritized'));

const solvedBy = (worker: StartedCli, layer: string) => worker.output().stderr.includes(`${layer}: solved`);

describe.skipIf(skip !== null)('net-trim prune --queue with net-trim worker processes', () => {
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'net-trim-distributed-'));
    redis = await startRedis(root);
    client = new Redis(redis.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => {}); // refused while a test restarts the server
    const run = await runCli([...PRUNE, '--quiet', '--out', join(root, 'local')], { runtimeDir: root });
    expect(run.code, run.stderr).toBe(0);
    local = await result(join(root, 'local'));
    // Something to compare: the layers were pruned.
    expect(local.nonzeros.every((n, i) => n < [50240, 2080, 330][i])).toBe(true);
  });

  beforeEach(async () => {
    await client.flushall();
  });

  afterEach(async () => {
    for (const w of workers.splice(0)) {
      if (w.child.exitCode === null) w.child.kill('SIGKILL');
      await w.done;
    }
  });

  afterAll(async () => {
    client?.disconnect();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
  });

  it('solves the layers on two workers and writes what a local parallel run writes; a re-run reuses the store', async () => {
    const [a, b] = [startWorker(), startWorker()];
    await Promise.all([a.stderrContains('ready'), b.stderrContains('ready')]);
    const store = join(root, 'store-a');
    const run = await prune(join(root, 'out-a'), store, { NET_TRIM_TRACE: '1' }).done;
    expect(run.code, run.stderr).toBe(0);
    // The workers' progress reaches the coordinator's display (a trace line per progress event).
    expect(run.stderr).toMatch(/trace: iterations dense_1 \d+/);
    expect(run.stderr).toMatch(/\[1\/3 dense_1\] converged after \d+ iterations/);
    expectSameAsLocal(await result(join(root, 'out-a')));
    // The same output files as the local run.
    expect((await filesUnder(join(root, 'out-a'))).sort()).toEqual((await filesUnder(join(root, 'local'))).sort());
    const solves = (w: StartedCli) => (w.output().stderr.match(/: solving/g) ?? []).length;
    expect(solves(a) + solves(b)).toBe(3);
    await expectStoreComplete(store);

    // Again: every layer's result is in the store already, nothing is solved twice.
    const again = await prune(join(root, 'out-a2'), store).done;
    expect(again.code, again.stderr).toBe(0);
    expect(solves(a) + solves(b)).toBe(3);
    expectSameAsLocal(await result(join(root, 'out-a2')));
  }, 60_000);

  it('finishes the layer of a SIGKILLed worker on another worker, with the same answer', async () => {
    const doomed = startWorker(FAST_STALL);
    await doomed.stderrContains('ready');
    const store = join(root, 'store-b');
    const run = prune(join(root, 'out-b'), store);
    // dense_1 takes seconds on the CPU: kill the worker in the middle of it.
    await doomed.stderrContains('dense_1: solving');
    await new Promise((r) => setTimeout(r, 300));
    expect(solvedBy(doomed, 'dense_1')).toBe(false);
    doomed.child.kill('SIGKILL');
    const others = [startWorker(FAST_STALL), startWorker(FAST_STALL)];
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    // (A line may arrive after the run's end: wait for it; never arriving fails at the test's timeout.)
    await Promise.race(others.map((w) => w.stderrContains('dense_1: solved')));
    expectSameAsLocal(await result(join(root, 'out-b')));
    await expectStoreComplete(store);
  }, 60_000);

  it('hands the job back to the queue when a worker gets SIGTERM, and exits 0', async () => {
    const leaving = startWorker();
    await leaving.stderrContains('ready');
    const run = prune(join(root, 'out-c'), join(root, 'store-c'));
    await leaving.stderrContains('dense_1: solving');
    leaving.child.kill('SIGTERM');
    const stopped = await leaving.done;
    expect(stopped.code, stopped.stderr).toBe(0);
    expect(stopped.stderr).toContain('dense_1: stopped (SIGTERM); the job goes back to the queue');
    const next = startWorker();
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    await next.stderrContains('dense_1: solved');
    expectSameAsLocal(await result(join(root, 'out-c')));
  }, 60_000);

  it('Ctrl-C on the coordinator writes nothing and leaves no job queued', async () => {
    // No worker: the jobs wait.
    const out = join(root, 'out-d');
    const run = prune(out, join(root, 'store-d'), { NET_TRIM_TRACE: '1' });
    await run.stderrContains('setup dense_1');
    await new Promise((r) => setTimeout(r, 500));
    expect(await queued()).toBeGreaterThan(0);
    run.child.kill('SIGINT');
    const done = await run.done;
    expect(done.code, done.stderr).toBe(130);
    expect(existsSync(out)).toBe(false);
    expect(await queued()).toBe(0);
    await expectStoreComplete(join(root, 'store-d'));
  }, 60_000);

  it('two runs sharing a layer: one\'s Ctrl-C leaves the job to the other, and a job cancelled under a waiting run is queued again', async () => {
    const worker = startWorker();
    await worker.stderrContains('ready');
    const store = await FileLayerStore.open(join(root, 'store-s'));
    const [first, second] = [await openCoordinator({ redis: redis.url, store }), await openCoordinator({ redis: redis.url, store })];
    // A solve of a few seconds on the CPU: no stop before the iteration limit.
    const X = { rows: 1500, cols: 40, data: gaussianMatrix(1500, 40, 11) };
    const Y = { rows: 1500, cols: 8, data: gaussianMatrix(1500, 8, 12).map((v) => Math.max(v, 0)) };
    const options = (epsilon: number) => ({ X, Y, epsilon, maxIterations: 800, tolerances: { relative: 1e-12, absolute: 1e-12 } });
    const waitingRuns = async () => {
      const [key] = await client.keys('net-trim:waiting:*');
      return key ? client.scard(key) : 0;
    };
    try {
      const stop = new AbortController();
      const cancelled = first.solveProgram({ name: 'shared', key: 'shared', options: options(1) }, { signal: stop.signal }).catch((error: unknown) => error);
      await worker.stderrContains('shared: solving');
      const answer = second.solveProgram({ name: 'shared', key: 'shared', options: options(1) }, {});
      for (let waited = 0; (await waitingRuns()) < 2; waited += 20) {
        expect(waited, 'the second run did not join the job\'s waiting runs within 10 s').toBeLessThan(10_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      stop.abort(new Error('Ctrl-C'));
      expect(((await cancelled) as Error).message).toBe('Ctrl-C');
      expect(solvedBy(worker, 'shared')).toBe(false); // the first run left mid-solve
      expect((await answer).weights.data).toEqual((await solveLayer({ ...options(1), backend: 'cpu' })).weights.data);
      expect(worker.output().stderr.match(/shared: solving/g)).toHaveLength(1); // not cancelled, not restarted

      // The cancel flag set while another run waits (the moment before it joined): queued again.
      const again = second.solveProgram({ name: 'again', key: 'again', options: options(2) }, {});
      await worker.stderrContains('again: solving');
      const [jobKey] = await client.keys('net-trim:waiting:*');
      await client.set(jobKey.replace('waiting', 'cancelled'), '1');
      expect((await again).weights.data).toEqual((await solveLayer({ ...options(2), backend: 'cpu' })).weights.data);
      expect(worker.output().stderr.match(/again: solving/g)).toHaveLength(2);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  }, 60_000);

  it('a coordinator closed with a job on a worker cancels it for good (its own cancel does not queue it again)', async () => {
    const worker = startWorker();
    await worker.stderrContains('ready');
    const coordinator = await openCoordinator({ redis: redis.url, store: await FileLayerStore.open(join(root, 'store-k')) });
    const X = { rows: 1500, cols: 40, data: gaussianMatrix(1500, 40, 31) };
    const Y = { rows: 1500, cols: 8, data: gaussianMatrix(1500, 8, 32).map((v) => Math.max(v, 0)) };
    const answer = coordinator.solveProgram({ name: 'closed', key: 'closed', options: { X, Y, epsilon: 1, maxIterations: 2000, tolerances: { relative: 1e-12, absolute: 1e-12 } } }, {});
    answer.catch(() => {}); // never settled: the run is closed
    await worker.stderrContains('closed: solving');
    await coordinator.close();
    await worker.stderrContains('closed: cancelled by the coordinator');
    await new Promise((r) => setTimeout(r, 1500));
    expect(await queued()).toBe(0);
    expect(worker.output().stderr.match(/closed: solving/g)).toHaveLength(1);
  }, 60_000);

  it('two runs on two stores with the same layer each get a job, and each store its answer', async () => {
    const worker = startWorker();
    await worker.stderrContains('ready');
    const stores = [await FileLayerStore.open(join(root, 'store-m1')), await FileLayerStore.open(join(root, 'store-m2'))];
    const coordinators = await Promise.all(stores.map((store) => openCoordinator({ redis: redis.url, store })));
    try {
      const X = { rows: 60, cols: 6, data: gaussianMatrix(60, 6, 41) };
      const Y = { rows: 60, cols: 2, data: gaussianMatrix(60, 2, 42).map((v) => Math.max(v, 0)) };
      const request = { name: 'same', key: 'same', options: { X, Y, epsilon: 0.5, maxIterations: 300 } };
      const expected = (await solveLayer({ ...request.options, backend: 'cpu' })).weights.data;
      const answers = await Promise.all(coordinators.map((c) => c.solveProgram(request, {})));
      for (const answer of answers) expect(answer.weights.data).toEqual(expected);
      for (const store of stores) await expectStoreComplete(store.location);
      expect(worker.output().stderr.match(/same: solving/g)).toHaveLength(2);
    } finally {
      await Promise.all(coordinators.map((c) => c.close()));
    }
  }, 60_000);

  it('starts the largest program first, whatever order the jobs were queued in', async () => {
    const coordinator = await openCoordinator({ redis: redis.url, store: await FileLayerStore.open(join(root, 'store-p')) });
    try {
      const program = (rows: number, cols: number, seed: number) => ({
        X: { rows, cols, data: gaussianMatrix(rows, cols, seed) },
        Y: { rows, cols: 3, data: gaussianMatrix(rows, 3, seed + 1).map((v) => Math.max(v, 0)) },
        epsilon: 0.5,
        maxIterations: 200,
      });
      const small = coordinator.solveProgram({ name: 'small', key: 'small', options: program(40, 4, 21) }, {});
      for (let waited = 0; (await queued()) < 1; waited += 20) {
        expect(waited, 'the small job was not queued within 10 s').toBeLessThan(10_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      const large = coordinator.solveProgram({ name: 'large', key: 'large', options: program(400, 30, 23) }, {});
      for (let waited = 0; (await queued()) < 2; waited += 20) {
        expect(waited, 'the large job was not queued within 10 s').toBeLessThan(10_000);
        await new Promise((r) => setTimeout(r, 20));
      }
      const worker = startWorker();
      await Promise.all([small, large]);
      expect(worker.output().stderr.match(/ (\w+): solving/g)).toEqual([' large: solving', ' small: solving']);
    } finally {
      await coordinator.close();
    }
  }, 60_000);

  it('fails a job with bad input once, with its message, instead of retrying it', async () => {
    const worker = startWorker();
    await worker.stderrContains('ready');
    const coordinator = await openCoordinator({ redis: redis.url, store: await FileLayerStore.open(join(root, 'store-f')) });
    try {
      // Y has 9 rows for an X of 10 samples: solveLayer refuses it (an InputError on the worker).
      const X = { rows: 10, cols: 3, data: new Float64Array(30).fill(1) };
      const Y = { rows: 9, cols: 2, data: new Float64Array(18).fill(1) };
      const started = Date.now();
      const failure = await coordinator.solveProgram({ name: 'bad', key: 'bad', options: { X, Y, epsilon: 0.1 } }, {}).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(InputError);
      expect((failure as Error).message).toMatch(/^layer bad: Y: expected 10 samples \(rows\) like X, found 9$/);
      // No retry: one attempt, no backoff (5 s) waited.
      expect(Date.now() - started).toBeLessThan(4000);
      // The worker's line may reach us after the coordinator's answer; a retry would add another.
      await worker.stderrContains('bad: bad input');
      await new Promise((r) => setTimeout(r, 1000));
      expect(worker.output().stderr.match(/bad: bad input/g)).toHaveLength(1);
    } finally {
      await coordinator.close();
    }
  }, 60_000);

  it('a worker without the job\'s store hands the job back and stops; one with --store solves it', async () => {
    const real = await FileLayerStore.open(join(root, 'store-h'));
    // The coordinator's store as a path this machine does not have (a mount missing on a worker).
    const unmounted: LayerStore = {
      location: join(root, 'not-mounted'),
      putProgram: (program, layer) => real.putProgram(program, layer),
      getProgram: (key) => real.getProgram(key),
      putResult: (key, result) => real.putResult(key, result),
      getResult: (key) => real.getResult(key),
    };
    const misconfigured = startWorker();
    await misconfigured.stderrContains('ready');
    const coordinator = await openCoordinator({ redis: redis.url, store: unmounted });
    try {
      const X = { rows: 40, cols: 6, data: gaussianMatrix(40, 6, 3) };
      const Y = { rows: 40, cols: 2, data: gaussianMatrix(40, 2, 4).map((v) => Math.max(v, 0)) };
      const answer = coordinator.solveProgram({ name: 'small', key: 'small', options: { X, Y, epsilon: 0.5, maxIterations: 300 } }, {});
      const stopped = await misconfigured.done;
      expect(stopped.code).toBe(2);
      expect(stopped.stderr).toMatch(/net-trim: the job's store .*not-mounted: no such folder on this machine .*: the worker stops \(its job goes back to the queue\)\n$/);
      expect(existsSync(join(root, 'not-mounted'))).toBe(false);
      startWorker({}, ['--store', real.location]);
      const result = await answer;
      expect(result.weights.data).toEqual((await solveLayer({ X, Y, epsilon: 0.5, maxIterations: 300, backend: 'cpu' })).weights.data);
    } finally {
      await coordinator.close();
    }
  }, 60_000);

  it('goes on when Redis restarts mid-run (empty): the workers reconnect and the lost jobs are queued again', async () => {
    // All three jobs queued, then one worker: while it solves the first, the others wait in Redis, and are lost.
    const run = prune(join(root, 'out-g'), join(root, 'store-g'), { NET_TRIM_QUEUE_POLL_MS: '1000' });
    for (let waited = 0; (await queued()) < 3; waited += 100) {
      expect(waited, 'the three jobs were not queued within 20 s').toBeLessThan(20_000);
      await new Promise((r) => setTimeout(r, 100));
    }
    const worker = startWorker();
    await worker.stderrContains(': solving');
    expect(await queued()).toBe(2);
    await redis.restart();
    const done = await run.done;
    expect(done.code, done.stderr).toBe(0);
    expectSameAsLocal(await result(join(root, 'out-g')));
    await expectStoreComplete(join(root, 'store-g'));
  }, 60_000);

  it('refuses --queue without --mode parallel or --store, and an unreachable Redis, in one line', async () => {
    const base = ['prune', MODEL, '--samples', 'test/fixtures/mnist-samples.npy', '--backend', 'cpu', '--out', join(root, 'out-e')];
    const cascade = await runCli([...base, '--queue', redis.url, '--store', join(root, 'store-e')], { runtimeDir: root });
    expect(cascade.code).toBe(2);
    expect(cascade.stderr).toMatch(/--queue: expected --mode parallel/);
    const noStore = await runCli([...base, '--mode', 'parallel', '--queue', redis.url], { runtimeDir: root });
    expect(noStore.code).toBe(2);
    expect(noStore.stderr).toMatch(/--queue: expected --store DIR/);
    const nested = await runCli([...base, '--mode', 'parallel', '--queue', redis.url, '--store', join(root, 'out-e', 'store')], { runtimeDir: root });
    expect(nested.code).toBe(2);
    expect(nested.stderr).toMatch(/--store .*: expected a folder apart from --out .* \(neither inside the other\)/);
    const env = { NET_TRIM_REDIS_TIMEOUT_MS: '1500' };
    const closed = `redis://127.0.0.1:${await freePort()}`; // nothing listens there
    const unreachable = await runCli([...base, '--mode', 'parallel', '--queue', closed, '--store', join(root, 'store-e')], { runtimeDir: root, env });
    expect(unreachable.code).toBe(2);
    expect(unreachable.stderr.trim().split('\n')).toHaveLength(1);
    expect(unreachable.stderr).toMatch(/--queue redis:\/\/127\.0\.0\.1:\d+: cannot connect: Redis at .* unreachable for 2 s/);
    expect(existsSync(join(root, 'out-e'))).toBe(false);
    const worker = await runCli(['worker', '--redis', closed, '--backend', 'cpu', '--quiet'], { runtimeDir: root, env });
    expect(worker.code).toBe(1);
    expect(worker.stderr.trim().split('\n')).toHaveLength(1);
    expect(worker.stderr).toMatch(/unreachable for 2 s .*: the worker stops/);
  }, 60_000);
});
