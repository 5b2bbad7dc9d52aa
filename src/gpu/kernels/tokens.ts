// Wrappers of shaders/tokens.wgsl: transformers' layout ops, the product of two computed tensors, embeddings, RoBERTa's positions and the last token.
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

/** Each of `samples`·tokens ids replaced by its row of the [vocabulary, dims] table. */
export function embedding(ws: Workspace, o: { samples: number; tokens: number; dims: number; ids: GPUBuffer; table: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.tokens * o.dims;
  const pipeline = shader.pipeline(ws.runtime, 'embedding');
  const uniforms = ws.uniform(shader.uniforms('EmbeddingParams', { count, dims: o.dims }), 'EmbeddingParams');
  const resources = shader.resources({ embeddingParams: uniforms, embeddingIds: o.ids, embeddingTable: o.table, embeddingOutput: o.output });
  return ws.dispatch('embedding', pipeline, resources, [elementwiseGroups(ws.runtime, count)], { bytes: 4 * (2 * count + o.samples * o.tokens), flops: 0 });
}

/** RoBERTa's position of each of `samples`·tokens ids (types.ts PositionRule), as f32 rows for `embedding`. */
export function positionRows(ws: Workspace, o: { samples: number; tokens: number; pad: number; start: number; ids: GPUBuffer; rows: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'positions');
  const uniforms = ws.uniform(shader.uniforms('PositionParams', { samples: o.samples, tokens: o.tokens, pad: o.pad, start: o.start }), 'PositionParams');
  const resources = shader.resources({ positionParams: uniforms, positionIds: o.ids, positionRows: o.rows });
  return ws.dispatch('positions', pipeline, resources, [elementwiseGroups(ws.runtime, o.samples)], { bytes: 8 * o.samples * o.tokens, flops: 0 });
}

/** Each of `samples` tensors [1, tokens, channels]: the token at its last id (of `ids`) that is not `pad`. */
export function lastToken(ws: Workspace, o: { samples: number; tokens: number; channels: number; pad: number; input: GPUBuffer; ids: GPUBuffer; output: GPUBuffer }): Dispatch {
  const count = o.samples * o.channels;
  const pipeline = shader.pipeline(ws.runtime, 'lastToken');
  const uniforms = ws.uniform(shader.uniforms('LastTokenParams', { count, tokens: o.tokens, channels: o.channels, pad: o.pad }), 'LastTokenParams');
  const resources = shader.resources({ lastTokenParams: uniforms, lastTokenInput: o.input, lastTokenIds: o.ids, lastTokenOutput: o.output });
  return ws.dispatch('lastToken', pipeline, resources, [elementwiseGroups(ws.runtime, count)], { bytes: 4 * (2 * count + o.samples * o.tokens), flops: 0 });
}
