// Structured Net-Trim against the structured baseline of the field and against unstructured
// Net-Trim (issue 16 item 6), none retrained, on the bundled MNIST MLP and CNN:
//   - structured Net-Trim searched to remove half of the hidden neurons/channels (--structured
//     --target-sparsity 0.5), the unread units taken out of the model;
//   - L1-norm pruning (Li et al. 2017, "Pruning filters for efficient ConvNets", without the
//     retraining): in each layer, the same number of neurons/filters as structured Net-Trim kept,
//     those with the largest ℓ1 norm of their weights;
//   - unstructured Net-Trim at the same work: the weight share removed so that its multiply-
//     accumulates by nonzero weights equal the structured model's dense ones.
// Held-out accuracy and relative discrepancy of the logits (the 1000 − P digits the pruning did
// not see), parameters, MACs, and latency of each written model side by side in TF.js and
// onnxruntime-node (batch 1 and 64; medians of 30). Writes bench/results-structured.json and
// prints the markdown table of docs/results.md.
//   node bench/structured.mjs      (after npm run build; WebGPU when an adapter is found)
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import {
  acquireGpu, forwardCpu, loadModelFile, measureLatency, networkCost, networkGraph, networkToOnnx, parseNpy, pruneToTarget, removeUnreadUnits, runPrune,
} from '../dist/node/index.js';
import { labelAccuracy, writeAtomically } from './lib.mjs';

const root = new URL('../', import.meta.url).pathname;
const digits = parseNpy(readFileSync(`${root}test/fixtures/mnist-samples.npy`), 'samples').data;
const labels = parseNpy(readFileSync(`${root}test/fixtures/mnist-labels.npy`), 'labels').data;
const perSample = 784;

// model, pruning samples, solver iteration cap (conv programs converge slowly: issue 17), layers left as they are.
// `node bench/structured.mjs resnet` runs the models whose file contains 'resnet' and keeps the others' results.
const only = process.argv[2] ?? '';
const runs = [
  ['mnist-mlp/model.json', 500, 2000, []],
  ['mnist-cnn/model.json', 300, 400, []],
  ['torch/resnet.onnx', 100, 400, ['/stem/stem.0/Conv']],
].filter(([file]) => file.includes(only));

function heldOutLogits(network, count) {
  return forwardCpu(network, digits.subarray(count * perSample), 1000 - count).logits;
}
const discrepancy = (z, zHat) => Math.sqrt(z.reduce((s, v, i) => s + (v - zHat[i]) ** 2, 0) / z.reduce((s, v) => s + v * v, 0));

/**
 * Li et al.'s L1-norm pruning at the given units per layer: each dense/conv layer keeps its
 * `keep[name]` outputs of largest ℓ1 norm; the others are dropped by zeroing every read of them
 * (the next weighted layer's rows, through elementwise ops and a flatten), then removed.
 */
function l1NormPruned(network, keep) {
  const graph = networkGraph(network);
  const layers = network.layers.map((l) => (l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: Float32Array.from(l.kernel) } : l));
  const tied = [];
  layers.forEach((layer, i) => {
    if (!(layer.name in keep)) return;
    const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
    const norms = Array.from({ length: outputs }, (_, f) => ({ f, norm: layer.kernel.reduce((s, w, k) => (k % outputs === f ? s + Math.abs(w) : s), 0) }));
    const dropped = norms.sort((a, b) => b.norm - a.norm).slice(keep[layer.name]).map((n) => n.f);
    // A layer whose outputs a residual Add or a Concat ties to others keeps them all (Li et al. prune those blocks' first convs only).
    const saved = layers.map((l) => (l.kernel ? Float32Array.from(l.kernel) : null));
    try {
      for (const c of dropped) zeroReads(layers, graph, i, c, 1, 0);
    } catch {
      layers.forEach((l, k) => saved[k] && (l.kernel = saved[k]));
      tied.push(layer.name);
    }
  });
  return { ...removeUnreadUnits({ ...network, layers }), tied };
}

/** Zeroes the weights that read channel `c` of layer i's output (`stride`, `offset`: a flatten's rows c + k·stride). */
function zeroReads(layers, graph, i, c, stride, offset) {
  for (const j of graph.consumers[i]) {
    const reader = layers[j];
    if (reader.kind === 'dense') {
      for (let r = offset + c; r < reader.inputs; r += stride === 1 ? reader.inputs : stride) reader.kernel.fill(0, r * reader.units, (r + 1) * reader.units);
    } else if (reader.kind === 'conv2d') {
      const taps = reader.kernelSize[0] * reader.kernelSize[1];
      for (let k = 0; k < taps; k++) reader.kernel.fill(0, (k * reader.inChannels + c) * reader.filters, (k * reader.inChannels + c + 1) * reader.filters);
    } else if (reader.kind === 'flatten') zeroReads(layers, graph, j, c, graph.inputShapes[j][0].at(-1), 0);
    else if (['relu', 'activation', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'batchnorm'].includes(reader.kind)) zeroReads(layers, graph, j, c, stride, offset);
    else throw new Error(`l1NormPruned: '${reader.name}' (${reader.kind}) ties channels: not in this baseline`);
  }
}

