// Upsampling by whole factors (U-Net, FPN, DeepLab and autoencoder decoders), nearest or bilinear:
// ONNX Resize as PyTorch's nn.Upsample / F.interpolate write it (scales or sizes; 2-D and 1-D) and
// Keras's UpSampling2D, as an `upsample` layer. Import against onnxruntime, both prunes and the GPU
// forward pass: dagModels.test.ts's list (uNet, bilinearDecoder). Here the op's values, channels removed through it, Keras
// with TF.js as the oracle, and one-line errors.
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { writeTfjsModel } from '../src/io/tfjsModel.js';
import { upsampleForward } from '../src/network/cpuOps.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { UPSAMPLE_MODES, type Conv2DLayer, type Network, type UpsampleMode } from '../src/network/types.js';
import { gpuForTests } from './helpers/gpu.js';
import { lipschitzBetween } from '../src/prune/bounds.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { uNet } from './helpers/dagGraphs.js';
import { GraphBuilder, imageSamples, importError, int, ints, nchwToNhwc, relativeError, runOnnx, str } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { randomizeWeights, saveLayersModel } from './helpers/tfjsModel.js';

const gpu = await gpuForTests();
const kinds = (network: Network) => network.layers.map((l) => l.kind);

const parseError = (bytes: Uint8Array) => importError(bytes, 'u.onnx');

describe('the upsample layer', () => {
  it('repeats each pixel sh×sw times, channel by channel', () => {
    // One sample [2, 2, 2]: pixel (y, x) holds (10y + x, −(10y + x)).
    const x = Float64Array.from([0, -0, 1, -1, 10, -10, 11, -11]);
    const out = upsampleForward(x, 1, [2, 2, 2], [2, 1]);
    expect([...out]).toEqual([0, -0, 1, -1, 0, -0, 1, -1, 10, -10, 11, -11, 10, -10, 11, -11]);
  });

  it('bilinear, per axis: half pixel ((o + ½)/s − ½, clamped at 0), aligned corners, asymmetric (o/s)', () => {
    // One row of 3 values (0, 10, 20), one channel, ×2 along the width.
    const row = Float64Array.from([0, 10, 20]);
    const run = (mode: UpsampleMode) => [...upsampleForward(row, 1, [1, 3, 1], [1, 2], mode)];
    expect(run('bilinear')).toEqual([0, 2.5, 7.5, 12.5, 17.5, 20]);
    expect(run('bilinear-align-corners').map((v) => +v.toFixed(12))).toEqual([0, 4, 8, 12, 16, 20]);
    expect(run('bilinear-asymmetric')).toEqual([0, 5, 10, 15, 20, 20]);
  });

  it('its Lipschitz factor (‖·‖_F) is at most √ of the interpolation matrices\' column sums: √(sh·sw) when nearest', () => {
    expect(lipschitzBetween([{ kind: 'upsample', name: 'u', scale: [2, 3] }], [[4, 4, 2]], 0, 1)).toBeCloseTo(Math.sqrt(6), 12);
    // Asymmetric ×2 of 3 values: the last input gets 1 + ½ + 1 (o = 3, 4, 5).
    expect(lipschitzBetween([{ kind: 'upsample', name: 'u', scale: [1, 2], mode: 'bilinear-asymmetric' }], [[1, 3, 1]], 0, 1)).toBeCloseTo(Math.sqrt(2.5), 12);
  });
});

describe.skipIf(!gpu)('the GPU upsample kernel', () => {
  for (const mode of UPSAMPLE_MODES)
    it(`${mode}: equals the float64 op (a 5×3 image of 2 channels, ×(3, 2), two samples)`, async () => {
      const network: Network = { inputShape: [5, 3, 2], layers: [{ kind: 'upsample', name: 'u', scale: [3, 2], mode }] };
      const rand = mulberry32(7);
      const x = Float32Array.from({ length: 2 * 30 }, () => rand() - 0.5);
      const want = forwardCpu(network, x, 2).output;
      expect(relativeError((await forwardGpu(gpu!, network, x, 2)).output, want)).toBeLessThan(1e-6);
    });
});

