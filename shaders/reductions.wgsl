// Two-stage sums of squares that stay on the GPU: stage 1 leaves one partial sum per workgroup
// and channel in `partials` (channel c of workgroup g at c·MAX_GROUPS + g); stage 2 (sumPartials)
// adds each channel's partials into `scalars[c]`, which the next kernel reads directly.
//   channel 0      ‖(Z − Y)_Ω‖², Z = W3ᵀX − U1 (the projection's norm)
//   channels 1..5  response residuals, 6..11 weight residuals (see below; read every K iterations)
//   channels 12,13 feasibility of the answer W2 (read only when the residuals say converged)

const WORKGROUP = 256u;
const MAX_GROUPS = 256u;

struct PartialParams {
  count: u32,
  linear: u32,
  relaxation: f32,
}

var<workgroup> lanes: array<array<f32, WORKGROUP>, 6>;

fn treeSum(channels: u32, lane: u32) {
  for (var width = WORKGROUP / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lane < width) {
      for (var c = 0u; c < channels; c++) { lanes[c][lane] += lanes[c][lane + width]; }
    }
  }
  workgroupBarrier();
}

// ---- channel 0: the distance of Z from Y on Ω ----

@group(0) @binding(0) var<uniform> distanceParams: PartialParams;
@group(0) @binding(1) var<storage, read> distResponse: array<f32>;  // W3ᵀX
@group(0) @binding(2) var<storage, read> distRhs: array<f32>;       // B = W1 + U1
@group(0) @binding(3) var<storage, read> distTarget: array<f32>;    // Y, 0 off Ω
@group(0) @binding(4) var<storage, read_write> distPartials: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn constraintDistancePartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var s = 0.0;
  for (var i = wid.x * WORKGROUP + lid.x; i < distanceParams.count; i += groups.x * WORKGROUP) {
    let y = distTarget[i];
    if (distanceParams.linear == 1u || y > 0.0) {
      let t = distResponse[i];
      let d = 2.0 * t - distRhs[i] - y; // Z − Y with Z = T − U1 = 2T − B
      s += d * d;
    }
  }
  lanes[0][lid.x] = s;
  treeSum(1u, lid.x);
  if (lid.x == 0u) { distPartials[wid.x] = lanes[0][0]; }
}

// ---- channels 1..5 over P×M, after an iteration whose start state was saved in *Prev:
//   1 ‖W1 − W3ᵀX‖²  2 ‖ΔW3ᵀX‖²  3 ‖W1‖²  4 ‖W3ᵀX‖²  5 ‖U1‖²
// with W1 recovered from B = B_prev + α·(W1 − W3ᵀX_prev) (α = the over-relaxation, in `relaxation`).

@group(0) @binding(10) var<uniform> responseParams: PartialParams;
@group(0) @binding(11) var<storage, read> resResponse: array<f32>;
@group(0) @binding(12) var<storage, read> resRhs: array<f32>;
@group(0) @binding(13) var<storage, read> resResponsePrev: array<f32>;
@group(0) @binding(14) var<storage, read> resRhsPrev: array<f32>;
@group(0) @binding(15) var<storage, read_write> resPartials: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn responseResidualPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var acc = array<f32, 5>(0.0, 0.0, 0.0, 0.0, 0.0);
  for (var i = wid.x * WORKGROUP + lid.x; i < responseParams.count; i += groups.x * WORKGROUP) {
    let t = resResponse[i];
    let tPrev = resResponsePrev[i];
    let b = resRhs[i];
    let w1 = tPrev + (b - resRhsPrev[i]) / responseParams.relaxation;
    acc[0] += (w1 - t) * (w1 - t);
    acc[1] += (t - tPrev) * (t - tPrev);
    acc[2] += w1 * w1;
    acc[3] += t * t;
    acc[4] += (b - t) * (b - t);
  }
  for (var c = 0u; c < 5u; c++) { lanes[c][lid.x] = acc[c]; }
  treeSum(5u, lid.x);
  if (lid.x == 0u) {
    for (var c = 0u; c < 5u; c++) { resPartials[(1u + c) * MAX_GROUPS + wid.x] = lanes[c][0]; }
  }
}

