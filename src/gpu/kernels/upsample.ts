// Wrappers of shaders/upsample.wgsl: the upsampling of a network's images, and zeros between pixels.
import source from '../../../shaders/upsample.wgsl';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { elementwiseGroups } from './proximal.js';

const shader = new Shader('upsample', source);

/**
 * Upsampling of `samples` images [inH, inW, channels] by whole factors; `mode`: nearest (0) or
 * bilinear, the index in the network's UPSAMPLE_MODES. Reads input; writes output.
 */
export function upsample(ws: Workspace, o: { samples: number; inH: number; inW: number; channels: number; scale: readonly [number, number]; mode: number; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.inH * o.scale[0] * o.inW * o.scale[1] * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'upsample');
  const mode = o.mode;
  const uniforms = ws.uniform(shader.uniforms('UpsampleParams', { count, channels: o.channels, inH: o.inH, inW: o.inW, scaleH: o.scale[0], scaleW: o.scale[1], mode }), 'UpsampleParams');
  return ws.dispatch('upsample', pipeline, shader.resources({ upsampleParams: uniforms, upsampleInput: o.input, upsampleOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (count + o.samples * o.inH * o.inW * o.channels),
    flops: mode === 0 ? 0 : 9 * count,
  });
}

/** Zeros between the pixels of `samples` images [inH, inW, channels] (a transposed conv's input). Reads input; writes output. */
export function insertZeros(ws: Workspace, o: { samples: number; inH: number; inW: number; channels: number; strides: readonly [number, number]; input: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * ((o.inH - 1) * o.strides[0] + 1) * ((o.inW - 1) * o.strides[1] + 1) * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'insertZeros');
  const uniforms = ws.uniform(shader.uniforms('InsertZerosParams', { count, channels: o.channels, inH: o.inH, inW: o.inW, strideH: o.strides[0], strideW: o.strides[1] }), 'InsertZerosParams');
  return ws.dispatch('insertZeros', pipeline, shader.resources({ insertZerosParams: uniforms, insertZerosInput: o.input, insertZerosOutput: o.output }), [elementwiseGroups(ws.runtime, count)], {
    bytes: 4 * (count + o.samples * o.inH * o.inW * o.channels),
    flops: 0,
  });
}
