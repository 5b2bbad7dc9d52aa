// Input axes a model leaves open besides the batch (io/inputSizes.ts): Optimum's BERT export with
// a dynamic `sequence_length`, an image model with open height and width, and a Keras text model
// of any length. Each is read at the
// size given or at the samples' own, to what onnxruntime computes at that size; the written model
// keeps the axes open, and runs at another length to what the pruned network computes there.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/index.js';
import { readSamplesFile } from '../src/io/files.js';
import { fixOpenAxes, shapesOfSamples } from '../src/io/inputSizes.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import type { NpyArray } from '../src/io/npy.js';
import { onnx } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnxModel.js';
import { samplesForModel } from '../src/io/samples.js';
import { runCli } from './helpers/cli.js';
import { mnistFixtures, tfjsPredict } from './helpers/models.js';
import { bytesOf, npyHeader, rawNpy } from './helpers/npyBytes.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, digits } = await mnistFixtures();
const dir = join(fixtures, 'torch2');
const bertPath = join(dir, 'hf-bert-mask-torchscript.onnx');
const samplesPath = join(dir, 'text-mask-samples.npz');
const arrays = (await readSamplesFile(samplesPath)) as Map<string, NpyArray>;
const NAMES = ['input_ids', 'attention_mask', 'token_type_ids'];
const COUNT = 8;

/** The samples' first `count` rows cut to their first `length` tokens (the mask's padding falls at the end). */
function cut(length: number, count = COUNT, names = NAMES): Map<string, NpyArray> {
  return new Map(
    names.map((name) => {
      const { data, shape } = arrays.get(name)!;
      const rows = Array.from({ length: count }, (_, p) => (data as BigInt64Array).subarray(p * shape[1], p * shape[1] + length));
      return [name, { dtype: 'int64', shape: [count, length], data: BigInt64Array.from(rows.flatMap((r) => Array.from(r))) }];
    }),
  );
}

async function runtimeOutputs(model: string | Uint8Array, samples: Map<string, NpyArray>, names = NAMES): Promise<Float32Array> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
  const [count, length] = samples.get(names[0])!.shape;
  const feeds = Object.fromEntries(names.map((name) => [name, new ort.Tensor('int64', samples.get(name)!.data as BigInt64Array, [count, length])]));
  return (await session.run(feeds))[session.outputNames[0]].data as Float32Array;
}

/** The model's input axes as declared: sizes, or names where open. */
const declaredAxes = (bytes: Uint8Array) =>
  onnx.ModelProto.decode(bytes).graph!.input!.map((i) => i.type!.tensorType!.shape!.dim!.map((d) => (d.dimParam ? d.dimParam : Number(d.dimValue))));

describe('fixOpenAxes: sizes by name or from the samples, and what is refused', () => {
  const text = [
    { name: 'ids', axes: ['batch', 'seq'] },
    { name: 'mask', axes: ['batch', 'seq'] },
  ];
  it('fixes a named axis given or from either input\'s samples, and says where each size came from', () => {
    expect(fixOpenAxes('m.onnx', text, { dims: { seq: 7 } })).toEqual({ dims: [[7], [7]], fixed: [{ name: 'seq', size: 7, from: 'given' }] });
    expect(fixOpenAxes('m.onnx', text, { samples: new Map([['mask', [5]]]) })).toEqual({ dims: [[5], [5]], fixed: [{ name: 'seq', size: 5, from: 'samples' }] });
    // An unnamed axis of a model's one input, from a single array's shape; fixed axes pass through.
    expect(fixOpenAxes('m.onnx', [{ name: 'x', axes: [null, 3, null, 'w'] }], { samples: [3, 8, 9] })).toEqual({
      dims: [[3, 8, 9]],
      fixed: [
        { name: 'x:2', size: 8, from: 'samples' },
        { name: 'w', size: 9, from: 'samples' },
      ],
    });
    expect(fixOpenAxes('m.onnx', [{ name: 'x', axes: [1, 4] }])).toEqual({ dims: [[4]], fixed: [] });
    // A model of one input takes an .npz of one array by any name.
    expect(fixOpenAxes('m.onnx', [{ name: 'x', axes: [null, 'seq'] }], { samples: new Map([['tokens', [9]]]) }).dims).toEqual([[9]]);
  });
  it('refuses an open axis without a size, a name the model lacks or that is the batch, a bad size and samples that disagree', () => {
    expect(() => fixOpenAxes('m.onnx', text)).toThrow("m.onnx: input 'ids' has shape [batch, seq]: axis 1 ('seq') is open: expected its size given (--dim seq=SIZE, or the dims option) or samples whose shape fixes it");
    // Samples of another rank fix nothing (the samples' own check names them).
    expect(() => fixOpenAxes('m.onnx', text, { samples: new Map([['ids', [5, 2]]]) })).toThrow(/axis 1 \('seq'\) is open/);
    expect(() => fixOpenAxes('m.onnx', text, { dims: { sequence: 7 } })).toThrow("m.onnx: axis 'sequence': expected one of the model's open input axes ('seq'), found no axis of that name");
    expect(() => fixOpenAxes('m.onnx', text, { dims: { batch: 7 } })).toThrow("m.onnx: axis 'batch': expected one of the model's open input axes ('seq'), found the batch axis (the number of samples sets it)");
    expect(() => fixOpenAxes('m.onnx', text, { dims: { seq: 0 } })).toThrow("m.onnx: axis 'seq': expected a size of at least 1, found 0");
    expect(() => fixOpenAxes('m.onnx', text, { dims: { seq: 2.5 } })).toThrow(/found 2\.5/);
    expect(() => fixOpenAxes('m.onnx', text, { samples: new Map([['ids', [5]], ['mask', [6]]]) })).toThrow("m.onnx: axis 'seq': the samples give it 5 in 'ids' and 6 in 'mask': expected one size");
  });
});