describe('ONNX Resize', () => {
  it('the U-Net reads as conv, pool, conv, upsample ×2, concat; a channel of the low branch goes with the upsampled channel the decoder skips', async () => {
    const c = uNet();
    const handle = parseOnnxModel(c.bytes, 'u.onnx');
    expect(kinds(handle.network)).toEqual(['conv2d', 'relu', 'maxpool2d', 'conv2d', 'relu', 'upsample', 'concat', 'conv2d', 'relu', 'conv2d', 'globalavgpool', 'flatten', 'dense']);
    const network = structuredClone(handle.network);
    const [, low, decoder] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    // Concat channel 2 (the upsampled low channel 2): the decoder reads it no more.
    for (let tap = 0; tap < 9; tap++) decoder.kernel.fill(0, (tap * 10 + 2) * 4, (tap * 10 + 3) * 4);
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(low.name)!]).toEqual([0, 1, 3, 4, 5]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const { nchw, ours } = imageSamples([3, 6, 6], 3, 4);
    const want = forwardCpu(network, ours, 3).output;
    expect(relativeError(forwardCpu(removal.network, ours, 3).output, want)).toBeLessThan(1e-12);
    expect(relativeError(await runOnnx(written, nchw, [3, 3, 6, 6]), want)).toBeLessThan(1e-5);
  });

  it('1-D (a sequence [batch, C, L]), the factor from sizes folded for the input shape (F.interpolate(size=…)), half_pixel: as onnxruntime', async () => {
    const g = new GraphBuilder(6);
    const a = g.node('Relu', [g.conv1d('input', 3, 4, 3, { pad: 1 })]); // L 10
    const pooled = g.node('MaxPool', [a], [ints('kernel_shape', [2]), ints('strides', [2])]); // L 5
    // sizes: [batch, 4] of the pooled tensor's shape, then 10.
    const target = g.node('Concat', [g.node('Slice', [g.node('Shape', [pooled]), g.int64([0]), g.int64([2])]), g.int64([10])], [int('axis', 0)]);
    const up = g.node('Resize', [pooled, '', '', target], [str('mode', 'nearest'), str('coordinate_transformation_mode', 'half_pixel')]);
    const bytes = g.model([3, 10], g.conv1d(g.node('Concat', [up, a], [int('axis', 1)]), 8, 2, 1));
    const { network } = parseOnnxModel(bytes, 'u.onnx');
    expect(network.layers.find((l) => l.kind === 'upsample')).toMatchObject({ scale: [1, 2] });
    const rand = mulberry32(3);
    const ncl = Float32Array.from({ length: 2 * 30 }, () => rand() - 0.5);
    const theirs = await runOnnx(bytes, ncl, [2, 3, 10]); // [2, 2, 10] NCL
    expect(relativeError(forwardCpu(network, nchwToNhwc(ncl, 2, 3, 1, 10), 2).output, nchwToNhwc(theirs, 2, 2, 1, 10))).toBeLessThan(1e-5);
  });

  it('refuses what is not nearest upsampling by whole factors, naming the node', () => {
    const resize = (scales: number[], attrs = [str('mode', 'nearest'), str('coordinate_transformation_mode', 'asymmetric'), str('nearest_mode', 'floor')]) => {
      const g = new GraphBuilder(2);
      const s = g.weight([scales.length], 0, 'scales');
      g.initializers.find((t) => t.name === 'scales')!.rawData = new Uint8Array(Float32Array.from(scales).buffer);
      return g.model([2, 4, 4], g.node('Resize', [g.conv('input', 2, 2, 1), '', s], attrs));
    };
    expect(parseError(resize([1, 1, 2, 2], [str('mode', 'cubic')]))).toMatch(/op Resize\): mode 'cubic' \(half_pixel\): expected nearest upsampling \(coordinate_transformation_mode 'asymmetric' with nearest_mode 'floor'/);
    expect(parseError(resize([1, 1, 2, 2], [str('mode', 'linear'), str('coordinate_transformation_mode', 'tf_crop_and_resize')]))).toMatch(/mode 'linear' \(tf_crop_and_resize\): expected nearest/);
    expect(parseError(resize([1, 1, 2, 2], [str('mode', 'nearest'), str('coordinate_transformation_mode', 'align_corners')]))).toMatch(/mode 'nearest' \(align_corners round_prefer_floor\): expected nearest upsampling/);
    expect(parseError(resize([1, 1, 1.5, 1.5]))).toMatch(/op Resize\): scales \[1,1,1.5,1.5\] of \[batch, 2, 4, 4\]: expected 1 for the batch and the channels and whole factors of the rest$/);
    expect(parseError(resize([1, 2, 2, 2]))).toMatch(/scales \[1,2,2,2\]/);
  });
});

