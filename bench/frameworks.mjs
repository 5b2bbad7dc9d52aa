// The real-framework fixtures (test/fixtures/torch: PyTorch exports, and torch2/resnext.onnx; test/fixtures/keras:
// tfjs-layers models; test/fixtures/keras-onnx: Keras 3's ONNX exports), pruned as the tests prune them, beside magnitude pruning at the same
// per-layer nonzero counts (no retraining for either). Accuracy is measured on the digits of
// mnist-samples.npy the pruning did not see. Writes bench/results-frameworks.json and prints the
// markdown table of docs/results.md.
//   node bench/frameworks.mjs            (after npm run build; WebGPU when an adapter is found)
//   node bench/frameworks.mjs vit ...    (only the models whose file names contain these: their rows replace theirs in the results)
import { readFileSync, writeFileSync } from 'node:fs';
import { acquireGpu, forwardCpu, loadModelFile, parseNpy, pruneNetwork, samplesForModel } from '../dist/node/index.js';
import { labelAccuracy, magnitudePruned } from './lib.mjs';

const root = new URL('../', import.meta.url).pathname;
const allDigits = parseNpy(readFileSync(`${root}test/fixtures/mnist-samples.npy`), 'samples').data;
const labels = parseNpy(readFileSync(`${root}test/fixtures/mnist-labels.npy`), 'labels').data;
// The same digits as 49 token ids each, for the text models (nn.Embedding, Keras's Embedding).
const tokenArray = parseNpy(readFileSync(`${root}test/fixtures/text-samples.npy`), 'text-samples');

// model, mode, pruning samples, ε gain, excluded layers (as test/torchFixtures.test.ts and kerasFixtures.test.ts).
const runs = [
  ['torch/resnet.onnx', 'cascade', 40, 0.05, ['/stem/stem.0/Conv']],
  ['torch/mobilenet.onnx', 'cascade', 80, 0.02, ['/features/features.0/features.0.0/Conv']],
  ['torch/mlp-batchnorm.onnx', 'cascade', 300, 0.05, []],
  ['torch/mlp-activations.onnx', 'parallel', 300, 0.03, []],
  ['torch/efficientnet.onnx', 'cascade', 100, 0.05, ['/features/features.0/features.0.0/Conv']],
  ['torch/mlp-gelu.onnx', 'parallel', 300, 0.03, []],
  ['torch/shufflenet.onnx', 'cascade', 80, 0.05, ['/features/features.0/features.0.0/Conv']],
  ['torch/convnext.onnx', 'cascade', 80, 0.05, ['/features/features.0/Conv']],
  ['torch/conv1d.onnx', 'cascade', 200, 0.05, []],
  ['torch/vit.onnx', 'cascade', 100, 0.05, []],
  ['torch/sequence-transformer.onnx', 'cascade', 100, 0.1, []],
  // A ResNeXt (grouped 3×3 convs) trained and exported by PyTorch 2 (scripts/resnext_fixture.py).
  ['torch2/resnext.onnx', 'cascade', 100, 0.05, ['/stem/stem.0/stem.0.0/Conv']],
  // A ResNet in float16 (model.half(), PyTorch 2's default exporter: scripts/half_fixture.py).
  ['torch2/half-resnet.onnx', 'cascade', 100, 0.05, []],
  ['keras/functional/model.json', 'cascade', 60, 0.03, []],
  ['keras/activations/model.json', 'parallel', 300, 0.03, []],
  ['keras/sequence/model.json', 'cascade', 200, 0.05, []],
  ['torch/text-bag.onnx', 'cascade', 300, 0.05, []],
  ['torch/text-cnn.onnx', 'cascade', 200, 0.05, []],
  ['torch/text-transformer.onnx', 'cascade', 100, 0.05, []],
  ['torch/text-gpt.onnx', 'cascade', 100, 0.05, []],
  ['keras/text/model.json', 'cascade', 300, 0.05, []],
  // Keras 3 models exported to ONNX (NHWC, torch backend: scripts/keras-onnx-fixtures.mjs).
  ['keras-onnx/cnn.onnx', 'cascade', 100, 0.05, ['/Conv']],
  ['keras-onnx/functional.onnx', 'cascade', 100, 0.05, ['/Conv']],
];


