// The pieces of a distributed run that need no Redis: the store's round trip of a layer program
// and its result, and pruneNetwork's solveProgram seam (a local stand-in for the workers).
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileLayerStore, type StoredProgram } from '../src/distributed/store.js';
import { InputError } from '../src/errors.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork, type LayerSolveRequest } from '../src/prune/pruneNetwork.js';
import { solveLayer } from '../src/solver/solveLayer.js';
import { gaussianMatrix } from './helpers/random.js';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'net-trim-store-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

const f64 = (rows: number, cols: number, seed: number) => gaussianMatrix(rows, cols, seed);
const f32 = (rows: number, cols: number, seed: number) => Float32Array.from(gaussianMatrix(rows, cols, seed));

/** A conv program (image patches, float32 images) with every optional part a program can have. */
function convProgram(epsilon: number): StoredProgram {
  const images = f32(2 * 5 * 5 * 3, 1, 1);
  const X = { images, count: 2, inH: 5, inW: 5, channels: 3, kernelH: 3, kernelW: 3, strideH: 1, strideW: 1, padTop: 0, padLeft: 0, outH: 3, outW: 3 };
  const P = 2 * 3 * 3;
  return {
    X,
    Y: { rows: P, cols: 4, data: f64(P, 4, 2).map((v) => Math.min(Math.max(v, -1), 6)) },
    V: { rows: P, cols: 4, data: f64(P, 4, 3) },
    offset: { rows: P, cols: 4, data: f64(P, 4, 4) },
    activation: 'clip',
    clip: [-Infinity, 6],
    epsilon,
    bias: true,
    maxIterations: 300,
    tolerances: { relative: 1e-3 },
    warmStart: { W3: f32(28, 4, 5), W2: f32(28, 4, 6), U1: f32(P, 4, 7), U2: f32(28, 4, 8), rho: 0.7 },
  };
}

