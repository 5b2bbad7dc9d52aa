// Wrappers of shaders/forward.wgsl: the layers of a network's forward pass other than the dense
// product (matmul). Tensors are samples-major NHWC f32, conv kernels HWIO.
import source from '../../../shaders/forward.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';
import { elementwiseGroups } from './proximal.js';
import type { WindowShape } from './window.js';

export type { WindowShape };

/** Uniform fields shared by conv2d and maxPool2d (the WGSL structs keep this order). */
const inputFields = (g: WindowShape): Array<['u32', number]> => [
  ['u32', g.inH],
  ['u32', g.inW],
  ['u32', g.channels],
  ['u32', g.outH],
  ['u32', g.outW],
];
const windowFields = (g: WindowShape): Array<['u32', number]> => [
  ['u32', g.kernelH],
  ['u32', g.kernelW],
  ['u32', g.strideH],
  ['u32', g.strideW],
  ['u32', g.padTop],
  ['u32', g.padLeft],
];

/**
 * data = act(data + bias) in place over a rows×units array (bias broadcast over rows; act is
 * relu or the identity). Reads bias (when given); reads and writes data.
 */
export function biasActivation(ws: Workspace, o: { rows: number; units: number; bias: GPUBuffer | null; relu: boolean; data: GPUBuffer }): Dispatch {
  const count = o.rows * o.units;
  const pipeline = ws.runtime.pipelines.get('forward', source, 'biasActivation');
  const uniforms = ws.uniform(packUniforms([['u32', count], ['u32', o.units], ['u32', o.bias ? 1 : 0], ['u32', o.relu ? 1 : 0]]));
  return ws.dispatch('biasActivation', pipeline, { 0: uniforms, 1: o.bias ?? ws.dummy, 2: o.data }, [elementwiseGroups(ws.runtime, count)], {
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
  const pipeline = ws.runtime.pipelines.get('forward', source, 'conv2d');
  const uniforms = ws.uniform(
    packUniforms([
      ['u32', count],
      ...inputFields(g),
      ['u32', o.filters],
      ...windowFields(g),
      ['u32', o.bias ? 1 : 0],
      ['u32', o.relu ? 1 : 0],
      ['u32', g.channels / groups],
      ['u32', o.filters / groups],
      ['u32', g.dilationH ?? 1],
      ['u32', g.dilationW ?? 1],
    ]),
  );
  const taps = (g.kernelH * g.kernelW * g.channels) / groups;
  return ws.dispatch('conv2d', pipeline, { 10: uniforms, 11: o.input, 12: o.kernel, 13: o.bias ?? ws.dummy, 14: o.output }, [elementwiseGroups(ws.runtime, count)], {
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
  const pipeline = ws.runtime.pipelines.get('forward', source, 'maxPool2d');
  const uniforms = ws.uniform(
    packUniforms([
      ['u32', count],
      ...inputFields(g),
      ...windowFields(g),
      ['u32', POOL_MODES[o.mode]],
    ]),
  );
  return ws.dispatch(o.mode === 'max' ? 'maxPool2d' : 'avgPool2d', pipeline, { 20: uniforms, 21: o.input, 22: o.output }, [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (o.samples * g.inH * g.inW * g.channels + count),
    flops: count * g.kernelH * g.kernelW,
  });
}

/** output = max(input, 0) over `count` values (a separate ReLU layer). Reads input; writes output. */
export function relu(ws: Workspace, o: { count: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('forward', source, 'relu');
  const uniforms = ws.uniform(packUniforms([['u32', o.count]]));
  return ws.dispatch('relu', pipeline, { 30: uniforms, 31: o.input, 32: o.output }, [elementwiseGroups(ws.runtime, o.count)], { bytes: 8 * o.count, flops: o.count });
}

/** Softmax over each row of `cols` values (the last axis) of a rows×cols array. Reads input; writes output. */
export function softmax(ws: Workspace, o: { rows: number; cols: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('forward', source, 'softmax');
  const uniforms = ws.uniform(packUniforms([['u32', o.rows], ['u32', o.cols]]));
  const count = o.rows * o.cols;
  return ws.dispatch('softmax', pipeline, { 40: uniforms, 41: o.input, 42: o.output }, [elementwiseGroups(ws.runtime, o.rows)], {
    bytes: 8 * count,
    flops: 5 * count,
  });
}

/** The pointwise maps of shaders/forward.wgsl's `pointwise`, by name (the WGSL switch's codes). */
export const POINTWISE_OPS = { affine: 0, clip: 1, leakyRelu: 2, elu: 3, sigmoid: 4, tanh: 5, gelu: 6, silu: 7, hardSwish: 8, hardSigmoid: 9 } as const;

/**
 * output = op(input) elementwise over `count` values: a per-channel affine map (scale, offset
 * over the last axis of `channels`) or an activation with parameters a, b. Reads input (and
 * scale, offset); writes output.
 */
export function pointwise(
  ws: Workspace,
  o: { count: number; op: keyof typeof POINTWISE_OPS; channels?: number; a?: number; b?: number; scale?: GPUBuffer; offset?: GPUBuffer; input: GPUBuffer; output: GPUBuffer },
): Dispatch {
  const pipeline = ws.runtime.pipelines.get('forward', source, 'pointwise');
  const uniforms = ws.uniform(packUniforms([['u32', o.count], ['u32', o.channels ?? 1], ['u32', POINTWISE_OPS[o.op]], ['f32', o.a ?? 0], ['f32', o.b ?? 0]]));
  return ws.dispatch(o.op, pipeline, { 50: uniforms, 51: o.input, 52: o.scale ?? ws.dummy, 53: o.offset ?? ws.dummy, 54: o.output }, [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 8 * o.count,
    flops: 4 * o.count,
  });
}

/** The mean over H·W `positions` of each sample's channels: samples×positions×channels → samples×channels. */
export function globalAvgPool(ws: Workspace, o: { samples: number; positions: number; channels: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.channels;
  const pipeline = ws.runtime.pipelines.get('forward', source, 'globalAvgPool');
  const uniforms = ws.uniform(packUniforms([['u32', count], ['u32', o.positions], ['u32', o.channels]]));
  return ws.dispatch('globalAvgPool', pipeline, { 60: uniforms, 61: o.input, 62: o.output }, [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (count * o.positions + count),
    flops: count * o.positions,
  });
}

/** Copies a positions×width part into channels offset…offset+width−1 of a positions×total output. */
export function concatChannels(ws: Workspace, o: { positions: number; width: number; total: number; offset: number; part: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.positions * o.width;
  const pipeline = ws.runtime.pipelines.get('forward', source, 'concatChannels');
  const uniforms = ws.uniform(packUniforms([['u32', count], ['u32', o.width], ['u32', o.total], ['u32', o.offset]]));
  return ws.dispatch('concatChannels', pipeline, { 70: uniforms, 71: o.part, 72: o.output }, [elementwiseGroups(ws.runtime, count)], { bytes: 8 * count, flops: 0 });
}
