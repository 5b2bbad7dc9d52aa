import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { assertFinite, npyToMatrix, parseNpy, serializeNpy, type NpyArray, type NpyFloatArray } from '../src/io/npy.js';
import { bytesOf, NPY_MAGIC, npyHeader, rawNpy } from './helpers/npyBytes.js';
import { gaussianMatrix } from './helpers/random.js';

const SIX_DOUBLES = bytesOf(Float64Array.from([1, 2, 3, 4, 5, 6]));

/** Asserts `action` throws a one-line InputError "<source>: <field>: expected ..., found ...". */
function expectInputError(action: () => unknown, source: string, field: string, ...fragments: string[]): void {
  let error: unknown;
  try {
    action();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(InputError);
  const message = (error as Error).message;
  expect(message.startsWith(`${source}: ${field}: expected `)).toBe(true);
  expect(message).toContain('found');
  expect(message).not.toContain('\n');
  for (const fragment of fragments) expect(message).toContain(fragment);
}

describe('serializeNpy then parseNpy round-trips', () => {
  const cases: NpyFloatArray[] = [
    { shape: [3, 4], dtype: 'float64', data: gaussianMatrix(3, 4, 1) },
    { shape: [3, 4], dtype: 'float32', data: Float32Array.from(gaussianMatrix(3, 4, 2)) },
    { shape: [7], dtype: 'float32', data: Float32Array.from(gaussianMatrix(1, 7, 3)) },
    { shape: [0, 5], dtype: 'float64', data: new Float64Array(0) },
    { shape: [0], dtype: 'float32', data: new Float32Array(0) },
    { shape: [], dtype: 'float64', data: new Float64Array([2.5]) },
    { shape: [2, 3, 2], dtype: 'float64', data: gaussianMatrix(2, 6, 4) },
  ];
  for (const array of cases) {
    it(`${array.dtype} shape (${array.shape.join(', ')})`, () => {
      const bytes = serializeNpy(array);
      const parsed = parseNpy(bytes, 'a.npy');
      expect(parsed.shape).toEqual(array.shape);
      expect(parsed.dtype).toBe(array.dtype);
      expect(parsed.data).toEqual(array.data);
    });
  }

  it('writes the version 1.0 header numpy writes, padded to 64 bytes and ending in a newline', () => {
    const bytes = serializeNpy({ shape: [3, 4], dtype: 'float64', data: new Float64Array(12) });
    expect(Array.from(bytes.subarray(0, 8))).toEqual([...NPY_MAGIC, 1, 0]);
    const headerLength = bytes[8] | (bytes[9] << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header).toBe("{'descr': '<f8', 'fortran_order': False, 'shape': (3, 4), }".padEnd(headerLength - 1, ' ') + '\n');
    expect(bytes.length).toBe(10 + headerLength + 12 * 8);
  });

  it('writes a 1-D shape as a one-element tuple', () => {
    const bytes = serializeNpy({ shape: [5], dtype: 'float32', data: new Float32Array(5) });
    expect(new TextDecoder().decode(bytes.subarray(10, 80))).toContain("'shape': (5,), }");
  });

  it('copies from a view into the middle of a Float32Array', () => {
    const whole = Float32Array.from([9, 1, 2, 3, 9]);
    const parsed = parseNpy(serializeNpy({ shape: [3], dtype: 'float32', data: whole.subarray(1, 4) }), 'a.npy');
    expect([...parsed.data]).toEqual([1, 2, 3]);
  });

  it('rejects data that does not match the shape or the dtype', () => {
    expect(() => serializeNpy({ shape: [2, 2], dtype: 'float64', data: new Float64Array(3) })).toThrow(/needs 4 values/);
    expect(() => serializeNpy({ shape: [2], dtype: 'float64', data: new Float32Array(2) })).toThrow(/Float64Array/);
  });
});

describe('parseNpy reads', () => {
  it('format version 2.0 (32-bit header length)', () => {
    const parsed = parseNpy(rawNpy(npyHeader('<f8', '(2, 3)'), SIX_DOUBLES, { major: 2 }), 'v2.npy');
    expect(parsed.shape).toEqual([2, 3]);
    expect([...parsed.data]).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('format version 3.0 (UTF-8 header)', () => {
    const parsed = parseNpy(rawNpy(npyHeader('<f8', '(6,)'), SIX_DOUBLES, { major: 3 }), 'v3.npy');
    expect(parsed.shape).toEqual([6]);
  });

  it('int32 and int64', () => {
    const int32 = parseNpy(rawNpy(npyHeader('<i4', '(3,)'), bytesOf(Int32Array.from([-1, 0, 7]))), 'i.npy');
    expect(int32.dtype).toBe('int32');
    expect([...int32.data]).toEqual([-1, 0, 7]);
    const int64 = parseNpy(rawNpy(npyHeader('<i8', '(2,)'), bytesOf(BigInt64Array.from([-5n, 1n << 40n]))), 'i.npy');
    expect(int64.dtype).toBe('int64');
    expect([...int64.data]).toEqual([-5n, 1n << 40n]);
  });

  it("float16 ('<f2', NumPy's np.float16: a float16 model's samples) as float32, each value exact; its size checked at 2 bytes a value", () => {
    // 1, −2, 65504, the smallest subnormal 2⁻²⁴, 0.333251953125 (the half nearest 1/3).
    const halves = Uint16Array.from([0x3c00, 0xc000, 0x7bff, 0x0001, 0x3555]);
    const parsed = parseNpy(rawNpy(npyHeader('<f2', '(5,)'), bytesOf(halves)), 'h.npy');
    expect(parsed.dtype).toBe('float32');
    expect([...parsed.data]).toEqual([1, -2, 65504, 2 ** -24, 0.333251953125]);
    expect(() => parseNpy(rawNpy(npyHeader('<f2', '(6,)'), bytesOf(halves)), 'h.npy')).toThrow("h.npy: data: expected 12 bytes for shape (6,) float16, found 10 (file truncated)");
    expect(() => parseNpy(rawNpy(npyHeader('>f2', '(5,)'), bytesOf(halves)), 'h.npy')).toThrow("found '>f2'");
  });

  it("'=' and '|' byte orders as little-endian", () => {
    for (const descr of ['=f8', '|f8']) expect(parseNpy(rawNpy(npyHeader(descr, '(6,)'), SIX_DOUBLES), 'a.npy').dtype).toBe('float64');
  });

  it('headers with double quotes, no trailing comma and no padding', () => {
    const header = '{"shape": (2, 3), "fortran_order": False, "descr": "<f8"}';
    expect(parseNpy(rawNpy(header, SIX_DOUBLES), 'a.npy').shape).toEqual([2, 3]);
  });

  it('from an unaligned view into a larger buffer', () => {
    const file = serializeNpy({ shape: [2, 3], dtype: 'float64', data: Float64Array.from([1, 2, 3, 4, 5, 6]) });
    const backing = new Uint8Array(file.length + 3);
    backing.set(file, 1);
    const parsed = parseNpy(backing.subarray(1, 1 + file.length), 'a.npy');
    expect([...parsed.data]).toEqual([1, 2, 3, 4, 5, 6]);
    // The result owns its data: changing the input afterwards changes nothing.
    backing.fill(0);
    expect(parsed.data[0]).toBe(1);
  });

  it('from a Node Buffer (whose slice() is not a copy)', () => {
    const file = serializeNpy({ shape: [2], dtype: 'float32', data: Float32Array.from([1.5, -2]) });
    const parsed = parseNpy(Buffer.from(file), 'a.npy');
    expect([...parsed.data]).toEqual([1.5, -2]);
  });
});

describe('parseNpy rejects with a one-line InputError naming the file and the field', () => {
  const good = serializeNpy({ shape: [2, 3], dtype: 'float64', data: Float64Array.from([1, 2, 3, 4, 5, 6]) });

  it('an empty file', () => {
    expectInputError(() => parseNpy(new Uint8Array(0), 'X.npy'), 'X.npy', 'magic', 'an empty file');
  });

  it('a file that is not .npy (bad magic)', () => {
    expectInputError(() => parseNpy(new TextEncoder().encode('1.0,2.0\n3.0,4.0\n'), 'X.npy'), 'X.npy', 'magic', "'1.0,2.'");
  });

  it('an unsupported format version', () => {
    const bytes = good.slice();
    bytes[6] = 4;
    expectInputError(() => parseNpy(bytes, 'X.npy'), 'X.npy', 'version', '1.0, 2.0 or 3.0', 'found 4.0');
  });

  it('a file cut inside the preamble or the header', () => {
    expectInputError(() => parseNpy(good.subarray(0, 7), 'X.npy'), 'X.npy', 'version', 'truncated');
    expectInputError(() => parseNpy(good.subarray(0, 9), 'X.npy'), 'X.npy', 'header', 'truncated');
    expectInputError(() => parseNpy(good.subarray(0, 40), 'X.npy'), 'X.npy', 'header', 'truncated');
  });

  it('a malformed header dict', () => {
    for (const header of [
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3)",
      "['descr', '<f8']",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, x), }",
      "{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 3), }",
      "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), } trailing",
      "{'descr: '<f8'}",
    ])
      expectInputError(() => parseNpy(rawNpy(header, SIX_DOUBLES), 'X.npy'), 'X.npy', 'header');
  });

  it('a header without the expected keys', () => {
    const header = "{'descr': '<f8', 'shape': (2, 3), }";
    expectInputError(() => parseNpy(rawNpy(header, SIX_DOUBLES), 'X.npy'), 'X.npy', 'header', "'descr', 'fortran_order', 'shape'");
    const extra = "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), 'extra': True}";
    expectInputError(() => parseNpy(rawNpy(extra, SIX_DOUBLES), 'X.npy'), 'X.npy', 'header', "'extra'");
  });

  it('Fortran order', () => {
    expectInputError(() => parseNpy(rawNpy(npyHeader('<f8', '(2, 3)', 'True'), SIX_DOUBLES), 'X.npy'), 'X.npy', 'fortran_order', 'found True');
  });

  it('big-endian data', () => {
    expectInputError(() => parseNpy(rawNpy(npyHeader('>f8', '(2, 3)'), SIX_DOUBLES), 'X.npy'), 'X.npy', 'descr', "found '>f8'");
  });

  it('unsupported dtypes', () => {
    for (const [descr, bytes] of [['|i1', 6], ['>f2', 12], ['<c16', 96], ['<b2', 12], ['<u4', 24]] as const)
      expectInputError(() => parseNpy(rawNpy(npyHeader(descr, '(2, 3)'), new Uint8Array(bytes)), 'X.npy'), 'X.npy', 'descr', `found '${descr}'`);
  });

  it('bool (an attention mask): one byte each, as 0 and 1', () => {
    const array = parseNpy(rawNpy(npyHeader('|b1', '(2, 3)'), Uint8Array.of(1, 0, 1, 1, 1, 0)), 'M.npy');
    expect(array.dtype).toBe('bool');
    expect(Array.from(array.data as Uint8Array)).toEqual([1, 0, 1, 1, 1, 0]);
  });

  it('dtypes outside the caller-given set, naming the accepted ones', () => {
    const ints = rawNpy(npyHeader('<i8', '(6,)'), new Uint8Array(48));
    expectInputError(
      () => parseNpy(ints, 'X.npy', { dtypes: ['float32', 'float64'] }),
      'X.npy',
      'descr',
      "expected little-endian float32, float16 or float64 ('<f4', '<f2' or '<f8'), found '<i8'",
    );
  });

  it('a shape that is not a tuple of integers', () => {
    expectInputError(() => parseNpy(rawNpy(npyHeader('<f8', "'2x3'"), SIX_DOUBLES), 'X.npy'), 'X.npy', 'shape', "'2x3'");
  });

  it('truncated data', () => {
    expectInputError(() => parseNpy(good.subarray(0, good.length - 1), 'X.npy'), 'X.npy', 'data', '48 bytes', 'found 47', 'truncated');
  });

  it('extra bytes after the data', () => {
    const oversized = new Uint8Array(good.length + 8);
    oversized.set(good);
    expectInputError(() => parseNpy(oversized, 'X.npy'), 'X.npy', 'data', '48 bytes', 'found 56');
  });
});

