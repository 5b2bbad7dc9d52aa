// The experiments' pure helpers (experiments/data.mjs): the spiral data are deterministic and the
// magnitude-pruning baseline keeps exactly the requested per-layer counts. The experiments
// themselves are long and run on their own (npm run experiments, see docs/results.md).
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain JavaScript module without type declarations
import { magnitudePrune, mulberry32, nonzerosByLayer, spirals } from '../experiments/data.mjs';

describe('experiments helpers', () => {
  it('generates the same spirals for the same seed and different ones for another', () => {
    const a = spirals(400, 11);
    const b = spirals(400, 11);
    const c = spirals(400, 12);
    expect(Buffer.from(a.x.buffer).equals(Buffer.from(b.x.buffer))).toBe(true);
    expect(Array.from(a.labels)).toEqual(Array.from(b.labels));
    expect(Buffer.from(a.x.buffer).equals(Buffer.from(c.x.buffer))).toBe(false);
    // Balanced classes, points within the unit square (plus noise).
    expect(Array.from(a.labels).filter((l) => l === 1).length).toBe(200);
    for (const v of a.x) expect(Math.abs(v)).toBeLessThan(1.2);
  });

  it('magnitude pruning keeps exactly the requested count of the largest entries per layer', () => {
    const random = mulberry32(5);
    const dense = (name: string, inputs: number, units: number) => ({
      kind: 'dense',
      name,
      inputs,
      units,
      kernel: Float32Array.from({ length: inputs * units }, () => random() - 0.5),
      bias: Float32Array.from({ length: units }, () => random() - 0.5),
      activation: 'relu',
    });
    const network = { inputShape: [6], layers: [dense('a', 6, 5), dense('b', 5, 3)] };
    const counts = { a: 7, b: 18 };
    const pruned = magnitudePrune(network, counts);
    expect(nonzerosByLayer(pruned)).toEqual({ a: 7, b: 18 });
    const a = pruned.layers[0];
    const kept = [...a.kernel, ...a.bias].filter((v: number) => v !== 0).map(Math.abs);
    const original = [...network.layers[0].kernel, ...network.layers[0].bias].map(Math.abs).sort((x, y) => y - x);
    expect(Math.min(...kept)).toBe(original[6]);
    // The input network is untouched.
    expect(nonzerosByLayer(network)).toEqual({ a: 35, b: 18 });
  });
});
