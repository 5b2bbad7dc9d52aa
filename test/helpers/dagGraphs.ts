// The architectures users export, as small ONNX graphs with random weights (onnxGraphs.ts): a
// ResNet basic block with a stride-2 projection shortcut, a MobileNet block (depthwise +
// pointwise, ReLU6), an MLP with BatchNorm1d, an MLP with other activations, an EfficientNet
// block (SiLU, squeeze-and-excitation) and an MLP with GELU, Hardswish and a gated unit, the
// last two with the activations written as PyTorch 1.13 writes them (several nodes).
import { float, GraphBuilder, int, ints, str } from './onnxGraphs.js';

export interface DagCase {
  name: string;
  bytes: Uint8Array;
  /** Input dims per sample, ONNX order. */
  dims: number[];
  /** An input of frames [T, F] read channels-last: ours is the ONNX order (no NCHW/NCL transpose). */
  framesFirst?: true;
}

/** conv-BN-ReLU, then a BasicBlock (3×3 s2 p1, 3×3 p1; shortcut 1×1 s2 + BN), Add, ReLU, GAP, view, Linear. */
export function resnetBlock(seed = 1): DagCase {
  const g = new GraphBuilder(seed);
  const stem = g.node('Relu', [g.batchNorm(g.conv('input', 2, 6, 3, { pad: 1, bias: false }), 6)]);
  const a = g.node('Relu', [g.batchNorm(g.conv(stem, 6, 8, 3, { stride: 2, pad: 1, bias: false }), 8)]);
  const b = g.batchNorm(g.conv(a, 8, 8, 3, { pad: 1, bias: false }), 8);
  const shortcut = g.batchNorm(g.conv(stem, 6, 8, 1, { stride: 2, bias: false }), 8);
  const sum = g.node('Relu', [g.node('Add', [b, shortcut])]);
  const pooled = g.node('GlobalAveragePool', [sum]);
  const out = g.gemm(g.viewFlatten(pooled, 13), 8, 4);
  return { name: 'resnet-block', bytes: g.model([2, 8, 8], out), dims: [2, 8, 8] };
}

/** conv-BN-ReLU6, depthwise 3×3 s1 p1 + BN + ReLU6, pointwise 1×1 + BN, Concat with the stem, AveragePool p1, Flatten, Gemm. */
export function mobileNetBlock(seed = 2): DagCase {
  const g = new GraphBuilder(seed);
  const relu6 = (x: string) => g.node('Clip', [x, g.scalar(0), g.scalar(6)]);
  const stem = relu6(g.batchNorm(g.conv('input', 3, 4, 3, { pad: 1, bias: false }), 4));
  const depthwise = relu6(g.batchNorm(g.conv(stem, 4, 8, 3, { pad: 1, group: 4, bias: false }), 8));
  const pointwise = g.batchNorm(g.conv(depthwise, 8, 4, 1, { bias: false }), 4);
  const joined = g.node('Concat', [stem, pointwise], [int('axis', 1)]);
  const pooled = g.node('AveragePool', [joined], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), ints('pads', [1, 1, 1, 1]), int('count_include_pad', 0)]);
  const flat = g.node('Flatten', [pooled], [int('axis', 1)]);
  const out = g.gemm(flat, 8 * 4 * 4, 5);
  return { name: 'mobilenet-block', bytes: g.model([3, 7, 7], out), dims: [3, 7, 7] };
}

/** Linear → BatchNorm1d → ReLU → Linear → ReLU → Linear → Softmax. */
export function mlpBatchNorm(seed = 3): DagCase {
  const g = new GraphBuilder(seed);
  const h1 = g.node('Relu', [g.batchNorm(g.gemm('input', 12, 16), 16)]);
  const h2 = g.node('Relu', [g.gemm(h1, 16, 10)]);
  const out = g.node('Softmax', [g.gemm(h2, 10, 3)], [int('axis', -1)]);
  return { name: 'mlp-batchnorm', bytes: g.model([12], out), dims: [12] };
}

