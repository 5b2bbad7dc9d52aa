// The 128×128-tile kernels for large products on GPUs. Loaded after shaders/matmul.wgsl (its
// Params, bindings, opA/opB, kRange, TILE_K and THREADS; the epilogue before both).
//
// Both: a workgroup of 256 computes a 128×128 tile of `out`, 8×8 outputs per invocation (tx, ty):
// rows 4·ty + i and 64 + 4·ty + i, columns 4·tx + j and 64 + 4·tx + j (i, j < 4), so every read of
// workgroup memory is one vec4. A warp spans 8 tx × 4 ty, so its reads of each operand are 4 or 8
// neighbouring vec4 (one wavefront each). Per k step an invocation does 64 FMAs for 4 vec4 loads
// (the 64-tile kernel: 16 FMAs for 8 scalar loads). K advances 16 at a time; the next tiles'
// values are loaded into registers while this tile's products run (software pipelining), and
// every operand is read along its stored layout.
//
// matmul_wide: one stage of workgroup memory (16 KiB), two barriers per k step.
// matmul_pipelined: two stages: the invocations multiply from one while they store the next k step
// into the other, so one barrier per k step; and a k step whose tiles lie wholly inside op(A) and
// op(B) loads without bounds tests. The library times both on a GPU (tuneMatmul).

const WIDE = 128u;
const WIDE_QUADS = 32u; // WIDE / 4

var<workgroup> wideA: array<array<vec4<f32>, WIDE_QUADS>, TILE_K>; // [kk][row quad]
var<workgroup> wideB: array<array<vec4<f32>, WIDE_QUADS>, TILE_K>; // [kk][column quad]

/** (tx, ty) of invocation `thread`. */
fn wideLane(thread: u32) -> vec2<u32> {
  return vec2<u32>(thread % 8u + 8u * ((thread / 32u) % 2u), (thread / 8u) % 4u + 4u * (thread / 64u));
}

// Quad `idx` (of the 512 in a 128×16 tile at k0), four values neighbouring in memory.
fn wideLoadA(rowBase: u32, k0: u32, idx: u32) -> vec4<f32> {
  if (TRANSPOSE_A) { // stored k×m: 4 neighbouring rows at one k
    let kk = k0 + idx / WIDE_QUADS; let r = rowBase + 4u * (idx % WIDE_QUADS);
    return vec4<f32>(opA(r, kk), opA(r + 1u, kk), opA(r + 2u, kk), opA(r + 3u, kk));
  }
  let r = rowBase + idx / 4u; let kk = k0 + (idx % 4u) * 4u; // stored m×k: 4 neighbouring k of one row
  return vec4<f32>(opA(r, kk), opA(r, kk + 1u), opA(r, kk + 2u), opA(r, kk + 3u));
}

fn wideStoreA(idx: u32, v: vec4<f32>) {
  if (TRANSPOSE_A) { wideA[idx / WIDE_QUADS][idx % WIDE_QUADS] = v; return; }
  let r = idx / 4u; let kq = (idx % 4u) * 4u;
  for (var e = 0u; e < 4u; e++) { wideA[kq + e][r / 4u][r % 4u] = v[e]; }
}

fn wideLoadB(colBase: u32, k0: u32, idx: u32) -> vec4<f32> {
  if (TRANSPOSE_B) { // stored n×k: 4 neighbouring k of one column
    let c = colBase + idx / 4u; let kk = k0 + (idx % 4u) * 4u;
    return vec4<f32>(opB(kk, c), opB(kk + 1u, c), opB(kk + 2u, c), opB(kk + 3u, c));
  }
  let kk = k0 + idx / WIDE_QUADS; let c = colBase + 4u * (idx % WIDE_QUADS); // stored k×n: 4 neighbouring columns
  return vec4<f32>(opB(kk, c), opB(kk, c + 1u), opB(kk, c + 2u), opB(kk, c + 3u));
}

fn wideStoreB(idx: u32, v: vec4<f32>) {
  if (!TRANSPOSE_B) { wideB[idx / WIDE_QUADS][idx % WIDE_QUADS] = v; return; }
  let c = idx / 4u; let kq = (idx % 4u) * 4u;
  for (var e = 0u; e < 4u; e++) { wideB[kq + e][c / 4u][c % 4u] = v[e]; }
}

