// patch_product and patch_gradient (shaders/patches.wgsl, which this module follows) with the
// operand that all lanes read alike loaded once per subgroup and shared by subgroupShuffle, as
// matmul_subgroups does. Loaded as `enable subgroups;` + the epilogue + patches.wgsl + this, only
// where subgroups are exactly SUBGROUP_WIDTH wide (src/gpu/kernels/subgroups.ts): each workgroup
// is one subgroup.
//
// In patch_product every lane of a workgroup reads the same BLOCK weights per k step (16 of its 24
// loads, each one bounds-checked scalar load per lane on llvmpipe); here lane s loads weights s
// and s + 8 and the shuffles hand out the rest (10 loads). In patch_gradient the lanes of a
// workgroup take neighbouring column blocks of one output block, so the BLOCK values of B per row
// are shared the same way.

const SUBGROUP_WIDTH = 8u;
const_assert BLOCK == 2u * SUBGROUP_WIDTH;

@compute @workgroup_size(SUBGROUP_WIDTH)
fn patch_product_subgroups(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let M = params.outputs;
  let m0 = wid.y * BLOCK;
  let mine0 = min(m0 + sg, M - 1u); // loaded for the subgroup: by subgroup id, which the shuffles address
  let mine1 = min(m0 + SUBGROUP_WIDTH + sg, M - 1u);
  let rowBlocks = (params.rows + TILE - 1u) / TILE;
  var sums: EpilogueSums;
  // The loop's bounds are the workgroup's, so that every lane reaches the shuffles (a lane past
  // the rows computes on clamped rows and stores nothing).
  for (var first = wid.x * SUBGROUP_WIDTH; first < rowBlocks; first += groups.x * SUBGROUP_WIDTH) {
    let block = first + lane;
    let positions = blockPositions(block);
    var acc: array<array<f32, BLOCK>, TILE>;
    for (var ky = 0u; ky < params.kernelH; ky++) {
      for (var kx = 0u; kx < params.kernelW; kx++) {
        let bases = windowBases(positions, ky, kx);
        let kernelRow = (ky * params.kernelW + kx) * params.channels;
        for (var c = 0u; c < params.channels; c++) {
          let v = windowValues(bases, c);
          let w = (kernelRow + c) * M;
          let own0 = operand[w + mine0];
          let own1 = operand[w + mine1];
          for (var j = 0u; j < SUBGROUP_WIDTH; j++) {
            let w0 = subgroupShuffle(own0, j);
            let w1 = subgroupShuffle(own1, j);
            for (var i = 0u; i < TILE; i++) {
              acc[i][j] = fma(v[i], w0, acc[i][j]);
              acc[i][SUBGROUP_WIDTH + j] = fma(v[i], w1, acc[i][SUBGROUP_WIDTH + j]);
            }
          }
        }
      }
    }
    if (params.hasBias == 1u) {
      let cols = blockColumns(m0);
      let w = params.inputs * M;
      for (var j = 0u; j < BLOCK; j++) {
        let b = params.biasValue * operand[w + cols[j]];
        for (var i = 0u; i < TILE; i++) { acc[i][j] += b; }
      }
    }
    productStores(acc, block, m0, &sums);
  }
  epilogueFinish(sums, (wid.y * groups.x + wid.x) * SUBGROUP_WIDTH + lane);
}

// Workgroup g (grid-stride) takes output block g % outputBlocks and column blocks
// 8·(g / outputBlocks) + lane; a lane past the last column block computes on clamped columns and
// stores nothing.
@compute @workgroup_size(SUBGROUP_WIDTH)
fn patch_gradient_subgroups(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let M = params.outputs;
  let outputBlocks = (M + BLOCK - 1u) / BLOCK;
  let columnGroups = ((columns() + TILE - 1u) / TILE + SUBGROUP_WIDTH - 1u) / SUBGROUP_WIDTH;
  let slice = wid.y;
  let first = slice * params.rowsPerSlice;
  let last = min(first + params.rowsPerSlice, params.rows);
  for (var g = wid.x; g < columnGroups * outputBlocks; g += groups.x) {
    let k0 = ((g / outputBlocks) * SUBGROUP_WIDTH + lane) * TILE;
    let m0 = (g % outputBlocks) * BLOCK;
    let mine0 = min(m0 + sg, M - 1u); // loaded for the subgroup: by subgroup id, which the shuffles address
    let mine1 = min(m0 + SUBGROUP_WIDTH + sg, M - 1u);
    let taps = tapsFrom(k0);
    var acc: array<array<f32, BLOCK>, TILE>;
    for (var r = first; r < last; r++) {
      let v = tapValues(position(r), taps);
      let own0 = operand[r * M + mine0];
      let own1 = operand[r * M + mine1];
      for (var j = 0u; j < SUBGROUP_WIDTH; j++) {
        let b0 = subgroupShuffle(own0, j);
        let b1 = subgroupShuffle(own1, j);
        for (var i = 0u; i < TILE; i++) {
          acc[i][j] = fma(v[i], b0, acc[i][j]);
          acc[i][SUBGROUP_WIDTH + j] = fma(v[i], b1, acc[i][SUBGROUP_WIDTH + j]);
        }
      }
    }
    gradientStores(acc, k0, m0, slice);
  }
}
