// Writes test/fixtures/torch2/*.onnx and their *.onnx.data: fixture architectures (torch_models.py:
// a ResNet, a ConvNeXt, a 1-D CNN, a ViT, a text CNN and a nanoGPT-style decoder; untrained,
// seeded) exported by PyTorch 2's default exporter as a user calls it, `torch.onnx.export(model,
// (x,), path, dynamo=True)`: opset 18, a fixed batch of 1, folded constants (a class token, a
// causal mask as bool), and every weight in the external data file beside the model.
//   TORCH_PYTHON=/path/to/python node scripts/torch2-fixtures.mjs
// TORCH_PYTHON: a Python with torch ≥ 2.9, onnx and onnxscript (here: a venv with the wheel in
// /opt/wheels, `pip install torch-*.whl onnx onnxscript`). CI does not run it.
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const python = process.env.TORCH_PYTHON ?? 'python3';
const run = spawnSync(python, [join(ROOT, 'scripts', 'torch2_fixtures.py'), join(ROOT, 'test', 'fixtures', 'torch2')], { stdio: 'inherit' });
process.exitCode = run.status ?? 1;
