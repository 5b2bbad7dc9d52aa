// Sparse initializers: onnxruntime loads the rewritten model and computes the same floats as the
// dense model with the same zeros; only weights that shrink move; sizes in the report are the
// file's. And fileSizes: plain and gzipped sizes.
import { readFileSync } from 'node:fs';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { fileSizes } from '../src/io/fileSizes.js';
import { withSparseInitializers } from '../src/io/onnx/sparse.js';
import { GraphBuilder, runOnnx } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';

const { onnx } = onnxProto;
type Tensor = OnnxTypes.ITensorProto;

const FIXTURES = [
  { file: 'test/fixtures/mnist-mlp.onnx', input: [784] },
  { file: 'test/fixtures/mnist-cnn.onnx', input: [1, 28, 28] },
  { file: 'test/fixtures/torch/resnet.onnx', input: [1, 28, 28] },
];
const load = (file: string) => new Uint8Array(readFileSync(file));
const encode = (model: OnnxTypes.IModelProto) => Uint8Array.from(onnx.ModelProto.encode(model).finish());
/** A decoded model's graph, its repeated fields present (protobufjs fills them in). */
const graphOf = (model: OnnxTypes.IModelProto) => model.graph as OnnxTypes.GraphProto;
const count = (dims: readonly unknown[]) => dims.reduce<number>((a, d) => a * Number(d), 1);

/** A float tensor's values, from raw_data or float_data (written here, independent of the library). */
function floats(tensor: Tensor): Float32Array {
  if (tensor.rawData?.length) return new Float32Array(Uint8Array.from(tensor.rawData).buffer);
  return Float32Array.from(tensor.floatData ?? []);
}

/** Weight names of Conv/Gemm/MatMul nodes (input 1), in the file's initializer order. */
function weightNames(model: OnnxTypes.IModelProto): string[] {
  const read = new Set((graphOf(model).node ?? []).filter((n) => ['Conv', 'Gemm', 'MatMul'].includes(n.opType ?? '')).map((n) => n.input![1]));
  return (graphOf(model).initializer ?? []).map((t) => t.name!).filter((name) => read.has(name));
}

/**
 * The model with each weight cut to its `keep(name)` fraction of largest magnitudes (the rest
 * set to +0), as a pruned model would be. Returns the bytes and each weight's nonzero count.
 */
function pruned(bytes: Uint8Array, keep: (name: string) => number): { bytes: Uint8Array; nonzeros: Map<string, number>; model: OnnxTypes.ModelProto } {
  const model = onnx.ModelProto.decode(bytes);
  const nonzeros = new Map<string, number>();
  for (const name of weightNames(model)) {
    const tensor = graphOf(model).initializer.find((t) => t.name === name)!;
    const values = floats(tensor);
    const kept = Math.round(values.length * keep(name));
    const order = Array.from(values.keys()).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]));
    for (const i of order.slice(kept)) values[i] = 0;
    tensor.rawData = new Uint8Array(values.buffer);
    tensor.floatData = [];
    nonzeros.set(name, values.filter((v) => v !== 0).length);
  }
  return { bytes: encode(model), nonzeros, model };
}

/** The dense values a SparseTensorProto stands for, rebuilt here from its int64 indices. */
function densify(sparse: OnnxTypes.ISparseTensorProto): Float32Array {
  const dense = new Float32Array(count(sparse.dims ?? []));
  const values = floats(sparse.values!);
  const indices = new BigInt64Array(Uint8Array.from(sparse.indices!.rawData!).buffer);
  expect(sparse.indices!.dataType).toBe(7); // INT64
  expect((sparse.indices!.dims ?? []).map(Number)).toEqual([values.length]);
  expect((sparse.values!.dims ?? []).map(Number)).toEqual([values.length]);
  indices.forEach((index, k) => {
    if (k > 0) expect(index).toBeGreaterThan(indices[k - 1]); // ascending: some readers require it
    dense[Number(index)] = values[k];
  });
  return dense;
}

