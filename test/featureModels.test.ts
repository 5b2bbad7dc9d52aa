// A sentence-embedding model as its ONNX is published: Optimum's feature-extraction export of a
// BertModel (test/fixtures/torch2/hf-bert-features.onnx), three inputs, the sequence length open,
// the token embeddings last_hidden_state [batch, T, 32] the output. It reads to what onnxruntime
// computes on padded samples, and prunes without labels: the report's output discrepancy is the
// one onnxruntime measures between the trained and the written model.
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
const samplesPath = join(fixtures, 'torch2', 'text-mask-samples.npz');
const arrays = (await readSamplesFile(samplesPath)) as Map<string, NpyArray>;
const NAMES = ['input_ids', 'attention_mask', 'token_type_ids'];
const T = 49;
const H = 32;

/** onnxruntime's last_hidden_state for the first `count` samples, as one batch. */
async function runtimeOutputs(model: string | Uint8Array, count: number): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const feeds = Object.fromEntries(NAMES.map((name) => [name, new ort.Tensor('int64', (arrays.get(name)!.data as BigInt64Array).slice(0, count * T), [count, T])]));
  const output = (await session.run(feeds))[session.outputNames[0]];
  expect(output.dims).toEqual([count, T, H]);
  return output.data as Float32Array;
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

  it.skipIf(!gpu)('the GPU forward pass equals the float64 one', async () => {
    const model = await loadModelFile(modelPath, { dims: { sequence_length: T } });
    const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: count });
    const cpu = forwardCpu(model.network, data, count);
    expect(relativeError((await forwardGpu(gpu!, model.network, data, count, { maxChunkSamples: 5 })).output, cpu.output)).toBeLessThan(1e-5);
  });

  describe('net-trim prune without labels', () => {
    let out: string;
    beforeAll(async () => {
      out = await mkdtemp(join(tmpdir(), 'net-trim-features-'));
    });
    afterAll(async () => {
      await rm(out, { recursive: true, force: true });
    });

    it('writes a model whose discrepancy in onnxruntime is the reported one, its pooled embeddings close to the trained ones', async () => {
      const samples = 16;
      const target = join(out, 'pruned');
      const args = ['prune', modelPath, '--samples', samplesPath, '--max-samples', String(samples), '--epsilon-gain', '0.02', '--max-iterations', '300', '--backend', 'cpu', '--out', target];
      const { code, stdout, stderr } = await runCli(args);
      expect(code, stderr).toBe(0);
      expect(stdout).not.toContain('accuracy');
      const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      expect(report.model.notes[0]).toContain("'sequence_length' at 49 (from the samples)");
      const trained = await runtimeOutputs(modelPath, samples);
      const pruned = await runtimeOutputs(new Uint8Array(await readFile(join(target, 'model.onnx'))), samples);
      // The reported discrepancy (float64, on the pruning samples), as onnxruntime measures it (float32).
      const measured = relativeError(pruned, trained);
      expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
      expect(measured).toBeGreaterThan(0);
      // What a user of the embeddings sees: each sentence's mean-pooled vector stays close.
      const before = meanPooled(trained, samples);
      const after = meanPooled(pruned, samples);
      const worst = Math.min(...before.map((b, p) => cosine(b, after[p])));
      expect(worst).toBeGreaterThan(0.99);
    });
  });
});
