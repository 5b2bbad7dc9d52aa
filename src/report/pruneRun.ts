// One prune as `net-trim prune` and the demo page run it: one gain, or a search for a target
// sparsity or accuracy drop (prune/targetSparsity.ts); then the unread neurons and channels taken
// out of the model to write (prune/removeUnits.ts); and what the report says about it: units,
// parameters and multiply-accumulates before and after, the gains the search tried.
import { networkCost } from '../network/cost.js';
import type { LatencyResult } from '../io/latency.js';
import type { Network } from '../network/types.js';
import { pruneNetwork, type PruneOptions, type PruneResult } from '../prune/pruneNetwork.js';
import { removeUnreadUnits, type UnitRemoval } from '../prune/removeUnits.js';
import { prunedSparsity, pruneToTarget, type Trial } from '../prune/targetSparsity.js';
import type { DeploymentReport, LabelledSamples, SearchReport } from './document.js';

export type { DeploymentReport, SearchReport };

export interface PruneRunOptions extends PruneOptions {
  /** Search the gain for this share removed: of the prunable weights, or with structure 'inputs' of the neurons and channels. */
  targetSparsity?: number;
  /** Search the largest gain whose accuracy (held out, else on the samples) drops by at most this (0.01 = 1 point). */
  maxAccuracyDrop?: number;
  /** Labelled samples not used to prune: the search's accuracy is measured on them. */
  heldOut?: LabelledSamples | null;
  /** Take the neurons and channels nobody reads out of the network to write (default: with structure 'inputs'). */
  removeUnits?: boolean;
  onTrial?: (trial: Trial) => void;
}

export interface PruneRun {
  /** The prune chosen (the model's shapes; zeros where weights were removed). */
  result: PruneResult;
  search: SearchReport | null;
  removal: UnitRemoval | null;
  /** The network to write: the removal's, else the result's. */
  written: Network;
}

/** The share of the neurons and channels that can go which are gone (structured sparsity). */
export function unitSparsity(result: PruneResult): number {
  const removal = removeUnreadUnits(result.network);
  return removal.unitsBefore ? 1 - removal.unitsAfter / removal.unitsBefore : prunedSparsity(result);
}

export async function runPrune(
  network: Network,
  samples: { data: Float32Array | Float64Array; count: number; labels?: ArrayLike<number> },
  options: PruneRunOptions,
): Promise<PruneRun> {
  const { targetSparsity, maxAccuracyDrop, heldOut, removeUnits, onTrial, ...prune } = options;
  const structured = prune.structure === 'inputs';
  let result: PruneResult;
  let search: SearchReport | null = null;
  if (targetSparsity !== undefined || maxAccuracyDrop !== undefined) {
    const found = await pruneToTarget(network, samples, {
      ...prune,
      targetSparsity,
      maxAccuracyDrop,
      ...(heldOut?.labels ? { heldOut: { data: heldOut.data, count: heldOut.count, labels: heldOut.labels } } : {}),
      // Units come whole: ±1 point may fall between two counts, so the tolerance is at least one unit.
      ...(structured ? { sparsityOf: unitSparsity, sparsityName: 'the neurons and channels', tolerance: Math.max(0.01, (1 + 1e-9) / Math.max(1, removeUnreadUnits(network).unitsBefore)) } : {}),
      ...(onTrial ? { onTrial } : {}),
    });
    result = found.result;
    search = {
      goal: targetSparsity !== undefined ? 'target sparsity' : 'max accuracy drop',
      value: (targetSparsity ?? maxAccuracyDrop)!,
      measure: structured ? 'units' : 'weights',
      trials: found.trials,
      reached: found.reached,
      gain: found.gain,
      message: found.message,
      seconds: found.trials.reduce((sum, t) => sum + t.seconds, 0),
      accuracyOn: found.accuracyOn,
    };
  } else result = await pruneNetwork(network, samples, prune);
  const removal = (removeUnits ?? structured) ? removeUnreadUnits(result.network) : null;
  return { result, search, removal, written: removal?.network ?? result.network };
}

/**
 * The files of the run's model (`serialize`: the format's writer). A format that cannot take the
 * heads removed (a head count its graph computes from shapes) gets the run without removing heads,
 * a note saying why; the report then counts what was written.
 */
export async function serializeRun(run: PruneRun, serialize: (network: Network, resizing: UnitRemoval | undefined) => Promise<Array<{ name: string; bytes: Uint8Array }>>): Promise<{ run: PruneRun; files: Array<{ name: string; bytes: Uint8Array }> }> {
  try {
    return { run, files: await serialize(run.written, run.removal ?? undefined) };
  } catch (error) {
    if (!run.removal?.shapes) throw error;
    const removal = removeUnreadUnits(run.result.network, undefined, { heads: false });
    removal.notes.unshift(`attention heads all kept in the model written: ${(error as Error).message}`);
    const next = { ...run, removal, written: removal.network };
    return { run: next, files: await serialize(next.written, removal) };
  }
}

export function deploymentReport(trained: Network, run: PruneRun, files: DeploymentReport['files'], latency: LatencyResult | null = null): DeploymentReport {
  const { removal } = run;
  return {
    units: removal && { before: removal.unitsBefore, after: removal.unitsAfter, layers: removal.layers, notes: removal.notes, ...(removal.heads ? { heads: removal.heads } : {}) },
    cost: { before: networkCost(trained).total, after: networkCost(run.written).total },
    search: run.search,
    files,
    latency,
  };
}
