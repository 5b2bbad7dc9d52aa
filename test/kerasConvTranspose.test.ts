// Keras's Conv2DTranspose (TF.js Layers: a decoder's upsampling, a GAN generator), read as ONNX's
// ConvTranspose is (convTransposeModels.test.ts): zeros between the pixels and a stride-1 conv with
// the kernel flipped, padded to TF's output sizes ('same': in·s; 'valid': in·s + max(k − s, 0)).
// TF.js is the oracle: what it predicts, the written kernel [kh, kw, filters, cin] when pruned
// and when channels are removed.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { writeTfjsModel } from '../src/io/tfjsModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { Conv2DLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { gpuForTests } from './helpers/gpu.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { savedRandomModels, saveLayersModel } from './helpers/tfjsModel.js';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const gpu = await gpuForTests();
type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: Sym) => layer.apply(input) as Sym;
const SHAPE = [5, 4, 3];
const SIZE = 60;

/** A decoder: stride 2 'same' (k 3), stride 2 'valid' (k 2), strides [3, 1] 'valid' (k [3, 3]), stride 1 'same'. */
function decoder(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE, name: 'input_1' });
  let x = apply(tf.layers.conv2dTranspose({ name: 'up1', filters: 6, kernelSize: 3, strides: 2, padding: 'same', activation: 'relu' }), input); // 10×8
  x = apply(tf.layers.conv2dTranspose({ name: 'up2', filters: 4, kernelSize: 2, strides: 2, padding: 'valid' }), x); // 20×16
  x = apply(tf.layers.conv2d({ name: 'squeeze', filters: 3, kernelSize: 3, strides: 4, activation: 'relu' }), x); // 5×4
  x = apply(tf.layers.conv2dTranspose({ name: 'up3', filters: 2, kernelSize: 3, strides: [3, 1], padding: 'valid', useBias: false }), x); // 15×6
  x = apply(tf.layers.conv2dTranspose({ name: 'same1', filters: 3, kernelSize: 3, padding: 'same', activation: 'tanh' }), x); // 15×6
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'head', units: 2 }), apply(tf.layers.flatten({ name: 'flatten' }), x)) });
}

const inputs = (count: number, seed: number) => {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: count * SIZE }, () => 2 * rand() - 1);
};

async function predict(written: { modelJson: string; weightData: Uint8Array }, x: Float32Array): Promise<Float32Array> {
  const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: written.weightData.slice().buffer }));
  const out = tf.tidy(() => (model.predict(tf.tensor(x, [x.length / SIZE, ...SHAPE])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  return out;
}

describe('Keras Conv2DTranspose as zeros between the pixels and a conv', () => {
  const { saved } = savedRandomModels([{ name: 'decoder', build: decoder }], 'net-trim-keras-deconv-', 12);

  it('reads to the layers and sizes TF.js builds, and computes what it predicts (CPU and GPU)', async () => {
    const { model, path } = saved.get('decoder')!;
    const { network } = await loadTfjsModelFile(path);
    const kinds = network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
    expect(kinds).toEqual(['insertzeros', 'conv2d', 'insertzeros', 'conv2d', 'conv2d', 'insertzeros', 'conv2d', 'conv2d', 'tanh', 'flatten', 'dense']);
    const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    // 'same', k 3, s 2: the forward conv pads ⌊(3 − 2)/2⌋ = 0 first: 2 before, and 3 after to reach 10.
    // [top, left, bottom, right]. 'same', k 3, s 2: the forward conv pads ⌊(3 − 2)/2⌋ = 0 first, so
    // 2 before and 1 after (10 rows from 9); 'valid', k 3: 2 on each side.
    expect(convs.map((c) => c.padding)).toEqual([[2, 2, 1, 1], [1, 1, 1, 1], 'valid', [2, 2, 2, 2], [1, 1, 1, 1]]);
    const x = inputs(6, 1);
    const want = tf.tidy(() => (model.predict(tf.tensor(x, [6, ...SHAPE])) as tf.Tensor).dataSync() as Float32Array);
    const ours = forwardCpu(network, x, 6).output;
    expect(relativeError(ours, want)).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, x, 6)).output, ours)).toBeLessThan(1e-5);
  });

  it("a kernel smaller than its stride in 'valid' padding is refused: its last rows would be bias alone", async () => {
    const model = tf.sequential({ layers: [tf.layers.conv2dTranspose({ name: 'up', inputShape: SHAPE, filters: 2, kernelSize: 2, strides: 3 })] });
    const dir = await mkdtemp(join(tmpdir(), 'net-trim-deconv-'));
    try {
      await expect(loadTfjsModelFile(await saveLayersModel(model, dir))).rejects.toThrow(/layer 0 \('up'\).*a 2×2 kernel at strides 3×3 in 'valid' padding: expected a kernel at least as large as the stride/);
    } finally {
      model.dispose();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('prunes (parallel) into a model.json TF.js loads and runs as our pruned network', async () => {
    const handle = await loadTfjsModelFile(saved.get('decoder')!.path);
    const result = await pruneNetwork(handle.network, { data: inputs(30, 2), count: 30 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.1, solver: { maxIterations: 2000 } });
    expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
    const test = inputs(4, 3);
    expect(relativeError(await predict(await writeTfjsModel(handle, result.network), test), forwardCpu(result.network, test, 4).output)).toBeLessThan(1e-5);
  }, 120_000);

  it('loses a channel: the written kernels [kh, kw, filters, cin] and filters follow', async () => {
    const handle = await loadTfjsModelFile(saved.get('decoder')!.path);
    const network: Network = structuredClone(handle.network);
    // up2's conv reads nothing from up1's channel 4.
    const up2 = network.layers.find((l): l is Conv2DLayer => l.kind === 'conv2d' && l.name === 'up2')!;
    up2.kernel = up2.kernel.map((v, i) => (Math.floor(i / up2.filters) % up2.inChannels === 4 ? 0 : v));
    const removal = removeUnreadUnits(network);
    const written = await writeTfjsModel(handle, removal.network, removal.kept);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const specs = json.weightsManifest[0].weights;
    expect(specs.filter((s) => s.name.startsWith('up')).map((s) => [s.name, s.shape])).toEqual([['up1/kernel', [3, 3, 5, 3]], ['up1/bias', [5]], ['up2/kernel', [2, 2, 4, 5]], ['up2/bias', [4]], ['up3/kernel', [3, 3, 2, 3]]]);
    const test = inputs(4, 5);
    expect(relativeError(await predict(written, test), forwardCpu(network, test, 4).output)).toBeLessThan(1e-5);
  });
});
