// How keras.applications builds its models, as TF.js saves them: EfficientNet's squeeze-and-
// excitation (GlobalAveragePooling2D → Reshape((1, 1, C)) → 1×1 Conv2D swish → 1×1 Conv2D sigmoid
// → Multiply) after a Rescaling of the input, and MobileNet's head (GlobalAveragePooling2D →
// Reshape((1, 1, C)) → Dropout → 1×1 Conv2D → Reshape((classes,)) → softmax). TF.js is the oracle:
// each reads to what it predicts, prunes into a model.json it loads, and loses channels through
// the views with their Reshape's target_shape following.
import * as tf from '@tensorflow/tfjs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { tfjsImportNotes, writeTfjsModel, type TfjsModelHandle } from '../src/io/tfjsModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { zeroInput } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { mulberry32 } from './helpers/random.js';
import { savedRandomModels, saveLayersModel } from './helpers/tfjsModel.js';
import { storedCopy, toGrid } from './helpers/tfjsStored.js';

type Sym = tf.SymbolicTensor;
const apply = (layer: tf.layers.Layer, input: Sym | Sym[]) => layer.apply(input) as Sym;

/** MBConv as keras.applications.efficientnet writes it (expansion, depthwise, SE with Reshape + 1×1 Conv2D, projection, residual), after a Rescaling. */
function efficientNetStyle(): tf.LayersModel {
  const input = tf.input({ shape: [8, 8, 3], name: 'input_1' });
  // keras.applications.efficientnet: 1/255, a Normalization (a BatchNormalization here, renamed in the file: TF.js has no Normalization), 1/std per channel.
  const bn = (name: string, x: Sym) => apply(tf.layers.batchNormalization({ name, gammaInitializer: 'randomUniform', movingVarianceInitializer: 'ones' }), x);
  const normalized = apply(tf.layers.batchNormalization({ name: 'normalization', center: false, scale: false, epsilon: 1e-12 }), apply(tf.layers.rescaling({ name: 'rescaling', scale: 1 / 255 }), input));
  const scaled = apply(tf.layers.rescaling({ name: 'rescaling_1', scale: [1 / 0.229, 1 / 0.224, 1 / 0.225] as unknown as number }), normalized);
  const stem = apply(tf.layers.activation({ name: 'stem_activation', activation: 'swish' }), bn('stem_bn', apply(tf.layers.conv2d({ name: 'stem_conv', filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false }), scaled)));
  const expand = apply(tf.layers.activation({ name: 'expand_activation', activation: 'swish' }), bn('expand_bn', apply(tf.layers.conv2d({ name: 'expand_conv', filters: 12, kernelSize: 1, useBias: false }), stem)));
  const dw = apply(tf.layers.activation({ name: 'activation', activation: 'swish' }), bn('bn', apply(tf.layers.depthwiseConv2d({ name: 'dwconv', kernelSize: 3, padding: 'same', useBias: false }), expand)));
  const squeezed = apply(tf.layers.reshape({ name: 'se_reshape', targetShape: [1, 1, 12] }), apply(tf.layers.globalAveragePooling2d({ name: 'se_squeeze' }), dw));
  const reduced = apply(tf.layers.conv2d({ name: 'se_reduce', filters: 3, kernelSize: 1, padding: 'same', activation: 'swish' }), squeezed);
  const gate = apply(tf.layers.conv2d({ name: 'se_expand', filters: 12, kernelSize: 1, padding: 'same', activation: 'sigmoid' }), reduced);
  const excited = apply(tf.layers.multiply({ name: 'se_excite' }), [dw, gate]);
  const projected = apply(tf.layers.dropout({ name: 'drop', rate: 0.2 }), bn('project_bn', apply(tf.layers.conv2d({ name: 'project_conv', filters: 8, kernelSize: 1, useBias: false }), excited)));
  const sum = apply(tf.layers.add({ name: 'add' }), [projected, stem]);
  const top = apply(tf.layers.activation({ name: 'top_activation', activation: 'swish' }), apply(tf.layers.conv2d({ name: 'top_conv', filters: 10, kernelSize: 1 }), sum));
  const logits = apply(tf.layers.dense({ name: 'predictions', units: 3 }), apply(tf.layers.dropout({ name: 'top_dropout', rate: 0.2 }), apply(tf.layers.globalAveragePooling2d({ name: 'avg_pool' }), top)));
  return tf.model({ inputs: input, outputs: apply(tf.layers.softmax({ name: 'probabilities' }), logits) });
}