describe("Optimum's BERT export: the sequence length open", () => {
  it('reads at the length given and at the samples\' own, each to what onnxruntime computes at that length; so does the dynamo export with dynamic_shapes', async () => {
    for (const length of [49, 30]) {
      const samples = cut(length);
      for (const sizes of [{ dims: { sequence_length: length } }, { samples: shapesOfSamples(samples) }]) {
        const model = await loadModelFile(bertPath, sizes);
        expect(model.network.inputParts!.map((p) => p.shape)).toEqual([[length], [length], [length]]);
        expect(model.notes![0]).toBe(`the model's open input axis 'sequence_length' at ${length} (${'dims' in sizes ? 'given' : 'from the samples'}) is read at that size; the written model keeps it open`);
        const ours = forwardCpu(model.network, samplesForModel(samples, model, 's.npz').data, COUNT).output;
        expect(relativeError(ours, await runtimeOutputs(bertPath, samples))).toBeLessThan(1e-5);
      }
    }
    // torch.export's dynamic_shapes (the dynamo exporter): the mask's index grids come from aranges
    // of the batch and the length, broadcast by a Max and joined by a Concat, all folded.
    const dynamic = join(dir, 'hf-bert-mask-dynamic.onnx');
    for (const length of [49, 30]) {
      const samples = cut(length, COUNT, NAMES.slice(0, 2));
      const model = await loadModelFile(dynamic, { samples: shapesOfSamples(samples) });
      const ours = forwardCpu(model.network, samplesForModel(samples, model, 's.npz').data, COUNT).output;
      expect(relativeError(ours, await runtimeOutputs(dynamic, samples, NAMES.slice(0, 2)))).toBeLessThan(1e-5);
    }
    // Read at 49, 30-token samples are refused by their shape, naming the file and the array.
    const at49 = await loadModelFile(bertPath, { dims: { sequence_length: 49 } });
    expect(() => samplesForModel(cut(30), at49, 's.npz')).toThrow(/^s\.npz: input_ids: .*\(P, 49\)/);
  });

  describe('net-trim prune without --dim: the samples fix it, and the written model keeps it open', () => {
    let out: string;
    beforeAll(async () => {
      out = await mkdtemp(join(tmpdir(), 'net-trim-open-'));
    });
    afterAll(async () => {
      await rm(out, { recursive: true, force: true });
    });

    it('prunes at 49 tokens; the written model runs at 30 tokens to what the pruned network computes there', async () => {
      const target = join(out, 'bert');
      const args = ['prune', bertPath, '--samples', samplesPath, '--max-samples', '16', '--epsilon-gain', '0.1', '--max-iterations', '200', '--backend', 'cpu', '--out', target];
      const { code, stdout, stderr } = await runCli(args);
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("'sequence_length' at 49 (from the samples)");
      const report = JSON.parse(await readFile(join(target, 'report.json'), 'utf8'));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      expect(report.model.notes).toEqual(["the model's open input axis 'sequence_length' at 49 (from the samples) is read at that size; the written model keeps it open"]);
      // The page says so too, with the layers cascade kept as trained.
      const page = await readFile(join(target, 'report.html'), 'utf8');
      expect(page).toContain("<h2>The model as read</h2><p class=\"fine\">the model&#39;s open input axis &#39;sequence_length&#39; at 49");
      expect(page).toContain(`kept as trained: ${report.keptAsTrained.join(', ')}`);
      const written = new Uint8Array(await readFile(join(target, 'model.onnx')));
      expect(declaredAxes(written)).toEqual(NAMES.map(() => ['batch_size', 'sequence_length']));
      // At 30 tokens: onnxruntime on the written model, and the written model read at 30.
      const samples = cut(30);
      const pruned = parseOnnxModel(written, 'model.onnx', { samples: shapesOfSamples(samples) });
      const ours = forwardCpu(pruned.network, samplesForModel(samples, { network: pruned.network, imageLayout: 'nchw' }, 's.npz').data, COUNT).output;
      const theirs = await runtimeOutputs(written, samples);
      expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
      // …and it is the pruned model, not the trained one.
      expect(relativeError(theirs, await runtimeOutputs(bertPath, samples))).toBeGreaterThan(1e-4);
    });

    it('refuses a --dim the samples do not fit, a name the model lacks, and a bad size', async () => {
      const run = (...dim: string[]) => runCli(['prune', bertPath, '--samples', samplesPath, ...dim, '--backend', 'cpu', '--out', join(out, 'refused')]);
      const other = await run('--dim', 'sequence_length=30');
      expect(other.code).toBe(2);
      expect(other.stderr).toMatch(/text-mask-samples\.npz: input_ids: .*\(P, 30\)/);
      const unknown = await run('--dim', 'seq=30');
      expect(unknown.code).toBe(2);
      expect(unknown.stderr).toContain("hf-bert-mask-torchscript.onnx: axis 'seq': expected one of the model's open input axes ('sequence_length'), found no axis of that name");
      const bad = await run('--dim', 'sequence_length=-3');
      expect(bad.code).toBe(2);
      expect(bad.stderr).toContain("--dim sequence_length: expected a positive integer, found '-3'");
    });

    it('inspect needs the size: --dim gives it, or --samples, which it checks', async () => {
      const open = await runCli(['inspect', bertPath]);
      expect(open.code).toBe(2);
      expect(open.stderr).toContain("input 'input_ids' has shape [batch_size, sequence_length]: axis 1 ('sequence_length') is open: expected its size given (--dim sequence_length=SIZE");
      const given = await runCli(['inspect', bertPath, '--dim', 'sequence_length=20']);
      expect(given.code, given.stderr).toBe(0);
      expect(given.stdout).toContain('inputs input_ids [20], attention_mask [20], token_type_ids [20]');
      // Or the samples, checked against the model before a prune.
      const samples = await runCli(['inspect', bertPath, '--samples', samplesPath]);
      expect(samples.code, samples.stderr).toBe(0);
      expect(samples.stdout).toContain('inputs input_ids [49], attention_mask [49], token_type_ids [49]');
      expect(samples.stdout).toContain(`samples checked: ${samplesPath} holds 64 that fit the model`);
      const json = JSON.parse((await runCli(['inspect', bertPath, '--samples', samplesPath, '--json'])).stdout);
      expect(json.samplesChecked).toEqual({ path: samplesPath, count: 64 });
      const misfit = await runCli(['inspect', bertPath, '--samples', samplesPath, '--dim', 'sequence_length=20']);
      expect(misfit.code).toBe(2);
      expect(misfit.stderr).toMatch(/text-mask-samples\.npz: input_ids: .*\(P, 20\)/);
    });
  });
});

