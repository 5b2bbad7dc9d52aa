// Wrappers of shaders/tokens.wgsl: transformers' layout ops and the product of two computed tensors.
import source from '../../../shaders/tokens.wgsl';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { elementwiseGroups } from './proximal.js';

const shader = new Shader('tokens', source);

/** Each of `samples` tensors of inSize values moved and a constant added (indices: f32, −1 none; offset: outSize values). */
export function rearrange(ws: Workspace, o: { samples: number; inSize: number; outSize: number; input: GPUBuffer; indices: GPUBuffer; offset: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.outSize;
  const pipeline = shader.pipeline(ws.runtime, 'rearrange');
  const uniforms = ws.uniform(shader.uniforms('RearrangeParams', { count, inSize: o.inSize, outSize: o.outSize }), 'RearrangeParams');
  const resources = shader.resources({ rearrangeParams: uniforms, rearrangeInput: o.input, rearrangeIndices: o.indices, rearrangeOffset: o.offset, rearrangeOutput: o.output });
  return ws.dispatch('rearrange', pipeline, resources, [elementwiseGroups(ws.runtime, count)], { bytes: 4 * (3 * count + o.outSize), flops: count });
}

/** Each sample's [batch, m, k] times [batch, k, n]. Reads a and b; writes output. */
export function batchedMatmul(ws: Workspace, o: { samples: number; batch: number; m: number; k: number; n: number; a: GPUBuffer; b: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.batch * o.m * o.n;
  const pipeline = shader.pipeline(ws.runtime, 'batchedMatmul');
  const uniforms = ws.uniform(shader.uniforms('BatchedMatmulParams', { count, m: o.m, k: o.k, n: o.n }), 'BatchedMatmulParams');
  const resources = shader.resources({ batchedParams: uniforms, batchedA: o.a, batchedB: o.b, batchedOutput: o.output });
  const inputs = o.samples * o.batch * o.k * (o.m + o.n);
  return ws.dispatch('batchedMatmul', pipeline, resources, [elementwiseGroups(ws.runtime, count)], { bytes: 4 * (count + inputs), flops: 2 * count * o.k });
}
