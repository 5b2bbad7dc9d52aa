// One dense/conv/per-channel layer with only some of its input and output channels: what unit and
// head removal (removeUnits.ts, attentionHeads.ts) both cut.
import type { Conv2DLayer, DenseLayer, Layer } from '../network/types.js';
import { isGroupedConv, type GroupedConv } from './liveChannels.js';

/** Whether any weight of input row `row` (dense) or input channel `row` (conv, every tap) is nonzero. */
export function inputRead(layer: DenseLayer | Conv2DLayer, row: number): boolean {
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  const inputs = layer.kind === 'dense' ? layer.inputs : layer.inChannels;
  const taps = layer.kind === 'dense' ? 1 : layer.kernelSize[0] * layer.kernelSize[1];
  for (let k = 0; k < taps; k++) {
    const start = (k * inputs + row) * outputs;
    for (let f = 0; f < outputs; f++) if (layer.kernel[start + f] !== 0) return true;
  }
  return false;
}

function pick(values: Float32Array, keep: Int32Array | null): Float32Array {
  return keep ? Float32Array.from(keep, (c) => values[c]) : values;
}

/** A conv kernel [kh, kw, rows, cols.length] of `layer`'s: output j reads old row row(j, i) as its row i. */
function pickKernel(layer: Conv2DLayer, cols: Int32Array, row: (j: number, i: number) => number, rows: number): Float32Array {
  const taps = layer.kernelSize[0] * layer.kernelSize[1];
  const inRows = layer.kernel.length / (taps * layer.filters);
  const kernel = new Float32Array(taps * rows * cols.length);
  for (let k = 0; k < taps; k++)
    for (let i = 0; i < rows; i++) cols.forEach((c, j) => (kernel[(k * rows + i) * cols.length + j] = layer.kernel[(k * inRows + row(j, i)) * layer.filters + c]));
  return kernel;
}

/**
 * A grouped conv with the kept channels, which must fill whole groups evenly (liveChannels.ts
 * balances them): the groups with kept outputs stay, each with as many inputs and outputs.
 */
function shrinkGrouped(layer: GroupedConv, input: Int32Array | null, out: Int32Array | null): Conv2DLayer {
  const groups = layer.groups;
  const perIn = layer.inChannels / groups;
  const perOut = layer.filters / groups;
  const rows = input ?? Int32Array.from({ length: layer.inChannels }, (_, r) => r);
  const cols = out ?? Int32Array.from({ length: layer.filters }, (_, c) => c);
  const kept = [...new Set(Array.from(cols, (c) => Math.floor(c / perOut)))];
  const inEach = rows.length / kept.length;
  const outEach = cols.length / kept.length;
  // Group s of the result is kept[s]: its inputs are rows s·inEach …, its outputs cols s·outEach ….
  const ok = Number.isInteger(inEach) && Number.isInteger(outEach) &&
    rows.every((r, i) => Math.floor(r / perIn) === kept[Math.floor(i / inEach)]) && cols.every((c, j) => Math.floor(c / perOut) === kept[Math.floor(j / outEach)]);
  if (!ok) throw new Error(`conv2d '${layer.name}': the channels kept do not fill its groups evenly (${rows.length} inputs, ${cols.length} outputs in ${kept.length} of ${groups} groups)`);
  const kernel = pickKernel(layer, cols, (j, i) => rows[Math.floor(j / outEach) * inEach + i] - kept[Math.floor(j / outEach)] * perIn, inEach);
  return { ...layer, kernel, inChannels: rows.length, filters: cols.length, groups: kept.length, bias: layer.bias && pick(layer.bias, out) };
}

/** The layer with only the kept input channels (rows) and output channels (columns) of its `channels`. */
export function shrinkLayer(layer: Layer, input: Int32Array | null, out: Int32Array | null, channels: number, inputChannels: number): Layer {
  switch (layer.kind) {
    case 'dense': {
      const rows = input ?? Int32Array.from({ length: layer.inputs }, (_, r) => r);
      const cols = out ?? Int32Array.from({ length: layer.units }, (_, c) => c);
      const kernel = new Float32Array(rows.length * cols.length);
      rows.forEach((r, i) => cols.forEach((c, j) => (kernel[i * cols.length + j] = layer.kernel[r * layer.units + c])));
      return { ...layer, kernel, inputs: rows.length, units: cols.length, bias: layer.bias && pick(layer.bias, out) };
    }
    case 'conv2d': {
      if (isGroupedConv(layer)) return shrinkGrouped(layer, input, out);
      const depthwise = (layer.groups ?? 1) > 1;
      // Depthwise: the kernel is [kh, kw, 1, filters] and input channels follow the outputs kept.
      const inRows = depthwise ? 1 : layer.inChannels;
      const rows = depthwise ? Int32Array.of(0) : (input ?? Int32Array.from({ length: inRows }, (_, r) => r));
      const cols = out ?? Int32Array.from({ length: layer.filters }, (_, c) => c);
      const kernel = pickKernel(layer, cols, (_, i) => rows[i], rows.length);
      const channels = depthwise ? (input ? input.length : layer.inChannels) : rows.length;
      return { ...layer, kernel, inChannels: channels, filters: cols.length, ...(depthwise ? { groups: channels } : {}), bias: layer.bias && pick(layer.bias, out) };
    }
    case 'batchnorm':
      return { ...layer, scale: pick(layer.scale, out), offset: pick(layer.offset, out) };
    case 'embedding': {
      if (!out) return layer;
      const table = Float32Array.from({ length: layer.vocabulary * out.length }, (_, i) => layer.table[Math.floor(i / out.length) * layer.dims + out[i % out.length]]);
      return { ...layer, table, dims: out.length };
    }
    case 'rearrange': {
      // The values of the kept output channels, reading the kept input channels' new positions.
      const outputs = layer.shape[layer.shape.length - 1];
      const keptOut = out ?? Int32Array.from({ length: outputs }, (_, c) => c);
      const position = new Int32Array(inputChannels).fill(-1);
      (input ?? Int32Array.from({ length: inputChannels }, (_, c) => c)).forEach((c, k) => (position[c] = k));
      const inputsNow = input ? input.length : inputChannels;
      const count = (layer.indices.length / outputs) * keptOut.length;
      const at = (i: number) => Math.floor(i / keptOut.length) * outputs + keptOut[i % keptOut.length];
      const indices = Int32Array.from({ length: count }, (_, i) => {
        const from = layer.indices[at(i)];
        return from < 0 ? -1 : Math.floor(from / inputChannels) * inputsNow + position[from % inputChannels];
      });
      const offset = layer.offset && Float32Array.from({ length: count }, (_, i) => layer.offset![at(i)]);
      return { ...layer, indices, offset, shape: [...layer.shape.slice(0, -1), keptOut.length] };
    }
    case 'activation': {
      // PReLU's slopes: one per channel, or per value (positions × channels, channels last).
      const slopes = layer.slopes;
      if (!slopes || !out) return layer;
      const positions = slopes.length / channels;
      return { ...layer, slopes: Float32Array.from({ length: positions * out.length }, (_, i) => slopes[Math.floor(i / out.length) * channels + out[i % out.length]]) };
    }
    default:
      return layer;
  }
}
