// PyTorch 2's default exporter (test/fixtures/torch2, scripts/torch2-fixtures.mjs: torch 2.13,
// `torch.onnx.export(model, (x,), path, dynamo=True)`): every weight in `NAME.onnx.data` beside
// the model, a fixed batch of 1, opset 18, and the graph patterns it writes (a class token folded
// into a constant, a causal mask as a bool constant, a Split by num_outputs, adaptive pools of a
// sequence as Unsqueeze → ReduceMean/ReduceMax → Squeeze, an as_strided Gather), and three of
// Hugging Face's transformers (BERT, DistilBERT, ViT for classification). Each reads with
// its data to what onnxruntime computes, is written back as one file onnxruntime runs the same,
// and prunes from the CLI (structured, with latency measured at its fixed batch).
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, parseOnnxModel } from '../src/index.js';
import { parseNpy } from '../src/io/npy.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { decodeModel, EXTERNAL } from '../src/io/onnx/common.js';
import { runCli } from './helpers/cli.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { nchwToNhwc, relativeError } from './helpers/onnxGraphs.js';

const { fixtures, samplesPath, labelsPath, digits, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const textSamples = join(fixtures, 'text-samples.npy');
const ids = Float32Array.from(parseNpy(await readFile(textSamples), textSamples).data as Int32Array);
const dir = join(fixtures, 'torch2');
const COUNT = 12;

type Kind = 'image' | 'sequence' | 'ids';
const MODELS: Array<[string, Kind]> = [
  ['resnet', 'image'],
  ['convnext', 'image'],
  ['conv1d', 'sequence'],
  ['vit', 'image'],
  ['text-cnn', 'ids'],
  ['text-gpt', 'ids'],
  // Hugging Face's (transformers 5): token types and positions from buffers (folded), scaled_dot_product_attention's NaN guard.
  ['hf-bert', 'ids'],
  ['hf-distilbert', 'ids'],
  ['hf-vit', 'image'],
  // BERT through the TorchScript exporter (dynamo=False: Optimum's), its weights inside.
  ['hf-bert-torchscript', 'ids'],
  // A dynamic batch (dynamic_shapes): the pooled head's as_strided indexes from Range(0, batch).
  ['convnext-dynamic', 'image'],
];

/** Sample p as the model's input tensor (batch 1: a dynamo export fixes it). */
function feed(kind: Kind, p: number): ort.Tensor {
  if (kind === 'ids') return new ort.Tensor('int64', BigInt64Array.from(ids.subarray(p * 49, (p + 1) * 49), (v) => BigInt(v)), [1, 49]);
  return new ort.Tensor('float32', digits.slice(p * 784, (p + 1) * 784), kind === 'image' ? [1, 1, 28, 28] : [1, 28, 28]);
}

/** onnxruntime's outputs for the first COUNT samples, one run each. `model`: a path (its data read beside it) or bytes. */
async function runtimeOutputs(model: string | Uint8Array, kind: Kind): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const outputs: number[] = [];
  for (let p = 0; p < COUNT; p++) outputs.push(...((await session.run({ [session.inputNames[0]]: feed(kind, p) }))[session.outputNames[0]].data as Float32Array));
  return Float32Array.from(outputs);
}

/** Our input for the first COUNT samples: a sequence [C, L] runs as [1, L, C]. */
const ours = (kind: Kind) => (kind === 'ids' ? ids.subarray(0, COUNT * 49) : kind === 'sequence' ? nchwToNhwc(digits.slice(0, COUNT * 784), COUNT, 28, 1, 28) : digits.subarray(0, COUNT * 784));

