// ONNX models in and out, browser-safe: bytes in, bytes out (the protobuf codec is onnx-proto's
// generated protobufjs code; nothing here touches the file system).
//
// What is accepted (onnx/ops.ts has one handler per op): a DAG from one input (or several: token
// ids beside an attention mask, packed; onnx/inputs.ts, onnx/maskOps.ts) to one output (or
// several, packed: onnx/outputs.ts) of
// Gemm (alpha = 1, transA = 0, transB 0 or 1), MatMul (+ an Add of a constant bias), Conv (2-D,
// any group count, dilations), BatchNormalization (folded into the Conv/Gemm before it when that
// layer's output feeds only it, else a per-channel affine layer), Add of two tensors (residual),
// Mul of two tensors (a gate: one shape, or an image by [C, 1, 1]; onnx/gating.ts), Sub and Div
// of two tensors of one shape (a + (−1·b), a · (1/b)), Mul, Add, Sub and Div by a constant of one
// value or one per channel (a per-channel affine layer), a 1×1 Conv on
// a globally pooled tensor (a dense layer), Concat on the channel axis, Relu, Clip, LeakyRelu,
// Elu, Selu, Sigmoid, Tanh, HardSwish, HardSigmoid, Gelu, Softplus, Softsign, Mish, PRelu; SiLU, GELU, Hardswish, Mish and Softsign as PyTorch writes them
// (x·Sigmoid(x); (x·(Erf(x/√2) + 1))·½; x·HardSigmoid(x)), MaxPool and AveragePool (any pads,
// ceil_mode; a zero Pad before merged; onnx/windowOps.ts), GlobalAveragePool, ReduceMean and
// ReduceSum over H and W, Flatten (axis 1), Reshape to [batch, -1] (or a vector to [batch, C, 1, 1]), Softmax (last
// axis), Identity and Dropout; and shape computations (Shape, Gather, Unsqueeze, Squeeze, Cast,
// Slice, Sub, Div, Concat of shapes), folded for the input shape.
// Weights are float32 initializers (raw_data, float_data, or external data files: onnx/externalData.ts) or Constant nodes;
// a float16 model is read in float32 and written back in float16 (onnx/float16.ts). Every other graph
// is rejected with a one-line InputError naming the file and the node. Padding is kept as given:
// auto_pad VALID → 'valid', SAME_UPPER → 'same' (TF's), explicit pads → [top, left, bottom, right].
//
// Layouts. ONNX image tensors are NCHW with OIHW conv kernels; our Network is NHWC with HWIO
// kernels (src/network/types.ts). The conversion happens here, at the boundary, so that the
// Network computes the same function on NHWC data as the ONNX graph on the same data in NCHW:
//   - input shape [batch, C, H, W] → inputShape [H, W, C]; [batch, N] → [N];
//   - Conv weights OIHW [cout, cin, kh, kw] → kernel HWIO [kh, kw, cin, cout];
//   - Gemm weights with transB = 1 ([M, N], PyTorch's Linear) are transposed to our N×M; MatMul
//     and transB = 0 weights are already N×M;
//   - a Flatten (or Reshape) of a [C, H, W] image orders its features c·H·W + h·W + w in ONNX but
//     (h·W + w)·C + c in our NHWC network, so the rows of the first dense layer after it are
//     permuted from ONNX's CHW order to our HWC order. (Elementwise layers between the Flatten and
//     the dense layer keep the order; a flattened image that reaches the graph output without a
//     dense layer is rejected, since its feature order would differ.)
// ONNX expresses activations as nodes, so the imported Network has separate 'relu' and 'softmax'
// layers and every dense/conv layer has activation 'linear'. Layer names are the node names (made
// unique); the dense layer of a MatMul+Add is named after the MatMul.
//
// writeOnnxModel inverts the layout conversions for the (pruned) weights of a Network and writes
// them into the original model's initializers, matched by layer name; everything else (opset,
// node and tensor names, inputs, outputs, metadata) is kept but folded BatchNormalizations
// (onnx/writer.ts). (Fields newer than onnx-proto's ONNX
// 1.10 schema are not known to the codec and are dropped on writing.)
//
// networkToOnnx builds a fresh model from a Network (e.g. one trained with TF.js): input 'input'
// of shape [N, C, H, W] (or [N, features]) with a dynamic batch dim 'N', output 'output', opset
// 13 by default; Gemm (transB = 0, N×M weights), Conv (OIHW weights, explicit pads computed from
// the input size for 'same'), MaxPool, Flatten, and Relu/Softmax nodes for fused activations. The
// rows of the dense layer after a Flatten of an image are permuted from our HWC order to ONNX's
// CHW order, the inverse of the import.
export type { OnnxModelHandle } from './onnx/common.js';
export { onnxImportNotes, tfSamePads } from './onnx/common.js';
export { parseOnnxModel, parseOnnxModelWithData } from './onnx/reader.js';
export { modelWithDataInside, writeOnnxModel, writeOnnxModelFiles } from './onnx/writer.js';
export { networkToOnnx, type NetworkToOnnxOptions } from './onnx/export.js';
