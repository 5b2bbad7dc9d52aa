// Runs a TF.js Layers model (model.json + weight shards) with TF.js itself: an oracle for what our
// reports claim about a model file, independent of our own forward passes.
import * as tf from '@tensorflow/tfjs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, expect } from 'vitest';
import { mulberry32 } from './random.js';

let ready: Promise<void> | null = null;

/** The class TF.js predicts for samples [from, to) of `inputs` (flattened, `perSample` values each). */
export async function tfjsPredictedLabels(modelJson: string, inputs: Float32Array, perSample: number, from: number, to: number): Promise<Int32Array> {
  ready ??= (async () => {
    tf.env().set('IS_TEST', true); // no Node.js banner
    await tf.setBackend('cpu');
  })();
  await ready;
  const model = await tfjsLoadFile(modelJson);
  const input = tf.tensor(inputs.subarray(from * perSample, to * perSample), [to - from, perSample]);
  const output = model.predict(input) as tf.Tensor;
  const predicted = output.argMax(1);
  const values = Int32Array.from(await predicted.data());
  tf.dispose([input, output, predicted]);
  model.dispose();
  return values;
}

export function shareCorrect(predicted: Int32Array, labels: ArrayLike<number>): number {
  let correct = 0;
  for (let i = 0; i < predicted.length; i++) if (predicted[i] === labels[i]) correct++;
  return correct / predicted.length;
}

/** Nonzero float32 values of a weights.bin (TF.js shards hold every kernel and bias, nothing else). */
export async function nonzerosInShard(path: string): Promise<number> {
  const bytes = await readFile(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4).reduce((n, v) => n + (v !== 0 ? 1 : 0), 0);
}

/** Saves a tfjs model into `folder` (model.json + weights.bin) through a custom save handler; returns model.json's path. */
export async function saveLayersModel(model: tf.LayersModel, folder: string): Promise<string> {
  await mkdir(folder, { recursive: true });
  await model.save(
    tf.io.withSaveHandler(async (artifacts) => {
      const json = { modelTopology: artifacts.modelTopology, format: artifacts.format, generatedBy: artifacts.generatedBy, weightsManifest: [{ paths: ['weights.bin'], weights: artifacts.weightSpecs }] };
      await writeFile(join(folder, 'weights.bin'), new Uint8Array(tf.io.concatenateArrayBuffers(artifacts.weightData as ArrayBuffer)));
      await writeFile(join(folder, 'model.json'), JSON.stringify(json));
      return { modelArtifactsInfo: tf.io.getModelArtifactsInfoForJSON(artifacts) };
    }),
  );
  return join(folder, 'model.json');
}

/**
 * Seeded random weights, not trained ones: biases and BatchNorm statistics in [0.5, 1.5) (a
 * positive variance), kernels in ±0.6 (the initial statistics would make each BatchNormalization
 * the identity).
 */
export function randomizeWeights(model: tf.LayersModel, seed: number): void {
  const rand = mulberry32(seed);
  model.setWeights(model.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, () => (w.shape.length === 1 ? 0.5 + rand() : 2 * rand() - 1) * (w.shape.length > 1 ? 0.6 : 1)), w.shape)));
}

/**
 * A test file's models with seeded random weights, saved on TF.js's CPU backend: registers the
 * beforeAll that builds and saves each one (under a temporary folder, `saved` by name; `after`
 * may edit the files) and the afterAll that disposes of them and removes the folder.
 */
export function savedRandomModels(
  models: readonly { name: string; build: () => tf.LayersModel }[],
  prefix: string,
  seed: number,
  after?: (name: string, path: string) => Promise<void>,
): { saved: Map<string, { model: tf.LayersModel; path: string }>; dir: () => string } {
  const saved = new Map<string, { model: tf.LayersModel; path: string }>();
  let dir = '';
  beforeAll(async () => {
    tf.env().set('IS_TEST', true);
    await tf.setBackend('cpu');
    dir = await mkdtemp(join(tmpdir(), prefix));
    for (const m of models) {
      const model = m.build();
      randomizeWeights(model, seed);
      const path = await saveLayersModel(model, join(dir, m.name));
      await after?.(m.name, path);
      saved.set(m.name, { model, path });
    }
  });
  afterAll(async () => {
    for (const { model } of saved.values()) model.dispose();
    await rm(dir, { recursive: true, force: true });
  });
  return { saved, dir: () => dir };
}

// TF.js as the oracle: models loaded by tf.loadLayersModel from model.json text and shard bytes,
// the way TF.js's own loaders resolve a manifest.

type ShardReader = (path: string) => Uint8Array;

async function tfjsLoad(modelJsonText: string, readShard: ShardReader): Promise<tf.LayersModel> {
  const json = JSON.parse(modelJsonText) as tf.io.ModelJSON;
  const handler: tf.io.IOHandler = {
    load: () =>
      tf.io.getModelArtifactsForJSON(json, async (manifest) => {
        const shards = manifest.flatMap((group) => group.paths.map((p) => readShard(p)));
        const bytes = tf.io.concatenateArrayBuffers(shards.map((s) => s.slice().buffer));
        return [tf.io.getWeightSpecs(manifest), bytes];
      }),
  };
  return tf.loadLayersModel(handler, { strict: true });
}

export async function tfjsLoadFile(modelJsonPath: string): Promise<tf.LayersModel> {
  const folder = dirname(modelJsonPath);
  const shards = new Map<string, Uint8Array>();
  const json = await readFile(modelJsonPath, 'utf8');
  for (const group of (JSON.parse(json) as tf.io.ModelJSON).weightsManifest)
    for (const p of group.paths) shards.set(p, new Uint8Array(await readFile(join(folder, p))));
  return tfjsLoad(json, (p) => shards.get(p)!);
}

export async function tfjsLoadWritten(written: { modelJson: string; weightData: Uint8Array }): Promise<tf.LayersModel> {
  return tfjsLoad(written.modelJson, (p) => {
    expect(p).toBe('weights.bin');
    return written.weightData;
  });
}

export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i] - b[i]));
  return max;
}
