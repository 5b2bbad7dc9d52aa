// A feed-forward network as Net-Trim sees it: a directed acyclic graph of layers on one sample's
// tensor, listed in an order where every layer comes after the layers it reads (a chain is the
// special case where each layer reads the one before). Tensors are samples-major and NHWC
// (channels last, as TF.js/Keras); a batch of P samples of shape [H, W, C] is a
// Float32Array/Float64Array of P·H·W·C values, sample after sample. Importers convert other
// layouts (ONNX's NCHW, OIHW kernels) into these at the boundary.

export type Activation = 'relu' | 'linear' | 'softmax';

/** TF.js's affine quantization of a tensor (tensorflowjs_converter --quantize_uint8/16): value = q·scale + min, q = 0 … 2^bits − 1. */
export interface AffineGrid {
  readonly dtype: 'uint8' | 'uint16';
  readonly scale: number;
  readonly min: number;
}

/** How a model file stores a weight tensor when not float32: IEEE halves, or on an affine grid (storage.ts). */
export type WeightStorage = 'float16' | AffineGrid;

/**
 * How the model file stores a dense or conv layer's kernel and bias, where not float32 (a float16
 * ONNX model, a quantized TF.js model). Pruning rounds the layer's new weights to it and records
 * their new grid (storeLayerWeights), so the layers after, the report and the file agree.
 */
export interface LayerStorage {
  readonly kernel?: WeightStorage;
  readonly bias?: WeightStorage;
}

/** What every layer has. */
interface LayerBase {
  name: string;
  /**
   * The tensors this layer reads, by layer name (the network input is `Network.inputName`).
   * Omitted: the previous layer's output (the network input for the first layer). Add and Concat
   * read two or more, Mul, MatMul and LastToken two; every other layer reads one.
   */
  from?: string[];
}

export interface DenseLayer extends LayerBase {
  kind: 'dense';
  /** N×M kernel, row-major (Keras/TF.js layout: inputs × outputs). */
  kernel: Float32Array;
  inputs: number; // N
  units: number; // M
  bias: Float32Array | null; // M
  /** Fused activation (TF.js style). ONNX graphs express ReLU as a separate layer. */
  activation: Activation;
  storage?: LayerStorage;
}

/**
 * Explicit zero padding of a conv/pool window: [top, left, bottom, right] (any values ≥ 0), or
 * TF's 'valid' (none) and 'same' (out = ceil(in / stride), the odd pixel after).
 */
export type Padding = 'valid' | 'same' | [number, number, number, number];

export interface Conv2DLayer extends LayerBase {
  kind: 'conv2d';
  /**
   * [kh, kw, cin / groups, cout] kernel, row-major (Keras/TF.js HWIO layout); with groups > 1,
   * output channel f reads input channels g·cin/groups … (g+1)·cin/groups − 1, g = f div (cout/groups).
   */
  kernel: Float32Array;
  kernelSize: [number, number];
  inChannels: number;
  filters: number;
  bias: Float32Array | null; // cout
  strides: [number, number];
  padding: Padding;
  /** 1 (default) for a plain conv; inChannels with filters a multiple of it for a depthwise conv. */
  groups?: number;
  /** Spacing of the kernel's taps (default [1, 1]): tap ky reads row oy·stride − pad + ky·dilation. */
  dilations?: [number, number];
  activation: Activation;
  storage?: LayerStorage;
}

export interface ReluLayer extends LayerBase {
  kind: 'relu';
}

/** Pointwise activations other than ReLU (net-trim.md: their layers get the linear program). */
export type ActivationFunction = 'clip' | 'leakyRelu' | 'sigmoid' | 'tanh' | 'elu' | 'gelu' | 'geluTanh' | 'silu' | 'hardSwish' | 'hardSigmoid' | 'softplus' | 'softsign' | 'selu' | 'mish' | 'prelu' | 'reciprocal';
export const ACTIVATION_FUNCTIONS: readonly ActivationFunction[] = ['clip', 'leakyRelu', 'sigmoid', 'tanh', 'elu', 'gelu', 'geluTanh', 'silu', 'hardSwish', 'hardSigmoid', 'softplus', 'softsign', 'selu', 'mish', 'prelu', 'reciprocal'];

export interface ActivationLayer extends LayerBase {
  kind: 'activation';
  fn: ActivationFunction;
  /** clip: the bounds (ReLU6 is clip 0…6); leakyRelu, elu: alpha; hardSigmoid: alpha·x + beta; selu: alpha·(eˣ − 1) below 0, all times beta (λ). */
  min?: number;
  max?: number;
  alpha?: number;
  beta?: number;
  /**
   * prelu: the slopes below 0, learned: one per channel (the last axis), or one per value of a
   * sample (Keras's PReLU without shared axes); value i of a sample takes slopes[i mod length].
   */
  slopes?: Float32Array;
}

export interface MaxPool2DLayer extends LayerBase {
  kind: 'maxpool2d';
  poolSize: [number, number];
  strides: [number, number];
  padding: Padding;
}

