// RoBERTa (and XLM-R, CamemBERT: the same embeddings) computes its position ids in the graph from
// the token ids: cumsum(ids ≠ pad)·(ids ≠ pad) + pad. Read as an embedding whose rows are those
// positions (types.ts PositionRule, idValues.ts), on the CPU and in the GPU's `positions`
// kernel. The fixtures (test/fixtures/torch2, scripts/torch2-fixtures.mjs) are tiny random
// RobertaForSequenceClassification exports through dynamo and TorchScript (Optimum's, the
// sequence length open); their samples are padded after the tokens, or before them in every third
// sample, so that the positions shift. MPNet (sentence-transformers' all-mpnet-base-v2) numbers its
// tokens the same way and adds a relative-position bias to the attention scores, its buckets
// folded from the position differences (Neg, Abs, Log, Min, Where) in float32 as the runtime does.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { forwardCpu, type EmbeddingLayer, type Network } from '../src/index.js';
import { onnx, type NodeProto } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnx/reader.js';
import { readSamplesFile } from '../src/io/files.js';
import { shapesOfSamples } from '../src/io/inputSizes.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import type { NpyArray } from '../src/io/npy.js';
import { samplesForModel } from '../src/io/samples.js';
import { tableRows } from '../src/network/cpuOps.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { runCli } from './helpers/cli.js';
import { expectGpuForwardMatches, gpuForTests, withBindingLimit } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { pruneTextStructured } from './helpers/textModels.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const dir = join(fixtures, 'torch2');
const samplesPath = join(dir, 'text-roberta-samples.npz');
const arrays = (await readSamplesFile(samplesPath)) as Map<string, NpyArray>;
const sizes = { samples: shapesOfSamples(arrays) };
const NAMES = ['input_ids', 'attention_mask'];
const MODELS = ['hf-roberta-mask', 'hf-roberta-mask-torchscript'];
const COUNT = 12;
const T = 49;

/** Samples `from` to `from + count` of the arrays, each cut to its first `tokens`, as onnxruntime's int64 feeds (batch `count`). */
function feeds(from: number, count: number, tokens = T): Record<string, ort.Tensor> {
  return Object.fromEntries(
    NAMES.map((name) => {
      const all = arrays.get(name)!.data as BigInt64Array;
      const values = BigInt64Array.from({ length: count * tokens }, (_, i) => all[(from + Math.floor(i / tokens)) * T + (i % tokens)]);
      return [name, new ort.Tensor('int64', values, [count, tokens])];
    }),
  );
}

/** The model's logits for samples 0..count−1, one run per sample (a dynamo export has a batch of 1). */
async function runtimeOutputs(model: string | Uint8Array, count = COUNT, tokens = T): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const outputs: number[] = [];
  for (let p = 0; p < count; p++) outputs.push(...((await session.run(feeds(p, 1, tokens)))[session.outputNames[0]].data as Float32Array));
  return Float32Array.from(outputs);
}

/** The packed samples (ids, then mask) of the first `count` samples cut to `tokens`. */
function packed(count: number, tokens: number): Float32Array {
  const [ids, mask] = NAMES.map((n) => feeds(0, count, tokens)[n].data as BigInt64Array);
  const out = new Float32Array(count * 2 * tokens);
  for (let p = 0; p < count; p++)
    for (let t = 0; t < tokens; t++) {
      out[p * 2 * tokens + t] = Number(ids[p * tokens + t]);
      out[p * 2 * tokens + tokens + t] = Number(mask[p * tokens + t]);
    }
  return out;
}

const positionLayer = (network: Network) => network.layers.find((l): l is EmbeddingLayer => l.kind === 'embedding' && !!l.positions)!;

