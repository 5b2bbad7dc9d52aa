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

/** measureGpu's measurement on an engine already set up (its state advances; `setupSeconds` is reported). */
export async function measureEngine(engine, gpu, name, problem, { repeats, iterations, checkEvery, setupSeconds }) {
  const { samples: P, columns: N, outputs: M } = problem;
  for (const what of ['iteration', 'productsWithX', 'allProducts']) await engine.time(1, what); // first use of each pipeline
  const seconds = { iteration: [], productsWithX: [], allProducts: [] };
  for (let r = 0; r < repeats; r++)
    for (const what of Object.keys(seconds)) seconds[what].push((await engine.time(iterations, what)) / iterations);
  const cost = engine.iterationCost;
  const memory = engine.memory;
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
    gpuMegabytes: memory.allocatedBytes / 1e6,
    gpuMemoryToAlgorithmArraysRatio: memory.allocatedBytes / memory.algorithmBytes,
    repeats,
    matmulVariant: gpu.matmulVariant,
  };
}
