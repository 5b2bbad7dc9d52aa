// 1-D convolutional networks as Keras builds them (TF.js Layers): Conv1D (dilated, strided,
// 'causal'), BatchNormalization, MaxPooling1D, AveragePooling1D, GlobalAveragePooling1D and
// GlobalMaxPooling1D, squeeze-and-excitation through Reshape((1, C)) + 1×1 Conv1D, Dense per
// step (and TimeDistributed(Dense)), LayerNormalization over each step's channels, on a sequence [steps, channels] (ours: [1, steps, channels]). TF.js is the oracle: each
// reads to what it predicts, prunes into a model.json it loads, and loses channels with the
// kernels written in Conv1D's [k, cin, filters].
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { samplesForModel } from '../src/io/samples.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { parseTfjsModel, writeTfjsModel } from '../src/io/tfjsModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { savedRandomModels, saveLayersModel } from './helpers/tfjsModel.js';

type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: Sym | Sym[]) => layer.apply(input) as Sym;
const SHAPE = [20, 4];

/** A 1-D CNN as Keras users write one for sensor or audio data. */
function sequenceCnn(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE, name: 'input_1' });
  const stem = apply(tf.layers.reLU({ name: 'stem_relu' }), apply(tf.layers.batchNormalization({ name: 'stem_bn' }), apply(tf.layers.conv1d({ name: 'stem', filters: 8, kernelSize: 5, padding: 'same', useBias: false }), input)));
  const pooled = apply(tf.layers.maxPooling1d({ name: 'pool', poolSize: 2 }), stem); // 10 steps
  const dilated = apply(tf.layers.conv1d({ name: 'dilated', filters: 8, kernelSize: 3, padding: 'same', dilationRate: 2, activation: 'relu' }), pooled);
  const squeezed = apply(tf.layers.reshape({ name: 'se_reshape', targetShape: [1, 8] }), apply(tf.layers.globalAveragePooling1d({ name: 'se_squeeze' }), dilated));
  const gate = apply(tf.layers.conv1d({ name: 'se_expand', filters: 8, kernelSize: 1, activation: 'sigmoid' }), apply(tf.layers.conv1d({ name: 'se_reduce', filters: 3, kernelSize: 1, activation: 'relu' }), squeezed));
  const block = apply(tf.layers.add({ name: 'add' }), [pooled, apply(tf.layers.multiply({ name: 'se_excite' }), [dilated, gate])]);
  const averaged = apply(tf.layers.averagePooling1d({ name: 'avg', poolSize: 2, strides: 2 }), block); // 5 steps
  const perStep = apply(tf.layers.dense({ name: 'per_step', units: 6, activation: 'tanh' }), averaged);
  const down = apply(tf.layers.conv1d({ name: 'down', filters: 6, kernelSize: 3, strides: 2, activation: 'relu' }), perStep); // 2 steps
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'predictions', units: 3 }), apply(tf.layers.flatten({ name: 'flatten' }), down)) });
}

/** A 1-D ConvNeXt-style block (LayerNormalization over the channels of each step, Dense per step, GELU, residual) and a global max pool head. */
function maxHead(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE, name: 'input_1' });
  const x = apply(tf.layers.conv1d({ name: 'conv', filters: 6, kernelSize: 3, activation: 'relu' }), input);
  const normed = apply(tf.layers.layerNormalization({ name: 'ln', epsilon: 1e-6 }), apply(tf.layers.conv1d({ name: 'dw', filters: 6, kernelSize: 5, padding: 'same' }), x));
  const mlp = apply(tf.layers.dense({ name: 'pw2', units: 6 }), apply(tf.layers.dense({ name: 'pw1', units: 12, activation: 'gelu' }), normed));
  const block = apply(tf.layers.add({ name: 'add' }), [x, mlp]);
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'predictions', units: 3 }), apply(tf.layers.globalMaxPooling1d({ name: 'gmp' }), block)) });
}

