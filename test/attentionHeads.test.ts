// Attention heads as units (src/prune/attentionHeads.ts): a head whose rows of the output
// projection are all zero goes from the network (its query, key and value columns, its slice of
// the scores and layout ops) and from the ONNX model written (the Reshapes' head counts, a
// computed bsz·num_heads, the repeated keys of grouped-query attention), which onnxruntime then
// runs to the pruned network's outputs. Heads a graph cannot resize (DeBERTa's per-head position
// constants) stay, with a note. Fixtures: test/fixtures/torch2 (scripts/torch2-fixtures.mjs) and
// torch/vit.onnx (PyTorch 1.13's nn.MultiheadAttention).
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forwardCpu, networkGraph } from '../src/index.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { samplesForModel } from '../src/io/samples.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { headGroups, headMap } from '../src/prune/attentionHeads.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { serializeRun } from '../src/report/pruneRun.js';
import { runCli } from './helpers/cli.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { maskFixtures } from './helpers/textModels.js';

const { fixtures, digits, labels } = await mnistFixtures();
const samplesPathOf = (name: string) => join(fixtures, name);
const { dir, samplesPath, mask, sizes } = await maskFixtures(fixtures);
const COUNT = 6;

/** The out-projections (convs reading merged heads) with the query heads `drop` picks (head k: input channels k·d … k·d + d − 1) zeroed. */
function zeroHeads(network: Network, d: number, drop: (head: number) => boolean): Network {
  const graph = networkGraph(network);
  const map = headMap(network, graph)!;
  const layers = network.layers.map((layer, i) => {
    const source = graph.sources[i][0];
    const here = source >= 0 ? map.tensors[source] : undefined;
    if (layer.kind !== 'conv2d' || !here || here.axis !== graph.outputShapes[source].length - 1) return layer;
    const kernel = layer.kernel.map((v, k) => (drop(Math.floor((Math.floor(k / layer.filters) % layer.inChannels) / d)) ? 0 : v));
    return { ...layer, kernel };
  });
  return { ...network, layers };
}

const convs = (network: Network) => network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');

describe('heads: where they are', () => {
  it('BERT: 2 heads per layer on the scores\' first axis and in runs of 16 channels of the merged output; none fixed', async () => {
    const { network } = await loadModelFile(join(dir, 'hf-bert-mask.onnx'), sizes);
    const graph = networkGraph(network);
    const map = headMap(network, graph)!;
    expect(map.all.length).toBe(4);
    expect(map.fixed.size).toBe(0);
    const scores = network.layers.findIndex((l) => l.kind === 'matmul');
    expect(graph.outputShapes[scores]).toEqual([2, 49, 49]);
    expect(map.tensors[scores]!.axis).toBe(0);
    const out = network.layers.findIndex((l) => l.name === 'node_MatMul_110');
    expect(headGroups(map, graph, out)).toEqual({ span: 16, count: 2 });
    // The attention mask is read by both heads through a broadcast: it ties nothing and is no head's.
    expect(map.tensors[network.layers.findIndex((l) => l.name === 'node_Where_98')]).toBeUndefined();
    // Past the budget of values labelled, heads are not looked for.
    expect(headMap(network, graph, 10_000)).toBeNull();
    // The feed-forward layers read no heads.
    expect(headGroups(map, graph, network.layers.findIndex((l) => l.name === 'node_MatMul_112'))).toBeNull();
  });
});

