// The fused epilogue of the products that write the ADMM state (net-trim.md §3). It is prepended
// to matmul.wgsl and patches.wgsl (src/gpu/kernels/epilogue.ts), so a product does its
// elementwise follow-up on its own block of outputs instead of a separate pass over M×P arrays.
// It declares `out`, which those kernels write through epilogueStore.
//
// `epilogue.kind` is a uniform, so one compiled pipeline serves every kind. A kernel calls
// epilogueStore for each output of its register block (on software adapters from a loop that is
// not unrolled: llvmpipe took 15–40 s to compile 128 inlined copies), so it is kept to what must
// happen before the value overwrites `out`; epilogueAfter then revisits the block for the sums.
//   0 plain:       out = value.
//   1 response:    out = T = X·W3 (samples-major P×M). CHANNEL_DISTANCE gets ‖(2T − B − Y)_Ω‖²,
//                  the distance the next iteration's projection needs. On checked iterations
//                  `out` holds this iteration's W1 until overwritten (the projection parked it
//                  there), and R1 ‖W1 − T‖², W1 ‖W1‖², T ‖T‖², U1 ‖U1‖² = ‖B − T‖² are added.
//   2 squares:     nothing is stored; S1 gets ‖value‖² (the product X·ΔW3 = ΔT).
//   3 feasibility: out = the answer's response X·W2 (into T, restored after); ACTIVE_SQ
//                  ‖(XW2 − Y)_Ω‖² and OFF_SUPPORT_EXCESS_SQ Σ (XW2 − V)₊² on Ωᶜ get its
//                  violations (the stop holds their sum to the ε-ball).
// Sums leave one partial per channel and slot in `epiloguePartials` (channel c at
// c·partialStride + partialOffset + slot), added up later by reductions.wgsl's sumPartials.
// An invocation's EpilogueSums are indexed by the response channels (CHANNEL_DISTANCE …
// CHANNEL_U1 are 0..5; channels.ts); feasibility reuses the first two (ACTIVE, OFF_SUPPORT).

// SIDED_BOUND and the CHANNEL_* constants are prepended (src/gpu/kernels/sides.ts, channels.ts).
struct EpilogueParams {
  kind: u32,
  linear: u32,        // entry classes (sides.ts): 0 relu (Ω where Y > 0), 1 linear (all Ω), 2 sided (marked in V)
  checked: u32,       // 1: the last iteration of a block (residual sums wanted)
  partialOffset: u32,
  partialStride: u32,
  count: u32,         // woodbury_response: P·M
  hasBound: u32,      // 1: V is bound (cascade, or sided); 0: V = 0
}

/** Whether an entry is in Ω, given its Y and V. */
fn onSupport(y: f32, v: f32) -> bool {
  if (epilogue.linear == 2u) { return v >= SIDED_BOUND; }
  return epilogue.linear == 1u || y > 0.0;
}

@group(0) @binding(4) var<storage, read_write> out: array<f32>;
@group(0) @binding(40) var<uniform> epilogue: EpilogueParams;
@group(0) @binding(41) var<storage, read> epilogueRhs: array<f32>;       // B (response)
@group(0) @binding(42) var<storage, read> epilogueTarget: array<f32>;    // Y, 0 off Ω
@group(0) @binding(43) var<storage, read> epilogueBound: array<f32>;     // V (feasibility)
@group(0) @binding(44) var<storage, read_write> epiloguePartials: array<f32>;

alias EpilogueSums = array<f32, 6>; // CHANNEL_DISTANCE … CHANNEL_U1
// Where the feasibility kind keeps its two sums in EpilogueSums.
const ACTIVE = 0u;
const OFF_SUPPORT = 1u;

// Per output as it is stored: only what needs the value of `out` before it is overwritten.
fn epilogueStore(index: u32, value: f32, sums: ptr<function, EpilogueSums>) {
  switch epilogue.kind {
    case 1u: {
      if (epilogue.checked == 1u) {
        let w1 = out[index]; // W1, parked in T by the projection of a checked iteration
        (*sums)[CHANNEL_R1] += (w1 - value) * (w1 - value);
        (*sums)[CHANNEL_W1] += w1 * w1;
      }
      out[index] = value;
    }
    case 2u: {
      (*sums)[CHANNEL_S1] += value * value;
    }
    default: {
      out[index] = value;
    }
  }
}

// Once per output, in a loop that is not unrolled, after the block's values are in `out`.
fn epilogueAfter(index: u32, sums: ptr<function, EpilogueSums>) {
  let value = out[index];
  let y = epilogueTarget[index];
  var v = 0.0;
  if (epilogue.hasBound == 1u) { v = epilogueBound[index]; }
  let inOmega = onSupport(y, v);
  if (epilogue.kind == 1u) {
    let b = epilogueRhs[index];
    let d = 2.0 * value - b - y; // Z − Y with Z = T − U1 = 2T − B
    if (inOmega) { (*sums)[CHANNEL_DISTANCE] += d * d; }
    (*sums)[CHANNEL_T] += value * value;
    (*sums)[CHANNEL_U1] += (b - value) * (b - value);
  } else {
    if (inOmega) {
      (*sums)[ACTIVE] += (value - y) * (value - y);
    } else {
      // Sided entries above their bound (V marked) must not fall below Y; the others not rise above V.
      let above = epilogue.linear == 2u && v <= -SIDED_BOUND;
      let excess = max(select(value - v, y - value, above), 0.0);
      (*sums)[OFF_SUPPORT] += excess * excess;
    }
  }
}