export interface AvgPool2DLayer extends LayerBase {
  kind: 'avgpool2d';
  poolSize: [number, number];
  strides: [number, number];
  padding: Padding;
  /** Whether padded positions count in the mean (ONNX count_include_pad; TF.js: false). */
  countIncludePad: boolean;
}

/** The mean over H and W of an [H, W, C] tensor: [C]. */
export interface GlobalAvgPoolLayer extends LayerBase {
  kind: 'globalavgpool';
}

/** The max over H and W of an [H, W, C] tensor: [C] (Keras's GlobalMaxPooling2D, ONNX's GlobalMaxPool). */
export interface GlobalMaxPoolLayer extends LayerBase {
  kind: 'globalmaxpool';
}

/** Inference-mode batch normalization as the per-channel affine map y = scale·x + offset (last axis). */
export interface BatchNormLayer extends LayerBase {
  kind: 'batchnorm';
  scale: Float32Array;
  offset: Float32Array;
}

/**
 * Layer normalization over the channels (last axis) at each position: (x − mean) / √(var + ε),
 * then scale·… + offset per channel (ConvNeXt; var is the biased variance, as PyTorch's). `rms`:
 * RMSNorm (Llama, Mistral, Qwen, T5): nothing subtracted, x / √(mean(x²) + ε), then the same.
 */
export interface LayerNormLayer extends LayerBase {
  kind: 'layernorm';
  scale: Float32Array;
  offset: Float32Array;
  epsilon: number;
  rms?: true;
}

/**
 * Group normalization of an image [H, W, C]: each sample's channels in `groups` runs of C/groups,
 * each run normalized over its positions and channels together ((x − mean) / √(var + ε)), then
 * scale·… + offset per channel. InstanceNorm is groups = C (PyTorch's GroupNorm and InstanceNorm2d).
 */
export interface GroupNormLayer extends LayerBase {
  kind: 'groupnorm';
  groups: number;
  scale: Float32Array;
  offset: Float32Array;
  epsilon: number;
}

/** The elementwise sum of two or more tensors of one shape (a residual connection). */
export interface AddLayer extends LayerBase {
  kind: 'add';
}

/**
 * The elementwise product of two tensors: the first times the second, which has the first's
 * shape or one value per channel ([C], the first's last axis) broadcast over the positions
 * (a squeeze-and-excitation gate, x·sigmoid(s(x)) in MobileNetV3 and EfficientNet).
 */
export interface MulLayer extends LayerBase {
  kind: 'mul';
}

/** Two or more tensors joined along the channel (last) axis; the other dimensions agree. */
export interface ConcatLayer extends LayerBase {
  kind: 'concat';
}

/**
 * The input's channels (last axis) at `indices`: output channel c is input channel indices[c].
 * ShuffleNet's channel split (a range of channels) and channel shuffle (a permutation).
 */
export interface GatherLayer extends LayerBase {
  kind: 'gather';
  indices: number[];
}

/**
 * How an upsampled pixel reads its input, per axis, at output index o of a factor s: 'nearest'
 * the input ⌊o / s⌋; the bilinear modes interpolate between the two inputs around the source
 * coordinate (y + ½)/s − ½ ('bilinear': half pixel, PyTorch's align_corners=False), o·(in − 1)/(out − 1)
 * ('bilinear-align-corners') or o/s ('bilinear-asymmetric': TF.js's UpSampling2D), clamped at 0.
 * The GPU kernel takes the mode as its index here.
 */
export const UPSAMPLE_MODES = ['nearest', 'bilinear', 'bilinear-align-corners', 'bilinear-asymmetric'] as const;
export type UpsampleMode = (typeof UPSAMPLE_MODES)[number];

/** Upsampling by whole factors, each channel alone (U-Net, FPN, DeepLab decoders: PyTorch's nn.Upsample, Keras's UpSampling2D). */
export interface UpsampleLayer extends LayerBase {
  kind: 'upsample';
  scale: [number, number];
  /** Default 'nearest'. */
  mode?: UpsampleMode;
}

/**
 * Zeros between the pixels: input (y, x) goes to (y·sh, x·sw) of an image [(H − 1)·sh + 1,
 * (W − 1)·sw + 1, C], zeros elsewhere. A transposed conv (ConvTranspose, Conv2DTranspose) is this
 * and then an ordinary conv of stride 1 with the kernel flipped.
 */
export interface InsertZerosLayer extends LayerBase {
  kind: 'insertzeros';
  strides: [number, number];
}

/**
 * Values moved, and a constant added: output i is input[indices[i]] (none where indices[i] is −1)
 * plus offset[i], in an output of `shape`. Transformers' layout ops on one sample's tensor: a
 * Transpose or Reshape that moves values (attention's heads), a token picked (x[:, 0]) or a
 * constant token prepended (ViT's class token), a position embedding added.
 */
