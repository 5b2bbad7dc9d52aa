// Writes test/fixtures/keras/: models built the way Keras users build them, with
// @tensorflow/tfjs-layers (pure-JS CPU backend), trained on the fixtures' MNIST split
// (mnist-split.mjs) and saved in TF.js's Layers format:
//   functional/  a functional model with branches: Conv2D → BatchNormalization → ReLU(max_value 6),
//                DepthwiseConv2D → BatchNormalization → ReLU, a 1×1 Conv2D, Add (residual),
//                Concatenate, AveragePooling2D, Conv2D, GlobalAveragePooling2D, Dense softmax;
//   activations/ a Sequential MLP with tanh and sigmoid hidden layers;
//   sequence/    a 1-D CNN on a digit read as a sequence [28 steps, 28 channels] (its rows):
//                Conv1D → BatchNormalization → ReLU, MaxPooling1D, a Conv1D (TF.js cannot train a dilated one), squeeze-and-
//                excitation (GlobalAveragePooling1D → Reshape((1, C)) → 1×1 Conv1Ds → Multiply),
//                Add, a strided Conv1D, GlobalAveragePooling1D, Dense softmax;
//   text/        the text tutorial's bag of embeddings on digits read as 49 token ids (int32 input,
//                mnist-split.mjs digitTokens): Embedding → GlobalAveragePooling1D → Dense relu → Dense softmax;
//   multi/       two inputs and two outputs: the digit's pixels ('image': Conv2Ds → GlobalAveragePooling2D)
//                and its tokens ('tokens', int32: Embedding → GlobalAveragePooling1D), Concatenate, Dense
//                relu, and two heads: 'digit' (Dense softmax of 10) and 'parity' (Dense softmax of 2).
//   node scripts/keras-fixtures.mjs [name…]     (only the models named; fixtures.json keeps the others)
import { existsSync, readFileSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { DIGIT_TOKENS, DIGIT_VOCABULARY, digitTokens, mnistSplit, SEED, shuffleInPlace } from './mnist-split.mjs';
import { mulberry32, registerFastConv2DBackpropFilter, registerFastUnsortedSegmentSum, saveTfjsModel } from './tfjs-training.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'test', 'fixtures', 'keras');
tf.enableProdMode();

let seed = SEED + 100;
const init = () => tf.initializers.glorotUniform({ seed: seed++ });

function functionalModel() {
  const input = tf.input({ shape: [28, 28, 1], name: 'image' });
  const stem = tf.layers.conv2d({ name: 'stem', filters: 8, kernelSize: 3, strides: 2, padding: 'same', useBias: false, kernelInitializer: init() }).apply(input);
  const stemBn = tf.layers.batchNormalization({ name: 'stem_bn' }).apply(stem);
  const stemAct = tf.layers.reLU({ name: 'stem_relu6', maxValue: 6 }).apply(stemBn);
  const dw = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3, padding: 'same', useBias: false, depthwiseInitializer: init() }).apply(stemAct);
  const dwBn = tf.layers.batchNormalization({ name: 'dw_bn' }).apply(dw);
  const dwAct = tf.layers.activation({ name: 'dw_relu', activation: 'relu' }).apply(dwBn);
  const pw = tf.layers.conv2d({ name: 'pw', filters: 8, kernelSize: 1, kernelInitializer: init() }).apply(dwAct);
  const sum = tf.layers.add({ name: 'residual' }).apply([pw, stemAct]);
  const sumAct = tf.layers.activation({ name: 'residual_relu', activation: 'relu' }).apply(sum);
  const joined = tf.layers.concatenate({ name: 'joined' }).apply([sumAct, stemAct]);
  const pooled = tf.layers.averagePooling2d({ name: 'pool', poolSize: 2 }).apply(joined);
  const head = tf.layers.conv2d({ name: 'head', filters: 24, kernelSize: 3, activation: 'relu', kernelInitializer: init() }).apply(pooled);
  const gap = tf.layers.globalAveragePooling2d({ name: 'gap' }).apply(head);
  const out = tf.layers.dense({ name: 'classes', units: 10, activation: 'softmax', kernelInitializer: init() }).apply(gap);
  return tf.model({ inputs: input, outputs: out, name: 'functional' });
}

function activationsModel() {
  return tf.sequential({
    name: 'activations',
    layers: [
      tf.layers.dense({ name: 'hidden_tanh', inputShape: [784], units: 48, activation: 'tanh', kernelInitializer: init() }),
      tf.layers.dense({ name: 'hidden_sigmoid', units: 32, activation: 'sigmoid', kernelInitializer: init() }),
      tf.layers.dense({ name: 'classes', units: 10, activation: 'softmax', kernelInitializer: init() }),
    ],
  });
}