/** An MLP whose hidden layers use activations other than ReLU. */
export function mlpActivations(seed = 4): DagCase {
  const g = new GraphBuilder(seed);
  let x = 'input';
  let width = 10;
  const acts: Array<[string, ReturnType<typeof float>[]]> = [
    ['LeakyRelu', [float('alpha', 0.1)]],
    ['Tanh', []],
    ['Sigmoid', []],
    ['Elu', [float('alpha', 0.5)]],
    ['HardSwish', []],
    ['HardSigmoid', [float('alpha', 0.25), float('beta', 0.4)]],
    ['Gelu', []],
  ];
  for (const [op, attrs] of acts) {
    x = g.node(op, [g.gemm(x, width, 9)], attrs);
    width = 9;
  }
  const out = g.gemm(x, width, 3);
  return { name: 'mlp-activations', bytes: g.model([10], out, 20), dims: [10] }; // Gelu is opset 20
}

/** Dilated convs (a plain one and a depthwise one), a sigmoid and a LeakyReLU. */
export function dilatedConvs(seed = 5): DagCase {
  const g = new GraphBuilder(seed);
  const a = g.node('Relu', [g.conv('input', 2, 6, 3, { pad: 2, dilation: 2 })]);
  const b = g.node('LeakyRelu', [g.conv(a, 6, 6, 3, { pad: 3, dilation: 3, group: 6 })], [float('alpha', 0.2)]);
  const pooled = g.node('GlobalAveragePool', [b]);
  const out = g.gemm(g.node('Flatten', [pooled], [int('axis', 1)]), 6, 3);
  return { name: 'dilated-convs', bytes: g.model([2, 9, 9], out), dims: [2, 9, 9] };
}

/** PyTorch's SiLU (x·Sigmoid(x)), GELU ((x·(Erf(x/√2) + 1))·½) and Hardswish before opset 14 (x·HardSigmoid(x)). */
const torchSilu = (g: GraphBuilder, x: string) => g.node('Mul', [x, g.node('Sigmoid', [x])]);
const torchGelu = (g: GraphBuilder, x: string) =>
  g.node('Mul', [g.node('Mul', [x, g.node('Add', [g.node('Erf', [g.node('Div', [x, g.scalar(Math.SQRT2)])]), g.scalar(1)])]), g.scalar(0.5)]);
const torchHardswish = (g: GraphBuilder, x: string) => g.node('Mul', [x, g.node('HardSigmoid', [x], [float('alpha', 1 / 6)])]);

/**
 * An MBConv block: stem conv-BN-SiLU, 1×1 expansion-BN-SiLU, depthwise 3×3-BN-SiLU, squeeze-and-
 * excitation (GAP, 1×1 conv, SiLU, 1×1 conv, Sigmoid, Mul), 1×1 projection-BN, residual Add,
 * then GAP, Flatten, Gemm.
 */
export function efficientNetBlock(seed = 6): DagCase {
  const g = new GraphBuilder(seed);
  const stem = torchSilu(g, g.batchNorm(g.conv('input', 2, 6, 3, { pad: 1, bias: false }), 6));
  const expanded = torchSilu(g, g.batchNorm(g.conv(stem, 6, 12, 1, { bias: false }), 12));
  const depthwise = torchSilu(g, g.batchNorm(g.conv(expanded, 12, 12, 3, { pad: 1, group: 12, bias: false }), 12));
  const squeezed = torchSilu(g, g.conv(g.node('GlobalAveragePool', [depthwise]), 12, 4, 1));
  const excited = g.node('Mul', [depthwise, g.node('Sigmoid', [g.conv(squeezed, 4, 12, 1)])]);
  const projected = g.batchNorm(g.conv(excited, 12, 6, 1, { bias: false }), 6);
  const sum = g.node('Add', [projected, stem]);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [sum])], [int('axis', 1)]), 6, 4);
  return { name: 'efficientnet-block', bytes: g.model([2, 7, 7], out), dims: [2, 7, 7] };
}