/** Uniform [0, 1) pixels, like MNIST digits. */
function inputs(sample: number[], batch: number, seed: number): { data: Float32Array; dims: number[] } {
  const next = mulberry32(seed);
  return { data: Float32Array.from({ length: batch * count(sample) }, next), dims: [batch, ...sample] };
}

/** onnxruntime's outputs as bit patterns, so −0/+0 and NaN payloads count too. */
async function bits(bytes: Uint8Array, input: { data: Float32Array; dims: number[] }): Promise<number[]> {
  const out = await runOnnx(bytes, input.data, input.dims);
  return Array.from(new Uint32Array(out.buffer, out.byteOffset, out.length));
}

/** Bytes of a length-delimited field: the one-byte tag, the length varint, the message. */
const field = (length: number) => 1 + Math.max(1, Math.ceil(Math.log2(length + 1) / 7)) + length;

describe('withSparseInitializers', () => {
  for (const fixture of FIXTURES) {
    it(`${fixture.file} at 10% density: smaller, and onnxruntime gives the same floats`, async () => {
      const dense = pruned(load(fixture.file), () => 0.1);
      const { bytes, tensors } = withSparseInitializers(dense.bytes, fixture.file);
      const names = weightNames(dense.model);
      // Every weight is reported with its own counts; each is far below 1/3 density, so each moves.
      expect(tensors.map((t) => t.name)).toEqual(names);
      for (const entry of tensors) {
        const tensor = graphOf(dense.model).initializer.find((t) => t.name === entry.name)!;
        expect(entry.values).toBe(count(tensor.dims!));
        expect(entry.nonzeros).toBe(dense.nonzeros.get(entry.name));
        expect(entry.denseBytes).toBe(onnx.TensorProto.encode(tensor).finish().length);
        expect(entry.sparseBytes).toBeLessThan(entry.denseBytes / 2);
      }

      const model = onnx.ModelProto.decode(bytes);
      const graph = graphOf(model);
      expect(graph.sparseInitializer.map((s) => s.values!.name)).toEqual(names);
      for (const sparse of graph.sparseInitializer) {
        const original = graphOf(dense.model).initializer.find((t) => t.name === sparse.values!.name)!;
        expect((sparse.dims ?? []).map(Number)).toEqual((original.dims ?? []).map(Number));
        expect(Array.from(densify(sparse))).toEqual(Array.from(floats(original)));
        expect(onnx.SparseTensorProto.encode(sparse).finish().length).toBe(tensors.find((t) => t.name === sparse.values!.name)!.sparseBytes);
      }
      // Everything else is as it was: the other initializers, nodes, inputs, outputs, metadata.
      const rest = (m: OnnxTypes.IModelProto) =>
        encode({ ...m, graph: { ...m.graph, initializer: (graphOf(m).initializer ?? []).filter((t) => !names.includes(t.name!)), sparseInitializer: [] } });
      expect(rest(model)).toEqual(rest(dense.model));
      // The graph shrinks by exactly the reported sizes (plus each message's tag and length).
      const saved = tensors.reduce((s, t) => s + field(t.denseBytes) - field(t.sparseBytes), 0);
      const graphBytes = (m: OnnxTypes.IModelProto) => onnx.GraphProto.encode(graphOf(m)).finish().length;
      expect(graphBytes(dense.model) - graphBytes(model)).toBe(saved);
      // 12 bytes per kept weight against 4 per weight: about 30% of the weights' bytes.
      expect(bytes.length).toBeLessThan(dense.bytes.length * 0.4);

      const input = inputs(fixture.input, 5, 7);
      const expected = await bits(dense.bytes, input);
      expect(await bits(bytes, input)).toEqual(expected);
      // Not vacuous: the pruning changed the outputs, so the zeros are in the compared models.
      expect(await bits(load(fixture.file), input)).not.toEqual(expected);
    });
  }

  it('leaves weights of density above about 1/3 dense, and moves those below', async () => {
    // dense_1 (50 176 values) at 10%, dense_2 (2 048) at 30% and 36%, dense_3 untouched (100%).
    for (const [density2, moves2] of [[0.3, true], [0.36, false]] as const) {
      const keep = (name: string) => ({ 'dense_1.weight': 0.1, 'dense_2.weight': density2 })[name] ?? 1;
      const dense = pruned(load('test/fixtures/mnist-mlp.onnx'), keep);
      const { bytes, tensors } = withSparseInitializers(dense.bytes, 'mlp');
      const graph = graphOf(onnx.ModelProto.decode(bytes));
      const moved = graph.sparseInitializer.map((s) => s.values!.name);
      expect(moved).toEqual(moves2 ? ['dense_1.weight', 'dense_2.weight'] : ['dense_1.weight']);
      expect(graph.initializer.map((t) => t.name)).toEqual(['dense_1.bias', ...(moves2 ? [] : ['dense_2.weight']), 'dense_2.bias', 'dense_3.weight', 'dense_3.bias']);
      // The report says why: a tensor moves exactly when its sparse form is smaller.
      for (const t of tensors) expect(t.sparseBytes < t.denseBytes).toBe(moved.includes(t.name));
      expect(tensors.find((t) => t.name === 'dense_3.weight')).toMatchObject({ values: 320, nonzeros: 320 });
      const input = inputs([784], 3, 11);
      expect(await bits(bytes, input)).toEqual(await bits(dense.bytes, input));
    }
  });

  it('returns a model whose weights are all dense unchanged', () => {
    for (const { file } of FIXTURES) {
      const original = load(file);
      const { bytes, tensors } = withSparseInitializers(original, file);
      expect(Buffer.compare(bytes, original)).toBe(0); // (toEqual walks 200 KB element by element)
      expect(bytes.buffer === original.buffer).toBe(false); // a copy: the caller may reuse its buffer
      expect(tensors.length).toBeGreaterThan(0);
      for (const t of tensors) expect(t.sparseBytes).toBeGreaterThanOrEqual(t.denseBytes);
    }
  });

  it('handles float_data, −0, an all-zero weight, initializers listed as inputs (IR 3), and leaves biases alone', async () => {
    const g = new GraphBuilder(5);
    const conv = g.node('Relu', [g.conv('input', 2, 4, 3, { pad: 1 })]);
    const hidden = g.node('Relu', [g.gemm(g.node('Flatten', [conv]), 4 * 6 * 6, 16)]);
    const zeroWeight = g.weight([16, 16], 1);
    const model = onnx.ModelProto.decode(g.model([2, 6, 6], g.node('Add', [hidden, g.node('MatMul', [hidden, zeroWeight])]), 9));
    const inits = graphOf(model).initializer; // conv weight, conv bias, gemm weight, gemm bias, matmul weight
    inits.forEach((t, k) => {
      // Every tensor at ~15% density (biases too: they must stay dense anyway), the MatMul weight
      // all zero; zeros written as −0, as the solver's soft threshold sign(t)·max(|t| − λ, 0)
      // leaves negative weights; all stored as float_data instead of raw_data.
      const values = floats(t);
      const next = mulberry32(k);
      const keep = t.name === zeroWeight ? 0 : 0.15;
      values.forEach((_, i) => (values[i] = next() < keep ? values[i] : -0));
      delete (t as Tensor).rawData; // absent, not empty: onnxruntime reads an empty raw_data as the data
      t.floatData = Array.from(values);
    });
    // IR 3: every initializer is also a graph input.
    model.irVersion = 3;
    const info = (t: Tensor) => ({ name: t.name, type: { tensorType: { elemType: 1, shape: { dim: (t.dims ?? []).map((d) => ({ dimValue: d })) } } } });
    graphOf(model).input = [...graphOf(model).input, ...inits.map(info)];
    const denseBytes = encode(model);

    const { bytes, tensors } = withSparseInitializers(denseBytes, 'built');
    const out = onnx.ModelProto.decode(bytes);
    const moved = graphOf(out).sparseInitializer;
    expect(moved.map((s) => s.values!.name)).toEqual([inits[0].name, inits[2].name, zeroWeight]);
    expect(graphOf(out).initializer.map((t) => t.name)).toEqual([inits[1].name, inits[3].name]);
    for (const sparse of moved) {
      const original = floats(inits.find((t) => t.name === sparse.values!.name)!);
      // −0 is a zero: not counted, not stored, rebuilt as +0.
      expect(tensors.find((t) => t.name === sparse.values!.name)!.nonzeros).toBe(original.filter((v) => v !== 0).length);
      expect(Array.from(densify(sparse))).toEqual(Array.from(original, (v) => v + 0));
    }
    expect(tensors.find((t) => t.name === zeroWeight)).toMatchObject({ values: 256, nonzeros: 0 });
    // The graph inputs and IR version are kept (onnxruntime accepts sparse initializers listed as inputs).
    expect(graphOf(out).input.map((i) => i.name)).toEqual(graphOf(model).input.map((i) => i.name));
    expect(Number(out.irVersion)).toBe(3);
    const input = inputs([2, 6, 6], 4, 3);
    const expected = await bits(denseBytes, input);
    expect(await bits(bytes, input)).toEqual(expected);
    expect(expected.filter((b) => b !== 0 && b !== 0x80000000).length).toBeGreaterThan(8); // not all zeros
  });

  it('rejects declared sizes out of bounds or not matching the data, before allocating', () => {
    const g = new GraphBuilder(1);
    const model = onnx.ModelProto.decode(g.model([4], g.node('MatMul', ['input', g.weight([4, 3], 1, 'w')])));
    const w = graphOf(model).initializer.find((t) => t.name === 'w')!;
    const withDims = (dims: number[], floatData?: number[]) =>
      encode({ ...model, graph: { ...model.graph, initializer: [{ ...w, dims, ...(floatData ? { rawData: new Uint8Array(0), floatData } : {}) }] } });
    // 2^40 values declared by a few bytes of file: refused by the dims check, not by an allocation failure.
    expect(() => withSparseInitializers(withDims([1 << 20, 1 << 20]), 'huge.onnx')).toThrow(/huge\.onnx: initializer 'w': dims \[1048576, 1048576\]: expected at most/);
    expect(() => withSparseInitializers(withDims([4, 4]), 'short.onnx')).toThrow(/short\.onnx: initializer 'w': raw_data of 48 bytes: expected 64/);
    expect(() => withSparseInitializers(withDims([4, 3], [1, 2]), 'fd.onnx')).toThrow(/fd\.onnx: initializer 'w': 2 float_data values: expected 12/);
    expect(() => withSparseInitializers(new Uint8Array([1, 2, 3]), 'junk.bin')).toThrow(InputError);
  });
});

