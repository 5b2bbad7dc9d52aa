// networkCost: parameters, nonzeros and multiply-accumulates per layer, each expected number
// worked out by hand from the layer's shapes (not by the formula the code uses), and the bundled
// MNIST MLP's 52 650 weights in both of its formats.
import { describe, expect, it } from 'vitest';
import { formatCost, formatCount, networkCost } from '../src/network/cost.js';
import { networkGraph } from '../src/network/graph.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';

/** n nonzero values (1, 2, 3, …) but zeros at the given indices. */
function values(n: number, zeros: number[] = []): Float32Array {
  const v = Float32Array.from({ length: n }, (_, i) => i + 1);
  for (const i of zeros) v[i] = 0;
  return v;
}

const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

function dense(name: string, inputs: number, units: number, zeros: number[] = [], bias: Float32Array | null = values(units)): DenseLayer {
  return { kind: 'dense', name, inputs, units, kernel: values(inputs * units, zeros), bias, activation: 'relu' };
}

function conv(name: string, o: Partial<Conv2DLayer> & Pick<Conv2DLayer, 'kernelSize' | 'inChannels' | 'filters'>, zeros: number[] = []): Conv2DLayer {
  const groups = o.groups ?? 1;
  const size = o.kernelSize[0] * o.kernelSize[1] * (o.inChannels / groups) * o.filters;
  return { kind: 'conv2d', name, kernel: values(size, zeros), bias: null, strides: [1, 1], padding: 'valid', activation: 'linear', ...o };
}

describe('networkCost', () => {
  it('a dense chain: 4 → 3 (bias) → 2 (no bias)', () => {
    const network: Network = {
      inputShape: [4],
      layers: [dense('d1', 4, 3, [0, 5], Float32Array.of(0, 1, 2)), { kind: 'relu', name: 'r' }, dense('d2', 3, 2, [], null)],
    };
    const cost = networkCost(network);
    // d1: 4·3 kernel + 3 bias = 15 stored; 2 kernel zeros and 1 bias zero; 4·3 = 12 MACs, 10 by nonzeros.
    // d2: 3·2 = 6 stored, all nonzero, 6 MACs.
    expect(cost.layers).toEqual([
      { index: 0, name: 'd1', kind: 'dense', params: 15, nonzeroParams: 12, macs: 12, sparseMacs: 10 },
      { index: 2, name: 'd2', kind: 'dense', params: 6, nonzeroParams: 6, macs: 6, sparseMacs: 6 },
    ]);
    expect(cost.total).toEqual({ params: 21, nonzeroParams: 18, macs: 18, sparseMacs: 16 });
  });

  it("a 3×3 conv with padding 'same' and stride 2, then a batchnorm", () => {
    const network: Network = {
      inputShape: [5, 5, 3],
      layers: [
        conv('c', { kernelSize: [3, 3], inChannels: 3, filters: 4, strides: [2, 2], padding: 'same', bias: values(4) }, range(0, 8)),
        { kind: 'batchnorm', name: 'bn', scale: Float32Array.of(1, 0, 2, 3), offset: Float32Array.of(0.5, 0.5, 0, 0.5) },
      ],
    };
    expect(networkGraph(network).outputShapes[0]).toEqual([3, 3, 4]); // ceil(5 / 2) = 3
    const [c, bn] = networkCost(network).layers;
    // conv: 3·3·3·4 = 108 kernel weights (8 zero) + 4 biases; 3·3 output pixels × 108 = 972 MACs, × 100 = 900.
    expect(c).toMatchObject({ params: 112, nonzeroParams: 104, macs: 972, sparseMacs: 900 });
    // batchnorm over [3, 3, 4]: 4 scales + 4 offsets (one zero each); 36 values, 9 per channel × 3 nonzero scales.
    expect(bn).toEqual({ index: 1, name: 'bn', kind: 'batchnorm', params: 8, nonzeroParams: 6, macs: 36, sparseMacs: 27 });
  });

  it('a depthwise conv (groups = channels, channel multiplier 2)', () => {
    const network: Network = {
      inputShape: [6, 6, 8],
      layers: [conv('dw', { kernelSize: [3, 3], inChannels: 8, filters: 16, groups: 8 }, range(0, 16))],
    };
    const cost = networkCost(network);
    // Output [4, 4, 16]; kernel 3·3·(8/8)·16 = 144 (16 zero); MACs 4·4·3·3·1·16 = 2304, by nonzeros 16·128 = 2048.
    expect(cost.total).toEqual({ params: 144, nonzeroParams: 128, macs: 2304, sparseMacs: 2048 });
  });

  it('a graph with a residual add', () => {
    const network: Network = {
      inputShape: [4, 4, 2],
      layers: [
        conv('c1', { kernelSize: [1, 1], inChannels: 2, filters: 2, bias: values(2) }),
        conv('c2', { kernelSize: [3, 3], inChannels: 2, filters: 2, padding: 'same' }, range(0, 18)),
        { kind: 'add', name: 'sum', from: ['c1', 'c2'] },
        { kind: 'relu', name: 'r' },
        { kind: 'flatten', name: 'f' },
        dense('out', 32, 3),
      ],
    };
    const cost = networkCost(network);
    expect(cost.layers.map((l) => [l.index, l.name])).toEqual([
      [0, 'c1'],
      [1, 'c2'],
      [5, 'out'],
    ]);
    // c1: 4 + 2 params, 16 pixels × 4 = 64 MACs. c2: 36 params (18 zero), 16 × 36 = 576 MACs, 16 × 18 = 288.
    // out: 32·3 + 3 = 99 params, 96 MACs.
    expect(cost.total).toEqual({ params: 6 + 36 + 99, nonzeroParams: 6 + 18 + 99, macs: 64 + 576 + 96, sparseMacs: 64 + 288 + 96 });
  });

  it('rejects an invalid network as the graph check does', () => {
    expect(() => networkCost({ inputShape: [5], layers: [dense('d', 4, 2)] })).toThrow(/expects 4 inputs but receives 5/);
  });

  it('the bundled MNIST MLP (784·64·32·10) has 52 650 weights, in TF.js and ONNX', async () => {
    for (const path of ['test/fixtures/mnist-mlp/model.json', 'test/fixtures/mnist-mlp.onnx']) {
      const cost = networkCost((await loadModelFile(path)).network);
      expect(cost.layers.map((l) => l.params), path).toEqual([784 * 64 + 64, 64 * 32 + 32, 32 * 10 + 10]);
      expect(cost.total.params, path).toBe(52650);
      expect(cost.total.macs, path).toBe(784 * 64 + 64 * 32 + 32 * 10);
      expect(cost.total.nonzeroParams, path).toBeLessThanOrEqual(52650);
    }
  });
});

describe('formatCost', () => {
  it('prints the nonzero weights and MACs before → after with the share kept', () => {
    const make = (zeros: number[]): Network => ({ inputShape: [10], layers: [dense('d', 10, 10, zeros, null)] });
    const lines = formatCost(networkCost(make([])), networkCost(make(range(0, 75))));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain('100 → 25 nonzero (25.0% kept; 100 stored)');
    expect(lines[1]).toContain('100 → 25 (25.0% kept)');
    expect(lines[2]).toBe('a dense runtime still does 100 multiply-accumulates per sample');
  });

  it('groups digits and shortens large counts', () => {
    expect(formatCount(52650)).toBe('52 650');
    expect(formatCount(999)).toBe('999');
    expect(formatCount(1_234_567)).toBe('1 234 567');
    expect(formatCount(12_345_678)).toBe('12.3 M');
    expect(formatCount(1_814_073_344)).toBe('1.81 G');
  });
});