@compute @workgroup_size(256)
fn matmul_wide(@builtin(local_invocation_index) thread: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * WIDE;
  let colBase = wid.x * WIDE;
  let lane = wideLane(thread);
  let tx = lane.x;
  let ty = lane.y;
  var acc: array<vec4<f32>, 16>; // acc[2·r + h]: the thread's row r (of 8), column quad h (of 2)
  let ks = kRange(wid.z);

  // Each invocation carries quads `thread` and `thread + 256` of both operand tiles.
  var a0 = wideLoadA(rowBase, ks.x, thread);
  var a1 = wideLoadA(rowBase, ks.x, thread + THREADS);
  var b0 = wideLoadB(colBase, ks.x, thread);
  var b1 = wideLoadB(colBase, ks.x, thread + THREADS);
  for (var k0 = ks.x; k0 < ks.y; k0 += TILE_K) {
    wideStoreA(thread, a0);
    wideStoreA(thread + THREADS, a1);
    wideStoreB(thread, b0);
    wideStoreB(thread + THREADS, b1);
    workgroupBarrier();
    let next = k0 + TILE_K;
    if (next < ks.y) { // in flight while the products below run
      a0 = wideLoadA(rowBase, next, thread);
      a1 = wideLoadA(rowBase, next, thread + THREADS);
      b0 = wideLoadB(colBase, next, thread);
      b1 = wideLoadB(colBase, next, thread + THREADS);
    }
    for (var kk = 0u; kk < TILE_K; kk++) {
      let x0 = wideA[kk][ty];
      let x1 = wideA[kk][ty + 16u];
      let y0 = wideB[kk][tx];
      let y1 = wideB[kk][tx + 16u];
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = fma(vec4<f32>(x0[i]), y0, acc[2u * i]);
        acc[2u * i + 1u] = fma(vec4<f32>(x0[i]), y1, acc[2u * i + 1u]);
        acc[8u + 2u * i] = fma(vec4<f32>(x1[i]), y0, acc[8u + 2u * i]);
        acc[8u + 2u * i + 1u] = fma(vec4<f32>(x1[i]), y1, acc[8u + 2u * i + 1u]);
      }
    }
    workgroupBarrier();
  }

  wideStores(acc, rowBase, colBase, lane, wid.z * params.m * params.n, thread, wid.y * groups.x + wid.x);
}

// The stores of an invocation's 8×8 block (both kernels). They index the block at run time; the
// copy keeps the caller's `acc` itself in registers.
fn wideStores(values: array<vec4<f32>, 16>, rowBase: u32, colBase: u32, lane: vec2<u32>, sliceBase: u32, thread: u32, slot: u32) {
  var block = values;
  var sums: EpilogueSums;
  for (var e = 0u; e < 64u; e++) {
    let r = e / 8u; let c = e % 8u;
    let row = rowBase + (r / 4u) * 64u + 4u * lane.y + r % 4u;
    let col = colBase + (c / 4u) * 64u + 4u * lane.x + c % 4u;
    if (row < params.m && col < params.n) {
      let index = row * params.n + col;
      var value = params.alpha * block[2u * r + c / 4u][c % 4u];
      if (params.beta != 0.0) { value += params.beta * addend[index]; }
      epilogueStore(sliceBase + index, value, &sums);
    }
  }
  if (epilogueRevisits()) {
    for (var e = 0u; e < 64u; e++) {
      let r = e / 8u; let c = e % 8u;
      let row = rowBase + (r / 4u) * 64u + 4u * lane.y + r % 4u;
      let col = colBase + (c / 4u) * 64u + 4u * lane.x + c % 4u;
      if (row < params.m && col < params.n) { epilogueAfter(row * params.n + col, &sums); }
    }
  }
  epilogueFinishWorkgroup(sums, thread, THREADS, slot);
}

// ---------------------------------------------------------------------------------------------
// matmul_pipelined. Its k step, PIPE_K, is 16 where the device's workgroup memory holds two stages
// of that (32 KiB, with the epilogue's 6 KiB), else 8 (src/gpu/kernels/matmul.ts).

override PIPE_K: u32 = 16u;
const PIPE_MAX_QUADS = 2u; // quads of each operand an invocation carries per k step: PIPE_K / 8

// [stage·PIPE_K + kk][row or column quad]; an override-sized array must be the outermost.
var<workgroup> stagedA: array<array<vec4<f32>, WIDE_QUADS>, 2u * PIPE_K>;
var<workgroup> stagedB: array<array<vec4<f32>, WIDE_QUADS>, 2u * PIPE_K>;

struct Quads { a: array<vec4<f32>, PIPE_MAX_QUADS>, b: array<vec4<f32>, PIPE_MAX_QUADS> }

// Quad `idx` of op(A)'s 128×PIPE_K tile at k0 (wideLoadA's layout for this depth): four values
// neighbouring in memory, read without bounds tests when the tile lies `inside` op(A).
fn stagedQuadA(rowBase: u32, k0: u32, idx: u32, inside: bool) -> vec4<f32> {
  if (TRANSPOSE_A) { // stored k×m: 4 neighbouring rows at one k
    let kk = k0 + idx / WIDE_QUADS; let r = rowBase + 4u * (idx % WIDE_QUADS);
    if (inside) { let base = kk * params.m + r; return vec4<f32>(a[base], a[base + 1u], a[base + 2u], a[base + 3u]); }
    return vec4<f32>(opA(r, kk), opA(r + 1u, kk), opA(r + 2u, kk), opA(r + 3u, kk));
  }
  let r = rowBase + idx / (PIPE_K / 4u); let kk = k0 + (idx % (PIPE_K / 4u)) * 4u; // stored m×k: 4 neighbouring k of one row
  if (inside) { let base = r * params.k + kk; return vec4<f32>(a[base], a[base + 1u], a[base + 2u], a[base + 3u]); }
  return vec4<f32>(opA(r, kk), opA(r, kk + 1u), opA(r, kk + 2u), opA(r, kk + 3u));
}

