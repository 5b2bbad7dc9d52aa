// Transformers' ops on a network's tensors (types.ts RearrangeLayer, MatMulLayer): samples-major,
// a grid-stride loop over the outputs, one thread per output element, all sizes in uniforms.

const WORKGROUP = 256u;

fn stride(groups: vec3<u32>) -> u32 { return groups.x * WORKGROUP; }

// ---- values moved and a constant added: out[i] = in[indices[i]] (0 for −1) + offset[i], per sample ----

struct RearrangeParams {
  count: u32,    // samples·outSize
  inSize: u32,   // one sample's input values
  outSize: u32,  // one sample's output values
}

@group(0) @binding(0) var<uniform> rearrangeParams: RearrangeParams;
@group(0) @binding(1) var<storage, read> rearrangeInput: array<f32>;
// Indices as f32, as the gather's (exact below 2^24; shapes.ts checks the sizes).
@group(0) @binding(2) var<storage, read> rearrangeIndices: array<f32>;
@group(0) @binding(3) var<storage, read> rearrangeOffset: array<f32>;
@group(0) @binding(4) var<storage, read_write> rearrangeOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn rearrange(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = rearrangeParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let at = i % p.outSize;
    let source = rearrangeIndices[at];
    var v = rearrangeOffset[at];
    if (source >= 0.0) {
      v += rearrangeInput[(i / p.outSize) * p.inSize + u32(source)];
    }
    rearrangeOutput[i] = v;
  }
}

// ---- the product of two computed tensors: [B, M, K] times [B, K, N] per sample (attention's Q·Kᵀ and ·V) ----

struct BatchedMatmulParams {
  count: u32,    // samples·B·M·N
  m: u32,
  k: u32,
  n: u32,
}

@group(0) @binding(10) var<uniform> batchedParams: BatchedMatmulParams;
@group(0) @binding(11) var<storage, read> batchedA: array<f32>;
@group(0) @binding(12) var<storage, read> batchedB: array<f32>;
@group(0) @binding(13) var<storage, read_write> batchedOutput: array<f32>;

// The scores are T×T per head and T small in the models this reads: a dot product per thread is enough.
@compute @workgroup_size(WORKGROUP)
fn batchedMatmul(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = batchedParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let j = i % p.n;
    let row = i / p.n;          // (sample·B + b)·M + r
    let z = row / p.m;          // sample·B + b
    var sum = 0.0;
    for (var t = 0u; t < p.k; t++) {
      sum += batchedA[row * p.k + t] * batchedB[(z * p.k + t) * p.n + j];
    }
    batchedOutput[i] = sum;
  }
}

// ---- token ids to the rows of a table: out[t, d] = table[ids[t], d] (the ids checked on the host) ----

struct EmbeddingParams {
  count: u32,    // samples·T·dims
  dims: u32,
}

@group(0) @binding(20) var<uniform> embeddingParams: EmbeddingParams;
@group(0) @binding(21) var<storage, read> embeddingIds: array<f32>;
@group(0) @binding(22) var<storage, read> embeddingTable: array<f32>;
@group(0) @binding(23) var<storage, read_write> embeddingOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn embedding(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = embeddingParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let id = u32(embeddingIds[i / p.dims]);
    embeddingOutput[i] = embeddingTable[id * p.dims + i % p.dims];
  }
}

// ---- RoBERTa's positions from the ids (types.ts PositionRule): one thread per sample, a running count ----

struct PositionParams {
  samples: u32,
  tokens: u32,   // T
  pad: f32,      // the padding id (ids are whole f32 values below 2^24: compared exactly)
  start: u32,    // the padding's row; the other tokens count from start + 1
}

@group(0) @binding(30) var<uniform> positionParams: PositionParams;
@group(0) @binding(31) var<storage, read> positionIds: array<f32>;
@group(0) @binding(32) var<storage, read_write> positionRows: array<f32>;

// T steps per sample: a scan across threads would pay off only for sequences far longer than a sample count.
@compute @workgroup_size(WORKGROUP)
fn positions(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = positionParams;
  for (var s = gid.x; s < p.samples; s += stride(groups)) {
    var count = 0u;
    for (var t = s * p.tokens; t < (s + 1u) * p.tokens; t++) {
      var row = p.start;
      if (positionIds[t] != p.pad) {
        count += 1u;
        row += count;
      }
      positionRows[t] = f32(row);
    }
  }
}

// ---- the token at the last id that is not padding (types.ts LastTokenLayer): [1, T, C] and T ids → [C] ----

struct LastTokenParams {
  count: u32,     // samples·C
  tokens: u32,    // T
  channels: u32,  // C
  pad: f32,
}

@group(0) @binding(40) var<uniform> lastTokenParams: LastTokenParams;
@group(0) @binding(41) var<storage, read> lastTokenInput: array<f32>;
@group(0) @binding(42) var<storage, read> lastTokenIds: array<f32>;
@group(0) @binding(43) var<storage, read_write> lastTokenOutput: array<f32>;

// Each thread scans its sample's ids from the end (cpuOps.ts lastTokenOf): C·T reads per sample, few beside the network's.
@compute @workgroup_size(WORKGROUP)
fn lastToken(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = lastTokenParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let s = i / p.channels;
    var last = 0u;
    for (var t = p.tokens - 1u; t > 0u; t--) {
      if (lastTokenIds[s * p.tokens + t] != p.pad) {
        last = t;
        break;
      }
    }
    lastTokenOutput[i] = lastTokenInput[(s * p.tokens + last) * p.channels + i % p.channels];
  }
}
