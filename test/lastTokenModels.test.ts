// GPT-2's sequence classification (and other decoders'): the logits of the last real token,
// argmax(arange(T)·(ids ≠ pad)), computed in the graph from the ids. Read as a lasttoken layer
// (types.ts LastTokenLayer, io/onnx/idValues.ts) reading the score and the ids, on the CPU and in
// the GPU's `lastToken` kernel. The fixtures (test/fixtures/torch2, scripts/torch2-fixtures.mjs)
// are a tiny random GPT2ForSequenceClassification (pad_token_id 0) through TorchScript (Optimum's,
// the sequence length open) and through dynamo (a GatherND at [0, it]; its Conv1Ds view tokens by
// constant shapes), run on the mask samples (0–19 padded tokens of id 0 each).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forwardCpu, networkGraph, type LastTokenLayer, type Network } from '../src/index.js';
import { onnx, onnxImportNotes } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnx/reader.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { samplesForModel } from '../src/io/samples.js';
import { lastTokenOf } from '../src/network/cpuOps.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { pruneTextStructured, maskFixtures } from './helpers/textModels.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const { dir, samplesPath, mask, arrays, sizes } = await maskFixtures(fixtures);
const path = join(dir, 'hf-gpt2-mask-torchscript.onnx');
const dynamo = join(dir, 'hf-gpt2-mask.onnx');
const COUNT = 16;