const only = process.argv.slice(2);
const chosen = only.length ? runs.filter(([file]) => only.some((name) => file.split('/').pop().startsWith(`${name}.`) || file.includes(`/${name}/`))) : runs;
const gpu = await acquireGpu().catch(() => null);
const results = [];
for (const [file, mode, count, gain, exclude] of chosen) {
  const model = await loadModelFile(`${root}test/fixtures/${file}`);
  // conv1d reads a digit as the sequence [28, 28] (NCL): the network runs it channels-last (as
  // keras/sequence reads it, NLC: the digits' own order).
  const digits = file.includes('text') ? samplesForModel(tokenArray, model, 'text-samples').data
    : model.imageLayout === 'ncl' ? samplesForModel({ shape: [1000, 28, 28], dtype: 'float32', data: allDigits }, model, 'digits').data : allDigits;
  const perSample = digits.length / 1000;
  const started = performance.now();
  const result = await pruneNetwork(model.network, { data: digits.subarray(0, count * perSample), count }, { mode, epsilonGain: gain, exclude, backend: gpu ? 'webgpu' : 'cpu', gpu: gpu ?? undefined, solver: { maxIterations: 1000 } });
  const seconds = (performance.now() - started) / 1000;
  const heldOut = digits.subarray(count * perSample);
  const held = 1000 - count;
  const acc = (network) => labelAccuracy(forwardCpu(network, heldOut, held).logits, labels, count);
  const keep = new Map(result.layers.map((l) => [l.name, l.nonzerosAfter]));
  const row = {
    model: file,
    mode,
    samples: count,
    gain,
    excluded: exclude,
    nonzerosBefore: result.nonzerosBefore,
    nonzerosAfter: result.nonzerosAfter,
    relativeDiscrepancy: result.relativeDiscrepancy,
    accuracyBefore: acc(model.network),
    accuracyAfter: acc(result.network),
    magnitudeAccuracy: acc(magnitudePruned(model.network, keep)),
    seconds,
    layers: result.layers.map((l) => ({ name: l.name, program: l.program, nonzerosBefore: l.nonzerosBefore, nonzerosAfter: l.nonzerosAfter, iterations: l.iterations, converged: l.converged, seconds: l.seconds })),
    backend: gpu ? gpu.adapterDescription : 'cpu',
  };
  results.push(row);
  console.error(`${file}: ${row.nonzerosBefore} -> ${row.nonzerosAfter}, accuracy ${row.accuracyBefore} -> ${row.accuracyAfter} (magnitude ${row.magnitudeAccuracy}), ${seconds.toFixed(1)} s`);
}
gpu?.destroy();
if (only.length) {
  // The other models' rows as they were, in the order of `runs`.
  const previous = JSON.parse(readFileSync(`${root}bench/results-frameworks.json`, 'utf8')).results;
  const row = (file) => results.find((r) => r.model === file) ?? previous.find((r) => r.model === file);
  results.splice(0, results.length, ...runs.map(([file]) => row(file)).filter(Boolean));
}
writeFileSync(`${root}bench/results-frameworks.json`, `${JSON.stringify({ date: new Date().toISOString(), results }, null, 2)}\n`);
const pct = (x) => `${(100 * x).toFixed(1)}%`;
console.log('| model | mode, samples, ε gain | nonzeros | rd | held-out accuracy | magnitude pruning, same counts | time | iterations per layer |');
console.log('|---|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(
    `| ${r.model} | ${r.mode}, ${r.samples}, ${r.gain} | ${r.nonzerosBefore} → ${r.nonzerosAfter} (${pct(r.nonzerosAfter / r.nonzerosBefore)}) | ${r.relativeDiscrepancy.toFixed(3)} | ${pct(r.accuracyBefore)} → ${pct(r.accuracyAfter)} | ${pct(r.magnitudeAccuracy)} | ${r.seconds.toFixed(1)} s | ${r.layers.map((l) => `${l.iterations}${l.converged ? '' : '*'}`).join(', ')} |`,
  );
