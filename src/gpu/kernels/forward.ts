// Wrappers of shaders/forward.wgsl: the layers of a network's forward pass other than the dense
// product (matmul). Tensors are samples-major NHWC f32, conv kernels HWIO.
import source from '../../../shaders/forward.wgsl';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { elementwiseGroups } from './proximal.js';
import type { WindowShape } from './window.js';

export type { WindowShape };

const shader = new Shader('forward', source);

/**
 * data = act(data + bias) in place over a rows×units array (bias broadcast over rows; act is
 * relu or the identity). Reads bias (when given); reads and writes data.
 */
export function biasActivation(ws: Workspace, o: { rows: number; units: number; bias: GPUBuffer | null; relu: boolean; data: GPUBuffer }): Dispatch {
  const count = o.rows * o.units;
  const pipeline = shader.pipeline(ws.runtime, 'biasActivation');
  const uniforms = ws.uniform(shader.uniforms('BiasParams', { count, units: o.units, hasBias: o.bias ? 1 : 0, relu: o.relu ? 1 : 0 }), 'BiasParams');
  return ws.dispatch('biasActivation', pipeline, shader.resources({ biasParams: uniforms, biasValues: o.bias ?? ws.dummy, data: o.data }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (2 * count + (o.bias ? o.units : 0)),
    flops: 2 * count,
  });
}

/**
 * Direct NHWC convolution with zero padding, bias and an optional fused ReLU:
 * output[n, oy, ox, f] = act(bias[f] + Σ input[n, oy·sh − padTop + ky, ox·sw − padLeft + kx, c]·kernel[ky, kx, c, f]).
 * Reads input (samples×inH×inW×channels), kernel (kh×kw×channels×filters), bias (filters, when
 * given); writes output (samples×outH×outW×filters).
 */
export function conv2d(
  ws: Workspace,
  o: { samples: number; geometry: WindowShape; filters: number; groups?: number; input: GPUBuffer; kernel: GPUBuffer; bias: GPUBuffer | null; relu: boolean; output: GPUBuffer },
): Dispatch {
  const groups = o.groups ?? 1;
  const g = o.geometry;
  const count = o.samples * g.outH * g.outW * o.filters;
  const pipeline = shader.pipeline(ws.runtime, 'conv2d');
  const uniforms = ws.uniform(
    shader.uniforms('ConvParams', {
      count,
      inH: g.inH,
      inW: g.inW,
      inC: g.channels,
      outH: g.outH,
      outW: g.outW,
      filters: o.filters,
      kernelH: g.kernelH,
      kernelW: g.kernelW,
      strideH: g.strideH,
      strideW: g.strideW,
      padTop: g.padTop,
      padLeft: g.padLeft,
      hasBias: o.bias ? 1 : 0,
      relu: o.relu ? 1 : 0,
      groupIn: g.channels / groups,
      groupOut: o.filters / groups,
      dilationH: g.dilationH ?? 1,
      dilationW: g.dilationW ?? 1,
    }),
    'ConvParams',
  );
  const taps = (g.kernelH * g.kernelW * g.channels) / groups;
  const resources = shader.resources({ conv: uniforms, convInput: o.input, convKernel: o.kernel, convBias: o.bias ?? ws.dummy, convOutput: o.output });
  return ws.dispatch('conv2d', pipeline, resources, [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (o.samples * g.inH * g.inW * g.channels + taps * o.filters + count),
    flops: 2 * count * taps,
  });
}

/**
 * NHWC max pooling; window positions in the padding never win (TF 'same' pads with −∞).
 * `geometry.kernelH/kernelW` is the pool size. Reads input (samples×inH×inW×channels); writes
 * output (samples×outH×outW×channels).
 */
