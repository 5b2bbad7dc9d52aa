// Sparse export: every prunable layer's kernel in CSR form, in a safetensors file (an 8-byte
// little-endian header length, a JSON header, then the raw tensors). The format is simple enough
// that no library is needed; any safetensors reader loads it. Kernels are stored as 2-D
// (rows × cols) = (N × M) for dense and (kh·kw·cin × cout) for conv, in the Keras layout. Values
// and biases are stored as the model file stores them (the layer's storage): F16 for float16,
// and for TF.js's affine quantization the grid integers (U8, U16), the grid in the metadata.
import { floatToHalf } from '../network/half.js';
import { onGrid, quantize, storageBytes } from '../network/storage.js';
import type { Network, WeightStorage } from '../network/types.js';

interface Tensor {
  dtype: 'F32' | 'F16' | 'I32' | 'U16' | 'U8';
  shape: number[];
  data: Float32Array | Int32Array | Uint16Array | Uint8Array;
}

/**
 * Values (some of `whole`'s) as `storage` holds them, and the grid that reads them (value =
 * q·scale + min) where it is one: the grid of the whole tensor, whose zero is a grid point.
 */
function stored(values: Float32Array, storage: WeightStorage | undefined, whole = values): { tensor: Pick<Tensor, 'dtype' | 'data'>; quantization?: object } {
  if (storage === 'float16') return { tensor: { dtype: 'F16', data: Uint16Array.from(values, floatToHalf) } };
  const grid = storage && onGrid(whole, storage) ? storage : null;
  if (!grid) return { tensor: { dtype: 'F32', data: values } };
  return { tensor: { dtype: grid.dtype === 'uint8' ? 'U8' : 'U16', data: quantize(values, grid) }, quantization: grid };
}

export interface SparseExport {
  bytes: Uint8Array;
  /** Bytes of all dense/conv weights and biases stored dense (what TF.js/ONNX store: float32, or float16 for such a model). */
  denseBytes: number;
  sparseBytes: number;
}

/** CSR of a rows×cols kernel; column indices are uint16 when they fit (2 bytes a nonzero saved). */
function csr(kernel: Float32Array, rows: number, cols: number): { indptr: Int32Array; indices: Int32Array | Uint16Array; values: Float32Array } {
  let nonzeros = 0;
  for (let i = 0; i < kernel.length; i++) if (kernel[i] !== 0) nonzeros++;
  const indptr = new Int32Array(rows + 1);
  const indices = cols <= 65536 ? new Uint16Array(nonzeros) : new Int32Array(nonzeros);
  const values = new Float32Array(nonzeros);
  let k = 0;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const v = kernel[r * cols + c];
      if (v !== 0) {
        indices[k] = c;
        values[k++] = v;
      }
    }
    indptr[r + 1] = k;
  }
  return { indptr, indices, values };
}

export function exportSparse(network: Network): SparseExport {
  const tensors = new Map<string, Tensor>();
  const layout: Record<string, string> = {};
  let denseBytes = 0;
  for (const layer of network.layers) {
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') continue;
    const [rows, cols] =
      layer.kind === 'dense' ? [layer.inputs, layer.units] : [layer.kernelSize[0] * layer.kernelSize[1] * layer.inChannels, layer.filters];
    const { indptr, indices, values } = csr(layer.kernel, rows, cols);
    tensors.set(`${layer.name}.kernel.indptr`, { dtype: 'I32', shape: [rows + 1], data: indptr });
    tensors.set(`${layer.name}.kernel.indices`, { dtype: indices instanceof Uint16Array ? 'U16' : 'I32', shape: [indices.length], data: indices });
    const kernel = stored(values, layer.storage?.kernel, layer.kernel);
    tensors.set(`${layer.name}.kernel.values`, { shape: [values.length], ...kernel.tensor });
    layout[`${layer.name}.kernel`] = JSON.stringify({
      format: 'csr',
      shape: [rows, cols],
      kerasShape: layer.kind === 'dense' ? [rows, cols] : [...layer.kernelSize, layer.inChannels, layer.filters],
      ...(kernel.quantization ? { quantization: kernel.quantization } : {}),
    });
    denseBytes += layer.kernel.length * storageBytes(layer.storage?.kernel);
    if (layer.bias) {
      const bias = stored(layer.bias, layer.storage?.bias);
      tensors.set(`${layer.name}.bias`, { shape: [layer.bias.length], ...bias.tensor });
      if (bias.quantization) layout[`${layer.name}.bias`] = JSON.stringify({ quantization: bias.quantization });
      denseBytes += layer.bias.length * storageBytes(layer.storage?.bias);
    }
  }
  const header: Record<string, unknown> = { __metadata__: layout };
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padding = (8 - (json.length % 8)) % 8; // spaces, so the data starts 8-byte aligned
  const headerBytes = new Uint8Array(json.length + padding).fill(0x20);
  headerBytes.set(json);
  const bytes = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  bytes.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    bytes.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return { bytes, denseBytes, sparseBytes: bytes.length };
}
