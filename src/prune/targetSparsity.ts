// Prune to what a user asks for (issue 16 item 4): a share of weights removed, or an accuracy
// drop at most d, instead of an ε gain. The gain is searched by bisection on log g, each prune
// warm-started from the trial whose gain is nearest, as `net-trim sweep` chains its gains.
import { InputError } from '../errors.js';
import { forwardCpu } from '../network/forwardCpu.js';
import { forwardGpu } from '../network/forwardGpu.js';
import type { Network } from '../network/types.js';
import { throwIfAborted } from '../solver/admmDriver.js';
import { accuracy } from './layerPrograms.js';
import { DEFAULT_EPSILON_GAIN, pruneNetwork, type PruneOptions, type PruneResult } from './pruneNetwork.js';

/** The gains the search may try: below 1e-5 nothing is pruned, above 10 ε exceeds ‖Y‖ many times. */
export const MIN_SEARCH_GAIN = 1e-5;
export const MAX_SEARCH_GAIN = 10;
/** The bracket grows by this factor per trial until it holds the target. */
export const SEARCH_GROWTH = 4;
export const DEFAULT_SPARSITY_TOLERANCE = 0.01;
export const DEFAULT_MAX_TRIALS = 12;
/** Bisection stops below these bracket widths (in log g): accuracy has no tolerance to stop at. */
export const ACCURACY_LOG_WIDTH = Math.log(1.1);
export const SPARSITY_LOG_WIDTH = Math.log(1.02);

// ---- The search, free of pruning (tests drive it with fake trials) ----

/** 'done': the trial meets the goal; 'raise' / 'lower': a larger / smaller gain is wanted. */
export type Verdict = 'done' | 'raise' | 'lower';

export interface SearchGoal<T> {
  judge(trial: T): Verdict;
  /** Whether `a` is a better answer than `b` (the answer is the best trial, whatever order they came in). */
  better(a: T, b: T): boolean;
}

export interface SearchOptions<T> {
  start: number;
  /** Bisection stops when log(hi/lo) is below this. */
  minLogWidth: number;
  maxTrials: number;
  min?: number;
  max?: number;
  growth?: number;
  signal?: AbortSignal;
  /** A trial will never be passed as `nearest` again nor returned: its result may be freed. */
  release?: (trial: T) => void;
}

/** Why the search ended: the goal met, the bracket narrow, a gain limit reached, or out of trials. */
export type SearchStop = 'goal' | 'bracket' | 'max' | 'min' | 'trials';

/** The trial among `trials` whose gain is nearest `gain` in log g; of equally near ones, the latest. */
export function nearestTrial<T extends { gain: number }>(trials: readonly T[], gain: number): T | null {
  let best: T | null = null;
  let distance = Infinity;
  for (const t of trials) {
    const d = Math.abs(Math.log(t.gain / gain));
    // A bisection point is equally far from both ends up to rounding: call that a tie.
    if (d <= distance + 1e-9) {
      best = t;
      distance = Math.min(d, distance);
    }
  }
  return best;
}

/**
 * Bisection on log g: from `start`, the gain is multiplied (or divided) by `growth` until the
 * verdict flips, then the bracket [lo: 'raise', hi: 'lower'] is halved. The bracket's ends are
 * always the latest trials with those verdicts, so a non-monotone step only moves an end; the
 * answer is the best trial by `goal.better`, not the last one.
 */
