// Which of torchvision's architectures (classification, segmentation, a ViT) the ONNX import reads, as PyTorch exports them: each model
// (random weights, eval mode, a 3×64×64 input with a dynamic batch) is exported by
// bench/torchvision_export.py into a temporary folder, read by parseOnnxModel, run by forwardCpu
// (float64) beside onnxruntime on 2 random images, and written back by writeOnnxModel (which
// onnxruntime runs to the same logits). Models too large to commit as fixtures (up to 100 MB);
// nothing is kept but bench/results-torchvision-opset<N>.json (models named on the command line
// replace their rows) and the printed markdown table of the models run.
//   npm run build && node bench/torchvision.mjs [opset] [model ...]
// Needs /usr/bin/python3 with torch and torchvision (Debian: python3-torchvision; CI does not run it).
// Opset 'dynamo': PyTorch 2's default exporter as users call it (a batch of 1, the weights in an
// external data file), run by TORCH_PYTHON (a Python with torch ≥ 2.9, onnxscript and torchvision).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { forwardCpu, loadModelFile, prunableLayers } from '../dist/node/index.js';
import { writeAtomically } from './lib.mjs';

const MODELS = [
  'resnet18', 'resnet50', 'resnext50_32x4d', 'mobilenet_v2', 'mobilenet_v3_small', 'mobilenet_v3_large', 'efficientnet_b0', 'mnasnet0_5',
  'regnet_x_400mf', 'regnet_y_400mf', 'squeezenet1_1', 'shufflenet_v2_x0_5', 'densenet121', 'googlenet', 'convnext_tiny',
  // Segmentation (torchvision.models.segmentation; per-pixel scores upsampled bilinearly to the input).
  'fcn_resnet50', 'deeplabv3_mobilenet_v3_large', 'lraspp_mobilenet_v3_large',
  // A vision transformer (nn.MultiheadAttention), at 64×64: 4 patches of 32 and the class token.
  'vit_b_32',
  // At 224×224 (SIZE_OF): their adaptive average pools export only where they are the identity (7×7, 6×6).
  'alexnet', 'vgg11',
];
/** Models run at another size than SIZE. */
const SIZE_OF = { alexnet: 224, vgg11: 224 };
const [opsetArg, ...names] = process.argv.slice(2);
const opset = opsetArg === 'dynamo' ? 'dynamo' : Number(opsetArg ?? 13);
const python = opset === 'dynamo' ? (process.env.TORCH_PYTHON ?? 'python3') : '/usr/bin/python3';
// A dynamo export has a fixed batch of 1.
const BATCH = opset === 'dynamo' ? 1 : 2;
const models = names.length ? names : MODELS;
const SIZE = 64;
let size = SIZE; // the model's (SIZE_OF)
const root = new URL('../', import.meta.url).pathname;

/** A seeded uniform source in [-1, 1). */
function randoms(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  });
}

function nchwToNhwc(x, count, c, h, w) {
  const out = new Float32Array(x.length);
  for (let n = 0; n < count; n++) for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(n * h * w + i) * c + k] = x[(n * c + k) * h * w + i];
  return out;
}

function relativeError(a, b) {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** The model's outputs for BATCH images: logits, or a segmentation model's per-pixel scores in our NHWC order. */
async function onnxLogits(bytes, input) {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const result = (await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, [BATCH, 3, size, size]) }))[session.outputNames[0]];
  return result.dims.length === 4 ? nchwToNhwc(result.data, BATCH, ...result.dims.slice(1)) : result.data;
}

const dir = mkdtempSync(join(tmpdir(), 'torchvision-'));
const results = [];
try {
  for (const name of models) {
    size = SIZE_OF[name] ?? SIZE;
    const exported = spawnSync(python, [join(root, 'bench', 'torchvision_export.py'), dir, String(size), String(opset), name], { encoding: 'utf8' });
    if (exported.status !== 0) {
      results.push({ model: name, exported: false, error: exported.stderr.trim().split('\n').pop() });
      console.error(`${name}: export failed`);
      continue;
    }
    const [, parameters, bytesOnDisk] = exported.stdout.trim().split('\n').pop().split(' ');
    const path = join(dir, `${name}.onnx`);
    const row = { model: name, size, parameters: Number(parameters), onnxBytes: Number(bytesOnDisk), exported: true };
    const started = performance.now();
    try {
      // The file and its external data (dynamo), as `net-trim prune` reads them.
      const handle = await loadModelFile(path);
      row.importSeconds = (performance.now() - started) / 1000;
      const kinds = {};
      for (const l of handle.network.layers) {
        const kind = l.kind === 'activation' ? l.fn : l.kind;
        kinds[kind] = (kinds[kind] ?? 0) + 1;
      }
      row.layers = handle.network.layers.length;
      row.kinds = kinds;
      const prunable = prunableLayers(handle.network);
      row.prunable = prunable.length;
      row.programs = prunable.reduce((counts, t) => ({ ...counts, [t.program]: (counts[t.program] ?? 0) + 1 }), {});
      const nchw = randoms(BATCH * 3 * size * size, 7);
      const theirs = await onnxLogits(path, nchw);
      row.relativeError = relativeError(forwardCpu(handle.network, nchwToNhwc(nchw, BATCH, 3, size, size), BATCH).output, theirs);
      const [written] = await handle.serialize(handle.network);
      row.writtenRelativeError = relativeError(await onnxLogits(written.bytes, nchw), theirs);
    } catch (error) {
      row.error = String(error.message ?? error);
    }
    rmSync(path, { force: true });
    rmSync(`${path}.data`, { force: true });
    results.push(row);
    console.error(`${name}: ${row.error ?? `${row.layers} layers, ${row.prunable} prunable, relative error ${row.relativeError.toExponential(1)}`}`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
// Models named on the command line replace their rows in the results; the others keep theirs.
const resultsPath = join(root, 'bench', opset === 'dynamo' ? 'results-torchvision-dynamo.json' : `results-torchvision-opset${opset}.json`);
const kept = names.length && existsSync(resultsPath) ? JSON.parse(readFileSync(resultsPath, 'utf8')).results.filter((r) => !names.includes(r.model)) : [];
const all = [...kept, ...results].sort((a, b) => MODELS.indexOf(a.model) - MODELS.indexOf(b.model));
writeAtomically(resultsPath, `${JSON.stringify({ date: new Date().toISOString(), opset, size: SIZE, results: all }, null, 2)}\n`);
const short = (text) => (text.length > 160 ? `${text.slice(0, 157)}…` : text).replaceAll('|', '\\|');
console.log(`| model (opset ${opset}) | parameters | read | layers (prunable) | programs | float64 import ÷ onnxruntime (relative error) | written model ÷ onnxruntime |`);
console.log('|---|---|---|---|---|---|---|');
for (const r of results)
  console.log(
    r.error
      ? `| ${r.model} | ${r.parameters ?? ''} | no: ${short(r.error)} | | | | |`
      : `| ${r.model} | ${r.parameters} | yes | ${r.layers} (${r.prunable}) | ${Object.entries(r.programs).map(([k, v]) => `${k} ${v}`).join(', ')} | ${r.relativeError.toExponential(1)} | ${r.writtenRelativeError.toExponential(1)} |`,
  );
