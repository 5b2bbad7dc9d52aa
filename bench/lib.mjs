// Shared by the benchmark scripts in Node: atomic output, the results table. (What a page runs
// too is in problems.mjs and measure.mjs.)
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Writes through a temporary file and a rename, so a failure leaves nothing half-written. */
export function writeAtomically(path, text) {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, text);
  renameSync(temp, path);
}

/** The share of the rows of `logits` (10 classes) whose largest entry is `labels[from + row]`. */
export function labelAccuracy(logits, labels, from) {
  const count = logits.length / 10;
  let correct = 0;
  for (let p = 0; p < count; p++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[p * 10 + c] > logits[p * 10 + best]) best = c;
    if (best === Number(labels[from + p])) correct++;
  }
  return correct / count;
}

const fmt = (v, d = 3) => (v === undefined ? '' : Number(v).toPrecision(d));

/** The results as a markdown table under `caption` (bench/README.md explains the columns). */
export function resultsTable(results, caption) {
  return [
    caption,
    '',
    '| problem | N×M×P | backend | s / iteration | iteration ÷ its 2 products with X | iteration ÷ its 3 products (with the solve) | GFLOP/s (products) | GFLOP/s (iteration) | WebGPU speed-up over this row | dispatches / it. | host round trips / it. | MB moved / it. | GPU MB held (÷ algorithm arrays) | setup s |',
    '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
    ...results.map((r) =>
      `| ${r.problem} | ${r.N}×${r.M}×${r.P} | ${r.backend}${r.solve ? ` (${r.solve}${r.sampleChunks > 1 ? `, ${r.sampleChunks} sample chunks` : ''})` : ''} | ${fmt(r.secondsPerIteration)} | ${fmt(r.iterationToMatmulRatio)} | ${fmt(r.iterationToAllProductsRatio)} | ${fmt(r.matmulGflops)} | ${fmt(r.iterationGflops)} | ${fmt(r.speedupOfWebgpu)} | ${r.dispatchesPerIteration ?? ''} | ${fmt(r.hostRoundTripsPerIteration, 2)} | ${r.bytesPerIteration ? fmt(r.bytesPerIteration / 1e6) : ''} | ${r.gpuMegabytes ? `${fmt(r.gpuMegabytes)} (${fmt(r.gpuMemoryToAlgorithmArraysRatio)})` : ''} | ${fmt(r.setupSeconds)} |`,
    ),
  ];
}

/** Replaces the lines between `<!-- name:begin -->` and `<!-- name:end -->` in bench/README.md. */
export function replaceReadmeTable(name, lines) {
  const readme = fileURLToPath(new URL('./README.md', import.meta.url));
  const text = readFileSync(readme, 'utf8');
  const begin = `<!-- ${name}:begin -->`;
  const end = `<!-- ${name}:end -->`;
  const a = text.indexOf(begin);
  const b = text.indexOf(end);
  if (a < 0 || b < 0) throw new Error(`bench/README.md lacks the ${begin} … ${end} markers`);
  writeAtomically(readme, text.slice(0, a + begin.length) + '\n' + lines.join('\n') + '\n' + text.slice(b));
}

/** The network with each pruned layer's smallest-magnitude weights zeroed, keeping `keep` nonzeros per layer (kernel and bias together). */
export function magnitudePruned(network, keep) {
  return {
    ...network,
    layers: network.layers.map((l) => {
      if (!keep.has(l.name)) return l;
      const values = [...l.kernel, ...(l.bias ?? [])];
      const threshold = values.map(Math.abs).sort((a, b) => b - a)[keep.get(l.name) - 1] ?? 0;
      let left = keep.get(l.name);
      const cut = (v) => (Math.abs(v) > threshold || (Math.abs(v) === threshold && left-- > 0) ? v : 0);
      return { ...l, kernel: Float32Array.from(l.kernel, cut), bias: l.bias && Float32Array.from(l.bias, cut) };
    }),
  };
}

/** ‖a − b‖_F / ‖b‖_F (the report's relative discrepancy, of logits against the trained model's). */
export function relativeDiscrepancy(a, b) {
  let d = 0;
  let n = 0;
  for (let i = 0; i < a.length; i++) {
    d += (a[i] - b[i]) ** 2;
    n += b[i] ** 2;
  }
  return Math.sqrt(d / n);
}