/** Gemm, GELU, a gated unit (Gemm · Sigmoid(Gemm) of one input), Hardswish, Gemm. */
export function gatedMlp(seed = 7): DagCase {
  const g = new GraphBuilder(seed);
  const h1 = torchGelu(g, g.gemm('input', 10, 12));
  const gated = g.node('Mul', [g.gemm(h1, 12, 8), g.node('Sigmoid', [g.gemm(h1, 12, 8)])]);
  const h2 = torchHardswish(g, g.gemm(gated, 8, 9));
  const out = g.gemm(h2, 9, 3);
  return { name: 'gated-mlp', bytes: g.model([10], out), dims: [10] };
}

/**
 * The window ops torchvision's exports add: MaxPool and AveragePool with ceil_mode (SqueezeNet,
 * GoogLeNet), a Pad of zeros before an AveragePool (AvgPool2d's export; DenseNet's transitions pad
 * nothing) and before a Conv, a Concat of one tensor (DenseNet) and ReduceMean over H and W
 * (MnasNet's x.mean([2, 3])).
 */
export function windowOps(seed = 8): DagCase {
  const g = new GraphBuilder(seed);
  const stem = g.node('Relu', [g.conv('input', 2, 6, 3)]); // 8×8
  const ceilMax = g.node('MaxPool', [stem], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), int('ceil_mode', 1)]); // 4×4 (floor: 3×3)
  const padded = g.node('Pad', [ceilMax, g.int64([0, 0, 1, 0, 0, 0, 1, 2])]);
  const conv = g.node('Relu', [g.conv(padded, 6, 6, 3)]); // 6×6 → 4×4
  const noPad = g.node('Concat', [g.node('Pad', [conv, g.int64([0, 0, 0, 0, 0, 0, 0, 0])])], [int('axis', 1)]); // torch.cat([x]): x
  const avg = g.node('AveragePool', [g.node('Pad', [noPad, g.int64([0, 0, 1, 1, 0, 0, 1, 1])])], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]); // 6×6 → 3×3
  const ceilAvg = g.node('AveragePool', [avg], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2]), int('ceil_mode', 1)]); // 2×2 (floor: 1×1)
  const kept = g.node('Flatten', [g.node('ReduceMean', [avg], [ints('axes', [2, 3]), int('keepdims', 1)])], [int('axis', 1)]);
  const out = g.gemm(g.node('Add', [kept, g.node('ReduceMean', [ceilAvg], [ints('axes', [-1, -2]), int('keepdims', 0)])]), 6, 3);
  return { name: 'window-ops', bytes: g.model([2, 10, 10], out), dims: [2, 10, 10] };
}

/** Squeeze-and-excitation from Linear layers: x.mean([2, 3]), Linear, ReLU, Linear, Sigmoid, .view(-1, C, 1, 1), x · gate; then a 1×1 conv, GAP, Gemm. */
export function linearSqueezeExcite(seed = 9): DagCase {
  const g = new GraphBuilder(seed);
  const x = g.node('Relu', [g.conv('input', 3, 8, 3, { pad: 1 })]);
  const squeezed = g.node('Relu', [g.gemm(g.node('ReduceMean', [x], [ints('axes', [2, 3]), int('keepdims', 0)]), 8, 3)]);
  const gate = g.node('Reshape', [g.node('Sigmoid', [g.gemm(squeezed, 3, 8)]), g.int64([-1, 8, 1, 1])]);
  const y = g.conv(g.node('Mul', [x, gate]), 8, 4, 1);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [y])], [int('axis', 1)]), 4, 3);
  return { name: 'linear-squeeze-excite', bytes: g.model([3, 6, 6], out), dims: [3, 6, 6] };
}

/**
 * Arithmetic with constants: an input normalization (x − mean) / std per channel, a layer scale
 * (x · γ, [C, 1, 1]), x + a scalar, c − x per feature, x · ½.
 */
