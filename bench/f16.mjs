#!/usr/bin/env node
// X stored as f16, accumulated in f32 (issue 17, item 2: "where the adapter offers shader-f16, try
// it and report speed and the float64-measured accuracy side by side"). Needs an adapter with
// `shader-f16` (lavapipe has it; the H200's Dawn does not); elsewhere it says so and exits 0.
//   XDG_RUNTIME_DIR=/tmp/xdg node bench/f16.mjs [--reps 5] [--json out.json]   (after npm run build)
// 1. The product T = X·W3 (X m×k, the ADMM's largest operand) in bench-only copies of the
//    library's register kernels (shaders/matmul.wgsl's matmul_registers and, where subgroups are
//    8 wide, matmul_subgroups), with X as f32 and as f16: GFLOP/s (medians of --reps submits,
//    interleaved) and the error against float64 at 64 entries (|error| / Σ|terms|).
// 2. What storing X in f16 costs the solve, measured in float64 without a GPU: the CPU reference's
//    W after 30 iterations on X rounded to f16 against its W on X itself.
import { create, globals } from 'webgpu';
import { parseArgs } from 'node:util';
import * as lib from '../dist/node/internals.js';
import { writeAtomically } from './lib.mjs';
import { median } from './measure.mjs';
import { denseLayerData, denseProblem } from './problems.mjs';

const { values: opts } = parseArgs({ options: { reps: { type: 'string', default: '5' }, json: { type: 'string' } } });
Object.assign(globalThis, globals);
const gpu = create([]);
globalThis.dawnInstance = gpu; // kept reachable: Dawn aborts if its instance is collected under a live device
const adapter = await gpu.requestAdapter();
const description = [adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ');
if (!adapter.features.has('shader-f16')) {
  console.log(`bench/f16.mjs: ${description} does not offer shader-f16; nothing to compare`);
  process.exit(0);
}
const subgroups = adapter.features.has('subgroups') && adapter.info.subgroupMinSize === 8 && adapter.info.subgroupMaxSize === 8;
const device = await adapter.requestDevice({
  requiredFeatures: ['shader-f16', ...(subgroups ? ['subgroups'] : [])],
  requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize, maxBufferSize: adapter.limits.maxBufferSize },
});
device.addEventListener('uncapturederror', (e) => { console.error(`WebGPU error: ${e.error.message}`); process.exitCode = 1; });

/** A 16×64 tile per 8-lane workgroup, 16×8 accumulators per lane (as matmul_registers / matmul_subgroups). */
function kernel(type, shared) {
  const loads = shared
    ? `let mine0 = f32(a[row0 + p]); let mine1 = f32(a[row1 + p]);
    for (var i = 0u; i < 8u; i++) {
      let av0 = subgroupShuffle(mine0, i); let av1 = subgroupShuffle(mine1, i);
      for (var j = 0u; j < 8u; j++) { acc[i][j] = fma(av0, bv[j], acc[i][j]); acc[8u + i][j] = fma(av1, bv[j], acc[8u + i][j]); }
    }`
    : `for (var i = 0u; i < 16u; i++) { let av = f32(a[rows[i] + p]); for (var j = 0u; j < 8u; j++) { acc[i][j] = fma(av, bv[j], acc[i][j]); } }`;
  return `${type === 'f16' ? 'enable f16;' : ''}${shared ? 'enable subgroups;' : ''}
struct Params { m: u32, n: u32, k: u32, unused: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@group(0) @binding(1) var<storage, read> a: array<${type}>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(8)
fn main(@builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
  let rowBase = wid.y * 16u;
  let colBase = wid.x * 64u + lid.x;
  var rows: array<u32, 16>;
  var cols: array<u32, 8>;
  for (var i = 0u; i < 16u; i++) { rows[i] = min(rowBase + i, params.m - 1u) * params.k; }
  for (var j = 0u; j < 8u; j++) { cols[j] = min(colBase + 8u * j, params.n - 1u); }
  let row0 = rows[lid.x];
  let row1 = rows[8u + lid.x];
  var acc: array<array<f32, 8>, 16>;
  for (var p = 0u; p < params.k; p++) {
    var bv: array<f32, 8>;
    for (var j = 0u; j < 8u; j++) { bv[j] = b[p * params.n + cols[j]]; }
    ${loads}
  }
  var block = acc;
  for (var e = 0u; e < 128u; e++) {
    let row = rowBase + e / 8u;
    let col = colBase + (e % 8u) * 8u;
    if (row < params.m && col < params.n) { out[row * params.n + col] = block[e / 8u][e % 8u]; }
  }
}`;
}