const gpu = await acquireGpu().catch(() => null);
const backend = gpu ? 'webgpu' : 'cpu';
const previous = (() => {
  try {
    return JSON.parse(readFileSync(`${root}bench/results-structured.json`, 'utf8')).results;
  } catch {
    return [];
  }
})();
const results = previous.filter((r) => !runs.some(([file]) => file === r.model));
for (const [file, count, maxIterations, exclude] of runs) {
  const model = await loadModelFile(`${root}test/fixtures/${file}`);
  const samples = { data: digits.subarray(0, count * perSample), count, labels: labels.subarray(0, count) };
  const heldOut = { data: digits.subarray(count * perSample), count: 1000 - count, labels: labels.subarray(count) };
  const common = { backend, gpu: gpu ?? undefined, solver: { maxIterations }, exclude };

  const structured = await runPrune(model.network, samples, { ...common, structure: 'inputs', targetSparsity: 0.5, heldOut });
  const keep = Object.fromEntries(structured.removal.layers.map((l) => [l.name, l.after]));
  const l1 = l1NormPruned(model.network, keep);
  // Unstructured at the same work: its MACs by nonzero weights = the structured model's dense MACs.
  const macsShare = networkCost(structured.written).total.macs / networkCost(model.network).total.macs;
  const sparseMacsRemoved = (r) => 1 - networkCost(r.network).total.sparseMacs / networkCost(model.network).total.macs;
  const unstructured = await pruneToTarget(model.network, samples, { ...common, targetSparsity: 1 - macsShare, sparsityOf: sparseMacsRemoved, sparsityName: 'the multiply-accumulates', heldOut });

  const z = heldOutLogits(model.network, count);
  const variants = [
    ['trained', model.network, null],
    ['structured Net-Trim', structured.written, structured.removal.kept],
    ['L1-norm units (Li et al.)', l1.network, l1.kept],
    ['unstructured Net-Trim, same MACs', unstructured.result.network, null],
  ];
  const rows = [];
  for (const [name, network] of variants) {
    const zHat = heldOutLogits(network, count);
    const cost = networkCost(network).total;
    rows.push({ name, accuracy: labelAccuracy(zHat, labels, count), relativeDiscrepancy: discrepancy(z, zHat), params: cost.params, macs: cost.macs, sparseMacs: cost.sparseMacs, units: removeUnreadUnits(network).unitsBefore });
  }
  // Latency: each variant written in the format read, and a TF.js chain also as ONNX (the chain exporter).
  const written = await Promise.all(variants.map(([, network, kept]) => model.serialize(network, kept ?? undefined)));
  const shape = model.network.inputShape;
  const nchw = shape.length === 3 ? [shape[2], shape[0], shape[1]] : shape;
  const formats = model.format === 'onnx' ? [['onnx', written, nchw]] : [['tfjs', written, shape], ['onnx', variants.map(([, network]) => [{ name: 'model.onnx', bytes: networkToOnnx(network) }]), nchw]];
  const latency = [];
  for (const [format, files, inputShape] of formats) {
    const result = await measureLatency(variants.map(([label], k) => ({ label, format, files: files[k] })), { inputShape });
    for (const row of result.rows) latency.push({ runtime: `${row.runtime} ${row.version} (${row.backend})`, batch: row.batch, medians: row.models.map((m) => m.medianMs) });
  }
  results.push({ model: file, samples: count, maxIterations, excluded: exclude, l1Tied: l1.tied, backend: gpu ? gpu.adapterDescription : 'cpu', cores: cpus().length, search: structured.search, unstructuredSearch: { message: unstructured.message, trials: unstructured.trials.length }, variants: rows, latency });
  console.error(`${file}: ${rows.map((r) => `${r.name} ${(100 * r.accuracy).toFixed(1)}%`).join(', ')}`);
}
gpu?.destroy();
writeAtomically(`${root}bench/results-structured.json`, JSON.stringify({ createdAt: new Date().toISOString(), results }, null, 2) + '\n');

const pct = (x) => `${(100 * x).toFixed(1)}%`;
for (const r of results) {
  console.log(`\n${r.model} (${r.samples} pruning samples, ${1000 - r.samples} held out):\n`);
  console.log(`| | held-out accuracy | rd (held out) | parameters | MACs (dense runtime) | MACs by nonzeros | ${r.latency.map((l) => `${l.runtime.split(' ')[0]} b${l.batch}`).join(' | ')} |`);
  console.log(`|---|---|---|---|---|---|${r.latency.map(() => '---').join('|')}|`);
  r.variants.forEach((v, k) =>
    console.log(`| ${v.name} | ${pct(v.accuracy)} | ${v.relativeDiscrepancy.toFixed(3)} | ${v.params} | ${v.macs} | ${v.sparseMacs} | ${r.latency.map((l) => (k === 0 ? `${l.medians[0].toFixed(3)} ms` : `×${(l.medians[k] / l.medians[0]).toFixed(2)}`)).join(' | ')} |`),
  );
}
