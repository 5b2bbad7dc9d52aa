// Products with the patch matrix X of a convolution, without materializing it (net-trim.md §5).
// X has one row r = (n, oy, ox) per sample and output position and one column k = (ky, kx, c) per
// kernel entry (the HWIO kernel's rows), plus a last column of `biasValue` when hasBias = 1:
//   X[r, k] = images[n, oy·strideH − padTop + ky·dilationH, ox·strideW − padLeft + kx·dilationW, c]   (0 outside).
// All sizes are uniforms, so one pipeline per entry point (and epilogue) serves every layer.
// shaders/epilogue.wgsl is prepended: it declares `out` and what patch_product's stores fuse.
//
//   patch_product:   out (rows×M)  = alpha·X·W + beta·addend          (a convolution)
//   patch_gradient:  partials[s]   = X[slice s]ᵀ·B  (columns×M)        (a kernel gradient, split
//   reduce_slices:   out           = alpha·Σ_s partials[s] + beta·addend   over row slices)
//   patch_rows:      chunk (count×columns) = rows first..first+count of X  (for the Gram matrix)

struct Params {
  rows: u32,        // samples·outH·outW
  inputs: u32,      // kernelH·kernelW·channels (without the bias column)
  outputs: u32,     // M
  rowsPerSlice: u32,
  inH: u32,
  inW: u32,
  channels: u32,
  outH: u32,
  outW: u32,
  kernelW: u32,
  strideH: u32,
  strideW: u32,
  padTop: u32,
  padLeft: u32,
  kernelH: u32,
  hasBias: u32,
  biasValue: f32,
  alpha: f32,
  beta: f32,
  firstRow: u32,    // patch_rows: the chunk's first row
  chunkRows: u32,   // patch_rows: rows in the chunk
  dilationH: u32,   // tap spacing
  dilationW: u32,
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> images: array<f32>;
@group(0) @binding(2) var<storage, read> operand: array<f32>; // W (columns×M) or B (rows×M)
@group(0) @binding(3) var<storage, read> addend: array<f32>;

const WORKGROUP = 64u;
// Register blocking (as matmul_registers): each invocation owns a TILE×BLOCK block of outputs,
// TILE rows (product) or TILE columns (gradient) by BLOCK of the M outputs, so every k step costs
// TILE + BLOCK loads for TILE·BLOCK FMAs. Out-of-range rows/columns/outputs are clamped on load
// (valid data, discarded) and masked on store, keeping the inner loops branch-free.
const TILE = 8u;
// Software adapters (llvmpipe): store the register block from a loop that is not unrolled.
// Unrolled, patch_product's 128 inlined copies of epilogueStore took llvmpipe ~30 s to compile on
// a fresh machine (1.7 s in a loop) and ran no faster there; GPUs keep the unrolled stores, whose
// block stays in registers (measured on the H200 that way).
override STORES_IN_LOOP: bool = false;
const BLOCK = 16u;

fn columns() -> u32 { return params.inputs + params.hasBias; }

struct Position { n: u32, oy: u32, ox: u32 }

fn position(r: u32) -> Position {
  let ox = r % params.outW;
  let t = r / params.outW;
  return Position(t / params.outH, t % params.outH, ox);
}

// Index into `images` of window entry (ky, kx, 0) for output position p, or -1 in the padding.
fn windowBase(p: Position, ky: u32, kx: u32) -> i32 {
  let iy = i32(p.oy * params.strideH + ky * params.dilationH) - i32(params.padTop);
  let ix = i32(p.ox * params.strideW + kx * params.dilationW) - i32(params.padLeft);
  if (iy < 0 || iy >= i32(params.inH) || ix < 0 || ix >= i32(params.inW)) { return -1; }
  return ((i32(p.n) * i32(params.inH) + iy) * i32(params.inW) + ix) * i32(params.channels);
}

// X[r, k] for a column k < inputs given as (ky, kx, c).
fn patchValue(p: Position, ky: u32, kx: u32, c: u32) -> f32 {
  let base = windowBase(p, ky, kx);
  let value = images[u32(max(base, 0)) + c];
  return select(0.0, value, base >= 0);
}

// The positions of row block `block`'s TILE rows (clamped to the last row: a row past it is
// computed and not stored).
fn blockPositions(block: u32) -> array<Position, TILE> {
  var positions: array<Position, TILE>;
  for (var i = 0u; i < TILE; i++) { positions[i] = position(min(block * TILE + i, params.rows - 1u)); }
  return positions;
}

// windowBase of each position for the window entry (ky, kx).
fn windowBases(positions: array<Position, TILE>, ky: u32, kx: u32) -> array<i32, TILE> {
  var bases: array<i32, TILE>;
  for (var i = 0u; i < TILE; i++) { bases[i] = windowBase(positions[i], ky, kx); }
  return bases;
}

// X at channel c of those window entries (0 in the padding).
fn windowValues(bases: array<i32, TILE>, c: u32) -> array<f32, TILE> {
  var v: array<f32, TILE>;
  for (var i = 0u; i < TILE; i++) { v[i] = select(0.0, images[u32(max(bases[i], 0)) + c], bases[i] >= 0); }
  return v;
}

fn blockColumns(m0: u32) -> array<u32, BLOCK> {
  var cols: array<u32, BLOCK>;
  for (var j = 0u; j < BLOCK; j++) { cols[j] = min(m0 + j, params.outputs - 1u); }
  return cols;
}

@compute @workgroup_size(WORKGROUP)
fn patch_product(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let M = params.outputs;
  let m0 = gid.y * BLOCK;
  let cols = blockColumns(m0);
  let rowBlocks = (params.rows + TILE - 1u) / TILE;
  var sums: EpilogueSums;
  for (var block = gid.x; block < rowBlocks; block += groups.x * WORKGROUP) {
    let positions = blockPositions(block);
    var acc: array<array<f32, BLOCK>, TILE>;
    for (var ky = 0u; ky < params.kernelH; ky++) {
      for (var kx = 0u; kx < params.kernelW; kx++) {
        let bases = windowBases(positions, ky, kx);
        let kernelRow = (ky * params.kernelW + kx) * params.channels;
        for (var c = 0u; c < params.channels; c++) {
          let v = windowValues(bases, c);
          let w = (kernelRow + c) * M;
          for (var j = 0u; j < BLOCK; j++) {
            let wj = operand[w + cols[j]];
            for (var i = 0u; i < TILE; i++) { acc[i][j] = fma(v[i], wj, acc[i][j]); }
          }
        }
      }
    }
    if (params.hasBias == 1u) {
      let w = params.inputs * M;
      for (var j = 0u; j < BLOCK; j++) {
        let b = params.biasValue * operand[w + cols[j]];
        for (var i = 0u; i < TILE; i++) { acc[i][j] += b; }
      }
    }
    productStores(acc, block, m0, &sums);
  }
  epilogueFinish(sums, gid.y * groups.x * WORKGROUP + gid.x);
}

// The stores of one invocation's TILE×BLOCK block of X·W (the rows of `rowBlock`, the outputs from
// m0), and the epilogue's sums over them (patch_product, patch_product_subgroups).
fn productStores(acc: array<array<f32, BLOCK>, TILE>, rowBlock: u32, m0: u32, sums: ptr<function, EpilogueSums>) {
  let M = params.outputs;
  if (STORES_IN_LOOP) {
    // A copy of the block indexed at run time, in a loop that is not unrolled (see STORES_IN_LOOP).
    var values = acc;
    for (var e = 0u; e < TILE * BLOCK; e++) {
      let r = rowBlock * TILE + e / BLOCK;
      let m = m0 + e % BLOCK;
      if (r < params.rows && m < M) {
        let index = r * M + m;
        var value = params.alpha * values[e / BLOCK][e % BLOCK];
        if (params.beta != 0.0) { value += params.beta * addend[index]; }
        epilogueStore(index, value, sums);
      }
    }
  } else {
    for (var i = 0u; i < TILE; i++) {
      let r = rowBlock * TILE + i;
      if (r >= params.rows) { break; }
      for (var j = 0u; j < BLOCK; j++) {
        if (m0 + j >= M) { break; }
        let index = r * M + m0 + j;
        var value = params.alpha * acc[i][j];
        if (params.beta != 0.0) { value += params.beta * addend[index]; }
        epilogueStore(index, value, sums);
      }
    }
  }
  if (epilogue.kind == 1u && M % 4u == 0u) {
    // The response sums, four outputs per step (this invocation's BLOCK outputs of a row are
    // contiguous, and with M % 4 = 0 every run of four stays within the row).
    for (var e = 0u; e < TILE * BLOCK / 4u; e++) {
      let r = rowBlock * TILE + e / (BLOCK / 4u);
      let m = m0 + (e % (BLOCK / 4u)) * 4u;
      if (r < params.rows && m < M) { epilogueAfterResponse4(r * M + m, sums); }
    }
  } else if (epilogueRevisits()) {
    // A loop of 128 that is not unrolled: the epilogue's loads stay out of the register block.
    for (var e = 0u; e < TILE * BLOCK; e++) {
      let r = rowBlock * TILE + e / BLOCK;
      let m = m0 + e % BLOCK;
      if (r < params.rows && m < M) { epilogueAfter(r * M + m, sums); }
    }
  }
}

// The TILE columns of X from k0 (clamped to the last): column k = (ky, kx, c), or the bias column
// (k = inputs).
struct Taps {
  ky: array<u32, TILE>,
  kx: array<u32, TILE>,
  ch: array<u32, TILE>,
  isBias: array<bool, TILE>,
}

fn tapsFrom(k0: u32) -> Taps {
  var taps: Taps;
  for (var i = 0u; i < TILE; i++) {
    let k = min(k0 + i, columns() - 1u);
    taps.isBias[i] = k == params.inputs;
    taps.ch[i] = k % params.channels;
    taps.kx[i] = (k / params.channels) % params.kernelW;
    taps.ky[i] = min(k / (params.channels * params.kernelW), params.kernelH - 1u);
  }
  return taps;
}

// X[r, k] at the taps' columns for the row at position p.
fn tapValues(p: Position, taps: Taps) -> array<f32, TILE> {
  var v: array<f32, TILE>;
  for (var i = 0u; i < TILE; i++) { v[i] = select(patchValue(p, taps.ky[i], taps.kx[i], taps.ch[i]), params.biasValue, taps.isBias[i]); }
  return v;
}

// partials[s, k, m] = Σ over rows r of slice s (rowsPerSlice rows each; slice = workgroup y) of
// X[r, k]·B[r, m]. Invocations split the (block of TILE columns, block of BLOCK outputs) pairs.
@compute @workgroup_size(WORKGROUP)
fn patch_gradient(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let M = params.outputs;
  let outputBlocks = (M + BLOCK - 1u) / BLOCK;
  let columnBlocks = (columns() + TILE - 1u) / TILE;
  let slice = gid.y;
  let first = slice * params.rowsPerSlice;
  let last = min(first + params.rowsPerSlice, params.rows);
  for (var t = gid.x; t < columnBlocks * outputBlocks; t += groups.x * WORKGROUP) {
    let k0 = (t / outputBlocks) * TILE;
    let m0 = (t % outputBlocks) * BLOCK;
    let cols = blockColumns(m0);
    let taps = tapsFrom(k0);
    var acc: array<array<f32, BLOCK>, TILE>;
    for (var r = first; r < last; r++) {
      let v = tapValues(position(r), taps);
      for (var j = 0u; j < BLOCK; j++) {
        let bj = operand[r * M + cols[j]];
        for (var i = 0u; i < TILE; i++) { acc[i][j] = fma(v[i], bj, acc[i][j]); }
      }
    }
    gradientStores(acc, k0, m0, slice);
  }
}

// The stores of one invocation's TILE×BLOCK block of partials (columns from k0, outputs from m0).
fn gradientStores(acc: array<array<f32, BLOCK>, TILE>, k0: u32, m0: u32, slice: u32) {
  let M = params.outputs;
  if (STORES_IN_LOOP) {
    var values = acc; // 3 s less to compile on llvmpipe
    for (var e = 0u; e < TILE * BLOCK; e++) {
      let k = k0 + e / BLOCK;
      let m = m0 + e % BLOCK;
      if (k < columns() && m < M) { out[(slice * columns() + k) * M + m] = values[e / BLOCK][e % BLOCK]; }
    }
  } else {
    for (var i = 0u; i < TILE; i++) {
      let k = k0 + i;
      if (k >= columns()) { break; }
      for (var j = 0u; j < BLOCK; j++) {
        if (m0 + j >= M) { break; }
        out[(slice * columns() + k) * M + m0 + j] = acc[i][j];
      }
    }
  }
}

struct ReduceParams {
  count: u32,   // values per slice
  slices: u32,
  alpha: f32,
  beta: f32,
}

@group(0) @binding(10) var<uniform> reduce: ReduceParams;
@group(0) @binding(11) var<storage, read> partials: array<f32>;
@group(0) @binding(12) var<storage, read> reduceAddend: array<f32>;
@group(0) @binding(13) var<storage, read_write> reduced: array<f32>;

@compute @workgroup_size(256)
fn reduce_slices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  for (var i = gid.x; i < reduce.count; i += groups.x * 256u) {
    var sum = 0.0;
    for (var s = 0u; s < reduce.slices; s++) { sum += partials[s * reduce.count + i]; }
    var value = reduce.alpha * sum;
    if (reduce.beta != 0.0) { value += reduce.beta * reduceAddend[i]; }
    reduced[i] = value;
  }
}

// chunk[i, k] = X[firstRow + i, k] for i < chunkRows (bias column included), written to `out`.
@compute @workgroup_size(WORKGROUP)
fn patch_rows(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let width = columns();
  for (var i = gid.x; i < params.chunkRows * width; i += groups.x * WORKGROUP) {
    let row = i / width;
    let k = i % width;
    var value = 0.0;
    if (k == params.inputs) {
      value = params.biasValue;
    } else {
      let c = k % params.channels;
      let kx = (k / params.channels) % params.kernelW;
      let ky = k / (params.channels * params.kernelW);
      value = patchValue(position(params.firstRow + row), ky, kx, c);
    }
    out[i] = value;
  }
}
