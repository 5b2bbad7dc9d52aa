// pruneToTarget (issue 16 item 4): the gain search on fake trials (no solving), then on the
// bundled MNIST MLP on the CPU backend. dense_1 (95% of the weights, 784 inputs against 200
// samples) is excluded to keep the solves small and their programs overdetermined.
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { DenseLayer, Network } from '../src/network/types.js';
import type { PruneOptions } from '../src/prune/pruneNetwork.js';
import { pruneToTarget, searchGain, type SearchGoal, type Trial } from '../src/prune/targetSparsity.js';
import { mnistFixtures } from './helpers/models.js';

const { fixtures, digits, labels } = await mnistFixtures();
const { network } = await loadModelFile(`${fixtures}mnist-mlp/model.json`);
const COUNT = 200;
const samples = { data: digits.subarray(0, COUNT * 784), count: COUNT, labels: labels.subarray(0, COUNT) };
const heldOut = { data: digits.subarray(COUNT * 784), count: 1000 - COUNT, labels: labels.subarray(COUNT) };
const PRUNED = ['dense_2', 'dense_3'];
const base: PruneOptions = { backend: 'cpu', exclude: ['dense_1'], solver: { maxIterations: 300 } };

/** The trial nearest `gain` in log g among `trials`, ties to the latest (written apart from the module's). */
function nearestGain(trials: Array<{ gain: number }>, gain: number): number | null {
  const distances = trials.map((t) => Math.abs(Math.log(t.gain) - Math.log(gain)));
  const least = Math.min(...distances);
  let index = -1;
  distances.forEach((d, i) => {
    if (d - least < 1e-9) index = i;
  });
  return index < 0 ? null : trials[index].gain;
}

/** Zeros counted in the network's own arrays: the share of the named layers' weights that are 0 in `pruned` and not in `trained`. */
function removedShare(trained: Network, pruned: Network, names: string[]): number {
  let before = 0;
  let after = 0;
  for (const name of names) {
    const a = trained.layers.find((l) => l.name === name) as DenseLayer;
    const b = pruned.layers.find((l) => l.name === name) as DenseLayer;
    for (const v of [...a.kernel, ...a.bias!]) if (v !== 0) before++;
    for (const v of [...b.kernel, ...b.bias!]) if (v !== 0) after++;
  }
  return 1 - after / before;
}

function heldOutAccuracy(net: Network): number {
  const logits = forwardCpu(net, heldOut.data, heldOut.count).logits;
  let correct = 0;
  for (let p = 0; p < heldOut.count; p++) {
    let best = 0;
    for (let c = 1; c < 10; c++) if (logits[p * 10 + c] > logits[p * 10 + best]) best = c;
    if (best === heldOut.labels[p]) correct++;
  }
  return correct / heldOut.count;
}

/**
 * Replays the search rule on the trials' verdicts: ×/÷4 from the start until the verdict flips
 * (clamped to [1e-5, 10]), then the geometric midpoint of the latest 'raise' and 'lower' trials.
 */
function expectedGains(trials: Trial[], start: number, verdict: (t: Trial) => 'raise' | 'lower' | 'done'): number[] {
  const gains = [start];
  let lo: number | null = null;
  let hi: number | null = null;
  for (const t of trials.slice(0, -1)) {
    const v = verdict(t);
    if (v === 'raise') lo = t.gain;
    if (v === 'lower') hi = t.gain;
    gains.push(lo !== null && hi !== null ? Math.sqrt(lo * hi) : v === 'raise' ? Math.min(10, t.gain * 4) : Math.max(1e-5, t.gain / 4));
  }
  return gains;
}