/** keras.applications.mobilenet's stem, one depthwise-separable block and its head (the classifier a 1×1 Conv2D on [1, 1, C]). */
function mobileNetStyle(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'input_1' });
  const bn = (name: string, x: Sym) => apply(tf.layers.batchNormalization({ name, gammaInitializer: 'randomUniform', movingVarianceInitializer: 'ones' }), x);
  const relu6 = (name: string, x: Sym) => apply(tf.layers.reLU({ name, maxValue: 6 }), x);
  const padded = apply(tf.layers.zeroPadding2d({ name: 'conv1_pad', padding: [[0, 1], [0, 1]] }), input);
  const stem = relu6('conv1_relu', bn('conv1_bn', apply(tf.layers.conv2d({ name: 'conv1', filters: 8, kernelSize: 3, strides: 2, useBias: false }), padded)));
  const dw = relu6('conv_dw_1_relu', bn('conv_dw_1_bn', apply(tf.layers.depthwiseConv2d({ name: 'conv_dw_1', kernelSize: 3, padding: 'same', useBias: false }), stem)));
  const pw = relu6('conv_pw_1_relu', bn('conv_pw_1_bn', apply(tf.layers.conv2d({ name: 'conv_pw_1', filters: 16, kernelSize: 1, useBias: false }), dw)));
  const pooled = apply(tf.layers.reshape({ name: 'reshape_1', targetShape: [1, 1, 16] }), apply(tf.layers.globalAveragePooling2d({ name: 'global_average_pooling2d' }), pw));
  const preds = apply(tf.layers.conv2d({ name: 'conv_preds', filters: 4, kernelSize: 1, padding: 'same' }), apply(tf.layers.dropout({ name: 'dropout', rate: 1e-3 }), pooled));
  const flat = apply(tf.layers.reshape({ name: 'reshape_2', targetShape: [4] }), preds);
  return tf.model({ inputs: input, outputs: apply(tf.layers.activation({ name: 'predictions', activation: 'softmax' }), flat) });
}

/** A ConvNeXt-style block as Keras writes it: LayerNormalization over channels, Dense on the image (per position), GELU, residual. */
function convNeXtStyle(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 3], name: 'input_1' });
  const ln = (name: string, x: Sym) => apply(tf.layers.layerNormalization({ name, epsilon: 1e-6, gammaInitializer: 'randomUniform', betaInitializer: 'randomUniform' }), x);
  const stem = ln('stem_ln', apply(tf.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 2, strides: 2 }), input));
  const hidden = apply(tf.layers.dense({ name: 'pwconv1', units: 32, activation: 'gelu' }), ln('block_ln', apply(tf.layers.depthwiseConv2d({ name: 'dwconv', kernelSize: 3, padding: 'same' }), stem)));
  const sum = apply(tf.layers.add({ name: 'add' }), [stem, apply(tf.layers.dense({ name: 'pwconv2', units: 8 }), hidden)]);
  const head = ln('head_ln', apply(tf.layers.globalAveragePooling2d({ name: 'pool' }), sum));
  return tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'predictions', units: 3 }), head) });
}

const models = [
  { name: 'efficientnet', build: efficientNetStyle, shape: [8, 8, 3], scale: 255 },
  { name: 'mobilenet', build: mobileNetStyle, shape: [6, 6, 3], scale: 1 },
  { name: 'convnext', build: convNeXtStyle, shape: [6, 6, 3], scale: 1 },
];

