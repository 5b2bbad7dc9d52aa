// The pieces of a distributed run that need no Redis: the store's round trip of a layer program
// and its result, its arrays shared between programs and checked against their hashes, and
// pruneNetwork's solveProgram seam (a local stand-in for the workers).
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
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

/** Every file under `folder` with its size, by path relative to it. */
async function sizesUnder(folder: string): Promise<Map<string, number>> {
  const entries = (await readdir(folder, { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  const sizes = new Map<string, number>();
  for (const e of entries) sizes.set(join(e.parentPath, e.name).slice(folder.length + 1), (await stat(join(e.parentPath, e.name))).size);
  return sizes;
}

const sum = (values: Iterable<number>) => [...values].reduce((a, b) => a + b, 0);
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest('hex');
const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The program.json of `key`, as the test reads it (not through the store). */
async function programJson(location: string, key: string): Promise<{ arrays: Record<string, string> } & Record<string, unknown>> {
  return JSON.parse(await readFile(join(location, 'programs', key, 'program.json'), 'utf8'));
}

/** Writes `json` as a program the way a store would (under the SHA-256 of its bytes) and returns its key. */
async function plantProgram(location: string, json: unknown): Promise<string> {
  const bytes = JSON.stringify(json, null, 1) + '\n';
  const key = sha256(bytes);
  await mkdir(join(location, 'programs', key), { recursive: true });
  await writeFile(join(location, 'programs', key, 'program.json'), bytes);
  return key;
}

/** Two column blocks of one dense layer: the same X (float32), their own Y (float64). */
function blockPrograms(): [StoredProgram, StoredProgram] {
  const X = { rows: 40, cols: 7, data: f32(40, 7, 21) };
  const block = (seed: number, epsilon: number): StoredProgram => ({ X, Y: { rows: 40, cols: 3, data: f64(40, 3, seed).map((v) => Math.max(v, 0)) }, epsilon, activation: 'relu', maxIterations: 100 });
  return [block(22, 0.5), block(23, 0.75)];
}

describe('FileLayerStore', () => {
  it('gives back a program as it was put (arrays, dtypes, ±Infinity), under a key of its contents', async () => {
    const store = await FileLayerStore.open(join(root, 'a'));
    const program = convProgram(0.5);
    const first = await store.putProgram(program);
    expect(first.key).toMatch(/^[0-9a-f]{64}$/);
    // A fresh store: every byte on disk is this program's (images, Y, V, offset, 4 warm arrays, program.json).
    const sizes = await sizesUnder(store.location);
    expect(first.bytes).toBe(sum(sizes.values()));
    expect([...sizes.keys()].filter((f) => f.startsWith('arrays/')).length).toBe(8);
    expect([...sizes.keys()].filter((f) => f.startsWith('programs/'))).toEqual([`programs/${first.key}/program.json`]);
    expect(first.key).toBe(sha256(await readFile(join(store.location, 'programs', first.key, 'program.json'))));
    const back = await store.getProgram(first.key);
    expect(back).toEqual(program);
    expect((back.X as { images: Float32Array }).images).toBeInstanceOf(Float32Array);
    expect(back.Y.data).toBeInstanceOf(Float64Array);
    expect(back.V!.data).toBeInstanceOf(Float64Array);
    expect(back.offset!.data).toBeInstanceOf(Float64Array);
    expect(back.warmStart!.U1).toBeInstanceOf(Float32Array);
    expect(Array.from(back.warmStart!.W2)).toEqual(Array.from(program.warmStart!.W2));
    expect(back.warmStart!.rho).toBe(0.7);
    expect(back.clip).toEqual([-Infinity, 6]);
    // The same program again: same key, nothing written; another ε: another key.
    expect(await store.putProgram(convProgram(0.5))).toEqual({ key: first.key, bytes: 0 });
    expect(await sizesUnder(store.location)).toEqual(sizes);
    // Another ε: another key, and only its program.json is new (its arrays are the first one's).
    const other = await store.putProgram(convProgram(0.25));
    expect(other.key).not.toBe(first.key);
    expect(other.bytes).toBe((await stat(join(store.location, 'programs', other.key, 'program.json'))).size);
    expect((await sizesUnder(store.location)).size).toBe(sizes.size + 1);
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

  it('writes an array two programs share once, and counts only the bytes it writes', async () => {
    const store = await FileLayerStore.open(join(root, 'shared'));
    const [a, b] = blockPrograms();
    const first = await store.putProgram(a, 'dense/block 0');
    const afterFirst = await sizesUnder(store.location);
    expect([...afterFirst.keys()].filter((f) => f.startsWith('arrays/')).length).toBe(2); // X, Y
    expect(first.bytes).toBe(sum(afterFirst.values()));
    const second = await store.putProgram(b, 'dense/block 1');
    const afterSecond = await sizesUnder(store.location);
    const added = [...afterSecond.keys()].filter((f) => !afterFirst.has(f)).sort();
    // Only the second Y and the second program.json: X is not written again.
    expect(added.length).toBe(2);
    expect(added.filter((f) => f.startsWith('arrays/')).length).toBe(1);
    expect(added).toContain(`programs/${second.key}/program.json`);
    expect(second.bytes).toBe(sum(added.map((f) => afterSecond.get(f)!)));
    // X (40×7 float32: a 128-byte .npy header and 1120 bytes) is 1248 bytes the second did not write.
    const json = [await programJson(store.location, first.key), await programJson(store.location, second.key)];
    expect(json[0].arrays.X).toBe(json[1].arrays.X);
    expect(json[0].arrays.Y).not.toBe(json[1].arrays.Y);
    expect(afterSecond.get(`arrays/${json[0].arrays.X}.npy`)).toBe(128 + 40 * 7 * 4);
    expect(first.bytes - second.bytes).toBe(1248 + afterFirst.get(`programs/${first.key}/program.json`)! - afterSecond.get(`programs/${second.key}/program.json`)!);
    // Each array file is named by the SHA-256 of its bytes.
    for (const f of [...afterSecond.keys()].filter((f) => f.startsWith('arrays/'))) expect(f).toBe(`arrays/${sha256(await readFile(join(store.location, f)))}.npy`);
    // Both come back whole; the same program again writes nothing.
    const back = await store.getProgram(second.key);
    expect(back).toEqual(b);
    expect(back.X).not.toHaveProperty('images');
    expect((back.X as { data: Float32Array }).data).toBeInstanceOf(Float32Array);
    expect(back.Y.data).toBeInstanceOf(Float64Array);
    expect(await store.getProgram(first.key)).toEqual(a);
    expect(await store.putProgram(b, 'dense/block 1')).toEqual({ key: second.key, bytes: 0 });
    expect(await sizesUnder(store.location)).toEqual(afterSecond);
    // An array deleted from the store is written again by the next put, and only it.
    const y = join(store.location, 'arrays', `${json[1].arrays.Y}.npy`);
    const ySize = afterSecond.get(`arrays/${json[1].arrays.Y}.npy`)!;
    await rm(y);
    expect(await store.putProgram(b, 'dense/block 1')).toEqual({ key: second.key, bytes: ySize });
    expect(await store.getProgram(second.key)).toEqual(b);
  });

  it('refuses an array whose bytes do not hash to its name, and a hash that is not one, naming the file', async () => {
    const store = await FileLayerStore.open(join(root, 'damaged'));
    const [a, b] = blockPrograms();
    const { key } = await store.putProgram(a);
    const json = await programJson(store.location, key);
    const programPath = join(store.location, 'programs', key, 'program.json');
    // One byte of X's data changed: the .npy still parses, the hash does not match.
    const xPath = join(store.location, 'arrays', `${json.arrays.X}.npy`);
    const bytes = await readFile(xPath);
    bytes[bytes.length - 3] ^= 0x40;
    await writeFile(xPath, bytes);
    await expect(store.getProgram(key)).rejects.toThrow(InputError);
    await expect(store.getProgram(key)).rejects.toThrow(new RegExp(`^${escape(xPath)}: expected bytes whose SHA-256 is the file's name, found ${sha256(bytes)} \\(the file is corrupted or truncated\\)$`));
    // X mended; Y of the second program (which shares X) truncated.
    bytes[bytes.length - 3] ^= 0x40;
    await writeFile(xPath, bytes);
    expect(await store.getProgram(key)).toEqual(a);
    const other = await store.putProgram(b);
    const yPath = join(store.location, 'arrays', `${(await programJson(store.location, other.key)).arrays.Y}.npy`);
    await truncate(yPath, 200);
    await expect(store.getProgram(other.key)).rejects.toThrow(new RegExp(`^${escape(yPath)}: expected bytes whose SHA-256`));
    // program.json changed in place: its bytes no longer hash to the key.
    await writeFile(programPath, (await readFile(programPath, 'utf8')).replace('"epsilon": 0.5', '"epsilon": 5'));
    await expect(store.getProgram(key)).rejects.toThrow(new RegExp(`^${escape(programPath)}: expected bytes whose SHA-256 is the program's key`));
    // A program.json (under its own hash) whose hash fields are a path, not hex, or missing.
    for (const [field, hash, shown] of [
      ['X', '../x', '"../x"'],
      ['Y', 'Z'.repeat(64), `"${'Z'.repeat(64)}"`],
      ['X', 'a'.repeat(63), `"${'a'.repeat(63)}"`],
      ['Y', undefined, 'nothing'],
      ['X', 7, '7'],
    ] as const) {
      const planted = await plantProgram(store.location, { ...json, arrays: { ...json.arrays, [field]: hash } });
      const path = join(store.location, 'programs', planted, 'program.json');
      const failure = store.getProgram(planted);
      await expect(failure).rejects.toThrow(InputError);
      await expect(store.getProgram(planted)).rejects.toThrow(`${path}: arrays.${field}: expected 64 hex digits (a SHA-256), found ${shown}`);
    }
    const noArrays = await plantProgram(store.location, { ...json, arrays: undefined });
    await expect(store.getProgram(noArrays)).rejects.toThrow(new RegExp(`^${escape(join(store.location, 'programs', noArrays, 'program.json'))}: arrays: expected an object`));
    // Nothing was read from outside the store's arrays/ (no file named x was created or touched).
    expect((await filesUnder(store.location)).filter((n) => n === 'x' || n === 'x.npy')).toEqual([]);
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

  it.each([1, 2])('hands every program over at once (column blocks: %i), through the store, and gets the local answer', async (columnBlocks) => {
    const store = await FileLayerStore.open(join(root, 'seam'));
    const local = await pruneNetwork(network(), samples, { ...options, columnBlocks });
    const programs = 3 * columnBlocks; // a layer's blocks too are handed over together
    const arrived: LayerSolveRequest[] = [];
    let release: () => void = () => {};
    const all = new Promise<void>((resolve) => (release = resolve));
    const remote = await pruneNetwork(network(), samples, {
      ...options,
      columnBlocks,
      solveProgram: async (request, context) => {
        arrived.push(request);
        if (arrived.length === programs) release();
        // Every program must be handed over before any is answered (no budget holds them back).
        await Promise.race([all, new Promise((_, reject) => setTimeout(() => reject(new Error(`only ${arrived.length} of ${programs} programs handed over`)), 5000))]);
        const { key } = await store.putProgram(request.options);
        await store.putResult(key, await solveLayer({ ...(await store.getProgram(key)), backend: 'cpu', signal: context.signal, onProgress: context.onProgress }));
        return (await store.getResult(key))!;
      },
    });
    expect(arrived.map((r) => r.name).sort()).toEqual(['conv', 'hidden', 'logits'].flatMap((name) => Array(columnBlocks).fill(name)));
    expect(new Set(arrived.map((r) => r.key)).size).toBe(programs);
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