// The response kind's epilogueAfter for four consecutive outputs (index a multiple of 4), for
// kernels whose invocations own contiguous runs of them (patch_product, woodbury_response). B
// and Y are read four at a time through read-only vec4 views of the same buffers (bindings 46,
// 47; only the entry points that call this have them); `out` is read_write, so it cannot be
// aliased by a vec4 view and is read one entry at a time. On a device with fewer storage buffers
// per stage than patch_product then binds, the section between the markers is replaced by four
// epilogueAfter calls (src/gpu/kernels/epilogue.ts, SCALAR_RESPONSE4).
// vec4 views: begin
@group(0) @binding(46) var<storage, read> epilogueRhs4: array<vec4<f32>>;
@group(0) @binding(47) var<storage, read> epilogueTarget4: array<vec4<f32>>;
@group(0) @binding(48) var<storage, read> epilogueBound4: array<vec4<f32>>;   // V (sided only)

fn epilogueAfterResponse4(index: u32, sums: ptr<function, EpilogueSums>) {
  let value = vec4<f32>(out[index], out[index + 1u], out[index + 2u], out[index + 3u]);
  let y = epilogueTarget4[index / 4u];
  let b = epilogueRhs4[index / 4u];
  var omega = (y > vec4<f32>(0.0)) | vec4<bool>(epilogue.linear == 1u);
  if (epilogue.linear == 2u) { omega = epilogueBound4[index / 4u] >= vec4<f32>(SIDED_BOUND); }
  let d = select(vec4<f32>(0.0), 2.0 * value - b - y, omega);
  (*sums)[CHANNEL_DISTANCE] += dot(d, d);
  let u = b - value;
  (*sums)[CHANNEL_T] += dot(value, value);
  (*sums)[CHANNEL_U1] += dot(u, u);
}
// vec4 views: end

/** Whether a kernel must run epilogueAfter over its block. */
fn epilogueRevisits() -> bool {
  return epilogue.kind == 1u || epilogue.kind == 3u;
}

fn writePartial(channel: u32, slot: u32, value: f32) {
  epiloguePartials[channel * epilogue.partialStride + epilogue.partialOffset + slot] = value;
}

// Leaves an invocation's sums in its own slot (kernels without workgroup barriers, whose
// invocations are SIMD lanes of one CPU thread on llvmpipe: a barrier would cost a switch).
fn epilogueFinish(sums: EpilogueSums, slot: u32) {
  switch epilogue.kind {
    case 1u: {
      writePartial(CHANNEL_DISTANCE, slot, sums[CHANNEL_DISTANCE]);
      if (epilogue.checked == 1u) {
        writePartial(CHANNEL_R1, slot, sums[CHANNEL_R1]);
        writePartial(CHANNEL_W1, slot, sums[CHANNEL_W1]);
        writePartial(CHANNEL_T, slot, sums[CHANNEL_T]);
        writePartial(CHANNEL_U1, slot, sums[CHANNEL_U1]);
      }
    }
    case 2u: { writePartial(CHANNEL_S1, slot, sums[CHANNEL_S1]); }
    case 3u: {
      writePartial(CHANNEL_ACTIVE_SQ, slot, sums[ACTIVE]);
      writePartial(CHANNEL_OFF_SUPPORT_EXCESS_SQ, slot, sums[OFF_SUPPORT]);
    }
    default: {}
  }
}

// The same after a tree sum over the workgroup (`lanes` invocations, a power of two ≤ 256): one
// slot per workgroup. Every invocation must call it, in uniform control flow.
var<workgroup> epilogueLanes: array<array<f32, 256>, 6>;

fn epilogueFinishWorkgroup(sums: EpilogueSums, lane: u32, lanes: u32, group: u32) {
  if (epilogue.kind == 0u) { return; }
  for (var c = 0u; c < 6u; c++) { epilogueLanes[c][lane] = sums[c]; }
  for (var width = lanes / 2u; width > 0u; width /= 2u) {
    workgroupBarrier();
    if (lane < width) {
      for (var c = 0u; c < 6u; c++) { epilogueLanes[c][lane] += epilogueLanes[c][lane + width]; }
    }
  }
  if (lane == 0u) {
    var total: EpilogueSums;
    for (var c = 0u; c < 6u; c++) { total[c] = epilogueLanes[c][0]; }
    epilogueFinish(total, group);
  }
}

// vec4 views: begin (the Woodbury pass reads B through them)
// ---- Woodbury solve: T = B + E, elementwise, with the response epilogue ----
// Four entries per invocation and access (the P×M buffers are zero-padded to 16 bytes, and the
// padding's T = 0 + 0 adds nothing to the sums). One partial-sum slot per invocation, as the
// register kernels: a workgroup tree sum would cost llvmpipe eight coroutine switches per
// workgroup, more than the pass itself; woodburyResponse launches few workgroups to keep the
// slots few.

@group(0) @binding(45) var<storage, read> correction: array<vec4<f32>>; // E

@compute @workgroup_size(256)
fn woodbury_response(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
  var sums: EpilogueSums;
  for (var q = gid.x; q < (epilogue.count + 3u) / 4u; q += groups.x * 256u) {
    let t = epilogueRhs4[q] + correction[q];
    for (var k = 0u; k < 4u; k++) { epilogueStore(4u * q + k, t[k], &sums); }
    epilogueAfterResponse4(4u * q, &sums);
  }
  epilogueFinish(sums, gid.x);
}
// vec4 views: end
