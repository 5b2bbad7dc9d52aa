// Timing one problem on the WebGPU path, shared by bench/run.mjs (Node) and bench/browser.mjs (a
// page in headless Chromium): no Node imports.

export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/**
 * Times an iteration, its two products with X and all three of its products (the solve's too),
 * back to back in every repeat, on a throwaway engine; returns the bench's webgpu entry.
 * `lib` is the library's internals; `checkEvery` the round-trip interval of a real solve.
 */
export async function measureGpu(lib, gpu, name, problem, options) {
  const started = performance.now();
  const engine = await lib.GpuAdmmEngine.create(gpu, problem);
  const setupSeconds = (performance.now() - started) / 1000;
  try {
    return await measureEngine(engine, gpu, name, problem, { ...options, setupSeconds });
  } finally {
    engine.release();
  }
}

/**
 * The dispatches timed: an iteration, its two products with X alone (the floor it is measured
 * against), and those with the solve's product (the iteration less its elementwise work).
 */
function timedLists(engine) {
  const { first, solve, second } = engine.program.products;
  return { iteration: engine.program.dispatches, productsWithX: [...first, ...second], allProducts: [...first, ...solve, ...second] };
}

/** Runs `count` copies of a dispatch list in one submit; the seconds until the queue drained (the engine's state advances). */
async function timeDispatches(engine, list, count) {
  const queue = engine.ws.device.queue;
  await queue.onSubmittedWorkDone();
  const started = performance.now();
  engine.ws.submit(Array.from({ length: count }, () => list).flat(), 'timing');
  await queue.onSubmittedWorkDone();
  return (performance.now() - started) / 1000;
}

const costOf = (list, key) => list.reduce((total, d) => total + d.cost[key], 0);

/**
 * Bytes of the arrays the algorithm itself needs: X (or the images of its patches), Y, V, the
 * state T, B, W3, Q, W2, the solve operator, and the Woodbury form's two P×M intermediates.
 */
function algorithmBytes(engine) {
  const { samples: P, columns: N, outputs: M } = engine.shape;
  const b = engine.buffers;
  const responseArrays = (b.V ? 4 : 3) + (b.woodbury ? 2 : 0);
  return b.X.bytes + 4 * (responseArrays * P * M + 3 * N * M + (b.woodbury ? P * P : N * N));
}

/** measureGpu's measurement on an engine already set up (its state advances; `setupSeconds` is reported). */
export async function measureEngine(engine, gpu, name, problem, { repeats, iterations, checkEvery, setupSeconds }) {
  const { samples: P, columns: N, outputs: M } = problem;
  const lists = timedLists(engine);
  for (const list of Object.values(lists)) await timeDispatches(engine, list, 1); // first use of each pipeline
  const seconds = { iteration: [], productsWithX: [], allProducts: [] };
  for (let r = 0; r < repeats; r++)
    for (const what of Object.keys(seconds)) seconds[what].push((await timeDispatches(engine, lists[what], iterations)) / iterations);
  const cost = {
    dispatches: lists.iteration.length,
    bytes: costOf(lists.iteration, 'bytes'),
    flops: costOf(lists.iteration, 'flops'),
    productsWithXFlops: costOf(lists.productsWithX, 'flops'),
    allProductsFlops: costOf(lists.allProducts, 'flops'),
  };
  const secondsPerIteration = median(seconds.iteration);
  const productsSeconds = median(seconds.productsWithX);
  // The ratio of each repeat's pair (timed back to back), then their median: the machine's
  // speed drifts between repeats on shared hosts, less within one repeat.
  const ratioTo = (what) => median(seconds.iteration.map((s, r) => s / seconds[what][r]));
  return {
    problem: name,
    backend: 'webgpu',
    device: gpu.adapterDescription,
    N,
    M,
    P,
    solve: engine.woodbury ? 'woodbury' : 'inverse',
    sampleChunks: engine.sampleChunks,
    secondsPerIteration,
    productsWithXSecondsPerIteration: productsSeconds,
    iterationToMatmulRatio: ratioTo('productsWithX'),
    allProductsSecondsPerIteration: median(seconds.allProducts),
    iterationToAllProductsRatio: ratioTo('allProducts'),
    allProductsToProductsWithXFlops: cost.allProductsFlops / cost.productsWithXFlops,
    matmulGflops: cost.productsWithXFlops / productsSeconds / 1e9,
    iterationGflops: cost.flops / secondsPerIteration / 1e9,
    dispatchesPerIteration: cost.dispatches,
    hostRoundTripsPerIteration: 1 / checkEvery,
    bytesPerIteration: cost.bytes,
    flopsPerIteration: cost.flops,
    setupSeconds,
    gpuMegabytes: engine.allocatedBytes / 1e6,
    gpuMemoryToAlgorithmArraysRatio: engine.allocatedBytes / algorithmBytes(engine),
    repeats,
    matmulVariant: gpu.matmulVariant,
  };
}