export async function searchGain<T extends { gain: number }>(
  evaluate: (gain: number, nearest: T | null) => Promise<T>,
  goal: SearchGoal<T>,
  o: SearchOptions<T>,
): Promise<{ best: T; trials: T[]; stop: SearchStop }> {
  const min = o.min ?? MIN_SEARCH_GAIN;
  const max = o.max ?? MAX_SEARCH_GAIN;
  const growth = o.growth ?? SEARCH_GROWTH;
  const trials: T[] = [];
  let kept: T[] = []; // the trials a later step may still use: lo, hi, best
  let lo: T | null = null;
  let hi: T | null = null;
  let best: T | null = null;
  let gain = Math.min(max, Math.max(min, o.start));
  let stop: SearchStop;
  for (;;) {
    if (trials.length >= o.maxTrials) {
      stop = 'trials';
      break;
    }
    throwIfAborted(o.signal);
    // Every later gain lies beyond the latest trial (growing) or inside [lo, hi] (bisecting), so
    // the nearest of all trials is among the kept ones.
    const trial = await evaluate(gain, nearestTrial(kept, gain));
    trials.push(trial);
    if (!best || goal.better(trial, best)) best = trial;
    const verdict = goal.judge(trial);
    if (verdict === 'raise') lo = trial;
    else if (verdict === 'lower') hi = trial;
    const keep = new Set([lo, hi, best]);
    for (const t of [...kept, trial]) if (!keep.has(t)) o.release?.(t);
    kept = trials.filter((t) => keep.has(t));
    if (verdict === 'done') {
      stop = 'goal';
      break;
    }
    if (lo && hi) {
      if (Math.log(hi.gain / lo.gain) < o.minLogWidth) {
        stop = 'bracket';
        break;
      }
      gain = Math.sqrt(lo.gain * hi.gain);
    } else if (verdict === 'raise') {
      if (trial.gain >= max) {
        stop = 'max';
        break;
      }
      gain = Math.min(max, trial.gain * growth);
    } else {
      if (trial.gain <= min) {
        stop = 'min';
        break;
      }
      gain = Math.max(min, trial.gain / growth);
    }
  }
  return { best: best!, trials, stop };
}

// ---- Pruning to a target ----

export interface Trial {
  gain: number;
  /** The share of prunable weights removed (or `sparsityOf`'s measure). */
  sparsity: number;
  nonzerosAfter: number;
  relativeDiscrepancy: number;
  /** Accuracy after pruning, on the held-out samples (or the pruning samples without them); null without labels. */
  accuracy: number | null;
  seconds: number;
  /** The gain of the trial whose solver states this one started from; null for a cold start. */
  warmStartedFrom: number | null;
}

export interface TargetOptions extends PruneOptions {
  /** The share of prunable weights to remove, in (0, 1). */
  targetSparsity?: number;
  /** The largest accepted accuracy drop, as a fraction (0.01 = 1 point); needs labels. */
  maxAccuracyDrop?: number;
  /** Labelled samples not used for pruning, to measure accuracy on. */
  heldOut?: { data: Float32Array | Float64Array; count: number; labels: ArrayLike<number> };
  /** Replaces the default measure (1 − nonzerosAfter/nonzerosBefore over the pruned layers). */
  sparsityOf?: (result: PruneResult) => number;
  /** What `sparsityOf` counts, for messages (default 'the weights'). */
  sparsityName?: string;
  /** |sparsity − target| that counts as reached; default 0.01 (±1 point). */
  tolerance?: number;
  /** Prunes tried at most; default 12. */
  maxTrials?: number;
  onTrial?: (trial: Trial) => void;
}

export interface TargetResult {
  /** The prune of the best trial (the one meeting the goal, else the closest). */
  result: PruneResult;
  /** Its ε gain. */
  gain: number;
  trials: Trial[];
  reached: boolean;
  message: string;
  /** Where accuracies were measured; null without labels. */
  accuracyOn: 'held-out' | 'samples' | null;
  /** The trained network's accuracy there; null without labels. */
  accuracyBefore: number | null;
}

/** 1 − nonzerosAfter/nonzerosBefore over the layers that were pruned (excluded ones do not count). */
export function prunedSparsity(result: PruneResult): number {
  const before = result.layers.reduce((s, l) => s + l.nonzerosBefore, 0);
  const after = result.layers.reduce((s, l) => s + l.nonzerosAfter, 0);
  return before === 0 ? 0 : 1 - after / before;
}

/** A gain as a short number: 10, 0.05, 0.0125. */
const short = (g: number) => String(Number(g.toPrecision(3)));
const percent = (x: number) => `${(100 * x).toFixed(1)}%`;
const points = (x: number) => `${(100 * x).toFixed(1)} points`;

