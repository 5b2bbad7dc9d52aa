// The forward pass of a network's layers (besides dense products, which use matmul.wgsl).
// Tensors are samples-major NHWC, kernels HWIO (Keras layout). Every kernel is a grid-stride
// loop over its outputs, one thread per output element, with all sizes in uniforms so that one
// pipeline per entry point serves every shape.

const WORKGROUP = 256u;

fn stride(groups: vec3<u32>) -> u32 { return groups.x * WORKGROUP; }

// ---- data = act(data + bias) in place, data rows×units (the epilogue of a dense product) ----

struct BiasParams {
  count: u32,    // rows·units
  units: u32,
  hasBias: u32,
  relu: u32,
}

@group(0) @binding(0) var<uniform> biasParams: BiasParams;
@group(0) @binding(1) var<storage, read> biasValues: array<f32>;
@group(0) @binding(2) var<storage, read_write> data: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn biasActivation(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < biasParams.count; i += stride(groups)) {
    var v = data[i];
    if (biasParams.hasBias == 1u) { v += biasValues[i % biasParams.units]; }
    if (biasParams.relu == 1u) { v = max(v, 0.0); }
    data[i] = v;
  }
}

// ---- direct convolution: output[n, oy, ox, f] = act(bias[f] + Σ input[n, iy, ix, g·groupIn + c]·kernel[ky, kx, c, f]) ----
// with iy = oy·strideH − padTop + ky (and the same for x), g = f / groupOut the filter's group
// (one group: groupIn = inC); positions outside the input are zero.

struct ConvParams {
  count: u32,    // samples·outH·outW·filters
  inH: u32,
  inW: u32,
  inC: u32,
  outH: u32,
  outW: u32,
  filters: u32,
  kernelH: u32,
  kernelW: u32,
  strideH: u32,
  strideW: u32,
  padTop: u32,
  padLeft: u32,
  hasBias: u32,
  relu: u32,
  groupIn: u32,   // input channels per group (inC without groups)
  groupOut: u32,  // filters per group (filters without groups)
  dilationH: u32, // tap spacing
  dilationW: u32,
}

@group(0) @binding(10) var<uniform> conv: ConvParams;
@group(0) @binding(11) var<storage, read> convInput: array<f32>;
@group(0) @binding(12) var<storage, read> convKernel: array<f32>;
@group(0) @binding(13) var<storage, read> convBias: array<f32>;
@group(0) @binding(14) var<storage, read_write> convOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn conv2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < conv.count; i += stride(groups)) {
    // Neighbouring threads compute neighbouring filters of one position: they read the same
    // input values and neighbouring kernel entries.
    let f = i % conv.filters;
    let position = i / conv.filters;
    let ox = position % conv.outW;
    let oy = (position / conv.outW) % conv.outH;
    let n = position / (conv.outW * conv.outH);
    var acc = 0.0;
    let y0 = i32(oy * conv.strideH) - i32(conv.padTop);
    let x0 = i32(ox * conv.strideW) - i32(conv.padLeft);
    for (var ky = 0u; ky < conv.kernelH; ky++) {
      let iy = y0 + i32(ky * conv.dilationH);
      if (iy < 0 || iy >= i32(conv.inH)) { continue; }
      for (var kx = 0u; kx < conv.kernelW; kx++) {
        let ix = x0 + i32(kx * conv.dilationW);
        if (ix < 0 || ix >= i32(conv.inW)) { continue; }
        let inBase = ((n * conv.inH + u32(iy)) * conv.inW + u32(ix)) * conv.inC + (f / conv.groupOut) * conv.groupIn;
        let kernelBase = (ky * conv.kernelW + kx) * conv.groupIn * conv.filters + f;
        for (var c = 0u; c < conv.groupIn; c++) {
          acc += convInput[inBase + c] * convKernel[kernelBase + c * conv.filters];
        }
      }
    }
    if (conv.hasBias == 1u) { acc += convBias[f]; }
    if (conv.relu == 1u) { acc = max(acc, 0.0); }
    convOutput[i] = acc;
  }
}