export function constantArithmetic(seed = 10): DagCase {
  const g = new GraphBuilder(seed);
  const normalized = g.node('Div', [g.node('Sub', ['input', g.weight([1, 3, 1, 1], 0.2, 'mean')]), g.weight([3, 1, 1], 0.1, 'std', 0.5)]);
  const a = g.node('Relu', [g.conv(normalized, 3, 6, 3, { pad: 1 })]);
  // After a ReLU (after a conv alone, the arithmetic folds into it: foldedArithmetic below).
  const scaled = g.node('Add', [g.node('Mul', [g.node('Relu', [g.conv(a, 6, 6, 1)]), g.weight([6, 1, 1], 0.3, 'layer_scale', 1)]), g.scalar(0.25)]);
  const b = g.node('Relu', [g.conv(g.node('Relu', [scaled]), 6, 4, 3)]);
  const features = g.node('Flatten', [g.node('GlobalAveragePool', [b])], [int('axis', 1)]);
  const flipped = g.node('Sub', [g.weight([4], 0.5, 'flip'), g.node('Mul', [features, g.scalar(0.5)])]);
  return { name: 'constant-arithmetic', bytes: g.model([3, 6, 6], g.gemm(flipped, 4, 3)), dims: [3, 6, 6] };
}

/** A conv whose output only per-channel arithmetic reads (a BatchNorm written as Mul and Add), then a ReLU: the arithmetic folds into the conv. */
export function foldedArithmetic(seed = 13): DagCase {
  const g = new GraphBuilder(seed);
  const a = g.node('Relu', [g.conv('input', 3, 6, 3, { pad: 1 })]);
  const normalized = g.node('Add', [g.node('Mul', [g.node('Sub', [g.conv(a, 6, 6, 3, { pad: 1, bias: false }), g.weight([1, 6, 1, 1], 0.2, 'mean')]), g.weight([6, 1, 1], 0.3, 'gamma', 1)]), g.weight([6, 1, 1], 0.2, 'beta')]);
  const features = g.node('Flatten', [g.node('GlobalAveragePool', [g.node('Relu', [normalized])])], [int('axis', 1)]);
  return { name: 'folded-arithmetic', bytes: g.model([3, 6, 6], g.gemm(features, 6, 3)), dims: [3, 6, 6] };
}

/**
 * ShuffleNet V2's units: the channel split as two Slices (x.chunk(2, 1) in PyTorch 1.x) and as a
 * Split (opset 13: sizes as an input), a branch (1×1 conv, depthwise 3×3 + BN, 1×1 conv), Concat,
 * and the channel shuffle (Reshape to [batch, 2, C/2, H, W], Transpose [0, 2, 1, 3, 4], Reshape back).
 */
export function shuffleNetBlock(seed = 12): DagCase {
  const g = new GraphBuilder(seed);
  const shuffle = (x: string, c: number, h: number) => g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [x, g.int64([0, 2, c / 2, h, h])])], [ints('perm', [0, 2, 1, 3, 4])]), g.int64([0, -1, h, h])]);
  const branch = (x: string, c: number) => g.node('Relu', [g.conv(g.batchNorm(g.conv(g.node('Relu', [g.conv(x, c, c, 1)]), c, c, 3, { pad: 1, group: c, bias: false }), c), c, c, 1)]);
  const stem = g.node('Relu', [g.conv('input', 3, 8, 3, { pad: 1 })]); // 6×6
  const [left, right] = [g.node('Slice', [stem, g.int64([0]), g.int64([4]), g.int64([1])]), g.node('Slice', [stem, g.int64([4]), g.int64([8]), g.int64([1])])];
  const first = shuffle(g.node('Concat', [left, branch(right, 4)], [int('axis', 1)]), 8, 6);
  const [a, b] = g.nodeOutputs('Split', [first, g.int64([4, 4])], 2, [int('axis', 1)]);
  const second = shuffle(g.node('Concat', [a, branch(b, 4)], [int('axis', 1)]), 8, 6);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [second])], [int('axis', 1)]), 8, 3);
  return { name: 'shufflenet-block', bytes: g.model([3, 6, 6], out), dims: [3, 6, 6] };
}

/**
 * ConvNeXt as torchvision's exports (opset 17: LayerNormalization; 13: its parts): a 2×2 stride-2 stem and its LayerNorm2d
 * (Transpose to channels-last, LayerNormalization, Transpose back), a block (depthwise 7×7,
 * Transpose, LayerNormalization, MatMul + Add, GELU as PyTorch 1.x writes it, MatMul + Add,
 * Transpose back, layer scale [C, 1, 1], residual Add), and the head (GlobalAveragePool,
 * LayerNorm2d on the pooled tensor, Flatten, Gemm).
 */