describe('heads removed and written: onnxruntime runs the model to the pruned network\'s outputs', () => {
  for (const [file, label, d, drop, heads] of [
    ['hf-bert-mask.onnx', 'BERT (dynamo: a literal head count in the keys\' Reshape)', 16, (k: number) => k === 1, [4, 2]],
    ['hf-distilbert-mask.onnx', 'DistilBERT', 16, (k: number) => k === 0, [4, 2]],
    ['hf-roberta-mask.onnx', 'RoBERTa', 16, (k: number) => k === 0, [4, 2]],
    ['hf-gpt2-mask.onnx', 'GPT-2 (one fused projection split in three)', 16, (k: number) => k === 0, [4, 2]],
    ['hf-gpt2-mask-torchscript.onnx', 'GPT-2, TorchScript', 16, (k: number) => k === 1, [4, 2]],
    ['hf-phi3-mask-torchscript.onnx', 'Phi-3 (a fused grouped-query projection)', 8, (k: number) => k < 2, [4, 2]],
    // Grouped-query: 4 query heads read 2 key heads; a group (2 query heads and their key head) is one unit.
    ['hf-llama-mask.onnx', 'Llama, grouped-query (dynamo\'s Expand of the key heads)', 8, (k: number) => k < 2, [4, 2]],
    ['hf-qwen2-mask-torchscript.onnx', 'Qwen2, grouped-query (TorchScript: sizes computed in a Concat)', 8, (k: number) => k >= 2, [4, 2]],
  ] as const)
    it(label, async () => {
      const model = await loadModelFile(join(dir, file), sizes);
      const pruned = zeroHeads(model.network, d, drop);
      const removal = removeUnreadUnits(pruned);
      expect(removal.heads).toEqual({ before: heads[0], after: heads[1] });
      expect(removal.unitsBefore - removal.unitsAfter).toBeGreaterThanOrEqual(heads[0] - heads[1]);
      expect(removal.notes.filter((n) => n.startsWith('attention heads read by'))).toHaveLength(2);
      const { data } = samplesForModel(mask.arrays, model, samplesPath, { maxSamples: COUNT });
      const expected = forwardCpu(pruned, data, COUNT).output;
      // Exact: only what nobody read went.
      expect(relativeError(forwardCpu(removal.network, data, COUNT).output, expected)).toBeLessThan(1e-6);
      // Every projection of a layer's attention lost a head's columns (the query's: 16 of 32, or 8 of 32 per query head).
      expect(convs(removal.network).reduce((s, l) => s + l.kernel.length, 0)).toBeLessThan(convs(model.network).reduce((s, l) => s + l.kernel.length, 0));
      const [written] = await model.serialize(removal.network, removal);
      expect(relativeError(await mask.runtimeOutputs(written.bytes, COUNT), expected)).toBeLessThan(1e-5);
    });

  it('grouped-query: the note counts query heads and groups', async () => {
    const model = await loadModelFile(join(dir, 'hf-llama-mask.onnx'), sizes);
    const removal = removeUnreadUnits(zeroHeads(model.network, 8, (k) => k < 2));
    expect(removal.notes[0]).toBe("attention heads read by conv2d 'node_linear_3': 4 → 2 (2 groups of 2 sharing a key head → 1)");
  });

  it('grouped-query: one query head of a group unread keeps the group (its key head serves the other)', async () => {
    const model = await loadModelFile(join(dir, 'hf-llama-mask.onnx'), sizes);
    const removal = removeUnreadUnits(zeroHeads(model.network, 8, (k) => k === 0));
    expect(removal.heads).toEqual({ before: 4, after: 4 });
  });

  it('ViT with PyTorch 1.13\'s nn.MultiheadAttention (bsz·num_heads and embed_dim computed from shapes): at batch 20', async () => {
    const bytes = new Uint8Array(await readFile(join(fixtures, 'torch', 'vit.onnx')));
    const handle = parseOnnxModel(bytes, 'vit.onnx');
    const pruned = zeroHeads(handle.network, 8, (k) => k === 1 || k === 2);
    const removal = removeUnreadUnits(pruned);
    expect(removal.heads).toEqual({ before: 8, after: 4 });
    // The fused in-projection keeps 2 of 4 heads of each of q, k and v: 48 of 96 columns.
    expect(convs(removal.network).map((l) => l.filters)).toEqual([32, 48, 32, 64, 32, 48, 32, 64, 32]);
    const written = writeOnnxModel(handle, removal.network, removal);
    expect(written.length).toBeLessThan(bytes.length);
    const input = digits.subarray(0, 20 * 784);
    expect(relativeError(await runOnnx(written, input, [20, 1, 28, 28]), forwardCpu(pruned, input, 20).output)).toBeLessThan(1e-5);
  });
});

