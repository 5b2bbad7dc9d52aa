// Wrappers of shaders/proximal.wgsl: the elementwise ADMM steps.
import source from '../../../shaders/proximal.wgsl';
import type { GpuRuntime } from '../device.js';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { SHADER_PRELUDE } from './channels.js';
import { ENTRY_CLASS_CODES, type EntryClasses } from './sides.js';

const shader = new Shader('proximal', SHADER_PRELUDE + source);

const WORKGROUP = 256;
/**
 * Workgroups of a grid-stride kernel over `count` entries: enough to fill a GPU (4096 at most),
 * but 512 at most on a CPU implementation, where each workgroup is a task costing microseconds
 * (on llvmpipe the projection over 0.6 M entries took 8.7 ms alone with 2 344 workgroups, 3.9 ms
 * with 256; a whole 785×300×2 000 iteration 219 → 212 ms; no change measurable on larger arrays).
 */
export function elementwiseGroups(runtime: GpuRuntime, count: number): number {
  const cap = Math.min(runtime.software ? 512 : 4096, runtime.limits.maxComputeWorkgroupsPerDimension); // grid-stride: fewer is still right
  return Math.max(1, Math.min(Math.ceil(count / WORKGROUP), cap));
}

/**
 * Reads response (W3ᵀX), targetY, boundV, scalars[distance]; updates responseRhs (B = W1 + U1) in place.
 * With saveW1, also overwrites response with W1 (for the residuals of the block's last iteration).
 */
export function projectResponse(
  ws: Workspace,
  o: { count: number; classes: EntryClasses; epsilon: number; relaxation: number; saveW1: boolean; response: GPUBuffer; targetY: GPUBuffer; boundV: GPUBuffer | null; scalars: GPUBuffer; responseRhs: GPUBuffer },
): Dispatch {
  const uniforms = ws.uniform(
    shader.uniforms('ProjectParams', { count: o.count, linear: ENTRY_CLASS_CODES[o.classes], hasBound: o.boundV ? 1 : 0, epsilon: o.epsilon, relaxation: o.relaxation, saveW1: o.saveW1 ? 1 : 0 }),
    'ProjectParams',
  );
  const pipeline = shader.pipeline(ws.runtime, 'projectResponse');
  const resources = shader.resources({ project: uniforms, response: o.response, targetY: o.targetY, boundV: o.boundV ?? ws.dummy, scalars: o.scalars, responseRhs: o.responseRhs });
  return ws.dispatch('projectResponse', pipeline, resources, [
    elementwiseGroups(ws.runtime, Math.ceil(o.count / 4)), // four entries per invocation
  ], { bytes: 4 * o.count * ((o.boundV ? 5 : 4) + (o.saveW1 ? 1 : 0)), flops: 8 * o.count });
}

/** Reads W3; writes sparseW2 and updates weightRhs (Q = W2 + U2) in place. `uniforms` holds the threshold 1/ρ. */
export function shrinkWeights(ws: Workspace, o: { count: number; uniforms: GPUBuffer; W3: GPUBuffer; weightRhs: GPUBuffer; W2: GPUBuffer; factors?: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'shrinkWeights');
  const factors = o.factors ?? ws.placeholder('unused group factors', () => ws.storage(4, 'unused group factors'));
  const resources = shader.resources({ shrinkParams: o.uniforms, weightsW3: o.W3, weightRhs: o.weightRhs, sparseW2: o.W2, groupFactor: factors });
  return ws.dispatch('shrinkWeights', pipeline, resources, [elementwiseGroups(ws.runtime, Math.ceil(o.count / 4))], {
    bytes: 16 * o.count,
    flops: 6 * o.count,
  });
}
/** The input groups of a structured (group-sparse) W2 step: rows below `inputs` in `channels` groups, and the bias row. */
export interface WeightGroups {
  outputs: number;
  inputs: number;
  channels: number;
  count: number;
  /** Rows in a run of one group (an attention head's inputs; 1: row r's group is r mod channels). */
  span: number;
}

export const shrinkUniforms = (count: number, rho: number, relaxation: number, groups: WeightGroups | null = null) =>
  shader.uniforms('ShrinkParams', {
    count,
    threshold: 1 / rho,
    relaxation,
    structured: groups ? 1 : 0,
    outputs: groups?.outputs ?? 0,
    inputs: groups?.inputs ?? 0,
    channels: groups?.channels ?? 1,
    groupCount: groups?.count ?? 0,
    span: groups?.span ?? 1,
  });

/** The group factors of a structured W2 step (before shrinkWeights). Reads W3, Q; writes factors. */
export function groupFactors(ws: Workspace, o: { groups: WeightGroups; uniforms: GPUBuffer; W3: GPUBuffer; weightRhs: GPUBuffer; factors: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'groupFactors');
  const count = o.groups.count;
  const entries = (o.groups.inputs + 1) * o.groups.outputs;
  return ws.dispatch('groupFactors', pipeline, shader.resources({ shrinkParams: o.uniforms, weightsW3: o.W3, weightRhs: o.weightRhs, groupFactor: o.factors }), [elementwiseGroups(ws.runtime, count)], { bytes: 8 * entries, flops: 3 * entries });
}

/** Reads anchor; updates rhs = anchor + factor·(rhs − anchor). `uniforms` holds the factor. */
export function rescaleDuals(ws: Workspace, o: { count: number; uniforms: GPUBuffer; anchor: GPUBuffer; rhs: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'rescaleDuals');
  return ws.dispatch('rescaleDuals', pipeline, shader.resources({ rescaleParams: o.uniforms, anchor: o.anchor, rhs: o.rhs }), [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 12 * o.count,
    flops: 3 * o.count,
  });
}
export const rescaleUniforms = (count: number, factor: number) => shader.uniforms('RescaleParams', { count, factor });

/** Reads left, right; writes sum. */
export function add(ws: Workspace, o: { count: number; left: GPUBuffer; right: GPUBuffer; sum: GPUBuffer }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'add');
  const uniforms = ws.uniform(shader.uniforms('AddParams', { count: o.count }), 'AddParams');
  return ws.dispatch('add', pipeline, shader.resources({ addParams: uniforms, left: o.left, right: o.right, sum: o.sum }), [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 12 * o.count,
    flops: o.count,
  });
}
