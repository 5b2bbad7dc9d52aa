// Models and .npy arrays from what a web page holds: a File (dropped or picked), a Blob, an
// ArrayBuffer or typed array, a fetch Response, or a URL to fetch. Browser-safe (no Node
// built-ins); works in Node ≥ 20 too (fetch, Blob and File are globals there).
//
// The model is what Node's loadModelFile returns (same LoadedModel), so everything after loading
// is the same code in both: pruneNetwork(model.network, ...), model.serialize(result.network).
import { InputError } from '../errors.js';
import type { InputSizes } from '../io/inputSizes.js';
import type { LoadedModel } from '../io/loadedModel.js';
import { parseNpy, type NpyArray, type ParseNpyOptions } from '../io/npy.js';
import { isZip, parseNpz } from '../io/npz.js';
import { onnxImportNotes, parseOnnxModelWithData, writeOnnxModelFiles } from '../io/onnxModel.js';
import { resizingOf } from '../io/onnx/writer.js';
import { checkTfjsModelJson, parseTfjsModel, writeTfjsModel, tfjsImportNotes } from '../io/tfjsModel.js';

/** A loaded model: the same interface as Node's loadModelFile returns. */
export type { LoadedModel };

/** Bytes from memory, a Blob/File, a fetch Response, or a URL (string or URL) fetched here. */
export type ByteSource = ArrayBuffer | ArrayBufferView | Blob | Response | URL | string;

/** One named file of a set (a FileList, File[], or bytes with a name, e.g. sent to a worker). */
export type NamedSource = File | { name: string; bytes: ArrayBuffer | ArrayBufferView | Blob };

/**
 * A model: one source (model.json URL, whose weight shards are fetched beside it; a .onnx File,
 * URL or bytes), or a set of files holding model.json and its weight shards (or one .onnx file
 * and its external data files).
 */
export type ModelSource = ByteSource | Iterable<NamedSource> | ArrayLike<NamedSource>;

export interface SourceOptions {
  /** The name used in messages and to tell the format (default: the File's name or the URL). */
  name?: string;
  /** Passed to fetch for URLs (e.g. an AbortSignal, credentials). */
  fetchInit?: RequestInit;
}

const isBlob = (value: unknown): value is Blob => typeof Blob !== 'undefined' && value instanceof Blob;
const isResponse = (value: unknown): value is Response => typeof Response !== 'undefined' && value instanceof Response;
const isUrl = (value: unknown): value is string | URL => typeof value === 'string' || value instanceof URL;

/** A file's or URL's last path segment: the name that tells the format. */
function baseName(name: string): string {
  const path = name.split(/[?#]/)[0];
  return decodeURIComponentSafe(path.slice(path.lastIndexOf('/') + 1));
}

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

function extensionOf(name: string): string {
  const base = baseName(name);
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot).toLowerCase() : '';
}

function urlText(url: string | URL): string {
  return url instanceof URL ? url.href : url;
}

/** The URL's absolute form when it is relative to the page (so messages and shards resolve). */
function absoluteUrl(url: string | URL): URL {
  const base = (globalThis as { location?: { href: string } }).location?.href;
  try {
    return new URL(urlText(url), base);
  } catch {
    throw new InputError(`${urlText(url)}: expected a URL to fetch, found an invalid URL`);
  }
}

async function fetchBytes(url: string | URL, name: string, init: RequestInit | undefined, context: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(absoluteUrl(url), init);
  } catch (error) {
    if ((error as Error)?.name === 'AbortError') throw error;
    throw new InputError(`${name}: cannot fetch: ${(error as Error)?.message ?? error}${context}`);
  }
  return responseBytes(response, name, context);
}

async function responseBytes(response: Response, name: string, context: string): Promise<Uint8Array> {
  if (!response.ok) throw new InputError(`${name}: cannot fetch: HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}${context}`);
  return new Uint8Array(await response.arrayBuffer());
}

function viewBytes(source: ArrayBuffer | ArrayBufferView): Uint8Array {
  return source instanceof ArrayBuffer ? new Uint8Array(source) : new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
}

/** Reads any ByteSource; `name` is the source's name for messages (File name or URL by default). */
export async function readBytes(source: ByteSource, options: SourceOptions = {}): Promise<{ name: string; bytes: Uint8Array }> {
  if (isUrl(source)) {
    const name = options.name ?? urlText(source);
    return { name, bytes: await fetchBytes(source, name, options.fetchInit, '') };
  }
  if (isResponse(source)) {
    const name = options.name ?? (source.url || 'response');
    return { name, bytes: await responseBytes(source, name, '') };
  }
  if (isBlob(source)) {
    const name = options.name ?? ((source as File).name || 'blob');
    return { name, bytes: new Uint8Array(await source.arrayBuffer()) };
  }
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return { name: options.name ?? 'bytes', bytes: viewBytes(source) };
  throw new InputError(`${options.name ?? 'source'}: expected a File, Blob, ArrayBuffer, typed array, Response or URL, found ${describe(source)}`);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return `an object (${(value as object).constructor?.name ?? 'Object'})`;
  return typeof value;
}