// ---- channels 6..11 over N×M:
//   6 ‖W2 − W3‖²  7 ‖ΔW3‖²  8 ‖W2‖²  9 ‖W3‖²  10 ‖U2‖²  11 nonzeros of W2

@group(0) @binding(20) var<uniform> weightParams: PartialParams;
@group(0) @binding(21) var<storage, read> resW3: array<f32>;
@group(0) @binding(22) var<storage, read> resW2: array<f32>;
@group(0) @binding(23) var<storage, read> resWeightRhs: array<f32>;  // Q = W2 + U2
@group(0) @binding(24) var<storage, read> resW3Prev: array<f32>;
@group(0) @binding(25) var<storage, read_write> weightPartials: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn weightResidualPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var acc = array<f32, 6>(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
  for (var i = wid.x * WORKGROUP + lid.x; i < weightParams.count; i += groups.x * WORKGROUP) {
    let w3 = resW3[i];
    let w2 = resW2[i];
    let u2 = resWeightRhs[i] - w3;
    let dw = w3 - resW3Prev[i];
    acc[0] += (w2 - w3) * (w2 - w3);
    acc[1] += dw * dw;
    acc[2] += w2 * w2;
    acc[3] += w3 * w3;
    acc[4] += u2 * u2;
    acc[5] += select(0.0, 1.0, w2 != 0.0);
  }
  for (var c = 0u; c < 6u; c++) { lanes[c][lid.x] = acc[c]; }
  treeSum(6u, lid.x);
  if (lid.x == 0u) {
    for (var c = 0u; c < 6u; c++) { weightPartials[(6u + c) * MAX_GROUPS + wid.x] = lanes[c][0]; }
  }
}

// ---- channels 12, 13 over P×M, for Z = W2ᵀX (the answer's response):
//   12 ‖(Z − Y)_Ω‖²   13 ‖(Z − V)₊ on Ωᶜ‖²  ('relu' only)

struct FeasibilityParams {
  count: u32,
  linear: u32,
  hasBound: u32,
}

@group(0) @binding(50) var<uniform> feasibilityParams: FeasibilityParams;
@group(0) @binding(51) var<storage, read> answerResponse: array<f32>;
@group(0) @binding(52) var<storage, read> feasTarget: array<f32>;
@group(0) @binding(53) var<storage, read> feasBound: array<f32>;
@group(0) @binding(54) var<storage, read_write> feasPartials: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn feasibilityPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var activeSum = 0.0;
  var offSum = 0.0;
  for (var i = wid.x * WORKGROUP + lid.x; i < feasibilityParams.count; i += groups.x * WORKGROUP) {
    let z = answerResponse[i];
    let y = feasTarget[i];
    if (feasibilityParams.linear == 1u || y > 0.0) {
      activeSum += (z - y) * (z - y);
    } else {
      var v = 0.0;
      if (feasibilityParams.hasBound == 1u) { v = feasBound[i]; }
      let excess = max(z - v, 0.0);
      offSum += excess * excess;
    }
  }
  lanes[0][lid.x] = activeSum;
  lanes[1][lid.x] = offSum;
  treeSum(2u, lid.x);
  if (lid.x == 0u) {
    feasPartials[12u * MAX_GROUPS + wid.x] = lanes[0][0];
    feasPartials[13u * MAX_GROUPS + wid.x] = lanes[1][0];
  }
}

// ---- stage 2: workgroup c adds channel (firstChannel + c) ----

struct SumParams {
  groups: u32,        // partials per channel
  firstChannel: u32,
}

@group(0) @binding(40) var<uniform> sumParams: SumParams;
@group(0) @binding(41) var<storage, read> partials: array<f32>;
@group(0) @binding(42) var<storage, read_write> scalars: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn sumPartials(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let channel = sumParams.firstChannel + wid.x;
  var s = 0.0;
  if (lid.x < sumParams.groups) { s = partials[channel * MAX_GROUPS + lid.x]; }
  lanes[0][lid.x] = s;
  treeSum(1u, lid.x);
  if (lid.x == 0u) { scalars[channel] = lanes[0][0]; }
}
