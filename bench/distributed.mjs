#!/usr/bin/env node
// Distributed parallel Net-Trim: wall time of `net-trim prune --mode parallel --queue …` with 1, 2
// and 3 `net-trim worker` processes (on this machine: a stand-in for N machines, so workers share
// its cores or GPU), next to a local parallel run, and the bytes each layer moves through the
// store (its program's inputs one way, each array once per run; its result the other). Starts its
// own redis-server.
// Usage:
//   npm run build && node bench/distributed.mjs [--backend cpu|webgpu] [--workers 1,2,3] [--models mlp,cnn,lenet] [--max-samples n] [--column-blocks B] [--pin] [--repeats n] [--json out.json]
// --pin gives every process one core of its own (taskset; Linux): the local run core 0, worker i core
// i − 1 (modulo the cores), the coordinator core 0 beside worker 1: each core stands in for one
// machine, so a run with as many workers as cores measures the scheme's own speed-up.
// `lenet` is LeNet's FC1 at the authors' size (3 136 → 512, ReLU, trained-like random weights) on
// --lenet-samples nonnegative samples (default 55 000: 690 MB of samples, for GPU workers; one
// layer, so --column-blocks spreads it over the workers).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { networkToOnnx, serializeNpy } from '../dist/node/index.js';
import { writeAtomically } from './lib.mjs';
import { median } from './measure.mjs';
import { seededNormal } from './problems.mjs';

const CLI = new URL('../dist/node/cli.js', import.meta.url).pathname;
const MODELS = { mlp: 'test/fixtures/mnist-mlp/model.json', cnn: 'test/fixtures/mnist-cnn/model.json' };

const options = new Command()
  .option('--backend <name>', 'the workers\' backend (the local run uses the same)', 'cpu')
  .option('--workers <list>', 'worker counts to time', '1,2,3')
  .option('--models <list>', `models: ${Object.keys(MODELS).join(', ')}, lenet`, 'mlp,cnn')
  .option('--lenet-samples <n>', 'samples of the lenet layer (its --max-samples)', '55000')
  .option('--max-samples <n>', 'samples per run', '300')
  .option('--max-iterations <n>', 'ADMM iteration limit per layer', '1000')
  .option('--column-blocks <B>', 'solve each layer as B programs over blocks of its outputs (spreads a dominant layer over the workers)', '1')
  .option('--repeats <n>', 'runs of each configuration (interleaved; medians reported)', '1')
  .option('--pin', 'one core per process (local run, each worker), as one machine each')
  .option('--json <file>', 'also write the results as JSON')
  .parse()
  .opts();

const freePort = () =>
  new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });

/** Runs the CLI; with --pin on `core` alone (lavapipe then draws with one thread, as its core allows). */
function start(args, label, core = 0) {
  const command = options.pin ? ['taskset', ['-c', String(core % availableParallelism()), process.execPath, CLI, ...args]] : [process.execPath, [CLI, ...args]];
  const env = options.pin ? { ...process.env, LP_NUM_THREADS: '1' } : process.env;
  const child = spawn(...command, { stdio: ['ignore', 'ignore', 'pipe'], env });
  let stderr = '';
  child.stderr.on('data', (c) => (stderr += c));
  const done = new Promise((resolve, reject) =>
    child.on('close', (code) => (code === 0 || child.killedOnPurpose ? resolve(stderr) : reject(new Error(`${label} exited ${code}: ${stderr}`)))),
  );
  return { child, done, stderr: () => stderr };
}