fn stagedQuadB(colBase: u32, k0: u32, idx: u32, inside: bool) -> vec4<f32> {
  if (TRANSPOSE_B) { // stored n×k: 4 neighbouring k of one column
    let c = colBase + idx / (PIPE_K / 4u); let kk = k0 + (idx % (PIPE_K / 4u)) * 4u;
    if (inside) { let base = c * params.k + kk; return vec4<f32>(b[base], b[base + 1u], b[base + 2u], b[base + 3u]); }
    return vec4<f32>(opB(kk, c), opB(kk + 1u, c), opB(kk + 2u, c), opB(kk + 3u, c));
  }
  let kk = k0 + idx / WIDE_QUADS; let c = colBase + 4u * (idx % WIDE_QUADS); // stored k×n: 4 neighbouring columns
  if (inside) { let base = kk * params.n + c; return vec4<f32>(b[base], b[base + 1u], b[base + 2u], b[base + 3u]); }
  return vec4<f32>(opB(kk, c), opB(kk, c + 1u), opB(kk, c + 2u), opB(kk, c + 3u));
}

// An invocation's quads of one k step: `thread` and `thread + 256` (at PIPE_K = 16) of each tile.
fn stagedLoad(rowBase: u32, colBase: u32, k0: u32, thread: u32, inside: bool) -> Quads {
  var q: Quads;
  for (var i = 0u; i < PIPE_K / 8u; i++) {
    q.a[i] = stagedQuadA(rowBase, k0, thread + i * THREADS, inside);
    q.b[i] = stagedQuadB(colBase, k0, thread + i * THREADS, inside);
  }
  return q;
}

// Into stage `stage`, as wideStoreA and wideStoreB lay them out.
fn stagedStore(stage: u32, thread: u32, q: Quads) {
  let s = stage * PIPE_K;
  for (var i = 0u; i < PIPE_K / 8u; i++) {
    let idx = thread + i * THREADS;
    if (TRANSPOSE_A) { stagedA[s + idx / WIDE_QUADS][idx % WIDE_QUADS] = q.a[i]; }
    else {
      let r = idx / (PIPE_K / 4u); let kq = (idx % (PIPE_K / 4u)) * 4u;
      for (var e = 0u; e < 4u; e++) { stagedA[s + kq + e][r / 4u][r % 4u] = q.a[i][e]; }
    }
    if (!TRANSPOSE_B) { stagedB[s + idx / WIDE_QUADS][idx % WIDE_QUADS] = q.b[i]; }
    else {
      let c = idx / (PIPE_K / 4u); let kq = (idx % (PIPE_K / 4u)) * 4u;
      for (var e = 0u; e < 4u; e++) { stagedB[s + kq + e][c / 4u][c % 4u] = q.b[i][e]; }
    }
  }
}

@compute @workgroup_size(256)
fn matmul_pipelined(@builtin(local_invocation_index) thread: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * WIDE;
  let colBase = wid.x * WIDE;
  let lane = wideLane(thread);
  var acc: array<vec4<f32>, 16>;
  let ks = kRange(wid.z);
  // The tile's rows and columns inside op(A) and op(B); a k step is inside when it also ends by ks.y.
  let tileInside = rowBase + WIDE <= params.m && colBase + WIDE <= params.n;

  var quads = stagedLoad(rowBase, colBase, ks.x, thread, tileInside && ks.x + PIPE_K <= ks.y);
  stagedStore(0u, thread, quads);
  workgroupBarrier();
  var stage = 0u;
  for (var k0 = ks.x; k0 < ks.y; k0 += PIPE_K) {
    // Stage `stage` holds k0's tiles; the other was last read before the previous barrier.
    let next = k0 + PIPE_K;
    if (next < ks.y) { quads = stagedLoad(rowBase, colBase, next, thread, tileInside && next + PIPE_K <= ks.y); }
    let s = stage * PIPE_K;
    for (var kk = 0u; kk < PIPE_K; kk++) {
      let x0 = stagedA[s + kk][lane.y];
      let x1 = stagedA[s + kk][lane.y + 16u];
      let y0 = stagedB[s + kk][lane.x];
      let y1 = stagedB[s + kk][lane.x + 16u];
      for (var i = 0u; i < 4u; i++) {
        acc[2u * i] = fma(vec4<f32>(x0[i]), y0, acc[2u * i]);
        acc[2u * i + 1u] = fma(vec4<f32>(x0[i]), y1, acc[2u * i + 1u]);
        acc[8u + 2u * i] = fma(vec4<f32>(x1[i]), y0, acc[8u + 2u * i]);
        acc[8u + 2u * i + 1u] = fma(vec4<f32>(x1[i]), y1, acc[8u + 2u * i + 1u]);
      }
    }
    if (next < ks.y) { stagedStore(1u - stage, thread, quads); }
    workgroupBarrier();
    stage = 1u - stage;
  }

  wideStores(acc, rowBase, colBase, lane, wid.z * params.m * params.n, thread, wid.y * groups.x + wid.x);
}
