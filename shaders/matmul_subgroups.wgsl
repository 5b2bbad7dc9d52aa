// matmul_subgroups: matmul_registers (shaders/matmul.wgsl, which this module follows: its Params,
// bindings, opA/opB and kRange) with op(A) read once per subgroup instead of once per lane. Loaded
// as `enable subgroups;` + the epilogue + matmul.wgsl + this, and only on an adapter whose
// subgroups are exactly 4 or 8 wide (src/gpu/kernels/subgroups.ts): a workgroup is one subgroup.
//
// Why: in matmul_registers every lane loads the same 16 values of op(A) per k step, and on
// llvmpipe each of those is one bounds-checked scalar load per lane (24 loads for 128 FMAs). Here
// lane s of 8 loads rows s and s + 8 of the tile, and subgroupShuffle hands row i to every lane
// (10 loads and 16 shuffles, which llvmpipe compiles to lane extracts, for the same 128 FMAs; 12
// loads on SwiftShader's 4-wide subgroups).

// The device's subgroup width, 4 or 8 (src/gpu/kernels/subgroups.ts): the workgroup's lanes,
// REG_LANES' part in matmul_registers. Each lane loads REG_ROWS / SUBGROUP_WIDTH rows of op(A).
override SUBGROUP_WIDTH: u32 = 8u;
const MAX_ROW_GROUPS = 4u; // REG_ROWS / 4, the narrowest width

@compute @workgroup_size(SUBGROUP_WIDTH)
fn matmul_subgroups(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * REG_ROWS;
  let colBase = wid.x * (SUBGROUP_WIDTH * REG_COLS) + lid.x;
  let strides = registerStrides();
  let aK = strides.aK;
  let bK = strides.bK;
  let cols = laneColumns(colBase, SUBGROUP_WIDTH, strides);
  // The rows of the tile this lane loads for the subgroup, by its subgroup id, which the shuffles
  // address: g·SUBGROUP_WIDTH + sg (clamped: their values are discarded at the stores).
  let rowGroups = REG_ROWS / SUBGROUP_WIDTH;
  var mine: array<u32, MAX_ROW_GROUPS>;
  for (var g = 0u; g < rowGroups; g++) { mine[g] = min(rowBase + g * SUBGROUP_WIDTH + sg, params.m - 1u) * strides.aRow; }

  var acc: array<array<f32, REG_COLS>, REG_ROWS>;
  let ks = kRange(wid.z);
  let sliceBase = wid.z * params.m * params.n;
  for (var p = ks.x; p < ks.y; p++) {
    let pa = p * aK;
    let pb = p * bK;
    var bv: array<f32, REG_COLS>;
    for (var j = 0u; j < REG_COLS; j++) { bv[j] = b[pb + cols[j]]; }
    var own: array<f32, MAX_ROW_GROUPS>;
    for (var g = 0u; g < rowGroups; g++) { own[g] = a[mine[g] + pa]; }
    for (var i = 0u; i < SUBGROUP_WIDTH; i++) {
      for (var g = 0u; g < rowGroups; g++) {
        let av = subgroupShuffle(own[g], i);
        let row = g * SUBGROUP_WIDTH + i;
        for (var j = 0u; j < REG_COLS; j++) { acc[row][j] = fma(av, bv[j], acc[row][j]); }
      }
    }
  }

  registersStores(acc, rowBase, colBase, SUBGROUP_WIDTH, sliceBase, (wid.y * groups.x + wid.x) * SUBGROUP_WIDTH + lid.x);
}
