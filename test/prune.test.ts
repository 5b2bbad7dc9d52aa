// The parallel and cascade schedulers on small networks with a known sparse structure.
import { afterAll, describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { InputError } from '../src/index.js';
import { gpuForTests } from './helpers/gpu.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

/** A dense layer whose kernel is sparse (`keep` of the entries nonzero) plus small dense noise. */
function denseLayer(name: string, inputs: number, units: number, seed: number, activation: DenseLayer['activation'], keep = 0.3, noise = 0.005): DenseLayer {
  const values = gaussianMatrix(inputs, units, seed);
  const pick = mulberry32(seed + 1);
  const kernel = Float32Array.from(values, (v) => (pick() < keep ? v : noise * v) / Math.sqrt(inputs * keep));
  const bias = Float32Array.from(gaussianMatrix(1, units, seed + 2), (v) => 0.1 * v);
  return { kind: 'dense', name, kernel, inputs, units, bias, activation };
}

function mlp(): Network {
  return {
    inputShape: [16],
    layers: [denseLayer('hidden_1', 16, 24, 10, 'relu'), denseLayer('hidden_2', 24, 20, 20, 'relu'), denseLayer('logits', 20, 4, 30, 'softmax')],
  };
}

function cnn(): Network {
  const kernel = Float32Array.from(gaussianMatrix(3 * 3 * 2, 4, 40), (v, i) => (i % 3 === 0 ? v / 3 : 0.02 * v));
  const conv: Conv2DLayer = { kind: 'conv2d', name: 'conv', kernel, kernelSize: [3, 3], inChannels: 2, filters: 4, bias: new Float32Array([0.05, -0.05, 0.1, 0]), strides: [1, 1], padding: 'same', activation: 'relu' };
  return {
    inputShape: [6, 6, 2],
    layers: [conv, { kind: 'maxpool2d', name: 'pool', poolSize: [2, 2], strides: [2, 2], padding: 'valid' }, { kind: 'flatten', name: 'flatten' }, denseLayer('logits', 36, 3, 50, 'linear')],
  };
}

const samples = (count: number, perSample: number, seed: number) => ({ data: Float32Array.from(gaussianMatrix(count, perSample, seed)), count });

function totalNonzeros(network: Network): number {
  let n = 0;
  for (const l of network.layers) if (l.kind === 'dense' || l.kind === 'conv2d') for (const v of [...l.kernel, ...(l.bias ?? [])]) if (v !== 0) n++;
  return n;
}

describe.skipIf(!gpu)('pruning a whole network', () => {
  const data = samples(400, 16, 1);

  for (const mode of ['parallel', 'cascade'] as const) {
    it(`${mode}: cuts nonzeros at a small output discrepancy, within the consistency bound`, async () => {
      const network = mlp();
      const before = JSON.stringify(network.layers.map((l) => ('kernel' in l ? Array.from(l.kernel) : l.kind)));
      const result = await pruneNetwork(network, data, { mode, epsilonGain: 0.02, gpu: gpu! });
      expect(JSON.stringify(network.layers.map((l) => ('kernel' in l ? Array.from(l.kernel) : l.kind)))).toBe(before); // input untouched
      expect(result.layers.map((l) => l.name)).toEqual(['hidden_1', 'hidden_2', 'logits']);
      expect(result.nonzerosAfter).toBeLessThan(0.7 * result.nonzerosBefore);
      expect(result.nonzerosAfter).toBe(totalNonzeros(result.network));
      expect(result.relativeDiscrepancy).toBeLessThan(0.05);
      for (const layer of result.layers) {
        expect(layer.converged).toBe(true);
        expect(layer.achievedDiscrepancy).toBeLessThanOrEqual(layer.consistencyBound! * 1.01 + 1e-6);
        // Feasible: later cascade layers get ε = γ·‖(WᵀX̂ − Y)_Ω‖ > 0, so W itself is feasible.
        expect(layer.epsilon).toBeGreaterThan(0);
        expect(layer.constraintResidual).toBeLessThanOrEqual(layer.epsilon * 1.01);
      }
      // The report's discrepancy is what the pruned network computes.
      const z = forwardCpu(network, data.data, data.count).logits;
      const zHat = forwardCpu(result.network, data.data, data.count).logits;
      let num = 0;
      let den = 0;
      for (let i = 0; i < z.length; i++) {
        num += (z[i] - zHat[i]) ** 2;
        den += z[i] ** 2;
      }
      expect(Math.sqrt(num / den)).toBeCloseTo(result.relativeDiscrepancy, 4);
    });
  }

  it('leaves excluded layers untouched and names unknown ones', async () => {
    const network = mlp();
    const result = await pruneNetwork(network, data, { mode: 'parallel', exclude: ['hidden_2'], gpu: gpu!, solver: { maxIterations: 500 } });
    expect(result.layers.map((l) => l.name)).toEqual(['hidden_1', 'logits']);
    expect(Array.from((result.network.layers[1] as DenseLayer).kernel)).toEqual(Array.from((network.layers[1] as DenseLayer).kernel));
    await expect(pruneNetwork(network, data, { exclude: ['nope'], gpu: gpu! })).rejects.toThrow(InputError);
    await expect(pruneNetwork(network, data, { exclude: ['nope'], gpu: gpu! })).rejects.toThrow(/'nope'.*hidden_1, hidden_2, logits/);
  });

  it('prunes a conv layer through its image patches, the same on the GPU and the float64 CPU', async () => {
    const images = samples(40, 6 * 6 * 2, 2);
    const onGpu = await pruneNetwork(cnn(), images, { mode: 'parallel', epsilonGain: 0.03, gpu: gpu! });
    const onCpu = await pruneNetwork(cnn(), images, { mode: 'parallel', epsilonGain: 0.03, backend: 'cpu' });
    const [conv] = onGpu.layers;
    expect(conv.kind).toBe('conv2d');
    expect(conv.samples).toBe(40 * 6 * 6); // one row per output position
    expect(conv.inputs).toBe(3 * 3 * 2 + 1);
    expect(conv.nonzerosAfter).toBeLessThan(conv.nonzerosBefore);
    for (const [g, c] of onGpu.layers.map((l, i) => [l, onCpu.layers[i]] as const)) {
      expect(Math.abs(g.nonzerosAfter - c.nonzerosAfter)).toBeLessThanOrEqual(Math.max(2, 0.02 * c.nonzerosAfter));
      expect(g.converged && c.converged).toBe(true);
    }
    expect(Math.abs(onGpu.relativeDiscrepancy - onCpu.relativeDiscrepancy)).toBeLessThan(5e-3);
  });
});

describe('cascade: a layer that no pruned layer feeds keeps its trained weights', () => {
  // Two branches read the input (attention's Q and K read one tensor): pruning the first leaves
  // the second's input as trained, where the γ rule gives ε = γ·‖WᵀX − Y‖ = 0.
  const branches = (): Network => ({
    inputShape: [12],
    layers: [
      { ...denseLayer('left', 12, 10, 60, 'relu'), from: ['input'] },
      { ...denseLayer('right', 12, 10, 70, 'relu'), from: ['input'] },
      { kind: 'concat', name: 'join', from: ['left', 'right'] },
      denseLayer('logits', 20, 3, 80, 'linear'),
    ],
  });
  const data = samples(120, 12, 3);

  it('is not solved and is named in keptAsTrained; the layer after both is pruned by the γ rule', async () => {
    const network = branches();
    const result = await pruneNetwork(network, data, { mode: 'cascade', epsilonGain: 0.05, backend: 'cpu', solver: { maxIterations: 3000 } });
    expect(result.layers.map((l) => l.name)).toEqual(['left', 'logits']);
    expect(result.keptAsTrained).toEqual(['right']);
    expect(Array.from((result.network.layers[1] as DenseLayer).kernel)).toEqual(Array.from((network.layers[1] as DenseLayer).kernel));
    expect(result.layers[0].nonzerosAfter).toBeLessThan(result.layers[0].nonzerosBefore);
    expect(result.layers[1].epsilon).toBeGreaterThan(0);
    // Parallel mode has no γ rule: every layer is solved.
    const parallel = await pruneNetwork(network, data, { mode: 'parallel', epsilonGain: 0.05, backend: 'cpu', solver: { maxIterations: 3000 } });
    expect(parallel.layers.map((l) => l.name)).toEqual(['left', 'right', 'logits']);
    expect(parallel.keptAsTrained).toBeUndefined();
  });

  it('a per-layer gain prunes it, with ε = gain·‖Y‖ as a first layer', async () => {
    const result = await pruneNetwork(branches(), data, { mode: 'cascade', epsilonGain: 0.05, layerEpsilonGains: { right: 0.05 }, backend: 'cpu', solver: { maxIterations: 3000 } });
    expect(result.layers.map((l) => l.name)).toEqual(['left', 'right', 'logits']);
    expect(result.keptAsTrained).toBeUndefined();
    const target = forwardCpu(branches(), data.data, data.count, { collect: true }).collected.get(1)!.target;
    expect(result.layers[1].epsilon).toBeCloseTo(0.05 * Math.hypot(...target), 6);
    expect(result.layers[1].nonzerosAfter).toBeLessThan(result.layers[1].nonzerosBefore);
  });
});
