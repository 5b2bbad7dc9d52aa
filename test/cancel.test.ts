// Ctrl-C stops every command promptly in every phase and writes nothing: the command runs with
// NET_TRIM_TRACE=1, which names each phase on stderr as it starts, and gets SIGINT (or SIGTERM)
// as soon as the phase is named. The CPU backend's phases hold the thread (float64 loops), which
// is what a signal used to wait out: the command then finished and wrote everything.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { serializeNpy } from '../src/io/npy.js';
import { startCli } from './helpers/cli.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix } from './helpers/random.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
const gpu = await gpuForTests();
gpu?.destroy();
const root = await mkdtemp(join(tmpdir(), 'net-trim-cancel-'));
afterAll(() => rm(root, { recursive: true, force: true }));

/**
 * The command: 300 samples of the MNIST MLP, a few seconds of solving per layer on the
 * CPU (a tight gain). Where the signal waits for solves to end (the second layer's setup, the
 * writing): the default gain on 100 samples, 200 iterations a layer.
 */
const pruneArgs = (backend: string, out: string, phase: string) => {
  const quick = phase === 'writing' || phase === 'setup dense_2';
  return [
    'prune', join(FIXTURES, 'mnist-mlp/model.json'), '--samples', join(FIXTURES, 'mnist-samples.npy'),
    '--max-samples', quick ? '100' : '300', '--epsilon-gain', quick ? '0.05' : '0.01', '--backend', backend, '--out', out,
    // Reaching the phase is all that matters there: a short solve (the whole prune 4 s, not 19).
    ...(quick ? ['--max-iterations', '200'] : []),
  ];
};

async function cancelAt(args: string[], phase: string, signal: NodeJS.Signals, out: string): Promise<void> {
  const started = startCli(args, { cwd: root, env: { NET_TRIM_TRACE: '1' } });
  await started.stderrContains(`net-trim: trace: ${phase}`);
  const sent = performance.now();
  started.child.kill(signal);
  const run = await started.done;
  const seconds = (performance.now() - sent) / 1000;
  expect(run.code, run.stderr).toBe(130);
  expect(run.stderr.trimEnd().split('\n').at(-1)).toBe(`net-trim: cancelled by ${signal}: nothing was written`);
  expect(run.stdout).toBe('');
  expect(seconds, `${phase}: stopped ${seconds.toFixed(2)} s after ${signal}`).toBeLessThan(5);
  // Nothing written: no output folder, and no temporary file beside where it would be.
  expect(existsSync(out)).toBe(false);
  expect((await readdir(root)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
}

describe('Ctrl-C in every phase of net-trim prune (cpu backend)', () => {
  const phases = ['loading', 'forward pass', 'setup dense_1', 'iterations dense_1 50', 'setup dense_2', 'writing'];
  for (const [i, phase] of phases.entries()) {
    const signal = i % 2 ? 'SIGTERM' : 'SIGINT';
    it(`${signal} at "${phase}": exit 130 within seconds, nothing written`, { timeout: 120_000 }, async () => {
      const out = join(root, `out-cpu-${i}`);
      await cancelAt(pruneArgs('cpu', out, phase), phase, signal, out);
    });
  }
});

describe.skipIf(!gpu)('Ctrl-C on the webgpu backend', () => {
  for (const phase of ['forward pass', 'setup dense_1', 'iterations dense_1 50', 'writing'])
    it(`SIGINT at "${phase}": exit 130 within seconds, nothing written`, { timeout: 120_000 }, async () => {
      const out = join(root, `out-gpu-${phase.replace(/\W/g, '')}`);
      await cancelAt(pruneArgs('webgpu', out, phase), phase, 'SIGINT', out);
    });
});

describe('Ctrl-C in net-trim layer', () => {
  it('SIGINT during the iterations of a CPU solve: exit 130, no weights written', { timeout: 120_000 }, async () => {
    const [P, N, M] = [3000, 120, 60];
    const X = gaussianMatrix(P, N, 1);
    const Y = gaussianMatrix(P, M, 2);
    await writeFile(join(root, 'X.npy'), serializeNpy({ shape: [P, N], dtype: 'float64', data: X }));
    await writeFile(join(root, 'Y.npy'), serializeNpy({ shape: [P, M], dtype: 'float64', data: Y }));
    const out = join(root, 'W.npy');
    const args = ['layer', '--input', join(root, 'X.npy'), '--target', join(root, 'Y.npy'), '--activation', 'linear', '--epsilon-gain', '0.001', '--backend', 'cpu', '--out-weights', out];
    await cancelAt(args, 'iterations layer 50', 'SIGINT', out);
  });
});
