// The elementwise steps of the Net-Trim ADMM iteration (net-trim.md §3), with a grid-stride loop
// (so any size fits in the dispatch limits); the two steps of every iteration take four entries
// per thread and access.
//
// The duals are not stored: the iteration keeps B = W1 + U1 (P×M) and Q = W2 + U2 (N×M), the
// right-hand sides of the W3 solve, and recovers U1 = B − W3ᵀX and U2 = Q − W3 (the dual
// updates U1 += W1 − W3ᵀX, U2 += W2 − W3 make these identities hold after every iteration).
// Activations are samples-major: entry i of a P×M array is (sample i / M, neuron i % M).
//
// Over-relaxation (Boyd et al. 2011, §3.4.3) with α ∈ (0, 2): the W3 solve and the dual updates
// see Ŵ = α·W + (1 − α)·(the previous W3 side) instead of W, which in terms of B and Q reads
// B ← B + α·(W1 − W3ᵀX) and Q ← Q + α·(W2 − W3); α = 1 is plain ADMM.

const WORKGROUP = 256u;

fn stride(groups: vec3<u32>) -> u32 { return groups.x * WORKGROUP; }

// ---- W1 step: project Z = W3ᵀX − U1 onto {‖(Z−Y)_Ω‖ ≤ ε} × {Z_Ωᶜ ≤ V}; then B = W1 + U1 ----

// SIDED_BOUND and CHANNEL_DISTANCE are prepended (src/gpu/kernels/sides.ts, channels.ts).
struct ProjectParams {
  count: u32,     // P·M
  linear: u32,    // entry classes (sides.ts): 0 relu (Ω where Y > 0), 1 linear (all Ω), 2 sided (Ω, below, above marked in V)
  hasBound: u32,  // 1: V is bound (cascade, or sided); 0: V = 0
  epsilon: f32,
  relaxation: f32, // α
  saveW1: u32,    // 1 (the last iteration of a block): leave W1 in `response` for the residuals
}

@group(0) @binding(0) var<uniform> project: ProjectParams;
// Four entries per access (the P×M buffers are padded to 16 bytes with zeros, which the step
// leaves zero): a quarter of the loads, each bounds-checked once on CPU implementations.
// W3ᵀX; nothing reads it again before the product that rewrites it, so it can hold W1 meanwhile.
@group(0) @binding(1) var<storage, read_write> response: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read> targetY: array<vec4<f32>>;       // Y, 0 off Ω
@group(0) @binding(3) var<storage, read> boundV: array<vec4<f32>>;        // V on Ωᶜ
@group(0) @binding(4) var<storage, read> scalars: array<f32>;             // [CHANNEL_DISTANCE] = ‖(Z − Y)_Ω‖²
@group(0) @binding(5) var<storage, read_write> responseRhs: array<vec4<f32>>; // B = W1 + U1

@compute @workgroup_size(WORKGROUP)
fn projectResponse(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let distance = sqrt(scalars[CHANNEL_DISTANCE]);
  let shrink = project.epsilon / max(distance, project.epsilon);
  let everyEntryOnSupport = vec4<bool>(project.linear == 1u);  // (sided handled below)
  for (var i = gid.x; i < (project.count + 3u) / 4u; i += stride(groups)) {
    let t = response[i];
    let b = responseRhs[i];
    let z = t - (b - t); // Z = W3ᵀX − U1 with U1 = B − W3ᵀX
    let y = targetY[i];
    // ε-ball around Y on Ω (when ε = distance = 0 the shrink is 0/0: treat as 1, z = y there);
    // below V off Ω.
    let ball = select(y + (z - y) * shrink, z, distance == 0.0);
    var v = vec4<f32>(0.0);
    if (project.hasBound == 1u) { v = boundV[i]; }
    var w1 = select(min(z, v), ball, everyEntryOnSupport | (y > vec4<f32>(0.0)));
    if (project.linear == 2u) {
      // Sided: Y holds the bound of the entries that stay above it.
      let below = min(z, v);
      w1 = select(select(below, max(z, y), v <= vec4<f32>(-SIDED_BOUND)), ball, v >= vec4<f32>(SIDED_BOUND));
    }
    responseRhs[i] = b + project.relaxation * (w1 - t);
    if (project.saveW1 == 1u) { response[i] = w1; }
  }
}

// ---- W2 step: W2 = soft_threshold(W3 − U2, 1/ρ); then Q = W2 + U2. Group-sparse (structured):
// W2 = t·max(0, 1 − (1/ρ)/‖t_g‖) with t = W3 − U2 and g the input group of the entry's row
// (row r < inputs: ⌊r / span⌋ mod channels; the bias row: group `channels`), the factors computed per
// group by groupFactors first ----