export function convNeXtBlock(opset: 13 | 17 = 17, seed = 13): DagCase {
  const g = new GraphBuilder(seed);
  const last = (x: string) => g.node('Transpose', [x], [ints('perm', [0, 2, 3, 1])]);
  const first = (x: string) => g.node('Transpose', [x], [ints('perm', [0, 3, 1, 2])]);
  const [scale, bias] = [(c: number) => g.weight([c], 0.2, undefined, 1), (c: number) => g.weight([c], 0.2)];
  // Below opset 17 PyTorch writes LayerNorm as ReduceMean, Sub, Pow, ReduceMean, Add ε, Sqrt, Div, Mul, Add.
  const decomposed = (x: string, c: number) => {
    const d = g.node('Sub', [x, g.node('ReduceMean', [x], [ints('axes', [-1])])]);
    const variance = g.node('ReduceMean', [g.node('Pow', [d, g.scalar(2)])], [ints('axes', [-1])]);
    return g.node('Add', [g.node('Mul', [g.node('Div', [d, g.node('Sqrt', [g.node('Add', [variance, g.scalar(1e-6)])])]), scale(c)]), bias(c)]);
  };
  const layerNorm = (x: string, c: number) => (opset < 17 ? decomposed(x, c) : g.node('LayerNormalization', [x, scale(c), bias(c)], [int('axis', -1), float('epsilon', 1e-6)]));
  const linear = (x: string, c: number, k: number) => g.node('Add', [g.weight([k], 0.1), g.node('MatMul', [x, g.weight([c, k], Math.sqrt(2 / c))])]);
  const stem = first(layerNorm(last(g.conv('input', 3, 8, 2, { stride: 2 })), 8)); // 8×8 → 4×4
  const hidden = torchGelu(g, linear(layerNorm(last(g.conv(stem, 8, 8, 7, { pad: 3, group: 8 })), 8), 8, 16));
  const block = g.node('Mul', [g.weight([8, 1, 1], 0.1, undefined, 0.5), first(linear(hidden, 16, 8))]);
  const sum = g.node('Add', [block, stem]);
  const head = g.node('Flatten', [first(layerNorm(last(g.node('GlobalAveragePool', [sum])), 8))], [int('axis', 1)]);
  return { name: `convnext-block-opset${opset}`, bytes: g.model([3, 8, 8], g.gemm(head, 8, 3), opset), dims: [3, 8, 8] };
}

/** A global max pool head (PyTorch's AdaptiveMaxPool2d(1): GlobalMaxPool) after two conv-ReLUs, then Flatten and Gemm. */
export function maxPooledHead(seed = 14): DagCase {
  const g = new GraphBuilder(seed);
  const x = g.node('Relu', [g.conv(g.node('Relu', [g.conv('input', 2, 6, 3, { pad: 1 })]), 6, 8, 3, { stride: 2, pad: 1 })]);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalMaxPool', [x])], [int('axis', 1)]), 8, 3);
  return { name: 'max-pooled-head', bytes: g.model([2, 7, 7], out), dims: [2, 7, 7] };
}

/**
 * A 1-D convolutional network on [batch, C, L] (sensor, audio, text CNNs): Conv1d with BatchNorm1d,
 * MaxPool1d (ceil_mode), a dilated Conv1d, a depthwise Conv1d, squeeze-and-excitation through
 * 1×1 Conv1ds on the pooled [C, 1], a residual Add, Pad + AvgPool1d, a stride-2 Conv1d, and the
 * head AdaptiveMaxPool1d(1).squeeze(-1) (GlobalMaxPool, Squeeze) → Gemm.
 */