const kinds = (network: Network) => network.layers.map((l) => (l.kind === 'activation' ? l.fn : l.kind));
const layer = (network: Network, name: string) => network.layers.find((l) => l.name === name) as DenseLayer | Conv2DLayer;

const { saved, dir: folder } = savedRandomModels(models, 'net-trim-keras-apps-', 5, async (name, path) => {
  if (name === 'efficientnet') await asNormalization(path, 'normalization');
});

/**
 * Makes BatchNormalization `name` (center and scale off) the Keras Normalization it computes: the
 * class, its config, and its weights as Keras names them (mean, variance, and an int32 count).
 */
async function asNormalization(path: string, name: string): Promise<void> {
  const json = JSON.parse(await readFile(path, 'utf8'));
  const entry = json.modelTopology.config.layers.find((l: { name: string }) => l.name === name);
  entry.class_name = 'Normalization';
  entry.config = { name, trainable: true, dtype: 'float32', axis: -1, invert: false, mean: null, variance: null };
  const specs = json.weightsManifest[0].weights as { name: string; shape: number[]; dtype: string }[];
  for (const spec of specs) spec.name = spec.name.replace(`${name}/moving_mean`, `${name}/mean`).replace(`${name}/moving_variance`, `${name}/variance`);
  specs.push({ name: `${name}/count`, shape: [], dtype: 'int32' });
  await writeFile(path, JSON.stringify(json));
  const bin = join(path, '..', 'weights.bin');
  await writeFile(bin, Buffer.concat([await readFile(bin), Buffer.from(new Int32Array([5000]).buffer)]));
}

/** The reverse, for TF.js to run a written model (the count left unread). */
function asBatchNorm(modelJson: tf.io.ModelJSON, name: string): void {
  const entry = (modelJson.modelTopology as { config: { layers: { name: string; class_name: string; config: object }[] } }).config.layers.find((l) => l.name === name)!;
  entry.class_name = 'BatchNormalization';
  entry.config = { name, axis: -1, center: false, scale: false, epsilon: 1e-12 };
  for (const spec of modelJson.weightsManifest[0].weights) spec.name = spec.name.replace(`${name}/mean`, `${name}/moving_mean`).replace(`${name}/variance`, `${name}/moving_variance`);
}

function inputs(shape: number[], count: number, scale: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: count * shape.reduce((a, b) => a * b, 1) }, () => scale * rand());
}

