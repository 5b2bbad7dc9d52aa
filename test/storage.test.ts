// TF.js's affine quantization (src/network/storage.ts): the converter's grid, checked against
// values worked out by hand from tensorflowjs_converter's quantization.py; the values against
// TF.js's own decodeWeights; and, for any tensor (fast-check), the properties pruning relies on:
// zero stays zero, each value moves by at most half a step, and the values lie on the grid recorded.
import * as tf from '@tensorflow/tfjs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { affineGrid, dequantize, quantize, roundHalfEven, storeAs, storeLayerWeights, onGrid } from '../src/network/storage.js';
import type { AffineGrid, DenseLayer } from '../src/network/types.js';

describe('affine quantization (TF.js uint8 and uint16)', () => {
  it('rounds as numpy does: halves to even', () => {
    expect([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999, 2.5001].map(roundHalfEven)).toEqual([0, 2, 2, 0, -2, -2, 2, 3]);
  });

  it('takes the converter grid: the range over 2^bits − 1 steps, its minimum nudged so that zero is a step', () => {
    // [-0.3, 1]: scale 1.3/255; the zero point 0.3/scale = 58.85 is nudged to 59.
    const grid = affineGrid([1, -0.3, 0.2, 0], 'uint8');
    expect(grid.scale).toBeCloseTo(1.3 / 255, 15);
    expect(grid.min).toBeCloseTo((-59 * 1.3) / 255, 15);
    expect(Array.from(quantize([1, -0.3, 0.2, 0], grid))).toEqual([255, 0, Math.round((0.2 + (59 * 1.3) / 255) / (1.3 / 255)), 59]);
    // No zero in the range: not nudged.
    expect(affineGrid([2, 3, 4], 'uint16')).toEqual({ dtype: 'uint16', scale: 2 / 65535, min: 2 });
    // A constant tensor: every value q = 0 with scale 1.
    expect(affineGrid([0.25, 0.25], 'uint8')).toEqual({ dtype: 'uint8', scale: 1, min: 0.25 });
    expect(Array.from(dequantize(quantize([0.25, 0.25], { dtype: 'uint8', scale: 1, min: 0.25 }), { dtype: 'uint8', scale: 1, min: 0.25 }))).toEqual([0.25, 0.25]);
  });

  it('gives the values TF.js decodes from the same integers and grid', () => {
    const grid = affineGrid([-0.71, 0.4, 1.3e-3, 0.05], 'uint16');
    const q = Uint16Array.from([0, 1, 777, 40000, 65535]);
    const [[name, decoded]] = Object.entries(
      tf.io.decodeWeights(q.slice().buffer, [{ name: 'w', shape: [5], dtype: 'float32', quantization: { dtype: 'uint16', scale: grid.scale, min: grid.min } }]),
    );
    expect(name).toBe('w');
    expect(Array.from(dequantize(q, grid))).toEqual(Array.from(decoded.dataSync()));
    decoded.dispose();
  });

  const tensor = (dtype: AffineGrid['dtype']) =>
    fc.record({
      dtype: fc.constant(dtype),
      values: fc.array(fc.oneof(fc.constant(0), fc.float({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 })), { minLength: 1, maxLength: 60 }),
      scale: fc.double({ min: -30, max: 30, noNaN: true }).map((e) => 2 ** e),
    });

  it('keeps zeros exact, moves each value by at most half a step, and stores values that lie on the grid it records', () => {
    fc.assert(
      fc.property(fc.oneof(tensor('uint8'), tensor('uint16')), ({ dtype, values, scale }) => {
        const input = Float32Array.from(values, (v) => v * scale);
        const { values: stored, storage } = storeAs(input, { dtype, scale: 1, min: 0 });
        const grid = storage as AffineGrid;
        const hasZero = input.some((v) => v === 0);
        for (let i = 0; i < input.length; i++) {
          if (input[i] === 0 && stored[i] !== 0) return false;
          // Half a step, plus the float32 rounding of the value.
          if (Math.abs(stored[i] - input[i]) > grid.scale * 0.5 + 2 ** -24 * Math.abs(stored[i])) return false;
        }
        if (hasZero && !Array.from(dequantize([roundHalfEven(-grid.min / grid.scale)], grid)).every((v) => v === 0)) return false;
        // The writer finds them on the recorded grid, and gets them back from its integers bit for bit.
        return onGrid(stored, grid) && dequantize(quantize(stored, grid), grid).every((v, i) => v === stored[i]);
      }),
      { numRuns: 3000 },
    );
  });

  it('rounds a pruned layer to its storage and records the new grid; a layer without one is left alone', () => {
    const layer: DenseLayer = { kind: 'dense', name: 'd', inputs: 2, units: 2, kernel: Float32Array.from([0.5, 0, -0.25, 0.1234]), bias: Float32Array.from([0.01, 2]), activation: 'linear', storage: { kernel: { dtype: 'uint8', scale: 1, min: 0 }, bias: 'float16' } };
    storeLayerWeights(layer);
    const grid = layer.storage!.kernel as AffineGrid;
    expect(grid.scale).toBeCloseTo(0.75 / 255, 15);
    expect(Array.from(layer.kernel)).toEqual(Array.from(dequantize(quantize([0.5, 0, -0.25, 0.1234], grid), grid)));
    expect(layer.kernel[1]).toBe(0);
    expect(layer.kernel[3]).not.toBe(Math.fround(0.1234)); // moved onto the grid
    expect(Array.from(layer.bias!)).toEqual([0.010002136230469, 2].map((v) => Math.fround(v)));
    const plain: DenseLayer = { ...layer, kernel: Float32Array.from([0.1234]), bias: null, storage: undefined };
    storeLayerWeights(plain);
    expect(plain.kernel[0]).toBe(Math.fround(0.1234));
  });
});