export function sequenceNet(seed = 15): DagCase {
  const g = new GraphBuilder(seed);
  const stem = g.node('Relu', [g.batchNorm(g.conv1d('input', 4, 8, 5, { pad: 2, bias: false }), 8)]); // L 20
  const pooled = g.node('MaxPool', [stem], [ints('kernel_shape', [3]), ints('strides', [2]), int('ceil_mode', 1)]); // L 10 (floor: 9)
  const dilated = g.node('Relu', [g.conv1d(pooled, 8, 8, 3, { pad: 2, dilation: 2 })]);
  const depthwise = g.batchNorm(g.conv1d(dilated, 8, 8, 3, { pad: 1, group: 8, bias: false }), 8);
  const squeezed = g.node('Relu', [g.conv1d(g.node('GlobalAveragePool', [depthwise]), 8, 3, 1)]);
  const gated = g.node('Mul', [depthwise, g.node('Sigmoid', [g.conv1d(squeezed, 3, 8, 1)])]);
  const block = g.node('Relu', [g.node('Add', [gated, pooled])]);
  const averaged = g.node('AveragePool', [g.node('Pad', [block, g.int64([0, 0, 1, 0, 0, 1])])], [ints('kernel_shape', [2]), ints('strides', [2])]); // L 12 → 6
  const down = g.node('Relu', [g.conv1d(averaged, 8, 6, 3, { stride: 2, pad: 1 })]); // L 3
  const head = g.node('Squeeze', [g.node('GlobalMaxPool', [down]), g.int64([2])]);
  return { name: 'sequence-net', bytes: g.model([4, 20], g.gemm(head, 6, 3)), dims: [4, 20] };
}

/**
 * A 1-D ConvNeXt on frames [batch, T, F] (MFCCs, sensor readings): x.transpose(1, 2) for the
 * Conv1d stem, a depthwise Conv1d 7, transpose(1, 2) to channels-last, LayerNormalization, Linear
 * 4C, GELU as PyTorch 1.x writes it, Linear C, transpose back, layer scale [C, 1], residual Add,
 * x.mean(-1) (ReduceMean over L), Gemm.
 */
export function sequenceConvNeXt(seed = 16): DagCase {
  const g = new GraphBuilder(seed);
  const swap = (x: string) => g.node('Transpose', [x], [ints('perm', [0, 2, 1])]);
  const linear = (x: string, c: number, k: number) => g.node('Add', [g.node('MatMul', [x, g.weight([c, k], Math.sqrt(2 / c))]), g.weight([k], 0.1)]);
  const stem = g.conv1d(swap('input'), 5, 8, 3, { pad: 1 }); // [8, 12]
  const normed = g.node('LayerNormalization', [swap(g.conv1d(stem, 8, 8, 7, { pad: 3, group: 8 })), g.weight([8], 0.2, undefined, 1), g.weight([8], 0.2)], [int('axis', -1), float('epsilon', 1e-6)]);
  const block = g.node('Mul', [swap(linear(torchGelu(g, linear(normed, 8, 16)), 16, 8)), g.weight([8, 1], 0.1, undefined, 0.5)]);
  const head = g.node('ReduceMean', [g.node('Add', [stem, block])], [ints('axes', [-1]), int('keepdims', 0)]);
  return { name: 'sequence-convnext', bytes: g.model([12, 5], g.gemm(head, 8, 3), 17), dims: [12, 5], framesFirst: true };
}

/**
 * A U-Net: conv-BN-ReLU, MaxPool 2, conv-ReLU, nearest upsampling ×2 (Resize as PyTorch's
 * nn.Upsample writes it: scales [1, 1, 2, 2], asymmetric, floor), Concat with the skip, conv-ReLU,
 * a 1×1 conv, and a classification head (GlobalAveragePool, Flatten, Gemm).
 */
