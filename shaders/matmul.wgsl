// out (m×n) = alpha · op(A) · op(B) + beta · addend, all row-major f32.
// op(A) is m×k (A stored k×m when TRANSPOSE_A), op(B) is k×n (B stored n×k when TRANSPOSE_B).
// Sizes come in the uniform, so one pipeline per (entry point, transpose pair, epilogue) serves
// every shape. shaders/epilogue.wgsl is prepended: it declares `out` and what each store fuses.
//
// Its entry points (and those of shaders/matmul_wide.wgsl and matmul_subgroups.wgsl, loaded after
// it) compute the same thing; src/gpu/kernels/matmul.ts picks one per adapter and shape. A product
// whose output alone launches too few workgroups to fill a GPU is split over k (split-K):
// workgroup z sums k in [z·kSlice, (z+1)·kSlice) into slice z of `out` (m·n floats each, plain
// stores), and matmul_slices adds the slices up with alpha, beta and the addend.
//
// `matmul` (GPUs): a 16×16 workgroup computes a 64×64 tile of `out`, 4×4 outputs per thread at a
// stride of 16 (so neighbouring threads write neighbouring addresses); K advances 16 at a time
// through workgroup memory. Edges are zero-padded on load and masked on store.
//
// `matmul_registers` (CPU rasterizers such as llvmpipe): no workgroup memory or barriers. There a
// workgroup's invocations are SIMD lanes of one CPU thread, barriers are coroutine switches, and
// every storage load inside a loop is emitted as one bounds-checked scalar load per lane — even
// when the address is the same in all lanes. Load count is what costs, so each invocation keeps a
// 16×8 block of accumulators (128 FMAs per 24 loads per k step) and reads operands directly.
override TRANSPOSE_A: bool = false;
override TRANSPOSE_B: bool = false;

struct Params {
  m: u32,
  n: u32,
  k: u32,
  alpha: f32,
  beta: f32,
  kSlice: u32, // k per slice of a split product (a multiple of 16); k when not split
  // matmul_registers reads the transposes here rather than from the override constants: llvmpipe
  // compiles each pipeline at its first dispatch, so one pipeline for every transpose pair saves
  // two compiles on a fresh machine.
  transposeA: u32,
  transposeB: u32,
}

/** The k range of workgroup z, and where its slice of `out` starts. */
fn kRange(z: u32) -> vec2<u32> {
  return vec2<u32>(z * params.kSlice, min(params.k, (z + 1u) * params.kSlice));
}

@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> addend: array<f32>;

const TILE = 64u;
const TILE_K = 16u;
const THREADS = 256u;

var<workgroup> tileA: array<array<f32, TILE>, TILE_K>; // [kk][row]
var<workgroup> tileB: array<array<f32, TILE>, TILE_K>; // [kk][col]

fn opA(row: u32, col: u32) -> f32 {
  if (row >= params.m || col >= params.k) { return 0.0; }
  if (TRANSPOSE_A) { return a[col * params.m + row]; }
  return a[row * params.k + col];
}

fn opB(row: u32, col: u32) -> f32 {
  if (row >= params.k || col >= params.n) { return 0.0; }
  if (TRANSPOSE_B) { return b[col * params.k + row]; }
  return b[row * params.n + col];
}

@compute @workgroup_size(16, 16)
fn matmul(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * TILE;
  let colBase = wid.x * TILE;
  let thread = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  let ks = kRange(wid.z);
  let sliceBase = wid.z * params.m * params.n;

  for (var k0 = ks.x; k0 < ks.y; k0 += TILE_K) {
    // Each thread loads 4 of the 64×16 values of each tile; the index order follows the
    // stored layout so that neighbouring threads read neighbouring addresses.
    for (var i = 0u; i < 4u; i++) {
      let idx = thread + i * THREADS;
      if (TRANSPOSE_A) {
        let kk = idx / TILE; let r = idx % TILE;
        tileA[kk][r] = opA(rowBase + r, k0 + kk);
      } else {
        let r = idx / TILE_K; let kk = idx % TILE_K;
        tileA[kk][r] = opA(rowBase + r, k0 + kk);
      }
      if (TRANSPOSE_B) {
        let c = idx / TILE_K; let kk = idx % TILE_K;
        tileB[kk][c] = opB(k0 + kk, colBase + c);
      } else {
        let kk = idx / TILE; let c = idx % TILE;
        tileB[kk][c] = opB(k0 + kk, colBase + c);
      }
    }
    workgroupBarrier();
    for (var kk = 0u; kk < TILE_K; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) {
        av[i] = tileA[kk][lid.y + i * 16u];
        bv[i] = tileB[kk][lid.x + i * 16u];
      }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
          acc[i][j] = fma(av[i], bv[j], acc[i][j]);
        }
      }
    }
    workgroupBarrier();
  }

  var sums: EpilogueSums;
  for (var i = 0u; i < 4u; i++) {
    let row = rowBase + lid.y + i * 16u;
    if (row >= params.m) { continue; }
    for (var j = 0u; j < 4u; j++) {
      let col = colBase + lid.x + j * 16u;
      if (col >= params.n) { continue; }
      let index = row * params.n + col;
      var value = params.alpha * acc[i][j];
      if (params.beta != 0.0) { value += params.beta * addend[index]; }
      epilogueStore(sliceBase + index, value, &sums);
    }
  }
  if (epilogueRevisits()) {
    for (var e = 0u; e < 16u; e++) {
      let row = rowBase + lid.y + (e / 4u) * 16u;
      let col = colBase + lid.x + (e % 4u) * 16u;
      if (row < params.m && col < params.n) { epilogueAfter(row * params.n + col, &sums); }
    }
  }
  epilogueFinishWorkgroup(sums, thread, THREADS, wid.y * groups.x + wid.x);
}

