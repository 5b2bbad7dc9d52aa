// The sparse export is a valid safetensors file whose CSR tensors rebuild every kernel exactly.
import { describe, expect, it } from 'vitest';
import { exportSparse } from '../src/io/sparseExport.js';
import { halfToFloat } from '../src/network/half.js';
import { storeLayerWeights } from '../src/network/storage.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { gaussianMatrix, mulberry32 } from './helpers/random.js';

function sparse(values: Float64Array, keep: number, seed: number): Float32Array {
  const pick = mulberry32(seed);
  return Float32Array.from(values, (v) => (pick() < keep ? v : 0));
}

const dense: DenseLayer = { kind: 'dense', name: 'fc', kernel: sparse(gaussianMatrix(30, 7, 1), 0.2, 2), inputs: 30, units: 7, bias: new Float32Array([1, 0, 2, 0, 0, 3, 0]), activation: 'relu' };
const conv: Conv2DLayer = { kind: 'conv2d', name: 'conv', kernel: sparse(gaussianMatrix(3 * 3 * 2, 4, 3), 0.5, 4), kernelSize: [3, 3], inChannels: 2, filters: 4, bias: null, strides: [1, 1], padding: 'same', activation: 'relu' };
const network: Network = { inputShape: [5, 5, 2], layers: [conv, { kind: 'flatten', name: 'flatten' }, { ...dense, inputs: 100, kernel: sparse(gaussianMatrix(100, 7, 5), 0.1, 6) }] };

function readSafetensors(bytes: Uint8Array) {
  const headerLength = Number(new DataView(bytes.buffer, bytes.byteOffset).getBigUint64(0, true));
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLength)));
  const start = 8 + headerLength;
  const tensor = (name: string) => {
    const { dtype, data_offsets: [a, b] } = header[name];
    const raw = bytes.slice(start + a, start + b).buffer;
    return dtype === 'F32' ? new Float32Array(raw) : dtype === 'U16' ? new Uint16Array(raw) : dtype === 'U8' ? new Uint8Array(raw) : dtype === 'F16' ? Float32Array.from(new Uint16Array(raw), halfToFloat) : new Int32Array(raw);
  };
  return { header, tensor, start };
}

describe('sparse export', () => {
  it('rebuilds every kernel and bias exactly from CSR, and is smaller than the dense weights', () => {
    const { bytes, denseBytes, sparseBytes } = exportSparse(network);
    expect(sparseBytes).toBe(bytes.length);
    expect(sparseBytes).toBeLessThan(denseBytes);
    const { header, tensor, start } = readSafetensors(bytes);
    expect(start % 8).toBe(0);
    for (const layer of [network.layers[0], network.layers[2]] as Array<DenseLayer | Conv2DLayer>) {
      const meta = JSON.parse(header.__metadata__[`${layer.name}.kernel`]);
      const [rows, cols] = meta.shape;
      const indptr = tensor(`${layer.name}.kernel.indptr`);
      const indices = tensor(`${layer.name}.kernel.indices`);
      const values = tensor(`${layer.name}.kernel.values`);
      const rebuilt = new Float32Array(rows * cols);
      for (let r = 0; r < rows; r++) for (let k = indptr[r]; k < indptr[r + 1]; k++) rebuilt[r * cols + indices[k]] = values[k];
      expect(Array.from(rebuilt)).toEqual(Array.from(layer.kernel));
      if (layer.bias) expect(Array.from(tensor(`${layer.name}.bias`))).toEqual(Array.from(layer.bias));
      else expect(header[`${layer.name}.bias`]).toBeUndefined();
    }
  });

  it('stores the values as the model file does: the grid integers (U8) read on the kernel grid, halves (F16), at their bytes', () => {
    const fc8 = { ...(network.layers[2] as DenseLayer), kernel: Float32Array.from((network.layers[2] as DenseLayer).kernel), bias: Float32Array.from([1, 0, 2, 0, -0.5, 3, 0]), storage: { kernel: { dtype: 'uint8', scale: 1, min: 0 }, bias: { dtype: 'uint16', scale: 1, min: 0 } } } as DenseLayer;
    const half = { ...conv, kernel: Float32Array.from(conv.kernel), storage: { kernel: 'float16' } } as Conv2DLayer;
    storeLayerWeights(fc8);
    storeLayerWeights(half);
    const { bytes, denseBytes } = exportSparse({ ...network, layers: [half, network.layers[1], fc8] });
    expect(denseBytes).toBe(half.kernel.length * 2 + fc8.kernel.length + fc8.bias!.length * 2);
    const { header, tensor } = readSafetensors(bytes);
    expect(header['fc.kernel.values'].dtype).toBe('U8');
    expect(header['conv.kernel.values'].dtype).toBe('F16');
    const { quantization, shape: [rows, cols] } = JSON.parse(header.__metadata__['fc.kernel']);
    expect(quantization).toEqual(fc8.storage!.kernel);
    const [indptr, indices, q] = ['indptr', 'indices', 'values'].map((t) => tensor(`fc.kernel.${t}`));
    const rebuilt = new Float32Array(rows * cols);
    for (let r = 0; r < rows; r++) for (let k = indptr[r]; k < indptr[r + 1]; k++) rebuilt[r * cols + indices[k]] = q[k] * quantization.scale + quantization.min;
    expect(Array.from(rebuilt)).toEqual(Array.from(fc8.kernel));
    const bias = JSON.parse(header.__metadata__['fc.bias']).quantization;
    expect(Array.from(tensor('fc.bias'), (v) => Math.fround(v * bias.scale + bias.min))).toEqual(Array.from(fc8.bias!));
    const values = tensor('conv.kernel.values');
    expect(Array.from(values)).toEqual(Array.from(half.kernel.filter((v) => v !== 0)));
  });
});