describe('npyToMatrix', () => {
  const array = (shape: number[], values: number[]): NpyArray => ({ shape, dtype: 'float64', data: Float64Array.from(values) });

  it('views a 2-D float array as a row-major Matrix', () => {
    const matrix = npyToMatrix(array([2, 3], [1, 2, 3, 4, 5, 6]), 'X.npy', 'samples x inputs');
    expect(matrix.rows).toBe(2);
    expect(matrix.cols).toBe(3);
    expect(Array.from(matrix.data)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('rejects other ranks, naming the shape', () => {
    expectInputError(() => npyToMatrix(array([6], [1, 2, 3, 4, 5, 6]), 'X.npy', 'samples x inputs'), 'X.npy', 'shape', '2-D', '(6,)');
    expectInputError(() => npyToMatrix(array([1, 2, 3], [1, 2, 3, 4, 5, 6]), 'X.npy', 'samples x inputs'), 'X.npy', 'shape', '(1, 2, 3)');
  });

  it('rejects integer arrays', () => {
    const ints: NpyArray = { shape: [1, 2], dtype: 'int32', data: Int32Array.from([1, 2]) };
    expectInputError(() => npyToMatrix(ints, 'X.npy', 'samples x inputs'), 'X.npy', 'descr', "found '<i4'");
  });

  it('names the first NaN or infinity by row and column', () => {
    const values = [0, 1, 2, 3, 4, 5, 6, 7];
    values[3 * 2 + 1] = NaN;
    expect(() => npyToMatrix(array([4, 2], values), 'Y.npy', 'samples x outputs')).toThrow(
      new InputError('Y.npy: data: expected finite values, found NaN at row 3, column 1'),
    );
    expect(() => assertFinite({ rows: 1, cols: 3, data: Float32Array.from([0, -Infinity, NaN]) }, 'Y.npy')).toThrow(
      new InputError('Y.npy: data: expected finite values, found -Infinity at row 0, column 1'),
    );
  });
});