// ---- max or average pooling (NHWC): padding positions never win a max (TF 'same' pads with
// −∞); an average divides by the window's positions inside the input, or by the whole window
// when the padding counts (ONNX count_include_pad: windows never overhang the padded input) ----

struct PoolParams {
  count: u32,    // samples·outH·outW·channels
  inH: u32,
  inW: u32,
  channels: u32,
  outH: u32,
  outW: u32,
  poolH: u32,
  poolW: u32,
  strideH: u32,
  strideW: u32,
  padTop: u32,
  padLeft: u32,
  mode: u32,      // 0 max, 1 average over the positions inside the input, 2 average over the window
}

@group(0) @binding(20) var<uniform> pool: PoolParams;
@group(0) @binding(21) var<storage, read> poolInput: array<f32>;
@group(0) @binding(22) var<storage, read_write> poolOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn maxPool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < pool.count; i += stride(groups)) {
    let c = i % pool.channels;
    let position = i / pool.channels;
    let ox = position % pool.outW;
    let oy = (position / pool.outW) % pool.outH;
    let n = position / (pool.outW * pool.outH);
    let y0 = i32(oy * pool.strideH) - i32(pool.padTop);
    let x0 = i32(ox * pool.strideW) - i32(pool.padLeft);
    var best = 0.0;
    var sum = 0.0;
    var inside = 0u;
    var found = false; // a TF window always holds at least one input position
    for (var ky = 0u; ky < pool.poolH; ky++) {
      let iy = y0 + i32(ky);
      if (iy < 0 || iy >= i32(pool.inH)) { continue; }
      for (var kx = 0u; kx < pool.poolW; kx++) {
        let ix = x0 + i32(kx);
        if (ix < 0 || ix >= i32(pool.inW)) { continue; }
        let v = poolInput[((n * pool.inH + u32(iy)) * pool.inW + u32(ix)) * pool.channels + c];
        if (!found || v > best) { best = v; found = true; }
        sum += v;
        inside++;
      }
    }
    if (pool.mode == 0u) { poolOutput[i] = best; }
    else if (pool.mode == 1u) { poolOutput[i] = sum / f32(inside); }
    else { poolOutput[i] = sum / f32(pool.poolH * pool.poolW); }
  }
}

// ---- output = max(input, 0) (a separate ReLU layer; out of place, the input may be collected) ----

struct ReluParams {
  count: u32,
}

@group(0) @binding(30) var<uniform> reluParams: ReluParams;
@group(0) @binding(31) var<storage, read> reluInput: array<f32>;
@group(0) @binding(32) var<storage, read_write> reluOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn relu(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < reluParams.count; i += stride(groups)) {
    reluOutput[i] = max(reluInput[i], 0.0);
  }
}

// ---- softmax over rows of `cols` values (the last axis), one thread per row ----

struct SoftmaxParams {
  rows: u32,
  cols: u32,
}

@group(0) @binding(40) var<uniform> softmaxParams: SoftmaxParams;
@group(0) @binding(41) var<storage, read> softmaxInput: array<f32>;
@group(0) @binding(42) var<storage, read_write> softmaxOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn softmax(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let cols = softmaxParams.cols;
  for (var r = gid.x; r < softmaxParams.rows; r += stride(groups)) {
    let base = r * cols;
    var top = softmaxInput[base];
    for (var j = 1u; j < cols; j++) { top = max(top, softmaxInput[base + j]); }
    var sum = 0.0;
    for (var j = 0u; j < cols; j++) {
      let e = exp(softmaxInput[base + j] - top);
      softmaxOutput[base + j] = e;
      sum += e;
    }
    for (var j = 0u; j < cols; j++) { softmaxOutput[base + j] = softmaxOutput[base + j] / sum; }
  }
}

// ---- pointwise maps, out of place: a per-channel affine map (inference BatchNorm) or an
// activation; `channels` is the last axis' size ----