describe('net-trim prune --structured', () => {
  it('ViT: the out-projections\' groups are heads; 4 of 8 go, the summary and report say so, and onnxruntime measures the reported discrepancy and accuracy', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-heads-'));
    try {
      const model = join(fixtures, 'torch', 'vit.onnx');
      const args = ['prune', model, '--samples', samplesPathOf('mnist-samples.npy'), '--labels', samplesPathOf('mnist-labels.npy'), '--max-samples', '40'];
      const run = await runCli([...args, '--structured', '--epsilon-gain', '0.3', '--max-iterations', '200', '--backend', 'cpu', '--out', join(out, 'p')]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toMatch(/neurons, channels and heads: 136 -> \d+ \([\d.]+% kept, attention heads among them 8 -> 4/);
      expect(run.stdout).toMatch(/attention heads read by conv2d '\/encoder\/layers\.0\/self_attn\/Gemm': 4 → 3/);
      const report = JSON.parse(await readFile(join(out, 'p', 'report.json'), 'utf8'));
      expect(report.deployment.units.heads).toEqual({ before: 8, after: 4 });
      expect(await readFile(join(out, 'p', 'report.html'), 'utf8')).toMatch(/<td>attention heads \(among them\)<\/td><td>8<\/td><td>4<\/td>/);
      const written = new Uint8Array(await readFile(join(out, 'p', 'model.onnx')));
      const heldOut = digits.subarray(40 * 784, 1000 * 784);
      const trained = await runOnnx(new Uint8Array(await readFile(model)), heldOut, [960, 1, 28, 28]);
      const pruned = await runOnnx(written, heldOut, [960, 1, 28, 28]);
      expect(accuracyOf(pruned, labels.subarray(40), 960)).toBeCloseTo(report.heldOut.accuracyAfter, 6);
      const samples = digits.subarray(0, 40 * 784);
      const rd = relativeError(await runOnnx(written, samples, [40, 1, 28, 28]), await runOnnx(new Uint8Array(await readFile(model)), samples, [40, 1, 28, 28]));
      expect(Math.abs(rd - report.relativeDiscrepancy) / report.relativeDiscrepancy).toBeLessThan(1e-4);
      expect(trained.length).toBe(pruned.length);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  }, 120_000);
});

describe('heads a model cannot lose keep', () => {
  it('DeBERTa (per-head position constants in the graph): the written model keeps every head, a note says why, and computes the pruned network', async () => {
    const model = await loadModelFile(join(dir, 'hf-deberta-mask.onnx'), sizes);
    const pruned = zeroHeads(model.network, 8, (k) => k === 0);
    const removal = removeUnreadUnits(pruned);
    expect(removal.heads).toEqual({ before: 8, after: 6 });
    const run = { result: { network: pruned } as never, search: null, removal, written: removal.network };
    const { run: kept, files } = await serializeRun(run, (network, resizing) => model.serialize(network, resizing));
    expect(kept.removal!.heads).toBeUndefined();
    expect(kept.removal!.notes[0]).toMatch(/^attention heads all kept in the model written: writeOnnxModel: .*hf-deberta-mask\.onnx: the model with the heads removed does not read back: .*node_bmm_1/);
    const { data } = samplesForModel(mask.arrays, model, samplesPath, { maxSamples: COUNT });
    expect(relativeError(await mask.runtimeOutputs(files[0].bytes, COUNT), forwardCpu(pruned, data, COUNT).output)).toBeLessThan(1e-5);
  });

  it('a head read by a layer that is not a projection (the network output) is fixed', () => {
    // Scores [2, 3, 3] of a one-token-wide toy straight to the output: both heads fixed.
    const network: Network = {
      inputShape: [3, 4],
      layers: [
        { kind: 'rearrange', name: 'q', indices: Int32Array.from({ length: 12 }, (_, i) => i), offset: null, shape: [2, 3, 2] },
        { kind: 'rearrange', name: 'k', from: ['input'], indices: Int32Array.from({ length: 12 }, (_, i) => i), offset: null, shape: [2, 2, 3] },
        { kind: 'matmul', name: 'scores', from: ['q', 'k'] },
      ],
    };
    const map = headMap(network, networkGraph(network))!;
    expect(map.all.length).toBe(2);
    expect(map.fixed.size).toBe(2);
  });
});
