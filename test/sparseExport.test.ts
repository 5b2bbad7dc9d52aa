// The sparse export is a valid safetensors file whose CSR tensors rebuild every kernel exactly.
import { describe, expect, it } from 'vitest';
import { exportSparse } from '../src/io/sparseExport.js';
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
    return dtype === 'F32' ? new Float32Array(raw) : dtype === 'U16' ? new Uint16Array(raw) : new Int32Array(raw);
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
});
