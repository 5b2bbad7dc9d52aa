// patch_product and patch_gradient (shaders/patches.wgsl, which this module follows) with the
// operand that all lanes read alike loaded once per subgroup and shared by subgroupShuffle, as
// matmul_subgroups does. Loaded as `enable subgroups;` + the epilogue + patches.wgsl + this, only
// where subgroups are 4 or 8 wide (src/gpu/kernels/subgroups.ts): each workgroup is one subgroup.
//
// In patch_product every lane of a workgroup reads the same BLOCK weights per k step (16 of its 24
// loads, each one bounds-checked scalar load per lane on llvmpipe); here lane s of 8 loads weights
// s and s + 8 and the shuffles hand out the rest (10 loads; 12 at 4 lanes). In patch_gradient the lanes of a
// workgroup take neighbouring column blocks of one output block, so the BLOCK values of B per row
// are shared the same way.

// The device's subgroup width, 4 or 8 (src/gpu/kernels/subgroups.ts): the workgroup's lanes. Each
// lane loads BLOCK / SUBGROUP_WIDTH of the shared values.
override SUBGROUP_WIDTH: u32 = 8u;
const MAX_SHARE_GROUPS = 4u; // BLOCK / 4, the narrowest width

// The outputs m0 + g·SUBGROUP_WIDTH + sg this lane loads for its subgroup (by subgroup id, which
// the shuffles address; clamped: their values are discarded at the stores).
fn sharedOutputs(m0: u32, sg: u32) -> array<u32, MAX_SHARE_GROUPS> {
  var mine: array<u32, MAX_SHARE_GROUPS>;
  for (var g = 0u; g < BLOCK / SUBGROUP_WIDTH; g++) { mine[g] = min(m0 + g * SUBGROUP_WIDTH + sg, params.outputs - 1u); }
  return mine;
}

// This lane's share of a row of `operand` (starting at `base`).
fn sharedLoads(base: u32, mine: array<u32, MAX_SHARE_GROUPS>) -> array<f32, MAX_SHARE_GROUPS> {
  var own: array<f32, MAX_SHARE_GROUPS>;
  for (var g = 0u; g < BLOCK / SUBGROUP_WIDTH; g++) { own[g] = operand[base + mine[g]]; }
  return own;
}

// acc[i][j] += v[i]·(value j of the row), value j shuffled from the lane that loaded it.
fn accumulateShared(acc: ptr<function, array<array<f32, BLOCK>, TILE>>, v: array<f32, TILE>, own: array<f32, MAX_SHARE_GROUPS>) {
  for (var j = 0u; j < SUBGROUP_WIDTH; j++) {
    for (var g = 0u; g < BLOCK / SUBGROUP_WIDTH; g++) {
      let value = subgroupShuffle(own[g], j);
      let column = g * SUBGROUP_WIDTH + j;
      for (var i = 0u; i < TILE; i++) { (*acc)[i][column] = fma(v[i], value, (*acc)[i][column]); }
    }
  }
}

@compute @workgroup_size(SUBGROUP_WIDTH)
fn patch_product_subgroups(@builtin(local_invocation_index) lane: u32, @builtin(subgroup_invocation_id) sg: u32, @builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  let M = params.outputs;
  let m0 = wid.y * BLOCK;
  let mine = sharedOutputs(m0, sg);
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
          accumulateShared(&acc, v, sharedLoads(w, mine));
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
// SUBGROUP_WIDTH·(g / outputBlocks) + lane; a lane past the last column block computes on clamped columns and
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
    let mine = sharedOutputs(m0, sg);
    let taps = tapsFrom(k0);
    var acc: array<array<f32, BLOCK>, TILE>;
    for (var r = first; r < last; r++) {
      let v = tapValues(position(r), taps);
      accumulateShared(&acc, v, sharedLoads(r * M, mine));
    }
    gradientStores(acc, k0, m0, slice);
  }
}
