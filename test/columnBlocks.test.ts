// A layer solved as blocks of its outputs (PruneOptions.columnBlocks): each block within
// ε_b = g·‖Y_b‖, so the blocks together meet the layer's own ε = g·‖Y‖ (Σ ε_b² = ε²) at a little
// more ℓ1 (the split program is a restriction of the whole one).
import { describe, expect, it } from 'vitest';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { joinLayerParts, layerParts } from '../src/prune/layerPrograms.js';
import { InputError, solveLayer } from '../src/index.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCli } from './helpers/cli.js';

function denseLayer(name: string, inputs: number, units: number, seed: number, activation: DenseLayer['activation']): DenseLayer {
  const pick = mulberry32(seed + 1);
  const kernel = Float32Array.from(gaussianMatrix(inputs, units, seed), (v) => (pick() < 0.3 ? v : 0.005 * v) / Math.sqrt(inputs * 0.3));
  return { kind: 'dense', name, kernel, inputs, units, bias: Float32Array.from(gaussianMatrix(1, units, seed + 2), (v) => 0.1 * v), activation };
}

const mlp = (): Network => ({ inputShape: [16], layers: [denseLayer('hidden', 16, 24, 10, 'relu'), denseLayer('logits', 24, 7, 30, 'linear')] });
const samples = { data: Float32Array.from(gaussianMatrix(300, 16, 5)), count: 300 };
const options = { mode: 'parallel' as const, backend: 'cpu' as const, epsilonGain: 0.05 };

describe('layerParts and joinLayerParts', () => {
  it('split a dense layer into blocks of outputs (uneven) and join them back to the same kernel and bias', () => {
    const layer = denseLayer('d', 5, 7, 1, 'relu');
    const parts = layerParts(layer, 3);
    expect(parts.map((p) => [p.outStart, (p.layer as DenseLayer).units, p.inStart])).toEqual([[0, 2, null], [2, 3, null], [5, 2, null]]);
    expect(Array.from(parts[1].layer.kernel.subarray(0, 3))).toEqual(Array.from(layer.kernel.subarray(2, 5))); // row 0, outputs 2..4
    const copy = { ...layer, kernel: new Float32Array(layer.kernel.length), bias: new Float32Array(7) };
    joinLayerParts(copy, parts);
    expect(copy.kernel).toEqual(layer.kernel);
    expect(copy.bias).toEqual(layer.bias);
  });

  it('keep a grouped conv as its groups (input channel slices), whatever the blocks asked', () => {
    const conv: Conv2DLayer = { kind: 'conv2d', name: 'g', kernel: Float32Array.from({ length: 3 * 3 * 2 * 4 }, (_, i) => i), kernelSize: [3, 3], inChannels: 4, filters: 4, bias: null, strides: [1, 1], padding: 'same', activation: 'relu', groups: 2 };
    const parts = layerParts(conv, 4);
    expect(parts.map((p) => [p.layer.name, p.outStart, p.inStart, (p.layer as Conv2DLayer).inChannels])).toEqual([['g/group 0', 0, 0, 2], ['g/group 1', 2, 2, 2]]);
    const copy = { ...conv, kernel: new Float32Array(conv.kernel.length) };
    joinLayerParts(copy, parts);
    expect(copy.kernel).toEqual(conv.kernel);
  });
});

