// Wrappers of shaders/proximal.wgsl: the elementwise ADMM steps.
import source from '../../../shaders/proximal.wgsl';
import type { GpuRuntime } from '../device.js';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';
import { ENTRY_CLASS_CODES, SIDED_PRELUDE, type EntryClasses } from './sides.js';

const proximalSource = SIDED_PRELUDE + source;

const WORKGROUP = 256;
/**
 * Workgroups of a grid-stride kernel over `count` entries: enough to fill a GPU (4096 at most),
 * but 512 at most on a CPU implementation, where each workgroup is a task costing microseconds
 * (on llvmpipe the projection over 0.6 M entries took 8.7 ms alone with 2 344 workgroups, 3.9 ms
 * with 256; a whole 785×300×2 000 iteration 219 → 212 ms; no change measurable on larger arrays).
 */
export function elementwiseGroups(runtime: GpuRuntime, count: number): number {
  return Math.max(1, Math.min(Math.ceil(count / WORKGROUP), runtime.software ? 512 : 4096));
}

/**
 * Reads response (W3ᵀX), targetY, boundV, scalars[0]; updates responseRhs (B = W1 + U1) in place.
 * With saveW1, also overwrites response with W1 (for the residuals of the block's last iteration).
 */
export function projectResponse(
  ws: Workspace,
  o: { count: number; classes: EntryClasses; epsilon: number; relaxation: number; saveW1: boolean; response: GPUBuffer; targetY: GPUBuffer; boundV: GPUBuffer | null; scalars: GPUBuffer; responseRhs: GPUBuffer },
): Dispatch {
  const uniforms = ws.uniform(
    packUniforms([['u32', o.count], ['u32', ENTRY_CLASS_CODES[o.classes]], ['u32', o.boundV ? 1 : 0], ['f32', o.epsilon], ['f32', o.relaxation], ['u32', o.saveW1 ? 1 : 0]]),
  );
  const pipeline = ws.runtime.pipelines.get('proximal', proximalSource, 'projectResponse');
  return ws.dispatch('projectResponse', pipeline, { 0: uniforms, 1: o.response, 2: o.targetY, 3: o.boundV ?? ws.dummy, 4: o.scalars, 5: o.responseRhs }, [
    elementwiseGroups(ws.runtime, Math.ceil(o.count / 4)), // four entries per invocation
  ], { bytes: 4 * o.count * ((o.boundV ? 5 : 4) + (o.saveW1 ? 1 : 0)), flops: 8 * o.count });
}

/** Reads W3; writes sparseW2 and updates weightRhs (Q = W2 + U2) in place. `uniforms` holds the threshold 1/ρ. */
export function shrinkWeights(ws: Workspace, o: { count: number; uniforms: GPUBuffer; W3: GPUBuffer; weightRhs: GPUBuffer; W2: GPUBuffer; factors?: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('proximal', proximalSource, 'shrinkWeights');
  const factors = o.factors ?? ws.placeholder('unused group factors', () => ws.storage(4, 'unused group factors'));
  return ws.dispatch('shrinkWeights', pipeline, { 10: o.uniforms, 11: o.W3, 12: o.weightRhs, 13: o.W2, 14: factors }, [elementwiseGroups(ws.runtime, Math.ceil(o.count / 4))], {
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
}

export const shrinkUniforms = (count: number, rho: number, relaxation: number, groups: WeightGroups | null = null) =>
  packUniforms([
    ['u32', count],
    ['f32', 1 / rho],
    ['f32', relaxation],
    ['u32', groups ? 1 : 0],
    ['u32', groups?.outputs ?? 0],
    ['u32', groups?.inputs ?? 0],
    ['u32', groups?.channels ?? 1],
    ['u32', groups?.count ?? 0],
  ]);

/** The group factors of a structured W2 step (before shrinkWeights). Reads W3, Q; writes factors. */
export function groupFactors(ws: Workspace, o: { groups: WeightGroups; uniforms: GPUBuffer; W3: GPUBuffer; weightRhs: GPUBuffer; factors: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('proximal', proximalSource, 'groupFactors');
  const count = o.groups.count;
  const entries = (o.groups.inputs + 1) * o.groups.outputs;
  return ws.dispatch('groupFactors', pipeline, { 10: o.uniforms, 11: o.W3, 12: o.weightRhs, 14: o.factors }, [elementwiseGroups(ws.runtime, count)], { bytes: 8 * entries, flops: 3 * entries });
}

/** Reads anchor; updates rhs = anchor + factor·(rhs − anchor). `uniforms` holds the factor. */
export function rescaleDuals(ws: Workspace, o: { count: number; uniforms: GPUBuffer; anchor: GPUBuffer; rhs: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('proximal', proximalSource, 'rescaleDuals');
  return ws.dispatch('rescaleDuals', pipeline, { 20: o.uniforms, 21: o.anchor, 22: o.rhs }, [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 12 * o.count,
    flops: 3 * o.count,
  });
}
export const rescaleUniforms = (count: number, factor: number) => packUniforms([['u32', count], ['f32', factor]]);

/** Reads left, right; writes sum. */
export function add(ws: Workspace, o: { count: number; left: GPUBuffer; right: GPUBuffer; sum: GPUBuffer }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('proximal', proximalSource, 'add');
  const uniforms = ws.uniform(packUniforms([['u32', o.count]]));
  return ws.dispatch('add', pipeline, { 30: uniforms, 31: o.left, 32: o.right, 33: o.sum }, [elementwiseGroups(ws.runtime, o.count)], {
    bytes: 12 * o.count,
    flops: o.count,
  });
}
