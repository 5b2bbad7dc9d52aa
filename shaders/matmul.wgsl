// out (m×n) = alpha · op(A) · op(B) + beta · addend, all row-major f32.
// op(A) is m×k (A stored k×m when TRANSPOSE_A), op(B) is k×n (B stored n×k when TRANSPOSE_B).
// Sizes come in the uniform, so one pipeline per (entry point, transpose pair, epilogue) serves
// every shape. shaders/epilogue.wgsl is prepended: it declares `out` and what each store fuses.
//
// Two entry points compute the same thing; src/gpu/kernels/matmul.ts picks one per adapter.
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

  for (var k0 = 0u; k0 < params.k; k0 += TILE_K) {
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
      epilogueStore(index, value, &sums);
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

@compute @workgroup_size(8)
fn matmul_registers(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * REG_ROWS;
  let colBase = wid.x * (REG_LANES * REG_COLS) + lid.x;
  var rows: array<u32, REG_ROWS>;
  var cols: array<u32, REG_COLS>;
  for (var i = 0u; i < REG_ROWS; i++) { rows[i] = min(rowBase + i, params.m - 1u); }
  for (var j = 0u; j < REG_COLS; j++) { cols[j] = min(colBase + j * REG_LANES, params.n - 1u); }

  var acc: array<array<f32, REG_COLS>, REG_ROWS>;
  for (var p = 0u; p < params.k; p++) {
    var bv: array<f32, REG_COLS>;
    for (var j = 0u; j < REG_COLS; j++) {
      if (TRANSPOSE_B) { bv[j] = b[cols[j] * params.k + p]; } else { bv[j] = b[p * params.n + cols[j]]; }
    }
    for (var i = 0u; i < REG_ROWS; i++) {
      var av: f32;
      if (TRANSPOSE_A) { av = a[p * params.m + rows[i]]; } else { av = a[rows[i] * params.k + p]; }
      for (var j = 0u; j < REG_COLS; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); }
    }
  }

  var sums: EpilogueSums;
  for (var i = 0u; i < REG_ROWS; i++) {
    let row = rowBase + i;
    if (row >= params.m) { break; }
    for (var j = 0u; j < REG_COLS; j++) {
      let col = colBase + j * REG_LANES;
      if (col >= params.n) { break; }
      let index = row * params.n + col;
      var value = params.alpha * acc[i][j];
      if (params.beta != 0.0) { value += params.beta * addend[index]; }
      epilogueStore(index, value, &sums);
    }
  }
  if (epilogueRevisits()) {
    // A loop of 128 that is not unrolled: the epilogue's loads stay out of the register block.
    for (var e = 0u; e < REG_ROWS * REG_COLS; e++) {
      let row = rowBase + e / REG_COLS;
      let col = colBase + (e % REG_COLS) * REG_LANES;
      if (row < params.m && col < params.n) { epilogueAfter(row * params.n + col, &sums); }
    }
  }
  epilogueFinish(sums, (wid.y * groups.x + wid.x) * REG_LANES + lid.x);
}
