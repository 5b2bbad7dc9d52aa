// Messages between the demo page (app.ts) and its pruning worker (worker.ts).
import type { QuantizeDtype, SolveProgress } from '../../src/index.js';

export interface PruneSettings {
  mode: 'cascade' | 'parallel';
  epsilonGain: number;
  /** Search the gain for this share removed (of weights; of neurons and channels when structured) instead. */
  targetSparsity?: number;
  /** Search the most pruning whose accuracy drops by at most this many points (needs labels). */
  maxAccuracyDrop?: number;
  /** Structured Net-Trim: whole neurons and channels, removed from the written model. */
  structured: boolean;
  /** TF.js models: the dense and conv weights written quantized (prune --quantize). */
  quantize?: QuantizeDtype;
  /** Use only the first n samples (and labels). */
  maxSamples?: number;
  /** ADMM iteration limit per layer (library default when absent). */
  maxIterations?: number;
  backend: 'webgpu' | 'cpu';
}

/**
 * The model and data of a run: a bundled model by URL (fetched by the worker), or the files the
 * user dropped: model.json with its weight shards, or one .onnx, plus a float .npy of samples and
 * optionally an integer .npy of labels (told apart by dtype).
 */
export type JobInput = { urls: { model: string; samples: string; labels?: string } } | { files: File[] };

export type ToWorker =
  | { type: 'probe' }
  | { type: 'inspect'; id: number; input: JobInput; maxSamples?: number }
  | { type: 'prune'; id: number; input: JobInput; settings: PruneSettings }
  | { type: 'cancel'; id: number };

export interface LayerInfo {
  name: string;
  kind: 'dense' | 'conv2d';
  program: 'relu' | 'clip' | 'linear';
  /** "784 → 64" or "3×3×8 → 16". */
  shape: string;
  nonzeros: number;
}

export interface InputSummary {
  model: {
    name: string;
    format: 'tfjs' | 'onnx';
    inputShape: number[];
    layers: LayerInfo[];
    /** The network as the library reads it (describeNetwork, as `net-trim inspect` prints it). */
    graph: string[];
  };
  samples: { name: string; count: number; total: number };
  labels: { name: string } | null;
}

/** What the finished page shows and offers for download. */
export interface PruneOutcome {
  summary: {
    mode: 'cascade' | 'parallel';
    nonzerosBefore: number;
    nonzerosAfter: number;
    relativeDiscrepancy: number;
    accuracyBefore: number | null;
    accuracyAfter: number | null;
    /** Accuracy on the samples after the first `samples` (not used to prune), with labels. */
    heldOut: { count: number; accuracyBefore: number; accuracyAfter: number } | null;
    /** Samples the pruning used. */
    samples: number;
    seconds: number;
    adapter: string;
    /** Neurons and channels of the written model (structured), before and after; null when not removed. */
    units: { before: number; after: number } | null;
    /** The gain search's outcome in words; null without a target. */
    search: string | null;
  };
  layers: Array<{
    name: string;
    nonzerosBefore: number;
    nonzerosAfter: number;
    epsilon: number;
    achievedDiscrepancy: number;
    consistencyBound: number | null;
    relativeDualityGap: number;
    iterations: number;
    converged: boolean;
    seconds: number;
    /** Nonzero fraction of the kernel in a grid of at most 128×128 cells (rows: inputs, columns: outputs). */
    pattern: { rows: number; cols: number; density: Float32Array };
    /** Dense layers on a square image (784 = 28²): per input pixel, how many of the `outputs` it still feeds. */
    inputUsage: { width: number; counts: Float32Array; outputs: number } | null;
  }>;
  files: Array<{ name: string; type: string; bytes: ArrayBuffer }>;
}

export type FromWorker =
  | { type: 'gpu'; ok: true; adapter: string }
  | { type: 'gpu'; ok: false; message: string }
  | { type: 'inspected'; id: number; input: InputSummary }
  | { type: 'status'; id: number; text: string }
  | { type: 'started'; id: number; input: InputSummary; adapter: string }
  | { type: 'layer-start'; id: number; name: string; position: number; total: number }
  | ({ type: 'progress'; id: number; name: string } & SolveProgress)
  | { type: 'layer-done'; id: number; name: string; nonzerosBefore: number; nonzerosAfter: number; iterations: number; converged: boolean; seconds: number }
  | { type: 'done'; id: number; outcome: PruneOutcome }
  | { type: 'cancelled'; id: number }
  | { type: 'error'; id: number; kind: 'input' | 'gpu' | 'other'; message: string };
