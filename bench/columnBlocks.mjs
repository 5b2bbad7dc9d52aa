#!/usr/bin/env node
// Issue 18, item 6: one layer solved whole (ε = g·‖Y‖) against the same layer split into B blocks
// of output columns, each with ε_b = g·‖Y_b‖ (separable programs a machine each could take).
// Σ ε_b² = g²·Σ‖Y_b‖² = ε², so the blocks' answers together meet the whole layer's bound; they are
// a restriction of it (each block may not borrow slack from another), so their ℓ1 can only be
// larger. This measures by how much. Usage (after npm run build):
//   node bench/columnBlocks.mjs [--blocks 1,2,4,8] [--backend cpu|webgpu] [--json out.json]
import { Command } from 'commander';
import { writeAtomically } from './lib.mjs';
import { acquireGpu, forwardCpu, loadModelFile, readNpyFile, solveLayer } from '../dist/node/index.js';
import { programInput } from '../dist/node/internals.js';

const opts = new Command()
  .option('--layers <list>', 'model:layer:images, comma-separated', 'mnist-mlp:dense_2:1000,mnist-mlp:dense_1:1000,mnist-cnn:conv_2:20')
  .option('--blocks <list>', 'block counts', '1,2,4,8')
  .option('--epsilon-gain <g>', 'g', parseFloat, 0.05)
  .option('--backend <backend>', 'cpu or webgpu', 'cpu')
  .option('--json <file>', 'write results as JSON')
  .parse()
  .opts();

const gpu = opts.backend === 'webgpu' ? await acquireGpu() : undefined;
const samples = await readNpyFile(new URL('../test/fixtures/mnist-samples.npy', import.meta.url).pathname);

async function layerProgram(model, name, count) {
  const { network } = await loadModelFile(new URL(`../test/fixtures/${model}/model.json`, import.meta.url).pathname);
  const input = Float32Array.from(samples.data.subarray(0, count * 784));
  for (const [index, c] of forwardCpu(network, input, count, { collect: true }).collected) {
    if (c.name !== name) continue;
    const layer = network.layers[index];
    const M = layer.kind === 'dense' ? layer.units : layer.filters;
    return { X: programInput(layer, c.input, c.inputShape, count), Y: { rows: c.target.length / M, cols: M, data: c.target }, activation: c.program, bias: layer.bias !== null };
  }
  throw new Error(`${model}: no prunable layer ${name}`);
}

/** Columns [from, to) of a row-major rows×cols matrix. */
function columns(m, from, to) {
  const data = new Float64Array(m.rows * (to - from));
  for (let r = 0; r < m.rows; r++) for (let c = from; c < to; c++) data[r * (to - from) + c - from] = m.data[r * m.cols + c];
  return { rows: m.rows, cols: to - from, data };
}

const norm = (values) => Math.sqrt(values.reduce((s, v) => s + v * v, 0));
const results = [];
for (const spec of opts.layers.split(',')) {
  const [model, name, images] = spec.split(':');
  const program = await layerProgram(model, name, Number(images));
  const M = program.Y.cols;
  for (const B of opts.blocks.split(',').map(Number)) {
    if (B > M) continue;
    let [l1, nonzeros, residualSq, iterations, seconds, converged] = [0, 0, 0, 0, 0, true];
    const bounds = Array.from({ length: B + 1 }, (_, b) => Math.round((b * M) / B));
    for (let b = 0; b < B; b++) {
      const Y = columns(program.Y, bounds[b], bounds[b + 1]);
      const epsilon = opts.epsilonGain * norm(Y.data);
      const r = (await solveLayer({ ...program, Y, epsilon, backend: opts.backend, gpu })).report;
      l1 += r.l1;
      nonzeros += r.nonzeros;
      residualSq += r.constraintResidual ** 2;
      iterations = Math.max(iterations, r.iterations);
      seconds += r.seconds;
      converged &&= r.converged;
    }
    const entry = { layer: `${model} ${name} (${images} images)`, blocks: B, l1, nonzeros, residualOverEpsilon: Math.sqrt(residualSq) / (opts.epsilonGain * norm(program.Y.data)), maxIterations: iterations, seconds, converged };
    results.push(entry);
    console.error(JSON.stringify(entry));
  }
}
gpu?.destroy();

const fmt = (v, d = 4) => Number(v).toPrecision(d);
console.log(`ε gain ${opts.epsilonGain}, backend ${opts.backend}; ℓ1 and nonzeros summed over the blocks, ‖(ŴᵀX − Y)_Ω‖ over the whole layer ÷ ε.\n`);
console.log('| layer | blocks | ℓ1 | ℓ1 ÷ whole | nonzeros | ÷ whole | residual ÷ ε | iterations (slowest block) | seconds (sum) |');
console.log('|---|---|---|---|---|---|---|---|---|');
for (const r of results) {
  const whole = results.find((w) => w.layer === r.layer && w.blocks === 1);
  console.log(`| ${r.layer} | ${r.blocks} | ${fmt(r.l1, 6)} | ${whole ? fmt(r.l1 / whole.l1) : ''} | ${r.nonzeros} | ${whole ? fmt(r.nonzeros / whole.nonzeros) : ''} | ${fmt(r.residualOverEpsilon)} | ${r.maxIterations}${r.converged ? '' : ' (not converged)'} | ${fmt(r.seconds, 3)} |`);
}
if (opts.json) writeAtomically(opts.json, JSON.stringify({ backend: opts.backend, epsilonGain: opts.epsilonGain, results }, null, 2) + '\n');