async function filesUnder(folder: string): Promise<string[]> {
  return (await readdir(folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()).map((e) => e.name);
}

describe('FileLayerStore', () => {
  it('gives back a program as it was put (arrays, dtypes, ±Infinity), under a key of its contents', async () => {
    const store = await FileLayerStore.open(join(root, 'a'));
    const program = convProgram(0.5);
    const first = await store.putProgram(program);
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
    expect(first.bytes).toBeGreaterThan(0);
    const back = await store.getProgram(first.key);
    expect(back).toEqual(program);
    expect((back.X as { images: Float32Array }).images).toBeInstanceOf(Float32Array);
    expect(back.Y.data).toBeInstanceOf(Float64Array);
    // The same program again: same key, nothing written; another ε: another key.
    expect(await store.putProgram(convProgram(0.5))).toEqual({ key: first.key, bytes: 0 });
    expect((await store.putProgram(convProgram(0.25))).key).not.toBe(first.key);
    expect((await filesUnder(store.location)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('keeps a result beside its program, and has none before it is solved', async () => {
    const store = await FileLayerStore.open(join(root, 'b'));
    const program: StoredProgram = { X: { rows: 30, cols: 6, data: f64(30, 6, 9) }, Y: { rows: 30, cols: 2, data: f64(30, 2, 10).map((v) => Math.max(v, 0)) }, epsilon: 1, maxIterations: 200 };
    const { key } = await store.putProgram(program);
    expect(await store.getResult(key)).toBeNull();
    const result = await solveLayer({ ...program, backend: 'cpu' });
    await store.putResult(key, result);
    const back = await store.getResult(key);
    expect(back!.weights).toEqual(result.weights);
    expect(back!.bias).toEqual(result.bias);
    expect(back!.state).toEqual(result.state);
    expect(back!.report).toEqual(result.report);
    // Solved twice: the same files, no temporary one left.
    await store.putResult(key, result);
    expect((await store.getResult(key))!.weights).toEqual(result.weights);
    expect((await filesUnder(store.location)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses a key that is not a hash and a store path that is a file, naming them', async () => {
    const store = await FileLayerStore.open(join(root, 'c'));
    await expect(store.getProgram('../../etc')).rejects.toThrow(/store key: expected 64 hex digits, found '\.\.\/\.\.\/etc'/);
    await expect(store.getProgram('0'.repeat(64))).rejects.toThrow(InputError);
    const file = join(root, 'c', 'programs', 'a-file');
    await writeFile(file, 'x');
    await expect(FileLayerStore.open(file)).rejects.toThrow(/^--store .*a-file: expected a folder, found a file$/);
  });
});

function dense(name: string, inputs: number, units: number, seed: number, activation: DenseLayer['activation']): DenseLayer {
  const kernel = Float32Array.from(gaussianMatrix(inputs, units, seed), (v) => v / Math.sqrt(inputs));
  return { kind: 'dense', name, kernel, inputs, units, bias: Float32Array.from(gaussianMatrix(1, units, seed + 1), (v) => 0.1 * v), activation };
}

function network(): Network {
  const kernel = Float32Array.from(gaussianMatrix(3 * 3 * 2, 4, 40), (v) => v / 3);
  const conv: Conv2DLayer = { kind: 'conv2d', name: 'conv', kernel, kernelSize: [3, 3], inChannels: 2, filters: 4, bias: new Float32Array(4), strides: [1, 1], padding: 'same', activation: 'relu' };
  return { inputShape: [6, 6, 2], layers: [conv, { kind: 'flatten', name: 'flatten' }, dense('hidden', 144, 12, 50, 'relu'), dense('logits', 12, 3, 60, 'linear')] };
}

describe('pruneNetwork with solveProgram', () => {
  const samples = { data: Float32Array.from(gaussianMatrix(40, 72, 70)), count: 40 };
  const options = { mode: 'parallel' as const, backend: 'cpu' as const, epsilonGain: 0.05, solver: { maxIterations: 400 } };

  it('hands every layer over at once, through the store, and gets the local answer', async () => {
    const store = await FileLayerStore.open(join(root, 'seam'));
    const local = await pruneNetwork(network(), samples, options);
    const arrived: LayerSolveRequest[] = [];
    let release: () => void = () => {};
    const all = new Promise<void>((resolve) => (release = resolve));
    const remote = await pruneNetwork(network(), samples, {
      ...options,
      solveProgram: async (request, context) => {
        arrived.push(request);
        if (arrived.length === 3) release();
        // Every layer must be handed over before any is answered (no budget holds them back).
        await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${arrived.length} of 3 layers handed over`)), 5000))]);
        const { key } = await store.putProgram(request.options);
        await store.putResult(key, await solveLayer({ ...(await store.getProgram(key)), backend: 'cpu', signal: context.signal, onProgress: context.onProgress }));
        return (await store.getResult(key))!;
      },
    });
    expect(arrived.map((r) => r.name).sort()).toEqual(['conv', 'hidden', 'logits']);
    expect(remote.layers.map((l) => l.nonzerosAfter)).toEqual(local.layers.map((l) => l.nonzerosAfter));
    expect(remote.layers.map((l) => l.nonzerosAfter).reduce((a, b) => a + b)).toBeLessThan(local.nonzerosBefore);
    for (const [i, layer] of remote.network.layers.entries()) if ('kernel' in layer) expect(layer.kernel).toEqual((local.network.layers[i] as DenseLayer).kernel);
    expect(remote.relativeDiscrepancy).toBe(local.relativeDiscrepancy);
  });

  it('fails at the first failed layer, cancelling the others, and refuses cascade mode', async () => {
    const cancelled: string[] = [];
    const failure = pruneNetwork(network(), samples, {
      ...options,
      solveProgram: (request, context) =>
        new Promise((_, reject) => {
          if (request.name === 'hidden') return void setTimeout(() => reject(new InputError('hidden: bad')), 50);
          context.signal?.addEventListener('abort', () => {
            cancelled.push(request.name);
            reject(context.signal!.reason);
          });
        }),
    });
    await expect(failure).rejects.toThrow(/^hidden: bad$/);
    expect(cancelled.sort()).toEqual(['conv', 'logits']);
    await expect(pruneNetwork(network(), samples, { ...options, mode: 'cascade', solveProgram: () => Promise.reject(new Error('unused')) })).rejects.toThrow(/solveProgram: expected mode 'parallel'/);
  });
});