function sequenceModel() {
  // Its own seeds: the models above keep theirs whether or not this one is built.
  let own = SEED + 200;
  const init1 = () => tf.initializers.glorotUniform({ seed: own++ });
  const input = tf.input({ shape: [28, 28], name: 'sequence' });
  const stem = tf.layers.reLU({ name: 'stem_relu' }).apply(tf.layers.batchNormalization({ name: 'stem_bn' }).apply(tf.layers.conv1d({ name: 'stem', filters: 16, kernelSize: 5, padding: 'same', useBias: false, kernelInitializer: init1() }).apply(input)));
  const pooled = tf.layers.maxPooling1d({ name: 'pool', poolSize: 2 }).apply(stem);
  const mid = tf.layers.conv1d({ name: 'mid', filters: 16, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: init1() }).apply(pooled);
  const squeezed = tf.layers.reshape({ name: 'se_reshape', targetShape: [1, 16] }).apply(tf.layers.globalAveragePooling1d({ name: 'se_squeeze' }).apply(mid));
  const reduced = tf.layers.conv1d({ name: 'se_reduce', filters: 4, kernelSize: 1, activation: 'relu', kernelInitializer: init1() }).apply(squeezed);
  const gate = tf.layers.conv1d({ name: 'se_expand', filters: 16, kernelSize: 1, activation: 'sigmoid', kernelInitializer: init1() }).apply(reduced);
  const block = tf.layers.add({ name: 'residual' }).apply([pooled, tf.layers.multiply({ name: 'se_excite' }).apply([mid, gate])]);
  const down = tf.layers.conv1d({ name: 'down', filters: 24, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init1() }).apply(block);
  const out = tf.layers.dense({ name: 'classes', units: 10, activation: 'softmax', kernelInitializer: init1() }).apply(tf.layers.globalAveragePooling1d({ name: 'gap' }).apply(down));
  return tf.model({ inputs: input, outputs: out, name: 'sequence' });
}

function textModel() {
  let own = SEED + 300;
  const init1 = () => tf.initializers.glorotUniform({ seed: own++ });
  const input = tf.input({ shape: [DIGIT_TOKENS], dtype: 'int32', name: 'tokens' });
  const embedded = tf.layers.embedding({ name: 'embed', inputDim: DIGIT_VOCABULARY, outputDim: 16, embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: own++ }) }).apply(input);
  const pooled = tf.layers.globalAveragePooling1d({ name: 'mean' }).apply(embedded);
  const hidden = tf.layers.dense({ name: 'hidden', units: 32, activation: 'relu', kernelInitializer: init1() }).apply(pooled);
  const out = tf.layers.dense({ name: 'classes', units: 10, activation: 'softmax', kernelInitializer: init1() }).apply(hidden);
  return tf.model({ inputs: input, outputs: out, name: 'text' });
}

function multiModel() {
  let own = SEED + 400;
  const init1 = () => tf.initializers.glorotUniform({ seed: own++ });
  const image = tf.input({ shape: [28, 28, 1], name: 'image' });
  const tokens = tf.input({ shape: [DIGIT_TOKENS], dtype: 'int32', name: 'tokens' });
  const c1 = tf.layers.conv2d({ name: 'conv_a', filters: 8, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init1() }).apply(image);
  const c2 = tf.layers.conv2d({ name: 'conv_b', filters: 16, kernelSize: 3, strides: 2, activation: 'relu', kernelInitializer: init1() }).apply(c1);
  const pixels = tf.layers.globalAveragePooling2d({ name: 'image_mean' }).apply(c2);
  const embedded = tf.layers.embedding({ name: 'embed', inputDim: DIGIT_VOCABULARY, outputDim: 16, embeddingsInitializer: tf.initializers.randomUniform({ minval: -0.05, maxval: 0.05, seed: own++ }) }).apply(tokens);
  const words = tf.layers.globalAveragePooling1d({ name: 'token_mean' }).apply(embedded);
  const joined = tf.layers.concatenate({ name: 'joined' }).apply([pixels, words]);
  const hidden = tf.layers.dense({ name: 'hidden', units: 48, activation: 'relu', kernelInitializer: init1() }).apply(joined);
  const digit = tf.layers.dense({ name: 'digit', units: 10, activation: 'softmax', kernelInitializer: init1() }).apply(hidden);
  const parity = tf.layers.dense({ name: 'parity', units: 2, activation: 'softmax', kernelInitializer: init1() }).apply(hidden);
  return tf.model({ inputs: [image, tokens], outputs: [digit, parity], name: 'multi' });
}

/** The set's digits as the model reads them: pixels, or token ids. */
const inputsOf = (set, tokens) => (tokens ? { ...set, x: Float32Array.from(digitTokens(set.x, set.count)) } : set);