describe("GPT-2's last real token", () => {
  it('lastTokenOf: the last id that is not padding, 0 when none past the first is', () => {
    const ids = [5, 7, 0, 0, /**/ 0, 0, 0, 0, /**/ 0, 0, 5, 0, /**/ 5, 0, 7, 3];
    expect([0, 4, 8, 12].map((at) => lastTokenOf(ids, at, 4, 0))).toEqual([1, 0, 2, 3]);
  });

  it('hf-gpt2-mask-torchscript reads to what onnxruntime computes on padded samples', async () => {
    const model = await loadModelFile(path, sizes);
    const picks = model.network.layers.filter((l): l is LastTokenLayer => l.kind === 'lasttoken');
    expect(picks.map((l) => [l.pad, l.from])).toEqual([[0, ['/model/score/MatMul', 'input_ids']]]);
    const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
    const theirs = await mask.runtimeOutputs(path, COUNT);
    expect(relativeError(forwardCpu(model.network, samples.data, COUNT).output, theirs)).toBeLessThan(1e-5);
    // The padding matters: the last position's logits (a pad id that never occurs) are others.
    const last: Network = { ...model.network, layers: model.network.layers.map((l) => (l.kind === 'lasttoken' ? { ...l, pad: 2 ** 24 - 1 } : l)) };
    expect(relativeError(forwardCpu(last, samples.data, COUNT).output, theirs)).toBeGreaterThan(0.01);
    // Written back, onnxruntime runs it to the same outputs; at 30 tokens too.
    const [written] = await model.serialize(model.network);
    expect(relativeError(await mask.runtimeOutputs(written.bytes, COUNT), theirs)).toBeLessThan(1e-6);
    const short = await loadModelFile(path, { dims: { sequence_length: 30 } });
    expect(relativeError(forwardCpu(short.network, mask.packed(COUNT, 30), COUNT).output, await mask.runtimeOutputs(path, COUNT, 30))).toBeLessThan(1e-5);
  });

  it('hf-gpt2-mask (dynamo): the GatherND at [0, it]', async () => {
    const model = await loadModelFile(dynamo, sizes);
    expect(model.network.layers.filter((l) => l.kind === 'lasttoken')).toHaveLength(1);
    const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
    expect(relativeError(forwardCpu(model.network, samples.data, COUNT).output, await mask.runtimeOutputs(dynamo, COUNT))).toBeLessThan(1e-5);
  });

  it('a Dropout left in training mode (a model exported without eval()) reads as inference, said in a note', async () => {
    const model = onnx.ModelProto.decode(new Uint8Array(await readFile(path)));
    const graph = model.graph!;
    const score = graph.node!.find((n) => n.name === '/model/score/MatMul')!;
    const output = score.output![0];
    score.output = ['score_before_dropout'];
    graph.initializer!.push({ name: 'ratio', dataType: 1, dims: [], floatData: [0.1] }, { name: 'training', dataType: 9, dims: [], int32Data: [1] });
    graph.node!.splice(graph.node!.indexOf(score) + 1, 0, { name: 'dropout', opType: 'Dropout', input: ['score_before_dropout', 'ratio', 'training'], output: [output] });
    const handle = parseOnnxModel(new Uint8Array(onnx.ModelProto.encode(model).finish()), 'd.onnx', sizes);
    expect(onnxImportNotes(handle)).toContain(
      "1 Dropout has training_mode true ('dropout'): read as inference, as onnxruntime's default optimizations run them (a model exported in training mode? call model.eval() before exporting); the written model keeps them",
    );
    const samples = samplesForModel(arrays, await loadModelFile(path, sizes), samplesPath, { maxSamples: COUNT });
    expect(relativeError(forwardCpu(handle.network, samples.data, COUNT).output, forwardCpu((await loadModelFile(path, sizes)).network, samples.data, COUNT).output)).toBe(0);
  });

  for (const file of [path, dynamo])
    it.skipIf(!gpu)(`${file.split('/').pop()} on the GPU: outputs and every prunable layer's input and target equal the float64 pass`, async () => {
      const model = await loadModelFile(file, sizes);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      await expectGpuForwardMatches(gpu!, model.network, data, COUNT);
    });

  it('a lasttoken reads a tensor and then token ids; other last-token rules are refused, naming the node', async () => {
    const tokens = (from: string[]): Network => ({
      inputShape: [4],
      layers: [{ kind: 'embedding', name: 'e', table: new Float32Array(15), vocabulary: 5, dims: 3 }, { kind: 'lasttoken', name: 'last', pad: 0, from }],
    });
    expect(networkGraph(tokens(['e', 'input'])).outputShape).toEqual([3]);
    expect(() => networkGraph(tokens(['e', 'e']))).toThrow(/layer 1 'last' \(lasttoken\): lasttoken reads a tensor and then the token ids \(the network input\), found 'e', 'e'/);
    expect(() => networkGraph(tokens(['e']))).toThrow(/lasttoken reads a tensor and then the token ids \(the network input\), found 'e'$/);
    const floats: Network = { inputShape: [4], layers: [{ kind: 'reshape', name: 'r', shape: [1, 4, 1] }, { kind: 'lasttoken', name: 'last', pad: 0, from: ['r', 'input'] }] };
    expect(() => networkGraph(floats)).toThrow(/layer 'last' \(lasttoken\) reads the network input as token ids, but no embedding reads it/);
    // transformers 4's rule, the first padding minus one, is another ArgMax: refused.
    const model = onnx.ModelProto.decode(new Uint8Array(await readFile(path)));
    for (const node of model.graph!.node!) if (node.opType === 'ArgMax') node.attribute!.find((a) => a.name === 'select_last_index')!.i = 1;
    const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish());
    expect(() => parseOnnxModel(bytes, 'g.onnx', { dims: { sequence_length: 49 } })).toThrow(/g\.onnx: node \d+ \('\/model\/ArgMax', op ArgMax\): ArgMax of t·\[id ≠ pad\] on axis -1: expected the last real token/);
  });
});

describe('GPT-2: net-trim prune --samples S.npz', () => {
  for (const file of [path, dynamo])
  it(`${file.split('/').pop()} --structured: the written model, its MLPs narrower, runs in onnxruntime to the reported accuracy`, async () => {
    const count = 24;
    const { report, model: bytes } = await pruneTextStructured(file, samplesPath, labels, count);
    expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
    // Neurons of the MLPs go: GPT-2's Conv1D views its [batch·T, 128] back as [batch, T, 128] (and dynamo's GELU output as
    // [-1, 128]), which the written Reshapes' shapes follow.
    const mlp = report.deployment.units.layers.filter((l: { before: number }) => l.before === 128);
    expect(mlp).toHaveLength(2);
    expect(Math.min(...mlp.map((l: { after: number }) => l.after))).toBeLessThan(128);
    expect(accuracyOf(await mask.runtimeOutputs(bytes, count), labels, count)).toBeCloseTo(report.accuracyAfter, 6);
  });
});
