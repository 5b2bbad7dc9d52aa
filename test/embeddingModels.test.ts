// Text models: token ids read by an embedding (PyTorch's nn.Embedding exported as a Gather of the
// int64 input; Keras's Embedding on an int32 input). Fixtures: test/fixtures/torch/text-bag.onnx,
// text-cnn.onnx, text-transformer.onnx and text-gpt.onnx (a nanoGPT-style causal decoder), test/fixtures/keras/text, trained on digits read as 49
// tokens; test/fixtures/text-samples.npy holds the held-out digits as ids (labels:
// mnist-labels.npy). The layer on hand-computed values, both forward passes against the
// frameworks, a prune whose written models the runtimes run, structured pruning that shrinks the
// table, and the refusals (ids out of range, a layer computing with ids).
import * as ort from 'onnxruntime-node';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { parseNpy } from '../src/io/npy.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { samplesForModel } from '../src/io/samples.js';
import { parseTfjsModel, writeTfjsModel } from '../src/io/tfjsModel.js';
import { networkCost } from '../src/network/cost.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { networkGraph } from '../src/network/graph.js';
import type { DenseLayer, Network, RearrangeLayer } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { runCli } from './helpers/cli.js';
import { gpuForTests, withBindingLimit } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const textSamples = join(fixtures, 'text-samples.npy');
const ids = Float32Array.from(parseNpy(await readFile(textSamples), textSamples).data as Int32Array);
const TOKENS = 49;
const load = async (name: string) => {
  const bytes = new Uint8Array(await readFile(join(fixtures, 'torch', `${name}.onnx`)));
  return { bytes, network: parseOnnxModel(bytes, `${name}.onnx`).network };
};

/** onnxruntime's output for `count` samples of ids, int64 as PyTorch exports the input. */
async function runIds(bytes: Uint8Array, values: Float32Array, count: number): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const input = new ort.Tensor('int64', BigInt64Array.from(values.subarray(0, count * TOKENS), (v) => BigInt(v)), [count, TOKENS]);
  const result = await session.run({ [session.inputNames[0]]: input });
  return result[session.outputNames[0]].data as Float32Array;
}

/** A table of 5 ids × 3 dims, then the mean over the tokens and a dense layer of 2 units. */
const tiny = (kernel = [1, 0, 0, 1, 2, -1]): Network => ({
  inputShape: [4],
  layers: [
    { kind: 'embedding', name: 'embed', table: Float32Array.from({ length: 15 }, (_, i) => i), vocabulary: 5, dims: 3 },
    { kind: 'globalavgpool', name: 'mean' },
    { kind: 'dense', name: 'out', kernel: Float32Array.from(kernel), inputs: 3, units: 2, bias: null, activation: 'linear' },
  ],
});

