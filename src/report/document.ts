// What report.json (net-trim prune) and sweep.json (net-trim sweep) hold: the documents the HTML
// reports are rendered from, so a report.html can always be rebuilt from its report.json.
import { forwardCpu } from '../network/forwardCpu.js';
import type { Network } from '../network/types.js';
import { DEFAULTS } from '../solver/problem.js';
import type { LayerPruneReport, PruneMode, PruneResult } from '../prune/pruneNetwork.js';
import type { OutputDiscrepancy } from '../prune/pruneReport.js';
import { networkHistograms, type WeightHistogram } from './histogram.js';
import type { LatencyResult } from '../io/latency.js';
import type { CostCounts } from '../network/cost.js';
import type { UnitRemoval } from '../prune/removeUnits.js';
import type { Trial } from '../prune/targetSparsity.js';

/** Samples of a model's input (samples-major NHWC) with optional integer labels. */
/**
 * A layer's relative duality gap as reported, or null where it bounds nothing: an answer that
 * stopped outside its ball (not converged, residual beyond the certificate's (1 + feasibility)·ε),
 * whose ℓ1 may fall below the dual bound. An answer on the ball's edge (the optimum is there) may
 * be over ε by float rounding: its gap, often why it was refused, is shown.
 */
export function reportedGap(l: Pick<LayerPruneReport, 'converged' | 'constraintResidual' | 'epsilon' | 'relativeDualityGap'>): number | null {
  return !l.converged && l.constraintResidual > (1 + DEFAULTS.tolerances.feasibility) * l.epsilon ? null : l.relativeDualityGap;
}

export interface LabelledSamples {
  data: Float32Array | Float64Array;
  count: number;
  labels?: Int32Array;
}

/** Accuracy on samples left out of the pruning (the rest of the samples file after --max-samples). */
export interface HeldOutAccuracy {
  count: number;
  accuracyBefore: number;
  accuracyAfter: number;
}

/** The model file, and what its import changed or fixed, in words (LoadedModel.notes; absent when nothing). */
export interface ReportedModel {
  path: string;
  format: string;
  notes?: string[];
}

export interface PruneReportDocument {
  report: 'net-trim prune';
  version: string;
  createdAt: string;
  model: ReportedModel;
  samples: { path: string; count: number };
  labels: string | null;
  options: Record<string, unknown> & { mode: PruneMode; epsilonGain: number; backend: string };
  mode: PruneMode;
  backend: string;
  adapter: string;
  relativeDiscrepancy: number;
  /** A model of several outputs: the discrepancy of each (PruneResult.outputDiscrepancies); absent for one. */
  outputDiscrepancies?: OutputDiscrepancy[];
  /** On the pruning samples (null without labels). */
  accuracyBefore: number | null;
  accuracyAfter: number | null;
  heldOut: HeldOutAccuracy | null;
  nonzerosBefore: number;
  nonzerosAfter: number;
  files: { model: string[]; sparse: string; report: string[]; denseWeightBytes: number; sparseExportBytes: number };
  layers: LayerPruneReport[];
  /** Cascade: layers kept as trained, their input unchanged when they came (PruneResult.keptAsTrained); absent when none. */
  keptAsTrained?: string[];
  weightHistograms: WeightHistogram[];
  seconds: number;
  /** Units removed, parameters and work before/after, file sizes, latency, the gain search (absent in reports before 0.2). */
  deployment?: DeploymentReport;
}

export interface SweepPointDocument {
  epsilonGain: number;
  nonzerosBefore: number;
  nonzerosAfter: number;
  relativeDiscrepancy: number;
  accuracyBefore: number | null;
  accuracyAfter: number | null;
  heldOut: HeldOutAccuracy | null;
  /** Whether this run was warm-started from the previous gain's result. */
  warmStarted: boolean;
  layers: Array<Pick<LayerPruneReport, 'name' | 'nonzerosBefore' | 'nonzerosAfter' | 'epsilon' | 'iterations' | 'converged' | 'relativeDualityGap' | 'seconds'>>;
  seconds: number;
}