struct PointwiseParams {
  count: u32,
  channels: u32,
  op: u32,        // 0 affine (scale[c]·x + offset[c]), 1 clip(a, b), 2 leaky ReLU(a), 3 ELU(a), 4 sigmoid,
                  // 5 tanh, 6 GELU (erf), 7 SiLU, 8 hard swish, 9 hard sigmoid(a·x + b), 10 softplus,
                  // 11 softsign, 12 SELU (b·(x or a·(eˣ − 1))), 13 mish, 14 PReLU (slope scale[c] below 0),
                  // 15 tanh GELU (a, b), 16 reciprocal
  a: f32,
  b: f32,
}

@group(0) @binding(50) var<uniform> pointwiseParams: PointwiseParams;
@group(0) @binding(51) var<storage, read> pointwiseInput: array<f32>;
@group(0) @binding(52) var<storage, read> pointwiseScale: array<f32>;
@group(0) @binding(53) var<storage, read> pointwiseOffset: array<f32>;
@group(0) @binding(54) var<storage, read_write> pointwiseOutput: array<f32>;

// erf to 1.5e-7 (Abramowitz–Stegun 7.1.26), the approximation of the float64 CPU pass.
fn erfApprox(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}

fn sigmoidOf(v: f32) -> f32 { return 1.0 / (1.0 + exp(-v)); }

// log(1 + eˣ) without overflow: x itself past 20 (as the float64 pass).
fn softplusOf(v: f32) -> f32 { return select(log(1.0 + exp(v)), v, v > 20.0); }

@compute @workgroup_size(WORKGROUP)
fn pointwise(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = pointwiseParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    let v = pointwiseInput[i];
    var r = v;
    switch p.op {
      case 0u: { let c = i % p.channels; r = pointwiseScale[c] * v + pointwiseOffset[c]; }
      case 1u: { r = min(max(v, p.a), p.b); }
      case 2u: { r = select(p.a * v, v, v >= 0.0); }
      case 3u: { r = select(p.a * (exp(v) - 1.0), v, v >= 0.0); }
      case 4u: { r = sigmoidOf(v); }
      case 5u: { r = tanh(v); }
      case 6u: { r = 0.5 * v * (1.0 + erfApprox(v * 0.70710678118654752)); }
      case 7u: { r = v * sigmoidOf(v); }
      case 8u: { r = v * min(max(v + 3.0, 0.0), 6.0) / 6.0; }
      case 9u: { r = min(max(p.a * v + p.b, 0.0), 1.0); }
      case 10u: { r = softplusOf(v); }
      case 11u: { r = v / (1.0 + abs(v)); }
      case 12u: { r = p.b * select(p.a * (exp(v) - 1.0), v, v >= 0.0); }
      case 13u: { r = v * tanh(softplusOf(v)); }
      case 14u: { r = select(pointwiseScale[i % p.channels] * v, v, v >= 0.0); }
      case 15u: { r = 0.5 * v * (1.0 + tanh(clamp(p.a * (v + p.b * v * v * v), -20.0, 20.0))); }
      case 16u: { r = 1.0 / v; }
      default: {}
    }
    pointwiseOutput[i] = r;
  }
}

// ---- global average or max pooling: [H, W, C] → [C] per sample, one thread per output ----

struct GlobalPoolParams {
  count: u32,     // samples·channels
  positions: u32, // H·W
  channels: u32,
  mode: u32,      // 0: mean, 1: max
}

@group(0) @binding(60) var<uniform> globalPool: GlobalPoolParams;
@group(0) @binding(61) var<storage, read> globalPoolInput: array<f32>;
@group(0) @binding(62) var<storage, read_write> globalPoolOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn globalPool2d(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < globalPool.count; i += stride(groups)) {
    let c = i % globalPool.channels;
    let n = i / globalPool.channels;
    var sum = 0.0;
    var most = globalPoolInput[n * globalPool.positions * globalPool.channels + c];
    for (var k = 0u; k < globalPool.positions; k++) {
      let v = globalPoolInput[(n * globalPool.positions + k) * globalPool.channels + c];
      sum += v;
      most = max(most, v);
    }
    globalPoolOutput[i] = select(sum / f32(globalPool.positions), most, globalPool.mode == 1u);
  }
}

