// A feed-forward network as Net-Trim sees it: a chain of layers on one sample's tensor.
// Tensors are samples-major and NHWC (channels last, as TF.js/Keras); a batch of P samples of
// shape [H, W, C] is a Float32Array/Float64Array of P·H·W·C values, sample after sample.
// Importers convert other layouts (ONNX's NCHW, OIHW kernels) into these at the boundary.

export type Activation = 'relu' | 'linear' | 'softmax';

export interface DenseLayer {
  kind: 'dense';
  name: string;
  /** N×M kernel, row-major (Keras/TF.js layout: inputs × outputs). */
  kernel: Float32Array;
  inputs: number; // N
  units: number; // M
  bias: Float32Array | null; // M
  /** Fused activation (TF.js style). ONNX graphs express ReLU as a separate layer. */
  activation: Activation;
}

export interface Conv2DLayer {
  kind: 'conv2d';
  name: string;
  /** [kh, kw, cin, cout] kernel, row-major (Keras/TF.js HWIO layout). */
  kernel: Float32Array;
  kernelSize: [number, number];
  inChannels: number;
  filters: number;
  bias: Float32Array | null; // cout
  strides: [number, number];
  padding: 'valid' | 'same';
  activation: Activation;
}

export interface ReluLayer {
  kind: 'relu';
  name: string;
}

export interface MaxPool2DLayer {
  kind: 'maxpool2d';
  name: string;
  poolSize: [number, number];
  strides: [number, number];
  padding: 'valid' | 'same';
}

export interface FlattenLayer {
  kind: 'flatten';
  name: string;
}

export interface SoftmaxLayer {
  kind: 'softmax';
  name: string;
}

export type Layer = DenseLayer | Conv2DLayer | ReluLayer | MaxPool2DLayer | FlattenLayer | SoftmaxLayer;

export interface Network {
  /** One sample's input shape: [N] for a dense input, [H, W, C] for images (NHWC). */
  inputShape: number[];
  layers: Layer[];
}

export const SUPPORTED_LAYERS = ['dense', 'conv2d', 'relu', 'maxpool2d', 'flatten', 'softmax'] as const;