/** Older Keras sequence models: TimeDistributed(Dense) per step (relu, then linear), the mean over the steps. */
function timeDistributed(): tf.LayersModel {
  const input = tf.input({ shape: SHAPE, name: 'input_1' });
  const x = apply(tf.layers.conv1d({ name: 'conv', filters: 6, kernelSize: 3, activation: 'relu' }), input);
  const hidden = apply(tf.layers.timeDistributed({ name: 'td_hidden', layer: tf.layers.dense({ units: 8, activation: 'relu' }) }), x);
  const out = apply(tf.layers.timeDistributed({ name: 'td_out', layer: tf.layers.dense({ units: 5 }) }), hidden);
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'predictions', units: 3 }), apply(tf.layers.globalAveragePooling1d({ name: 'gap' }), out)) });
}

const models = [
  { name: 'sequence-cnn', build: sequenceCnn },
  { name: 'max-head', build: maxHead },
  { name: 'time-distributed', build: timeDistributed },
];

const kinds = (network: Network) => network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
const layer = (network: Network, name: string) => network.layers.find((l) => l.name === name) as DenseLayer | Conv2DLayer;

const { saved, dir: folder } = savedRandomModels(models, 'net-trim-keras-seq-', 8);

function inputs(count: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: count * SHAPE[0] * SHAPE[1] }, () => 2 * rand() - 1);
}

