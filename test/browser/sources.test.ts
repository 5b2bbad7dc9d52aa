// The browser-facing loaders (src/browser/): models and .npy arrays from File/Blob/ArrayBuffer/
// Response/URL give the same networks and arrays as Node's file loaders, and bad inputs fail with
// one line naming the file, the field and what was expected. Runs in Node (File, Blob, fetch are
// globals there); the demo page test (demo.test.ts) runs the same code in Chromium.
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as tf from '@tensorflow/tfjs';
import { InputError, labelsForSamples, loadModel, readBytes, readNpy, readSamples, samplesForModel, serializeNpy, shapesOfSamples, type Network, type NpyArray } from '../../src/index.js';
import { loadModelFile, readNpyFile, readSamplesFile } from '../../src/node.js';

const fixtures = new URL('../fixtures/', import.meta.url).pathname;
const fixture = (name: string) => join(fixtures, name);
const bytesOf = async (name: string) => new Uint8Array(await readFile(fixture(name)));
const file = async (name: string, as = name.slice(name.lastIndexOf('/') + 1)) => new File([await bytesOf(name)], as);

let server: Server;
let base: string;
beforeAll(async () => {
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  // test/fixtures over HTTP, as a page would fetch them.
  server = createServer(async (request, response) => {
    try {
      if (request.url === '/broken/model.json') {
        // A model.json whose weight shard is not there.
        const json = JSON.parse(await readFile(fixture('mnist-mlp/model.json'), 'utf8'));
        json.weightsManifest[0].paths = ['gone.bin'];
        return void response.writeHead(200).end(JSON.stringify(json));
      }
      const body = await readFile(join(fixtures, decodeURIComponent(new URL(request.url!, 'http://x').pathname)));
      response.writeHead(200).end(body);
    } catch {
      response.writeHead(404, 'Not Found').end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}/`;
});
afterAll(() => new Promise<void>((done) => server.close(() => done())));

function expectSameNetwork(a: Network, b: Network): void {
  expect(a.inputShape).toEqual(b.inputShape);
  expect(a.layers.map((l) => [l.kind, l.name])).toEqual(b.layers.map((l) => [l.kind, l.name]));
  a.layers.forEach((layer, i) => {
    const other = b.layers[i];
    if ((layer.kind === 'dense' || layer.kind === 'conv2d') && (other.kind === 'dense' || other.kind === 'conv2d')) {
      expect(layer.kernel).toEqual(other.kernel);
      expect(layer.bias).toEqual(other.bias);
    }
  });
}

async function inputError(promise: Promise<unknown> | (() => unknown)): Promise<string> {
  try {
    await (typeof promise === 'function' ? promise() : promise);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected an InputError, none was thrown');
}

describe('loadModel', () => {
  it('reads a TF.js model from its files (model.json + shard) as loadModelFile does', async () => {
    const reference = await loadModelFile(fixture('mnist-mlp/model.json'));
    const model = await loadModel([await file('mnist-mlp/weights.bin'), await file('mnist-mlp/model.json')]);
    expect(model.format).toBe('tfjs');
    expect(model.imageLayout).toBe('nhwc');
    expect(model.path).toBe('model.json');
    expectSameNetwork(model.network, reference.network);
    // And writes the same files back.
    const [ours, theirs] = await Promise.all([model.serialize(model.network), reference.serialize(reference.network)]);
    expect(ours.map((f) => f.name)).toEqual(['model.json', 'weights.bin']);
    expect(ours).toEqual(theirs);
  });

  it('fetches a model.json URL and the shards it lists beside it', async () => {
    const reference = await loadModelFile(fixture('mnist-cnn/model.json'));
    const model = await loadModel(`${base}mnist-cnn/model.json`);
    expect(model.path).toBe(`${base}mnist-cnn/model.json`);
    expectSameNetwork(model.network, reference.network);
    expectSameNetwork((await loadModel(new URL('mnist-cnn/model.json', base))).network, reference.network);
  });

  it('reads an ONNX model from a File, a Blob, bytes, a Response and a URL', async () => {
    const reference = await loadModelFile(fixture('mnist-mlp.onnx'));
    const bytes = await bytesOf('mnist-mlp.onnx');
    const sources = [
      await file('mnist-mlp.onnx'),
      new Blob([bytes]),
      bytes.buffer,
      bytes,
      new Response(bytes),
      `${base}mnist-mlp.onnx`,
      [await file('mnist-mlp.onnx')],
    ];
    for (const source of sources) {
      const model = await loadModel(source as Parameters<typeof loadModel>[0]);
      expect(model.format).toBe('onnx');
      expect(model.imageLayout).toBe('nchw');
      expectSameNetwork(model.network, reference.network);
    }
    const model = await loadModel(bytes);
    expect(await model.serialize(model.network)).toEqual(await reference.serialize(reference.network));
  });

  it('tells model.json bytes with no name from ONNX bytes by content', async () => {
    const files = [{ name: 'weights.bin', bytes: await bytesOf('mnist-mlp/weights.bin') }, { name: 'model.json', bytes: await bytesOf('mnist-mlp/model.json') }];
    expect((await loadModel(files)).format).toBe('tfjs');
    // Alone, the model.json's bytes are recognized as TF.js; its shard is then missing.
    expect(await inputError(loadModel(await bytesOf('mnist-mlp/model.json')))).toMatch(/^bytes: weightsManifest lists the weight shard 'weights\.bin', which a single file cannot provide/);
  });

  it('names the file, the field and what was expected for bad inputs', async () => {
    const json = await file('mnist-mlp/model.json');
    expect(await inputError(loadModel([json]))).toBe(
      "model.json: weightsManifest lists the weight shard 'weights.bin', which is not among the files (model.json): add it beside model.json",
    );
    expect(await inputError(loadModel([json, new File([new Uint8Array(100)], 'weights.bin')]))).toMatch(
      /^model\.json: weightsManifest: expected 210600 bytes of weight data for 6 weights, found 100/,
    );
    expect(await inputError(loadModel([await file('mnist-samples.npy')]))).toMatch(/^mnist-samples\.npy: expected a TF\.js Layers model .* or an ONNX model \(\.onnx\) among the files, found none/);
    expect(await inputError(loadModel([json, await file('mnist-mlp.onnx')]))).toBe('model.json, mnist-mlp.onnx: expected one model among the files, found 2');
    expect(await inputError(loadModel(new File([new Uint8Array(8)], 'model.h5')))).toMatch(/^model\.h5: expected a TF\.js Layers model .* found extension '\.h5'$/);
    expect(await inputError(loadModel([new File(['{"modelTopology": '], 'model.json')]))).toMatch(/^model\.json: expected a JSON model\.json \(TF\.js Layers format\), found malformed JSON/);
    expect(await inputError(loadModel(new File([new Uint8Array([8, 7, 0xff, 0xff])], 'broken.onnx')))).toMatch(/^broken\.onnx: /);
    expect(await inputError(loadModel(`${base}missing/model.json`))).toBe(`${base}missing/model.json: cannot fetch: HTTP 404 Not Found`);
    expect(await inputError(loadModel([{ name: 'x.onnx' } as never]))).toMatch(/^files\[0\]: expected a File or \{ name, bytes \}/);
  });

  it('names a shard that cannot be fetched and the model.json that lists it', async () => {
    // A model.json served from a folder without its shard.
    const url = `${base}mnist-mlp/model.json`;
    const json = JSON.parse(new TextDecoder().decode(await bytesOf('mnist-mlp/model.json')));
    json.weightsManifest[0].paths = ['gone.bin'];
    const response = new Response(JSON.stringify(json));
    Object.defineProperty(response, 'url', { value: url });
    // From a Response: no folder to look in.
    expect(await inputError(loadModel(response))).toMatch(/^http:.*model\.json: weightsManifest lists the weight shard 'gone\.bin', which a single file cannot provide/);
    expect(await inputError(loadModel(`${base}broken/model.json`))).toBe(
      `${base}broken/gone.bin: cannot fetch: HTTP 404 Not Found (a weight shard listed in ${base}broken/model.json)`,
    );
  });
});

describe('readNpy', () => {
  it('reads the same array from a File, a URL and bytes as readNpyFile', async () => {
    const reference = await readNpyFile(fixture('mnist-labels.npy'));
    for (const source of [await file('mnist-labels.npy'), `${base}mnist-labels.npy`, await bytesOf('mnist-labels.npy')]) {
      const array = await readNpy(source);
      expect(array.shape).toEqual(reference.shape);
      expect(array.dtype).toBe(reference.dtype);
      expect(array.data).toEqual(reference.data);
    }
    expect((await readBytes(await file('mnist-labels.npy'))).name).toBe('mnist-labels.npy');
  });

  it('names the file in parse errors', async () => {
    expect(await inputError(readNpy(new File([new Uint8Array([1, 2, 3])], 'digits.npy')))).toMatch(/^digits\.npy: /);
    expect(await inputError(readNpy(new File([(await bytesOf('mnist-labels.npy')).subarray(0, 200)], 'labels.npy')))).toMatch(
      /^labels\.npy: data: expected 4000 bytes for shape \(1000,\) int32, found 72 \(file truncated\)$/,
    );
    expect(await inputError(readNpy(`${base}nothing.npy`))).toBe(`${base}nothing.npy: cannot fetch: HTTP 404 Not Found`);
    expect(await inputError(readBytes(42 as never, { name: 'samples' }))).toMatch(/^samples: expected a File, Blob, ArrayBuffer, typed array, Response or URL, found number$/);
  });
});

describe('readSamples (a model of several inputs: an .npz)', () => {
  it('reads the .npz from a File and a URL as readSamplesFile, and a model with its data and mask input from files', async () => {
    const name = 'torch2/text-mask-samples.npz';
    const reference = (await readSamplesFile(fixture(name))) as Map<string, NpyArray>;
    for (const source of [await file(name), `${base}${name}`]) {
      const arrays = (await readSamples(source)) as Map<string, NpyArray>;
      expect([...arrays.keys()]).toEqual([...reference.keys()]);
      expect(arrays.get('attention_mask')!.data).toEqual(reference.get('attention_mask')!.data);
    }
    // An .npy is one array still.
    expect((await readSamples(await file('mnist-labels.npy'))) instanceof Map).toBe(false);
    const model = await loadModel([await file('torch2/hf-distilbert-mask.onnx'), await file('torch2/hf-distilbert-mask.onnx.data')]);
    const samples = samplesForModel(await readSamples(`${base}${name}`), model, name);
    expect([samples.count, samples.data.length]).toEqual([64, 64 * 98]);
    expect(await inputError(async () => samplesForModel(await readNpy(await file('text-samples.npy')), model, 'text-samples.npy'))).toMatch(/^text-samples\.npy: expected an \.npz of one array per model input/);
    // Optimum's export leaves the sequence length open: the samples' shape or a size given fixes it.
    const open = `${base}torch2/hf-bert-mask-torchscript.onnx`;
    const fromSamples = await loadModel(open, { sizes: { samples: shapesOfSamples(await readSamples(`${base}${name}`)) } });
    expect(fromSamples.network.inputShape).toEqual([3 * 49]);
    expect((await loadModel(open, { sizes: { dims: { sequence_length: 20 } } })).network.inputShape).toEqual([3 * 20]);
    expect(await inputError(() => loadModel(open))).toMatch(/hf-bert-mask-torchscript\.onnx: input 'input_ids' has shape \[batch_size, sequence_length\]: axis 1 \('sequence_length'\) is open/);
  });
});

describe('samplesForModel and labelsForSamples', () => {
  const float = (shape: number[], fill: (i: number) => number): NpyArray => {
    const data = Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => fill(i));
    return { shape, dtype: 'float32', data };
  };
  const convNetwork: Network = { inputShape: [2, 3, 2], layers: [{ kind: 'flatten', name: 'f' }] };

  it('converts NCHW images to NHWC for ONNX models and keeps NHWC for TF.js', () => {
    const nchw = float([2, 2, 2, 3], (i) => i); // P=2, C=2, H=2, W=3
    const { data, count, total } = samplesForModel(nchw, { network: convNetwork, imageLayout: 'nchw' }, 'x.npy');
    expect([count, total]).toEqual([2, 2]);
    for (let p = 0; p < 2; p++)
      for (let c = 0; c < 2; c++)
        for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) expect(data[((p * 2 + y) * 3 + x) * 2 + c]).toBe(nchw.data[((p * 2 + c) * 2 + y) * 3 + x]);
    const nhwc = float([2, 2, 3, 2], (i) => i);
    expect(samplesForModel(nhwc, { network: convNetwork, imageLayout: 'nhwc' }, 'x.npy').data).toEqual(nhwc.data);
  });

  it('keeps the first maxSamples and rejects wrong shapes, dtypes and non-finite values naming the file', async () => {
    const model = await loadModel([await file('mnist-mlp/model.json'), await file('mnist-mlp/weights.bin')]);
    const digits = await readNpy(await file('mnist-samples.npy'));
    const samples = samplesForModel(digits, model, 'mnist-samples.npy', { maxSamples: 150 });
    expect([samples.count, samples.total, samples.data.length]).toEqual([150, 1000, 150 * 784]);
    expect(samples.data).toEqual((digits.data as Float32Array).subarray(0, 150 * 784));

    expect(await inputError(() => samplesForModel(float([3, 10], () => 0), model, 'mine.npy'))).toBe(
      "mine.npy: shape: expected (P, 784) to match the model's input, found (3, 10)",
    );
    expect(await inputError(() => samplesForModel(float([2, 2, 3, 3], () => 0), { network: convNetwork, imageLayout: 'nchw' }, 'img.npy'))).toBe(
      "img.npy: shape: expected (P, 2, 2, 3) NCHW to match the model's input, found (2, 2, 3, 3)",
    );
    // NHWC samples of a two-channel image are not what an ONNX model's users hold: refused, not guessed.
    expect(await inputError(() => samplesForModel(float([2, 2, 3, 2], () => 0), { network: convNetwork, imageLayout: 'nchw' }, 'nhwc.npy'))).toBe(
      "nhwc.npy: shape: expected (P, 2, 2, 3) NCHW to match the model's input, found (2, 2, 3, 2)",
    );
    expect(await inputError(() => samplesForModel(float([2, 12], () => 0), { network: convNetwork, imageLayout: 'nhwc' }, 'flat.npy'))).toBe(
      "flat.npy: shape: expected (P, 2, 3, 2) NHWC to match the model's input, found (2, 12)",
    );
    expect(await inputError(() => samplesForModel(float([2, 784], (i) => (i === 800 ? NaN : 0)), model, 'nan.npy'))).toBe(
      'nan.npy: data: expected finite values, found NaN in sample 1',
    );
    const labels = await readNpy(await file('mnist-labels.npy'));
    expect(await inputError(() => samplesForModel(labels, model, 'mnist-labels.npy'))).toBe('mnist-labels.npy: descr: expected float32 or float64 samples (integer images: scale them as the model was trained, e.g. x / 255, and save them as float32), found int32');
    expect(labelsForSamples(labels, 'mnist-labels.npy', samples)).toEqual((labels.data as Int32Array).subarray(0, 150));
    expect(await inputError(() => labelsForSamples(labels, 'mnist-labels.npy', { total: 999, count: 150 }))).toBe(
      'mnist-labels.npy: shape: expected (999,) labels, one per sample, found (1000)',
    );
    expect(await inputError(() => labelsForSamples(digits, 'mnist-samples.npy', samples))).toBe('mnist-samples.npy: descr: expected uint8, int32 or int64 labels, found float32');
    // int64 labels (what numpy writes by default) are read as numbers.
    const int64: NpyArray = { shape: [3], dtype: 'int64', data: BigInt64Array.from([1n, 2n, 3n]) };
    expect([...labelsForSamples(int64, 'l.npy', { total: 3, count: 2 })]).toEqual([1, 2]);
    // serializeNpy's output reads back through a Blob.
    const roundTrip = await readNpy(new Blob([serializeNpy({ shape: [2, 784], dtype: 'float32', data: samples.data.slice(0, 1568) as Float32Array }) as BlobPart]));
    expect(roundTrip.shape).toEqual([2, 784]);
  });
});