// ---------------------------------------------------------------------------------------------
// matmul_registers: a workgroup of 8 invocations computes a 16×64 tile of `out`; invocation x
// owns rows rowBase..rowBase+15 and columns colBase + x + 8j (j < 8), so the 8 lanes of each
// B load are neighbouring addresses. Out-of-range rows/columns are clamped on load (reading
// valid data that is then discarded) and masked on store, keeping the k loop branch-free.

const REG_ROWS = 16u;
const REG_COLS = 8u;
const REG_LANES = 8u;

// op(A)[row][p] = a[row·aRow + p·aK], op(B)[p][col] = b[p·bK + col·bCol]: the stored layouts,
// from the uniform's transposes (matmul_registers, matmul_subgroups).
struct Strides { aRow: u32, aK: u32, bK: u32, bCol: u32 }

fn registerStrides() -> Strides {
  let ta = params.transposeA != 0u;
  let tb = params.transposeB != 0u;
  return Strides(select(params.k, 1u, ta), select(1u, params.m, ta), select(params.n, 1u, tb), select(1u, params.k, tb));
}

// The offsets in `b` of a lane's REG_COLS columns colBase + j·lanes (clamped to the last).
fn laneColumns(colBase: u32, lanes: u32, strides: Strides) -> array<u32, REG_COLS> {
  var cols: array<u32, REG_COLS>;
  for (var j = 0u; j < REG_COLS; j++) { cols[j] = min(colBase + j * lanes, params.n - 1u) * strides.bCol; }
  return cols;
}

@compute @workgroup_size(8)
fn matmul_registers(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * REG_ROWS;
  let colBase = wid.x * (REG_LANES * REG_COLS) + lid.x;
  let strides = registerStrides();
  let aK = strides.aK;
  let bK = strides.bK;
  let cols = laneColumns(colBase, REG_LANES, strides);
  var rows: array<u32, REG_ROWS>;
  for (var i = 0u; i < REG_ROWS; i++) { rows[i] = min(rowBase + i, params.m - 1u) * strides.aRow; }

  var acc: array<array<f32, REG_COLS>, REG_ROWS>;
  let ks = kRange(wid.z);
  let sliceBase = wid.z * params.m * params.n;
  for (var p = ks.x; p < ks.y; p++) {
    let pa = p * aK;
    let pb = p * bK;
    var bv: array<f32, REG_COLS>;
    for (var j = 0u; j < REG_COLS; j++) { bv[j] = b[pb + cols[j]]; }
    for (var i = 0u; i < REG_ROWS; i++) {
      let av = a[rows[i] + pa];
      for (var j = 0u; j < REG_COLS; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
    }
  }

  registersStores(acc, rowBase, colBase, REG_LANES, sliceBase, (wid.y * groups.x + wid.x) * REG_LANES + lid.x);
}

// The stores of a 16×8 register block, columns `lanes` apart (matmul_registers, matmul_subgroups). They index the block
// at run time, in a loop that is not unrolled: unrolled, 128 copies of epilogueStore took llvmpipe
// 15–40 s to compile on a fresh machine (0.5 s now), and ran no faster.
fn registersStores(values: array<array<f32, REG_COLS>, REG_ROWS>, rowBase: u32, colBase: u32, lanes: u32, sliceBase: u32, slot: u32) {
  var block = values;
  var sums: EpilogueSums;
  for (var e = 0u; e < REG_ROWS * REG_COLS; e++) {
    let row = rowBase + e / REG_COLS;
    let col = colBase + (e % REG_COLS) * lanes;
    if (row < params.m && col < params.n) {
      let index = row * params.n + col;
      var value = params.alpha * block[e / REG_COLS][e % REG_COLS];
      if (params.beta != 0.0) { value += params.beta * addend[index]; }
      epilogueStore(sliceBase + index, value, &sums);
    }
  }
  if (epilogueRevisits()) {
    for (var e = 0u; e < REG_ROWS * REG_COLS; e++) {
      let row = rowBase + e / REG_COLS;
      let col = colBase + (e % REG_COLS) * lanes;
      if (row < params.m && col < params.n) { epilogueAfter(row * params.n + col, &sums); }
    }
  }
  epilogueFinish(sums, slot);
}

// ---------------------------------------------------------------------------------------------
// matmul_slices: out = alpha·Σ_z slice z + beta·addend, the slices (`a`, m·n floats each) left by
// a split product; grid-stride over the m·n outputs.

@compute @workgroup_size(256)
fn matmul_slices(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let count = params.m * params.n;
  let slices = (params.k + params.kSlice - 1u) / params.kSlice;
  for (var i = gid.x; i < count; i += groups.x * 256u) {
    var sum = 0.0;
    for (var z = 0u; z < slices; z++) { sum += a[z * count + i]; }
    var value = params.alpha * sum;
    if (params.beta != 0.0) { value += params.beta * addend[i]; }
    out[i] = value;
  }
}
