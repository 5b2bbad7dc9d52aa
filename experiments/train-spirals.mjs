#!/usr/bin/env node
// Trains the nested-spiral classifiers 2·H·H·2 (ReLU, dropout after each hidden layer, softmax
// output) with TF.js's CPU backend and writes them to experiments/models/spirals-H/ (TF.js Layers
// format; Dropout is an identity at inference and for Net-Trim).
//
//   node experiments/train-spirals.mjs [--sizes 50,75,100,125,175,200] [--epochs 60]
//
// Data: experiments/lib.mjs spirals() (1000 training points, 2000 test points, seeded).
//
// Dropout is standard: the Dropout layers get no `seed` (with a seed, tfjs's tf.dropout reseeds its
// generator on every call and so draws the *same* mask at every step; the first weights of this
// page were trained that way and were replaced). Without a seed, tfjs seeds each mask's generator
// from Math.random(), so every step draws a fresh mask.
//
// Deterministic: the He-normal initializers (seeded), the batch order (a seeded permutation per
// epoch) and, as a convenience, the dropout masks: while a network trains, Math.random is replaced
// by a seeded generator (mulberry32(13·H)) and restored afterwards; this changes only where tfjs
// takes its per-call mask seeds from, not how the masks are drawn. A rerun with the same tfjs
// version on the CPU backend should therefore give the same weights. Not guaranteed: other tfjs
// versions (they may draw the masks differently, or call Math.random elsewhere) and other
// backends (different float rounding); `--randomMasks` leaves Math.random alone (masks then differ
// from run to run).
import { join } from 'node:path';
import { MODELS, mulberry32, SPIRAL_TEST, SPIRAL_TRAIN, accuracyOf, args, fmtPct, loadTf, saveTfjsModel, spirals, trainEpochs, writeJson } from './lib.mjs';

const opts = args({ sizes: '50,75,100,125,175,200', epochs: 60, dropout: 0.3, batch: 100, rate: 0.01, randomMasks: false });
const tf = await loadTf();
const train = spirals(SPIRAL_TRAIN.count, SPIRAL_TRAIN.seed);
const test = spirals(SPIRAL_TEST.count, SPIRAL_TEST.seed);

function build(h, seed) {
  const init = (k) => tf.initializers.heNormal({ seed: seed + k });
  const model = tf.sequential({ name: `spirals_${h}` });
  model.add(tf.layers.dense({ name: 'dense_1', inputShape: [2], units: h, activation: 'relu', kernelInitializer: init(1) }));
  model.add(tf.layers.dropout({ name: 'dropout_1', rate: opts.dropout }));
  model.add(tf.layers.dense({ name: 'dense_2', units: h, activation: 'relu', kernelInitializer: init(2) }));
  model.add(tf.layers.dropout({ name: 'dropout_2', rate: opts.dropout }));
  model.add(tf.layers.dense({ name: 'dense_3', units: 2, activation: 'softmax', kernelInitializer: init(3) }));
  return model;
}

const accuracy = (model, set) => tf.tidy(() => accuracyOf(model.predict(tf.tensor(set.x, [set.count, 2])).dataSync(), set.labels));

for (const h of opts.sizes.split(',').map(Number)) {
  const model = build(h, 1000 * h);
  model.compile({ optimizer: tf.train.adam(opts.rate), loss: 'categoricalCrossentropy' });
  const systemRandom = Math.random;
  if (!opts.randomMasks) Math.random = mulberry32(13 * h); // the source of tfjs's per-call dropout seeds
  const secondsTaken = await trainEpochs(tf, model, train, [2], {
    epochs: opts.epochs,
    batchSize: opts.batch,
    seed: 7 * h,
    label: `2·${h}·${h}·2`,
    evaluate: () => `train ${fmtPct(accuracy(model, train), 2)}, test ${fmtPct(accuracy(model, test), 2)}`,
  });
  Math.random = systemRandom;
  const dir = join(MODELS, `spirals-${h}`);
  await saveTfjsModel(tf, model, dir);
  writeJson(join(dir, 'training.json'), {
    architecture: `2·${h}·${h}·2`,
    dropout: opts.dropout,
    dropoutMasks: opts.randomMasks ? 'standard (fresh mask per step), Math.random seeds' : `standard (fresh mask per step), seeded mulberry32(${13 * h})`,
    epochs: opts.epochs,
    batchSize: opts.batch,
    learningRate: opts.rate,
    trainPoints: train.count,
    testPoints: test.count,
    trainAccuracy: accuracy(model, train),
    testAccuracy: accuracy(model, test),
    seconds: secondsTaken,
  });
  console.log(`wrote ${dir} (${secondsTaken.toFixed(0)} s)`);
  model.dispose();
}