async function predictWritten(written: { modelJson: string; weightData: Uint8Array }, x: Float32Array, shape: number[]): Promise<Float32Array> {
  const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
  const normalization = json.weightsManifest[0].weights.some((w) => w.name === 'normalization/count');
  if (normalization) asBatchNorm(json, 'normalization');
  const artifacts = { modelTopology: json.modelTopology, weightSpecs: json.weightsManifest[0].weights, weightData: written.weightData.slice().buffer };
  const model = await tf.loadLayersModel(tf.io.fromMemory(artifacts), { strict: !normalization });
  const out = tf.tidy(() => (model.predict(tf.tensor(x, [x.length / shape.reduce((a, b) => a * b, 1), ...shape])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  return out;
}

const targetShape = (written: { modelJson: string }, name: string) =>
  ((JSON.parse(written.modelJson).modelTopology.config.layers as { name: string; config: { target_shape: number[] } }[]).find((l) => l.name === name)!.config.target_shape);

describe('keras.applications idioms: Rescaling, Reshape((1, 1, C)) + 1×1 Conv2D, Softmax read as TF.js computes them', () => {
  it('reads EfficientNet\'s MBConv: the Rescalings and the Normalization affine layers, the SE convs dense layers on the pooled vector, the Multiply a gate', async () => {
    const handle = await loadTfjsModelFile(saved.get('efficientnet')!.path);
    expect(kinds(handle.network)).toEqual(['batchnorm', 'batchnorm', 'batchnorm', 'conv2d', 'silu', 'conv2d', 'silu', 'conv2d', 'silu', 'globalavgpool', 'dense', 'silu', 'dense', 'sigmoid', 'mul', 'conv2d', 'add', 'conv2d', 'silu', 'globalavgpool', 'dense', 'softmax']);
    const reduce = layer(handle.network, 'se_reduce');
    expect([reduce.kind, (reduce as DenseLayer).inputs, (reduce as DenseLayer).units]).toEqual(['dense', 12, 3]);
    expect(handle.views).toEqual([{ layer: 'se_reshape', source: 'se_squeeze', view: 'pooled' }]);
    expect(tfjsImportNotes(handle).filter((n) => n.startsWith('Normalization'))).toEqual([
      "Normalization 'normalization' is read by net-trim as a per-channel affine layer (TF.js has no Normalization layer); the written model keeps it as it was",
    ]);
  });

  it('reads MobileNet\'s head: the classifier a dense layer, the Reshape to (classes,) nothing', async () => {
    const handle = await loadTfjsModelFile(saved.get('mobilenet')!.path);
    expect(kinds(handle.network)).toEqual(['conv2d', 'clip', 'conv2d', 'clip', 'conv2d', 'clip', 'globalavgpool', 'dense', 'softmax']);
    expect(handle.views.map((v) => v.view)).toEqual(['pooled', 'flatten']);
  });

  it('writes the Normalization back as read: its class, config and weights (mean, variance, an int32 count)', async () => {
    const handle = await loadTfjsModelFile(saved.get('efficientnet')!.path);
    const written = await writeTfjsModel(handle, handle.network);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const entry = (json.modelTopology as { config: { layers: { name: string; class_name: string; config: { mean: unknown } }[] } }).config.layers.find((l) => l.name === 'normalization')!;
    expect([entry.class_name, entry.config.mean]).toEqual(['Normalization', null]);
    const tensors = tf.io.decodeWeights(written.weightData.slice().buffer, json.weightsManifest[0].weights);
    const original = saved.get('efficientnet')!.model.getLayer('normalization').getWeights();
    expect([...tensors['normalization/mean'].dataSync()]).toEqual([...original[0].dataSync()]);
    expect([...tensors['normalization/variance'].dataSync()]).toEqual([...original[1].dataSync()]);
    expect([tensors['normalization/count'].dtype, tensors['normalization/count'].shape, tensors['normalization/count'].dataSync()[0]]).toEqual(['int32', [], 5000]);
    tf.dispose(Object.values(tensors));
  });

  it('a Normalization quantized with the rest (--quantize_uint8): read as TF.js decodes it, written back as read', async () => {
    const path = await storedCopy(folder(), 'efficientnet', folder(), 'efficientnet-uint8', toGrid('uint8', () => true));
    const handle = await loadTfjsModelFile(path);
    const json = JSON.parse(await readFile(path, 'utf8')) as tf.io.ModelJSON;
    const bin = await readFile(join(folder(), 'efficientnet-uint8', 'weights.bin'));
    const decoded = tf.io.decodeWeights(bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.length), json.weightsManifest[0].weights);
    const read = handle.weights.find((w) => w.name === 'normalization/mean')!;
    expect(json.weightsManifest[0].weights.find((w) => w.name === 'normalization/mean')!.quantization?.dtype).toBe('uint8');
    expect(Array.from(read.values!)).toEqual(Array.from(decoded['normalization/mean'].dataSync()));
    const written = await writeTfjsModel(handle, handle.network);
    const specs = (JSON.parse(written.modelJson) as tf.io.ModelJSON).weightsManifest[0].weights;
    expect(specs.map((w) => [w.name, w.quantization?.dtype ?? w.dtype]).filter(([, type]) => type !== 'uint8')).toEqual([['normalization/count', 'int32']]);
    const again = tf.io.decodeWeights(written.weightData.slice().buffer, specs);
    // The layers no BatchNormalization was folded into (those hold the fold's products, rounded to new grids).
    const unfolded = ['normalization/mean', 'normalization/variance', 'normalization/count', 'se_reduce/kernel', 'se_expand/bias', 'top_conv/kernel', 'predictions/kernel', 'predictions/bias'];
    for (const name of unfolded) expect(Array.from(again[name].dataSync()), name).toEqual(Array.from(decoded[name].dataSync()));
    tf.dispose([...Object.values(decoded), ...Object.values(again)]);
  });

  for (const m of models)
    it(`${m.name}: our float64 forward pass is TF.js's prediction`, async () => {
      const { model, path } = saved.get(m.name)!;
      const handle = await loadTfjsModelFile(path);
      const x = inputs(m.shape, 6, m.scale, 3);
      const want = tf.tidy(() => (model.predict(tf.tensor(x, [6, ...m.shape])) as tf.Tensor).dataSync() as Float32Array);
      expect(relativeError(forwardCpu(handle.network, x, 6).output, want)).toBeLessThan(1e-5);
    });

  for (const m of models)
    it(`${m.name}: prunes (parallel) into a model.json TF.js loads and runs as our pruned network`, async () => {
      const handle = await loadTfjsModelFile(saved.get(m.name)!.path);
      const x = inputs(m.shape, 50, m.scale, 11);
      const result = await pruneNetwork(handle.network, { data: x, count: 50 }, { mode: 'parallel', backend: 'cpu', epsilonGain: 0.05, solver: { maxIterations: 3000 } });
      expect(result.nonzerosAfter).toBeLessThan(result.nonzerosBefore);
      const test = inputs(m.shape, 4, m.scale, 99);
      expect(relativeError(await predictWritten(await writeTfjsModel(handle, result.network), test, m.shape), forwardCpu(result.network, test, 4).output)).toBeLessThan(1e-5);
    }, 120_000);
});

async function removeAndWrite(handle: TfjsModelHandle, network: Network, m: (typeof models)[number]) {
  const removal = removeUnreadUnits(network);
  const written = await writeTfjsModel(handle, removal.network, removal.kept);
  const x = inputs(m.shape, 5, m.scale, 21);
  const want = forwardCpu(network, x, 5).output;
  expect(relativeError(forwardCpu(removal.network, x, 5).output, want)).toBeLessThan(1e-12);
  expect(relativeError(await predictWritten(written, x, m.shape), want)).toBeLessThan(1e-5);
  return { removal, written };
}

describe('channels removed through a Reshape view: the target_shape follows, TF.js loads the smaller model', () => {
  it('EfficientNet: a gated channel goes with its expansion filter, depthwise filter and excitation unit; se_reshape becomes [1, 1, 11]', async () => {
    const m = models[0];
    const handle = await loadTfjsModelFile(saved.get(m.name)!.path);
    const network = structuredClone(handle.network);
    zeroInput(layer(network, 'project_conv'), 5);
    // The squeeze still reads channel 5 of the pool: nothing can go yet.
    expect(removeUnreadUnits(network).kept.size).toBe(0);
    zeroInput(layer(network, 'se_reduce'), 5);
    const { removal, written } = await removeAndWrite(handle, network, m);
    for (const name of ['expand_conv', 'dwconv', 'se_expand']) expect([...removal.kept.get(name)!]).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]);
    expect(targetShape(written, 'se_reshape')).toEqual([1, 1, 11]);
    expect((layer(removal.network, 'se_reduce') as DenseLayer).inputs).toBe(11);
  });

  it('MobileNet: a pooled channel the classifier does not read goes with its pointwise filter; reshape_1 becomes [1, 1, 15], reshape_2 stays [4]', async () => {
    const m = models[1];
    const handle = await loadTfjsModelFile(saved.get(m.name)!.path);
    const network = structuredClone(handle.network);
    zeroInput(layer(network, 'conv_preds'), 9);
    const { removal, written } = await removeAndWrite(handle, network, m);
    expect([...removal.kept.get('conv_pw_1')!]).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15]);
    expect(targetShape(written, 'reshape_1')).toEqual([1, 1, 15]);
    expect(targetShape(written, 'reshape_2')).toEqual([4]);
    expect(JSON.parse(written.modelJson).modelTopology.config.layers.find((l: { name: string }) => l.name === 'conv_preds').config.filters).toBe(4);
  });
});

