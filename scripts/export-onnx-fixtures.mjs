#!/usr/bin/env node
// Writes test/fixtures/mnist-{mlp,cnn}.onnx: the TF.js fixtures converted by networkToOnnx, so
// the ONNX path is tested on the same trained networks (run after `npm run build`).
import { writeFileSync } from 'node:fs';
import { loadTfjsModelFile, networkToOnnx } from '../dist/node/index.js';

for (const name of ['mnist-mlp', 'mnist-cnn']) {
  const { network } = await loadTfjsModelFile(`test/fixtures/${name}/model.json`);
  const bytes = networkToOnnx(network, { producer: 'net-trim-webgpu scripts/export-onnx-fixtures.mjs' });
  writeFileSync(`test/fixtures/${name}.onnx`, bytes);
  console.log(`test/fixtures/${name}.onnx: ${bytes.length} bytes`);
}