// The MNIST CNN (a Flatten before its Gemm: it runs at 28 × 28 only) with its input [N, 1, height, width].
const cnn = onnx.ModelProto.decode(new Uint8Array(await readFile(join(fixtures, 'mnist-cnn.onnx'))));
const fixed = parseOnnxModel(onnx.ModelProto.encode(cnn).finish(), 'fixed.onnx');
const cnnDims = cnn.graph!.input![0].type!.tensorType!.shape!.dim!;
cnnDims[2] = { dimParam: 'height' };
cnnDims[3] = { dimParam: 'width' };
const open = onnx.ModelProto.encode(cnn).finish();

describe('an image model with open height and width', () => {
  it('reads at the sizes given or the samples\' shape to the network of the fixed model; a flattened array fixes nothing', async () => {
    const count = 4;
    const x = digits.subarray(0, count * 784);
    const want = forwardCpu(fixed.network, x, count).output;
    for (const sizes of [{ dims: { height: 28, width: 28 } }, { samples: [1, 28, 28] }]) {
      const handle = parseOnnxModel(open, 'open.onnx', sizes);
      expect(handle.network.inputShape).toEqual([28, 28, 1]);
      expect(relativeError(forwardCpu(handle.network, x, count).output, want)).toBe(0);
    }
    expect(() => parseOnnxModel(open, 'open.onnx', { samples: [784] })).toThrow("open.onnx: input 'input' has shape [N, 1, height, width]: axis 2 ('height') is open");
    expect(() => parseOnnxModel(open, 'open.onnx', { dims: { height: 28 } })).toThrow("axis 3 ('width') is open");
    // At another size the Gemm after the Flatten does not fit: an error naming its node.
    expect(() => parseOnnxModel(open, 'open.onnx', { dims: { height: 20, width: 28 } })).toThrow(/^open\.onnx: node /);
  });

  it('net-trim prune with (P, 1, 28, 28) samples: fixed from their shape, written with the axes open', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-open-image-'));
    try {
      const modelPath = join(out, 'open.onnx');
      const samples = join(out, 'digits.npy');
      await writeFile(modelPath, open);
      await writeFile(samples, rawNpy(npyHeader('<f4', '(64, 1, 28, 28)'), bytesOf(digits.subarray(0, 64 * 784))));
      const { code, stdout, stderr } = await runCli(['prune', modelPath, '--samples', samples, '--max-iterations', '100', '--backend', 'cpu', '--out', join(out, 'pruned')]);
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("'height' at 28 (from the samples), 'width' at 28 (from the samples)");
      expect(declaredAxes(new Uint8Array(await readFile(join(out, 'pruned', 'model.onnx'))))[0].slice(2)).toEqual(['height', 'width']);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('a Keras text model of any length (TF.js: batch_input_shape [null, null])', () => {
  it('prunes at the samples\' length; the written model.json stays open and runs at 30 tokens to what the pruned network computes there', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-open-keras-'));
    try {
      const json = JSON.parse(await readFile(join(fixtures, 'keras', 'text', 'model.json'), 'utf8'));
      const inputLayer = json.modelTopology.config.layers[0];
      expect(inputLayer.config.batch_input_shape).toEqual([null, 49]);
      inputLayer.config.batch_input_shape = [null, null];
      const modelPath = join(out, 'model.json');
      await writeFile(modelPath, JSON.stringify(json));
      await writeFile(join(out, 'weights.bin'), await readFile(join(fixtures, 'keras', 'text', 'weights.bin')));
      const samples = join(fixtures, 'text-samples.npy');

      const inspect = await runCli(['inspect', modelPath]);
      expect(inspect.code).toBe(2);
      expect(inspect.stderr).toContain("model.json: input 'tokens' has shape [?, ?]: axis 1 ('tokens:1') is open: expected its size given (--dim tokens:1=SIZE, or the dims option) or samples whose shape fixes it");
      expect((await runCli(['inspect', modelPath, '--dim', 'tokens:1=12'])).stdout).toContain('input [12]');

      const { code, stdout, stderr } = await runCli(['prune', modelPath, '--samples', samples, '--max-samples', '64', '--max-iterations', '200', '--backend', 'cpu', '--out', join(out, 'pruned')]);
      expect(code, stderr).toBe(0);
      expect(stdout).toContain("read: the model's open input axis 'tokens:1' at 49 (from the samples)");
      const writtenPath = join(out, 'pruned', 'model.json');
      expect(JSON.parse(await readFile(writtenPath, 'utf8')).modelTopology.config.layers[0].config.batch_input_shape).toEqual([null, null]);

      // At 30 tokens: TF.js on the written model, and the written model read at 30.
      const ids = (await readSamplesFile(samples)) as NpyArray;
      const count = 16;
      const tokens = Float32Array.from({ length: count * 30 }, (_, i) => Number(ids.data[Math.floor(i / 30) * 49 + (i % 30)]));
      const pruned = await loadModelFile(writtenPath, { dims: { 'tokens:1': 30 } });
      expect(pruned.network.inputShape).toEqual([30]);
      const ours = forwardCpu(pruned.network, tokens, count).output;
      const theirs = await tfjsPredict(writtenPath, tokens, count, [30]);
      expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
      expect(relativeError(theirs, await tfjsPredict(modelPath, tokens, count, [30]))).toBeGreaterThan(1e-4);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