/**
 * Reads a NumPy .npy array from a File, Blob, bytes, Response or URL (the browser's counterpart
 * of readNpyFile). Every error names the source: "digits.npy: descr: expected ..., found ...".
 */
export async function readNpy(source: ByteSource, options: ParseNpyOptions & SourceOptions = {}): Promise<NpyArray> {
  const { name, bytes } = await readBytes(source, options);
  return parseNpy(bytes, name, options);
}

/**
 * Reads samples from a File, Blob, bytes, Response or URL: one .npy array, or an .npz archive's
 * arrays by name (a model of several inputs: np.savez(path, input_ids=…, attention_mask=…)).
 */
export async function readSamples(source: ByteSource, options: SourceOptions = {}): Promise<NpyArray | Map<string, NpyArray>> {
  const { name, bytes } = await readBytes(source, options);
  return isZip(bytes) ? parseNpz(bytes, name) : parseNpy(bytes, name);
}

// ---------------------------------------------------------------------------------------------
// Models

function isCollection(source: ModelSource): source is Iterable<NamedSource> | ArrayLike<NamedSource> {
  if (isUrl(source) || isBlob(source) || isResponse(source) || source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return false;
  return typeof source === 'object' && source !== null && (Symbol.iterator in source || typeof (source as ArrayLike<unknown>).length === 'number');
}

function namedEntries(source: Iterable<NamedSource> | ArrayLike<NamedSource>): NamedSource[] {
  const entries = Symbol.iterator in source ? [...(source as Iterable<NamedSource>)] : Array.from(source as ArrayLike<NamedSource>);
  entries.forEach((entry, i) => {
    if (!entry || typeof entry.name !== 'string' || !(isBlob(entry) || ('bytes' in entry && entry.bytes !== undefined)))
      throw new InputError(`files[${i}]: expected a File or { name, bytes }, found ${describe(entry)}`);
  });
  return entries;
}

async function namedBytes(entry: NamedSource): Promise<Uint8Array> {
  if (isBlob(entry)) return new Uint8Array(await entry.arrayBuffer());
  const bytes = entry.bytes;
  return isBlob(bytes) ? new Uint8Array(await bytes.arrayBuffer()) : viewBytes(bytes);
}

const MODEL_KINDS = "a TF.js Layers model (model.json with its weight shards) or an ONNX model (.onnx)";

function parseJson(bytes: Uint8Array, name: string): unknown {
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new InputError(`${name}: expected a JSON model.json (TF.js Layers format), found malformed JSON: ${(error as Error).message}`);
  }
}

function concatenate(parts: Uint8Array[]): ArrayBuffer {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out.buffer;
}

async function tfjsModel(name: string, modelJson: unknown, shard: (path: string) => Promise<Uint8Array>, sizes?: InputSizes): Promise<LoadedModel> {
  const shards: Uint8Array[] = [];
  for (const path of checkTfjsModelJson(modelJson, name, sizes).paths) shards.push(await shard(path));
  const handle = await parseTfjsModel(modelJson, concatenate(shards), name, sizes);
  return {
    format: 'tfjs',
    files: [],
    path: name,
    network: handle.network,
    imageLayout: handle.sampleLayout,
    ...(handle.partLayouts ? { partLayouts: handle.partLayouts } : {}),
    notes: tfjsImportNotes(handle),
    async serialize(network, removed) {
      const { modelJson: json, weightData } = await writeTfjsModel(handle, network, resizingOf(removed).kept);
      return [
        { name: 'model.json', bytes: new TextEncoder().encode(json) },
        { name: 'weights.bin', bytes: weightData },
      ];
    },
  };
}

/** `dataFile(location)`: an external data file's bytes (PyTorch ≥ 2.9 writes `model.onnx.data`). */
async function onnxModel(name: string, bytes: Uint8Array, dataFile: (location: string) => Promise<Uint8Array>, sizes?: InputSizes): Promise<LoadedModel> {
  const handle = await parseOnnxModelWithData(bytes, name, dataFile, sizes);
  return {
    format: 'onnx',
    files: [],
    path: name,
    network: handle.network,
    imageLayout: handle.sampleLayout,
    ...(handle.partLayouts ? { partLayouts: handle.partLayouts } : {}),
    notes: onnxImportNotes(handle),
    async serialize(network, removed) {
      return writeOnnxModelFiles(handle, network, removed);
    },
  };
}