describe('searchGain on fake trials', () => {
  type Fake = { gain: number; value: number };
  // Sparsity rising smoothly with log g: 0.5 at g = 0.02.
  const sparsity = (g: number) => 1 / (1 + Math.exp(-2 * Math.log(g / 0.02)));
  const towards = (target: number, tol: number): SearchGoal<Fake> => ({
    judge: (t) => (Math.abs(t.value - target) <= tol ? 'done' : t.value < target ? 'raise' : 'lower'),
    better: (a, b) => Math.abs(a.value - target) < Math.abs(b.value - target),
  });

  it('grows the bracket by 4, bisects on log g, warm-starts from the nearest trial and frees the rest', async () => {
    const calls: Array<{ gain: number; nearest: number | null }> = [];
    const released: number[] = [];
    const { best, trials, stop } = await searchGain<Fake>(
      async (gain, nearest) => {
        calls.push({ gain, nearest: nearest?.gain ?? null });
        return { gain, value: sparsity(gain) };
      },
      towards(0.9, 0.001),
      { start: 1e-4, minLogWidth: 1e-6, maxTrials: 40, release: (t) => released.push(t.gain) },
    );
    expect(stop).toBe('goal');
    expect(Math.abs(best.value - 0.9)).toBeLessThanOrEqual(0.001);
    expect(trials.map((t) => t.gain).slice(0, 6)).toEqual([1e-4, 4e-4, 1.6e-3, 6.4e-3, 0.0256, 0.1024].map((g) => expect.closeTo(g, 12)));
    expect(trials[6].gain).toBeCloseTo(Math.sqrt(0.0256 * 0.1024), 12);
    for (const [i, call] of calls.entries()) expect(call.nearest).toBe(nearestGain(trials.slice(0, i), call.gain));
    // Only the ends of the bracket (and the answer) are kept: all others were freed, once each.
    expect(new Set(released).size).toBe(released.length);
    expect(released.length).toBeGreaterThanOrEqual(trials.length - 3);
    expect(released).not.toContain(best.gain);
  });

  it('keeps the best trial when a step is not monotone', async () => {
    // A dip at the fifth gain, √(0.02·0.04): the last trial is far from the target.
    const bumpy = (g: number) => (Math.abs(Math.log(g / Math.sqrt(0.0008))) < 0.01 ? 0.05 : sparsity(g));
    const { best, trials, stop } = await searchGain<Fake>(async (gain) => ({ gain, value: bumpy(gain) }), towards(0.7, 0.01), {
      start: 0.005,
      minLogWidth: Math.log(1.02),
      maxTrials: 5,
    });
    expect(trials.map((t) => t.gain)).toEqual([0.005, 0.02, 0.08, expect.closeTo(0.04, 12), expect.closeTo(Math.sqrt(0.0008), 12)]);
    expect(stop).toBe('trials');
    expect(best).toBe(trials.reduce((a, b) => (Math.abs(b.value - 0.7) < Math.abs(a.value - 0.7) ? b : a)));
    expect(best.gain).toBeCloseTo(0.04, 12);
  });

  it('stops at the gain limits and checks the signal between trials', async () => {
    const evaluate = async (gain: number) => ({ gain, value: sparsity(gain) });
    const high = await searchGain<Fake>(evaluate, towards(0.9999999, 1e-9), { start: 1, minLogWidth: 0.01, maxTrials: 12 });
    expect([high.stop, high.trials.map((t) => t.gain)]).toEqual(['max', [1, 4, 10]]);
    const low = await searchGain<Fake>(evaluate, towards(1e-9, 1e-12), { start: 1e-4, minLogWidth: 0.01, maxTrials: 12 });
    expect(low.stop).toBe('min');
    expect(low.trials.at(-1)!.gain).toBe(1e-5);
    const controller = new AbortController();
    let count = 0;
    const cancelled = searchGain<Fake>(
      async (gain) => {
        if (++count === 2) controller.abort(new Error('stop here'));
        return { gain, value: sparsity(gain) };
      },
      towards(0.99, 1e-6),
      { start: 1e-4, minLogWidth: 0.01, maxTrials: 12, signal: controller.signal },
    );
    await expect(cancelled).rejects.toThrow('stop here');
    expect(count).toBe(2);
  });
});

