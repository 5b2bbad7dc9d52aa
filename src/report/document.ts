// What report.json (net-trim prune) and sweep.json (net-trim sweep) hold: the documents the HTML
// reports are rendered from, so a report.html can always be rebuilt from its report.json.
import type { LayerPruneReport, PruneMode } from '../prune/pruneNetwork.js';
import type { WeightHistogram } from './histogram.js';

/** Accuracy on samples left out of the pruning (the rest of the samples file after --max-samples). */
export interface HeldOutAccuracy {
  count: number;
  accuracyBefore: number;
  accuracyAfter: number;
}

export interface PruneReportDocument {
  report: 'net-trim prune';
  version: string;
  createdAt: string;
  model: { path: string; format: string };
  samples: { path: string; count: number };
  labels: string | null;
  options: Record<string, unknown> & { mode: PruneMode; epsilonGain: number; backend: string };
  mode: PruneMode;
  backend: string;
  adapter: string;
  relativeDiscrepancy: number;
  /** On the pruning samples (null without labels). */
  accuracyBefore: number | null;
  accuracyAfter: number | null;
  heldOut: HeldOutAccuracy | null;
  nonzerosBefore: number;
  nonzerosAfter: number;
  files: { model: string[]; sparse: string; report: string[]; denseWeightBytes: number; sparseExportBytes: number };
  layers: LayerPruneReport[];
  weightHistograms: WeightHistogram[];
  seconds: number;
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
  model: { path: string; format: string };
  samples: { path: string; count: number };
  labels: string | null;
  options: Record<string, unknown> & { mode: PruneMode; epsilonGains: number[]; backend: string };
  mode: PruneMode;
  backend: string;
  adapter: string;
  points: SweepPointDocument[];
  seconds: number;
}
