// Progress events and cancelling, in the library (pruneNetwork, solveLayer) and as the CLI shows
// them (bars on a terminal, lines otherwise). Promptness is counted in convergence checks, never
// in seconds: after the abort, not one more check may be reported.
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { createProgress } from '../src/cli/progress.js';
import type { DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { solveLayer } from '../src/solver/solveLayer.js';
import type { SolveProgress } from '../src/solver/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

function denseLayer(name: string, inputs: number, units: number, seed: number, activation: DenseLayer['activation']): DenseLayer {
  const values = gaussianMatrix(inputs, units, seed);
  const pick = mulberry32(seed + 1);
  const kernel = Float32Array.from(values, (v) => (pick() < 0.3 ? v : 0.005 * v) / Math.sqrt(inputs * 0.3));
  const bias = Float32Array.from(gaussianMatrix(1, units, seed + 2), (v) => 0.1 * v);
  return { kind: 'dense', name, kernel, inputs, units, bias, activation };
}

const network: Network = {
  inputShape: [16],
  layers: [denseLayer('hidden_1', 16, 24, 10, 'relu'), denseLayer('hidden_2', 24, 20, 20, 'relu'), denseLayer('logits', 20, 4, 30, 'linear')],
};
const samples = { data: Float32Array.from(gaussianMatrix(300, 16, 1)), count: 300 };
/** Tolerances no solve meets: every layer runs to its iteration limit, one check every 50 iterations. */
const NEVER_CONVERGES = { tolerances: { relative: 1e-14, absolute: 1e-16 }, maxIterations: 500 };

function nonzeros(layer: DenseLayer): number {
  return [...layer.kernel, ...(layer.bias ?? [])].filter((v) => v !== 0).length;
}

const backends = [
  ['cpu', undefined],
  ['webgpu', gpu],
] as const;

for (const [backend, device] of backends) {
  describe.skipIf(backend === 'webgpu' && !device)(`progress and cancelling (${backend})`, () => {
    const base = { backend, gpu: device ?? undefined, epsilonGain: 0.02 } as const;

    it('pruneNetwork reports each layer start, every convergence check, and each layer done, in order', async () => {
      const events: string[] = [];
      const checks = new Map<string, SolveProgress[]>();
      const result = await pruneNetwork(network, samples, {
        ...base,
        onLayerStart: (e) => events.push(`start ${e.name} ${e.position + 1}/${e.total}`),
        onProgress: ({ name, ...p }) => {
          if (!checks.has(name)) checks.set(name, []);
          checks.get(name)!.push(p);
          if (events.at(-1) !== `check ${name}`) events.push(`check ${name}`);
        },
        onLayerDone: (e) => events.push(`done ${e.name} ${e.nonzerosAfter}`),
      });
      const pruned = (name: string) => result.network.layers.find((l) => l.name === name) as DenseLayer;
      expect(events).toEqual(
        ['hidden_1', 'hidden_2', 'logits'].flatMap((name, i) => [`start ${name} ${i + 1}/3`, `check ${name}`, `done ${name} ${nonzeros(pruned(name))}`]),
      );
      for (const layer of result.layers) {
        const seen = checks.get(layer.name)!;
        expect(seen.map((p) => p.iteration)).toEqual(seen.map((_, i) => 50 * (i + 1)));
        expect(seen.at(-1)!.iteration).toBe(layer.iterations);
        // The report's history is what the callback saw.
        expect(layer.history).toEqual(seen);
      }
    });

    it('cancelling during a layer stops at the next check and rejects with the reason', async () => {
      const controller = new AbortController();
      const reason = new Error('cancelled by the test');
      const starts: string[] = [];
      const dones: string[] = [];
      let checksAfterAbort = 0;
      let checksBefore = 0;
      const run = pruneNetwork(network, samples, {
        ...base,
        solver: NEVER_CONVERGES,
        signal: controller.signal,
        onLayerStart: (e) => starts.push(e.name),
        onLayerDone: (e) => dones.push(e.name),
        onProgress: (e) => {
          if (controller.signal.aborted) checksAfterAbort++;
          else if (e.name === 'hidden_2' && ++checksBefore === 2) controller.abort(reason);
        },
      });
      await expect(run).rejects.toBe(reason);
      expect(checksAfterAbort).toBe(0);
      expect(starts).toEqual(['hidden_1', 'hidden_2']);
      expect(dones).toEqual(['hidden_1']);
    });

    it('an already cancelled signal solves nothing', async () => {
      const controller = new AbortController();
      controller.abort(new Error('too late'));
      let started = 0;
      await expect(pruneNetwork(network, samples, { ...base, signal: controller.signal, onLayerStart: () => started++ })).rejects.toThrow('too late');
      expect(started).toBe(0);
    });

    it('solveLayer: cancelling stops at the next check', async () => {
      const X = { rows: 200, cols: 12, data: gaussianMatrix(200, 12, 3) };
      const Y = { rows: 200, cols: 5, data: gaussianMatrix(200, 5, 4).map((v) => Math.max(v, 0)) };
      const controller = new AbortController();
      const iterations: number[] = [];
      const run = solveLayer({
        X,
        Y,
        backend,
        gpu: device ?? undefined,
        ...NEVER_CONVERGES,
        maxIterations: 5000,
        signal: controller.signal,
        onProgress: (p) => {
          iterations.push(p.iteration);
          if (p.iteration === 100) controller.abort();
        },
      });
      await expect(run).rejects.toMatchObject({ name: 'AbortError' });
      expect(iterations).toEqual([50, 100]);
    });
  });
}

/** A stream that records what is written; isTTY makes cli-progress draw bars. */
function recorder(isTTY: boolean): NodeJS.WriteStream & { text: () => string } {
  let written = '';
  const stream = new Writable({
    write(chunk, _encoding, done) {
      written += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream & { text: () => string };
  Object.assign(stream, { isTTY, columns: 160, rows: 40, text: () => written });
  return stream;
}

const check = (iteration: number, primal: number): SolveProgress => ({
  iteration,
  primalResidual: primal,
  dualResidual: primal / 2,
  primalTolerance: 1e-3,
  dualTolerance: 1e-3,
  rho: 10,
  seconds: iteration / 100,
});

describe('progress on the command line', () => {
  const done = { nonzerosBefore: 50240, nonzerosAfter: 10313, iterations: 200, converged: true, seconds: 1.5 };

  it('a terminal gets a bar per layer with the residuals, then the nonzeros', async () => {
    const stream = recorder(true);
    const progress = createProgress('bars', stream);
    progress.start('dense_1', 0, 2);
    progress.update('dense_1', check(50, 0.1));
    progress.update('dense_1', check(100, 0.01));
    progress.done('dense_1', done);
    progress.start('dense_2', 1, 2);
    progress.update('dense_2', check(50, 0.05));
    progress.stop();
    // Strip the cursor movements and keep the last frame of each bar.
    const text = stream.text().replace(/\x1B\[[0-9;?]*[A-Za-z]|\x1B[78]/g, '\n');
    expect(text).toMatch(/1\/2 dense_1 █+ +\d+\.\d s +it 200 +converged +nonzeros 50,240 -> 10,313 \(20\.5%\)/);
    expect(text).toMatch(/2\/2 dense_2 [█░]+ +\d+\.\d s +it 50 +primal 5\.0e-2 \(tol 1\.0e-3\) +dual 2\.5e-2 \(tol 1\.0e-3\) +rho 10/);
  });

  it('a pipe gets plain lines, and --quiet nothing', () => {
    const stream = recorder(false);
    const progress = createProgress('lines', stream);
    progress.setContext('g=0.03');
    progress.start('dense_1', 0, 3);
    progress.update('dense_1', check(50, 0.1));
    progress.done('dense_1', done);
    progress.stop();
    expect(stream.text().split('\n')).toEqual([
      '[g=0.03 1/3 dense_1] solving',
      '[g=0.03 1/3 dense_1] converged after 200 iterations in 1.5 s: nonzeros 50,240 -> 10,313 (20.5%)',
      '',
    ]);
    const quiet = recorder(false);
    const none = createProgress('none', quiet);
    none.start('dense_1', 0, 1);
    none.update('dense_1', check(50, 0.1));
    none.done('dense_1', done);
    none.stop();
    expect(quiet.text()).toBe('');
  });
});
