// The store of a distributed run: one folder per layer program, named by a hash of its contents,
// holding the program's inputs (written by the coordinator) and, once solved, its result (written
// by a worker). Every file goes in atomically (a temporary name, synced, then renamed), and the
// JSON file of each half is renamed in last: a program or a result exists only once its JSON
// does, so a reader never sees one half-written. Writing the same program or result again writes
// the same bytes under the same names (idempotent). The interface is small so that an object
// store can stand in for the file system.
import { createHash } from 'node:crypto';
import { mkdir, readdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { readInputFile, readNpyFile, writeFilesAtomically } from '../io/files.js';
import { serializeNpy } from '../io/npy.js';
import type { LayerSolveRequest } from '../prune/layerPrograms.js';
import { isImagePatches } from '../solver/design.js';
import type { ImagePatches, LayerInput, Matrix, SolveLayerResult, SolverState } from '../solver/types.js';

/** A program as a worker solves it: solveLayer's options without the backend's and caller's parts. */
export type StoredProgram = LayerSolveRequest['options'];

export interface LayerStore {
  /** Where the store is, for messages and for the jobs' references. */
  readonly location: string;
  /**
   * Writes a program's inputs (nothing if they are already there) and returns its key and size in
   * bytes; `layer` (the layer's name) is kept with them for people and tools reading the store.
   */
  putProgram(program: StoredProgram, layer?: string): Promise<{ key: string; bytes: number }>;
  getProgram(key: string): Promise<StoredProgram>;
  putResult(key: string, result: SolveLayerResult): Promise<{ bytes: number }>;
  /** The result, or null when the program has not been solved yet. */
  getResult(key: string): Promise<SolveLayerResult | null>;
}

const PROGRAM = 'program.json';
const RESULT = 'result.json';
const STATE_ARRAYS = ['W3', 'W2', 'U1', 'U2'] as const;
/** A key is the hex SHA-256 of the program's files: nothing else is accepted as a folder name. */
const KEY = /^[0-9a-f]{64}$/;

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

/** The files of a program: its arrays as .npy, everything else in program.json (last). */
function programFiles(program: StoredProgram, layer: string | undefined): Array<{ name: string; bytes: Uint8Array }> {
  const files: Array<{ name: string; bytes: Uint8Array }> = [];
  const { X, Y, V, offset, warmStart, clip, ...rest } = program;
  let patches: Omit<ImagePatches, 'images'> | undefined;
  if (isImagePatches(X)) {
    const { images, ...shape } = X;
    patches = shape;
    files.push({ name: 'images.npy', bytes: npy(images, [images.length]) });
  } else files.push({ name: 'X.npy', bytes: npy(X.data, [X.rows, X.cols]) });
  files.push({ name: 'Y.npy', bytes: npy(Y.data, [Y.rows, Y.cols]) });
  if (V) files.push({ name: 'V.npy', bytes: npy(V.data, [V.rows, V.cols]) });
  if (offset) files.push({ name: 'offset.npy', bytes: npy(offset.data, [offset.rows, offset.cols]) });
  if (warmStart) for (const name of STATE_ARRAYS) files.push({ name: `warm-${name}.npy`, bytes: npy(warmStart[name], [warmStart[name].length]) });
  const json = {
    ...(layer !== undefined ? { layer } : {}),
    ...rest,
    ...(patches ? { patches } : {}),
    ...(clip ? { clip: clip.map(encodeNumber) } : {}),
    ...(warmStart ? { warmStartRho: warmStart.rho } : {}),
  };
  files.push({ name: PROGRAM, bytes: new TextEncoder().encode(JSON.stringify(json, null, 1) + '\n') });
  return files;
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
    } catch (error) {
      throw new InputError(`${option} ${folder}: cannot create the folder: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
    return store;
  }

  private folder(key: string): string {
    if (!KEY.test(key)) throw new InputError(`store key: expected 64 hex digits, found '${key}'`);
    return join(this.location, 'programs', key);
  }

  private async exists(path: string): Promise<boolean> {
    return (await stat(path).catch(() => null))?.isFile() ?? false;
  }

  async putProgram(program: StoredProgram, layer?: string): Promise<{ key: string; bytes: number }> {
    const files = programFiles(program, layer);
    const hash = createHash('sha256');
    for (const { name, bytes } of files) hash.update(`${name}\0${bytes.length}\0`).update(bytes);
    const key = hash.digest('hex');
    const folder = this.folder(key);
    if (await this.exists(join(folder, PROGRAM))) return { key, bytes: 0 };
    await mkdir(folder, { recursive: true });
    await writeFilesAtomically(files.map(({ name, bytes }) => ({ path: join(folder, name), bytes })));
    return { key, bytes: total(files) };
  }

  async getProgram(key: string): Promise<StoredProgram> {
    const folder = this.folder(key);
    const path = join(folder, PROGRAM);
    const json = parseJson(await readInputFile(path), path);
    const present = new Set(await readdir(folder));
    const matrix = async (name: string): Promise<Matrix> => {
      const file = join(folder, name);
      const a = await readNpyFile(file, { dtypes: ['float32', 'float64'] });
      if (a.shape.length !== 2) throw new InputError(`${file}: shape: expected 2 dimensions, found ${a.shape.length}`);
      return { rows: a.shape[0], cols: a.shape[1], data: a.data as Float32Array | Float64Array };
    };
    const vector = async (name: string) => (await readNpyFile(join(folder, name), { dtypes: ['float32', 'float64'] })).data as Float32Array | Float64Array;
    const { patches, clip, warmStartRho, layer: _label, ...rest } = json as Record<string, unknown> & { patches?: Omit<ImagePatches, 'images'>; clip?: unknown[]; warmStartRho?: number; layer?: string };
    const X: LayerInput = patches ? { ...patches, images: await vector('images.npy') } : await matrix('X.npy');
    const warm = async (): Promise<SolverState> => {
      const [W3, W2, U1, U2] = await Promise.all(STATE_ARRAYS.map(async (n) => Float32Array.from(await vector(`warm-${n}.npy`))));
      return { W3, W2, U1, U2, rho: decodeNumber(warmStartRho, `${path}: warmStartRho`) };
    };
    return {
      ...(rest as Partial<StoredProgram>),
      X,
      Y: await matrix('Y.npy'),
      ...(present.has('V.npy') ? { V: await matrix('V.npy') } : {}),
      ...(present.has('offset.npy') ? { offset: await matrix('offset.npy') } : {}),
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
