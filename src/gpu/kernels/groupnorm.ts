// Wrapper of shaders/groupnorm.wgsl: group (and instance) normalization of a network's images.
import source from '../../../shaders/groupnorm.wgsl';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { elementwiseGroups } from './proximal.js';

const shader = new Shader('groupnorm', source);

/** `samples` images of `positions` × `channels` normalized per group of channels, then scale and offset per channel. */
export function groupNorm(ws: Workspace, o: { samples: number; positions: number; channels: number; groups: number; epsilon: number; input: GPUBuffer; scale: GPUBuffer; offset: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.groups;
  const values = o.samples * o.positions * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'groupNorm');
  const uniforms = ws.uniform(shader.uniforms('GroupNormParams', { count, positions: o.positions, channels: o.channels, groups: o.groups, epsilon: o.epsilon }), 'GroupNormParams');
  const resources = shader.resources({ groupNormParams: uniforms, groupNormInput: o.input, groupNormScale: o.scale, groupNormOffset: o.offset, groupNormOutput: o.output });
  return ws.dispatch('groupNorm', pipeline, resources, [elementwiseGroups(ws.runtime, count)], { bytes: 4 * (4 * values + 2 * o.channels), flops: 8 * values });
}
