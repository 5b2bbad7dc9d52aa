// The benchmark problems, shared by bench/run.mjs (Node) and bench/browser.mjs (a page in
// headless Chromium): no Node imports. `lib` is the library's internals (dist/node/internals.js,
// or the page's browser bundle of src/internals.ts).

export const PROBLEMS = {
  // The MNIST-sized first layer (784 inputs + bias → 300), at two sample counts.
  'dense-784x300-P2000': { inputs: 784, outputs: 300, samples: 2000 },
  'dense-784x300-P10000': { inputs: 784, outputs: 300, samples: 10000 },
  // The second MNIST layer, and a layer with fewer samples than inputs (Woodbury solve).
  'dense-300x100-P10000': { inputs: 300, outputs: 100, samples: 10000 },
  'dense-784x300-P500': { inputs: 784, outputs: 300, samples: 500 },
  // A conv layer (3×3, 8 → 16 channels, 'same', on 14×14 maps of 400 images: the CNN fixture's
  // conv_2), solved on its patches without materializing them, and on the materialized patch
  // matrix (im2col) for comparison.
  'conv-3x3x8x16-P400': { conv: { count: 400, height: 14, width: 14, channels: 8, kernel: 3, filters: 16 } },
  'conv-3x3x8x16-P400-im2col': { conv: { count: 400, height: 14, width: 14, channels: 8, kernel: 3, filters: 16 }, materialize: true },
  // LeNet's first dense layer as the authors time it (3136 + bias → 512, P = 55 000 samples):
  // X alone is 690 MB, more than one storage binding on most devices, so it runs in chunks of
  // samples. Not in the default list (one iteration is 353 GFLOP); --lenet-samples sets P, and
  // --readme lenet writes its own table.
  'lenet-fc1': { inputs: 3136, outputs: 512, samples: 'lenet' },
};
export const DEFAULT_PROBLEMS = Object.keys(PROBLEMS).filter((name) => name !== 'lenet-fc1');

/** A problem's shape: one of PROBLEMS, or any dense layer named dense-<inputs>x<outputs>-P<samples>; null if neither. */
export function problemShape(name) {
  if (Object.hasOwn(PROBLEMS, name)) return PROBLEMS[name];
  const dense = /^dense-(\d+)x(\d+)-P(\d+)$/.exec(name);
  return dense ? { inputs: Number(dense[1]), outputs: Number(dense[2]), samples: Number(dense[3]) } : null;
}

/** Standard normal numbers from a 32-bit seed (mulberry32 + Box-Muller). */
export function seededNormal(seed) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return () => Math.sqrt(-2 * Math.log(1 - uniform())) * Math.cos(2 * Math.PI * uniform());
}

/** A conv ReLU layer ('same' padding, stride 1) on nonnegative images. */
function makeConvProblem(lib, { count, height, width, channels, kernel, filters }, materialize) {
  const normal = seededNormal(count * 31 + channels * 7 + filters);
  const patches = {
    images: Float32Array.from({ length: count * height * width * channels }, () => Math.max(normal(), 0)),
    count, inH: height, inW: width, channels,
    kernelH: kernel, kernelW: kernel, strideH: 1, strideW: 1,
    padTop: (kernel - 1) >> 1, padLeft: (kernel - 1) >> 1, outH: height, outW: width,
  };
  const N = kernel * kernel * channels;
  const W = Float64Array.from({ length: (N + 1) * filters }, () => normal() / Math.sqrt(N));
  const Y = lib.designOf(patches, true).multiply(W, filters).map((v) => Math.max(v, 0));
  const X = materialize ? lib.materializePatches(patches) : patches;
  return lib.prepareLayerProblem({ X, Y: { rows: Y.length / filters, cols: filters, data: Y }, epsilonGain: 0.05 });
}

/**
 * A dense problem's inputs before its target: X (P×N, nonnegative, as post-ReLU activations) and
 * the layer's weights W (N×M, float64), drawn from a seed of the shape.
 */
export function denseLayerData({ inputs: N, outputs: M, samples: P }) {
  const normal = seededNormal(N * 7 + M * 13 + P);
  const X = new Float32Array(P * N);
  for (let i = 0; i < X.length; i++) X[i] = Math.max(normal(), 0); // a loop: Array.from's callback is slower at LeNet's 172 M
  const W = Float64Array.from({ length: N * M }, () => normal() / Math.sqrt(N));
  return { X, W, N, M, P };
}

/** The problem of a dense ReLU layer from its data and pre-activations XW (P×M, written over). */
export function denseProblem(lib, { X, N, M, P }, preActivation) {
  const Y = preActivation;
  for (let i = 0; i < Y.length; i++) Y[i] = Math.max(Y[i] + 0.01, 0);
  return lib.prepareLayerProblem({ X: { rows: P, cols: N, data: X }, Y: { rows: P, cols: M, data: Y }, epsilonGain: 0.05 });
}

/** A problem of PROBLEMS; dense ones are ReLU layers on nonnegative (post-ReLU-like) inputs, as in a trained MLP. */
export function makeProblem(lib, shape) {
  if (shape.conv) return makeConvProblem(lib, shape.conv, shape.materialize);
  const data = denseLayerData(shape);
  const { X, W, N, M, P } = data;
  const Y = new Float32Array(P * M);
  for (let p = 0; p < P; p++)
    for (let n = 0; n < N; n++) {
      const x = X[p * N + n];
      if (x === 0) continue;
      for (let m = 0; m < M; m++) Y[p * M + m] += x * W[n * M + m];
    }
  return denseProblem(lib, data, Y);
}
