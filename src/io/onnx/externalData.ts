// ONNX external data: tensors whose bytes live in a file beside the model (TensorProto.external_data
// with data_location EXTERNAL). PyTorch ≥ 2.9's default exporter (dynamo) writes every large
// initializer to `model.onnx.data`, and any model over protobuf's 2 GiB must. Browser-safe: the
// caller supplies each file's bytes (Node: from the model's folder; a page: from the files given).
//
// Every reference is checked before a file is asked for: a location relative to the model's
// folder with no '..' (ONNX's own checker refuses the same: CVE-2022-25882), whole decimal offset
// and length, a length equal to what the tensor's type and dims need; then every range must lie
// inside its file. The bytes are attached as raw_data views (no copy), so the rest of the reader
// and the writer see an ordinary model. The pruned model is written with its data inside, unless
// that would pass protobuf's 2 GiB: then its large tensors go to one data file beside it.
import { InputError } from '../../errors.js';
import { DATA_TYPE_NAMES, declaredDims, EXTERNAL, product, shapeText, type ModelProto, type TensorProto } from './common.js';

/** Bytes per element of the fixed-size types (float32 … bfloat16, the 8-bit floats). */
const ELEMENT_BYTES: Record<number, number> = { 1: 4, 2: 1, 3: 1, 4: 2, 5: 2, 6: 4, 7: 8, 9: 1, 10: 2, 11: 8, 12: 4, 13: 8, 14: 8, 15: 16, 16: 2, 17: 1, 18: 1, 19: 1, 20: 1 };

/** The largest offset an external reference may name: 2⁵³ (a double holds it exactly). */
const MAX_OFFSET = Number.MAX_SAFE_INTEGER;

export interface ExternalReference {
  tensor: TensorProto;
  /** What the model calls it, for messages: "initializer 'fc.weight'". */
  what: string;
  location: string;
  offset: number;
  length: number;
}

/** Every tensor of the model (initializers, Constant values, sparse initializers' parts), named for messages. */
function* modelTensors(model: ModelProto): Generator<[TensorProto, string]> {
  const graph = model.graph!;
  for (const t of graph.initializer ?? []) yield [t, `initializer '${t.name ?? ''}'`];
  for (const s of graph.sparseInitializer ?? []) {
    if (s.values) yield [s.values, `sparse initializer '${s.values.name ?? ''}' values`];
    if (s.indices) yield [s.indices, `sparse initializer '${s.values?.name ?? ''}' indices`];
  }
  const nodes = graph.node ?? [];
  for (let i = 0; i < nodes.length; i++) {
    for (const a of nodes[i].attribute ?? []) {
      const where = `node ${i} ('${nodes[i].name ?? ''}', op ${nodes[i].opType ?? ''}) attribute '${a.name ?? ''}'`;
      if (a.t) yield [a.t, where];
      for (const t of a.tensors ?? []) yield [t, where];
    }
  }
}

/** A location the ONNX spec allows: relative to the model's folder, never above it. */
function checkLocation(location: string, what: string, source: string): void {
  if (!location) throw new InputError(`${source}: ${what}: external_data 'location': expected a file name, found none`);
  if (location.includes('\0')) throw new InputError(`${source}: ${what}: external_data 'location': expected a file name, found one with a NUL byte`);
  if (/^([/\\]|[A-Za-z]:)/.test(location))
    throw new InputError(`${source}: ${what}: external_data 'location' '${location}': expected a path relative to the model's folder, found an absolute path`);
  if (location.split(/[/\\]/).includes('..'))
    throw new InputError(`${source}: ${what}: external_data 'location' '${location}': expected a file inside the model's folder, found '..'`);
}

function wholeNumber(text: string | undefined, key: string, what: string, source: string): number | null {
  if (text === undefined) return null;
  const value = /^\d{1,16}$/.test(text) ? Number(text) : NaN;
  if (!(value <= MAX_OFFSET)) throw new InputError(`${source}: ${what}: external_data '${key}' '${text}': expected a whole number of bytes`);
  return value;
}

/** The model's external references, each checked against its tensor's type and dims (nothing is read). */
export function externalReferences(model: ModelProto, source: string): ExternalReference[] {
  const references: ExternalReference[] = [];
  for (const [tensor, what] of modelTensors(model)) {
    if (tensor.dataLocation !== EXTERNAL) continue;
    const entries = new Map<string, string>();
    for (const e of tensor.externalData ?? []) entries.set(e.key ?? '', e.value ?? '');
    const location = entries.get('location') ?? '';
    checkLocation(location, what, source);
    const type = tensor.dataType ?? 0;
    const size = ELEMENT_BYTES[type];
    if (!size) throw new InputError(`${source}: ${what}: external data of ${DATA_TYPE_NAMES[type] ?? `data_type ${type}`}: expected a fixed-size numeric type`);
    const dims = declaredDims(tensor);
    if (typeof dims === 'string') throw new InputError(`${source}: ${what}: ${dims}`);
    const expected = product(dims) * size;
    const offset = wholeNumber(entries.get('offset'), 'offset', what, source) ?? 0;
    const length = wholeNumber(entries.get('length'), 'length', what, source) ?? expected;
    if (length !== expected)
      throw new InputError(`${source}: ${what}: external_data 'length' ${length}: expected ${expected} bytes for ${DATA_TYPE_NAMES[type]} of shape ${shapeText(dims)}`);
    references.push({ tensor, what, location, offset, length });
  }
  return references;
}

