import { readFileSync } from 'node:fs';
import { acquireGpu, forwardCpu, loadModelFile, parseNpy, pruneNetwork } from '../dist/node/index.js';
import { labelAccuracy } from './lib.mjs';
const root = new URL('../', import.meta.url).pathname;
const digits = parseNpy(readFileSync(`${root}test/fixtures/mnist-samples.npy`), 's').data;
const labels = parseNpy(readFileSync(`${root}test/fixtures/mnist-labels.npy`), 'l').data;
const model = await loadModelFile(`${root}test/fixtures/torch/convnext.onnx`);
function fold(net) {
  const layers = [];
  for (const l of net.layers) {
    const prev = layers[layers.length - 1];
    if (l.kind === 'batchnorm' && prev?.kind === 'conv2d' && !l.from) {
      const f = prev.filters;
      layers[layers.length - 1] = { ...prev, kernel: prev.kernel.map((v, i) => v * l.scale[i % f]), bias: Float32Array.from({ length: f }, (_, c) => (prev.bias?.[c] ?? 0) * l.scale[c] + l.offset[c]) };
      // readers of l read prev now
      const name = l.name, to = prev.name;
      net.layers.forEach((m) => { if (m.from) m.from = m.from.map((n) => (n === name ? to : n)); });
      continue;
    }
    layers.push(l);
  }
  return { ...net, layers };
}
const folded = fold(structuredClone(model.network));
const gpu = await acquireGpu().catch(() => null);
const count = 80, per = 784;
const held = digits.subarray(count * per);
for (const [label, net] of [['plain', model.network], ['folded', folded]]) {
  const r = await pruneNetwork(net, { data: digits.subarray(0, count * per), count }, { mode: 'cascade', epsilonGain: 0.05, exclude: ['/features/features.0/Conv'], backend: gpu ? 'webgpu' : 'cpu', gpu: gpu ?? undefined, solver: { maxIterations: 1000 } });
  const acc = (n) => labelAccuracy(forwardCpu(n, held, 1000 - count).logits, labels, count);
  const keep = new Map(r.layers.map((l) => [l.name, l.nonzerosAfter]));
  console.log(label, r.nonzerosBefore, '->', r.nonzerosAfter, acc(net), '->', acc(r.network), r.layers.map((l) => `${l.program}:${l.iterations}`).join(' '));
}
