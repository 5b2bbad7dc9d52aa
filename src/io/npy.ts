// Reading and writing NumPy .npy files (format versions 1.0, 2.0, 3.0), browser-safe: bytes in,
// bytes out. Spec: https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// Every rejection is an InputError of one line: "<source>: <field>: expected …, found …".
import { InputError } from '../errors.js';
import { halfToFloat } from '../network/half.js';
import type { Matrix } from '../solver/types.js';

export type NpyDtype = 'float32' | 'float64' | 'int32' | 'int64' | 'uint8' | 'bool';
export type NpyData = Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array;

export interface NpyArray {
  shape: number[];
  dtype: NpyDtype;
  data: NpyData;
}

export interface NpyFloatArray {
  shape: number[];
  dtype: 'float32' | 'float64';
  data: Float32Array | Float64Array;
}

export interface ParseNpyOptions {
  /** Dtypes to accept (default: all of NpyDtype); others are rejected naming the accepted ones. */
  dtypes?: readonly NpyDtype[];
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const PREAMBLE_BYTES = MAGIC.length + 2; // magic + major + minor version bytes
/** The spec pads the preamble + header to a multiple of 64 bytes so the data is aligned. */
const HEADER_ALIGNMENT = 64;

interface DtypeInfo {
  dtype: NpyDtype;
  code: string; // the little-endian descr, e.g. '<f4'
  itemSize: number;
  label: string;
  view: (buffer: ArrayBuffer) => NpyData;
}

const DTYPES: readonly DtypeInfo[] = [
  { dtype: 'float32', code: '<f4', itemSize: 4, label: 'float32', view: (b) => new Float32Array(b) },
  // Half precision (np.float16, a float16 model's samples): read as float32, each value exact.
  { dtype: 'float32', code: '<f2', itemSize: 2, label: 'float16', view: (b) => Float32Array.from(new Uint16Array(b), halfToFloat) },
  { dtype: 'float64', code: '<f8', itemSize: 8, label: 'float64', view: (b) => new Float64Array(b) },
  { dtype: 'int32', code: '<i4', itemSize: 4, label: 'int32', view: (b) => new Int32Array(b) },
  { dtype: 'int64', code: '<i8', itemSize: 8, label: 'int64', view: (b) => new BigInt64Array(b) },
  // Images and labels are often saved as uint8 (one byte: no byte order, '|u1').
  { dtype: 'uint8', code: '|u1', itemSize: 1, label: 'uint8', view: (b) => new Uint8Array(b) },
  // Masks (an attention mask saved as bool): one byte, 0 or 1.
  { dtype: 'bool', code: '|b1', itemSize: 1, label: 'bool', view: (b) => new Uint8Array(b) },
];
const ALL_DTYPES: readonly NpyDtype[] = DTYPES.map((d) => d.dtype);

/** Throws "<source>: <field>: expected <expectation>" (the expectation says what was found too). */
function fail(source: string, field: string, expectation: string): never {
  throw new InputError(`${source}: ${field}: expected ${expectation}`);
}

/** Quotes a found value for a message, shortened and kept on one line. */
function quote(text: string): string {
  const escaped = JSON.stringify(text.length > 80 ? `${text.slice(0, 77)}...` : text);
  // Single quotes like Python's repr unless the text holds one.
  return text.includes("'") ? escaped : `'${escaped.slice(1, -1).replace(/\\"/g, '"')}'`;
}

function formatShape(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function expectedDtypes(dtypes: readonly NpyDtype[]): string {
  const infos = DTYPES.filter((d) => dtypes.includes(d.dtype));
  const names = infos.map((d) => d.label);
  const codes = infos.map((d) => `'${d.code}'`);
  const join = (items: string[]) => (items.length <= 2 ? items.join(' or ') : `${items.slice(0, -1).join(', ')} or ${items.at(-1)}`);
  return `little-endian ${join(names)} (${join(codes)})`;
}

// ---------------------------------------------------------------------------------------------
// The header is a Python dict literal, e.g. {'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }
// A tiny parser for exactly the literals that can appear in it: strings, booleans, int tuples.

type HeaderValue = string | boolean | number[];

class HeaderParser {
  private pos = 0;

  constructor(
    private readonly text: string,
    private readonly source: string,
  ) {}

  parseDict(): Map<string, HeaderValue> {
    const entries = new Map<string, HeaderValue>();
    this.expect('{');
    while (!this.consume('}')) {
      const key = this.parseString();
      this.expect(':');
      if (entries.has(key)) this.fail(`a dict with distinct keys, found '${key}' twice`);
      entries.set(key, this.parseValue(key));
      if (!this.consume(',')) {
        this.expect('}');
        break;
      }
    }
    this.skipSpace();
    if (this.pos !== this.text.length) this.fail(`nothing after the dict, found ${quote(this.text.slice(this.pos))}`);
    return entries;
  }

  private parseValue(key: string): HeaderValue {
    this.skipSpace();
    const c = this.text[this.pos];
    if (c === "'" || c === '"') return this.parseString();
    if (c === '(') return this.parseIntTuple();
    for (const [word, value] of [['True', true], ['False', false]] as const) {
      if (this.text.startsWith(word, this.pos)) {
        this.pos += word.length;
        return value;
      }
    }
    return this.fail(`a string, True, False or a tuple as the value of '${key}', found ${quote(this.text.slice(this.pos, this.pos + 20))}`);
  }

  private parseString(): string {
    this.skipSpace();
    const quoteChar = this.text[this.pos];
    if (quoteChar !== "'" && quoteChar !== '"')
      this.fail(`a quoted string at offset ${this.pos}, found ${quote(this.text.slice(this.pos, this.pos + 20))}`);
    const end = this.text.indexOf(quoteChar, this.pos + 1);
    if (end < 0) this.fail(`a closing ${quoteChar} for the string at offset ${this.pos}, found the end of the header`);
    const value = this.text.slice(this.pos + 1, end);
    this.pos = end + 1;
    return value;
  }

  private parseIntTuple(): number[] {
    this.pos++; // '('
    const values: number[] = [];
    while (!this.consume(')')) {
      this.skipSpace();
      // Python 2 era files may write longs as "3L".
      const match = /^(\d+)L?/.exec(this.text.slice(this.pos));
      if (!match) this.fail(`a non-negative integer in the tuple at offset ${this.pos}, found ${quote(this.text.slice(this.pos, this.pos + 20))}`);
      values.push(Number(match[1]));
      this.pos += match[0].length;
      if (!this.consume(',')) {
        this.expect(')');
        break;
      }
    }
    return values;
  }

  private skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }

  private consume(token: string): boolean {
    this.skipSpace();
    if (this.text[this.pos] !== token) return false;
    this.pos++;
    return true;
  }

  private expect(token: string): void {
    if (!this.consume(token)) {
      const found = this.pos < this.text.length ? quote(this.text.slice(this.pos, this.pos + 20)) : 'the end of the header';
      this.fail(`'${token}' at offset ${this.pos} of a Python dict literal, found ${found}`);
    }
  }

  private fail(expectation: string): never {
    return fail(this.source, 'header', expectation);
  }
}

// ---------------------------------------------------------------------------------------------

function readPreamble(bytes: Uint8Array, source: string): { headerStart: number; headerLength: number; major: number } {
  const preambleSize = (major: number) => PREAMBLE_BYTES + (major === 1 ? 2 : 4);
  const start = bytes.subarray(0, MAGIC.length);
  if (start.length === 0 || start.some((b, i) => b !== MAGIC[i])) {
    const hex = Array.from(start, (b) => b.toString(16).padStart(2, '0')).join(' ');
    const found = start.length ? `bytes ${hex} (${quote(latin1(start))})` : 'an empty file';
    fail(source, 'magic', `a .npy file starting with \\x93NUMPY (93 4e 55 4d 50 59), found ${found}`);
  }
  if (bytes.length < PREAMBLE_BYTES)
    fail(source, 'version', `the magic string and 2 version bytes, found ${bytes.length} bytes (file truncated)`);
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) fail(source, 'version', `format version 1.0, 2.0 or 3.0, found ${major}.${minor}`);
  if (bytes.length < preambleSize(major))
    fail(source, 'header', `a ${major === 1 ? 2 : 4}-byte header length after the version, found ${bytes.length - PREAMBLE_BYTES} bytes (file truncated)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(PREAMBLE_BYTES, true) : view.getUint32(PREAMBLE_BYTES, true);
  const headerStart = preambleSize(major);
  if (bytes.length < headerStart + headerLength)
    fail(source, 'header', `${headerLength} bytes of header, found ${bytes.length - headerStart} (file truncated)`);
  return { headerStart, headerLength, major };
}

function decodeHeader(bytes: Uint8Array, major: number, source: string): string {
  if (major === 3) {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    } catch {
      return fail(source, 'header', 'UTF-8 text (format version 3.0), found invalid UTF-8');
    }
  }
  // Versions 1.0 and 2.0 store the header as latin-1.
  return latin1(bytes);
}

function latin1(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => String.fromCharCode(b)).join('');
}

function resolveDtype(descr: HeaderValue | undefined, accepted: readonly NpyDtype[], source: string): DtypeInfo {
  const expected = expectedDtypes(accepted);
  if (typeof descr !== 'string') fail(source, 'descr', `a dtype string, ${expected}, found ${describeValue(descr)}`);
  // '=' (native) and '|' (not applicable) carry no byte order; every JS host we run on is little-endian.
  // One-byte types have no byte order: '|u1' ('|b1'), and '<u1', '>u1', '=u1' as some writers put it.
  const normalized = /^[<>=|][ub]1$/.test(descr) ? `|${descr.slice(1)}` : /^[=|]/.test(descr) ? `<${descr.slice(1)}` : descr;
  const info = DTYPES.find((d) => d.code === normalized);
  if (!info || !accepted.includes(info.dtype)) fail(source, 'descr', `${expected}, found ${quote(descr)}`);
  return info;
}

function describeValue(value: HeaderValue | undefined): string {
  if (value === undefined) return 'none';
  if (typeof value === 'string') return quote(value);
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  return formatShape(value);
}

/**
 * Parses a whole .npy file. The data is copied into a fresh, aligned typed array, so `bytes` may
 * be any view (of any offset) and is not retained.
 */
export function parseNpy(bytes: Uint8Array, source: string, options: ParseNpyOptions = {}): NpyArray {
  const { headerStart, headerLength, major } = readPreamble(bytes, source);
  const headerText = decodeHeader(bytes.subarray(headerStart, headerStart + headerLength), major, source);
  const header = new HeaderParser(headerText, source).parseDict();

  const expectedKeys = ['descr', 'fortran_order', 'shape'];
  const keys = [...header.keys()].sort();
  if (keys.join() !== expectedKeys.join())
    fail(source, 'header', `exactly the keys 'descr', 'fortran_order', 'shape', found ${keys.length ? keys.map((k) => quote(k)).join(', ') : 'none'}`);

  const dtype = resolveDtype(header.get('descr'), options.dtypes ?? ALL_DTYPES, source);

  const fortranOrder = header.get('fortran_order');
  if (typeof fortranOrder !== 'boolean') fail(source, 'fortran_order', `True or False, found ${describeValue(fortranOrder)}`);
  if (fortranOrder)
    fail(source, 'fortran_order', 'False (C order), found True: save the array with np.save(path, np.ascontiguousarray(a))');

  const shape = header.get('shape');
  if (!Array.isArray(shape)) fail(source, 'shape', `a tuple of non-negative integers, found ${describeValue(shape)}`);
  const count = shape.reduce((product, n) => product * n, 1);
  if (!shape.every(Number.isSafeInteger) || !Number.isSafeInteger(count * dtype.itemSize)) fail(source, 'shape', `a shape of a size that fits in memory, found ${formatShape(shape)}`);

  const dataStart = headerStart + headerLength;
  const expectedBytes = count * dtype.itemSize;
  const foundBytes = bytes.length - dataStart;
  if (foundBytes !== expectedBytes) {
    const why = foundBytes < expectedBytes ? 'file truncated' : 'extra bytes after the data';
    fail(source, 'data', `${expectedBytes} bytes for shape ${formatShape(shape)} ${dtype.label}, found ${foundBytes} (${why})`);
  }
  // Copy into a fresh buffer: aligned for the typed array whatever the input's offset. (Not
  // bytes.slice(): on a Node Buffer that is a view of the shared pool, not a copy.)
  const copy = new Uint8Array(expectedBytes);
  copy.set(bytes.subarray(dataStart));
  const data = dtype.view(copy.buffer);
  return { shape: [...shape], dtype: dtype.dtype, data };
}

/** Serializes a float array as a version 1.0 .npy file (version 2.0 only if the header needs it). */
export function serializeNpy(array: NpyFloatArray): Uint8Array {
  const { shape, dtype, data } = array;
  if (!shape.every((n) => Number.isSafeInteger(n) && n >= 0)) throw new RangeError(`serializeNpy: invalid shape ${formatShape(shape)}`);
  const count = shape.reduce((product, n) => product * n, 1);
  if (data.length !== count) throw new RangeError(`serializeNpy: shape ${formatShape(shape)} needs ${count} values, data has ${data.length}`);
  const expectedType = dtype === 'float32' ? Float32Array : Float64Array;
  if (!(data instanceof expectedType)) throw new TypeError(`serializeNpy: dtype ${dtype} needs a ${expectedType.name}`);

  const descr = dtype === 'float32' ? '<f4' : '<f8';
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${formatShape(shape)}, }`;
  // Pad with spaces so that preamble + header, ending in '\n', is a multiple of 64 bytes.
  const paddedLength = (lengthBytes: number) => {
    const unpadded = PREAMBLE_BYTES + lengthBytes + dict.length + 1;
    return dict.length + 1 + ((HEADER_ALIGNMENT - (unpadded % HEADER_ALIGNMENT)) % HEADER_ALIGNMENT);
  };
  // Version 2.0 only when the header outgrows 1.0's 16-bit length (an absurdly high-dimensional shape).
  const major = paddedLength(2) <= 0xffff ? 1 : 2;
  const lengthBytes = major === 1 ? 2 : 4;
  const headerLength = paddedLength(lengthBytes);
  const header = dict.padEnd(headerLength - 1, ' ') + '\n';

  const dataStart = PREAMBLE_BYTES + lengthBytes + headerLength;
  const out = new Uint8Array(dataStart + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const view = new DataView(out.buffer);
  if (major === 1) view.setUint16(PREAMBLE_BYTES, headerLength, true);
  else view.setUint32(PREAMBLE_BYTES, headerLength, true);
  for (let i = 0; i < header.length; i++) out[PREAMBLE_BYTES + lengthBytes + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), dataStart);
  return out;
}

/**
 * Checks that every value is finite; names the first bad one by its 0-based (row, column), e.g.
 * "Y.npy: data: expected finite values, found NaN at row 3, column 7".
 */
export function assertFinite(matrix: Matrix, source: string): void {
  const { cols, data } = matrix;
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]))
      fail(source, 'data', `finite values, found ${data[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }
}

/**
 * Views a parsed .npy array as a Matrix: requires a 2-D float32/float64 array of finite values.
 * `description` says what the rows and columns are, for the message, e.g. "samples × inputs".
 */
export function npyToMatrix(array: NpyArray, source: string, description: string): Matrix {
  if (array.dtype !== 'float32' && array.dtype !== 'float64')
    fail(source, 'descr', `${expectedDtypes(['float32', 'float64'])}, found '${DTYPES.find((d) => d.dtype === array.dtype)?.code}' (${array.dtype})`);
  if (array.shape.length !== 2)
    fail(source, 'shape', `a 2-D array (${description}), found ${array.shape.length}-D shape ${formatShape(array.shape)}`);
  const [rows, cols] = array.shape;
  const matrix: Matrix = { rows, cols, data: array.data as Float32Array | Float64Array };
  assertFinite(matrix, source);
  return matrix;
}
