// TF.js models stored as tensorflowjs_converter's --quantize_float16, --quantize_uint16 and
// --quantize_uint8 store them, pruned as bench/frameworks.mjs prunes their float32 originals:
// the weight file's bytes before and after (each written back as it was stored), the nonzeros
// (the rounding to a grid zeroes a few more), and the held-out accuracy, beside magnitude pruning
// at the same per-layer counts. The quantized copies are made here with the library's own grid
// (the converter's algorithm; test/helpers/tfjsStored.ts checks it against a transcription).
//   node bench/quantized.mjs     (after npm run build; WebGPU when an adapter is found)
// Writes bench/results-quantized.json and prints the markdown table of docs/results.md §6.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireGpu, affineGrid, forwardCpu, halfBytes, loadModelFile, parseNpy, pruneNetwork, quantize, storeLayerWeights } from '../dist/node/index.js';
import { labelAccuracy, magnitudePruned, relativeDiscrepancy, writeAtomically } from './lib.mjs';

const root = new URL('../', import.meta.url).pathname;
const digits = parseNpy(readFileSync(`${root}test/fixtures/mnist-samples.npy`), 'samples').data;
const labels = parseNpy(readFileSync(`${root}test/fixtures/mnist-labels.npy`), 'labels').data;
// model folder, mode, pruning samples, ε gain (keras/functional as in bench/frameworks.mjs).
const models = [
  ['mnist-cnn', 'cascade', 100, 0.05],
  ['keras/functional', 'cascade', 60, 0.03],
  ['keras/activations', 'parallel', 300, 0.03],
];
const storages = ['float32', 'float16', 'uint16', 'uint8'];

/** The fixture's model.json with every float32 weight stored as `storage`, in `dir`. */
function storedCopy(model, storage, dir) {
  const json = JSON.parse(readFileSync(`${root}test/fixtures/${model}/model.json`, 'utf8'));
  const bin = readFileSync(`${root}test/fixtures/${model}/weights.bin`);
  const parts = [];
  let at = 0;
  for (const w of json.weightsManifest.flatMap((g) => g.weights)) {
    const bytes = w.shape.reduce((a, b) => a * b, 1) * 4;
    const values = new Float32Array(bin.buffer.slice(bin.byteOffset + at, bin.byteOffset + at + bytes));
    at += bytes;
    if (storage === 'float32' || w.dtype !== 'float32') parts.push(new Uint8Array(values.buffer));
    else if (storage === 'float16') {
      parts.push(halfBytes(values));
      w.quantization = { dtype: 'float16' };
    } else {
      const grid = affineGrid(values, storage);
      parts.push(new Uint8Array(quantize(values, grid).buffer));
      w.quantization = grid;
    }
  }
  json.weightsManifest = [{ paths: ['weights.bin'], weights: json.weightsManifest.flatMap((g) => g.weights) }];
  writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
  writeFileSync(join(dir, 'weights.bin'), Buffer.concat(parts));
  return join(dir, 'model.json');
}

