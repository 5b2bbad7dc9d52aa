// Group normalization of a network's images (GroupNorm, InstanceNorm: types.ts GroupNormLayer):
// samples-major NHWC, one thread per (sample, group) over its positions and channels, in two
// passes as the layer norm (the variance of the centred values), all sizes in uniforms.

const WORKGROUP = 256u;

struct GroupNormParams {
  count: u32,      // samples·groups
  positions: u32,  // H·W
  channels: u32,
  groups: u32,
  epsilon: f32,
}

@group(0) @binding(0) var<uniform> groupNormParams: GroupNormParams;
@group(0) @binding(1) var<storage, read> groupNormInput: array<f32>;
@group(0) @binding(2) var<storage, read> groupNormScale: array<f32>;
@group(0) @binding(3) var<storage, read> groupNormOffset: array<f32>;
@group(0) @binding(4) var<storage, read_write> groupNormOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn groupNorm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = groupNormParams;
  let per = p.channels / p.groups;
  let count = f32(p.positions * per);
  for (var i = gid.x; i < p.count; i += groups.x * WORKGROUP) {
    let base = (i / p.groups) * p.positions * p.channels + (i % p.groups) * per;
    var mean = 0.0;
    for (var q = 0u; q < p.positions; q++) {
      for (var k = 0u; k < per; k++) { mean += groupNormInput[base + q * p.channels + k]; }
    }
    mean /= count;
    var variance = 0.0;
    for (var q = 0u; q < p.positions; q++) {
      for (var k = 0u; k < per; k++) {
        let d = groupNormInput[base + q * p.channels + k] - mean;
        variance += d * d;
      }
    }
    let inv = inverseSqrt(variance / count + p.epsilon);
    let channel = (i % p.groups) * per;
    for (var q = 0u; q < p.positions; q++) {
      for (var k = 0u; k < per; k++) {
        let at = base + q * p.channels + k;
        groupNormOutput[at] = (groupNormInput[at] - mean) * inv * groupNormScale[channel + k] + groupNormOffset[channel + k];
      }
    }
  }
}