function validate(o: TargetOptions, samples: { labels?: ArrayLike<number> }): void {
  const hasTarget = o.targetSparsity !== undefined;
  const hasDrop = o.maxAccuracyDrop !== undefined;
  if (hasTarget === hasDrop)
    throw new InputError(`pruneToTarget: expected exactly one of targetSparsity (a share of weights removed, in (0, 1)) and maxAccuracyDrop (an accuracy drop ≥ 0, 0.01 = 1 point), found ${hasTarget ? 'both' : 'neither'}`);
  if (hasTarget && !(o.targetSparsity! > 0 && o.targetSparsity! < 1))
    throw new InputError(`targetSparsity: expected the share of prunable weights to remove, a number in (0, 1) (e.g. 0.9), found ${o.targetSparsity}`);
  if (hasDrop && !(o.maxAccuracyDrop! >= 0 && o.maxAccuracyDrop! <= 1))
    throw new InputError(`maxAccuracyDrop: expected an accuracy drop as a fraction in [0, 1] (0.01 = 1 point), found ${o.maxAccuracyDrop}`);
  if (hasDrop && !o.heldOut && !samples.labels)
    throw new InputError('maxAccuracyDrop: accuracy needs labels: pass heldOut (samples with labels, not used for pruning) or labels with the samples');
  if (o.heldOut && o.heldOut.labels.length !== o.heldOut.count)
    throw new InputError(`heldOut: expected ${o.heldOut.count} labels (one per sample), found ${o.heldOut.labels.length}`);
  if (o.tolerance !== undefined && !(o.tolerance > 0 && o.tolerance < 1))
    throw new InputError(`tolerance: expected a share in (0, 1) (0.01 = ±1 point), found ${o.tolerance}`);
  if (o.maxTrials !== undefined && !(Number.isInteger(o.maxTrials) && o.maxTrials >= 1))
    throw new InputError(`maxTrials: expected a whole number ≥ 1, found ${o.maxTrials}`);
  if (o.epsilonGain !== undefined && !(o.epsilonGain >= 0 && Number.isFinite(o.epsilonGain)))
    throw new InputError(`epsilonGain: expected the gain to start the search from, a number ≥ 0, found ${o.epsilonGain}`);
}

/**
 * Prunes `network` to `targetSparsity` (± tolerance), or at the largest gain whose accuracy drop
 * is at most `maxAccuracyDrop`, by trying gains (searchGain). Every PruneOptions passes through to
 * each prune (`epsilonGain` is where the search starts; `warmStart` seeds the first trial).
 */
