// A sentence-embedding model as its ONNX is published: Optimum's feature-extraction export of a
// BertModel (test/fixtures/torch2/hf-bert-features.onnx), three inputs, the sequence length open,
// the token embeddings last_hidden_state [batch, T, 32] the output; and the same model with
// sentence-transformers' mean pooling in the graph (hf-bert-mean-pooled.onnx: h · mask summed
// over the tokens, over the mask's count), and both as Optimum exports a sentence-transformers
// model (hf-bert-sentence.onnx: token_embeddings and sentence_embedding, two outputs packed into
// one). Each reads to what onnxruntime computes on padded
// samples, on the GPU too, and prunes without labels: the report's output discrepancy is the one
// onnxruntime measures between the trained and the written model.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/index.js';
import { readSamplesFile } from '../src/io/files.js';
import { shapesOfSamples } from '../src/io/inputSizes.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import type { NpyArray } from '../src/io/npy.js';
import { samplesForModel } from '../src/io/samples.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { runCli } from './helpers/cli.js';
import { gpuForTests } from './helpers/gpu.js';
import { mnistFixtures } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures } = await mnistFixtures();
const gpu = await gpuForTests();
const modelPath = join(fixtures, 'torch2', 'hf-bert-features.onnx');
const pooledPath = join(fixtures, 'torch2', 'hf-bert-mean-pooled.onnx');
const sentencePath = join(fixtures, 'torch2', 'hf-bert-sentence.onnx');
const samplesPath = join(fixtures, 'torch2', 'text-mask-samples.npz');
const arrays = (await readSamplesFile(samplesPath)) as Map<string, NpyArray>;
const NAMES = ['input_ids', 'attention_mask', 'token_type_ids'];
const T = 49;
const H = 32;

/** onnxruntime's outputs for the first `count` samples, as one batch (`unmasked`: every token attended); several packed per sample, in order. */
async function runtimeOutputs(model: string | Uint8Array, count: number, unmasked = false): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const values = (name: string) => {
    const data = (arrays.get(name)!.data as BigInt64Array).slice(0, count * T);
    return unmasked && name === 'attention_mask' ? data.fill(1n) : data;
  };
  const feeds = Object.fromEntries(NAMES.map((name) => [name, new ort.Tensor('int64', values(name), [count, T])]));
  const results = await session.run(feeds);
  const outputs = session.outputNames.map((name) => results[name].data as Float32Array);
  if (outputs.length === 1) return outputs[0];
  const sizes = outputs.map((o) => o.length / count);
  const packed = new Float32Array(count * sizes.reduce((a, b) => a + b, 0));
  let at = 0;
  for (let p = 0; p < count; p++) outputs.forEach((o, k) => (packed.set(o.subarray(p * sizes[k], (p + 1) * sizes[k]), at), (at += sizes[k])));
  return packed;
}

/** Each sample's mean of its real tokens' embeddings (sentence-transformers' mean pooling). */
function meanPooled(hidden: Float32Array, count: number): Float64Array[] {
  const mask = arrays.get('attention_mask')!.data as BigInt64Array;
  return Array.from({ length: count }, (_, p) => {
    const sum = new Float64Array(H);
    let tokens = 0;
    for (let t = 0; t < T; t++) {
      if (mask[p * T + t] === 0n) continue;
      tokens++;
      for (let h = 0; h < H; h++) sum[h] += hidden[(p * T + t) * H + h];
    }
    return sum.map((v) => v / tokens);
  });
}

const cosine = (a: Float64Array, b: Float64Array) => {
  let ab = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) [ab, aa, bb] = [ab + a[i] * b[i], aa + a[i] * a[i], bb + b[i] * b[i]];
  return ab / Math.sqrt(aa * bb);
};