const gpu = await acquireGpu().catch(() => null);
const results = [];
for (const [model, mode, count, gain] of models) {
  for (const storage of storages) {
    const dir = mkdtempSync(join(tmpdir(), 'net-trim-quantized-'));
    try {
      const loaded = await loadModelFile(storedCopy(model, storage, dir));
      const started = performance.now();
      const result = await pruneNetwork(loaded.network, { data: digits.subarray(0, count * 784), count }, { mode, epsilonGain: gain, backend: gpu ? 'webgpu' : 'cpu', gpu: gpu ?? undefined, solver: { maxIterations: 1000 } });
      const seconds = (performance.now() - started) / 1000;
      const acc = (network) => labelAccuracy(forwardCpu(network, digits.subarray(count * 784), 1000 - count).logits, labels, count);
      const [, weights] = await loaded.serialize(result.network);
      const keep = new Map(result.layers.map((l) => [l.name, l.nonzerosAfter]));
      const row = {
        model,
        storage,
        mode,
        samples: count,
        gain,
        weightBytesBefore: readFileSync(join(dir, 'weights.bin')).length,
        weightBytesAfter: weights.bytes.length,
        nonzerosBefore: result.nonzerosBefore,
        nonzerosAfter: result.nonzerosAfter,
        relativeDiscrepancy: result.relativeDiscrepancy,
        accuracyBefore: acc(loaded.network),
        accuracyAfter: acc(result.network),
        magnitudeAccuracy: acc(magnitudePruned(loaded.network, keep)),
        seconds,
        backend: gpu ? gpu.adapterDescription : 'cpu',
      };
      results.push(row);
      console.error(`${model} ${storage}: ${row.weightBytesBefore} → ${row.weightBytesAfter} bytes, ${row.nonzerosBefore} → ${row.nonzerosAfter}, accuracy ${row.accuracyBefore} → ${row.accuracyAfter} (magnitude ${row.magnitudeAccuracy}), ${seconds.toFixed(1)} s`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
// Quantizing as the model is pruned (prune --quantize uint8: each layer fitted to the quantized
// layers before it) against quantizing after (the float32 pruning's weights rounded to their grids).
const weighted = (network) => network.layers.filter((l) => l.kind === 'dense' || l.kind === 'conv2d');
const uint8 = () => ({ dtype: 'uint8', scale: NaN, min: NaN });
const orders = [];
for (const [model, mode, count, gain] of models) {
  const loaded = await loadModelFile(`${root}test/fixtures/${model}/model.json`);
  const options = { mode, epsilonGain: gain, backend: gpu ? 'webgpu' : 'cpu', gpu: gpu ?? undefined, solver: { maxIterations: 1000 } };
  const acc = (network) => labelAccuracy(forwardCpu(network, digits.subarray(count * 784), 1000 - count).logits, labels, count);
  const trained = forwardCpu(loaded.network, digits.subarray(0, count * 784), count).logits;
  const rd = (network) => relativeDiscrepancy(forwardCpu(network, digits.subarray(0, count * 784), count).logits, trained);
  const after = await pruneNetwork(loaded.network, { data: digits.subarray(0, count * 784), count }, options);
  const rounded = { ...after.network, layers: after.network.layers.map((l) => ({ ...l })) };
  for (const layer of weighted(rounded)) {
    layer.storage = { kernel: uint8(), bias: uint8() };
    storeLayerWeights(layer);
  }
  const marked = { ...loaded.network, layers: loaded.network.layers.map((l) => (l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, storage: { kernel: uint8(), bias: uint8() } } : l)) };
  const aware = await pruneNetwork(marked, { data: digits.subarray(0, count * 784), count }, options);
  const row = { model, mode, samples: count, gain, accuracyBefore: acc(loaded.network), float32: { accuracy: acc(after.network), rd: rd(after.network) }, quantizedAfter: { accuracy: acc(rounded), rd: rd(rounded) }, quantizedAsPruned: { accuracy: acc(aware.network), rd: rd(aware.network), nonzeros: aware.nonzerosAfter } };
  orders.push(row);
  console.error(`${model}: float32 ${row.float32.accuracy} (rd ${row.float32.rd.toFixed(4)}), uint8 after ${row.quantizedAfter.accuracy} (rd ${row.quantizedAfter.rd.toFixed(4)}), uint8 as pruned ${row.quantizedAsPruned.accuracy} (rd ${row.quantizedAsPruned.rd.toFixed(4)})`);
}
gpu?.destroy();
writeAtomically(`${root}bench/results-quantized.json`, `${JSON.stringify({ date: new Date().toISOString(), results, quantizeWhilePruning: orders }, null, 2)}\n`);
const pct = (x) => `${(100 * x).toFixed(1)}%`;
console.log('| model | stored as | weights.bin | nonzeros | rd | held-out accuracy | magnitude pruning, same counts |');
console.log('|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(`| ${r.model} | ${r.storage} | ${r.weightBytesBefore} → ${r.weightBytesAfter} B | ${r.nonzerosBefore} → ${r.nonzerosAfter} (${pct(r.nonzerosAfter / r.nonzerosBefore)}) | ${r.relativeDiscrepancy.toFixed(3)} | ${pct(r.accuracyBefore)} → ${pct(r.accuracyAfter)} | ${pct(r.magnitudeAccuracy)} |`);
console.log('\n| model | held-out accuracy, trained | pruned (float32) | pruned, then quantized to uint8 | pruned with --quantize uint8 |');
console.log('|---|---|---|---|---|');
for (const r of orders)
  console.log(`| ${r.model} | ${pct(r.accuracyBefore)} | ${pct(r.float32.accuracy)} (rd ${r.float32.rd.toFixed(3)}) | ${pct(r.quantizedAfter.accuracy)} (rd ${r.quantizedAfter.rd.toFixed(3)}) | ${pct(r.quantizedAsPruned.accuracy)} (rd ${r.quantizedAsPruned.rd.toFixed(3)}) |`);
