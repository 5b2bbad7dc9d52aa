// Wrappers of shaders/reductions.wgsl: two-stage sums whose results stay in a GPU `scalars` buffer.
import source from '../../../shaders/reductions.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';
import { ENTRY_CLASS_CODES, SIDED_PRELUDE, type EntryClasses } from './sides.js';

const reductionsSource = SIDED_PRELUDE + source;

const WORKGROUP = 256;
/** Workgroups (partial sums) of constraintDistance at most. */
const MAX_GROUPS = 256;
/** Channels in `scalars`: 0 the projection distance, 1..5 response and 6..11 weight residuals, 12..13 feasibility. */
export const SCALAR_CHANNELS = 14;

const groupsFor = (count: number) => Math.max(1, Math.min(Math.ceil(count / WORKGROUP), MAX_GROUPS));

/** Floats of the `partials` scratch constraintDistance needs per part. */
export const DISTANCE_PARTIALS = MAX_GROUPS;

/**
 * scalars[c] = Σ over `slots` of partials[c·stride + slot] for c = firstChannel … firstChannel + channels − 1.
 * Reads partials; writes scalars.
 */
export function sumPartials(ws: Workspace, o: { partials: GPUBuffer; scalars: GPUBuffer; slots: number; stride: number; firstChannel: number; channels: number }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('reductions', reductionsSource, 'sumPartials');
  const uniforms = ws.uniform(packUniforms([['u32', o.slots], ['u32', o.firstChannel], ['u32', o.stride]]));
  return ws.dispatch('sumPartials', pipeline, { 40: uniforms, 41: o.partials, 42: o.scalars }, [o.channels], {
    bytes: 4 * o.channels * (o.slots + 1),
    flops: o.channels * o.slots,
  });
}

/**
 * scalars[0] = ‖(2T − B − Y)_Ω‖² over every part (the sample chunks of a layer), on its own (the
 * iteration fuses it into the product that writes T). Reads each part's response T, responseRhs
 * B and targetY; writes partials (DISTANCE_PARTIALS floats per part), scalars.
 */
export function constraintDistance(
  ws: Workspace,
  o: { parts: Array<{ count: number; response: GPUBuffer; responseRhs: GPUBuffer; targetY: GPUBuffer; boundV: GPUBuffer | null }>; classes: EntryClasses; partials: GPUBuffer; scalars: GPUBuffer },
): Dispatch[] {
  const pipeline = ws.runtime.pipelines.get('reductions', reductionsSource, 'constraintDistancePartials');
  const perPart = o.parts.map(({ count, response, responseRhs, targetY, boundV }, i) => {
    const uniforms = ws.uniform(packUniforms([['u32', count], ['u32', ENTRY_CLASS_CODES[o.classes]]]));
    // Each part's partial sums in its own MAX_GROUPS slots (slots it does not use stay 0).
    const partials = { buffer: o.partials, offset: i * MAX_GROUPS * 4, size: MAX_GROUPS * 4 };
    return ws.dispatch('constraintDistancePartials', pipeline, { 0: uniforms, 1: response, 2: responseRhs, 3: targetY, 4: partials, 5: boundV ?? ws.dummy }, [groupsFor(count)], {
      bytes: 12 * count,
      flops: 4 * count,
    });
  });
  return [...perPart, sumPartials(ws, { partials: o.partials, scalars: o.scalars, slots: o.parts.length * MAX_GROUPS, stride: o.parts.length * MAX_GROUPS, firstChannel: 0, channels: 1 })];
}

/** Partial-sum slots weightResiduals writes for `count` values. */
export const weightResidualSlots = (count: number): number => groupsFor(count);

/**
 * Channels 6..11 of the residual sums (see shaders/reductions.wgsl) into partials (channel c at
 * c·stride + slot), after a block's last W3 solve; turns W3Prev (the W3 before it) into ΔW3.
 */
export function weightResiduals(ws: Workspace, o: { count: number; W3: GPUBuffer; W2: GPUBuffer; weightRhs: GPUBuffer; W3Prev: GPUBuffer; partials: GPUBuffer; stride: number }): Dispatch {
  const pipeline = ws.runtime.pipelines.get('reductions', reductionsSource, 'weightResidualPartials');
  const uniforms = ws.uniform(packUniforms([['u32', o.count], ['u32', o.stride]]));
  return ws.dispatch('weightResidualPartials', pipeline, { 20: uniforms, 21: o.W3, 22: o.W2, 23: o.weightRhs, 24: o.W3Prev, 25: o.partials }, [groupsFor(o.count)], {
    bytes: 20 * o.count,
    flops: 14 * o.count,
  });
}
