// 'pipelined' (shaders/matmul_wide.wgsl): its k step by the device's workgroup memory, and the
// k step GPUs get (16) checked here too, where lavapipe's 32 KiB only hold it without the epilogue.
import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuError } from '../src/errors.js';
import type { GpuRuntime } from '../src/gpu/device.js';
import { SHADER_PRELUDE } from '../src/gpu/kernels/channels.js';
import { epilogueResources } from '../src/gpu/kernels/epilogue.js';
import { gpuMatmulCandidates, matmul, pipelineDepth } from '../src/gpu/kernels/matmul.js';
import { MATMUL_VARIANTS, PIPELINE_DEPTHS } from '../src/gpu/kernels/matmulVariants.js';
import { Shader } from '../src/gpu/shaderInterface.js';
import { Workspace } from '../src/gpu/workspace.js';
import { gpuForTests, withLimits } from './helpers/gpu.js';
import { gaussianMatrix } from './helpers/random.js';
import { matmulReference as reference } from './helpers/matmulReference.js';

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

const wgsl = (name: string) => fs.readFileSync(new URL(`../shaders/${name}.wgsl`, import.meta.url), 'utf8');

/** The same device claiming `bytes` of workgroup memory. */
const withWorkgroupMemory = (real: GpuRuntime, bytes: number) => withLimits(real, { maxComputeWorkgroupStorageSize: bytes });

describe.skipIf(!gpu)("'pipelined' on devices with more and less workgroup memory", () => {
  it('takes the deepest k step that fits beside the epilogue, is no candidate where none does, and says why when asked for', () => {
    const full = MATMUL_VARIANTS.pipelined.workgroupBytes;
    const at = (bytes: number) => withWorkgroupMemory(gpu!, bytes);
    expect(pipelineDepth(at(49152))).toBe(PIPELINE_DEPTHS[0]); // the H200's Dawn
    expect(pipelineDepth(at(full))).toBe(16);
    expect(pipelineDepth(at(full - 1))).toBe(8);
    expect(pipelineDepth(at(32768))).toBe(8); // lavapipe
    expect(pipelineDepth(at(16384))).toBeNull(); // WebGPU's default
    expect(gpuMatmulCandidates(at(49152))).toEqual(['tiled', 'wide', 'pipelined']);
    expect(gpuMatmulCandidates(at(16384))).toEqual(['tiled']);
    const ws = new Workspace(at(16384));
    try {
      const [a, b, out] = [ws.storage(4, 'A'), ws.storage(4, 'B'), ws.storage(4, 'out')];
      expect(() => matmul(ws, { label: 'small', a, b, out, m: 2, n: 2, k: 2, variant: 'pipelined' })).toThrow(GpuError);
      expect(() => matmul(ws, { label: 'small', a, b, out, m: 2, n: 2, k: 2, variant: 'pipelined' })).toThrow(/'pipelined' matmul kernel needs 38912 bytes of workgroup memory \(22528 at its shallower k step\); this device has 16384/);
    } finally {
      ws.release();
    }
  });

  // At PIPE_K = 16 the stages take 32 KiB, all lavapipe has; with the epilogue's tree-sum scratch
  // moved to private memory (plain products never use it) the kernel fits and is checked here.
  const shader = new Shader('matmul_wide, epilogue scratch private', `${SHADER_PRELUDE}${wgsl('epilogue').replace('var<workgroup> epilogueLanes', 'var<private> epilogueLanes')}\n${wgsl('matmul')}\n${wgsl('matmul_wide')}`);
  for (const [m, n, k] of [[200, 140, 70], [130, 257, 300], [5, 9, 3]])
    for (const [ta, tb] of [[false, false], [true, false], [false, true], [true, true]] as const)
      it(`at PIPE_K = 16: ${m}×${k} · ${k}×${n}, transposes (${ta}, ${tb}), alpha and an addend, equals float64`, async () => {
        const ws = new Workspace(gpu!);
        try {
          const a = gaussianMatrix(m, k, 3 * m + k);
          const b = gaussianMatrix(k, n, 5 * n + k);
          const d = gaussianMatrix(m, n, 17);
          const out = ws.storage(m * n, 'out');
          const { tileRows, tileCols } = MATMUL_VARIANTS.pipelined;
          const params = ws.uniform(shader.uniforms('Params', { m, n, k, alpha: 1.5, beta: -1, kSlice: k, transposeA: 0, transposeB: 0 }), 'Params');
          const pipeline = shader.pipeline(gpu!, 'matmul_pipelined', { TRANSPOSE_A: ta ? 1 : 0, TRANSPOSE_B: tb ? 1 : 0, PIPE_K: 16 });
          const resources = shader.resources({ ...epilogueResources(ws, undefined, { out }), params, a: ws.upload(a, 'A'), b: ws.upload(b, 'B'), addend: ws.upload(d, 'addend') });
          ws.submit([ws.dispatch('pipelined, 16', pipeline, resources, [Math.ceil(n / tileCols), Math.ceil(m / tileRows), 1], { bytes: 0, flops: 0 })]);
          const got = await ws.read(out, m * n);
          const want = reference(a, b, m, n, k, ta, tb);
          for (let i = 0; i < m * n; i++) expect(Math.abs(got[i] - (1.5 * want[i] - d[i]))).toBeLessThan(1e-4 * (Math.sqrt(k) + 1) * 4);
        } finally {
          ws.release();
        }
      });
});