export function maxPool2d(ws: Workspace, o: { samples: number; geometry: WindowShape; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  return pool2d(ws, { ...o, mode: 'max' });
}

const POOL_MODES = { max: 0, average: 1, averageWithPadding: 2 } as const;

/**
 * NHWC max or average pooling (see maxPool2d; 'average' divides by the window's positions inside
 * the input, 'averageWithPadding' by the whole window). Reads input; writes output.
 */
export function pool2d(ws: Workspace, o: { samples: number; geometry: WindowShape; mode: keyof typeof POOL_MODES; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const g = o.geometry;
  const count = o.samples * g.outH * g.outW * g.channels;
  const pipeline = shader.pipeline(ws.runtime, 'maxPool2d');
  const uniforms = ws.uniform(
    shader.uniforms('PoolParams', {
      count,
      inH: g.inH,
      inW: g.inW,
      channels: g.channels,
      outH: g.outH,
      outW: g.outW,
      poolH: g.kernelH,
      poolW: g.kernelW,
      strideH: g.strideH,
      strideW: g.strideW,
      padTop: g.padTop,
      padLeft: g.padLeft,
      mode: POOL_MODES[o.mode],
    }),
    'PoolParams',
  );
  return ws.dispatch(o.mode === 'max' ? 'maxPool2d' : 'avgPool2d', pipeline, shader.resources({ pool: uniforms, poolInput: o.input, poolOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (o.samples * g.inH * g.inW * g.channels + count),
    flops: count * g.kernelH * g.kernelW,
  });
}

/** output = max(input, 0) over `count` values (a separate ReLU layer). Reads input; writes output. */
export function relu(ws: Workspace, o: { count: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'relu');
  const uniforms = ws.uniform(shader.uniforms('ReluParams', { count: o.count }), 'ReluParams');
  return ws.dispatch('relu', pipeline, shader.resources({ reluParams: uniforms, reluInput: o.input, reluOutput: o.output }), [elementwiseGroups(ws.runtime, o.count)], { bytes: 8 * o.count, flops: o.count });
}

/** Softmax over each row of `cols` values (the last axis) of a rows×cols array. Reads input; writes output. */
export function softmax(ws: Workspace, o: { rows: number; cols: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'softmax');
  const uniforms = ws.uniform(shader.uniforms('SoftmaxParams', { rows: o.rows, cols: o.cols }), 'SoftmaxParams');
  const count = o.rows * o.cols;
  return ws.dispatch('softmax', pipeline, shader.resources({ softmaxParams: uniforms, softmaxInput: o.input, softmaxOutput: o.output }), [elementwiseGroups(ws.runtime, o.rows)], {
    bytes: 8 * count,
    flops: 5 * count,
  });
}

/** The pointwise maps of shaders/forward.wgsl's `pointwise`, by name (the WGSL switch's codes). */
export const POINTWISE_OPS = { affine: 0, clip: 1, leakyRelu: 2, elu: 3, sigmoid: 4, tanh: 5, gelu: 6, silu: 7, hardSwish: 8, hardSigmoid: 9, softplus: 10, softsign: 11, selu: 12, mish: 13, prelu: 14, geluTanh: 15, reciprocal: 16 } as const;

/**
 * output = op(input) elementwise over `count` values: a per-channel affine map (scale, offset
 * over the last axis of `channels`) or an activation with parameters a, b (PReLU: its slopes in
 * scale, `channels` of them). Reads input (and scale, offset); writes output.
 */
export function pointwise(
  ws: Workspace,
  o: { count: number; op: keyof typeof POINTWISE_OPS; channels?: number; a?: number; b?: number; scale?: GPUBuffer; offset?: GPUBuffer; input: GPUBuffer; output: GPUBuffer },
): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'pointwise');
  const uniforms = ws.uniform(shader.uniforms('PointwiseParams', { count: o.count, channels: o.channels ?? 1, op: POINTWISE_OPS[o.op], a: o.a ?? 0, b: o.b ?? 0 }), 'PointwiseParams');
  const resources = shader.resources({ pointwiseParams: uniforms, pointwiseInput: o.input, pointwiseScale: o.scale ?? ws.dummy, pointwiseOffset: o.offset ?? ws.dummy, pointwiseOutput: o.output });
  return ws.dispatch(o.op, pipeline, resources, [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 8 * o.count,
    flops: 4 * o.count,
  });
}

/** The mean or max over H·W `positions` of each sample's channels: samples×positions×channels → samples×channels. */
export function globalPool(ws: Workspace, o: { samples: number; positions: number; channels: number; mode: 'avg' | 'max'; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'globalPool2d');
  const uniforms = ws.uniform(shader.uniforms('GlobalPoolParams', { count, positions: o.positions, channels: o.channels, mode: o.mode === 'max' ? 1 : 0 }), 'GlobalPoolParams');
  return ws.dispatch(o.mode === 'max' ? 'globalMaxPool' : 'globalAvgPool', pipeline, shader.resources({ globalPool: uniforms, globalPoolInput: o.input, globalPoolOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (count * o.positions + count),
    flops: count * o.positions,
  });
}

/** Copies a positions×width part into channels offset…offset+width−1 of a positions×total output. */
export function concatChannels(ws: Workspace, o: { positions: number; width: number; total: number; offset: number; part: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.positions * o.width;
  const pipeline = shader.pipeline(ws.runtime, 'concatChannels');
  const uniforms = ws.uniform(shader.uniforms('ConcatParams', { count, width: o.width, total: o.total, offset: o.offset }), 'ConcatParams');
  return ws.dispatch('concatChannels', pipeline, shader.resources({ concatParams: uniforms, concatPart: o.part, concatOutput: o.output }), [elementwiseGroups(ws.runtime, count)], { bytes: 8 * count, flops: 0 });
}

/**
 * output = input · gate over samples×perSample values, the gate perSample values per sample or
 * gateSize (the channels, broadcast over positions). Reads input, gate; writes output.
 */
export function gate(ws: Workspace, o: { samples: number; perSample: number; gateSize: number; input: GPUBuffer; gate: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.perSample;
  const pipeline = shader.pipeline(ws.runtime, 'gate');
  const uniforms = ws.uniform(shader.uniforms('GateParams', { count, perSample: o.perSample, gateSize: o.gateSize }), 'GateParams');
  return ws.dispatch('gate', pipeline, shader.resources({ gateParams: uniforms, gateInput: o.input, gateValues: o.gate, gateOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (2 * count + o.samples * o.gateSize),
    flops: count,
  });
}

/** output[p, c] = input[p, indices[c]] over `positions` positions of `channels` input channels. Reads input, indices; writes output. */
export function gatherChannels(ws: Workspace, o: { positions: number; channels: number; width: number; input: GPUBuffer; indices: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.positions * o.width;
  const pipeline = shader.pipeline(ws.runtime, 'gatherChannels');
  const uniforms = ws.uniform(shader.uniforms('GatherParams', { count, width: o.width, channels: o.channels }), 'GatherParams');
  return ws.dispatch('gatherChannels', pipeline, shader.resources({ gatherParams: uniforms, gatherInput: o.input, gatherIndices: o.indices, gatherOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (2 * count + o.width),
    flops: 0,
  });
}

/** Layer normalization of each of `positions` positions' `channels` values (see shaders/forward.wgsl). Reads input, scale, offset; writes output. */
export function layerNorm(ws: Workspace, o: { positions: number; channels: number; epsilon: number; rms: boolean; input: GPUBuffer; scale: GPUBuffer; offset: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.positions * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'layerNorm');
  const uniforms = ws.uniform(shader.uniforms('LayerNormParams', { positions: o.positions, channels: o.channels, epsilon: o.epsilon, centred: o.rms ? 0 : 1 }), 'LayerNormParams');
  const resources = shader.resources({ layerNormParams: uniforms, layerNormInput: o.input, layerNormScale: o.scale, layerNormOffset: o.offset, layerNormOutput: o.output });
  return ws.dispatch('layerNorm', pipeline, resources, [elementwiseGroups(ws.runtime, o.positions)], {
    bytes: 4 * (3 * count + 2 * o.channels),
    flops: 8 * count,
  });
}
