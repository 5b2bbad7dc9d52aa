// The pieces of pruneNetwork that know a layer, not a schedule: a layer's program input from its
// activations, its pre-activation with the trained weights, sizes and counts, and the budgeted
// runner of parallel solves.
import type { ForwardResult } from '../network/forwardCpu.js';
import { windowGeometry } from '../network/shapes.js';
import type { Conv2DLayer, DenseLayer, Network } from '../network/types.js';
import { designOf, inputColumns, inputRows, isImagePatches } from '../solver/design.js';
import type { LayerInput } from '../solver/types.js';

export type Forward = (network: Network) => Promise<ForwardResult>;

/** WebGPU cannot report free device memory; this budget is safe on integrated GPUs too. */
export const DEFAULT_CONCURRENT_BYTES = 512 * 2 ** 20;

/** GPU bytes of one layer solve: X (or the images of its patches), Y, V and the state arrays (see solver/gpu/gpuSolver.ts). */
export function problemBytes(X: LayerInput, outputs: number): number {
  const samples = inputRows(X);
  const columns = inputColumns(X) + 1;
  const solveSize = Math.min(samples, columns);
  const xValues = isImagePatches(X) ? X.images.length : samples * columns;
  return 4 * (xValues + 7 * samples * outputs + 6 * columns * outputs + solveSize * solveSize);
}

/**
 * Runs tasks, several at a time while the sum of their `bytes` stays within `budget` (one at a
 * time when budget is 0); results come back in task order.
 */
export async function runWithinBudget<T>(tasks: Array<{ bytes: number; run: () => Promise<T> }>, budget: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  let inUse = 0;
  let failure: { error: unknown } | null = null;
  const running = new Set<Promise<void>>();
  while ((next < tasks.length && !failure) || running.size) {
    while (!failure && next < tasks.length && (running.size === 0 || inUse + tasks[next].bytes <= budget)) {
      const index = next++;
      const { bytes, run } = tasks[index];
      inUse += bytes;
      const task: Promise<void> = run()
        .then((value) => void (results[index] = value), (error) => void (failure ??= { error }))
        .finally(() => {
          inUse -= bytes;
          running.delete(task);
        });
      running.add(task);
    }
    if (running.size) await Promise.race(running);
  }
  // Every started solve has settled (none is left running on the device) before the first error is rethrown.
  if (failure) throw (failure as { error: unknown }).error;
  return results;
}

export function cloneNetwork(network: Network): Network {
  return {
    inputShape: [...network.inputShape],
    layers: network.layers.map((l) =>
      l.kind === 'dense' || l.kind === 'conv2d' ? { ...l, kernel: Float32Array.from(l.kernel), bias: l.bias && Float32Array.from(l.bias) } : { ...l },
    ),
  };
}

export function countNonzeros(values: ArrayLike<number> | null): number {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

export function layerNonzeros(layer: DenseLayer | Conv2DLayer): number {
  return countNonzeros(layer.kernel) + countNonzeros(layer.bias);
}

/** The layer's program input: X (one row per sample), or a conv layer's patches (one row per output position). */
export function programInput(layer: DenseLayer | Conv2DLayer, input: Float32Array | Float64Array, inputShape: number[], samples: number): LayerInput {
  if (layer.kind === 'dense') return { rows: samples, cols: layer.inputs, data: input };
  const g = windowGeometry(layer, inputShape);
  return {
    images: input,
    count: samples,
    height: g.inH,
    width: g.inW,
    channels: g.channels,
    kernelHeight: g.kernelH,
    kernelWidth: g.kernelW,
    strideHeight: g.strideH,
    strideWidth: g.strideW,
    padTop: g.padTop,
    padLeft: g.padLeft,
    outHeight: g.outH,
    outWidth: g.outW,
  };
}

export function outputCount(layer: DenseLayer | Conv2DLayer): number {
  return layer.kind === 'dense' ? layer.units : layer.filters;
}

/** XW + b, P×M in float64. */
export function preActivation(X: LayerInput, layer: DenseLayer | Conv2DLayer): Float64Array {
  const M = outputCount(layer);
  const weights = new Float64Array((inputColumns(X) + (layer.bias ? 1 : 0)) * M);
  weights.set(layer.kernel);
  if (layer.bias) weights.set(layer.bias, layer.kernel.length);
  return designOf(X, layer.bias !== null).multiply(weights, M);
}

export function frobenius(a: ArrayLike<number>, b: ArrayLike<number>, mask?: (i: number) => boolean): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) if (!mask || mask(i)) s += (a[i] - b[i]) ** 2;
  return Math.sqrt(s);
}

export function accuracy(outputs: ArrayLike<number>, labels: ArrayLike<number>, classes: number): number {
  let correct = 0;
  for (let p = 0; p < labels.length; p++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (outputs[p * classes + c] > outputs[p * classes + best]) best = c;
    if (best === Number(labels[p])) correct++;
  }
  return correct / labels.length;
}