export interface RearrangeLayer extends LayerBase {
  kind: 'rearrange';
  indices: Int32Array;
  offset: Float32Array | null;
  shape: number[];
}

/**
 * The matrix product of two computed tensors, batched over their first axis: [B, M, K] times
 * [B, K, N] is [B, M, N] (attention's scores Q·Kᵀ per head, and the scores times V).
 */
export interface MatMulLayer extends LayerBase {
  kind: 'matmul';
}

/** The same values viewed as `shape` (tokens reshaped: attention's heads split or merged); moves nothing. */
export interface ReshapeLayer extends LayerBase {
  kind: 'reshape';
  shape: number[];
}

/**
 * Token ids to vectors (Keras's Embedding, PyTorch's nn.Embedding): the network input holds T ids
 * per sample (whole numbers from 0 to vocabulary − 1, held as floats), and output token t is row
 * ids[t] of the table: [1, T, dims], channels last as every sequence here. It reads the network
 * input, and only embeddings read an input of ids.
 */
export interface EmbeddingLayer extends LayerBase {
  kind: 'embedding';
  /** vocabulary × dims, row-major (Keras's layout; PyTorch's weight). */
  table: Float32Array;
  vocabulary: number;
  dims: number;
  /**
   * The rows are positions computed from the ids, as RoBERTa (XLM-R, CamemBERT) numbers its tokens:
   * token t's row is `start` where ids[t] is the padding id `pad`, else `start` plus the count of
   * tokens up to t that are not padding. The rows then are not ids: they bound the tokens, not the ids.
   */
  positions?: PositionRule;
}

/** RoBERTa's position of each token, from the ids: padding at `start`, the others counted from start + 1. */
export interface PositionRule {
  pad: number;
  start: number;
}

/**
 * The token at the last position whose id is not the padding id `pad`: the logits of the last
 * real token, as GPT-2's and other decoders' sequence classification pick them (position 0 when
 * every id is padding, as transformers' argmax does). It reads a tensor [1, T, C] and, second,
 * the token ids [T] (the network input or an input part of ids); its output is [C].
 */
export interface LastTokenLayer extends LayerBase {
  kind: 'lasttoken';
  pad: number;
}

export interface FlattenLayer extends LayerBase {
  kind: 'flatten';
}

export interface SoftmaxLayer extends LayerBase {
  kind: 'softmax';
}

export type Layer =
  | DenseLayer
  | Conv2DLayer
  | ReluLayer
  | ActivationLayer
  | MaxPool2DLayer
  | AvgPool2DLayer
  | GlobalAvgPoolLayer
  | GlobalMaxPoolLayer
  | BatchNormLayer
  | LayerNormLayer
  | GroupNormLayer
  | AddLayer
  | MulLayer
  | ConcatLayer
  | GatherLayer
  | UpsampleLayer
  | InsertZerosLayer
  | RearrangeLayer
  | MatMulLayer
  | ReshapeLayer
  | EmbeddingLayer
  | LastTokenLayer
  | FlattenLayer
  | SoftmaxLayer;

/**
 * One of several model inputs (a text model's token ids and attention mask): a sample of the
 * network input holds the parts' values one after another, in `inputParts` order, and the
 * `rearrange` layer named after a part takes its values out of the input.
 */
export interface InputPart {
  /** The model's name for the input, and its rearrange layer's. */
  name: string;
  /** Its shape per sample, ours (channels last, as the network's tensors). */
  shape: number[];
  /** 'ids': token ids, read only by embeddings; 'mask': 0 or 1 (an attention mask); 'float': any finite values. */
  values: 'ids' | 'mask' | 'float';
}

export interface Network {
  /** One sample's input shape: [N] for a dense input (or N token ids, read by embeddings), [H, W, C] for images (NHWC); [N] for inputParts. */
  inputShape: number[];
  /** Several model inputs packed into the one network input (InputPart); omitted for one. */
  inputParts?: InputPart[];
  /** The name layers use in `from` for the network input (default 'input'). */
  inputName?: string;
  /** In an order where each layer follows the layers it reads; the last layer's output is the network's. */
  layers: Layer[];
  /** Several model outputs packed into the one network output (OutputPart); omitted for one. */
  outputParts?: OutputPart[];
}

/**
 * One of several model outputs (a segmentation model's 'out' and 'aux', a sentence embedder's
 * token and sentence embeddings): the network's output is a concat layer of them, each flattened
 * (ours, NHWC), one after another. Pruning keeps them all; accuracy against labels needs one.
 */
export interface OutputPart {
  name: string;
  /** Its shape per sample, ours. */
  shape: number[];
}

export const SUPPORTED_LAYERS = ['dense', 'conv2d', 'relu', 'activation', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'globalmaxpool', 'batchnorm', 'layernorm', 'groupnorm', 'add', 'mul', 'concat', 'gather', 'upsample', 'insertzeros', 'rearrange', 'matmul', 'reshape', 'embedding', 'flatten', 'softmax'] as const;

export const DEFAULT_INPUT_NAME = 'input';
