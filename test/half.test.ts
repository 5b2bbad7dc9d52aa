// IEEE half precision (src/network/half.ts): the storage of float16 models. Checked against
// values written out by hand, every one of the 65 536 bit patterns, and random float32 values.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { floatToHalf, halfToFloat, roundToHalf } from '../src/network/half.js';

describe('half precision', () => {
  it('reads and writes the values the standard names', () => {
    const known: Array<[number, number]> = [
      [0x3c00, 1], [0xc000, -2], [0x3555, 0.333251953125], [0x7bff, 65504], [0x0400, 2 ** -14],
      [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24], [0x0000, 0], [0x7c00, Infinity], [0xfc00, -Infinity],
    ];
    for (const [bits, value] of known) {
      expect(halfToFloat(bits), bits.toString(16)).toBe(value);
      expect(floatToHalf(value), String(value)).toBe(bits);
    }
    expect(floatToHalf(-0)).toBe(0x8000);
    expect(Object.is(halfToFloat(0x8000), -0)).toBe(true);
    expect(halfToFloat(0x7e00)).toBeNaN();
    expect(floatToHalf(NaN) & 0x7c00).toBe(0x7c00);
    expect(floatToHalf(NaN) & 0x3ff).not.toBe(0);
  });

  it('rounds to nearest, ties to even, overflowing past 65504 + half an ulp', () => {
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie: down to the even 1
    expect(floatToHalf(1 + 3 * 2 ** -11)).toBe(0x3c02); // a tie: up to the even
    expect(floatToHalf(1 + 2 ** -11 + 2 ** -20)).toBe(0x3c01); // past the tie
    expect(floatToHalf(2047.5)).toBe(floatToHalf(2048)); // a carry into the exponent
    expect(floatToHalf(65519.99)).toBe(0x7bff);
    expect(floatToHalf(65520)).toBe(0x7c00);
    expect(floatToHalf(2 ** -25)).toBe(0); // a tie with 0 (even)
    expect(floatToHalf(2 ** -25 + 2 ** -40)).toBe(1);
    expect(floatToHalf(3 * 2 ** -25)).toBe(2); // a subnormal tie: to the even 2
    expect(floatToHalf(-(2 ** -26))).toBe(0x8000);
  });

  it('writes back every half it reads (all 65 536 patterns but NaNs)', () => {
    for (let bits = 0; bits < 0x10000; bits++) {
      if ((bits & 0x7c00) === 0x7c00 && bits & 0x3ff) continue;
      if (floatToHalf(halfToFloat(bits)) !== bits) expect(floatToHalf(halfToFloat(bits)), bits.toString(16)).toBe(bits);
    }
  });

  it('rounds any float32 to the nearer of the two halves around it', () => {
    fc.assert(
      fc.property(fc.float({ noNaN: true, min: -65504, max: 65504 }), (x) => {
        const [rounded] = roundToHalf([x]);
        const bits = floatToHalf(x);
        // The neighbour on the other side of x, one ulp away in the direction of x.
        const step = (bits & 0x7fff) === 0 ? 1 : Math.sign(x - rounded) === Math.sign(rounded) ? 1 : -1;
        const other = halfToFloat(((bits & 0x7fff) + step) | (x < 0 ? 0x8000 : 0));
        const gap = Math.abs(x - rounded);
        return rounded === x || (gap <= Math.abs(x - other) && Math.sign(rounded) * Math.sign(x) >= 0);
      }),
      { numRuns: 2000 },
    );
  });
});