async function predictWritten(written: { modelJson: string; weightData: Uint8Array }, x: Float32Array): Promise<Float32Array> {
  const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
  const model = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: written.weightData.slice().buffer }));
  const out = tf.tidy(() => (model.predict(tf.tensor(x, [x.length / (SHAPE[0] * SHAPE[1]), ...SHAPE])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  return out;
}

describe('Keras 1-D networks read as height-1 convs and pools, as TF.js computes them', () => {
  it('the layers: Conv1D a 1×k conv, the SE Conv1Ds dense layers on the pooled vector, Dense per step a 1×1 conv', async () => {
    const handle = await loadTfjsModelFile(saved.get('sequence-cnn')!.path);
    expect(handle.network.inputShape).toEqual([1, 20, 4]);
    expect(kinds(handle.network)).toEqual(['conv2d', 'relu', 'maxpool2d', 'conv2d', 'globalavgpool', 'dense', 'dense', 'sigmoid', 'mul', 'add', 'avgpool2d', 'conv2d', 'tanh', 'conv2d', 'flatten', 'dense']);
    const [stem, dilated, perStep, down] = handle.network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect([stem.kernelSize, stem.padding, dilated.dilations, perStep.kernelSize, down.strides, down.padding]).toEqual([[1, 5], 'same', [1, 2], [1, 1], [1, 2], 'valid']);
    expect(handle.views).toEqual([{ layer: 'se_reshape', source: 'se_squeeze', view: 'pooled1d' }]);
    expect(handle.sampleLayout).toBe('nlc');
    const block = await loadTfjsModelFile(saved.get('max-head')!.path);
    expect(kinds(block.network)).toEqual(['conv2d', 'conv2d', 'layernorm', 'conv2d', 'gelu', 'conv2d', 'add', 'globalmaxpool', 'dense']);
  });

  for (const m of models)
    it(`${m.name}: our float64 forward pass is TF.js's prediction`, async () => {
      const { model, path } = saved.get(m.name)!;
      const handle = await loadTfjsModelFile(path);
      const x = inputs(6, 3);
      const want = tf.tidy(() => (model.predict(tf.tensor(x, [6, ...SHAPE])) as tf.Tensor).dataSync() as Float32Array);
      expect(relativeError(forwardCpu(handle.network, x, 6).output, want)).toBeLessThan(1e-5);
    });

  it('takes samples as Keras users hold them: (P, steps, channels) NLC', async () => {
    const model = await loadModelFile(saved.get('max-head')!.path);
    expect(model.imageLayout).toBe('nlc');
    const x = inputs(2, 4);
    expect([...samplesForModel({ shape: [2, ...SHAPE], dtype: 'float32', data: x }, model, 'x.npy').data]).toEqual([...x]);
    expect(() => samplesForModel({ shape: [2, 4, 20], dtype: 'float32', data: x }, model, 'x.npy')).toThrow(/expected \(P, 20, 4\) NLC to match/);
  });

  for (const m of models)
    it(`${m.name}: prunes (parallel) into a model.json TF.js loads and runs as our pruned network`, async () => {
      const handle = await loadTfjsModelFile(saved.get(m.name)!.path);
      const x = inputs(50, 11);
      const result = await pruneNetwork(handle.network, { data: x, count: 50 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
      expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
      const test = inputs(4, 99);
      expect(relativeError(await predictWritten(await writeTfjsModel(handle, result.network), test), forwardCpu(result.network, test, 4).output)).toBeLessThan(1e-5);
    }, 120_000);

  it("loses a channel through the SE view: the Conv1D kernels written [k, cin, filters] ([5, 4, 7], [3, 7, 7]…), se_reshape's target [1, 7]", async () => {
    const handle = await loadTfjsModelFile(saved.get('sequence-cnn')!.path);
    const network = structuredClone(handle.network);
    // Channel 2 of the block: the pooled stem's and the gated branch's (tied by the Add and the gate).
    // Nobody reads it once per_step, the dilated conv and the squeeze skip it.
    (layer(network, 'per_step') as Conv2DLayer).kernel.fill(0, 2 * 6, 3 * 6);
    (layer(network, 'se_reduce') as DenseLayer).kernel.fill(0, 2 * 3, 3 * 3);
    const dilated = layer(network, 'dilated') as Conv2DLayer;
    for (let tap = 0; tap < 3; tap++) dilated.kernel.fill(0, (tap * 8 + 2) * 8, (tap * 8 + 3) * 8);
    const removal = removeUnreadUnits(network);
    for (const name of ['stem', 'dilated', 'se_expand']) expect([...removal.kept.get(name)!], name).toEqual([0, 1, 3, 4, 5, 6, 7]);
    const written = await writeTfjsModel(handle, removal.network, removal.kept);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const shapes = Object.fromEntries(json.weightsManifest[0].weights.map((w) => [w.name, w.shape]));
    expect([shapes['stem/kernel'], shapes['dilated/kernel'], shapes['se_reduce/kernel'], shapes['se_expand/kernel'], shapes['per_step/kernel']]).toEqual([[5, 4, 7], [3, 7, 7], [1, 7, 3], [1, 3, 7], [7, 6]]);
    const topology = (json.modelTopology as { config: { layers: { name: string; config: { target_shape?: number[] } }[] } }).config.layers;
    expect(topology.find((l) => l.name === 'se_reshape')!.config.target_shape).toEqual([1, 7]);
    const x = inputs(5, 21);
    const want = forwardCpu(network, x, 5).output;
    expect(relativeError(forwardCpu(removal.network, x, 5).output, want)).toBeLessThan(1e-12);
    expect(relativeError(await predictWritten(written, x), want)).toBeLessThan(1e-5);
  });
});

describe('TimeDistributed(Dense): a Dense on each step', () => {
  it('reads as 1×1 convs; a hidden unit nobody reads leaves the inner Dense\'s units in the written model.json, which TF.js runs', async () => {
    const handle = await loadTfjsModelFile(saved.get('time-distributed')!.path);
    expect(kinds(handle.network)).toEqual(['conv2d', 'conv2d', 'conv2d', 'globalavgpool', 'dense']);
    expect([1, 2].map((k) => (handle.network.layers[k] as Conv2DLayer).filters)).toEqual([8, 5]);
    const network = structuredClone(handle.network);
    (layer(network, 'td_out') as Conv2DLayer).kernel.fill(0, 3 * 5, 5 * 5); // hidden units 3 and 4 unread
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('td_hidden')!]).toEqual([0, 1, 2, 5, 6, 7]);
    const written = await writeTfjsModel(handle, removal.network, removal.kept);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const inner = (json.modelTopology as { config: { layers: { name: string; config: { layer?: { config: { units: number } } } }[] } }).config.layers.find((l) => l.name === 'td_hidden')!;
    expect(inner.config.layer!.config.units).toBe(6);
    const x = inputs(5, 23);
    expect(relativeError(await predictWritten(written, x), forwardCpu(network, x, 5).output)).toBeLessThan(1e-5);
  });

  it('of anything but a Dense is refused naming the layer', async () => {
    const path = saved.get('time-distributed')!.path;
    const json = JSON.parse(await readFile(path, 'utf8'));
    json.modelTopology.config.layers.find((l: { name: string }) => l.name === 'td_hidden').config.layer.class_name = 'Conv1D';
    const weights = await readFile(join(path, '..', 'weights.bin'));
    await expect(parseTfjsModel(json, new Uint8Array(weights).buffer, 'td/model.json')).rejects.toThrow(/^td\/model.json: layer 2 \('td_hidden'\): layer: expected a Dense inside TimeDistributed \(a Dense on each step\), found "Conv1D"$/);
  });
});

describe("Conv1D padding='causal' (TCN, WaveNet)", () => {
  it('pads (k − 1)·dilation zeros before the steps: the same as a valid Conv1D on the input with those zeros prepended (TF.js cannot run causal)', async () => {
    const causal = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: SHAPE, name: 'causal', filters: 5, kernelSize: 3, dilationRate: 2, padding: 'causal' })] });
    const path = await saveLayersModel(causal, join(folder(), 'causal'));
    const handle = await loadTfjsModelFile(path);
    expect((handle.network.layers[0] as Conv2DLayer).padding).toEqual([0, 4, 0, 0]);
    const valid = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: [SHAPE[0] + 4, SHAPE[1]], filters: 5, kernelSize: 3, dilationRate: 2 })] });
    valid.setWeights(causal.getWeights());
    const x = inputs(3, 5);
    const padded = tf.tidy(() => tf.pad(tf.tensor(x, [3, ...SHAPE]), [[0, 0], [4, 0], [0, 0]]));
    const want = tf.tidy(() => (valid.predict(padded) as tf.Tensor).dataSync() as Float32Array);
    const ours = forwardCpu(handle.network, x, 3).output;
    expect(ours.length).toBe(3 * 20 * 5);
    expect(relativeError(ours, want)).toBeLessThan(1e-6);
    for (const m of [causal, valid]) m.dispose();
    padded.dispose();
  });
});

