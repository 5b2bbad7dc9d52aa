// .npz samples (np.savez, np.savez_compressed) and networks of several inputs: the archive's
// checks, the samples of each input packed and checked (ids, a mask of 0 and 1, floats), and the
// validation of network.inputParts.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { isZip, parseNpz } from '../src/io/npz.js';
import { samplesForModel } from '../src/io/samples.js';
import { checkPartValues } from '../src/network/inputParts.js';
import { networkGraph } from '../src/network/graph.js';
import type { InputPart, Layer, Network } from '../src/network/types.js';
import { bytesOf, npyHeader, rawNpy } from './helpers/npyBytes.js';

const fixture = join(import.meta.dirname, 'fixtures', 'torch2', 'text-mask-samples.npz');

/** A little-endian .npy of `values` (int64 '<i8', int32 '<i4', float32 '<f4', bool '|b1'). */
function npy(descr: string, shape: number[], values: number[]): Uint8Array {
  const data = descr === '<i8' ? BigInt64Array.from(values, BigInt) : descr === '<i4' ? Int32Array.from(values) : descr === '|b1' ? Uint8Array.from(values) : Float32Array.from(values);
  const header = npyHeader(descr, shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`);
  return rawNpy(header, bytesOf(data));
}

/** Where an archive of one entry has its central directory entry ("PK\x01\x02"): the sizes at +20 and +24. */
function centralEntry(bytes: Uint8Array): number {
  for (let i = bytes.length - 4; i >= 0; i--) if (bytes[i] === 0x50 && bytes[i + 1] === 0x4b && bytes[i + 2] === 1 && bytes[i + 3] === 2) return i;
  throw new Error('no central directory entry');
}

/** A network of ids [4] and a mask [4]: the ids embedded, the mask added to the first channel's vectors (any use of it). */
function maskedNetwork(): Network {
  const T = 4;
  const parts: InputPart[] = [
    { name: 'input_ids', shape: [T], values: 'ids' },
    { name: 'attention_mask', shape: [T], values: 'mask' },
  ];
  const range = (start: number) => Int32Array.from({ length: T }, (_, i) => start + i);
  const layers: Layer[] = [
    { kind: 'rearrange', name: 'input_ids', from: ['inputs'], indices: range(0), offset: null, shape: [T] },
    { kind: 'rearrange', name: 'attention_mask', from: ['inputs'], indices: range(T), offset: null, shape: [T] },
    { kind: 'embedding', name: 'embed', from: ['input_ids'], table: Float32Array.from({ length: 10 * 2 }, (_, i) => i / 10), vocabulary: 10, dims: 2 },
    { kind: 'flatten', name: 'vectors', from: ['embed'] },
    { kind: 'rearrange', name: 'spread', from: ['attention_mask'], indices: Int32Array.from({ length: 2 * T }, (_, i) => (i % 2 === 0 ? i / 2 : -1)), offset: null, shape: [2 * T] },
    { kind: 'add', name: 'sum', from: ['vectors', 'spread'] },
    { kind: 'dense', name: 'head', kernel: new Float32Array(2 * T * 3).fill(0.5), inputs: 2 * T, units: 3, bias: null, activation: 'linear' },
  ];
  return { inputShape: [2 * T], inputName: 'inputs', inputParts: parts, layers };
}

describe('parseNpz', () => {
  it("reads np.savez's archive (the fixture) into arrays by name", async () => {
    const bytes = new Uint8Array(await readFile(fixture));
    expect(isZip(bytes)).toBe(true);
    const arrays = parseNpz(bytes, 'samples.npz');
    expect([...arrays.keys()]).toEqual(['input_ids', 'attention_mask', 'token_type_ids']);
    expect(arrays.get('attention_mask')!.dtype).toBe('int64');
    expect(arrays.get('attention_mask')!.shape).toEqual([64, 49]);
    // Sample 1 has 49 − 7 tokens: its last 7 positions are padding.
    const mask = Array.from(arrays.get('attention_mask')!.data as BigInt64Array, Number).slice(49, 98);
    expect(mask).toEqual([...Array(42).fill(1), ...Array(7).fill(0)]);
  });

  it("reads np.savez_compressed's deflated entries and bool arrays", () => {
    const bytes = zipSync({ 'ids.npy': npy('<i4', [2, 3], [1, 2, 3, 4, 5, 6]), 'mask.npy': npy('|b1', [2, 3], [1, 1, 0, 1, 0, 0]) }, { level: 6 });
    const arrays = parseNpz(bytes, 'c.npz');
    expect(Array.from(arrays.get('ids')!.data as Int32Array)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(arrays.get('mask')!.dtype).toBe('bool');
    expect(Array.from(arrays.get('mask')!.data as Uint8Array)).toEqual([1, 1, 0, 1, 0, 0]);
  });

  it('refuses a broken archive, naming the file and the entry', () => {
    const good = zipSync({ 'a.npy': npy('<f4', [2], [1, 2]) }, { level: 0 });
    expect(() => parseNpz(good.slice(0, good.length - 10), 'cut.npz')).toThrow(/^cut\.npz: expected a zip archive of \.npy arrays \(np\.savez\), found one fflate cannot read/);
    expect(() => parseNpz(zipSync({ 'a.npy': new TextEncoder().encode('not an array') }, { level: 0 }), 'x.npz')).toThrow(/^x\.npz: a\.npy: magic/);
    expect(() => parseNpz(zipSync({}), 'empty.npz')).toThrow(/^empty\.npz: expected one or more \.npy arrays \(np\.savez\), found none/);
    expect(() => parseNpz(zipSync({ 'a.npy': npy('<f4', [1], [1]), 'a': npy('<f4', [1], [2]) }, { level: 0 }), 'twice.npz')).toThrow(/^twice\.npz: a: expected each array once, found 'a' twice/);
  });

  it('checks the sizes an archive declares before inflating anything (a 100-byte file may declare 4 GiB)', () => {
    const bytes = zipSync({ 'a.npy': npy('<f4', [2], [1, 2]) }, { level: 0 });
    // The central directory's uncompressed size (offset 24 of its entry) set to 4 GiB − 1.
    const central = centralEntry(bytes);
    const lying = bytes.slice();
    new DataView(lying.buffer).setUint32(central + 24, 0xffffffff, true);
    expect(() => parseNpz(lying, 'bomb.npz')).toThrow(/^bomb\.npz: a\.npy: size: expected at most 1073741824 bytes inflated, found 4294967295 declared/);
    // Deflated: at most 1032 times the compressed bytes (and a truthful size that fflate then fills).
    const packed = zipSync({ 'a.npy': npy('<f4', [1000], Array(1000).fill(0)) }, { level: 9 });
    const at = centralEntry(packed);
    const stored = new DataView(packed.buffer).getUint32(at + 20, true);
    new DataView(packed.buffer).setUint32(at + 24, stored * 1032 + 65, true);
    expect(() => parseNpz(packed, 'ratio.npz')).toThrow(/^ratio\.npz: a\.npy: size: expected at most 1032× its \d+ compressed bytes inflated/);
    // A size below the truth: fflate stops there, and the array's own header finds it short.
    new DataView(packed.buffer).setUint32(at + 24, 200, true);
    expect(() => parseNpz(packed, 'short.npz')).toThrow(/^short\.npz: a\.npy: data: expected 4000 bytes/);
    const compressed = bytes.slice();
    new DataView(compressed.buffer).setUint32(central + 20, 0x7fffffff, true);
    expect(() => parseNpz(compressed, 'long.npz')).toThrow(/^long\.npz: a\.npy: compressed size: expected at most the archive's \d+ bytes/);
  });
});

describe('samplesForModel with several inputs (an .npz of one array per input)', () => {
  const network = maskedNetwork();
  const model = { network, imageLayout: 'nchw' as const };
  const arrays = (ids: Uint8Array, mask: Uint8Array, extra: Record<string, Uint8Array> = {}) => parseNpz(zipSync({ 'input_ids.npy': ids, 'attention_mask.npy': mask, ...extra }, { level: 0 }), 's.npz');
  const ids = npy('<i8', [2, 4], [1, 2, 3, 0, 9, 8, 0, 0]);
  const mask = npy('<i8', [2, 4], [1, 1, 1, 0, 1, 1, 0, 0]);

  it('packs each sample as its ids then its mask, leaving arrays the model does not take', () => {
    networkGraph(network, 'masked');
    const samples = samplesForModel(arrays(ids, mask, { token_type_ids: npy('<i8', [2, 4], [0, 0, 0, 0, 0, 0, 0, 0]) }), model, 's.npz');
    expect(samples.count).toBe(2);
    expect(Array.from(samples.data)).toEqual([1, 2, 3, 0, 1, 1, 1, 0, 9, 8, 0, 0, 1, 1, 0, 0]);
    expect(samplesForModel(arrays(ids, mask), model, 's.npz', { maxSamples: 1 }).data.length).toBe(8);
  });

  it('refuses what does not fit, naming the file, the array and what was expected', () => {
    const fails = (input: Parameters<typeof samplesForModel>[0], pattern: RegExp) => expect(() => samplesForModel(input, model, 's.npz')).toThrow(pattern);
    fails(parseNpz(zipSync({ 'input_ids.npy': ids }, { level: 0 }), 's.npz'), /^s\.npz: expected an array 'attention_mask' \(the model's inputs: 'input_ids', 'attention_mask'\), found 'input_ids'/);
    fails(arrays(ids, npy('<i8', [2, 4], [1, 1, 2, 0, 1, 1, 0, 0])), /^s\.npz: attention_mask: data: expected a mask, 0 or 1, found 2 in sample 0 at position 2/);
    fails(arrays(npy('<i8', [2, 4], [1, 2, 3, 0, 9, 10, 0, 0]), mask), /^s\.npz: input_ids: data: expected token ids, whole numbers from 0 to 9 \(the embedding's vocabulary\), found 10 in sample 1 at position 1/);
    fails(arrays(ids, npy('<i8', [3, 4], Array(12).fill(1))), /^s\.npz: shape: expected the same number of samples P in every array, found 2 in 'input_ids', 3 in 'attention_mask'/);
    fails(arrays(ids, npy('<i8', [2, 5], Array(10).fill(1))), /^s\.npz: attention_mask: shape: expected \(P, 4\) to match the model's input, found \(2, 5\)/);
    fails({ shape: [2, 8], dtype: 'float32', data: new Float32Array(16) }, /^s\.npz: expected an \.npz of one array per model input \('input_ids', 'attention_mask': np\.savez\(path, input_ids=…, attention_mask=…\)\), found one array/);
  });

  it('a model of one input takes an .npz of one array too, and refuses two', () => {
    const single: Network = { inputShape: [3], layers: [{ kind: 'dense', name: 'd', kernel: new Float32Array(6), inputs: 3, units: 2, bias: null, activation: 'linear' }] };
    const one = parseNpz(zipSync({ 'x.npy': npy('<f4', [1, 3], [1, 2, 3]) }, { level: 0 }), 'one.npz');
    expect(Array.from(samplesForModel(one, { network: single, imageLayout: 'nchw' }, 'one.npz').data)).toEqual([1, 2, 3]);
    const two = parseNpz(zipSync({ 'x.npy': npy('<f4', [1, 3], [1, 2, 3]), 'y.npy': npy('<f4', [1, 3], [1, 2, 3]) }, { level: 0 }), 'two.npz');
    expect(() => samplesForModel(two, { network: single, imageLayout: 'nchw' }, 'two.npz')).toThrow(/^two\.npz: expected one array for the model's one input, found 2 \('x', 'y'\)/);
  });

  it('the forward passes check part values too (a library caller packing them itself)', () => {
    expect(() => checkPartValues(network, Float32Array.of(1, 2, 3, 0, 1, 1, 0.5, 0), 1)).toThrow(/^input part 'attention_mask': 0\.5 in sample 0 at position 2: expected a mask, 0 or 1/);
    expect(() => checkPartValues(network, Float32Array.of(1, 2, 3, 0, 1, 1, 1, 0, 1, 2, 3, -1, 1, 1, 1, 1), 2)).toThrow(/^input part 'input_ids': -1 in sample 1 at position 3: expected token ids/);
    expect(() => checkPartValues(network, Float32Array.of(1, 2, 3, 0, 1, 1, 1, 0), 1)).not.toThrow();
  });
});

describe('network.inputParts are validated with the graph', () => {
  const broken = (edit: (n: Network) => void) => {
    const network = maskedNetwork();
    edit(network);
    return () => networkGraph(network, 'net');
  };
  it('accepts the packed network', () => expect(() => networkGraph(maskedNetwork(), 'net')).not.toThrow());
  it('refuses parts that do not fill the input, or whose layer takes other values', () => {
    expect(broken((n) => (n.inputShape = [9]))).toThrow(/^net: inputShape \[9\]: expected \[8\], the parts' values one after another/);
    expect(broken((n) => ((n.layers[1] as { indices: Int32Array }).indices = Int32Array.of(4, 5, 6, 6)))).toThrow(/^net: input part 'attention_mask': expected a rearrange layer of its name taking values 4 to 7 of the network input 'inputs'/);
    expect(broken((n) => (n.inputParts![1].name = 'input_ids'))).toThrow(/^net: inputParts\[1\] 'input_ids': expected a name no other part has/);
    expect(broken((n) => (n.inputParts = n.inputParts!.slice(0, 1)))).toThrow(/^net: inputParts: expected two or more parts/);
  });
  it('refuses ids read by anything but an embedding, and the packed input read by anything but the parts', () => {
    expect(broken((n) => (n.layers[4] = { ...n.layers[4], from: ['input_ids'] } as Layer))).toThrow(/^net: input part 'input_ids' holds token ids: expected only embeddings \(and a lasttoken, for where the tokens end\) to read it, found layer 'spread' \(rearrange\)/);
    expect(broken((n) => (n.layers[4] = { ...n.layers[4], from: ['inputs'] } as Layer))).toThrow(/^net: layer 'spread' \(rearrange\) reads the network input 'inputs', which holds input parts/);
    expect(broken((n) => (n.inputParts![0].values = 'mask'))).toThrow(/^net: layer 2 'embed' \(embedding\): an embedding reads the network input \(token ids\) or an input part of ids, found 'input_ids'/);
  });
  it('errors are InputErrors', () => expect(broken((n) => (n.inputShape = [9]))).toThrow(InputError));
});