/** The data files a model's references name, each with the bytes it must hold at least. */
export function externalFiles(references: readonly ExternalReference[]): Map<string, number> {
  const files = new Map<string, number>();
  for (const r of references) files.set(r.location, Math.max(files.get(r.location) ?? 0, r.offset + r.length));
  return files;
}

/**
 * A data file's bytes: the whole file, or (a file too large to hold whole: Node's buffers stop at
 * 4 GiB) the ranges its tensors read, by rangeKey.
 */
export type DataFileBytes = Uint8Array | ReadonlyMap<string, Uint8Array>;
export const rangeKey = (offset: number, length: number) => `${offset}+${length}`;

/** A byte range of a data file that a tensor reads. */
export interface DataRange {
  offset: number;
  length: number;
}

/**
 * Reads the data files `model`'s external references name: `file(location, needed, ranges)`
 * returns the file at `location` (relative to the model's folder), which must hold at least
 * `needed` bytes, whole or as the `ranges` its tensors read (by rangeKey); each file is asked for
 * once, after every reference is checked.
 */
export async function readExternalData(
  model: ModelProto,
  source: string,
  file: (location: string, needed: number, ranges: DataRange[]) => Promise<DataFileBytes>,
): Promise<Map<string, DataFileBytes>> {
  const references = externalReferences(model, source);
  const bytes = new Map<string, DataFileBytes>();
  for (const [location, needed] of externalFiles(references)) {
    const ranges = [...new Map(references.filter((r) => r.location === location).map((r) => [rangeKey(r.offset, r.length), { offset: r.offset, length: r.length }])).values()];
    const data = await file(location, needed, ranges);
    if (data instanceof Uint8Array ? data.length < needed : ranges.some((r) => data.get(rangeKey(r.offset, r.length))?.length !== r.length))
      throw new InputError(`${source}: external data file '${location}': expected at least ${needed} bytes (the furthest tensor's offset + length), found ${data instanceof Uint8Array ? data.length : 'fewer'}`);
    bytes.set(location, data);
  }
  return bytes;
}

/** Points `model`'s external tensors at their bytes in `files` (from readExternalData: views, no copy). */
export function attachExternalData(model: ModelProto, source: string, files: ReadonlyMap<string, DataFileBytes>): void {
  for (const r of externalReferences(model, source)) {
    const data = files.get(r.location)!;
    r.tensor.rawData = data instanceof Uint8Array ? data.subarray(r.offset, r.offset + r.length) : data.get(rangeKey(r.offset, r.length))!;
    r.tensor.dataLocation = 0;
    r.tensor.externalData = [];
  }
}

/** Protobuf's limit on one message: a model with more tensor bytes than this keeps them outside. */
export const INLINE_LIMIT = 2 ** 31 - 2 ** 26;
/** Tensors smaller than this stay inside the model (onnx.save's size_threshold). */
const EXTERNAL_THRESHOLD = 1024;

/**
 * When the initializers' bytes exceed `limit`, moves each of at least 1 KiB into data files beside
 * the model (offsets 4 KiB-aligned, as onnx.save lays them out for mapping) and returns them; else
 * leaves the model as it is and returns null. One file, `location`, holds up to `fileLimit` bytes
 * (2 GiB less 64 MiB: one buffer, one write); past it the next tensors go to `location`.1, .2, ….
 */
export function externalizeLarge(model: ModelProto, location: string, limit = INLINE_LIMIT, fileLimit = INLINE_LIMIT): Array<{ name: string; bytes: Uint8Array }> | null {
  const tensors = (model.graph!.initializer ?? []).filter((t) => t.dataLocation !== EXTERNAL && (t.rawData?.length ?? 0) >= EXTERNAL_THRESHOLD);
  const total = (model.graph!.initializer ?? []).reduce((n, t) => n + (t.rawData?.length ?? 0) + 4 * (t.floatData?.length ?? 0), 0);
  if (total <= limit) return null;
  const align = (n: number) => Math.ceil(n / 4096) * 4096;
  // Each file's tensors and their offsets: a tensor past the file's limit starts the next file.
  const files: Array<{ name: string; tensors: Array<[TensorProto, number]>; size: number }> = [];
  for (const t of tensors) {
    let file = files[files.length - 1];
    if (!file || (file.size > 0 && align(file.size) + t.rawData!.length > fileLimit)) files.push((file = { name: files.length ? `${location}.${files.length}` : location, tensors: [], size: 0 }));
    file.tensors.push([t, align(file.size)]);
    file.size = align(file.size) + t.rawData!.length;
  }
  return files.map(({ name, tensors: placed, size }) => {
    const data = new Uint8Array(size);
    for (const [t, offset] of placed) {
      data.set(t.rawData!, offset);
      t.externalData = [
        { key: 'location', value: name },
        { key: 'offset', value: String(offset) },
        { key: 'length', value: String(t.rawData!.length) },
      ];
      t.dataLocation = EXTERNAL;
      t.rawData = new Uint8Array(0);
    }
    return { name, bytes: data };
  });
}
