// Half-precision ONNX models (test/fixtures/torch2/half-resnet*.onnx: `model.half()` of a trained
// ResNet, by PyTorch 2's default exporter with float16 in and out, and by its TorchScript exporter
// behind float32 edges; scripts/half_fixture.py): read in float32 as onnxruntime computes them in
// float16, pruned with each new weight rounded to a half, written back in float16 (the sparse
// ONNX too), and timed with float16 inputs.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import onnxProto from 'onnx-proto';
import { forwardCpu, parseOnnxModel, removeUnreadUnits, withSparseInitializers } from '../src/index.js';
import { measureLatency } from '../src/io/latency.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { floatToHalf, halfBytes, halfToFloat } from '../src/network/half.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { runCli } from './helpers/cli.js';
import { accuracyOf, mnistFixtures, zeroInput } from './helpers/models.js';
import { GraphBuilder, relativeError } from './helpers/onnxGraphs.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();
const { onnx } = onnxProto;
const FLOAT = 1;
const FLOAT16 = 10;
const COUNT = 200;
const path = (name: string) => join(fixtures, 'torch2', `${name}.onnx`);
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'net-trim-half-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

/** onnxruntime's logits for the first `count` digits, fed in the type the model's input declares (one at a time for a fixed batch of 1). */
async function ortLogits(model: string | Uint8Array, count = COUNT): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const metadata = session.inputMetadata[0] as unknown as { type: string; shape: ReadonlyArray<number | string> };
  const batch = metadata.shape[0] === 1 ? 1 : count;
  const logits = new Float32Array(count * 10);
  for (let from = 0; from < count; from += batch) {
    const x = digits.subarray(from * 784, (from + batch) * 784);
    const input = metadata.type === 'float16' ? new ort.Tensor('float16', Uint16Array.from(x, floatToHalf), [batch, 1, 28, 28]) : new ort.Tensor('float32', x, [batch, 1, 28, 28]);
    const result = (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]];
    logits.set(result.type === 'float16' ? Float32Array.from(result.data as Uint16Array, halfToFloat) : (result.data as Float32Array), from * 10);
  }
  await session.release();
  return logits;
}

const weighted = (network: Network) => network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
const tensorTypes = (bytes: Uint8Array) => {
  const graph = onnx.ModelProto.decode(bytes).graph!;
  return { initializers: new Set((graph.initializer ?? []).filter((t) => t.dataType === FLOAT || t.dataType === FLOAT16).map((t) => t.dataType)), input: graph.input![0].type!.tensorType!.elemType, output: graph.output![0].type!.tensorType!.elemType };
};

