// Wrappers of shaders/reductions.wgsl: two-stage sums whose results stay in a GPU `scalars` buffer.
import source from '../../../shaders/reductions.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';

const WORKGROUP = 256;
/** Partial sums per channel (the shader's MAX_GROUPS); stage 2 adds them with one workgroup. */
export const MAX_GROUPS = 256;
/** Channels in `scalars`: 0 the projection distance, 1..5 response and 6..11 weight residuals, 12..13 feasibility. */
export const SCALAR_CHANNELS = 14;
export const PARTIALS_LENGTH = SCALAR_CHANNELS * MAX_GROUPS;

const groupsFor = (count: number) => Math.max(1, Math.min(Math.ceil(count / WORKGROUP), MAX_GROUPS));

function sumPartials(ws: Workspace, partials: GPUBuffer, scalars: GPUBuffer, groups: number, firstChannel: number, channels: number): Dispatch {
  const pipeline = ws.runtime.pipelines.get('reductions', source, 'sumPartials');
  const uniforms = ws.uniform(packUniforms([['u32', groups], ['u32', firstChannel]]));
  return ws.dispatch('sumPartials', pipeline, { 40: uniforms, 41: partials, 42: scalars }, [channels], {
    bytes: 4 * channels * (groups + 1),
    flops: channels * groups,
  });
}

/** scalars[0] = ‖(2T − B − Y)_Ω‖². Reads response T, responseRhs B, targetY; writes partials, scalars. */
export function constraintDistance(
  ws: Workspace,
  o: { count: number; linear: boolean; response: GPUBuffer; responseRhs: GPUBuffer; targetY: GPUBuffer; partials: GPUBuffer; scalars: GPUBuffer },
): Dispatch[] {
  const groups = groupsFor(o.count);
  const pipeline = ws.runtime.pipelines.get('reductions', source, 'constraintDistancePartials');
  const uniforms = ws.uniform(packUniforms([['u32', o.count], ['u32', o.linear ? 1 : 0]]));
  return [
    ws.dispatch('constraintDistancePartials', pipeline, { 0: uniforms, 1: o.response, 2: o.responseRhs, 3: o.targetY, 4: o.partials }, [groups], {
      bytes: 12 * o.count,
      flops: 4 * o.count,
    }),
    sumPartials(ws, o.partials, o.scalars, groups, 0, 1),
  ];
}

/**
 * scalars[1..11]: the residual sums of an iteration whose starting T, B, W3 were copied to the
 * *Prev buffers. Reads all state buffers; writes partials, scalars.
 */
export function iterationResiduals(
  ws: Workspace,
  o: {
    responseCount: number;
    /** The over-relaxation α of the iteration (to recover W1 from B). */
    relaxation: number;
    weightCount: number;
    response: GPUBuffer;
    responseRhs: GPUBuffer;
    responsePrev: GPUBuffer;
    responseRhsPrev: GPUBuffer;
    W3: GPUBuffer;
    W2: GPUBuffer;
    weightRhs: GPUBuffer;
    W3Prev: GPUBuffer;
    partials: GPUBuffer;
    scalars: GPUBuffer;
  },
): Dispatch[] {
  const responseGroups = groupsFor(o.responseCount);
  const weightGroups = groupsFor(o.weightCount);
  const responsePipeline = ws.runtime.pipelines.get('reductions', source, 'responseResidualPartials');
  const weightPipeline = ws.runtime.pipelines.get('reductions', source, 'weightResidualPartials');
  return [
    ws.dispatch(
      'responseResidualPartials',
      responsePipeline,
      { 10: ws.uniform(packUniforms([['u32', o.responseCount], ['u32', 0], ['f32', o.relaxation]])), 11: o.response, 12: o.responseRhs, 13: o.responsePrev, 14: o.responseRhsPrev, 15: o.partials },
      [responseGroups],
      { bytes: 16 * o.responseCount, flops: 16 * o.responseCount },
    ),
    sumPartials(ws, o.partials, o.scalars, responseGroups, 1, 5),
    ws.dispatch(
      'weightResidualPartials',
      weightPipeline,
      { 20: ws.uniform(packUniforms([['u32', o.weightCount], ['u32', 0]])), 21: o.W3, 22: o.W2, 23: o.weightRhs, 24: o.W3Prev, 25: o.partials },
      [weightGroups],
      { bytes: 16 * o.weightCount, flops: 16 * o.weightCount },
    ),
    sumPartials(ws, o.partials, o.scalars, weightGroups, 6, 6),
  ];
}

/**
 * scalars[12] = ‖(Z − Y)_Ω‖², scalars[13] = ‖(Z − V)₊ on Ωᶜ‖² for the answer's response Z = XW2.
 * Reads answerResponse, targetY, boundV; writes partials, scalars.
 */
export function answerFeasibility(
  ws: Workspace,
  o: { count: number; linear: boolean; answerResponse: GPUBuffer; targetY: GPUBuffer; boundV: GPUBuffer | null; partials: GPUBuffer; scalars: GPUBuffer },
): Dispatch[] {
  const groups = groupsFor(o.count);
  const pipeline = ws.runtime.pipelines.get('reductions', source, 'feasibilityPartials');
  const uniforms = ws.uniform(packUniforms([['u32', o.count], ['u32', o.linear ? 1 : 0], ['u32', o.boundV ? 1 : 0]]));
  return [
    ws.dispatch('feasibilityPartials', pipeline, { 50: uniforms, 51: o.answerResponse, 52: o.targetY, 53: o.boundV ?? ws.dummy, 54: o.partials }, [groups], {
      bytes: 4 * o.count * (o.boundV ? 3 : 2),
      flops: 4 * o.count,
    }),
    sumPartials(ws, o.partials, o.scalars, groups, 12, 2),
  ];
}
