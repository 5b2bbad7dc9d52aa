// matmul_subgroups: matmul_registers (shaders/matmul.wgsl, which this module follows: its Params,
// bindings, opA/opB and kRange) with op(A) read once per subgroup instead of once per lane. Loaded
// as `enable subgroups;` + the epilogue + matmul.wgsl + this, and only on an adapter whose
// subgroups are exactly REG_LANES wide (src/gpu/kernels/subgroups.ts), so that a workgroup is
// one subgroup.
//
// Why: in matmul_registers every lane loads the same 16 values of op(A) per k step, and on
// llvmpipe each of those is one bounds-checked scalar load per lane (24 loads for 128 FMAs). Here
// lane s loads rows s and s + 8 of the tile, and subgroupShuffle hands row i to every lane (10
// loads and 16 shuffles, which llvmpipe compiles to lane extracts, for the same 128 FMAs).

@compute @workgroup_size(8)
fn matmul_subgroups(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(subgroup_invocation_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let rowBase = wid.y * REG_ROWS;
  let colBase = wid.x * (REG_LANES * REG_COLS) + lid.x;
  let strides = registerStrides();
  let aK = strides.aK;
  let bK = strides.bK;
  let cols = laneColumns(colBase, strides);
  // The two rows of the tile this lane loads for the subgroup: by its subgroup id, which the
  // shuffles address (clamped: their values are discarded at the stores).
  let row0 = min(rowBase + sg, params.m - 1u) * strides.aRow;
  let row1 = min(rowBase + REG_LANES + sg, params.m - 1u) * strides.aRow;

  var acc: array<array<f32, REG_COLS>, REG_ROWS>;
  let ks = kRange(wid.z);
  let sliceBase = wid.z * params.m * params.n;
  for (var p = ks.x; p < ks.y; p++) {
    let pa = p * aK;
    let pb = p * bK;
    var bv: array<f32, REG_COLS>;
    for (var j = 0u; j < REG_COLS; j++) { bv[j] = b[pb + cols[j]]; }
    let mine0 = a[row0 + pa];
    let mine1 = a[row1 + pa];
    for (var i = 0u; i < REG_LANES; i++) {
      let av0 = subgroupShuffle(mine0, i);
      let av1 = subgroupShuffle(mine1, i);
      for (var j = 0u; j < REG_COLS; j++) {
        acc[i][j] = fma(av0, bv[j], acc[i][j]);
        acc[REG_LANES + i][j] = fma(av1, bv[j], acc[REG_LANES + i][j]);
      }
    }
  }

  registersStores(acc, rowBase, colBase, sliceBase, (wid.y * groups.x + wid.x) * REG_LANES + lid.x);
}
