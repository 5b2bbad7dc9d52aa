#!/usr/bin/env node
// Times the kernels of shaders/matmul.wgsl (entry points `matmul` = tiled, `matmul_registers`)
// on the ADMM product shapes, after checking each against float64 on small odd shapes with every
// transpose pair, alpha and an addend. Uses the `webgpu` package directly (no build needed):
//   XDG_RUNTIME_DIR=/tmp/xdg node bench/matmulVariants.mjs [--reps 7] [--work 5e8]
// GFLOP/s = 2mnk / time per dispatch; each timed run is one submit of several dispatches
// (about --work flops), and runs of all variants are interleaved so drifting machine load hits
// them alike. Prints the median and [best] of --reps runs after one warm-up submit.
import { create, globals } from 'webgpu';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values: opts } = parseArgs({ options: { reps: { type: 'string', default: '7' }, work: { type: 'string', default: '5e8' } } });
const REPS = Number(opts.reps);
const WORK = Number(opts.work);

Object.assign(globalThis, globals);
const gpu = create([]); // must stay referenced for the process lifetime (Dawn aborts if collected)
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
const device = await adapter.requestDevice({ requiredLimits: { maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize } });
device.addEventListener('uncapturederror', (e) => { console.error(`WebGPU error: ${e.error.message}`); process.exit(1); });
console.log(`adapter: ${[adapter.info.vendor, adapter.info.architecture, adapter.info.description].filter(Boolean).join(' ')}`);

const code = readFileSync(new URL('../shaders/matmul.wgsl', import.meta.url), 'utf8');
const module = device.createShaderModule({ code });
// Must match the tile sizes in src/gpu/kernels/matmul.ts.
const VARIANTS = {
  tiled: { entryPoint: 'matmul', tileRows: 64, tileCols: 64 },
  registers: { entryPoint: 'matmul_registers', tileRows: 16, tileCols: 64 },
};
const SHAPES = [
  { label: 'T = X·W3 (2000×300×785)', m: 2000, n: 300, k: 785 },
  { label: 'Xᵀ·B (785×300×2000, TA)', m: 785, n: 300, k: 2000, ta: true },
  { label: 'A⁻¹·rhs (785×300×785)', m: 785, n: 300, k: 785 },
  { label: 'T = X·W3 (10000×300×785)', m: 10000, n: 300, k: 785 },
];

const STORAGE = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
function upload(data) {
  const buffer = device.createBuffer({ size: Math.max(16, data.byteLength), usage: STORAGE });
  device.queue.writeBuffer(buffer, 0, data);
  return buffer;
}
function random(length, seed) {
  let x = seed >>> 0;
  return Float32Array.from({ length }, () => ((x = (Math.imul(x, 1664525) + 1013904223) >>> 0), x / 2 ** 32 - 0.5));
}
const pipelines = new Map();
function pipeline(variant, ta, tb) {
  const key = `${variant}:${ta}:${tb}`;
  if (!pipelines.has(key))
    pipelines.set(key, device.createComputePipeline({
      layout: 'auto',
      compute: { module, entryPoint: VARIANTS[variant].entryPoint, constants: { TRANSPOSE_A: ta ? 1 : 0, TRANSPOSE_B: tb ? 1 : 0 } },
    }));
  return pipelines.get(key);
}
function prepare(variant, { m, n, k, ta = false, tb = false, alpha = 1, beta = 0 }, a, b, addend) {
  const p = pipeline(variant, ta, tb);
  const params = new DataView(new ArrayBuffer(32));
  params.setUint32(0, m, true); params.setUint32(4, n, true); params.setUint32(8, k, true);
  params.setFloat32(12, alpha, true); params.setFloat32(16, beta, true);
  const uniforms = device.createBuffer({ size: 32, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST });
  device.queue.writeBuffer(uniforms, 0, params.buffer);
  const out = device.createBuffer({ size: Math.max(16, m * n * 4), usage: STORAGE });
  const bindGroup = device.createBindGroup({
    layout: p.getBindGroupLayout(0),
    entries: [uniforms, a, b, addend, out].map((buffer, binding) => ({ binding, resource: { buffer } })),
  });
  const { tileRows, tileCols } = VARIANTS[variant];
  return { p, bindGroup, out, groups: [Math.ceil(n / tileCols), Math.ceil(m / tileRows)] };
}
function submit(d, times) {
  const encoder = device.createCommandEncoder();
  const pass = encoder.beginComputePass();
  for (let i = 0; i < times; i++) { pass.setPipeline(d.p); pass.setBindGroup(0, d.bindGroup); pass.dispatchWorkgroups(...d.groups); }
  pass.end();
  device.queue.submit([encoder.finish()]);
}
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

/** Largest error against float64 over odd shapes × transpose pairs; throws past the tolerance. */
async function check(variant) {
  let worst = 0;
  for (const [m, n, k] of [[1, 1, 1], [3, 5, 7], [65, 1, 130], [130, 67, 33], [70, 129, 200], [37, 300, 95]])
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]]) {
      const a = random(m * k, m + k), b = random(k * n, 7 * n + k), addend = random(m * n, 11);
      const d = prepare(variant, { m, n, k, ta, tb, alpha: -0.5, beta: 2 }, upload(a), upload(b), upload(addend));
      submit(d, 1);
      const got = await read(d.out, m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
          const err = Math.abs(got[i * n + j] - (-0.5 * s + 2 * addend[i * n + j]));
          if (!(err < 1e-4 * (Math.sqrt(k) + 1))) throw new Error(`${variant}: wrong at ${m}×${n}×${k} (ta=${ta}, tb=${tb}) [${i},${j}]`);
          worst = Math.max(worst, err);
        }
    }
  return worst;
}

for (const variant of Object.keys(VARIANTS)) console.log(`${variant}: max error vs float64 ${(await check(variant)).toExponential(1)}`);

const jobs = [];
for (const shape of SHAPES) {
  const a = upload(random(shape.m * shape.k, 1)), b = upload(random(shape.k * shape.n, 2)), addend = upload(new Float32Array(4));
  for (const variant of Object.keys(VARIANTS)) {
    const flops = 2 * shape.m * shape.n * shape.k;
    jobs.push({ shape, variant, flops, d: prepare(variant, shape, a, b, addend), per: Math.max(1, Math.round(WORK / flops)), times: [] });
  }
}
for (const job of jobs) { submit(job.d, 1); await device.queue.onSubmittedWorkDone(); } // warm-up (compiles)
for (let r = 0; r < REPS; r++)
  for (const job of jobs) {
    const t0 = performance.now();
    submit(job.d, job.per);
    await device.queue.onSubmittedWorkDone();
    job.times.push((performance.now() - t0) / 1000 / job.per);
  }

const median = (v) => [...v].sort((x, y) => x - y)[(v.length - 1) >> 1];
const gflops = (job, t) => (job.flops / t / 1e9).toFixed(2);
console.log(`\nGFLOP/s, median [best] of ${REPS}:`);
console.log(['shape'.padEnd(28), ...Object.keys(VARIANTS).map((v) => v.padStart(16))].join(''));
for (const shape of SHAPES)
  console.log([shape.label.padEnd(28), ...jobs.filter((j) => j.shape === shape).map((j) => `${gflops(j, median(j.times))} [${gflops(j, Math.min(...j.times))}]`.padStart(16))].join(''));
