// Constant units into the next bias (before removeUnits.ts): a dense unit or conv channel whose
// weights are all zero outputs its bias, a constant; after pruning in parallel mode this happens
// (the next layer was solved on the trained network, where the unit still varied, and reads it).
// When one dense or conv layer reads that unit, through layers that keep channels apart (ReLU,
// activations, BatchNorm, pools, flatten; each read by that one layer only), what it reads from the
// unit does not depend on the input: it goes into the reader's bias and the reader's weights on it
// become zeros, so the unit is unread and removeUnits takes it out. The values are those of one
// float64 forward pass, position by position; a conv reader takes a channel only when the channel
// is the same at every position and the reader adds no padding (padding would make its share vary
// near the borders). Exact up to the float32 rounding of the new bias.
import { forwardCpu } from '../network/forwardCpu.js';
import { NETWORK_INPUT, type NetworkGraph } from '../network/graph.js';
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../network/types.js';

/** Layers whose output channel c depends on their input channel c alone. */
const PER_CHANNEL = new Set<Layer['kind']>(['relu', 'activation', 'batchnorm', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'globalmaxpool', 'upsample', 'flatten']);

export interface ConstantFold {
  /** The layer whose units were constant, and the one whose bias took them. */
  from: string;
  into: string;
  units: number;
}

/** Output units (dense) or channels (conv) of `layer` that no weight reads anything into. */
function constantUnits(layer: DenseLayer | Conv2DLayer): number[] {
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  const live = new Uint8Array(outputs);
  for (let i = 0; i < layer.kernel.length; i++) if (layer.kernel[i] !== 0) live[i % outputs] = 1;
  return [...live.keys()].filter((u) => !live[u]);
}

const noPadding = (padding: Conv2DLayer['padding']) => padding === 'valid' || (Array.isArray(padding) && padding.every((p) => p === 0));

/**
 * The network with the constant units' contributions moved into their readers' biases (the input
 * network is not modified), and what moved.
 */
export function foldConstantUnits(network: Network, graph: NetworkGraph): { network: Network; folds: ConstantFold[] } {
  const layers = network.layers;
  const plans: { producer: number; reader: number; units: Set<number> }[] = [];
  layers.forEach((reader, j) => {
    if (!((reader.kind === 'dense' || (reader.kind === 'conv2d' && (reader.groups ?? 1) === 1 && noPadding(reader.padding))) && reader.bias)) return;
    let t = graph.sources[j][0];
    while (t !== NETWORK_INPUT && PER_CHANNEL.has(layers[t].kind) && graph.consumers[t].length === 1) t = graph.sources[t][0];
    if (t === NETWORK_INPUT || graph.consumers[t].length !== 1) return;
    const producer = layers[t];
    if ((producer.kind !== 'dense' && producer.kind !== 'conv2d') || producer.activation === 'softmax') return;
    const units = constantUnits(producer);
    if (units.length) plans.push({ producer: t, reader: j, units: new Set(units) });
  });
  if (!plans.length) return { network, folds: [] };

  // One sample (zeros; any input gives the constants the same values) through the network.
  const forward = forwardCpu(network, new Float32Array(network.inputShape.reduce((a, b) => a * b, 1)), 1, { collect: true });
  const folded = [...layers];
  const folds: ConstantFold[] = [];
  for (const { producer, reader, units } of plans) {
    const input = forward.collected.get(reader)?.input;
    if (!input) continue;
    const layer = layers[reader] as DenseLayer | Conv2DLayer;
    const p = layers[producer] as DenseLayer | Conv2DLayer;
    const channels = p.kind === 'dense' ? p.units : p.filters;
    const kernel = Float32Array.from(layer.kernel);
    const bias = Float64Array.from(layer.bias!);
    let moved = 0;
    if (layer.kind === 'dense') {
      // NHWC flatten: feature k comes from channel k mod C.
      const M = layer.units;
      for (let k = 0; k < layer.inputs; k++) {
        if (!units.has(k % channels)) continue;
        for (let f = 0; f < M; f++) bias[f] += input[k] * kernel[k * M + f];
        kernel.fill(0, k * M, (k + 1) * M);
      }
      moved = units.size;
    } else {
      const [C, F, taps] = [layer.inChannels, layer.filters, layer.kernelSize[0] * layer.kernelSize[1]];
      for (const c of units) {
        const value = input[c];
        let uniform = true;
        for (let i = c; i < input.length && uniform; i += C) uniform = input[i] === value;
        if (!uniform) continue;
        for (let k = 0; k < taps; k++)
          for (let f = 0; f < F; f++) {
            bias[f] += value * kernel[(k * C + c) * F + f];
            kernel[(k * C + c) * F + f] = 0;
          }
        moved++;
      }
    }
    if (!moved) continue;
    folded[reader] = { ...layer, kernel, bias: Float32Array.from(bias) };
    folds.push({ from: p.name, into: layer.name, units: moved });
  }
  return { network: { ...network, layers: folded }, folds };
}
