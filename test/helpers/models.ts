// What the whole-model tests share: predictions of a model.json by TF.js itself, accuracy against
// labels, and a network's nonzero weights.
import * as tf from '@tensorflow/tfjs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseNpy } from '../../src/io/npy.js';
import type { Conv2DLayer, DenseLayer, Network } from '../../src/network/types.js';

/** The model.json at `modelJson` and its shards, loaded by TF.js itself. */
async function loadFromFiles(modelJson: string): Promise<tf.LayersModel> {
  const text = await readFile(modelJson, 'utf8');
  const dir = join(modelJson, '..');
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(JSON.parse(text), async (manifest) => {
        const shards = await Promise.all(manifest.flatMap((g) => g.paths.map((p) => readFile(join(dir, p)))));
        return [tf.io.getWeightSpecs(manifest), tf.io.concatenateArrayBuffers(shards.map((s) => new Uint8Array(s).buffer))];
      }),
  };
  return tf.loadLayersModel(handler);
}

/** TF.js's predictions for the first `count` samples of `inputs` (each of shape `shape`), the model read from its files. */
export async function tfjsPredict(modelJson: string, inputs: Float32Array, count: number, shape: number[]): Promise<Float32Array> {
  const size = shape.reduce((a, b) => a * b, 1);
  const [values] = await tfjsPredictAll(modelJson, [{ values: inputs.subarray(0, count * size), shape: [count, ...shape] }]);
  return values;
}

/** TF.js's outputs (each flattened, in the model's order) for a model of several inputs, given in its order with their batch shapes. */
export async function tfjsPredictAll(modelJson: string, inputs: Array<{ values: Float32Array | Int32Array; shape: number[] }>): Promise<Float32Array[]> {
  const model = await loadFromFiles(modelJson);
  const tensors = inputs.map((i) => tf.tensor(i.values, i.shape, i.values instanceof Int32Array ? 'int32' : 'float32'));
  const output = model.predict(tensors.length === 1 ? tensors[0] : tensors);
  const outputs = Array.isArray(output) ? output : [output];
  const values = await Promise.all(outputs.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose([...tensors, ...outputs]);
  model.dispose();
  return values;
}

/** The share of the first `count` rows of `outputs` (rows of `classes`) whose largest entry is the label. */
export function accuracyOf(outputs: ArrayLike<number>, labels: ArrayLike<number>, count: number, classes = 10): number {
  let correct = 0;
  for (let p = 0; p < count; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (outputs[p * classes + c] > outputs[p * classes + best]) best = c;
    if (best === Number(labels[p])) correct++;
  }
  return correct / count;
}

/** Nonzero kernel and bias values of the network's dense and conv layers. */
export function networkNonzeros(network: Network): number {
  let n = 0;
  for (const l of network.layers) if (l.kind === 'dense' || l.kind === 'conv2d') for (const v of [...l.kernel, ...(l.bias ?? [])]) if (v !== 0) n++;
  return n;
}

/** The fixtures folder and the 1000 held-out MNIST digits (1000 × 784) with their labels. */
export async function mnistFixtures(): Promise<{ fixtures: string; samplesPath: string; labelsPath: string; digits: Float32Array; labels: Int32Array }> {
  const fixtures = new URL('../fixtures/', import.meta.url).pathname;
  const samplesPath = join(fixtures, 'mnist-samples.npy');
  const labelsPath = join(fixtures, 'mnist-labels.npy');
  const digits = parseNpy(await readFile(samplesPath), samplesPath).data as Float32Array;
  const labels = parseNpy(await readFile(labelsPath), labelsPath).data as Int32Array;
  return { fixtures, samplesPath, labelsPath, digits, labels };
}

/**
 * Zeroes every weight of `layer` that reads input row `row` (dense), or input channel `row` of
 * each group (conv, every tap; a plain conv's channel `row`): the layer then reads it no more.
 */
export function zeroInput(layer: DenseLayer | Conv2DLayer, row: number): void {
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  const inputs = layer.kind === 'dense' ? layer.inputs : layer.inChannels / (layer.groups ?? 1);
  const taps = layer.kind === 'dense' ? 1 : layer.kernelSize[0] * layer.kernelSize[1];
  for (let k = 0; k < taps; k++) layer.kernel.fill(0, (k * inputs + row) * outputs, (k * inputs + row + 1) * outputs);
}