describe('pruneNetwork with columnBlocks', () => {
  it('meets each layer’s own bound, costs little ℓ1, and each block is the program solveLayer solves on those columns', async () => {
    const whole = await pruneNetwork(mlp(), samples, options);
    const split = await pruneNetwork(mlp(), samples, { ...options, columnBlocks: 3 });
    const original = forwardCpu(mlp(), samples.data, samples.count, { collect: true });
    for (const [i, name] of ['hidden', 'logits'].entries()) {
      const [w, s] = [whole.layers[i], split.layers[i]];
      expect(s.columnBlocks).toBe(3);
      // Σ ε_b² = ε²: the same bound for the layer, met by the blocks together.
      expect(Math.abs(s.epsilon / w.epsilon - 1)).toBeLessThan(1e-9);
      expect(s.constraintResidual).toBeLessThanOrEqual(s.epsilon * 1.001);
      expect(s.converged).toBe(true);
      // A restriction of the whole program: no less ℓ1 (within the solver's gap), not much more.
      const l1 = (net: Network) => (net.layers[i] as DenseLayer).kernel.reduce((a, v) => a + Math.abs(v), 0) + (net.layers[i] as DenseLayer).bias!.reduce((a, v) => a + Math.abs(v), 0);
      expect(l1(split.network)).toBeGreaterThan(l1(whole.network) * (1 - 2e-2));
      expect(l1(split.network)).toBeLessThan(l1(whole.network) * 1.1);
      // Block 1 (outputs 8..15 of hidden, 2..4 of logits) against solveLayer on those columns alone.
      const layer = mlp().layers[i] as DenseLayer;
      const [from, to] = [Math.round(layer.units / 3), Math.round((2 * layer.units) / 3)];
      const c = [...original.collected.values()][i];
      const Y = { rows: samples.count, cols: to - from, data: Float64Array.from({ length: samples.count * (to - from) }, (_, k) => c.target[Math.floor(k / (to - from)) * layer.units + from + (k % (to - from))]) };
      const norm = Math.sqrt(Y.data.reduce((a, v) => a + v * v, 0));
      const direct = await solveLayer({ X: { rows: samples.count, cols: layer.inputs, data: c.input }, Y, activation: c.program, epsilon: 0.05 * norm, backend: 'cpu' });
      const kernel = (split.network.layers[i] as DenseLayer).kernel;
      for (let r = 0; r < layer.inputs; r++)
        for (let m = from; m < to; m++) expect(kernel[r * layer.units + m]).toBeCloseTo(direct.weights.data[r * (to - from) + m - from], 5);
      expect(Object.keys(split.solverStates)).toContain(`${name}/columns ${from}-${to - 1}`);
    }
  });

  it('refuses blocks that are not a whole number ≥ 1, and blocks with structured Net-Trim', async () => {
    await expect(pruneNetwork(mlp(), samples, { ...options, columnBlocks: 0 })).rejects.toThrow(InputError);
    await expect(pruneNetwork(mlp(), samples, { ...options, columnBlocks: 1.5 })).rejects.toThrow(/columnBlocks: expected a whole number/);
    await expect(pruneNetwork(mlp(), samples, { ...options, columnBlocks: 2, structure: 'inputs' })).rejects.toThrow(/structure 'inputs'.*cannot be split/);
  });
});

describe('net-trim prune --column-blocks', () => {
  const fixtures = fileURLToPath(new URL('./fixtures/', import.meta.url));
  it('solves each layer as that many programs (report.json) and refuses it with --structured, writing nothing', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nt-blocks-'));
    try {
      const base = ['prune', join(fixtures, 'mnist-mlp/model.json'), '--samples', join(fixtures, 'mnist-samples.npy'), '--max-samples', '40', '--max-iterations', '400', '--backend', 'cpu', '--mode', 'parallel', '--column-blocks', '2', '--json'];
      const run = await runCli([...base, '--out', join(root, 'out')]);
      expect(run.code, run.stderr).toBe(0);
      const report = JSON.parse(run.stdout);
      expect(report.layers.map((l: { columnBlocks?: number }) => l.columnBlocks)).toEqual([2, 2, 2, 2].slice(0, report.layers.length));
      const refused = await runCli([...base, '--structured', '--out', join(root, 'refused')]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/columnBlocks: structure 'inputs'/);
      const bad = await runCli([...base.slice(0, -3), '--column-blocks', '0', '--json', '--out', join(root, 'bad')]);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toMatch(/--column-blocks/);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
