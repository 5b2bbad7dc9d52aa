// Wrappers of shaders/reductions.wgsl: two-stage sums whose results stay in a GPU `scalars` buffer.
import source from '../../../shaders/reductions.wgsl';
import { Shader } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { CHANNELS, SCALAR_CHANNELS, SHADER_PRELUDE } from './channels.js';
import { ENTRY_CLASS_CODES, type EntryClasses } from './sides.js';

export { CHANNELS, SCALAR_CHANNELS };

const shader = new Shader('reductions', SHADER_PRELUDE + source);

const WORKGROUP = 256;
/** Workgroups (partial sums) of constraintDistance at most. */
const MAX_GROUPS = 256;

const groupsFor = (count: number) => Math.max(1, Math.min(Math.ceil(count / WORKGROUP), MAX_GROUPS));

/** Floats of the `partials` scratch constraintDistance needs per part. */
export const DISTANCE_PARTIALS = MAX_GROUPS;

/**
 * scalars[c] = Σ over `slots` of partials[c·stride + slot] for c = firstChannel … firstChannel + channels − 1.
 * Reads partials; writes scalars.
 */
export function sumPartials(ws: Workspace, o: { partials: GPUBuffer; scalars: GPUBuffer; slots: number; stride: number; firstChannel: number; channels: number }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'sumPartials');
  const uniforms = ws.uniform(shader.uniforms('SumParams', { slots: o.slots, firstChannel: o.firstChannel, stride: o.stride }), 'SumParams');
  return ws.dispatch('sumPartials', pipeline, shader.resources({ sumParams: uniforms, partials: o.partials, scalars: o.scalars }), [o.channels], {
    bytes: 4 * o.channels * (o.slots + 1),
    flops: o.channels * o.slots,
  });
}

/**
 * scalars[CHANNELS.distance] = ‖(2T − B − Y)_Ω‖² over every part (the sample chunks of a layer), on its own (the
 * iteration fuses it into the product that writes T). Reads each part's response T, responseRhs
 * B and targetY; writes partials (DISTANCE_PARTIALS floats per part), scalars.
 */
export function constraintDistance(
  ws: Workspace,
  o: { parts: Array<{ count: number; response: GPUBuffer; responseRhs: GPUBuffer; targetY: GPUBuffer; boundV: GPUBuffer | null }>; classes: EntryClasses; partials: GPUBuffer; scalars: GPUBuffer },
): Dispatch[] {
  const pipeline = shader.pipeline(ws.runtime, 'constraintDistancePartials');
  const perPart = o.parts.map(({ count, response, responseRhs, targetY, boundV }, i) => {
    const uniforms = ws.uniform(shader.uniforms('PartialParams', { count, linear: ENTRY_CLASS_CODES[o.classes] }), 'PartialParams');
    // Each part's partial sums in its own MAX_GROUPS slots (slots it does not use stay 0).
    const partials = { buffer: o.partials, offset: i * MAX_GROUPS * 4, size: MAX_GROUPS * 4 };
    const resources = shader.resources({ distanceParams: uniforms, distResponse: response, distRhs: responseRhs, distTarget: targetY, distPartials: partials, distBound: boundV ?? ws.dummy });
    return ws.dispatch('constraintDistancePartials', pipeline, resources, [groupsFor(count)], {
      bytes: 12 * count,
      flops: 4 * count,
    });
  });
  // `partials` holds this one channel from offset 0: stride 0 reads slot g at g whatever its number.
  return [...perPart, sumPartials(ws, { partials: o.partials, scalars: o.scalars, slots: o.parts.length * MAX_GROUPS, stride: 0, firstChannel: CHANNELS.distance, channels: 1 })];
}

/** Partial-sum slots weightResiduals writes for `count` values. */
export const weightResidualSlots = (count: number): number => groupsFor(count);

/**
 * Channels r2..u2 of the residual sums (see shaders/reductions.wgsl) into partials (channel c at
 * c·stride + slot), after a block's last W3 solve; turns W3Prev (the W3 before it) into ΔW3.
 */
export function weightResiduals(ws: Workspace, o: { count: number; W3: GPUBuffer; W2: GPUBuffer; weightRhs: GPUBuffer; W3Prev: GPUBuffer; partials: GPUBuffer; stride: number }): Dispatch {
  const pipeline = shader.pipeline(ws.runtime, 'weightResidualPartials');
  const uniforms = ws.uniform(shader.uniforms('WeightParams', { count: o.count, stride: o.stride }), 'WeightParams');
  const resources = shader.resources({ weightParams: uniforms, resW3: o.W3, resW2: o.W2, resWeightRhs: o.weightRhs, resW3Delta: o.W3Prev, weightPartials: o.partials });
  return ws.dispatch('weightResidualPartials', pipeline, resources, [groupsFor(o.count)], {
    bytes: 20 * o.count,
    flops: 14 * o.count,
  });
}
