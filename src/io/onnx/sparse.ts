// withSparseInitializers: a (pruned) ONNX model with its sparse weights stored as
// SparseTensorProtos in graph.sparse_initializer, for smaller files. Browser-safe (no Node
// built-ins). ONNX spec: a SparseTensorProto holds `values`, a TensorProto of the NNZ nonzero
// values named as the tensor; `indices`, an INT64 TensorProto of dims [NNZ] with the row-major
// linearized positions, ascending; and `dims`, the dense shape. Runtimes (onnxruntime) rebuild the
// dense tensor when they load the model, so the outputs are the same floats (a −0 weight is
// rebuilt as +0: only the sign of a layer output that is exactly zero can differ).
//
// An int64 index makes a nonzero cost 12 bytes against 4 dense: only tensors of density below
// about 1/3 shrink, and the others stay dense. Sizes are the encoded protobuf messages, so the
// decision is the file's: a tensor moves exactly when its SparseTensorProto is smaller than its
// TensorProto. Gzipped, the dense file with its zeros is about as small (runs of zeros compress
// well): this shrinks the file as stored or served uncompressed.
import type { onnx as OnnxTypes } from 'onnx-proto';
import { InputError } from '../../errors.js';
import {
  DATA_TYPE_NAMES, declaredDims, decodeModel, EXTERNAL, FLOAT, FLOAT16, floatBytes, INT64, isDefaultDomain, onnx, product, shapeText,
  type TensorProto,
} from './common.js';
import { halfBytes } from '../../network/half.js';
import { halfValues } from './float16.js';

type SparseTensorProto = OnnxTypes.ISparseTensorProto;

/** One weight tensor considered: it was moved to sparse_initializer exactly when sparseBytes < denseBytes. */
export interface SparseTensorEntry {
  name: string;
  /** Values of the dense tensor (the product of its dims). */
  values: number;
  /** Its values other than ±0 (−0, which the soft threshold leaves, counts as zero and is rebuilt as +0). */
  nonzeros: number;
  /** Encoded size of its TensorProto as it is in the model. */
  denseBytes: number;
  /** Encoded size of its SparseTensorProto (values + int64 indices + dims). */
  sparseBytes: number;
}

/** Ops whose input 1 is the weight (the layers Net-Trim prunes). */
const WEIGHT_OPS = new Set(['Conv', 'Gemm', 'MatMul']);

/**
 * The model `modelBytes` with every float32 (or float16) initializer that is the weight (input 1) of a Conv,
 * Gemm or MatMul node, and whose sparse form is smaller, moved into graph.sparse_initializer;
 * everything else is kept as is (graph inputs that name initializers, as IR < 4 models list them,
 * stay: onnxruntime accepts them with sparse initializers). `tensors` lists every such weight
 * considered, in initializer order. Throws an InputError naming `source` for a file that is not
 * a model or a weight whose declared size is out of bounds or does not match its data.
 */
export function withSparseInitializers(modelBytes: Uint8Array, source: string): { bytes: Uint8Array; tensors: SparseTensorEntry[] } {
  const model = decodeModel(modelBytes, source);
  const graph = model.graph!;
  const weights = new Set<string>();
  for (const node of graph.node ?? []) {
    const weight = node.input?.[1];
    if (weight && WEIGHT_OPS.has(node.opType ?? '') && isDefaultDomain(node.domain)) weights.add(weight);
  }
  const initializers: TensorProto[] = [];
  const sparse: SparseTensorProto[] = [];
  const tensors: SparseTensorEntry[] = [];
  for (const tensor of graph.initializer ?? []) {
    const name = tensor.name ?? '';
    // Only float32 and float16 weights whose data is inside the file (external data has nothing here to shrink).
    if (!weights.has(name) || (tensor.dataType !== FLOAT && tensor.dataType !== FLOAT16) || tensor.dataLocation === EXTERNAL) {
      initializers.push(tensor);
      continue;
    }
    const { dims, values } = tensor.dataType === FLOAT16 ? halfValues(tensor, `${source}: initializer '${name}'`) : floatValues(tensor, source);
    const { proto: candidate, nonzeros } = sparseForm(name, dims, values, tensor.dataType!, tensor.docString);
    const denseBytes = onnx.TensorProto.encode(tensor).finish().length;
    const sparseBytes = onnx.SparseTensorProto.encode(candidate).finish().length;
    tensors.push({ name, values: values.length, nonzeros, denseBytes, sparseBytes });
    if (sparseBytes < denseBytes) sparse.push(candidate);
    else initializers.push(tensor);
  }
  if (sparse.length === 0) return { bytes: new Uint8Array(modelBytes), tensors };
  graph.initializer = initializers;
  graph.sparseInitializer = [...(graph.sparseInitializer ?? []), ...sparse];
  return { bytes: new Uint8Array(onnx.ModelProto.encode(model).finish()), tensors }; // a copy: not a view of a Buffer pool
}

/** A float32 initializer's values, its declared size checked before anything is allocated. */
function floatValues(tensor: TensorProto, source: string): { dims: number[]; values: Float32Array } {
  const where = `${source}: initializer '${tensor.name ?? ''}'`;
  const dims = declaredDims(tensor);
  if (typeof dims === 'string') throw new InputError(`${where}: ${dims}`);
  const count = product(dims);
  const raw = tensor.rawData;
  if (raw && raw.length > 0) {
    if (raw.length !== count * 4) throw new InputError(`${where}: raw_data of ${raw.length} bytes: expected ${count * 4} for ${DATA_TYPE_NAMES[FLOAT]} shape ${shapeText(dims)}`);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const values = new Float32Array(count);
    for (let i = 0; i < count; i++) values[i] = view.getFloat32(i * 4, true);
    return { dims, values };
  }
  const data = tensor.floatData ?? [];
  if (data.length !== count) throw new InputError(`${where}: ${data.length} float_data values: expected ${count} for shape ${shapeText(dims)}`);
  return { dims, values: Float32Array.from(data) };
}

/** The SparseTensorProto of a dense tensor: nonzero values, their int64 row-major positions, the dense dims. */
function sparseForm(name: string, dims: number[], values: Float32Array, dataType: number, docString: string | null | undefined): { proto: SparseTensorProto; nonzeros: number } {
  let nonzeros = 0;
  for (let i = 0; i < values.length; i++) if (values[i] !== 0) nonzeros++; // NaN counts: NaN !== 0
  const kept = new Float32Array(nonzeros);
  const indices = new Uint8Array(nonzeros * 8);
  const view = new DataView(indices.buffer);
  for (let i = 0, k = 0; i < values.length; i++) {
    if (values[i] === 0) continue;
    kept[k] = values[i];
    // Little-endian int64: positions are below MAX_VALUES = 2^28, so the high word stays 0.
    view.setUint32(k * 8, i, true);
    k++;
  }
  const proto = {
    values: { name, dims: [nonzeros], dataType, rawData: dataType === FLOAT16 ? halfBytes(kept) : floatBytes(kept), ...(docString ? { docString } : {}) },
    indices: { dims: [nonzeros], dataType: INT64, rawData: indices },
    dims,
  };
  return { proto, nonzeros };
}
