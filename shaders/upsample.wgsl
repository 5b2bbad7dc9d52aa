// Upsampling of a network's images (U-Net, FPN, DeepLab decoders; transposed convs' input): samples-major NHWC, a
// grid-stride loop over the outputs, one thread per output element, all sizes in uniforms.

const WORKGROUP = 256u;

fn stride(groups: vec3<u32>) -> u32 { return groups.x * WORKGROUP; }

// Output element i of samples-major NHWC images [outH, outW, channels]: (sample, y, x, channel).
fn outputPosition(i: u32, channels: u32, outW: u32, outH: u32) -> vec4<u32> {
  let pixel = i / channels;
  return vec4<u32>(pixel / (outW * outH), (pixel / outW) % outH, pixel % outW, i % channels);
}

// ---- zeros between the pixels (a transposed conv's input): input (y, x) to (y·sh, x·sw) ----

struct InsertZerosParams {
  count: u32,    // samples·outH·outW·channels, outH = (inH − 1)·sh + 1
  channels: u32,
  inH: u32,
  inW: u32,
  strideH: u32,
  strideW: u32,
}

@group(0) @binding(3) var<uniform> insertZerosParams: InsertZerosParams;
@group(0) @binding(4) var<storage, read> insertZerosInput: array<f32>;
@group(0) @binding(5) var<storage, read_write> insertZerosOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn insertZeros(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = insertZerosParams;
  let outW = (p.inW - 1u) * p.strideW + 1u;
  let outH = (p.inH - 1u) * p.strideH + 1u;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let at = outputPosition(i, p.channels, outW, outH); // (sample, y, x, channel)
    var v = 0.0;
    if (at.y % p.strideH == 0u && at.z % p.strideW == 0u) {
      v = insertZerosInput[((at.x * p.inH + at.y / p.strideH) * p.inW + at.z / p.strideW) * p.channels + at.w];
    }
    insertZerosOutput[i] = v;
  }
}

// ---- upsampling by whole factors, nearest or bilinear (mode: the index in UPSAMPLE_MODES, src/network/types.ts;
// upsampleTaps in cpuOps.ts: the same source coordinates in f32).

struct UpsampleParams {
  count: u32,    // samples·outH·outW·channels
  channels: u32,
  inH: u32,
  inW: u32,
  scaleH: u32,
  scaleW: u32,
  mode: u32,     // the index in UPSAMPLE_MODES
}

// Output index o of an axis of `size` inputs: the two inputs it reads and the second one's weight.
fn upsampleTap(o: u32, size: u32, scale: u32, mode: u32) -> vec3<f32> {
  if (mode == 0u) {
    let i = f32(o / scale);
    return vec3<f32>(i, i, 0.0);
  }
  var source = f32(o) / f32(scale);
  if (mode == 1u) {
    source = max((f32(o) + 0.5) / f32(scale) - 0.5, 0.0);
  } else if (mode == 2u) {
    source = select(0.0, f32(o) * f32(size - 1u) / f32(size * scale - 1u), size * scale > 1u);
  }
  let first = min(u32(floor(source)), size - 1u);
  return vec3<f32>(f32(first), f32(min(first + 1u, size - 1u)), source - f32(first));
}

@group(0) @binding(0) var<uniform> upsampleParams: UpsampleParams;
@group(0) @binding(1) var<storage, read> upsampleInput: array<f32>;
@group(0) @binding(2) var<storage, read_write> upsampleOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn upsample(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = upsampleParams;
  let outW = p.inW * p.scaleW;
  let outH = p.inH * p.scaleH;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let out = outputPosition(i, p.channels, outW, outH); // (sample, y, x, channel)
    let c = out.w;
    let row = upsampleTap(out.y, p.inH, p.scaleH, p.mode);
    let col = upsampleTap(out.z, p.inW, p.scaleW, p.mode);
    let at = vec4<u32>(out.x * p.inH + u32(row.x), out.x * p.inH + u32(row.y), u32(col.x), u32(col.y));
    let top = mix(upsampleInput[(at.x * p.inW + at.z) * p.channels + c], upsampleInput[(at.x * p.inW + at.w) * p.channels + c], col.z);
    let bottom = mix(upsampleInput[(at.y * p.inW + at.z) * p.channels + c], upsampleInput[(at.y * p.inW + at.w) * p.channels + c], col.z);
    upsampleOutput[i] = mix(top, bottom, row.z);
  }
}