describe('the embedding layer', () => {
  it('looks up each id\'s row ([1, T, dims]), on the CPU and the GPU', async () => {
    const network = tiny();
    expect(networkGraph(network).outputShapes[0]).toEqual([1, 4, 3]);
    // Ids 0, 4, 4, 2: rows [0 1 2], [12 13 14] twice, [6 7 8]; their mean [7.5 8.5 9.5].
    const input = Float32Array.from([0, 4, 4, 2, 1, 1, 1, 1]);
    const mean = [7.5, 8.5, 9.5];
    const expected = [mean[0] + 2 * mean[2], mean[1] - mean[2], 3 + 10, 4 - 5];
    expect([...forwardCpu(network, input, 2).output]).toEqual(expected);
    if (gpu) expect([...(await forwardGpu(gpu, network, input, 2)).output]).toEqual(expected);
  });

  it('a table larger than one storage binding (GPT-2\'s 154 MB) is looked up on the host, chunk by chunk', async () => {
    if (!gpu) return;
    // 512 bytes: the 1200-byte table of 100 ids does not fit; a sample's 48-byte lookup does (chunks of 10 samples).
    const big = tiny();
    big.layers[0] = { kind: 'embedding', name: 'embed', table: Float32Array.from({ length: 300 }, (_, i) => Math.sin(i)), vocabulary: 100, dims: 3 };
    const input = Float32Array.from({ length: 25 * 4 }, (_, i) => (i * 37) % 100);
    const expected = forwardCpu(big, input, 25).output;
    expect(relativeError((await forwardGpu(withBindingLimit(gpu, 512), big, input, 25)).output, expected)).toBeLessThan(1e-6);
  });

  it('ids out of the vocabulary or not whole are refused before anything runs (the GPU would read past the table)', async () => {
    expect(() => forwardCpu(tiny(), Float32Array.from([0, 5, 1, 1]), 1)).toThrow(/token id 5 in sample 0 at position 1: expected a whole number from 0 to 4/);
    expect(() => forwardCpu(tiny(), Float32Array.from([0, 1, 1, 1, 0, 1, 0.5, 1]), 2)).toThrow(/token id 0.5 in sample 1 at position 2/);
    if (gpu) await expect(forwardGpu(gpu, tiny(), Float32Array.from([-1, 0, 0, 0]), 1)).rejects.toThrow(/token id -1/);
  });

  it('reads the network input only, and only embeddings read an input of ids', () => {
    const reads = (from: string): Network => ({ inputShape: [4], layers: [{ kind: 'relu', name: 'r' }, { ...tiny().layers[0], from: [from] } as Network['layers'][0], { kind: 'globalavgpool', name: 'mean' }] });
    expect(() => networkGraph(reads('r'))).toThrow(/an embedding reads the network input \(token ids\), found 'r'/);
    expect(() => networkGraph(reads('input'))).toThrow(/layer 'r' \(relu\) reads the network input, which holds token ids/);
    const table = { kind: 'embedding', name: 'e', table: new Float32Array(6), vocabulary: 3, dims: 3 } as const;
    expect(() => networkGraph({ inputShape: [4], layers: [{ ...table, table: new Float32Array(5) }] })).toThrow(/embedding table must be a Float32Array of 3×3 values, found 5/);
    expect(() => networkGraph({ inputShape: [2, 2], layers: [{ ...table, table: new Float32Array(9) }] })).toThrow(/embedding reads token ids \[T\], found \[2, 2\]/);
  });

  it('its table counts as stored weights that multiply nothing', () => {
    const cost = networkCost(tiny());
    expect(cost.layers[0]).toMatchObject({ kind: 'embedding', params: 15, nonzeroParams: 14, macs: 0, sparseMacs: 0 });
    expect(cost.total.params).toBe(21);
  });

  it('structured: a dimension no reader reads leaves the table, and the outputs stay', () => {
    // The dense layer reads dims 0 and 2 only (row 1 of its kernel is zero).
    const network = tiny([1, 0, 0, 0, 2, -1]);
    const { network: smaller, kept, layers } = removeUnreadUnits(network);
    const table = smaller.layers[0];
    expect(table.kind === 'embedding' && [table.dims, [...table.table]]).toEqual([2, [0, 2, 3, 5, 6, 8, 9, 11, 12, 14]]);
    expect([...kept.get('embed')!]).toEqual([0, 2]);
    expect(layers.find((l) => l.name === 'embed')).toEqual({ name: 'embed', kind: 'embedding', before: 3, after: 2 });
    const input = Float32Array.from([0, 4, 4, 2, 3, 1, 0, 2]);
    expect([...forwardCpu(smaller, input, 2).output]).toEqual([...forwardCpu(network, input, 2).output]);
  });
});