function accuracy(model, set, shape) {
  return tf.tidy(() => {
    // The multi model's digit head (its first output) from the pixels and the tokens.
    const output = shape === 'multi' ? model.predict([tf.tensor(set.x, [set.count, 28, 28, 1]), tf.tensor(digitTokens(set.x, set.count), [set.count, DIGIT_TOKENS], 'int32')])[0] : model.predict(tf.tensor(set.x, [set.count, ...shape]));
    const predicted = output.argMax(-1).dataSync();
    let correct = 0;
    for (let i = 0; i < set.count; i++) if (predicted[i] === set.labels[i]) correct++;
    return correct / set.count;
  });
}

/** The multi model on pixels and tokens, its losses the digit's and the parity's (digit mod 2). */
async function trainMulti(name, model, trainSet, testSet, epochs) {
  model.compile({ optimizer: tf.train.adam(0.003), loss: ['categoricalCrossentropy', 'categoricalCrossentropy'] });
  const random = mulberry32(SEED + 7);
  const started = performance.now();
  const tokens = Float32Array.from(digitTokens(trainSet.x, trainSet.count));
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = shuffleInPlace([...Array(trainSet.count).keys()], random);
    const x = tf.tensor(Float32Array.from(order.flatMap((k) => Array.from(trainSet.x.subarray(k * 784, (k + 1) * 784)))), [trainSet.count, 28, 28, 1]);
    const t = tf.tensor(Int32Array.from(order.flatMap((k) => Array.from(tokens.subarray(k * DIGIT_TOKENS, (k + 1) * DIGIT_TOKENS)))), [trainSet.count, DIGIT_TOKENS], 'int32');
    const labels = tf.tensor1d(order.map((k) => trainSet.labels[k]), 'int32');
    const parity = tf.tensor1d(order.map((k) => trainSet.labels[k] % 2), 'int32');
    const y = [tf.oneHot(labels, 10).toFloat(), tf.oneHot(parity, 2).toFloat()];
    await model.fit([x, t], y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
    tf.dispose([x, t, labels, parity, ...y]);
  }
  const seconds = (performance.now() - started) / 1000;
  const dir = join(OUT, name);
  mkdirSync(dir, { recursive: true });
  await saveTfjsModel(tf, model, dir);
  const result = { parameters: model.countParams(), epochs, testAccuracy: accuracy(model, testSet, 'multi'), seconds: Math.round(seconds) };
  console.log(name, result);
  return result;
}

async function main() {
  await tf.setBackend('cpu');
  registerFastConv2DBackpropFilter(tf);
  registerFastUnsortedSegmentSum(tf);
  const { trainSet, testSet } = mnistSplit();
  const only = process.argv.slice(2);
  const summaryPath = join(OUT, 'fixtures.json');
  const summary = only.length && existsSync(summaryPath) ? JSON.parse(readFileSync(summaryPath, 'utf8')).models : {};
  const all = [['functional', functionalModel, [28, 28, 1], 3], ['activations', activationsModel, [784], 3], ['sequence', sequenceModel, [28, 28], 6], ['text', textModel, [DIGIT_TOKENS], 10], ['multi', multiModel, 'multi', 4]];
  for (const [name, build, shape, epochs] of all.filter(([name]) => !only.length || only.includes(name))) {
    if (shape === 'multi') {
      summary[name] = await trainMulti(name, build(), trainSet, testSet, epochs);
      continue;
    }
    const size = shape.reduce((a, b) => a * b, 1);
    const [train, test] = [inputsOf(trainSet, name === 'text'), inputsOf(testSet, name === 'text')];
    const model = build();
    model.compile({ optimizer: tf.train.adam(0.003), loss: 'categoricalCrossentropy' });
    const random = mulberry32(SEED + 7);
    const started = performance.now();
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = shuffleInPlace([...Array(trainSet.count).keys()], random);
      const x = tf.tensor(Float32Array.from(order.flatMap((k) => Array.from(train.x.subarray(k * size, (k + 1) * size)))), [trainSet.count, ...shape]);
      const y = tf.oneHot(tf.tensor1d(order.map((k) => trainSet.labels[k]), 'int32'), 10).toFloat();
      await model.fit(x, y, { epochs: 1, batchSize: 32, shuffle: false, verbose: 0 });
      tf.dispose([x, y]);
    }
    const seconds = (performance.now() - started) / 1000;
    const testAccuracy = accuracy(model, test, shape);
    const dir = join(OUT, name);
    mkdirSync(dir, { recursive: true });
    await saveTfjsModel(tf, model, dir);
    summary[name] = { parameters: model.countParams(), epochs, testAccuracy, seconds: Math.round(seconds) };
    console.log(name, summary[name]);
  }
  writeFileSync(summaryPath, `${JSON.stringify({ tfjs: tf.version.tfjs, testDigits: testSet.count, models: summary }, null, 2)}\n`);
}

await main();