export function uNet(seed = 17): DagCase {
  const g = new GraphBuilder(seed);
  const skip = g.node('Relu', [g.batchNorm(g.conv('input', 3, 4, 3, { pad: 1, bias: false }), 4)]); // 6×6
  const low = g.node('Relu', [g.conv(g.node('MaxPool', [skip], [ints('kernel_shape', [2, 2]), ints('strides', [2, 2])]), 4, 6, 3, { pad: 1 })]); // 3×3
  const scales = g.weight([4], 0, 'scales', 0);
  g.initializers.find((t) => t.name === 'scales')!.rawData = new Uint8Array(Float32Array.of(1, 1, 2, 2).buffer);
  const up = g.node('Resize', [low, '', scales], [str('coordinate_transformation_mode', 'asymmetric'), str('mode', 'nearest'), str('nearest_mode', 'floor')]);
  const decoded = g.conv(g.node('Relu', [g.conv(g.node('Concat', [up, skip], [int('axis', 1)]), 10, 4, 3, { pad: 1 })]), 4, 3, 1);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [decoded])], [int('axis', 1)]), 3, 3);
  return { name: 'u-net', bytes: g.model([3, 6, 6], out), dims: [3, 6, 6] };
}

/**
 * Bilinear decoders on a 6×4 image: a stride-2 conv, F.interpolate(scale_factor=2, mode='bilinear')
 * (Resize linear, pytorch_half_pixel), Concat with the skip, a conv, then ×(1, 2) with
 * align_corners=True (Resize linear, align_corners), DeepLab's image pooling (the globally pooled
 * tensor through a 1×1 conv, upsampled back to 6×8 and joined), and the classification head.
 */
export function bilinearDecoder(seed = 18): DagCase {
  const g = new GraphBuilder(seed);
  const scales = (values: number[]) => {
    const name = g.weight([4], 0);
    g.initializers.find((t) => t.name === name)!.rawData = new Uint8Array(Float32Array.from(values).buffer);
    return name;
  };
  const linear = (x: string, s: number[], coordinates: string) => g.node('Resize', [x, '', scales(s)], [str('mode', 'linear'), str('coordinate_transformation_mode', coordinates)]);
  const skip = g.node('Relu', [g.conv('input', 3, 4, 3, { pad: 1 })]); // 6×4
  const low = g.node('Relu', [g.conv(skip, 4, 4, 3, { stride: 2, pad: 1 })]); // 3×2
  const joined = g.node('Concat', [linear(low, [1, 1, 2, 2], 'pytorch_half_pixel'), skip], [int('axis', 1)]);
  const wide = linear(g.node('Relu', [g.conv(joined, 8, 4, 3, { pad: 1 })]), [1, 1, 1, 2], 'align_corners'); // 6×8
  // DeepLab's image pooling: GlobalAveragePool, 1×1 conv, ReLU, back to 6×8 (a pooled [C] upsampled), Concat.
  const pooledBranch = linear(g.node('Relu', [g.conv(g.node('GlobalAveragePool', [wide]), 4, 3, 1)]), [1, 1, 6, 8], 'pytorch_half_pixel');
  const aspp = g.node('Concat', [wide, pooledBranch], [int('axis', 1)]);
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [g.node('Relu', [g.conv(aspp, 7, 4, 1)])])], [int('axis', 1)]), 4, 3);
  return { name: 'bilinear-decoder', bytes: g.model([3, 6, 4], out), dims: [3, 6, 4] };
}

/**
 * A decoder of transposed convs: a stride-2 conv, ConvTranspose 3×3 stride 2 pads 1
 * output_padding 1 (back to 4×4) + BatchNorm + ReLU, Concat with the input, ConvTranspose 2×2
 * stride 2 (U-Net's, to 8×8), and the classification head.
 */
export function convTransposeDecoder(seed = 19): DagCase {
  const g = new GraphBuilder(seed);
  const low = g.node('Relu', [g.conv('input', 3, 4, 3, { stride: 2, pad: 1 })]); // 2×2
  const up = g.node('Relu', [g.batchNorm(g.convTranspose(low, 4, 4, 3, { stride: 2, pad: 1, extra: 1, bias: false }), 4)]); // 4×4
  // The skip is the input itself: a conv reading the input later in cascade order gets ε = 0 (see the closing note of session 17).
  const joined = g.node('Concat', [up, 'input'], [int('axis', 1)]);
  const wide = g.node('Relu', [g.convTranspose(joined, 7, 3, 2, { stride: 2 })]); // 8×8
  const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [wide])], [int('axis', 1)]), 3, 3);
  return { name: 'conv-transpose-decoder', bytes: g.model([3, 4, 4], out), dims: [3, 4, 4] };
}
