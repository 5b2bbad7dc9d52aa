// Weight histograms of a layer before and after pruning, on shared bins, for report.json and its
// plots. Zeros are counted apart: after pruning they are most of the layer and would flatten the
// histogram of the weights that remain.
import type { Conv2DLayer, DenseLayer, Network } from '../network/types.js';

export interface WeightHistogram {
  name: string;
  /** bins + 1 bin edges, symmetric around 0. */
  edges: number[];
  /** Nonzero trained weights per bin (kernel and bias). */
  before: number[];
  /** Nonzero pruned weights per bin. */
  after: number[];
  zerosBefore: number;
  zerosAfter: number;
  /** Weights in the layer (kernel and bias). */
  total: number;
}

export function weightHistogram(name: string, before: ArrayLike<number>, after: ArrayLike<number>, bins = 41): WeightHistogram {
  let extent = 0;
  for (const values of [before, after]) for (let i = 0; i < values.length; i++) extent = Math.max(extent, Math.abs(values[i]));
  if (!(extent > 0)) extent = 1;
  const width = (2 * extent) / bins;
  const edges = Array.from({ length: bins + 1 }, (_, i) => Number((-extent + i * width).toPrecision(6)));
  const count = (values: ArrayLike<number>) => {
    const counts = new Array<number>(bins).fill(0);
    let zeros = 0;
    for (let i = 0; i < values.length; i++) {
      const v = values[i];
      if (v === 0) zeros++;
      else counts[Math.min(bins - 1, Math.max(0, Math.floor((v + extent) / width)))]++;
    }
    return { counts, zeros };
  };
  const b = count(before);
  const a = count(after);
  return { name, edges, before: b.counts, after: a.counts, zerosBefore: b.zeros, zerosAfter: a.zeros, total: before.length };
}

function layerWeights(layer: DenseLayer | Conv2DLayer): Float32Array {
  const all = new Float32Array(layer.kernel.length + (layer.bias?.length ?? 0));
  all.set(layer.kernel);
  if (layer.bias) all.set(layer.bias, layer.kernel.length);
  return all;
}

/** One histogram per dense/conv layer named in `names`, trained network against pruned. */
export function networkHistograms(trained: Network, pruned: Network, names: readonly string[]): WeightHistogram[] {
  const out: WeightHistogram[] = [];
  for (const name of names) {
    const index = trained.layers.findIndex((l) => l.name === name);
    const a = trained.layers[index];
    const b = pruned.layers[index];
    if (!a || !b || !(a.kind === 'dense' || a.kind === 'conv2d') || !(b.kind === 'dense' || b.kind === 'conv2d')) continue;
    out.push(weightHistogram(name, layerWeights(a), layerWeights(b)));
  }
  return out;
}
