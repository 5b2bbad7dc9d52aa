// Writes test/fixtures/keras-onnx/*.onnx: Keras 3 models trained on the fixtures' MNIST split
// (mnist-split.mjs: 6000 training digits, 3000 test digits) and exported as Keras users do,
// `model.export(path, format="onnx")` with the torch backend: an NHWC input [batch, 28, 28, 1],
// each conv between Transposes to NCHW and back, a float Cast after nearly every op, biases
// added channels-last, BatchNormalization as Sub, Mul, Add. An MLP; a CNN (BatchNormalization,
// GlobalAveragePooling2D); a functional model (a DepthwiseConv2D ReLU6 branch added back, a
// Concatenate, AveragePooling2D, Flatten, a GELU Dense); a text model of any length on the digits
// as 49 token ids (Input(shape=(None,)): its sequence axis open; Embedding, whose export wraps
// negative ids, Conv1D, GlobalAveragePooling1D).
//   TORCH_PYTHON=/path/to/python node scripts/keras-onnx-fixtures.mjs [name…]   (only those; fixtures.json keeps the others)
// TORCH_PYTHON: a Python with keras 3, torch ≥ 2.1 and onnx (here: the venv of torch2-fixtures.mjs
// with `pip install keras`). CI does not run it.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digitTokens, DIGIT_TOKENS, mnistSplit, npy } from './mnist-split.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { trainSet, testSet } = mnistSplit();
const dir = mkdtempSync(join(tmpdir(), 'keras-onnx-fixtures-'));
try {
  for (const [name, set] of [['train', trainSet], ['test', testSet]]) {
    writeFileSync(join(dir, `${name}-x.npy`), npy(set.x, [set.count, 784], '<f4'));
    writeFileSync(join(dir, `${name}-y.npy`), npy(set.labels, [set.count], '<i4'));
    writeFileSync(join(dir, `${name}-tokens.npy`), npy(digitTokens(set.x, set.count), [set.count, DIGIT_TOKENS], '<i4'));
  }
  const python = process.env.TORCH_PYTHON ?? 'python3';
  const run = spawnSync(python, [join(ROOT, 'scripts', 'keras_onnx_fixtures.py'), dir, join(ROOT, 'test', 'fixtures', 'keras-onnx'), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
