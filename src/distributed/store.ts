// The store of a distributed run. Each layer program is a folder `programs/<key>/` holding its
// program.json (written by the coordinator) and, once solved, its result (written by a worker).
// The program's input arrays (X or the images, Y, V, offset, a warm start) are not in that folder
// but in `arrays/<sha256 of the .npy bytes>.npy`, which program.json names by hash: the programs
// of a layer's column blocks, or of a sweep's gains, share one X, and it is written once. The key
// is the SHA-256 of program.json's bytes, which hold those hashes, so it still names the whole
// program. Every file goes in atomically (a temporary name, synced, then renamed); a program's
// arrays go in before its program.json, a result's .npy files before its result.json: a program
// or a result exists only once its JSON does, so a reader never sees one half-written. Writing the
// same program or result again writes the same bytes under the same names (idempotent). Machines
// share the store, so a reader checks every hash before it names a file, and the bytes of each
// array and program.json against their hash. The interface is small so that an object store can
// stand in for the file system.
import { createHash } from 'node:crypto';
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { readInputFile, readNpyFile, writeFilesAtomically } from '../io/files.js';
import { parseNpy, serializeNpy } from '../io/npy.js';
import type { LayerSolveRequest } from '../prune/layerPrograms.js';
import { isImagePatches } from '../solver/design.js';
import type { ImagePatches, LayerInput, Matrix, SolveLayerResult, SolverState } from '../solver/types.js';

/** A program as a worker solves it: solveLayer's options without the backend's and caller's parts. */
export type StoredProgram = LayerSolveRequest['options'];

export interface LayerStore {
  /** Where the store is, for messages and for the jobs' references. */
  readonly location: string;
  /**
   * Writes a program's inputs (nothing if they are already there) and returns its key and the
   * bytes written; `layer` (the layer's name) is kept with them for people and tools reading the
   * store.
   */
  putProgram(program: StoredProgram, layer?: string): Promise<{ key: string; bytes: number }>;
  getProgram(key: string): Promise<StoredProgram>;
  putResult(key: string, result: SolveLayerResult): Promise<{ bytes: number }>;
  /** The result, or null when the program has not been solved yet. */
  getResult(key: string): Promise<SolveLayerResult | null>;
}

const PROGRAM = 'program.json';
const RESULT = 'result.json';
const ARRAYS = 'arrays';
const STATE_ARRAYS = ['W3', 'W2', 'U1', 'U2'] as const;
/** Keys and array names are hex SHA-256s: nothing else is accepted as a file or folder name. */
const HASH = /^[0-9a-f]{64}$/;
const sha256 = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

/** JSON keeps ±Infinity (a clip's open side) as strings; everything else as numbers. */
const encodeNumber = (v: number) => (Number.isFinite(v) ? v : String(v));
const decodeNumber = (v: unknown, field: string): number => {
  const n = typeof v === 'string' ? Number(v) : v;
  if (typeof n !== 'number' || Number.isNaN(n)) throw new InputError(`${field}: expected a number, found ${JSON.stringify(v)}`);
  return n;
};

function npy(data: Float32Array | Float64Array, shape: number[]): Uint8Array {
  return serializeNpy({ shape, dtype: data instanceof Float32Array ? 'float32' : 'float64', data });
}

/**
 * A program as stored: its arrays as .npy bytes by hash (one entry per distinct array), and
 * program.json, which holds everything else and names each array by its field and hash.
 */
function programFiles(program: StoredProgram, layer: string | undefined): { arrays: Map<string, Uint8Array>; json: Uint8Array } {
  const hashes: Record<string, string> = {};
  const arrays = new Map<string, Uint8Array>();
  const add = (field: string, bytes: Uint8Array) => {
    hashes[field] = sha256(bytes);
    arrays.set(hashes[field], bytes);
  };
  const { X, Y, V, offset, warmStart, clip, ...rest } = program;
  let patches: Omit<ImagePatches, 'images'> | undefined;
  if (isImagePatches(X)) {
    const { images, ...shape } = X;
    patches = shape;
    add('images', npy(images, [images.length]));
  } else add('X', npy(X.data, [X.rows, X.cols]));
  add('Y', npy(Y.data, [Y.rows, Y.cols]));
  if (V) add('V', npy(V.data, [V.rows, V.cols]));
  if (offset) add('offset', npy(offset.data, [offset.rows, offset.cols]));
  if (warmStart) for (const name of STATE_ARRAYS) add(`warm-${name}`, npy(warmStart[name], [warmStart[name].length]));
  const json = {
    ...(layer !== undefined ? { layer } : {}),
    ...rest,
    ...(patches ? { patches } : {}),
    ...(clip ? { clip: clip.map(encodeNumber) } : {}),
    ...(warmStart ? { warmStartRho: warmStart.rho } : {}),
    arrays: hashes,
  };
  return { arrays, json: new TextEncoder().encode(JSON.stringify(json, null, 1) + '\n') };
}