export interface SweepReportDocument {
  report: 'net-trim sweep';
  version: string;
  createdAt: string;
  model: ReportedModel;
  samples: { path: string; count: number };
  labels: string | null;
  options: Record<string, unknown> & { mode: PruneMode; epsilonGains: number[]; backend: string };
  mode: PruneMode;
  backend: string;
  adapter: string;
  points: SweepPointDocument[];
  seconds: number;
}

/** Share of samples whose largest output is their label (float64 forward pass on the CPU). */
export function accuracyOf(network: Network, samples: LabelledSamples): number {
  const logits = forwardCpu(network, samples.data, samples.count).logits;
  const classes = logits.length / samples.count;
  let correct = 0;
  for (let p = 0; p < samples.count; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (logits[p * classes + c] > logits[p * classes + best]) best = c;
    if (best === samples.labels![p]) correct++;
  }
  return correct / samples.count;
}

export function heldOutAccuracy(trained: Network, pruned: Network, heldOut: LabelledSamples | null): HeldOutAccuracy | null {
  if (!heldOut?.labels) return null;
  return { count: heldOut.count, accuracyBefore: accuracyOf(trained, heldOut), accuracyAfter: accuracyOf(pruned, heldOut) };
}

/** The part of report.json that comes from the result (the same for the CLI and the demo page). */
export function resultFields(
  trained: Network,
  result: PruneResult,
  o: { heldOut: LabelledSamples | null; modelFiles: string[]; sparse: { denseBytes: number; sparseBytes: number } },
): Pick<PruneReportDocument, 'mode' | 'relativeDiscrepancy' | 'outputDiscrepancies' | 'accuracyBefore' | 'accuracyAfter' | 'heldOut' | 'nonzerosBefore' | 'nonzerosAfter' | 'files' | 'layers' | 'keptAsTrained' | 'weightHistograms' | 'seconds'> {
  return {
    mode: result.mode,
    relativeDiscrepancy: result.relativeDiscrepancy,
    ...(result.outputDiscrepancies ? { outputDiscrepancies: result.outputDiscrepancies } : {}),
    accuracyBefore: result.accuracyBefore ?? null,
    accuracyAfter: result.accuracyAfter ?? null,
    heldOut: heldOutAccuracy(trained, result.network, o.heldOut),
    nonzerosBefore: result.nonzerosBefore,
    nonzerosAfter: result.nonzerosAfter,
    files: {
      model: o.modelFiles,
      sparse: 'weights.sparse.safetensors',
      report: ['report.json', 'report.html'],
      denseWeightBytes: o.sparse.denseBytes,
      sparseExportBytes: o.sparse.sparseBytes,
    },
    layers: result.layers,
    ...(result.keptAsTrained ? { keptAsTrained: result.keptAsTrained } : {}),
    weightHistograms: networkHistograms(
      trained,
      result.network,
      result.layers.map((l) => l.name),
    ),
    seconds: result.seconds,
  };
}

/** What a search did, for the report. */
export interface SearchReport {
  goal: 'target sparsity' | 'max accuracy drop';
  value: number;
  /** What sparsity counts: prunable weights, or (structured) neurons and channels. */
  measure: 'weights' | 'units';
  trials: Trial[];
  reached: boolean;
  /** The gain of the prune chosen (absent in reports before 0.2's heads). */
  gain?: number;
  message: string;
  /** Seconds of all the prunes tried. */
  seconds: number;
  accuracyOn: 'held-out' | 'samples' | null;
}

/** The model's size and work before and after, and the units removed: report.json's `deployment`. */
export interface DeploymentReport {
  /** Neurons and channels of the dense/conv layers that can go, before and after (null: not removed). */
  /** `heads`: the attention heads among the units (those that could go), before and after. */
  units: { before: number; after: number; layers: UnitRemoval['layers']; notes: string[]; heads?: { before: number; after: number } } | null;
  /** Totals of network/cost.ts for the trained model and the model written. */
  cost: { before: CostCounts; after: CostCounts };
  search: SearchReport | null;
  /** Every file written besides the reports: bytes, and bytes when served gzip'd (null where not measured). */
  files: { name: string; bytes: number; gzipBytes: number | null }[];
  /** Inference latency before and after, measured side by side (Node: net-trim prune --latency). */
  latency: LatencyResult | null;
}