async function waitFor(check, what, ms = 20_000) {
  for (const until = Date.now() + ms; !check(); ) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Bytes per layer (or column block) in a store: to the workers, its program.json and the arrays it
 * references (store.ts keeps them in arrays/, one file per distinct array), each array counted for
 * the first layer that references it and as `shared` for the later ones (the column blocks' X);
 * back to the coordinator, its result's files.
 */
function storeBytes(store) {
  const programs = readdirSync(join(store, 'programs')).map((key) => {
    const folder = join(store, 'programs', key);
    return { key, folder, program: JSON.parse(readFileSync(join(folder, 'program.json'), 'utf8')) };
  });
  const label = ({ key, program }) => program.layer ?? key.slice(0, 12);
  programs.sort((a, b) => label(a).localeCompare(label(b), 'en', { numeric: true }));
  const counted = new Set();
  const layers = {};
  for (const entry of programs) {
    const sizes = { program: 0, shared: 0, result: 0 };
    for (const name of readdirSync(entry.folder)) {
      const isResult = name === 'result.json' || name === 'weights.npy' || name === 'bias.npy' || name.startsWith('state-');
      sizes[isResult ? 'result' : 'program'] += statSync(join(entry.folder, name)).size;
    }
    for (const hash of new Set(Object.values(entry.program.arrays ?? {}))) {
      sizes[counted.has(hash) ? 'shared' : 'program'] += statSync(join(store, 'arrays', `${hash}.npy`)).size;
      counted.add(hash);
    }
    layers[label(entry)] = sizes;
  }
  return layers;
}

/** LeNet's FC1 as a one-layer ONNX model and its samples, written into `dir`: [model, samples]. */
function lenetFiles(dir, count) {
  const [N, M] = [3136, 512];
  const normal = seededNormal(17);
  const kernel = Float32Array.from({ length: N * M }, () => normal() / Math.sqrt(N));
  const bias = new Float32Array(M).fill(0.01);
  const network = { inputShape: [N], layers: [{ kind: 'dense', name: 'fc1', kernel, inputs: N, units: M, bias, activation: 'relu' }] };
  const [model, samples] = [join(dir, 'lenet-fc1.onnx'), join(dir, 'lenet-samples.npy')];
  writeFileSync(model, networkToOnnx(network));
  writeFileSync(samples, serializeNpy({ shape: [count, N], dtype: 'float32', data: Float32Array.from({ length: count * N }, () => Math.max(normal(), 0)) }));
  return [model, samples];
}

const root = mkdtempSync(join(tmpdir(), 'net-trim-bench-distributed-'));
const port = await freePort();
const redis = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', root], { stdio: 'ignore' });
const url = `redis://127.0.0.1:${port}`;
const results = [];
try {
  await new Promise((r) => setTimeout(r, 500));
  for (const name of options.models.split(',')) {
    const [model, samples, count] = name === 'lenet' ? [...lenetFiles(root, Number(options.lenetSamples)), options.lenetSamples] : [MODELS[name], 'test/fixtures/mnist-samples.npy', options.maxSamples];
    if (!model) throw new Error(`--models: unknown model ${name}`);
    const base = ['prune', model, '--samples', samples, '--max-samples', count, '--max-iterations', options.maxIterations, '--mode', 'parallel', '--backend', options.backend, '--column-blocks', options.columnBlocks, '--quiet'];
    const timed = async (args, label) => {
      const started = performance.now();
      await start(args, label).done;
      return (performance.now() - started) / 1000;
    };
    const counts = options.workers.split(',').map(Number);
    const runs = { local: [], ...Object.fromEntries(counts.map((c) => [c, []])) };
    const row = { model: name, backend: options.backend, samples: Number(count), pinned: Boolean(options.pin), repeats: Number(options.repeats) };
    for (let r = 0; r < row.repeats; r++) {
      // Interleaved, so a slow spell of the machine touches every configuration alike.
      runs.local.push(await timed([...base, '--out', join(root, `${name}-local-${r}`)], 'local run'));
      for (const count of counts) {
        const store = join(root, `${name}-store-${count}-${r}`); // a fresh store: every layer is solved
        const workers = Array.from({ length: count }, (_, i) => start(['worker', '--redis', url, '--backend', options.backend], `worker ${i + 1}`, i));
        await waitFor(() => workers.every((w) => w.stderr().includes('ready')), 'the workers');
        runs[count].push(await timed([...base, '--queue', url, '--store', store, '--out', join(root, `${name}-out-${count}-${r}`)], 'distributed run'));
        for (const w of workers) {
          w.child.killedOnPurpose = true;
          w.child.kill('SIGTERM');
        }
        await Promise.all(workers.map((w) => w.done));
        row.store ??= storeBytes(store);
      }
    }
    row.runs = runs;
    row.localSeconds = median(runs.local);
    row.workers = Object.fromEntries(counts.map((c) => [c, median(runs[c])]));
    for (const count of counts)
      console.log(`${name}: ${count} worker(s) ${row.workers[count].toFixed(1)} s, local parallel ${row.localSeconds.toFixed(1)} s: ${(row.localSeconds / row.workers[count]).toFixed(2)}× (medians of ${row.repeats})`);
    const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(2)} MiB`;
    for (const [layer, bytes] of Object.entries(row.store))
      console.log(`  ${layer}: ${mib(bytes.program)} in${bytes.shared ? ` (and ${mib(bytes.shared)} shared, already sent)` : ''}, ${mib(bytes.result)} back`);
    const sum = (field) => Object.values(row.store).reduce((s, b) => s + b[field], 0);
    console.log(`  total: ${mib(sum('program'))} in (${mib(sum('program') + sum('shared'))} without sharing), ${mib(sum('result'))} back`);
    results.push(row);
  }
  if (options.json) writeAtomically(options.json, JSON.stringify({ machine: `${process.platform} ${process.arch}`, results }, null, 2) + '\n');
} finally {
  redis.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
}
