// What a network costs to store and to run, per sample, before and after pruning (browser-safe).
//
// `macs` counts the multiply-accumulates a dense runtime (TF.js, onnxruntime) does whatever the
// weights are: pruning leaves it unchanged, because zeros are multiplied like any other weight.
// `sparseMacs` counts only the products with a nonzero weight: the work a sparse kernel would do,
// the bound on what pruning can save. Layers with weights are counted (dense, conv2d,
// batchnorm; an embedding's table is stored but multiplies nothing), and attention's products of two computed tensors (matmul: no weight to prune, the
// same count in both); activations, pools, adds and concats cost one operation per value or less and no
// multiplications by weights, so they are left out of both.
import { networkGraph } from './graph.js';
import { shapeSize } from './shapes.js';
import type { Network } from './types.js';

export interface CostCounts {
  /** Every stored weight: kernels, biases, BatchNorm scales and offsets, embedding tables. */
  params: number;
  /** The stored weights that are not exactly zero. */
  nonzeroParams: number;
  /** Multiply-accumulates per sample of the dense math (see the file's comment). */
  macs: number;
  /** Multiply-accumulates per sample by nonzero weights only. */
  sparseMacs: number;
}

export interface LayerCost extends CostCounts {
  /** Position in network.layers. */
  index: number;
  name: string;
  kind: 'dense' | 'conv2d' | 'batchnorm' | 'matmul' | 'embedding';
}

export interface NetworkCost {
  /** The layers with weights, in network order. */
  layers: LayerCost[];
  total: CostCounts;
}

function nonzeros(values: ArrayLike<number> | null): number {
  if (!values) return 0;
  let count = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) count++;
  return count;
}

/** The cost of `network` per layer with weights and in total (validates it: see networkGraph). */
export function networkCost(network: Network): NetworkCost {
  const graph = networkGraph(network);
  const layers: LayerCost[] = [];
  network.layers.forEach((layer, index) => {
    const out = graph.outputShapes[index];
    let counts: CostCounts;
    switch (layer.kind) {
      case 'dense': {
        const kernelNonzeros = nonzeros(layer.kernel);
        counts = {
          params: layer.kernel.length + (layer.bias?.length ?? 0),
          nonzeroParams: kernelNonzeros + nonzeros(layer.bias),
          macs: layer.inputs * layer.units,
          sparseMacs: kernelNonzeros,
        };
        break;
      }
      case 'conv2d': {
        // Every kernel weight is used once per output pixel; padding taps are multiplied too in
        // the runtimes' im2col/GEMM kernels, so they count.
        const pixels = out[0] * out[1];
        const kernelNonzeros = nonzeros(layer.kernel);
        counts = {
          params: layer.kernel.length + (layer.bias?.length ?? 0),
          nonzeroParams: kernelNonzeros + nonzeros(layer.bias),
          macs: pixels * layer.kernel.length, // = outH·outW·kh·kw·(cin/groups)·cout
          sparseMacs: pixels * kernelNonzeros,
        };
        break;
      }
      case 'batchnorm': {
        // One multiply-add per value (scale·x + offset); a zero scale leaves only the offset.
        const perChannel = shapeSize(out) / layer.scale.length;
        counts = {
          params: layer.scale.length + layer.offset.length,
          nonzeroParams: nonzeros(layer.scale) + nonzeros(layer.offset),
          macs: shapeSize(out),
          sparseMacs: perChannel * nonzeros(layer.scale),
        };
        break;
      }
      case 'matmul': {
        const [batch, m, k] = graph.inputShapes[index][0];
        const macs = batch * m * k * out[2];
        counts = { params: 0, nonzeroParams: 0, macs, sparseMacs: macs };
        break;
      }
      case 'embedding':
        // Stored, and usually the largest tensor of a text model; a lookup multiplies nothing.
        counts = { params: layer.table.length, nonzeroParams: nonzeros(layer.table), macs: 0, sparseMacs: 0 };
        break;
      default:
        return;
    }
    layers.push({ index, name: layer.name, kind: layer.kind, ...counts });
  });
  const total: CostCounts = { params: 0, nonzeroParams: 0, macs: 0, sparseMacs: 0 };
  for (const layer of layers) for (const key of Object.keys(total) as (keyof CostCounts)[]) total[key] += layer[key];
  return { layers, total };
}

/** 52650 → '52 650'; from ten million on, three digits: '12.3 M', '1.81 G' (a CLI line stays short). */
export function formatCount(n: number): string {
  if (n >= 1e9) return `${Number((n / 1e9).toPrecision(3))} G`;
  if (n >= 1e7) return `${Number((n / 1e6).toPrecision(3))} M`;
  return String(Math.round(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ' ');
}

function share(part: number, whole: number): string {
  return whole > 0 ? `${((100 * part) / whole).toFixed(1)}% kept` : 'nothing to keep';
}

/**
 * Lines for a CLI summary of pruning: the nonzero weights and the multiply-accumulates by
 * nonzero weights, before → after, with the share kept; and what a dense runtime still does.
 */
export function formatCost(before: NetworkCost, after: NetworkCost): string[] {
  const b = before.total;
  const a = after.total;
  const lines = [
    `weights: ${formatCount(b.nonzeroParams)} → ${formatCount(a.nonzeroParams)} nonzero (${share(a.nonzeroParams, b.nonzeroParams)}; ${formatCount(a.params)} stored)`,
    `multiply-accumulates per sample by nonzero weights: ${formatCount(b.sparseMacs)} → ${formatCount(a.sparseMacs)} (${share(a.sparseMacs, b.sparseMacs)})`,
  ];
  // Dense runtimes multiply the zeros too: say so, so the second line is not read as a speed-up.
  lines.push(`a dense runtime still does ${formatCount(a.macs)} multiply-accumulates per sample${a.macs !== b.macs ? ` (was ${formatCount(b.macs)})` : ''}`);
  return lines;
}