// ---- one part of a channel concatenation: out[p, offset + c] = part[p, c] ----

struct ConcatParams {
  count: u32,   // positions·width
  width: u32,   // the part's channels
  total: u32,   // the output's channels
  offset: u32,  // the part's first channel in the output
}

@group(0) @binding(70) var<uniform> concatParams: ConcatParams;
@group(0) @binding(71) var<storage, read> concatPart: array<f32>;
@group(0) @binding(72) var<storage, read_write> concatOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn concatChannels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < concatParams.count; i += stride(groups)) {
    let position = i / concatParams.width;
    concatOutput[position * concatParams.total + concatParams.offset + i % concatParams.width] = concatPart[i];
  }
}

// ---- a gated product: out = x · gate, the gate one value per channel per sample (a
// squeeze-and-excitation gate, broadcast over the positions) or one per value ----

struct GateParams {
  count: u32,     // samples·perSample
  perSample: u32, // x's values per sample
  gateSize: u32,  // the gate's values per sample: perSample, or the channels
}

@group(0) @binding(80) var<uniform> gateParams: GateParams;
@group(0) @binding(81) var<storage, read> gateInput: array<f32>;
@group(0) @binding(82) var<storage, read> gateValues: array<f32>;
@group(0) @binding(83) var<storage, read_write> gateOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn gate(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = gateParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    gateOutput[i] = gateInput[i] * gateValues[(i / p.perSample) * p.gateSize + (i % p.perSample) % p.gateSize];
  }
}

// ---- channels picked by index: out[p, c] = input[p, indices[c]] (ShuffleNet's split and shuffle) ----

struct GatherParams {
  count: u32,    // positions·width
  width: u32,    // the output's channels (indices)
  channels: u32, // the input's channels
}

@group(0) @binding(90) var<uniform> gatherParams: GatherParams;
@group(0) @binding(91) var<storage, read> gatherInput: array<f32>;
// Channel indices as f32: exact below 2^24, more channels than any tensor here has.
@group(0) @binding(92) var<storage, read> gatherIndices: array<f32>;
@group(0) @binding(93) var<storage, read_write> gatherOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn gatherChannels(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = gatherParams;
  for (var i = gid.x; i < p.count; i += stride(groups)) {
    gatherOutput[i] = gatherInput[(i / p.width) * p.channels + u32(gatherIndices[i % p.width])];
  }
}

// ---- layer normalization over each position's channels (one invocation per position):
// out = (x − mean) / √(var + ε) · scale + offset, var biased (PyTorch's) ----

struct LayerNormParams {
  positions: u32, // samples·H·W
  channels: u32,
  epsilon: f32,
  centred: u32,   // 0: RMSNorm (nothing subtracted)
}

@group(0) @binding(100) var<uniform> layerNormParams: LayerNormParams;
@group(0) @binding(101) var<storage, read> layerNormInput: array<f32>;
@group(0) @binding(102) var<storage, read> layerNormScale: array<f32>;
@group(0) @binding(103) var<storage, read> layerNormOffset: array<f32>;
@group(0) @binding(104) var<storage, read_write> layerNormOutput: array<f32>;

@compute @workgroup_size(WORKGROUP)
fn layerNorm(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let p = layerNormParams;
  for (var position = gid.x; position < p.positions; position += stride(groups)) {
    let base = position * p.channels;
    var mean = 0.0;
    for (var c = 0u; c < p.channels; c++) { mean += layerNormInput[base + c]; }
    mean = select(0.0, mean / f32(p.channels), p.centred != 0u);
    // Two passes: the variance of the centred values (one pass loses it when |mean| ≫ std).
    var variance = 0.0;
    for (var c = 0u; c < p.channels; c++) {
      let d = layerNormInput[base + c] - mean;
      variance += d * d;
    }
    let inv = inverseSqrt(variance / f32(p.channels) + p.epsilon);
    for (var c = 0u; c < p.channels; c++) {
      layerNormOutput[base + c] = (layerNormInput[base + c] - mean) * inv * layerNormScale[c] + layerNormOffset[c];
    }
  }
}
