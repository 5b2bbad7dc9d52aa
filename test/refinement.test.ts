// What follows a refused stop (src/solver/refinement.ts), path by path, without an engine.
import { describe, expect, it } from 'vitest';
import { float64FinishIterations, nextRun, type RefusedStop } from '../src/solver/refinement.js';

// A GPU stop refused on the gap alone, the first refusal, with room left and a finish affordable.
const gapStop: RefusedStop = { failure: 'gap', stopped: true, round: 1, left: 19_500, checkEvery: 50, gpu: true, finishBudget: 540, probed: false, finished: false };

describe('after a stop the float64 checks refuse', () => {
  it('stops where the answer certifies, at the iteration limit, or after three tighter rounds', () => {
    expect(nextRun({ ...gapStop, failure: null })).toEqual({ kind: 'stop' });
    expect(nextRun({ ...gapStop, stopped: false })).toEqual({ kind: 'stop' });
    expect(nextRun({ ...gapStop, left: 49 })).toEqual({ kind: 'stop' });
    expect(nextRun({ ...gapStop, failure: 'discrepancy', round: 4 })).toEqual({ kind: 'stop' });
  });

  it('on the GPU, refused on the gap: a short GPU round first, then the float64 finish within its cost', () => {
    expect(nextRun(gapStop)).toEqual({ kind: 'probe', round: 1, iterations: 100 });
    expect(nextRun({ ...gapStop, round: 2, probed: true })).toEqual({ kind: 'finish', iterations: 540 });
    expect(nextRun({ ...gapStop, round: 3, probed: true, left: 300 })).toEqual({ kind: 'finish', iterations: 300 });
  });

  it('after a finish, nothing: it ended certified or at its cost (the rounds that followed ran on the CPU to the limit)', () => {
    // torch2/resnet.onnx on 20 digits: node_Conv_102's 50-iteration finish ended at a 1.21% gap,
    // and the tighter round after it ran on the CPU toward the 20 000-iteration limit (11 800
    // iterations, 290 s, when stopped); the whole prune once took 638 s, now 65 s.
    for (const round of [2, 3]) expect(nextRun({ ...gapStop, round, probed: true, finished: true })).toEqual({ kind: 'stop' });
  });

  it('refused on the ball, or where a finish costs too much or the backend is the CPU: tighter rounds to the limit', () => {
    expect(nextRun({ ...gapStop, failure: 'discrepancy' })).toEqual({ kind: 'tighter', round: 1, iterations: 19_500 });
    expect(nextRun({ ...gapStop, finishBudget: 49, probed: true })).toEqual({ kind: 'tighter', round: 1, iterations: 19_500 });
    expect(nextRun({ ...gapStop, gpu: false, round: 3 })).toEqual({ kind: 'tighter', round: 3, iterations: 19_500 });
  });
});

describe('the cost of a float64 finish', () => {
  it('is 10¹⁰ multiply-adds: the setup (P·N² + N³/3), then 2·P·N·M + N²·M an iteration', () => {
    // A 3×3 conv 16 → 16 on 20 digits of 14×14: P = 3 920, N = 144 (+ no bias), M = 16.
    const perIteration = 2 * 3920 * 144 * 16 + 144 * 144 * 16;
    const setup = 3920 * 144 * 144 + 144 ** 3 / 3;
    expect(float64FinishIterations({ samples: 3920, columns: 144, outputs: 16 })).toBe(Math.floor((1e10 - setup) / perIteration));
    expect(float64FinishIterations({ samples: 55_000, columns: 3137, outputs: 512 })).toBe(0); // LeNet's FC1: never
  });
});