describe('Keras LayerNormalization and Dense on an image (ConvNeXt style)', () => {
  it('reads as layer norms and 1×1 convs; a hidden unit of the MLP goes from both Dense kernels, the normalized channels stay', async () => {
    const m = models[2];
    const handle = await loadTfjsModelFile(saved.get(m.name)!.path);
    expect(kinds(handle.network)).toEqual(['conv2d', 'layernorm', 'conv2d', 'layernorm', 'conv2d', 'gelu', 'conv2d', 'add', 'globalavgpool', 'layernorm', 'dense']);
    const network = structuredClone(handle.network);
    zeroInput(layer(network, 'pwconv2'), 5);
    const { removal, written } = await removeAndWrite(handle, network, m);
    expect([...removal.kept.get('pwconv1')!]).toHaveLength(31);
    expect(removal.kept.has('stem') || removal.kept.has('dwconv')).toBe(false);
    const json = JSON.parse(written.modelJson) as tf.io.ModelJSON;
    const units = (json.modelTopology as { config: { layers: { name: string; config: { units?: number } }[] } }).config.layers.find((l) => l.name === 'pwconv1')!.config.units;
    expect([units, json.weightsManifest[0].weights.find((w) => w.name === 'pwconv2/kernel')!.shape]).toEqual([31, [31, 8]]);
  });
});