describe('Keras sequences: one-line errors', () => {
  it('a 2-D layer on a sequence, a 1-D layer on an image', async () => {
    const onSequence = tf.sequential({ layers: [tf.layers.conv1d({ inputShape: SHAPE, filters: 4, kernelSize: 3, name: 'c' }), tf.layers.globalAveragePooling1d({ name: 'g' })] });
    const path = await saveLayersModel(onSequence, join(folder(), 'bad'));
    const json = JSON.parse(await (await import('node:fs/promises')).readFile(path, 'utf8'));
    json.modelTopology.config.layers[1].class_name = 'GlobalAveragePooling2D';
    await (await import('node:fs/promises')).writeFile(path, JSON.stringify(json));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(InputError);
    await expect(loadTfjsModelFile(path)).rejects.toThrow(/layer 1 \('g'\): GlobalAveragePooling2D input: expected \[batch, height, width, channels\], found shape \[null, 18, 4\]$/);
    json.modelTopology.config.layers[1].class_name = 'GlobalAveragePooling1D';
    json.modelTopology.config.layers[0].config.kernel_size = [3, 3];
    await (await import('node:fs/promises')).writeFile(path, JSON.stringify(json));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(/layer 0 \('c'\): kernel_size: expected a positive integer or a list of one, found an array$/);
  });
});