describe('float16 ONNX models', () => {
  for (const [name, edges] of [['half-resnet', FLOAT16], ['half-resnet-io32', FLOAT]] as const)
    it(`${name}: read as onnxruntime computes it in float16, marked float16, and written back so unchanged`, async () => {
      const model = await loadModelFile(path(name));
      expect(weighted(model.network).every((l) => l.storage?.kernel === 'float16' && l.storage.bias === 'float16')).toBe(true);
      expect(model.notes?.some((n) => n.startsWith('float16 model: read and pruned in float32'))).toBe(true);
      const ours = forwardCpu(model.network, digits.subarray(0, COUNT * 784), COUNT).output;
      const reference = await ortLogits(path(name));
      // onnxruntime rounds every activation to a half (a relative 2⁻¹¹ each); we do not.
      expect(relativeError(ours, reference)).toBeLessThan(5e-3);
      const [written] = await model.serialize(model.network);
      const types = tensorTypes(written.bytes);
      expect([...types.initializers]).toEqual([FLOAT16]);
      expect([types.input, types.output]).toEqual([edges, edges]);
      // The file holds the network's weights, bit for bit.
      const again = weighted(parseOnnxModel(written.bytes, 'written.onnx').network);
      expect(again.map((l) => [l.name, Array.from(l.kernel), Array.from(l.bias ?? [])])).toEqual(weighted(model.network).map((l) => [l.name, Array.from(l.kernel), Array.from(l.bias ?? [])]));
      expect(relativeError(await ortLogits(written.bytes), reference)).toBeLessThan(5e-3);
    });

  it('net-trim prune: the report is the written float16 weights\' (each rounded as it replaced the trained one), and onnxruntime runs them as reported', async () => {
    const dir = join(out, 'pruned');
    const run = await runCli(['prune', path('half-resnet'), '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '100', '--epsilon-gain', '0.1', '--quiet', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const bytes = new Uint8Array(await readFile(join(dir, 'model.onnx')));
    expect(tensorTypes(bytes)).toEqual({ initializers: new Set([FLOAT16]), input: FLOAT16, output: FLOAT16 });
    const network = parseOnnxModel(bytes, 'model.onnx').network;
    const layers = weighted(network);
    const nonzeros = layers.reduce((n, l) => n + l.kernel.filter((v) => v !== 0).length + (l.bias?.filter((v) => v !== 0).length ?? 0), 0);
    expect(nonzeros).toBe(report.nonzerosAfter);
    expect(report.nonzerosAfter).toBeLessThan(0.9 * report.nonzerosBefore);
    // The accuracy reported is the written weights' (computed in float32): onnxruntime's float16
    // run of the written file agrees on all but a digit or two of the 900 held out.
    const logits = await ortLogits(join(dir, 'model.onnx'), 1000);
    const heldOut = accuracyOf(logits.subarray(100 * 10), labels.subarray(100), 900);
    expect(Math.abs(heldOut - report.heldOut.accuracyAfter)).toBeLessThanOrEqual(2 / 900);
    const ours = forwardCpu(network, digits.subarray(0, 1000 * 784), 1000).output;
    expect(relativeError(ours, logits)).toBeLessThan(5e-3);
    // The discrepancy reported is the written weights' too (honest: 1e-7; without the rounding in pruneNetwork, off by 4e-4).
    const trained = forwardCpu((await loadModelFile(path('half-resnet'))).network, digits.subarray(0, 100 * 784), 100).output;
    const discrepancy = relativeError(ours.subarray(0, 100 * 10), trained);
    expect(Math.abs(discrepancy - report.relativeDiscrepancy) / discrepancy).toBeLessThan(2e-6);
    expect(report.files.denseWeightBytes).toBe(2 * layers.reduce((n, l) => n + l.kernel.length + (l.bias?.length ?? 0), 0));
  });

  it('a BatchNormalization folded into a float16 conv: its products rounded to halves as read, so the file holds the network bit for bit', async () => {
    // The fixtures' BatchNorms were folded by the exporter; this graph keeps one (float16 throughout).
    const g = new GraphBuilder(7);
    const x = g.node('Relu', [g.batchNorm(g.conv('input', 2, 4, 3, { pad: 1 }), 4)]);
    const proto = onnx.ModelProto.decode(g.model([2, 5, 5], g.gemm(g.node('Flatten', [x]), 100, 3)));
    for (const t of proto.graph!.initializer!) {
      t.rawData = halfBytes(new Float32Array(t.rawData!.slice().buffer));
      t.dataType = FLOAT16;
    }
    for (const edge of [...proto.graph!.input!, ...proto.graph!.output!]) edge.type!.tensorType!.elemType = FLOAT16;
    await writeFile(join(out, 'bn.onnx'), onnx.ModelProto.encode(proto).finish());
    const model = await loadModelFile(join(out, 'bn.onnx'));
    const network = model.network;
    const [conv] = weighted(network);
    expect(conv.storage).toEqual({ kernel: 'float16', bias: 'float16' });
    expect(Array.from(conv.kernel, (v) => halfToFloat(floatToHalf(v)))).toEqual(Array.from(conv.kernel)); // halves, though products
    const [written] = await model.serialize(network);
    const again = weighted(parseOnnxModel(written.bytes, 'written.onnx').network);
    expect(again.map((l) => [Array.from(l.kernel), Array.from(l.bias ?? [])])).toEqual(weighted(network).map((l) => [Array.from(l.kernel), Array.from(l.bias ?? [])]));
  });

  it('removing a channel resizes the float16 tensors, which onnxruntime runs as our network computes', async () => {
    const model = await loadModelFile(path('half-resnet-io32'));
    const network = structuredClone(model.network);
    const [stem, body, , shortcut] = weighted(network);
    for (const reader of [body, shortcut]) zeroInput(reader, 3); // the stem's channel 3 is read no more
    const removal = removeUnreadUnits(network);
    expect(removal.kept.get(stem.name)).toEqual(Int32Array.from([0, 1, 2, 4, 5, 6, 7]));
    const [written] = await model.serialize(removal.network, removal);
    const graph = onnx.ModelProto.decode(written.bytes).graph!;
    const stemWeight = graph.initializer!.find((t) => t.dims!.map(Number).join() === '7,1,3,3')!;
    expect(stemWeight.dataType).toBe(FLOAT16);
    expect(tensorTypes(written.bytes).initializers).toEqual(new Set([FLOAT16]));
    const ours = forwardCpu(removal.network, digits.subarray(0, COUNT * 784), COUNT).output;
    expect(relativeError(await ortLogits(written.bytes), ours)).toBeLessThan(5e-3);
  });

  it('the sparse ONNX keeps a sparse float16 weight in float16, and onnxruntime rebuilds it', async () => {
    const model = await loadModelFile(path('half-resnet-io32'));
    const network = structuredClone(model.network);
    const body = weighted(network).find((l) => l.kernel.length === 2304)!;
    body.kernel = body.kernel.map((v, i) => (i % 7 === 0 ? v : 0)); // 1 in 7 kept: below float16's break-even of 1 in 5
    const [dense] = await model.serialize(network);
    const sparse = withSparseInitializers(dense.bytes, 'model.onnx');
    const moved = onnx.ModelProto.decode(sparse.bytes).graph!.sparseInitializer ?? [];
    expect(moved.map((t) => [t.values!.dataType, t.values!.dims!.map(Number)])).toEqual([[FLOAT16, [Math.ceil(2304 / 7)]]]);
    expect(sparse.bytes.length).toBeLessThan(dense.bytes.length);
    expect(await ortLogits(sparse.bytes)).toEqual(await ortLogits(dense.bytes));
  });

  it('--latency feeds a float16 input in float16', async () => {
    const bytes = new Uint8Array(await readFile(path('half-resnet-io32')));
    const model = await loadModelFile(path('half-resnet'));
    const [written] = await model.serialize(model.network);
    const result = await measureLatency([{ label: 'float16 in and out', format: 'onnx', files: [written] }, { label: 'float32 edges', format: 'onnx', files: [{ name: 'io32.onnx', bytes }] }], { inputShape: [1, 28, 28], batches: [1], repeats: 2, warmup: 0 });
    expect(result.rows.map((r) => r.models.map((m) => m.runs))).toEqual([[2, 2]]);
  });
});

describe('float16 tensors that are not what they claim', () => {
  it('a raw_data or int32_data of the wrong length: an error naming the file, the tensor and the field, before any value is read', async () => {
    const model = onnx.ModelProto.decode(await readFile(path('half-resnet-io32')));
    const tensor = model.graph!.initializer!.find((t) => t.dataType === FLOAT16 && (t.dims ?? []).length === 4)!;
    const declared = (tensor.dims ?? []).map(Number).reduce((a, b) => a * b, 1);
    tensor.rawData = tensor.rawData!.subarray(0, tensor.rawData!.length - 2);
    const short = new Uint8Array(onnx.ModelProto.encode(model).finish());
    expect(() => parseOnnxModel(short, 'short.onnx')).toThrow(`short.onnx: initializer '${tensor.name}': raw_data of ${2 * declared - 2} bytes: expected ${2 * declared} for float16 shape [${tensor.dims!.join(', ')}]`);
    tensor.rawData = new Uint8Array(0);
    tensor.int32Data = [0x3c00, 0x3c00];
    const ints = new Uint8Array(onnx.ModelProto.encode(model).finish());
    expect(() => parseOnnxModel(ints, 'ints.onnx')).toThrow(`ints.onnx: initializer '${tensor.name}': 2 int32_data values: expected ${declared} for float16 shape`);
  });
});