describe("keras.applications' pooling='max': GlobalMaxPooling2D", () => {
  it('reads as a global max pool TF.js computes; a channel the head does not read goes with its filter', async () => {
    const input = tf.input({ shape: [5, 5, 2], name: 'in' });
    const features = apply(tf.layers.conv2d({ name: 'conv', filters: 6, kernelSize: 3, activation: 'relu' }), input);
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 3 }), apply(tf.layers.globalMaxPooling2d({ name: 'pool' }), features)) });
    const m = { name: 'max-pooled', build: () => model, shape: [5, 5, 2], scale: 1 };
    const handle = await loadTfjsModelFile(await saveLayersModel(model, join(folder(), 'max-pooled')));
    expect(kinds(handle.network)).toEqual(['conv2d', 'globalmaxpool', 'dense']);
    const network = structuredClone(handle.network);
    zeroInput(layer(network, 'out'), 4);
    const { removal } = await removeAndWrite(handle, network, m);
    expect([...removal.kept.get('conv')!]).toEqual([0, 1, 2, 3, 5]);
    model.dispose();
  });
});

describe('a per-channel Rescaling between two convs loses the removed channels\' values', () => {
  it('scale and offset lists keep the kept channels; TF.js loads the smaller model', async () => {
    const input = tf.input({ shape: [4, 4, 2], name: 'in' });
    const first = apply(tf.layers.conv2d({ name: 'first', filters: 6, kernelSize: 3, padding: 'same' }), input);
    const scaled = apply(tf.layers.rescaling({ name: 'scaled', scale: [1, 2, 3, 4, 5, 6] as unknown as number, offset: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6] as unknown as number }), first);
    const second = apply(tf.layers.conv2d({ name: 'second', filters: 3, kernelSize: 1 }), scaled);
    const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 2 }), apply(tf.layers.flatten({ name: 'flat' }), second)) });
    const m = { name: 'rescaled', build: () => model, shape: [4, 4, 2], scale: 1 };
    const handle = await loadTfjsModelFile(await saveLayersModel(model, join(folder(), 'rescaled')));
    const network = structuredClone(handle.network);
    zeroInput(layer(network, 'second'), 2);
    const { removal, written } = await removeAndWrite(handle, network, m);
    expect([...removal.kept.get('first')!]).toEqual([0, 1, 3, 4, 5]);
    const config = JSON.parse(written.modelJson).modelTopology.config.layers.find((l: { name: string }) => l.name === 'scaled').config;
    expect([config.scale, config.offset]).toEqual([[1, 2, 4, 5, 6], [0.1, 0.2, 0.4, 0.5, 0.6]]);
    model.dispose();
  });
});