describe("a sentence-embedding model (Optimum's feature-extraction export of a BertModel)", () => {
  const count = 12;

  it('reads, its sequence length from the samples, to the token embeddings onnxruntime computes', async () => {
    const model = await loadModelFile(modelPath, { samples: shapesOfSamples(arrays) });
    expect(model.network.inputParts!.map((p) => [p.name, p.values])).toEqual([
      ['input_ids', 'ids'],
      ['attention_mask', 'mask'],
      ['token_type_ids', 'ids'],
    ]);
    const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: count });
    const ours = forwardCpu(model.network, data, count).output;
    expect(ours.length).toBe(count * T * H);
    expect(relativeError(ours, await runtimeOutputs(modelPath, count))).toBeLessThan(1e-5);
  });

  it('with mean pooling in the graph: the masked sum over the tokens by the mask\'s count, to the sentence embeddings onnxruntime computes', async () => {
    const model = await loadModelFile(pooledPath, { samples: shapesOfSamples(arrays) });
    // h · mask (a mul of two token tensors), two sums over the tokens (a mean, times T), the clamp, and 1/count times the sum.
    expect(model.network.layers.slice(-8).map((l) => (l.kind === 'activation' ? l.fn : l.kind))).toEqual(['mul', 'globalavgpool', 'batchnorm', 'globalavgpool', 'batchnorm', 'clip', 'reciprocal', 'mul']);
    const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: count });
    const ours = forwardCpu(model.network, data, count).output;
    const theirs = await runtimeOutputs(pooledPath, count);
    expect(theirs.length).toBe(count * H);
    expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
    // It is the mean of the real tokens' embeddings (the features model holds the same weights)…
    const pooled = meanPooled(await runtimeOutputs(modelPath, count), count);
    expect(relativeError(ours, Float64Array.from(pooled.flatMap((v) => Array.from(v))))).toBeLessThan(1e-5);
    // …and the padding matters: with every token attended the embeddings are others.
    expect(relativeError(await runtimeOutputs(pooledPath, count, true), theirs)).toBeGreaterThan(0.01);
  });

  it("as Optimum exports a sentence-transformers model: both outputs, the token embeddings and the pooled ones, packed", async () => {
    const model = await loadModelFile(sentencePath, { samples: shapesOfSamples(arrays) });
    expect(model.network.outputParts).toEqual([
      { name: 'token_embeddings', shape: [1, T, H] },
      { name: 'sentence_embedding', shape: [H] },
    ]);
    const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: count });
    const ours = forwardCpu(model.network, data, count).output;
    expect(ours.length).toBe(count * (T * H + H));
    expect(relativeError(ours, await runtimeOutputs(sentencePath, count))).toBeLessThan(1e-5);
  });

  it.skipIf(!gpu)('the GPU forward pass equals the float64 one, with and without the pooling, and with both outputs', async () => {
    for (const path of [modelPath, pooledPath, sentencePath]) {
      const model = await loadModelFile(path, { dims: { sequence_length: T } });
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: count });
      const cpu = forwardCpu(model.network, data, count);
      expect(relativeError((await forwardGpu(gpu!, model.network, data, count, { maxChunkSamples: 5 })).output, cpu.output), path).toBeLessThan(1e-5);
    }
  });

  describe('net-trim prune without labels', () => {
    let out: string;
    beforeAll(async () => {
      out = await mkdtemp(join(tmpdir(), 'net-trim-features-'));
    });
    afterAll(async () => {
      await rm(out, { recursive: true, force: true });
    });

    for (const [name, path] of [
      ['token embeddings', modelPath],
      // (The mean-pooled model prunes as these do: the pooling comes after every prunable layer.)
      ['both outputs', sentencePath],
    ])
      it(`${name}: writes a model whose discrepancy in onnxruntime is the reported one, each sentence's embedding close to the trained one`, async () => {
        const samples = 16;
        const target = join(out, name.replace(/ /g, '-'));
        const args = ['prune', path, '--samples', samplesPath, '--max-samples', String(samples), '--epsilon-gain', '0.02', '--max-iterations', '150', '--backend', 'cpu', '--out', target];
        const { code, stdout, stderr } = await runCli(args);
        expect(code, stderr).toBe(0);
        expect(stdout).not.toContain('accuracy');
        const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
        expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
        expect(report.model.notes[0]).toContain("'sequence_length' at 49 (from the samples)");
        const trained = await runtimeOutputs(path, samples);
        const pruned = await runtimeOutputs(new Uint8Array(await readFile(join(target, 'model.onnx'))), samples);
        // The reported discrepancy (float64, on the pruning samples), as onnxruntime measures it (float32).
        const measured = relativeError(pruned, trained);
        expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
        expect(measured).toBeGreaterThan(0);
        // What a user of the embeddings sees: each sentence's (mean-pooled) vector stays close.
        // (Of both outputs, the sentence embedding: each sample's last H values.)
        const size = T * H + H;
        const vectors = (out: Float32Array) => (path === modelPath ? meanPooled(out, samples) : Array.from({ length: samples }, (_, p) => Float64Array.from(out.subarray((p + 1) * size - H, (p + 1) * size))));
        const [before, after] = [vectors(trained), vectors(pruned)];
        const worst = Math.min(...before.map((b, p) => cosine(b, after[p])));
        expect(worst).toBeGreaterThan(0.99);
      });
  });
});