struct ShrinkParams {
  count: u32,      // N·M
  threshold: f32,  // 1/ρ
  relaxation: f32, // α
  structured: u32, // 1: the group soft threshold with the factors of groupFactors
  outputs: u32,    // M (structured)
  inputs: u32,     // rows without the bias row (structured)
  channels: u32,   // input groups without the bias (structured)
  groupCount: u32, // channels (+ 1 with a bias row)
  span: u32,       // rows in a run of one group: 1, or an attention head's inputs
}

// Four entries per access, as projectResponse (the zero padding of the N×M buffers stays zero).
@group(0) @binding(10) var<uniform> shrinkParams: ShrinkParams;
@group(0) @binding(11) var<storage, read> weightsW3: array<vec4<f32>>;
@group(0) @binding(12) var<storage, read_write> weightRhs: array<vec4<f32>>;  // Q = W2 + U2
@group(0) @binding(13) var<storage, read_write> sparseW2: array<vec4<f32>>;
@group(0) @binding(14) var<storage, read_write> groupFactor: array<f32>;     // per input group (structured)

fn groupOfRow(row: u32) -> u32 { return select(shrinkParams.channels, (row / shrinkParams.span) % shrinkParams.channels, row < shrinkParams.inputs); }

@compute @workgroup_size(WORKGROUP)
fn shrinkWeights(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < (shrinkParams.count + 3u) / 4u; i += stride(groups)) {
    let w3 = weightsW3[i];
    let q = weightRhs[i];
    let t = w3 - (q - w3); // W3 − U2 with U2 = Q − W3
    var w2 = sign(t) * max(abs(t) - shrinkParams.threshold, vec4<f32>(0.0));
    if (shrinkParams.structured == 1u) {
      var f = vec4<f32>(0.0);
      for (var j = 0u; j < 4u; j++) {
        let index = 4u * i + j;
        if (index < shrinkParams.count) { f[j] = groupFactor[groupOfRow(index / shrinkParams.outputs)]; }
      }
      w2 = t * f;
    }
    sparseW2[i] = w2;
    weightRhs[i] = q + shrinkParams.relaxation * (w2 - w3);
  }
}

fn rowSquares(row: u32) -> f32 {
  var sum = 0.0;
  for (var m = 0u; m < shrinkParams.outputs; m++) {
    let index = row * shrinkParams.outputs + m;
    let t = 2.0 * weightsW3[index / 4u][index % 4u] - weightRhs[index / 4u][index % 4u];
    sum += t * t;
  }
  return sum;
}

// One invocation per input group: factor = max(0, 1 − (1/ρ)/‖(W3 − U2)_g‖). A group's rows are
// the runs of `span` rows from g·span, every channels·span rows below `inputs` (the bias group:
// the row `inputs`).
@compute @workgroup_size(WORKGROUP)
fn groupFactors(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = shrinkParams;
  for (var g = gid.x; g < p.groupCount; g += stride(groups)) {
    var sum = 0.0;
    if (g >= p.channels) {
      sum = rowSquares(p.inputs);
    } else {
      for (var start = g * p.span; start < p.inputs; start += p.channels * p.span) {
        for (var row = start; row < min(start + p.span, p.inputs); row++) { sum += rowSquares(row); }
      }
    }
    let norm = sqrt(sum);
    groupFactor[g] = select(0.0, 1.0 - p.threshold / norm, norm > p.threshold);
  }
}

// ---- ρ change: scaled duals U = y/ρ become U·ρ_old/ρ_new, i.e. rhs = anchor + f·(rhs − anchor) ----

struct RescaleParams {
  count: u32,
  factor: f32,
}

@group(0) @binding(20) var<uniform> rescaleParams: RescaleParams;
@group(0) @binding(21) var<storage, read> anchor: array<f32>;          // W3ᵀX or W3
@group(0) @binding(22) var<storage, read_write> rhs: array<f32>;       // B or Q

@compute @workgroup_size(WORKGROUP)
fn rescaleDuals(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < rescaleParams.count; i += stride(groups)) {
    let base = anchor[i];
    rhs[i] = base + rescaleParams.factor * (rhs[i] - base);
  }
}

// ---- sum = left + right (a warm start's B = T + U1) ----

struct AddParams {
  count: u32,
}

@group(0) @binding(30) var<uniform> addParams: AddParams;
@group(0) @binding(31) var<storage, read> left: array<f32>;
@group(0) @binding(32) var<storage, read> right: array<f32>;
@group(0) @binding(33) var<storage, read_write> sum: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn add(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < addParams.count; i += stride(groups)) {
    sum[i] = left[i] + right[i];
  }
}