describe('fileSizes', () => {
  it('gives each file its size and gzip size, names in order', async () => {
    const zeros = new Uint8Array(1 << 20);
    const next = mulberry32(9);
    const random = Uint8Array.from({ length: 1 << 16 }, () => Math.floor(next() * 256));
    const sizes = await fileSizes([
      { name: 'zeros.bin', bytes: zeros },
      { name: 'random.bin', bytes: random },
      { name: 'empty', bytes: new Uint8Array(0) },
    ]);
    expect(sizes.map((s) => s.name)).toEqual(['zeros.bin', 'random.bin', 'empty']);
    expect(sizes.map((s) => s.bytes)).toEqual([1 << 20, 1 << 16, 0]);
    // Deflate caps a run at 258 bytes per ~2 bits: 1 MiB of zeros gzips to about 1 KB.
    expect(sizes[0].gzipBytes!).toBeLessThan(2000);
    // Random bytes do not compress: stored blocks add 5 bytes per 64 KiB, plus the 18-byte frame.
    expect(sizes[1].gzipBytes!).toBeGreaterThan(1 << 16);
    expect(sizes[1].gzipBytes!).toBeLessThan((1 << 16) * 1.01);
    expect(sizes[2].gzipBytes).toBe(20); // header, an empty final block, trailer
  });
});