/** IEEE half bits of x, rounded to nearest even. */
function halfBits(x) {
  const u = new Uint32Array(new Float32Array([x]).buffer)[0];
  const sign = (u >>> 16) & 0x8000;
  const exp = (u >>> 23) & 0xff;
  let mant = u & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 112; // rebiased: 127 → 15
  if (e >= 0x1f) return sign | 0x7c00;
  let shift = 13;
  let h = (Math.max(e, 0) << 10) | 0;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    shift = 14 - e;
    h = 0;
  }
  h += mant >>> shift;
  const rest = mant & ((1 << shift) - 1), halfway = 1 << (shift - 1);
  if (rest > halfway || (rest === halfway && (h & 1))) h++;
  return sign | h;
}
const halfValue = (h) => {
  const e = (h >>> 10) & 0x1f, m = h & 0x3ff, s = h & 0x8000 ? -1 : 1;
  return e === 0 ? s * m * 2 ** -24 : e === 0x1f ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
};
const toHalf = (x) => halfValue(halfBits(x));

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
const upload = (data) => {
  const buffer = device.createBuffer({ size: Math.ceil(Math.max(16, data.byteLength) / 4) * 4, usage: STORAGE });
  device.queue.writeBuffer(buffer, 0, data.buffer, data.byteOffset, Math.ceil(data.byteLength / 4) * 4);
  return buffer;
};
async function read(buffer, floats) {
  const staging = device.createBuffer({ size: floats * 4, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  const encoder = device.createCommandEncoder();
  encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
  device.queue.submit([encoder.finish()]);
  await staging.mapAsync(GPUMapMode.READ);
  const data = new Float32Array(staging.getMappedRange().slice(0));
  staging.destroy();
  return data;
}

const configs = [['f32', false], ['f16', false], ...(subgroups ? [['f32', true], ['f16', true]] : [])];
const kernels = [];
for (const [m, n, k] of [[2000, 300, 785], [10000, 300, 785]]) {
  const { X } = denseLayerData({ inputs: k, outputs: n, samples: m }); // post-ReLU-like, as a layer's inputs
  const a32 = Float32Array.from(X), b = Float32Array.from({ length: k * n }, (_, i) => Math.sin(i) * 0.05);
  const a16 = new Uint16Array(Math.ceil((m * k) / 2) * 2);
  for (let i = 0; i < m * k; i++) a16[i] = halfBits(a32[i]);
  const [A32, A16, B] = [upload(a32), upload(a16), upload(b)];
  const params = device.createBuffer({ size: 16, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(params, 0, new Uint32Array([m, n, k, 0]));
  const runs = configs.map(([type, shared]) => {
    const pipeline = device.createComputePipeline({ layout: 'auto', compute: { module: device.createShaderModule({ code: kernel(type, shared) }), entryPoint: 'main' } });
    const out = device.createBuffer({ size: m * n * 4, usage: STORAGE });
    const bindGroup = device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [params, type === 'f16' ? A16 : A32, B, out].map((buffer, binding) => ({ binding, resource: { buffer } })) });
    const submit = async () => {
      const t = performance.now();
      const encoder = device.createCommandEncoder();
      const pass = encoder.beginComputePass();
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, bindGroup);
      pass.dispatchWorkgroups(Math.ceil(n / 64), Math.ceil(m / 16));
      pass.end();
      device.queue.submit([encoder.finish()]);
      await device.queue.onSubmittedWorkDone();
      return (performance.now() - t) / 1000;
    };
    return { type, shared, out, submit, times: [] };
  });
  for (const run of runs) await run.submit(); // compiles
  for (let r = 0; r < Number(opts.reps); r++) for (const run of runs) run.times.push(await run.submit());
  for (const run of runs) {
    const got = await read(run.out, m * n);
    let worst = 0;
    for (let s = 0; s < 64; s++) {
      const i = (s * 7919) % m, j = (s * 104729) % n;
      let sum = 0, bound = 0;
      for (let p = 0; p < k; p++) { sum += a32[i * k + p] * b[p * n + j]; bound += Math.abs(a32[i * k + p] * b[p * n + j]); }
      worst = Math.max(worst, Math.abs(got[i * n + j] - sum) / bound);
    }
    const entry = { m, n, k, x: run.type, kernel: run.shared ? 'subgroups' : 'registers', secondsPerProduct: median(run.times), gflops: (2 * m * n * k) / median(run.times) / 1e9, relativeError: worst };
    kernels.push(entry);
    console.error(JSON.stringify(entry));
  }
}

// The solve on X rounded to f16 (Y from X itself), in float64 on the CPU, against the solve on X.
const solves = [];
for (const shape of [{ inputs: 784, outputs: 300, samples: 2000 }, { inputs: 300, outputs: 100, samples: 2000 }]) {
  const data = denseLayerData(shape);
  const { X, W, N, M, P } = data;
  const Y = new Float32Array(P * M);
  for (let p = 0; p < P; p++) for (let i = 0; i < N; i++) if (X[p * N + i] !== 0) for (let j = 0; j < M; j++) Y[p * M + j] += X[p * N + i] * W[i * M + j];
  const weightsAfter = async (x) => {
    const engine = new lib.CpuAdmmEngine(denseProblem(lib, { ...data, X: x }, Y.slice())); // denseProblem writes over Y
    await engine.iterate(30);
    return (await engine.getState()).W2;
  };
  const exact = await weightsAfter(X);
  const rounded = await weightsAfter(X.map(toHalf));
  let d = 0, w = 0;
  for (let i = 0; i < exact.length; i++) { d += (rounded[i] - exact[i]) ** 2; w += exact[i] ** 2; }
  const entry = { problem: `dense-${shape.inputs}x${shape.outputs}-P${shape.samples}`, iterations: 30, distanceOfF16X: Math.sqrt(d / w) };
  solves.push(entry);
  console.error(JSON.stringify(entry));
}

console.log(`Device: ${description}, ${new Date().toISOString().slice(0, 10)}.\n`);
console.log('| T = X·W3, m×n×k | kernel | X f32 GFLOP/s | X f16 GFLOP/s | f16 ÷ f32 | error vs float64, X f32 | X f16 |\n|---|---|---|---|---|---|---|');
for (const e of kernels.filter((x) => x.x === 'f32')) {
  const h = kernels.find((x) => x.x === 'f16' && x.m === e.m && x.kernel === e.kernel);
  console.log(`| ${e.m}×${e.n}×${e.k} | ${e.kernel} | ${e.gflops.toFixed(1)} | ${h.gflops.toFixed(1)} | ${(h.gflops / e.gflops).toFixed(2)} | ${e.relativeError.toExponential(1)} | ${h.relativeError.toExponential(1)} |`);
}
console.log('\n| problem (float64 CPU reference, 30 iterations) | ‖W(X as f16) − W(X)‖ / ‖W(X)‖ |\n|---|---|');
for (const s of solves) console.log(`| ${s.problem} | ${s.distanceOfF16X.toExponential(1)} |`);
if (opts.json) writeAtomically(opts.json, JSON.stringify({ device: description, kernels, solves }, null, 2) + '\n');
process.exit(0);
