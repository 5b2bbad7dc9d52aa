// Two-stage sums of squares that stay on the GPU: stage 1 leaves partial sums per channel in a
// `partials` buffer (channel c of slot g at c·stride + g); stage 2 (sumPartials) adds each
// channel's partials into `scalars[c]`, which the next kernel reads directly.
//   CHANNEL_DISTANCE          ‖(Z − Y)_Ω‖², Z = W3ᵀX − U1 (the projection's norm)
//   CHANNEL_R1 … CHANNEL_U2   residual sums of the last iteration of a block (read every K iterations)
//   CHANNEL_ACTIVE_SQ, CHANNEL_OFF_SUPPORT_EXCESS_SQ   feasibility of the answer W2 (read only when the
//                             residuals say converged)
// The CHANNEL_* constants are prepended (src/gpu/kernels/channels.ts).
// Stage 1 is usually fused into the product that writes T or W3 (shaders/epilogue.wgsl);
// constraintDistancePartials below computes the distance on its own, for a state set from the host.

const WORKGROUP = 256u;

// SIDED_BOUND is prepended (src/gpu/kernels/sides.ts).
struct PartialParams {
  count: u32,
  linear: u32,   // entry classes (sides.ts): 0 relu, 1 linear, 2 sided (Ω marked in V)
}

var<workgroup> lanes: array<f32, WORKGROUP>;

// The workgroup's sum of `value` (every invocation must call it, in uniform control flow).
fn workgroupSum(value: f32, lane: u32) -> f32 {
  lanes[lane] = value;
  for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lane < width) { lanes[lane] += lanes[lane + width]; }
  }
  workgroupBarrier();
  return lanes[0];
}

// ---- CHANNEL_DISTANCE: the distance of Z from Y on Ω ----

@group(0) @binding(0) var<uniform> distanceParams: PartialParams;
@group(0) @binding(1) var<storage, read> distResponse: array<f32>;  // W3ᵀX
@group(0) @binding(2) var<storage, read> distRhs: array<f32>;       // B = W1 + U1
@group(0) @binding(3) var<storage, read> distTarget: array<f32>;    // Y, 0 off Ω
@group(0) @binding(4) var<storage, read_write> distPartials: array<f32>;
@group(0) @binding(5) var<storage, read> distBound: array<f32>;     // V (sided only)

@compute @workgroup_size(WORKGROUP)
fn constraintDistancePartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var s = 0.0;
  for (var i = wid.x * WORKGROUP + lid.x; i < distanceParams.count; i += groups.x * WORKGROUP) {
    let y = distTarget[i];
    var inOmega = distanceParams.linear == 1u || y > 0.0;
    if (distanceParams.linear == 2u) { inOmega = distBound[i] >= SIDED_BOUND; }
    if (inOmega) {
      let t = distResponse[i];
      let d = 2.0 * t - distRhs[i] - y; // Z − Y with Z = T − U1 = 2T − B
      s += d * d;
    }
  }
  let total = workgroupSum(s, lid.x);
  if (lid.x == 0u) { distPartials[wid.x] = total; }
}

// ---- CHANNEL_R2 … CHANNEL_U2 (consecutive) over N×M, after the W3 solve of a block's last iteration:
//   R2 ‖W2 − W3‖²  S2 ‖ΔW3‖²  W2 ‖W2‖²  W3 ‖W3‖²  U2 ‖U2‖²
// W3Prev (copied before the iteration) becomes ΔW3 = W3 − W3Prev, for the product ‖X·ΔW3‖.

// The vec4 below holds R2, S2, W2, W3 in that order, and U2 follows.
const_assert CHANNEL_S2 == CHANNEL_R2 + 1u && CHANNEL_W2 == CHANNEL_R2 + 2u && CHANNEL_W3 == CHANNEL_R2 + 3u && CHANNEL_U2 == CHANNEL_R2 + 4u;

struct WeightParams {
  count: u32,
  stride: u32,   // distance between channels in `weightPartials`
}

@group(0) @binding(20) var<uniform> weightParams: WeightParams;
@group(0) @binding(21) var<storage, read> resW3: array<f32>;
@group(0) @binding(22) var<storage, read> resW2: array<f32>;
@group(0) @binding(23) var<storage, read> resWeightRhs: array<f32>;  // Q = W2 + U2
@group(0) @binding(24) var<storage, read_write> resW3Delta: array<f32>; // W3 before → ΔW3
@group(0) @binding(25) var<storage, read_write> weightPartials: array<f32>;

var<workgroup> weightLanes: array<vec4<f32>, WORKGROUP>;

@compute @workgroup_size(WORKGROUP)
fn weightResidualPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  // R2, S2, W2, W3 in a vec4 and U2 beside it: one reduction tree for all five (five
  // workgroupSum calls, each its own barriers, took llvmpipe ~1 s more to compile).
  var acc = vec4<f32>(0.0);
  var accU2 = 0.0;
  for (var i = wid.x * WORKGROUP + lid.x; i < weightParams.count; i += groups.x * WORKGROUP) {
    let w3 = resW3[i];
    let w2 = resW2[i];
    let u2 = resWeightRhs[i] - w3;
    let dw = w3 - resW3Delta[i];
    resW3Delta[i] = dw;
    let v = vec4<f32>(w2 - w3, dw, w2, w3);
    acc += v * v;
    accU2 += u2 * u2;
  }
  weightLanes[lid.x] = acc;
  lanes[lid.x] = accU2;
  for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lid.x < width) {
      weightLanes[lid.x] += weightLanes[lid.x + width];
      lanes[lid.x] += lanes[lid.x + width];
    }
  }
  workgroupBarrier();
  if (lid.x < 4u) { weightPartials[(CHANNEL_R2 + lid.x) * weightParams.stride + wid.x] = weightLanes[0][lid.x]; }
  if (lid.x == 4u) { weightPartials[CHANNEL_U2 * weightParams.stride + wid.x] = lanes[0]; }
}

// ---- stage 2: workgroup c adds channel (firstChannel + c) ----

struct SumParams {
  slots: u32,         // partials per channel
  firstChannel: u32,
  stride: u32,        // distance between channels in `partials`
}

@group(0) @binding(40) var<uniform> sumParams: SumParams;
@group(0) @binding(41) var<storage, read> partials: array<f32>;
@group(0) @binding(42) var<storage, read_write> scalars: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn sumPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let channel = sumParams.firstChannel + wid.x;
  var s = 0.0;
  for (var g = lid.x; g < sumParams.slots; g += WORKGROUP) { s += partials[channel * sumParams.stride + g]; }
  let total = workgroupSum(s, lid.x);
  if (lid.x == 0u) { scalars[channel] = total; }
}