describe("RoBERTa's positions from the ids", () => {
  it('tableRows: the padding at start, the other tokens counted from start + 1, per sample', () => {
    const ids = [5, 9, 1, 1, 1, 1, 7, 8, 6, 1, 4, 1];
    expect(Array.from(tableRows(ids, 4, { pad: 1, start: 1 }))).toEqual([2, 3, 1, 1, 1, 1, 2, 3, 2, 1, 3, 1]);
    expect(Array.from(tableRows(ids, 6, { pad: 1, start: 0 }))).toEqual([1, 2, 0, 0, 0, 0, 1, 2, 3, 0, 4, 0]);
    expect(tableRows(ids, 4)).toBe(ids);
  });

  for (const name of MODELS)
    it(`${name}: reads to what onnxruntime computes, left and right padding`, async () => {
      const path = join(dir, `${name}.onnx`);
      const model = await loadModelFile(path, sizes);
      const positions = positionLayer(model.network);
      expect([positions.positions, positions.vocabulary]).toEqual([{ pad: 1, start: 1 }, 66]);
      // The ids (up to 192) are bounded by the word table's 196 rows, not by the 66 positions.
      expect(model.network.layers.filter((l) => l.kind === 'embedding').map((l) => (l as EmbeddingLayer).vocabulary).sort()).toEqual([196, 66]);
      const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      const theirs = await runtimeOutputs(path);
      expect(relativeError(forwardCpu(model.network, samples.data, COUNT).output, theirs)).toBeLessThan(1e-5);
      // Written back, onnxruntime runs it to the same outputs.
      const [written] = await model.serialize(model.network);
      expect(relativeError(await runtimeOutputs(written.bytes), theirs)).toBeLessThan(1e-6);
    });

  it('hf-roberta-mask-torchscript at another length (--dim sequence_length=30); past the 66 positions it is refused', async () => {
    const path = join(dir, 'hf-roberta-mask-torchscript.onnx');
    const model = await loadModelFile(path, { dims: { sequence_length: 30 } });
    expect(relativeError(forwardCpu(model.network, packed(COUNT, 30), COUNT).output, await runtimeOutputs(path, COUNT, 30))).toBeLessThan(1e-5);
    // Row 1 + 64 is the table's last: 64 tokens read, 65 do not.
    await expect(loadModelFile(path, { dims: { sequence_length: 64 } })).resolves.toBeDefined();
    await expect(loadModelFile(path, { dims: { sequence_length: 65 } })).rejects.toThrow(/position_embeddings\/Gather.*embedding positions: expected a whole pad id and a whole start ≥ 0 with start \+ 65 tokens below the table's 66 rows, found pad 1 and start 1/);
  });

  it('what else computes with the ids is refused, naming the node', async () => {
    const bytes = new Uint8Array(await readFile(join(dir, 'hf-roberta-mask-torchscript.onnx')));
    const edited = (edit: (node: NodeProto) => void) => {
      const model = onnx.ModelProto.decode(bytes);
      for (const node of model.graph!.node!) edit(node);
      return new Uint8Array(onnx.ModelProto.encode(model).finish());
    };
    const reversed = edited((n) => n.opType === 'CumSum' && n.attribute!.push({ name: 'reverse', type: 2, i: 1 }));
    expect(() => parseOnnxModel(reversed, 'r.onnx', { dims: { sequence_length: 49 } })).toThrow(/r\.onnx: node \d+ \('\/model\/roberta\/embeddings\/CumSum', op CumSum\): CumSum of \[id ≠ pad\] on axis 1 \(exclusive or reversed\): expected the running count of the tokens that are not padding/);
    // The mask left out of the count's product: cumsum(ids ≠ pad) + pad gives the padding rows of its own.
    const unmasked = edited((n) => {
      if (n.opType === 'Mul' && n.name === '/model/roberta/embeddings/Mul') n.opType = 'Add';
    });
    expect(() => parseOnnxModel(unmasked, 'u.onnx', { dims: { sequence_length: 49 } })).toThrow(/u\.onnx: node \d+ \('\/model\/roberta\/embeddings\/Mul', op Add\): computes with the token ids: expected only RoBERTa's positions/);
  });
});

describe("MPNet's token embeddings: RoBERTa's positions and a relative-position bias", () => {
  const mpnet = join(dir, 'hf-mpnet-features.onnx');

  it('read to what onnxruntime computes, at 49 and at 30 tokens', async () => {
    const model = await loadModelFile(mpnet, sizes);
    expect(positionLayer(model.network).positions).toEqual({ pad: 1, start: 1 });
    const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
    expect(relativeError(forwardCpu(model.network, samples.data, COUNT).output, await runtimeOutputs(mpnet))).toBeLessThan(1e-5);
    const short = await loadModelFile(mpnet, { dims: { sequence_length: 30 } });
    expect(relativeError(forwardCpu(short.network, packed(COUNT, 30), COUNT).output, await runtimeOutputs(mpnet, COUNT, 30))).toBeLessThan(1e-5);
  });

  it('prunes without labels: the written model\'s discrepancy in onnxruntime is the reported one', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-mpnet-'));
    try {
      const count = 16;
      const { code, stderr } = await runCli(['prune', mpnet, '--samples', samplesPath, '--max-samples', String(count), '--epsilon-gain', '0.05', '--max-iterations', '150', '--backend', 'cpu', '--out', out]);
      expect(code, stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      const [trained, pruned] = [await runtimeOutputs(mpnet, count), await runtimeOutputs(new Uint8Array(await readFile(join(out, 'model.onnx'))), count)];
      const measured = relativeError(pruned, trained);
      expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe.skipIf(!gpu)("RoBERTa's positions on the GPU equal the float64 forward pass", () => {
  for (const name of [...MODELS, 'hf-mpnet-features'])
    it(`${name}: outputs and every prunable layer's input and target`, async () => {
      const model = await loadModelFile(join(dir, `${name}.onnx`), sizes);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      await expectGpuForwardMatches(gpu!, model.network, data, COUNT);
    });

  it('tables no storage binding holds are looked up on the host, the ids taken out of their input part', async () => {
    const model = await loadModelFile(join(dir, 'hf-roberta-mask.onnx'), sizes);
    const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
    // 20 000 bytes: a sample's scores (2·49·49 values, 19 208 bytes) fit, the word table (25 088) does not.
    const small = await forwardGpu(withBindingLimit(gpu!, 20_000), model.network, data, COUNT);
    expect(relativeError(small.output, forwardCpu(model.network, data, COUNT).output)).toBeLessThan(1e-5);
    // The positions' table too (a network of ids alone: a sample's 6 272 bytes fit 8 000, the table's 8 448 do not).
    const network: Network = { inputShape: [T], layers: [{ ...positionLayer(model.network), from: undefined }, { kind: 'globalavgpool', name: 'mean' }] };
    const ids = packed(COUNT, T).filter((_, i) => i % (2 * T) < T);
    const host = await forwardGpu(withBindingLimit(gpu!, 8_000), network, ids, COUNT);
    expect(relativeError(host.output, forwardCpu(network, ids, COUNT).output)).toBeLessThan(1e-6);
  });
});

describe('RoBERTa: net-trim prune --samples S.npz', () => {
  it('hf-roberta-mask-torchscript --structured: the model written still open, onnxruntime runs it as reported', async () => {
    const count = 24;
    const { report, model: bytes } = await pruneTextStructured(join(dir, 'hf-roberta-mask-torchscript.onnx'), samplesPath, labels, count);
    expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
    expect(accuracyOf(await runtimeOutputs(bytes, count), labels, count)).toBeCloseTo(report.accuracyAfter, 6);
    // Pruned: at 30 tokens too, what the pruned network read at 30 computes.
    const pruned = parseOnnxModel(bytes, 'model.onnx', { dims: { sequence_length: 30 } });
    expect(relativeError(forwardCpu(pruned.network, packed(count, 30), count).output, await runtimeOutputs(bytes, count, 30))).toBeLessThan(1e-5);
  });
});