/** 'tfjs' or 'onnx' from the name's extension, else from the bytes (JSON starts with '{'). */
function formatOf(name: string, bytes: Uint8Array): 'tfjs' | 'onnx' {
  const extension = extensionOf(name);
  if (extension === '.json') return 'tfjs';
  if (extension === '.onnx') return 'onnx';
  if (extension) throw new InputError(`${name}: expected ${MODEL_KINDS}, found extension '${extension}'`);
  let i = 0;
  while (i < bytes.length && (bytes[i] === 0x20 || bytes[i] === 0x0a || bytes[i] === 0x0d || bytes[i] === 0x09)) i++;
  return bytes[i] === 0x7b ? 'tfjs' : 'onnx';
}

/**
 * Loads a TF.js Layers or ONNX model in a browser (or Node), the counterpart of loadModelFile:
 *
 *   await loadModel('models/mnist/model.json')       // fetched, with its shards beside it
 *   await loadModel(fileInput.files)                  // model.json + shards, or one .onnx
 *   await loadModel(onnxFile)                         // a File/Blob/ArrayBuffer of an .onnx
 *
 * The format comes from the name (.json: TF.js, .onnx: ONNX; bytes with no name are told apart
 * by content). Every error is an InputError naming the file.
 */
export async function loadModel(source: ModelSource, options: SourceOptions & { sizes?: InputSizes } = {}): Promise<LoadedModel> {
  if (isCollection(source)) return loadFromFiles(namedEntries(source), options.sizes);

  if (isUrl(source)) {
    const url = absoluteUrl(source);
    const name = options.name ?? urlText(source);
    const bytes = await fetchBytes(url, name, options.fetchInit, '');
    if (formatOf(name, bytes) === 'onnx')
      return onnxModel(name, bytes, (location) => {
        const dataUrl = new URL(location, url);
        return fetchBytes(dataUrl, dataUrl.href, options.fetchInit, ` (an external data file of ${name})`);
      }, options.sizes);
    return tfjsModel(name, parseJson(bytes, name), (path) => {
      const shardUrl = new URL(path, url);
      return fetchBytes(shardUrl, shardUrl.href, options.fetchInit, ` (a weight shard listed in ${name})`);
    }, options.sizes);
  }

  const { name, bytes } = await readBytes(source, options);
  if (formatOf(name, bytes) === 'onnx')
    return onnxModel(name, bytes, async (location) => {
      throw new InputError(`${name}: its tensors' data is in the external data file '${location}', which a single file cannot provide: pass the model together with it (e.g. both dropped files), or its URL`);
    }, options.sizes);
  const modelJson = parseJson(bytes, name);
  return tfjsModel(name, modelJson, async (path) => {
    throw new InputError(
      `${name}: weightsManifest lists the weight shard '${path}', which a single file cannot provide: pass model.json together with its shards (e.g. all dropped files), or its URL`,
    );
  }, options.sizes);
}

async function loadFromFiles(entries: NamedSource[], sizes?: InputSizes): Promise<LoadedModel> {
  const names = entries.map((e) => e.name);
  const models = entries.filter((e) => ['.json', '.onnx'].includes(extensionOf(e.name)));
  if (models.length === 0)
    throw new InputError(`${names.length ? names.join(', ') : 'no files'}: expected ${MODEL_KINDS} among the files, found none (no .json or .onnx file)`);
  if (models.length > 1) throw new InputError(`${models.map((m) => m.name).join(', ')}: expected one model among the files, found ${models.length}`);
  const [model] = models;
  const bytes = await namedBytes(model);
  const byName = new Map(entries.map((e) => [baseName(e.name), e]));
  if (extensionOf(model.name) === '.onnx')
    return onnxModel(model.name, bytes, async (location) => {
      const entry = byName.get(baseName(location));
      if (!entry) throw new InputError(`${model.name}: its tensors' data is in the external data file '${location}', which is not among the files (${names.join(', ')}): add it beside the model`);
      return namedBytes(entry);
    }, sizes);
  return tfjsModel(model.name, parseJson(bytes, model.name), async (path) => {
    const entry = byName.get(baseName(path));
    if (!entry)
      throw new InputError(
        `${model.name}: weightsManifest lists the weight shard '${path}', which is not among the files (${names.join(', ')}): add it beside model.json`,
      );
    return namedBytes(entry);
  }, sizes);
}