function resultFiles(result: SolveLayerResult): Array<{ name: string; bytes: Uint8Array }> {
  const { weights, bias, report, state } = result;
  const files = [{ name: 'weights.npy', bytes: npy(weights.data, [weights.rows, weights.cols]) }];
  if (bias) files.push({ name: 'bias.npy', bytes: npy(bias, [bias.length]) });
  for (const name of STATE_ARRAYS) files.push({ name: `state-${name}.npy`, bytes: npy(state[name], [state[name].length]) });
  // A report's numbers may be ±Infinity (an unbounded dual): keep them.
  const json = JSON.stringify({ report, rho: state.rho, bias: bias !== null }, (_, v) => (typeof v === 'number' ? encodeNumber(v) : v), 1);
  files.push({ name: RESULT, bytes: new TextEncoder().encode(json + '\n') });
  return files;
}

const total = (files: Array<{ bytes: Uint8Array }>) => files.reduce((s, f) => s + f.bytes.length, 0);

/** The store as a folder on a file system every machine mounts (NFS, a cluster file system, …). */
export class FileLayerStore implements LayerStore {
  readonly location: string;

  constructor(folder: string) {
    this.location = resolve(folder);
  }

  /**
   * Makes the store's folder (and its parents) if missing, unless `create` is false (a worker: a
   * missing store is a mount missing on its machine); refuses a path that is not a folder.
   */
  static async open(folder: string, option = '--store', create = true): Promise<FileLayerStore> {
    const store = new FileLayerStore(folder);
    const info = await stat(store.location).catch(() => null);
    if (info && !info.isDirectory()) throw new InputError(`${option} ${folder}: expected a folder, found a file`);
    if (!info && !create) throw new InputError(`${option} ${folder}: no such folder on this machine (mount the coordinator's store here, or pass the worker --store with its path here)`);
    try {
      await mkdir(join(store.location, 'programs'), { recursive: true });
      await mkdir(join(store.location, ARRAYS), { recursive: true });
    } catch (error) {
      throw new InputError(`${option} ${folder}: cannot create the folder: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return store;
  }

  private folder(key: string): string {
    if (!HASH.test(key)) throw new InputError(`store key: expected 64 hex digits, found '${key}'`);
    return join(this.location, 'programs', key);
  }

  private async exists(path: string): Promise<boolean> {
    return (await stat(path).catch(() => null))?.isFile() ?? false;
  }

  /**
   * Writes the program's arrays missing from arrays/ (those another program or an earlier run
   * wrote are reused; one deleted is written again), then its program.json if missing; the bytes
   * returned are those written.
   */
  async putProgram(program: StoredProgram, layer?: string): Promise<{ key: string; bytes: number }> {
    const { arrays, json } = programFiles(program, layer);
    const key = sha256(json);
    const folder = this.folder(key);
    const missing: Array<{ path: string; bytes: Uint8Array }> = [];
    for (const [hash, bytes] of arrays) {
      const path = join(this.location, ARRAYS, `${hash}.npy`);
      if (!(await this.exists(path))) missing.push({ path, bytes });
    }
    if (missing.length > 0) await mkdir(join(this.location, ARRAYS), { recursive: true });
    await writeFilesAtomically(missing);
    if (await this.exists(join(folder, PROGRAM))) return { key, bytes: total(missing) };
    await mkdir(folder, { recursive: true });
    await writeFilesAtomically([{ path: join(folder, PROGRAM), bytes: json }]);
    return { key, bytes: total(missing) + json.length };
  }

  async getProgram(key: string): Promise<StoredProgram> {
    const path = join(this.folder(key), PROGRAM);
    const bytes = await readInputFile(path);
    if (sha256(bytes) !== key) throw new InputError(`${path}: expected bytes whose SHA-256 is the program's key, found ${sha256(bytes)} (the file is corrupted or truncated)`);
    const json = parseJson(bytes, path);
    const { arrays, patches, clip, warmStartRho, layer: _label, ...rest } = json as Record<string, unknown> & {
      arrays?: Record<string, unknown>;
      patches?: Omit<ImagePatches, 'images'>;
      clip?: unknown[];
      warmStartRho?: number;
      layer?: string;
    };
    if (typeof arrays !== 'object' || arrays === null || Array.isArray(arrays))
      throw new InputError(`${path}: arrays: expected an object of SHA-256 hashes, found ${JSON.stringify(arrays)}`);
    const has = (field: string) => Object.hasOwn(arrays, field);
    // The hash becomes a file name, and the file may have been damaged on any machine: check both.
    const array = async (field: string) => {
      const hash = arrays[field];
      if (typeof hash !== 'string' || !HASH.test(hash)) throw new InputError(`${path}: arrays.${field}: expected 64 hex digits (a SHA-256), found ${JSON.stringify(hash) ?? 'nothing'}`);
      const file = join(this.location, ARRAYS, `${hash}.npy`);
      const bytes = await readInputFile(file);
      const found = sha256(bytes);
      if (found !== hash) throw new InputError(`${file}: expected bytes whose SHA-256 is the file's name, found ${found} (the file is corrupted or truncated)`);
      return parseNpy(bytes, file, { dtypes: ['float32', 'float64'] });
    };
    const matrix = async (field: string): Promise<Matrix> => {
      const a = await array(field);
      if (a.shape.length !== 2) throw new InputError(`${path}: arrays.${field}: shape: expected 2 dimensions, found ${a.shape.length}`);
      return { rows: a.shape[0], cols: a.shape[1], data: a.data as Float32Array | Float64Array };
    };
    const vector = async (field: string) => (await array(field)).data as Float32Array | Float64Array;
    const X: LayerInput = patches ? { ...patches, images: await vector('images') } : await matrix('X');
    const warm = async (): Promise<SolverState> => {
      const [W3, W2, U1, U2] = await Promise.all(STATE_ARRAYS.map(async (n) => Float32Array.from(await vector(`warm-${n}`))));
      return { W3, W2, U1, U2, rho: decodeNumber(warmStartRho, `${path}: warmStartRho`) };
    };
    return {
      ...(rest as Partial<StoredProgram>),
      X,
      Y: await matrix('Y'),
      ...(has('V') ? { V: await matrix('V') } : {}),
      ...(has('offset') ? { offset: await matrix('offset') } : {}),
      ...(clip ? { clip: clip.map((v, i) => decodeNumber(v, `${path}: clip[${i}]`)) as [number, number] } : {}),
      ...(warmStartRho !== undefined ? { warmStart: await warm() } : {}),
    };
  }

  async putResult(key: string, result: SolveLayerResult): Promise<{ bytes: number }> {
    const folder = this.folder(key);
    const files = resultFiles(result);
    await writeFilesAtomically(files.map(({ name, bytes }) => ({ path: join(folder, name), bytes })));
    return { bytes: total(files) };
  }

  async getResult(key: string): Promise<SolveLayerResult | null> {
    const folder = this.folder(key);
    const path = join(folder, RESULT);
    if (!(await this.exists(path))) return null;
    const json = parseJson(await readInputFile(path), path, (_, v) => (v === 'Infinity' || v === '-Infinity' ? Number(v) : v)) as {
      report: SolveLayerResult['report'];
      rho: number;
      bias: boolean;
    };
    const read = async (name: string) => readNpyFile(join(folder, name), { dtypes: ['float32'] });
    const weights = await read('weights.npy');
    const [W3, W2, U1, U2] = await Promise.all(STATE_ARRAYS.map(async (n) => (await read(`state-${n}.npy`)).data as Float32Array));
    return {
      weights: { rows: weights.shape[0], cols: weights.shape[1], data: weights.data as Float32Array },
      bias: json.bias ? ((await read('bias.npy')).data as Float32Array) : null,
      report: json.report,
      state: { W3, W2, U1, U2, rho: json.rho },
    };
  }
}

function parseJson(bytes: Uint8Array, path: string, reviver?: (key: string, value: unknown) => unknown): Record<string, unknown> {
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes), reviver);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
    return value;
  } catch (error) {
    throw new InputError(`${path}: expected a JSON object, found invalid JSON (${(error as Error).message})`);
  }
}