/**
 * A Normalization whose statistics are in its config (keras.applications.efficientnet_v2 writes
 * ImageNet's), read; and TF.js's prediction of the BatchNormalization it computes.
 */
async function configNormalization(mean: unknown, variance: unknown): Promise<{ handle: TfjsModelHandle; want: Float32Array; x: Float32Array }> {
  const input = tf.input({ shape: [2, 2, 3], name: 'in' });
  const normalized = apply(tf.layers.batchNormalization({ name: 'normalization', center: false, scale: false, epsilon: 1e-12 }), input);
  const model = tf.model({ inputs: input, outputs: apply(tf.layers.dense({ name: 'out', units: 2 }), apply(tf.layers.flatten({ name: 'flat' }), normalized)) });
  if (Array.isArray(mean) && Array.isArray(variance) && mean.length === 3 && variance.every((v) => v >= 0))
    model.getLayer('normalization').setWeights([tf.tensor(mean as number[]), tf.tensor(variance as number[])]);
  const path = await saveLayersModel(model, join(folder(), 'config-normalization'));
  const json = JSON.parse(await readFile(path, 'utf8'));
  json.modelTopology.config.layers[1].class_name = 'Normalization';
  json.modelTopology.config.layers[1].config = { name: 'normalization', axis: -1, mean, variance };
  // The config has the statistics now: their weights (float32, like all here) leave the manifest and the shard.
  const bin = join(path, '..', 'weights.bin');
  const bytes = await readFile(bin);
  const specs = json.weightsManifest[0].weights as { name: string; shape: number[] }[];
  const parts: Buffer[] = [];
  let at = 0;
  for (const spec of specs) {
    const size = 4 * spec.shape.reduce((a, b) => a * b, 1);
    if (!spec.name.startsWith('normalization/')) parts.push(bytes.subarray(at, at + size));
    at += size;
  }
  json.weightsManifest[0].weights = specs.filter((spec) => !spec.name.startsWith('normalization/'));
  await writeFile(path, JSON.stringify(json));
  await writeFile(bin, Buffer.concat(parts));
  const x = inputs([2, 2, 3], 3, 4, 8);
  const want = tf.tidy(() => (model.predict(tf.tensor(x, [3, 2, 2, 3])) as tf.Tensor).dataSync() as Float32Array);
  model.dispose();
  return { handle: await loadTfjsModelFile(path), want, x };
}

describe('a Normalization with its statistics in the config (EfficientNetV2)', () => {
  it('reads as the affine map TF.js\'s BatchNormalization of those statistics computes', async () => {
    const { handle, want, x } = await configNormalization([0.485, 0.456, 0.406], [0.229 ** 2, 0.224 ** 2, 0.225 ** 2]);
    expect(handle.network.layers.map((l) => l.kind)).toEqual(['batchnorm', 'flatten', 'dense']);
    expect(relativeError(forwardCpu(handle.network, x, 3).output, want)).toBeLessThan(1e-5);
  });
});

