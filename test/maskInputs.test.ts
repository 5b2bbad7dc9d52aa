// Models of several inputs: Hugging Face text classifiers exported with their attention mask
// (test/fixtures/torch2, scripts/torch2-fixtures.mjs): input_ids and attention_mask, and
// token_type_ids through the TorchScript exporter (Optimum's: the sequence length open, here fixed
// by the samples' shape). The inputs are packed into one
// network input (network/inputParts.ts), the mask's path (Cast, GatherND, And, Where, the Add
// to attention's scores) read as moves and an affine map. Each model reads to what onnxruntime
// computes on padded samples, on the GPU too, and prunes from the CLI with an .npz of samples.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/index.js';
import { readSamplesFile } from '../src/io/files.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { shapesOfSamples } from '../src/io/inputSizes.js';
import type { NpyArray } from '../src/io/npy.js';
import { samplesForModel } from '../src/io/samples.js';
import { runCli } from './helpers/cli.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { pruneTextStructured } from './helpers/textModels.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const dir = join(fixtures, 'torch2');
const samplesPath = join(dir, 'text-mask-samples.npz');
const arrays = (await readSamplesFile(samplesPath)) as Map<string, NpyArray>;
const sizes = { samples: shapesOfSamples(arrays) };
const COUNT = 12;
const T = 49;

const MODELS: Array<[string, string[]]> = [
  ['hf-bert-mask', ['input_ids', 'attention_mask']],
  ['hf-distilbert-mask', ['input_ids', 'attention_mask']],
  ['hf-bert-mask-torchscript', ['input_ids', 'attention_mask', 'token_type_ids']],
];

/** Sample p's arrays as onnxruntime's feeds (int64, batch 1); `unmasked`: every token attended. */
function feeds(names: string[], p: number, unmasked = false): Record<string, ort.Tensor> {
  return Object.fromEntries(
    names.map((name) => {
      const values = (arrays.get(name)!.data as BigInt64Array).slice(p * T, (p + 1) * T);
      if (unmasked && name === 'attention_mask') values.fill(1n);
      return [name, new ort.Tensor('int64', values, [1, T])];
    }),
  );
}

async function runtimeOutputs(model: string | Uint8Array, names: string[], count = COUNT, unmasked = false): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const outputs: number[] = [];
  for (let p = 0; p < count; p++) outputs.push(...((await session.run(feeds(names, p, unmasked)))[session.outputNames[0]].data as Float32Array));
  return Float32Array.from(outputs);
}

describe('models of several inputs (ids, attention mask, token types): read to what onnxruntime computes', () => {
  for (const [name, names] of MODELS)
    it(name, async () => {
      const path = join(dir, `${name}.onnx`);
      const model = await loadModelFile(path, sizes);
      expect(model.network.inputParts!.map((p) => [p.name, p.values, p.shape])).toEqual(names.map((n) => [n, n === 'attention_mask' ? 'mask' : 'ids', [T]]));
      expect(model.network.inputShape).toEqual([names.length * T]);
      // The samples file's arrays packed per sample: the extra token_type_ids left for the models without it.
      const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      expect(samples.count).toBe(COUNT);
      expect(Array.from(samples.data.subarray(T, 2 * T))).toEqual(Array.from(arrays.get(names[1])!.data as BigInt64Array, Number).slice(0, T));
      const theirs = await runtimeOutputs(path, names);
      const ours = forwardCpu(model.network, samples.data, COUNT).output;
      expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
      // The padding matters: with every token attended, the logits are others.
      expect(relativeError(await runtimeOutputs(path, names, COUNT, true), theirs)).toBeGreaterThan(0.01);
      // Written back (the inputs as they were), onnxruntime runs it to the same outputs.
      const [written] = await model.serialize(model.network);
      expect(relativeError(await runtimeOutputs(written.bytes, names), theirs)).toBeLessThan(1e-6);
    });
});

describe.skipIf(!gpu)('models of several inputs: the GPU forward pass equals the float64 one', () => {
  for (const [name] of MODELS)
    it(`${name}: outputs and every prunable layer's input and target`, async () => {
      const model = await loadModelFile(join(dir, `${name}.onnx`), sizes);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      await expectGpuForwardMatches(gpu!, model.network, data, COUNT);
    });
});

describe('models of several inputs: net-trim prune --samples S.npz', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'net-trim-mask-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('hf-distilbert-mask: --structured --latency writes a model.onnx that onnxruntime runs as reported', async () => {
    const count = 24;
    const { report, model: bytes, stdout } = await pruneTextStructured(join(dir, 'hf-distilbert-mask.onnx'), samplesPath, labels, count, ['--latency']);
    expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
    // The first block's K and V read what its Q reads, as trained: cascade keeps them (ε would be 0), and says so.
    expect(report.keptAsTrained).toHaveLength(2);
    expect(report.layers.map((l: { name: string }) => l.name)).not.toContain(report.keptAsTrained[0]);
    expect(stdout).toContain(`kept as trained: ${report.keptAsTrained.join(', ')}`);
    // The residual stream keeps its channels (LayerNorm reads them all): one note for every such sum.
    const sums = report.deployment.units.notes.filter((n: string) => n.includes('residual sum'));
    expect(sums).toHaveLength(1);
    expect(sums[0]).toMatch(/^\d+ residual sums keep all their channels \(a channel of a sum goes only when no reader of the sum or of its inputs reads it\): '/);
    const names = ['input_ids', 'attention_mask'];
    const outputs = await runtimeOutputs(bytes, names, count);
    expect(accuracyOf(outputs, labels, count)).toBeCloseTo(report.accuracyAfter, 6);
    // Both inputs fed to both models, at the fixed batch of 1 of a dynamo export.
    const latency = report.deployment.latency;
    expect(latency.rows.map((r: { batch: number }) => r.batch)).toEqual([1]);
    expect(latency.rows[0].models.map((m: { label: string; runs: number }) => [m.label, m.runs])).toEqual([['trained', 30], ['pruned', 30]]);
  });

  it('refuses samples that do not fit the inputs, naming the file, the array and what was expected', async () => {
    const model = join(dir, 'hf-bert-mask.onnx');
    const run = (samples: string) => runCli(['prune', model, '--samples', samples, '--backend', 'cpu', '--out', join(out, 'refused')]);
    const one = await run(join(fixtures, 'text-samples.npy'));
    expect(one.code).toBe(2);
    expect(one.stderr).toMatch(/text-samples\.npy: expected an \.npz of one array per model input \('input_ids', 'attention_mask': np\.savez\(path, input_ids=…, attention_mask=…\)\), found one array/);
  });
});