export async function pruneToTarget(
  network: Network,
  samples: { data: Float32Array | Float64Array; count: number; labels?: ArrayLike<number> },
  options: TargetOptions,
): Promise<TargetResult> {
  validate(options, samples);
  const { targetSparsity, maxAccuracyDrop, heldOut, sparsityOf, sparsityName, tolerance: rawTolerance, maxTrials, onTrial, ...pruneOptions } = options;
  const tolerance = rawTolerance ?? DEFAULT_SPARSITY_TOLERANCE;
  const measure = sparsityOf ?? prunedSparsity;
  const gpu = (pruneOptions.backend ?? 'webgpu') === 'webgpu' ? pruneOptions.gpu : undefined;
  const heldOutAccuracy = async (net: Network) => {
    const logits = gpu ? (await forwardGpu(gpu, net, heldOut!.data, heldOut!.count)).logits : forwardCpu(net, heldOut!.data, heldOut!.count).logits;
    return accuracy(logits, heldOut!.labels, logits.length / heldOut!.count);
  };
  const accuracyOn = heldOut ? 'held-out' : samples.labels ? 'samples' : null;
  // Without held-out samples, pruneNetwork's accuracy on the pruning samples is used (no extra pass).
  let accuracyBefore = heldOut ? await heldOutAccuracy(network) : null;

  const results = new Map<Trial, PruneResult>();
  const evaluate = async (gain: number, nearest: Trial | null): Promise<Trial> => {
    const warmStart = nearest ? results.get(nearest) : pruneOptions.warmStart;
    const result = await pruneNetwork(network, samples, { ...pruneOptions, epsilonGain: gain, warmStart });
    if (!heldOut && result.accuracyBefore !== undefined) accuracyBefore = result.accuracyBefore;
    const trial: Trial = {
      gain,
      sparsity: measure(result),
      nonzerosAfter: result.nonzerosAfter,
      relativeDiscrepancy: result.relativeDiscrepancy,
      accuracy: heldOut ? await heldOutAccuracy(result.network) : (result.accuracyAfter ?? null),
      seconds: result.seconds,
      warmStartedFrom: nearest ? nearest.gain : null,
    };
    results.set(trial, result);
    onTrial?.(trial);
    return trial;
  };

  const byAccuracy = maxAccuracyDrop !== undefined;
  // A drop within rounding of the limit is accepted: accuracies are counts over the samples.
  const feasible = (t: Trial) => t.accuracy! >= accuracyBefore! - maxAccuracyDrop! - 1e-12;
  const miss = (t: Trial) => Math.abs(t.sparsity - targetSparsity!);
  const goal: SearchGoal<Trial> = byAccuracy
    ? {
        judge: (t) => (feasible(t) ? 'raise' : 'lower'),
        better: (a, b) => (feasible(a) !== feasible(b) ? feasible(a) : feasible(a) ? a.gain > b.gain : a.accuracy! > b.accuracy!),
      }
    : {
        judge: (t) => (miss(t) <= tolerance ? 'done' : t.sparsity < targetSparsity! ? 'raise' : 'lower'),
        better: (a, b) => miss(a) < miss(b),
      };
  const { best, trials, stop } = await searchGain(evaluate, goal, {
    start: pruneOptions.epsilonGain ?? DEFAULT_EPSILON_GAIN,
    minLogWidth: byAccuracy ? ACCURACY_LOG_WIDTH : SPARSITY_LOG_WIDTH,
    maxTrials: maxTrials ?? DEFAULT_MAX_TRIALS,
    signal: pruneOptions.signal,
    release: (t) => results.delete(t),
  });
  throwIfAborted(pruneOptions.signal);

  const what = sparsityName ?? 'the weights';
  const removes = (t: Trial) => `gain ${short(t.gain)} removes ${percent(t.sparsity)} of ${what}`;
  const largest = trials.reduce((a, b) => (b.gain > a.gain ? b : a));
  const smallest = trials.reduce((a, b) => (b.gain < a.gain ? b : a));
  let reached: boolean;
  let message: string;
  if (byAccuracy) {
    const on = accuracyOn === 'held-out' ? `held-out accuracy (${heldOut!.count} samples)` : `accuracy on the ${samples.count} pruning samples (no heldOut given)`;
    const drop = `accuracy drop ≤ ${points(maxAccuracyDrop)}`;
    reached = feasible(best);
    const limit = stop === 'max' ? `; the largest gain allowed, ${MAX_SEARCH_GAIN}, keeps it` : stop === 'trials' ? `; stopped after ${trials.length} trials` : '';
    message = reached
      ? `${drop} reached: ${removes(best)}, ${on} ${percent(accuracyBefore!)} -> ${percent(best.accuracy!)}${limit}`
      : stop === 'min'
        ? `${drop} not reached: even the smallest gain tried, ${short(smallest.gain)}, takes ${on} from ${percent(accuracyBefore!)} to ${percent(smallest.accuracy!)}`
        : `${drop} not reached in ${trials.length} trials: the most accurate, ${removes(best)}, takes ${on} from ${percent(accuracyBefore!)} to ${percent(best.accuracy!)}`;
  } else {
    reached = stop === 'goal';
    message = reached
      ? `target sparsity ${short(targetSparsity!)} reached: ${removes(best)}`
      : stop === 'max'
        ? `target sparsity ${short(targetSparsity!)} not reached: the largest gain tried, ${short(largest.gain)}, removes ${percent(largest.sparsity)} of ${what}`
        : stop === 'min'
          ? `target sparsity ${short(targetSparsity!)} not reached: the smallest gain tried, ${short(smallest.gain)}, already removes ${percent(smallest.sparsity)} of ${what}`
          : `target sparsity ${short(targetSparsity!)} not reached within ±${points(tolerance)} ${stop === 'trials' ? `in ${trials.length} trials` : '(sparsity jumps between two close gains)'}: the closest, ${removes(best)}`;
  }
  return { result: results.get(best)!, gain: best.gain, trials, reached, message, accuracyOn, accuracyBefore };
}