describe('token ids as samples', () => {
  const model = { network: tiny(), imageLayout: 'nchw' as const };
  it('int64, int32, uint8 or whole floats, each checked against the vocabulary, the file named', () => {
    const int64 = { shape: [2, 4], dtype: 'int64' as const, data: BigInt64Array.from([0n, 1n, 2n, 3n, 4n, 4n, 0n, 1n]) };
    expect([...samplesForModel(int64, model, 'ids.npy').data]).toEqual([0, 1, 2, 3, 4, 4, 0, 1]);
    expect(samplesForModel({ shape: [1, 4], dtype: 'uint8', data: Uint8Array.from([4, 3, 2, 1]) }, model, 'ids.npy').count).toBe(1);
    const bad = { shape: [2, 4], dtype: 'int32' as const, data: Int32Array.from([0, 1, 2, 3, 4, 9, 0, 1]) };
    expect(() => samplesForModel(bad, model, 'ids.npy')).toThrow(InputError);
    expect(() => samplesForModel(bad, model, 'ids.npy')).toThrow(/ids.npy: data: expected token ids, whole numbers from 0 to 4 \(the embedding's vocabulary\), found 9 in sample 1 at position 1/);
    expect(() => samplesForModel({ shape: [1, 4], dtype: 'float32', data: Float32Array.from([0, 1.5, 2, 3]) }, model, 'x.npy')).toThrow(/x.npy: data: expected token ids.*found 1.5 in sample 0 at position 1/);
    // Only the first maxSamples are checked and kept.
    expect(samplesForModel(bad, model, 'ids.npy', { maxSamples: 1 }).count).toBe(1);
  });

  it('an image model still refuses integer samples', () => {
    const images = { network: { inputShape: [4], layers: [{ kind: 'relu', name: 'r' }] } as Network, imageLayout: 'nchw' as const };
    expect(() => samplesForModel({ shape: [1, 4], dtype: 'int32', data: Int32Array.from([1, 2, 3, 4]) }, images, 'x.npy')).toThrow(/x.npy: descr: expected float32 or float64 samples/);
  });
});

describe('PyTorch text models (nn.Embedding)', () => {
  for (const name of ['text-bag', 'text-cnn', 'text-transformer', 'text-gpt']) {
    it(`${name}: the float64 forward pass equals onnxruntime on int64 ids${gpu ? ', and the GPU one' : ''}`, async () => {
      const { bytes, network } = await load(name);
      expect(network.inputShape).toEqual([TOKENS]);
      expect(network.layers[0]).toMatchObject({ kind: 'embedding', vocabulary: 196 });
      const input = ids.subarray(0, 50 * TOKENS);
      const expected = await runIds(bytes, input, 50);
      const ours = forwardCpu(network, input, 50).output;
      expect(relativeError(ours, expected)).toBeLessThan(1e-5);
      expect(accuracyOf(ours, labels, 50)).toBeGreaterThan(0.7);
      if (gpu) expect(relativeError((await forwardGpu(gpu, network, input, 50)).output, ours)).toBeLessThan(1e-5);
    });
  }

  it('text-gpt: nanoGPT\'s causal mask (masked_fill of a tril buffer: Where) is a −∞ constant above the diagonal; the scale 1 / √size folds', async () => {
    const { network } = await load('text-gpt');
    const masks = network.layers.filter((l): l is RearrangeLayer => l.kind === 'rearrange' && l.offset !== null && l.offset.includes(-Infinity));
    expect(masks).toHaveLength(2);
    // Head 0's scores [49, 49]: row t keeps columns 0…t.
    const offset = masks[0].offset!;
    expect([offset[0], offset[1], offset[49 + 1], offset[49 + 2], offset[48 * 49 + 48]]).toEqual([0, -Infinity, 0, -Infinity, 0]);
    expect([...masks[0].indices.slice(0, 3)]).toEqual([0, -1, -1]);
    expect(network.layers.filter((l) => l.kind === 'matmul')).toHaveLength(4);
  });

  it('text-bag: a cascade prune writes a model onnxruntime runs on int64 ids to our outputs, sparser, as accurate', async () => {
    const { bytes, network } = await load('text-bag');
    const samples = ids.subarray(0, 300 * TOKENS);
    const result = await pruneNetwork(network, { data: samples, count: 300 }, { mode: 'cascade', epsilonGain: 0.05, backend: 'cpu', solver: { maxIterations: 300 } });
    for (const layer of result.layers) expect(layer.nonzerosAfter, layer.name).toBeLessThan(layer.nonzerosBefore);
    const written = writeOnnxModel(parseOnnxModel(bytes, 'text-bag.onnx'), result.network);
    const held = ids.subarray(300 * TOKENS, 600 * TOKENS);
    const ours = forwardCpu(result.network, held, 300).output;
    expect(relativeError(await runIds(written, held, 300), ours)).toBeLessThan(1e-5);
    const before = accuracyOf(forwardCpu(network, held, 300).output, labels.subarray(300), 300);
    expect(accuracyOf(ours, labels.subarray(300), 300)).toBeGreaterThan(before - 0.03);
  });

  it('text-bag structured: dimensions the first Linear no longer reads leave the table in the written model', async () => {
    const { bytes, network } = await load('text-bag');
    const pruned: Network = structuredClone(network);
    const fc1 = pruned.layers.find((l): l is DenseLayer => l.kind === 'dense')!;
    fc1.kernel = fc1.kernel.map((v, i) => (Math.floor(i / fc1.units) % 4 === 3 ? 0 : v)); // every 4th of 32 dims unread
    const { network: smaller, kept } = removeUnreadUnits(pruned);
    expect(smaller.layers[0]).toMatchObject({ kind: 'embedding', dims: 24 });
    const written = writeOnnxModel(parseOnnxModel(bytes, 'text-bag.onnx'), smaller, kept);
    const reread = parseOnnxModel(written, 'written.onnx').network;
    expect(reread.layers[0]).toMatchObject({ kind: 'embedding', vocabulary: 196, dims: 24 });
    const input = ids.subarray(0, 40 * TOKENS);
    expect(relativeError(await runIds(written, input, 40), forwardCpu(pruned, input, 40).output)).toBeLessThan(1e-5);
  });
});

describe('Keras text model (Embedding on int32 ids)', () => {
  const dir = join(fixtures, 'keras', 'text');
  const read = async () => {
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    const weights = await readFile(join(dir, 'weights.bin'));
    return parseTfjsModel(json, new Uint8Array(weights).buffer, 'text/model.json');
  };
  const predict = async (modelJson: string, weightData: Uint8Array, input: Float32Array, count: number) => {
    const tf = await import('@tensorflow/tfjs');
    const json = JSON.parse(modelJson);
    const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: weightData.buffer as ArrayBuffer }));
    const x = tf.tensor(input.subarray(0, count * TOKENS), [count, TOKENS], 'int32');
    const y = model.predict(x) as import('@tensorflow/tfjs').Tensor;
    const values = Float32Array.from(await y.data());
    tf.dispose([x, y]);
    model.dispose();
    return values;
  };

  it('reads as embedding → globalavgpool → dense → dense; a structured prune writes a model TF.js runs to our outputs', async () => {
    const handle = await read();
    expect(handle.network.layers.map((l) => l.kind)).toEqual(['embedding', 'globalavgpool', 'dense', 'dense']);
    const input = ids.subarray(0, 60 * TOKENS);
    const pruned: Network = structuredClone(handle.network);
    const hidden = pruned.layers[2] as DenseLayer;
    hidden.kernel = hidden.kernel.map((v, i) => (Math.floor(i / hidden.units) < 4 ? 0 : v)); // dims 0–3 unread
    const { network: smaller, kept } = removeUnreadUnits(pruned);
    expect(smaller.layers[0]).toMatchObject({ kind: 'embedding', dims: 12 });
    const written = await writeTfjsModel(handle, smaller, kept);
    expect(JSON.parse(written.modelJson).modelTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'Embedding').config.output_dim).toBe(12);
    const ours = forwardCpu(pruned, input, 60).output;
    expect(relativeError(await predict(written.modelJson, written.weightData, input, 60), ours)).toBeLessThan(1e-5);
    expect(accuracyOf(forwardCpu(handle.network, input, 60).output, labels, 60)).toBeGreaterThan(0.6);
  });

  it('mask_zero is refused, naming the layer', async () => {
    const json = JSON.parse(await readFile(join(dir, 'model.json'), 'utf8'));
    json.modelTopology.config.layers.find((l: { class_name: string }) => l.class_name === 'Embedding').config.mask_zero = true;
    const weights = await readFile(join(dir, 'weights.bin'));
    await expect(parseTfjsModel(json, new Uint8Array(weights).buffer, 'text/model.json')).rejects.toThrow(/text\/model.json: layer 1 \('embed'\): mask_zero: expected false/);
  });
});

describe('net-trim on a text model', () => {
  it('inspect names the ids; prune --structured takes int32 ids and writes a model onnxruntime runs on int64', async () => {
    const model = join(fixtures, 'torch', 'text-bag.onnx');
    const inspect = await runCli(['inspect', model]);
    expect(inspect.stdout).toContain('samples: (P, 49) token ids from 0 to 195 (int64, int32, uint8 or whole floats)');
    const out = await mkdtemp(join(tmpdir(), 'net-trim-text-'));
    try {
      const run = await runCli(['prune', model, '--samples', textSamples, '--labels', join(fixtures, 'mnist-labels.npy'), '--max-samples', '300', '--structured', '--epsilon-gain', '0.2', '--backend', 'cpu', '--out', out, '--quiet']);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'report.json'), 'utf8'));
      expect(report.deployment.cost.before.params).toBe(9034); // the table's 196 × 32 included
      const written = new Uint8Array(await readFile(join(out, 'model.onnx')));
      const network = parseOnnxModel(written, 'model.onnx').network;
      const input = ids.subarray(300 * TOKENS, 340 * TOKENS);
      expect(relativeError(await runIds(written, input, 40), forwardCpu(network, input, 40).output)).toBeLessThan(1e-5);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
