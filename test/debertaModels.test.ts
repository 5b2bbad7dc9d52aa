// DeBERTa (v3's configuration of DebertaV2ForSequenceClassification): its embeddings times the
// mask per token (a mul by the mask repeated over the channels), the mask's outer product over the
// scores (a product of masks is a mask; masked_fill by ¬mask: the scores times keep plus the fill),
// and disentangled attention: the relative-position embeddings normalized (a LayerNormalization of
// a constant, folded) and projected by the query and key weights (folded), repeated per head
// (Tile), multiplied with the tokens' keys and queries (a matmul by a constant tensor) and
// gathered at each token pair's bucket (GatherElements at folded indices: a rearrange). Under
// TorchScript the buckets are computed (Sign, Abs, Log, Ceil, Clip fold) behind an If on the
// query and key lengths (the branch taken passes its tensor on). Fixtures: test/fixtures/torch2,
// scripts/torch2-fixtures.mjs.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/index.js';
import { onnx } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnx/reader.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { samplesForModel } from '../src/io/samples.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { MaskSamples, pruneTextStructured, maskFixtures } from './helpers/textModels.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const { dir, samplesPath, mask, arrays, sizes } = await maskFixtures(fixtures);
const dynamo = join(dir, 'hf-deberta-mask.onnx');
const torchscript = join(dir, 'hf-deberta-mask-torchscript.onnx');
const COUNT = 12;

describe('DeBERTa: read', () => {
  for (const [file, label] of [
    [dynamo, 'hf-deberta-mask (dynamo: the buckets folded)'],
    [torchscript, 'hf-deberta-mask-torchscript (the buckets computed, an If)'],
  ])
    it(`${label} reads to what onnxruntime computes on padded samples`, async () => {
      const model = await loadModelFile(file, sizes);
      const theirs = await mask.runtimeOutputs(file, COUNT);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      expect(relativeError(forwardCpu(model.network, data, COUNT).output, theirs)).toBeLessThan(1e-5);
      // The mask matters (the padded tokens' embeddings are zeroed and their scores filled).
      expect(relativeError(forwardCpu(model.network, mask.packed(COUNT, MaskSamples.T, true), COUNT).output, theirs)).toBeGreaterThan(0.01);
    });

  it('TorchScript at 30 tokens: the buckets and the gather indices fold for that length', async () => {
    const short = await loadModelFile(torchscript, { dims: { sequence_length: 30 } });
    expect(relativeError(forwardCpu(short.network, mask.packed(COUNT, 30), COUNT).output, await mask.runtimeOutputs(torchscript, COUNT, 30))).toBeLessThan(1e-5);
  });

  it('refuses an If whose branch taken computes, naming it', async () => {
    const model = onnx.ModelProto.decode(new Uint8Array(await readFile(torchscript)));
    const node = model.graph!.node!.find((n) => n.opType === 'If')!;
    const branch = node.attribute!.find((a) => a.name === 'else_branch')!.g!;
    branch.node![0].opType = 'Neg';
    const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish());
    expect(() => parseOnnxModel(bytes, 'd.onnx', { dims: { sequence_length: 49 } })).toThrow(/^d\.onnx: node \d+ \('If_\d+', op If\): else_branch \(taken: the condition is 0\) computes with 1 nodes: expected a branch that passes on tensors of the graph \(an Identity of each\)$/);
  });

  for (const file of [dynamo, torchscript])
    it.skipIf(!gpu)(`${file.split('/').pop()} on the GPU: outputs and every prunable layer's input and target equal the float64 pass`, async () => {
      const model = await loadModelFile(file, sizes);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: 4 });
      await expectGpuForwardMatches(gpu!, model.network, data, 4);
    });
});

describe('DeBERTa: net-trim prune --structured', () => {
  // (The TorchScript export prunes alike: by hand 160 → 132 neurons, rd 0.154 measured as reported.)
  for (const file of [dynamo])
    it(`${file.split('/').pop()}: fewer neurons; onnxruntime runs the written model to the reported discrepancy and accuracy`, async () => {
      const count = 16;
      const { report, model: bytes } = await pruneTextStructured(file, samplesPath, labels, count);
      expect(report.deployment.units.after).toBeLessThan(report.deployment.units.before);
      const pruned = await mask.runtimeOutputs(bytes, count);
      expect(accuracyOf(pruned, labels, count)).toBeCloseTo(report.accuracyAfter, 6);
      // The position projections read the trained query and key weights still (the writer gives
      // the pruned layers their own copies), as the network read them: the discrepancy is the reported one.
      const measured = relativeError(pruned, await mask.runtimeOutputs(file, count));
      expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy);
    });
});