describe('pruneToTarget on the MNIST MLP (cpu)', () => {
  it('reaches a target sparsity of 0.5 within ±1 point, trial after trial warm-started from the nearest gain', async () => {
    const seen: Trial[] = [];
    let layersDone = 0;
    const { result, trials, reached, message } = await pruneToTarget(network, samples, {
      ...base,
      targetSparsity: 0.5,
      epsilonGain: 0.001, // far below: the bracket grows three times before it holds 0.5
      onTrial: (t) => seen.push(t),
      onLayerDone: () => layersDone++,
    });
    console.log(trials.map((t) => `g=${t.gain.toPrecision(4)} sparsity=${t.sparsity.toFixed(4)} ${t.seconds.toFixed(2)} s from ${t.warmStartedFrom}`).join('\n'));
    expect(reached, message).toBe(true);
    expect(message).toMatch(/^target sparsity 0.5 reached: gain [\d.e-]+ removes [\d.]+% of the weights$/);
    // Zeros counted in the returned network, not taken from the report.
    expect(Math.abs(removedShare(network, result.network, PRUNED) - 0.5)).toBeLessThanOrEqual(0.01);
    expect(removedShare(network, result.network, ['dense_1'])).toBe(0); // excluded: left as it is
    expect(seen).toEqual(trials);
    expect(layersDone).toBe(trials.length * PRUNED.length);
    expect(trials.length).toBeGreaterThan(4);
    expect(trials[0].gain).toBe(0.001);
    expect(trials[0].warmStartedFrom).toBeNull();
    for (const [i, t] of trials.entries()) if (i > 0) expect(t.warmStartedFrom).toBe(nearestGain(trials.slice(0, i), t.gain));
    const verdict = (t: Trial) => (Math.abs(t.sparsity - 0.5) <= 0.01 ? 'done' : t.sparsity < 0.5 ? 'raise' : 'lower');
    expect(trials.map((t) => t.gain)).toEqual(expectedGains(trials, 0.001, verdict).map((g) => expect.closeTo(g, 12)));
    expect(trials.at(-1)!.sparsity).toBeCloseTo(removedShare(network, result.network, PRUNED), 12);
  });

  it('says what it reached when the target is out of reach, and returns the closest trial', async () => {
    // Sparsity over the whole network while dense_1 (95% of the weights) is kept: at most ~5%.
    const whole = (r: { nonzerosAfter: number; nonzerosBefore: number }) => 1 - r.nonzerosAfter / r.nonzerosBefore;
    const { result, trials, reached, message } = await pruneToTarget(network, samples, { ...base, targetSparsity: 0.999, epsilonGain: 0.5, sparsityOf: whole });
    expect(reached).toBe(false);
    expect(trials.map((t) => t.gain)).toEqual([0.5, 2, 8, 10]);
    const top = trials.at(-1)!;
    expect(message).toBe(`target sparsity 0.999 not reached: the largest gain tried, 10, removes ${(100 * top.sparsity).toFixed(1)}% of the weights`);
    expect(top.sparsity).toBeLessThan(0.06);
    const closest = trials.reduce((a, b) => (b.sparsity > a.sparsity ? b : a));
    expect(whole(result)).toBe(closest.sparsity);
  });

  it('keeps held-out accuracy within maxAccuracyDrop at the largest such gain it finds', async () => {
    const drop = 0.02;
    const out = await pruneToTarget(network, samples, { ...base, maxAccuracyDrop: drop, heldOut });
    const before = heldOutAccuracy(network);
    const after = heldOutAccuracy(out.result.network);
    console.log(out.message, out.trials.map((t) => `g=${t.gain.toPrecision(4)} acc=${t.accuracy}`).join(' '));
    expect(out.reached, out.message).toBe(true);
    expect(out.trials[0].gain).toBe(0.05); // DEFAULT_EPSILON_GAIN
    expect([out.accuracyOn, out.accuracyBefore]).toEqual(['held-out', before]);
    expect(after).toBeGreaterThanOrEqual(before - drop);
    const best = out.trials.find((t) => t.relativeDiscrepancy === out.result.relativeDiscrepancy && t.nonzerosAfter === out.result.nonzerosAfter)!;
    expect(best.accuracy).toBe(after);
    // Above the answer, the smallest gain tried loses more than `drop`, and is within 10% of it.
    const above = out.trials.filter((t) => t.gain > best.gain);
    expect(out.trials.filter((t) => t.accuracy! >= before - drop).every((t) => t.gain <= best.gain)).toBe(true);
    if (best.gain < 10) {
      const next = above.reduce((a, b) => (b.gain < a.gain ? b : a));
      expect(next.accuracy!).toBeLessThan(before - drop);
      if (out.trials.length < 12) expect(next.gain / best.gain).toBeLessThan(1.1);
    }
  });

  it('refuses a missing, doubled or out-of-range target with an InputError naming the option', async () => {
    const cases: Array<[Record<string, unknown>, RegExp]> = [
      [{ targetSparsity: 0 }, /^targetSparsity: expected .*\(0, 1\).*found 0$/],
      [{ targetSparsity: 1 }, /^targetSparsity: .*found 1$/],
      [{ targetSparsity: Number.NaN }, /^targetSparsity: .*found NaN$/],
      [{ targetSparsity: 0.5, maxAccuracyDrop: 0.01 }, /exactly one of targetSparsity .* and maxAccuracyDrop .*found both$/],
      [{}, /exactly one of targetSparsity .* and maxAccuracyDrop .*found neither$/],
      [{ maxAccuracyDrop: -0.01 }, /^maxAccuracyDrop: expected .*found -0.01$/],
    ];
    for (const [options, pattern] of cases) {
      const call = pruneToTarget(network, samples, { ...base, ...options });
      await expect(call).rejects.toThrow(InputError);
      await expect(call).rejects.toThrow(pattern);
    }
    const unlabelled = { data: samples.data, count: COUNT };
    await expect(pruneToTarget(network, unlabelled, { ...base, maxAccuracyDrop: 0.01 })).rejects.toThrow(/^maxAccuracyDrop: accuracy needs labels/);
  });

  it('measures accuracy on the pruning samples without heldOut, and stops between trials when cancelled', async () => {
    const controller = new AbortController();
    const trials: Trial[] = [];
    const run = pruneToTarget(network, samples, {
      ...base,
      maxAccuracyDrop: 0.01,
      signal: controller.signal,
      onTrial: (t) => {
        trials.push(t);
        controller.abort(new Error('cancelled by the test'));
      },
    });
    await expect(run).rejects.toThrow('cancelled by the test');
    expect(trials).toHaveLength(1);
    expect(trials[0].accuracy).toBeGreaterThan(0.5); // from the 200 labelled pruning samples
  });
});