describe('Keras UpSampling2D', () => {
  let dir: string;
  let model: tf.LayersModel;
  beforeAll(async () => {
    tf.env().set('IS_TEST', true);
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), 'net-trim-upsample-'));
    const input = tf.input({ shape: [6, 6, 2], name: 'image' });
    const skip = tf.layers.conv2d({ name: 'skip', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(input) as tf.SymbolicTensor;
    const low = tf.layers.conv2d({ name: 'low', filters: 5, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(tf.layers.maxPooling2d({ name: 'pool', poolSize: 2 }).apply(skip)) as tf.SymbolicTensor;
    const up = tf.layers.upSampling2d({ name: 'up', size: [2, 2] }).apply(low) as tf.SymbolicTensor;
    const joined = tf.layers.concatenate({ name: 'joined' }).apply([up, skip]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'head', units: 3 }).apply(tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(tf.layers.conv2d({ name: 'dec', filters: 4, kernelSize: 3, padding: 'same', activation: 'relu' }).apply(joined)));
    model = tf.model({ inputs: input, outputs: out as tf.SymbolicTensor });
    randomizeWeights(model, 12);
  });
  afterAll(async () => {
    model.dispose();
    await rm(dir, { recursive: true, force: true });
  });

  it('reads as an upsample layer computing what TF.js predicts; a channel removed through it, the written model.json runs in TF.js as our network', async () => {
    const handle = await loadTfjsModelFile(await saveLayersModel(model, join(dir, 'unet')));
    expect(handle.network.layers.find((l) => l.kind === 'upsample')).toMatchObject({ name: 'up', scale: [2, 2] });
    const rand = mulberry32(4);
    const x = Float32Array.from({ length: 4 * 72 }, () => rand());
    const want = tf.tidy(() => (model.predict(tf.tensor(x, [4, 6, 6, 2])) as tf.Tensor).dataSync() as Float32Array);
    expect(relativeError(forwardCpu(handle.network, x, 4).output, want)).toBeLessThan(1e-5);
    const network = structuredClone(handle.network);
    const dec = network.layers.find((l) => l.name === 'dec') as Conv2DLayer;
    for (let tap = 0; tap < 9; tap++) dec.kernel.fill(0, (tap * 9 + 1) * 4, (tap * 9 + 2) * 4); // joined channel 1: the upsampled low channel 1
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('low')!]).toEqual([0, 2, 3, 4]);
    const written = await writeTfjsModel(handle, removal.network, removal.kept);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const loaded = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: written.weightData.slice().buffer }));
    const theirs = tf.tidy(() => (loaded.predict(tf.tensor(x, [4, 6, 6, 2])) as tf.Tensor).dataSync() as Float32Array);
    loaded.dispose();
    expect(relativeError(theirs, forwardCpu(network, x, 4).output)).toBeLessThan(1e-5);
  });

  it("interpolation 'bilinear' reads as TF.js computes it (asymmetric: source o/s)", async () => {
    const bilinear = tf.sequential({ layers: [tf.layers.conv2d({ inputShape: [4, 3, 2], name: 'c', filters: 3, kernelSize: 1 }), tf.layers.upSampling2d({ name: 'up', size: [2, 3], interpolation: 'bilinear' })] });
    const handle = await loadTfjsModelFile(await saveLayersModel(bilinear, join(dir, 'bilinear')));
    expect(handle.network.layers[1]).toMatchObject({ kind: 'upsample', scale: [2, 3], mode: 'bilinear-asymmetric' });
    const rand = mulberry32(5);
    const x = Float32Array.from({ length: 2 * 24 }, () => rand());
    const want = tf.tidy(() => (bilinear.predict(tf.tensor(x, [2, 4, 3, 2])) as tf.Tensor).dataSync() as Float32Array);
    expect(relativeError(forwardCpu(handle.network, x, 2).output, want)).toBeLessThan(1e-5);
    bilinear.dispose();
  });
});
