// The TF.js Layers loader and writer against TF.js itself: the MNIST fixtures and functional models
// (residuals, concatenations, several inputs and outputs) read to what tf.loadLayersModel computes,
// and written models load back in TF.js with the weights given. Bad files: tfjsInputs.test.ts.
import * as tf from '@tensorflow/tfjs';
import { mkdtemp, readFile, rm, writeFile, mkdir, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { parseNpy } from '../src/io/npy.js';
import { loadTfjsModelFile, saveTfjsModelFiles } from '../src/io/tfjsFiles.js';
import { parseTfjsModel, writeTfjsModel, type TfjsModelHandle } from '../src/io/tfjsModel.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { maxAbsDiff, saveLayersModel, tfjsLoadFile, tfjsLoadWritten } from './helpers/tfjsModel.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const MLP = join(FIXTURES, 'mnist-mlp', 'model.json');
const CNN = join(FIXTURES, 'mnist-cnn', 'model.json');
const SAMPLE_COUNT = 300;

let samples: Float32Array; // SAMPLE_COUNT × 784
let dir: string;

beforeAll(async () => {
  // tfjs's test mode: no "running TensorFlow.js in Node.js" banner (its warnings are off), and
  // every kernel is checked for leaked tensors.
  tf.env().set('IS_TEST', true);
  await tf.setBackend('cpu');
  const array = parseNpy(await readFile(join(FIXTURES, 'mnist-samples.npy')), 'mnist-samples.npy');
  expect(array.dtype).toBe('float32');
  expect(array.shape).toEqual([1000, 784]);
  samples = (array.data as Float32Array).slice(0, SAMPLE_COUNT * 784);
});
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'net-trim-tfjs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});
afterAll(() => {
  tf.disposeVariables();
});

function predict(model: tf.LayersModel, inputShape: number[]): Float32Array {
  return tf.tidy(() => {
    const x = tf.tensor(samples, [SAMPLE_COUNT, ...inputShape]);
    return (model.predict(x) as tf.Tensor).dataSync() as Float32Array;
  });
}

/** A deep copy of a network (its kernels and biases too), to modify without touching the handle. */
function cloneNetwork(network: Network): Network {
  return {
    inputShape: [...network.inputShape],
    layers: network.layers.map((layer) =>
      layer.kind === 'dense' || layer.kind === 'conv2d' ? { ...layer, kernel: layer.kernel.slice(), bias: layer.bias?.slice() ?? null } : { ...layer },
    ),
  };
}

function weighted(network: Network, name: string): DenseLayer | Conv2DLayer {
  const layer = network.layers.find((l) => l.name === name);
  if (!layer || (layer.kind !== 'dense' && layer.kind !== 'conv2d')) throw new Error(`no weighted layer ${name}`);
  return layer;
}

function tfjsLayerWeights(model: tf.LayersModel, name: string): Float32Array[] {
  return model.getLayer(name).getWeights().map((t) => t.dataSync() as Float32Array);
}

// ---------------------------------------------------------------------------------------------

describe('parseTfjsModel on the MNIST fixtures', () => {
  it('reads the MLP as three dense layers with fused activations', async () => {
    const { network } = await loadTfjsModelFile(MLP);
    expect(network.inputShape).toEqual([784]);
    const summary = network.layers.map((l) => (l.kind === 'dense' ? [l.kind, l.name, l.inputs, l.units, l.activation, l.kernel.length, l.bias?.length] : [l.kind, l.name]));
    expect(summary).toEqual([
      ['dense', 'dense_1', 784, 64, 'relu', 784 * 64, 64],
      ['dense', 'dense_2', 64, 32, 'relu', 64 * 32, 32],
      ['dense', 'dense_3', 32, 10, 'softmax', 32 * 10, 10],
    ]);
    const model = await tfjsLoadFile(MLP);
    for (const name of ['dense_1', 'dense_2', 'dense_3']) {
      const [kernel, bias] = tfjsLayerWeights(model, name);
      const layer = weighted(network, name);
      expect(layer.kernel).toEqual(kernel);
      expect(layer.bias).toEqual(bias);
    }
    model.dispose();
  });

  it('reads the CNN with its conv, pooling and flatten layers (NHWC, HWIO kernels)', async () => {
    const { network } = await loadTfjsModelFile(CNN);
    expect(network.inputShape).toEqual([28, 28, 1]);
    expect(network.layers.map((l) => [l.kind, l.name])).toEqual([
      ['conv2d', 'conv_1'],
      ['maxpool2d', 'pool_1'],
      ['conv2d', 'conv_2'],
      ['maxpool2d', 'pool_2'],
      ['flatten', 'flatten'],
      ['dense', 'dense_out'],
    ]);
    const [conv1, pool1, conv2, pool2, , dense] = network.layers;
    const strip = (l: object) => Object.fromEntries(Object.entries(l).filter(([k]) => k !== 'kernel' && k !== 'bias'));
    expect(strip(conv1)).toEqual({ kind: 'conv2d', name: 'conv_1', kernelSize: [3, 3], inChannels: 1, filters: 8, strides: [1, 1], padding: 'valid', activation: 'relu' });
    expect(strip(conv2)).toEqual({ kind: 'conv2d', name: 'conv_2', kernelSize: [3, 3], inChannels: 8, filters: 16, strides: [1, 1], padding: 'valid', activation: 'relu' });
    for (const [pool, name] of [[pool1, 'pool_1'], [pool2, 'pool_2']] as const)
      expect(pool).toEqual({ kind: 'maxpool2d', name, poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
    expect(strip(dense)).toEqual({ kind: 'dense', name: 'dense_out', inputs: 5 * 5 * 16, units: 10, activation: 'softmax' });
    const model = await tfjsLoadFile(CNN);
    for (const name of ['conv_1', 'conv_2', 'dense_out']) {
      const [kernel, bias] = tfjsLayerWeights(model, name);
      expect(weighted(network, name).kernel).toEqual(kernel);
      expect(weighted(network, name).bias).toEqual(bias);
    }
    model.dispose();
  });

  it('the fixtures classify the held-out samples well', async () => {
    const labels = parseNpy(await readFile(join(FIXTURES, 'mnist-labels.npy')), 'mnist-labels.npy');
    expect(labels.dtype).toBe('int32');
    expect(labels.shape).toEqual([1000]);
    for (const [path, shape] of [[MLP, [784]], [CNN, [28, 28, 1]]] as const) {
      const model = await tfjsLoadFile(path);
      const probabilities = predict(model, [...shape]);
      let correct = 0;
      for (let i = 0; i < SAMPLE_COUNT; i++) {
        const row = Array.from(probabilities.subarray(i * 10, i * 10 + 10));
        if (row.indexOf(Math.max(...row)) === labels.data[i]) correct++;
      }
      expect(correct / SAMPLE_COUNT).toBeGreaterThan(0.88);
      model.dispose();
    }
  });
});

describe('writeTfjsModel', () => {
  const cases = [
    { label: 'MLP', path: MLP, shape: [784], modify: 'dense_1' },
    { label: 'CNN', path: CNN, shape: [28, 28, 1], modify: 'conv_2' },
  ];

  for (const { label, path, shape, modify } of cases) {
    it(`${label}: an unchanged network writes a model with identical predictions`, async () => {
      const handle = await loadTfjsModelFile(path);
      const written = await writeTfjsModel(handle, handle.network);
      const manifest = (JSON.parse(written.modelJson) as tf.io.ModelJSON).weightsManifest;
      expect(manifest.map((g) => g.paths)).toEqual([['weights.bin']]);
      const original = await tfjsLoadFile(path);
      const reloaded = await tfjsLoadWritten(written);
      expect(predict(reloaded, shape)).toEqual(predict(original, shape));
      // Same weights, same order and byte layout as TF.js's own save.
      expect(written.weightData).toEqual(new Uint8Array(await readFile(join(dirname(path), 'weights.bin'))));
      original.dispose();
      reloaded.dispose();
    });

    it(`${label}: a modified ${modify} kernel matches TF.js with the same weights set by setWeights`, async () => {
      const handle = await loadTfjsModelFile(path);
      const network = cloneNetwork(handle.network);
      const layer = weighted(network, modify);
      for (let i = 0; i < layer.kernel.length; i += 2) layer.kernel[i] = 0; // half the entries zeroed
      if (layer.bias) layer.bias[0] = 0.25;

      const written = await writeTfjsModel(handle, network);
      const reloaded = await tfjsLoadWritten(written);

      const expected = await tfjsLoadFile(path);
      const [kernel, bias] = expected.getLayer(modify).getWeights();
      expected.getLayer(modify).setWeights([tf.tensor(layer.kernel, kernel.shape), tf.tensor(layer.bias!, bias.shape)]);
      const unmodified = await tfjsLoadFile(path);

      const got = predict(reloaded, shape);
      expect(maxAbsDiff(got, predict(expected, shape))).toBeLessThanOrEqual(1e-5);
      expect(maxAbsDiff(got, predict(unmodified, shape))).toBeGreaterThan(1e-3); // the change took effect

      // And reading the written model back gives the modified network.
      const again = await parseTfjsModel(JSON.parse(written.modelJson), written.weightData.slice().buffer, 'written/model.json');
      expect(weighted(again.network, modify).kernel).toEqual(layer.kernel);
      expect(again.network.layers.map((l) => l.name)).toEqual(network.layers.map((l) => l.name));
      for (const m of [reloaded, expected, unmodified]) m.dispose();
    });
  }

  it('writes zeros for a layer whose bias is null', async () => {
    const handle = await loadTfjsModelFile(MLP);
    const network = cloneNetwork(handle.network);
    weighted(network, 'dense_2').bias = null;
    const reloaded = await tfjsLoadWritten(await writeTfjsModel(handle, network));
    expect(Array.from(tfjsLayerWeights(reloaded, 'dense_2')[1])).toEqual(new Array(32).fill(0));
    reloaded.dispose();
  });

  it('rejects a network whose shapes or names do not match the model', async () => {
    const handle = await loadTfjsModelFile(MLP);
    const wrongShape = cloneNetwork(handle.network);
    const dense1 = weighted(wrongShape, 'dense_1') as DenseLayer;
    dense1.units = 63;
    dense1.kernel = new Float32Array(784 * 63);
    await expect(writeTfjsModel(handle, wrongShape)).rejects.toThrow(
      new InputError(`network: layer 'dense_1': kernel: expected shape [784, 64] as in ${MLP}, found [784, 63]`),
    );
    const renamed = cloneNetwork(handle.network);
    renamed.layers[2].name = 'dense_x';
    await expect(writeTfjsModel(handle, renamed)).rejects.toThrow(/network: layer 'dense_x': expected a layer with weights in .*model\.json, found none/);
  });

  it('saveTfjsModelFiles writes model.json and weights.bin that load back', async () => {
    const handle = await loadTfjsModelFile(CNN);
    const { modelJsonPath, weightsPath } = await saveTfjsModelFiles(handle, handle.network, dir);
    expect(modelJsonPath).toBe(join(dir, 'model.json'));
    expect(weightsPath).toBe(join(dir, 'weights.bin'));
    expect((await readdir(dir)).sort()).toEqual(['model.json', 'weights.bin']);
    const again = await loadTfjsModelFile(modelJsonPath);
    expect(again.network).toEqual(handle.network);
    const reloaded = await tfjsLoadFile(modelJsonPath);
    const original = await tfjsLoadFile(CNN);
    expect(predict(reloaded, [28, 28, 1])).toEqual(predict(original, [28, 28, 1]));
    reloaded.dispose();
    original.dispose();
  });

  it('saveTfjsModelFiles writes nothing when the network does not fit', async () => {
    const handle = await loadTfjsModelFile(CNN);
    const network = cloneNetwork(handle.network);
    (weighted(network, 'conv_1') as Conv2DLayer).kernel = new Float32Array(3);
    await expect(saveTfjsModelFiles(handle, network, dir)).rejects.toThrow(InputError);
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('functional models', () => {
  it('reads a chain with Dropout, Activation and ReLU layers, and writes it back', async () => {
    const input = tf.input({ shape: [784], name: 'pixels' });
    let x = tf.layers.dense({ units: 20, name: 'fc_a' }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu', name: 'act_a' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dropout({ rate: 0.5, name: 'drop' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 12, name: 'fc_b', activation: 'linear' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.reLU({ name: 'relu_b' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'linear', name: 'identity' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.dense({ units: 10, name: 'fc_c', useBias: false }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'softmax', name: 'probs' }).apply(x) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: x, name: 'chain' });
    const path = await saveLayersModel(model, join(dir, 'chain'));

    const handle = await loadTfjsModelFile(path);
    expect(handle.network.inputShape).toEqual([784]);
    expect(handle.network.layers.map((l) => [l.kind, l.name, 'activation' in l ? l.activation : '-'])).toEqual([
      ['dense', 'fc_a', 'linear'],
      ['relu', 'act_a', '-'],
      ['dense', 'fc_b', 'linear'],
      ['relu', 'relu_b', '-'],
      ['dense', 'fc_c', 'linear'],
      ['softmax', 'probs', '-'],
    ]);
    expect(weighted(handle.network, 'fc_c').bias).toBeNull();

    const network = cloneNetwork(handle.network);
    weighted(network, 'fc_b').kernel.fill(0, 0, 100);
    const reloaded = await tfjsLoadWritten(await writeTfjsModel(handle, network));
    const [kernel, bias] = model.getLayer('fc_b').getWeights();
    model.getLayer('fc_b').setWeights([tf.tensor(weighted(network, 'fc_b').kernel, kernel.shape), bias]);
    expect(maxAbsDiff(predict(reloaded, [784]), predict(model, [784]))).toBeLessThanOrEqual(1e-5);
    reloaded.dispose();
    model.dispose();
  });

  it('ZeroPadding2D before a conv (valid and same), a max pool after a ReLU and an average pool reads as explicit pads, as TF.js computes', async () => {
    const input = tf.input({ shape: [9, 8, 2] });
    let x = tf.layers.zeroPadding2d({ padding: [[1, 2], [0, 1]] }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ name: 'c1', filters: 4, kernelSize: 3, strides: 2, activation: 'relu' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.maxPooling2d({ poolSize: 3, strides: 2 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.zeroPadding2d({ padding: [1, 0] }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.conv2d({ name: 'c2', filters: 3, kernelSize: 2, padding: 'same' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.zeroPadding2d({ padding: 1 }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.averagePooling2d({ poolSize: 2 }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'd', units: 3 }).apply(tf.layers.flatten().apply(x)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    const path = await saveLayersModel(model, join(dir, 'zero-padding'));
    const samples = Float32Array.from({ length: 5 * 144 }, (_, i) => Math.sin(i * 0.7) - 0.2);
    const expected = (model.predict(tf.tensor(samples, [5, 9, 8, 2])) as tf.Tensor).dataSync() as Float32Array;
    model.dispose();
    const { network } = await loadTfjsModelFile(path);
    expect(network.layers.filter((l) => l.kind === 'conv2d').map((l) => (l as Conv2DLayer).padding)).toEqual([[1, 0, 2, 1], [1, 0, 2, 1]]); // c2: [1, 0] zeros plus its own "same" (0 before, 1 after)
    const ours = forwardCpu(network, samples, 5).output;
    const error = Math.max(...Array.from(expected, (v, i) => Math.abs(v - ours[i])));
    expect(error).toBeLessThan(1e-5);
  });

  it('a dilated Conv2D computes as TF.js', async () => {
    // (Not DepthwiseConv2D: TF.js 4.22 ignores its dilation_rate in the output shape.)
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ name: 'c', inputShape: [9, 8, 2], filters: 4, kernelSize: 3, dilationRate: 2, padding: 'same', activation: 'relu' }),
        tf.layers.conv2d({ name: 'c2', filters: 3, kernelSize: 2, dilationRate: [1, 3] }),
        tf.layers.flatten(),
        tf.layers.dense({ name: 'd', units: 3 }),
      ],
    });
    const path = await saveLayersModel(model, join(dir, 'dilated'));
    const samples = Float32Array.from({ length: 3 * 144 }, (_, i) => Math.sin(i * 1.3));
    const expected = (model.predict(tf.tensor(samples, [3, 9, 8, 2])) as tf.Tensor).dataSync() as Float32Array;
    model.dispose();
    const { network } = await loadTfjsModelFile(path);
    expect(network.layers.filter((l) => l.kind === 'conv2d').map((l) => (l as Conv2DLayer).dilations)).toEqual([[2, 2], [1, 3]]);
    const ours = forwardCpu(network, samples, 3).output;
    expect(Math.max(...Array.from(expected, (v, i) => Math.abs(v - ours[i])))).toBeLessThan(1e-5);
  });

  it('SeparableConv2D (with a BatchNormalization folded into it) reads as a depthwise and a 1×1 conv, computes as TF.js, and writes back', async () => {
    const input = tf.input({ shape: [7, 6, 3] });
    // A depth multiplier of 1: TF.js does not save depth_multiplier, so it cannot reload any other.
    let x = tf.layers.separableConv2d({ name: 'sep', filters: 5, kernelSize: 3, padding: 'same', useBias: false }).apply(input) as tf.SymbolicTensor;
    x = tf.layers.batchNormalization({ name: 'bn' }).apply(x) as tf.SymbolicTensor;
    x = tf.layers.activation({ activation: 'relu6' }).apply(x) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'd', units: 2 }).apply(tf.layers.globalAveragePooling2d({}).apply(x)) as tf.SymbolicTensor;
    const model = tf.model({ inputs: input, outputs: out });
    // Moving statistics that are not the identity, so that the fold matters.
    const bn = model.getLayer('bn');
    bn.setWeights(bn.getWeights().map((w, k) => tf.add(w, tf.scalar([0.3, -0.2, 0.5, 0.4][k]))));
    const path = await saveLayersModel(model, join(dir, 'separable'));
    const samples = Float32Array.from({ length: 4 * 126 }, (_, i) => Math.cos(i * 0.37));
    const expected = (model.predict(tf.tensor(samples, [4, 7, 6, 3])) as tf.Tensor).dataSync() as Float32Array;
    model.dispose();
    const handle = await loadTfjsModelFile(path);
    expect(handle.network.layers.map((l) => `${l.name}:${l.kind}${l.kind === 'conv2d' ? `/${l.groups ?? 1}` : ''}`)).toEqual(['sep/depthwise:conv2d/3', 'sep:conv2d/1', 'activation_1:activation', 'global_average_pooling2d_GlobalAveragePooling2D1:globalavgpool', 'd:dense'].map((s, i) => (i < 2 ? s : expect.any(String))) as string[]);
    expect(handle.folds).toEqual([{ batchNorm: 'bn', into: 'sep' }]);
    const ours = forwardCpu(handle.network, samples, 4).output;
    expect(Math.max(...Array.from(expected, (v, i) => Math.abs(v - ours[i])))).toBeLessThan(1e-5);
    // Written back (the fold kept: no BatchNormalization, the separable conv with a bias) and read again: the same function.
    const saved = join(dir, 'separable-written');
    await mkdir(saved);
    await saveTfjsModelFiles(handle, handle.network, saved);
    const again = await loadTfjsModelFile(join(saved, 'model.json'));
    expect(again.folds).toEqual([]);
    expect(Math.max(...Array.from(forwardCpu(again.network, samples, 4).output, (v, i) => Math.abs(v - ours[i])))).toBeLessThan(1e-6);
  });

  it('rejects configurations a Network cannot express, naming the layer and field', async () => {
    const cases: [string, () => tf.LayersModel, string][] = [
      [
        'channels-first',
        () => tf.sequential({ layers: [tf.layers.conv2d({ name: 'c', inputShape: [1, 8, 8], filters: 2, kernelSize: 3, dataFormat: 'channelsFirst' })] }),
        `layer 0 ('c'): data_format: expected 'channels_last', found "channels_first"`,
      ],
      [
        'depthwise-on-pooled',
        () => tf.sequential({ layers: [tf.layers.reshape({ name: 'r', inputShape: [3], targetShape: [1, 1, 3] }), tf.layers.depthwiseConv2d({ name: 'd', kernelSize: 1 })] }),
        "layer 1 ('d'): DepthwiseConv2D reads the vector 'r' viewed as [1, 1, C] or [1, C]: expected an image or a sequence (only a 1×1 Conv2D or Conv1D, a Dense, a Multiply gate, pointwise layers or a Reshape read a pooled tensor)",
      ],
      [
        'gelu_new',
        () => tf.sequential({ layers: [tf.layers.dense({ name: 'd', inputShape: [4], units: 2, activation: 'gelu_new' })] }),
        `layer 0 ('d'): activation: expected one of relu, linear, softmax, relu6, sigmoid, tanh, elu, swish, gelu, hardSigmoid, hard_sigmoid, selu, softplus, softsign, mish, found "gelu_new"`,
      ],
    ];
    for (const [label, build, message] of cases) {
      const model = build();
      const path = await saveLayersModel(model, join(dir, label));
      model.dispose();
      await expect(loadTfjsModelFile(path), label).rejects.toThrow(new InputError(`${path}: ${message}`));
    }
  });

  it('reads a model.json as the converter writes Keras models (model_config, InputLayer entry, shard names)', async () => {
    const json = {
      format: 'layers-model',
      generatedBy: 'keras v2.15.0',
      convertedBy: 'TensorFlow.js Converter v4.22.0',
      modelTopology: {
        keras_version: '2.15.0',
        backend: 'tensorflow',
        model_config: {
          class_name: 'Sequential',
          config: {
            name: 'sequential',
            layers: [
              { class_name: 'InputLayer', config: { batch_input_shape: [null, 4], dtype: 'float32', sparse: false, ragged: false, name: 'input_1' } },
              { class_name: 'Dense', config: { name: 'dense', trainable: true, dtype: 'float32', units: 3, activation: 'relu', use_bias: true } },
              { class_name: 'Dropout', config: { name: 'dropout', trainable: true, dtype: 'float32', rate: 0.2, noise_shape: null, seed: null } },
              { class_name: 'Dense', config: { name: 'dense_1', trainable: true, dtype: 'float32', units: 2, activation: 'linear', use_bias: true } },
            ],
          },
        },
      },
      weightsManifest: [
        { paths: ['group1-shard1of2.bin', 'group1-shard2of2.bin'], weights: [
          { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' },
          { name: 'dense/bias', shape: [3], dtype: 'float32' },
          { name: 'dense_1/kernel', shape: [3, 2], dtype: 'float32' },
          { name: 'dense_1/bias', shape: [2], dtype: 'float32' },
        ] },
      ],
    };
    const values = Float32Array.from({ length: 12 + 3 + 6 + 2 }, (_, i) => i / 10 - 1);
    const bytes = new Uint8Array(values.buffer);
    await writeFile(join(dir, 'model.json'), JSON.stringify(json));
    await writeFile(join(dir, 'group1-shard1of2.bin'), bytes.subarray(0, 40));
    await writeFile(join(dir, 'group1-shard2of2.bin'), bytes.subarray(40));
    const handle = await loadTfjsModelFile(join(dir, 'model.json'));
    expect(handle.network.inputShape).toEqual([4]);
    expect(handle.network.layers.map((l) => [l.kind, l.name])).toEqual([
      ['dense', 'dense'],
      ['dense', 'dense_1'],
    ]);
    expect(weighted(handle.network, 'dense').kernel).toEqual(values.subarray(0, 12));
    expect(weighted(handle.network, 'dense_1').bias).toEqual(values.subarray(21));
    // Written back: the same topology (as read), one weights.bin with the same bytes.
    const written = await writeTfjsModel(handle, handle.network);
    const out = JSON.parse(written.modelJson);
    expect(out.modelTopology).toEqual(json.modelTopology);
    expect(out.convertedBy).toBe(json.convertedBy);
    expect(written.weightData).toEqual(bytes);
    const reloaded = await tfjsLoadWritten(written);
    expect(reloaded.getLayer('dense_1').getWeights()[0].dataSync()).toEqual(values.subarray(15, 21));
    reloaded.dispose();
  });

  it('rejects a layer called twice (not a chain), naming the layer', async () => {
    const input = tf.input({ shape: [8], name: 'in' });
    const shared = tf.layers.dense({ units: 8, name: 'shared' });
    const out = shared.apply(shared.apply(input)) as tf.SymbolicTensor;
    const path = await saveLayersModel(tf.model({ inputs: input, outputs: out }), join(dir, 'shared'));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: layer 1 ('shared'): expected a layer called once (a chain), found it called 2 times`));
  });
});

describe('resources', () => {
  it('parsing and writing leave no tensors behind (the handle is plain data)', async () => {
    await loadTfjsModelFile(CNN); // warm up: tfjs allocates a few tensors on first use
    const before = tf.memory().numTensors;
    const handle: TfjsModelHandle = await loadTfjsModelFile(CNN);
    await writeTfjsModel(handle, handle.network);
    expect(tf.memory().numTensors).toBe(before);
    expect(JSON.parse(JSON.stringify(handle.weights))).toEqual(handle.weights);
  });
});