describe('what a Network cannot express is refused naming the layer and the field', () => {
  async function errorOf(edit: (layers: { name: string; class_name: string; config: Record<string, unknown> }[]) => void): Promise<string> {
    const path = saved.get('efficientnet')!.path;
    const json = JSON.parse(await readFile(path, 'utf8'));
    edit(json.modelTopology.config.layers);
    const copy = join(folder(), 'edited');
    await rm(copy, { recursive: true, force: true });
    await saveCopy(copy, json, path);
    try {
      await loadTfjsModelFile(join(copy, 'model.json'));
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as Error).message;
    }
    return 'no error';
  }
  async function saveCopy(folder: string, json: unknown, from: string) {
    await import('node:fs/promises').then((fs) => fs.mkdir(folder, { recursive: true }));
    await writeFile(join(folder, 'model.json'), JSON.stringify(json));
    await writeFile(join(folder, 'weights.bin'), await readFile(join(from, '..', 'weights.bin')));
  }
  const named = (layers: { name: string; config: Record<string, unknown> }[], name: string) => layers.find((l) => l.name === name)!.config;

  it('a Reshape that is not a view (a vector to [3, 4])', async () => {
    expect(await errorOf((l) => void (named(l, 'se_reshape').target_shape = [3, 4]))).toMatch(/layer \d+ \('se_reshape'\): target_shape: expected \[1, 1, C\] or \[1, C\] of a vector of C values, or \[N\].*found \[3,4\]/);
  });
  it('a Reshape whose sizes do not add up', async () => {
    expect(await errorOf((l) => void (named(l, 'se_reshape').target_shape = [1, 1, 13]))).toMatch(/'se_reshape'\): target_shape: expected .* for an input of shape \[null, 12\], found \[1,1,13\]/);
  });
  it('a Rescaling by a list that is not one value per channel', async () => {
    expect(await errorOf((l) => void (named(l, 'rescaling').scale = [1, 2]))).toMatch(/'rescaling'\): scale: expected one finite number or 3 \(one per channel\), found an array/);
  });
  it('a Softmax over another axis', async () => {
    expect(await errorOf((l) => void (named(l, 'probabilities').axis = 0))).toMatch(/'probabilities'\): axis: expected -1 \(the last axis\), found 0/);
  });
  it('a Normalization that inverts, or over another axis', async () => {
    expect(await errorOf((l) => void (named(l, 'normalization').invert = true))).toMatch(/'normalization'\): invert: expected false, found true/);
    expect(await errorOf((l) => void (named(l, 'normalization').axis = 1))).toMatch(/'normalization'\): axis: expected -1 \(the channel axis\), found 1/);
  });
  it('a Normalization with a negative variance, or statistics in the config that are not one per channel', async () => {
    const error = (mean: unknown, variance: unknown) => configNormalization(mean, variance).then(() => 'no error', (e: Error) => (expect(e).toBeInstanceOf(InputError), e.message));
    expect(await error([0, 0, 0], [1, -1, 1])).toMatch(/layer 1 \('normalization'\): variance\[1\]: expected a finite value ≥ 0, found -1/);
    expect(await error([0, 0], 1)).toMatch(/layer 1 \('normalization'\): mean: expected one finite number or 3 \(one per channel\), found an array/);
  });
  for (const kind of ['conv2d', 'depthwiseConv2d'] as const)
    it(`a 3×3 ${kind === 'conv2d' ? 'Conv2D' : 'DepthwiseConv2D'} on the pooled vector`, async () => {
      const input = tf.input({ shape: [4, 4, 6] });
      const pooled = apply(tf.layers.reshape({ name: 'view', targetShape: [1, 1, 6] }), apply(tf.layers.globalAveragePooling2d({ name: 'pool' }), input));
      const conv = apply(kind === 'conv2d' ? tf.layers.conv2d({ name: 'wide', filters: 6, kernelSize: 3, padding: 'same' }) : tf.layers.depthwiseConv2d({ name: 'wide', kernelSize: 3, padding: 'same' }), pooled);
      const out = apply(tf.layers.multiply({ name: 'gate' }), [input, conv]);
      const path = await saveLayersModel(tf.model({ inputs: input, outputs: out }), join(folder(), `wide-${kind}`));
      const error = await loadTfjsModelFile(path).then(() => null, (e: Error) => e);
      expect(error).toBeInstanceOf(InputError);
      expect(error!.message).toMatch(
        kind === 'conv2d'
          ? /layer \d+ \('wide'\): Conv2D of kernel 3×3 on a tensor viewed as \[1, 1, C\]: expected a 1×1 Conv2D/
          : /layer \d+ \('wide'\): DepthwiseConv2D reads the vector 'view' viewed as \[1, 1, C\] or \[1, C\]: expected an image/,
      );
    });
});