describe('PyTorch 2 (dynamo) exports: read with their external data, equal to onnxruntime', () => {
  for (const [name, kind] of MODELS)
    it(name, async () => {
      const path = join(dir, `${name}.onnx`);
      // The fixture is what the exporter writes: its weights outside the model.
      const stored = decodeModel(await readFile(path), path);
      const external = !name.endsWith('-torchscript');
      expect(stored.graph!.initializer!.filter((t) => t.dataLocation === EXTERNAL).length > 0).toBe(external);
      const model = await loadModelFile(path);
      // Both files are inputs: no output may land on either.
      expect(model.files).toEqual(external ? [path, await realpath(`${path}.data`)] : [path]);
      const theirs = await runtimeOutputs(path, kind);
      expect(relativeError(forwardCpu(model.network, ours(kind), COUNT).output, theirs)).toBeLessThan(1e-5);
      // Written back as one file (the data inside) that onnxruntime runs to the same outputs.
      const [written] = await model.serialize(model.network);
      expect(decodeModel(written.bytes, 'written').graph!.initializer!.every((t) => t.dataLocation !== EXTERNAL)).toBe(true);
      expect(relativeError(await runtimeOutputs(written.bytes, kind), theirs)).toBeLessThan(1e-6);
      if (name.endsWith('-dynamic')) {
        // All samples in one batch: onnxruntime's as_strided indices at batch 12, ours per sample.
        const session = await ort.InferenceSession.create(path, { logSeverityLevel: 3 });
        const batch = new ort.Tensor('float32', digits.slice(0, COUNT * 784), [COUNT, 1, 28, 28]);
        const together = (await session.run({ [session.inputNames[0]]: batch }))[session.outputNames[0]].data as Float32Array;
        expect(relativeError(together, theirs)).toBeLessThan(1e-6);
      }
    });

  it('parseOnnxModel, given the model alone, names the data file it needs', async () => {
    const path = join(dir, 'resnet.onnx');
    expect(() => parseOnnxModel(new Uint8Array(readFileSync(path)), path)).toThrow(/initializer '.*': its data is in the external data file 'resnet\.onnx\.data': expected it given with the model/);
  });
});

describe.skipIf(!gpu)('PyTorch 2 (dynamo) exports: the GPU forward pass equals the float64 one', () => {
  for (const [name, kind] of MODELS)
    it(`${name}: outputs, and every prunable layer's input, target and offset`, async () => {
      const { network } = await loadModelFile(join(dir, `${name}.onnx`));
      await expectGpuForwardMatches(gpu!, network, ours(kind), COUNT); // three chunks
    });
});

describe('PyTorch 2 (dynamo) exports: net-trim prune', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'net-trim-torch2-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  // name, input, samples file, samples pruned on (the conv net's float64 programs are slow: few).
  for (const [name, kind, samples, count] of [
    ['text-cnn', 'ids', textSamples, 60],
    ['resnet', 'image', samplesPath, 12],
  ] as Array<[string, Kind, string, number]>)
    it(`${name}: --structured --latency writes one model.onnx that onnxruntime runs as reported`, async () => {
      const target = join(out, name);
      const args = ['prune', join(dir, `${name}.onnx`), '--samples', samples, '--labels', labelsPath, '--max-samples', String(count), '--structured', '--epsilon-gain', '0.05', '--max-iterations', '150', '--latency', '--backend', 'cpu', '--out', target];
      const { code, stderr } = await runCli(args);
      expect(code, stderr).toBe(0);
      const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
      const bytes = new Uint8Array(await readFile(join(target, 'model.onnx')));
      expect(decodeModel(bytes, 'model.onnx').graph!.initializer!.every((t) => t.dataLocation !== EXTERNAL)).toBe(true);
      // The written model's accuracy on the samples it was pruned on is the one reported.
      const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
      const outputs: number[] = [];
      for (let p = 0; p < count; p++) outputs.push(...((await session.run({ [session.inputNames[0]]: feed(kind, p) }))[session.outputNames[0]].data as Float32Array));
      expect(accuracyOf(outputs, labels, count)).toBeCloseTo(report.accuracyAfter, 6);
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      // Latency at the model's fixed batch of 1 only, the trained model (its data inside) beside the pruned one.
      const latency = report.deployment.latency;
      expect(latency.rows.map((r: { batch: number }) => r.batch)).toEqual([1]);
      expect(latency.rows[0].models.map((m: { label: string; runs: number }) => [m.label, m.runs])).toEqual([['trained', 30], ['pruned', 30]]);
      expect(latency.notes.join(' ')).toMatch(/batch size 64 left out: 'trained' takes batch size 1 only/);
    });
});
