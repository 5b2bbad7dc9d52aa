// The GPU layer's contracts: the TS/WGSL interface (uniform structs and bindings read from the
// WGSL, the scalar channels written once in TS), dispatch sizes against the device's limit, one
// submit path, uploads written once, and the module structure (no import cycle through the GPU
// layer, no dead linalg64 helpers).
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GpuError } from '../src/errors.js';
import type { GpuRuntime } from '../src/gpu/device.js';
import { CHANNEL_PRELUDE, CHANNELS, SCALAR_CHANNELS, wgslChannelName, type Channel } from '../src/gpu/kernels/channels.js';
import { MATMUL_VARIANTS, matmul, matmulMaxRows, type MatmulVariant } from '../src/gpu/kernels/matmul.js';
import { PIPELINE_DEPTHS, REGISTER_BLOCK_COLUMNS, STAGED_BYTES_PER_K } from '../src/gpu/kernels/matmulVariants.js';
import { add } from '../src/gpu/kernels/proximal.js';
import { withEpilogue } from '../src/gpu/kernels/epilogue.js';
import { PRODUCT_STORAGE_BUFFERS } from '../src/gpu/kernels/patches.js';
import { SIDED_PRELUDE } from '../src/gpu/kernels/sides.js';
import { SUBGROUP_KERNEL_WIDTHS } from '../src/gpu/kernels/subgroups.js';
import { parseShaderInterface, Shader } from '../src/gpu/shaderInterface.js';
import { Workspace } from '../src/gpu/workspace.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import type { Network } from '../src/network/types.js';
import { designOf } from '../src/solver/design.js';
import { readSamples, sampleStorage, uploadDesign } from '../src/solver/gpu/gpuDesign.js';
import { gpuForTests, withLimits } from './helpers/gpu.js';
import { gaussianMatrix } from './helpers/random.js';

const root = new URL('..', import.meta.url).pathname;
const read = (file: string) => fs.readFileSync(path.join(root, file), 'utf8');
const wgsl = (name: string) => read(`shaders/${name}.wgsl`);
const PRELUDE = SIDED_PRELUDE + CHANNEL_PRELUDE;

/** Each module as the wrappers compile it (preludes, the epilogue prepended to the products). */
const MODULES: Record<string, string> = {
  matmul: PRELUDE + wgsl('epilogue') + '\n' + wgsl('matmul'),
  matmul_wide: PRELUDE + wgsl('epilogue') + '\n' + wgsl('matmul') + '\n' + wgsl('matmul_wide'),
  matmul_subgroups: 'enable subgroups;\n' + PRELUDE + wgsl('epilogue') + '\n' + wgsl('matmul') + '\n' + wgsl('matmul_subgroups'),
  patches: PRELUDE + wgsl('epilogue') + '\n' + wgsl('patches'),
  patches_subgroups: 'enable subgroups;\n' + PRELUDE + wgsl('epilogue') + '\n' + wgsl('patches') + '\n' + wgsl('patches_subgroups'),
  woodbury: PRELUDE + wgsl('epilogue'),
  proximal: PRELUDE + wgsl('proximal'),
  reductions: PRELUDE + wgsl('reductions'),
  forward: wgsl('forward'),
};

describe('the TS/WGSL interface, read from the WGSL', () => {
  for (const [name, code] of Object.entries(MODULES))
    it(`${name}: every uniform is a struct of 4-byte scalars, and binding numbers are unique`, () => {
      const { structs, bindings } = parseShaderInterface(code);
      const uniforms = [...bindings.values()].filter((b) => b.space === 'uniform');
      expect(uniforms.length).toBeGreaterThan(0);
      for (const u of uniforms) {
        const fields = structs.get(u.type);
        expect(fields, `struct ${u.type}`).toBeDefined();
        for (const f of fields!) expect(['u32', 'i32', 'f32'], `${u.type}.${f.name}`).toContain(f.type);
      }
      const numbers = [...bindings.values()].map((b) => `${b.group}:${b.binding}`);
      expect(new Set(numbers).size).toBe(numbers.length);
      // The parse sees every declaration in the text (none hidden from the regular expressions).
      expect(bindings.size).toBe((code.replace(/\/\/[^\n]*/g, '').match(/@binding\(/g) ?? []).length);
    });

  it('the matmul kernels cover the output tiles MATMUL_VARIANTS says; the subgroup kernels are one subgroup of SUBGROUP_WIDTH, for each width TS allows', () => {
    // Each module's constants (overrides at their defaults) and workgroup sizes (patches.wgsl's TILE is not matmul.wgsl's).
    const read = (module: string) => {
      const code = MODULES[module].replace(/\/\/[^\n]*/g, '');
      const declared = [...code.matchAll(/\bconst\s+(\w+)\s*=\s*(\d+)u;/g), ...code.matchAll(/\boverride\s+(\w+)\s*:\s*u32\s*=\s*(\d+)u;/g)];
      const constants = new Map(declared.map(([, name, value]) => [name, Number(value)]));
      const value = (name: string) => constants.get(name) ?? Number.NaN;
      const sizes = [...code.matchAll(/@workgroup_size\(([^)]*)\)\s*fn\s+(\w+)/g)].map(([, size, fn]) => [fn, size.trim()] as const);
      const lanes = (fn: string) => (sizes.find(([name]) => name === fn)?.[1] ?? '').split(',').reduce((p, v) => p * (constants.get(v.trim()) ?? Number(v.trim())), 1);
      return { c: value, lanes, size: new Map(sizes) };
    };
    const { c, lanes, size } = read('matmul_subgroups');
    const wide = read('matmul_wide');
    const patches = read('patches_subgroups');
    // The tile each entry point's WGSL covers: 'tiled' TILE², 'wide' and 'pipelined' WIDE², the
    // register kernels REG_ROWS × (lanes·REG_COLS), 'subgroups' at 8 lanes.
    const tiles: Record<MatmulVariant, [number, number]> = {
      tiled: [c('TILE'), c('TILE')],
      wide: [wide.c('WIDE'), wide.c('WIDE')],
      pipelined: [wide.c('WIDE'), wide.c('WIDE')],
      registers: [c('REG_ROWS'), c('REG_LANES') * c('REG_COLS')],
      subgroups: [c('REG_ROWS'), 8 * c('REG_COLS')],
    };
    for (const [variant, { entryPoint, tileRows, tileCols }] of Object.entries(MATMUL_VARIANTS) as Array<[MatmulVariant, (typeof MATMUL_VARIANTS)[MatmulVariant]]>) {
      expect([tileRows, tileCols], variant).toEqual(tiles[variant]);
      expect(lanes(entryPoint) || wide.lanes(entryPoint), entryPoint).toBeGreaterThan(0);
    }
    // 'pipelined': its default k step first in PIPELINE_DEPTHS, each depth's quads per invocation within PIPE_MAX_QUADS.
    expect(wide.c('PIPE_K')).toBe(PIPELINE_DEPTHS[0]);
    for (const depth of PIPELINE_DEPTHS) expect((depth * wide.c('WIDE_QUADS')) / wide.lanes('matmul_pipelined')).toBeLessThanOrEqual(wide.c('PIPE_MAX_QUADS'));
    expect(REGISTER_BLOCK_COLUMNS).toBe(c('REG_COLS'));
    expect(lanes('matmul_registers')).toBe(c('REG_LANES'));
    expect(size.get('matmul_subgroups')).toBe('SUBGROUP_WIDTH');
    for (const entryPoint of ['patch_product_subgroups', 'patch_gradient_subgroups']) expect(patches.size.get(entryPoint), entryPoint).toBe('SUBGROUP_WIDTH');
    // Per-lane shares sized for the narrowest width, and whole for every width.
    const narrowest = Math.min(...SUBGROUP_KERNEL_WIDTHS);
    expect(c('MAX_ROW_GROUPS')).toBe(c('REG_ROWS') / narrowest);
    expect(patches.c('MAX_SHARE_GROUPS')).toBe(patches.c('BLOCK') / narrowest);
    for (const width of SUBGROUP_KERNEL_WIDTHS) expect([c('REG_ROWS') % width, patches.c('BLOCK') % width], `width ${width}`).toEqual([0, 0]);
  });

  it('patch_product binds PRODUCT_STORAGE_BUFFERS storage buffers with the epilogue\'s vec4 views, and 8 (WebGPU\'s default limit) without', () => {
    // The module's storage bindings less those of its other entry points (reduce_slices; the Woodbury pass).
    const others = new Set(['partials', 'reduceAddend', 'reduced', 'correction']);
    const storage = (code: string) => [...parseShaderInterface(code).bindings].filter(([name, b]) => b.space.startsWith('storage') && !others.has(name)).length;
    expect(storage(MODULES.patches)).toBe(PRODUCT_STORAGE_BUFFERS);
    expect(storage(withEpilogue('patches (no vec4 views)', wgsl('patches'), '', false).code)).toBe(8);
  });

  it('packs fields in the WGSL order, whatever the order TS names them in', () => {
    const shader = new Shader('test', 'struct P {\n  b: f32, // a comment, with a comma\n  a: u32,\n  c: i32,\n}\n@group(0) @binding(7) var<uniform> p: P;\n@group(0) @binding(3) var<storage, read_write> out: array<vec4<f32>>;');
    const view = new DataView(shader.uniforms('P', { a: 7, c: -2, b: 1.5 }));
    expect(view.byteLength).toBe(16);
    expect([view.getFloat32(0, true), view.getUint32(4, true), view.getInt32(8, true)]).toEqual([1.5, 7, -2]);
    const reordered = new Shader('test', 'struct P { a: u32, b: f32, c: i32 }');
    expect(new DataView(reordered.uniforms('P', { a: 7, b: 1.5, c: -2 })).getUint32(0, true)).toBe(7);
    expect(() => shader.uniforms('P', { a: 7, b: 1.5 })).toThrow(/P\.c not given/);
    expect(() => shader.uniforms('P', { a: 7, b: 1.5, c: 0, d: 1 })).toThrow(/no field d/);
    expect(() => shader.uniforms('Q', {})).toThrow(/no struct Q/);
    expect(shader.resources({ out: { buffer: null as unknown as GPUBuffer }, p: { buffer: null as unknown as GPUBuffer } })).toHaveProperty('7');
    expect(Object.keys(shader.resources({ out: { buffer: null as unknown as GPUBuffer } }))).toEqual(['3']);
    expect(() => shader.resources({ output: { buffer: null as unknown as GPUBuffer } })).toThrow(/no binding named output/);
  });
});

describe('the scalar channels', () => {
  it('are 0 … SCALAR_CHANNELS − 1, once each, with the response channels first (the epilogue sums them in one array)', () => {
    expect(Object.values(CHANNELS).sort((a, b) => a - b)).toEqual(Array.from({ length: SCALAR_CHANNELS }, (_, c) => c));
    const responseChannels = (['distance', 'r1', 's1', 'w1', 't', 'u1'] as const).map((c) => CHANNELS[c]);
    expect(responseChannels).toEqual([0, 1, 2, 3, 4, 5]);
    expect(wgsl('epilogue')).toMatch(/alias EpilogueSums = array<f32, 6>/);
    expect([CHANNELS.s2, CHANNELS.w2, CHANNELS.w3, CHANNELS.u2].map((c) => c - CHANNELS.r2)).toEqual([1, 2, 3, 4]); // consecutive (weightResidualPartials)
    expect(CHANNELS.offSupportExcessSq).toBe(CHANNELS.activeSq + 1); // summed together (sumPartials, 2 channels)
  });

  it('reach the WGSL by name: the prelude declares each, and no shader indexes a channel by a number', () => {
    for (const [name, c] of Object.entries(CHANNELS)) expect(CHANNEL_PRELUDE).toContain(`const ${wgslChannelName(name as Channel)}: u32 = ${c}u;`);
    const declared = new Set(Object.keys(CHANNELS).map((n) => wgslChannelName(n as Channel)));
    for (const file of ['epilogue', 'reductions', 'proximal', 'patches', 'matmul']) {
      const code = wgsl(file).replace(/\/\/[^\n]*/g, '');
      for (const [used] of code.matchAll(/\bCHANNEL_[A-Z0-9_]+\b/g)) expect(declared, `${file}: ${used}`).toContain(used);
      expect(code, file).not.toMatch(/writePartial\(\s*\d/);
      expect(code, file).not.toMatch(/scalars\[\s*\d/);
    }
  });
});

describe('module structure', () => {
  const sources = (dir: string): string[] =>
    fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(`${dir}/${e.name}`) : e.name.endsWith('.ts') ? [`${dir}/${e.name}`] : []));
  const files = sources('src');
  const imports = new Map(
    files.map((f) => [
      f,
      [...read(f).matchAll(/(?:import|export)\s[^'";]*?from\s+'(\.[^']+)'/g)].map((m) => path.posix.join(path.posix.dirname(f), m[1]).replace(/\.js$/, '.ts')).filter((t) => files.includes(t)),
    ]),
  );

  it('has no import cycle through the GPU layer (types included)', () => {
    const gpuLayer = (f: string) => /^src\/(gpu\/|solver\/gpu\/|network\/forwardGpu\.ts)/.test(f);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const stack: string[] = [];
    const visit = (f: string) => {
      state.set(f, 'open');
      stack.push(f);
      for (const d of imports.get(f)!) {
        if (state.get(d) === 'open') {
          const cycle = [...stack.slice(stack.indexOf(d)), d];
          if (cycle.some(gpuLayer)) cycles.push(cycle.join(' → '));
        } else if (!state.has(d)) visit(d);
      }
      stack.pop();
      state.set(f, 'done');
    };
    for (const f of files) if (!state.has(f)) visit(f);
    expect(cycles).toEqual([]);
  });

  it('linalg64 exports only what src uses', () => {
    const exported = [...read('src/solver/linalg64.ts').matchAll(/export function (\w+)/g)].map((m) => m[1]);
    const others = files.filter((f) => f !== 'src/solver/linalg64.ts').map(read).join('\n');
    expect(exported.filter((name) => !new RegExp(`\\b${name}\\b`).test(others))).toEqual([]);
  });
});

const gpu = await gpuForTests();
afterAll(() => gpu?.destroy());

/** The same device claiming at most `groups` workgroups per dimension (the register kernel fixed, as on lavapipe). */
function withWorkgroupLimit(real: GpuRuntime, groups: number): GpuRuntime {
  return withLimits(real, { maxComputeWorkgroupsPerDimension: groups }, { matmulVariant: 'registers' });
}

describe.skipIf(!gpu)('dispatch sizes against maxComputeWorkgroupsPerDimension', () => {
  it('a product past the limit fails naming its kernel and size; the row cap follows the kernel used (16 rows per workgroup for registers)', () => {
    const small = withWorkgroupLimit(gpu!, 8);
    expect(matmulMaxRows(small)).toBe(16 * 8);
    expect(matmulMaxRows(small, 'tiled')).toBe(64 * 8);
    expect(matmulMaxRows(withWorkgroupLimit(gpu!, 8), 'wide')).toBe(128 * 8);
    expect(matmulMaxRows(withWorkgroupLimit(gpu!, 8), 'pipelined')).toBe(128 * 8);
    const ws = new Workspace(small);
    try {
      const [a, b, out] = [ws.storage(129 * 4, 'A'), ws.storage(4 * 3, 'B'), ws.storage(129 * 3, 'out')];
      expect(() => matmul(ws, { label: 'too tall', a, b, out, m: 129, n: 3, k: 4 })).toThrow(GpuError);
      expect(() => matmul(ws, { label: 'too tall', a, b, out, m: 129, n: 3, k: 4 })).toThrow(/too tall: a dispatch of 1×9×1 workgroups exceeds this device's 8 per dimension/);
      expect(matmul(ws, { label: 'fits', a, b, out, m: 128, n: 3, k: 4 }).workgroups).toEqual([1, 8, 1]);
    } finally {
      ws.release();
    }
  });

  it('a dense X is split into chunks one product covers, with the same product', async () => {
    const [rows, columns, M] = [300, 9, 5];
    const design = designOf({ rows, cols: columns, data: gaussianMatrix(rows, columns, 1) }, true);
    const W = gaussianMatrix(design.columns, M, 2);
    const ws = new Workspace(withWorkgroupLimit(gpu!, 8));
    try {
      const X = uploadDesign(ws, design, { outputs: M });
      expect(X.chunks.map((c) => c.count)).toEqual([128, 128, 44]);
      const out = sampleStorage(ws, X, M, 'X W');
      ws.submit(X.product({ label: 'X W', weights: ws.upload(W, 'W'), out, outputs: M }));
      const got = await readSamples(ws, X, out);
      const want = design.multiply(W, M);
      expect(Math.max(...want.map((v, i) => Math.abs(got[i] - v)))).toBeLessThan(1e-4);
    } finally {
      ws.release();
    }
  });

  it('the forward pass chunks its samples by the same cap, with the same result', async () => {
    const network: Network = {
      inputShape: [6],
      layers: [
        { kind: 'dense', name: 'hidden', inputs: 6, units: 40, kernel: Float32Array.from(gaussianMatrix(6, 40, 3)), bias: Float32Array.from(gaussianMatrix(1, 40, 4)), activation: 'relu' },
        { kind: 'dense', name: 'out', inputs: 40, units: 3, kernel: Float32Array.from(gaussianMatrix(40, 3, 5)), bias: null, activation: 'softmax' },
      ],
    };
    const samples = 300;
    const x = Float32Array.from(gaussianMatrix(samples, 6, 6));
    const want = await forwardGpu(gpu!, network, x, samples);
    const got = await forwardGpu(withWorkgroupLimit(gpu!, 8), network, x, samples);
    expect(Math.max(...want.output.map((v, i) => Math.abs(got.output[i] - v)))).toBeLessThan(1e-6);
  });
});

describe.skipIf(!gpu)('Workspace', () => {
  it('submits dispatches and copies in order in one command buffer', async () => {
    const ws = new Workspace(gpu!);
    try {
      const [a, b] = [ws.upload([1, 2, 3], 'a'), ws.upload([10, 20, 30], 'b')];
      const [c, d, e] = [ws.storage(3, 'c'), ws.storage(3, 'd'), ws.storage(3, 'e')];
      // e = c + d sees c written and d copied from it before: the pass ends at the copy and resumes after.
      ws.submit([add(ws, { count: 3, left: a, right: b, sum: c }), { copy: c, to: d, bytes: 12 }, add(ws, { count: 3, left: c, right: d, sum: e })]);
      expect(Array.from(await ws.read(e, 3))).toEqual([22, 44, 66]);
    } finally {
      ws.release();
    }
  });

  it('writes an upload once, its padding zeroed even in a pooled buffer that held other data', async () => {
    const first = new Workspace(gpu!);
    const garbage = first.upload(new Float32Array(64).fill(7), 'garbage');
    first.release();
    const ws = new Workspace(gpu!);
    try {
      const buffer = ws.upload([1, 2, 3], 'three values');
      expect(buffer).toBe(garbage); // the pool handed the same buffer back
      expect(Array.from(await ws.read(buffer, 64))).toEqual([1, 2, 3, ...new Array(61).fill(0)]);
    } finally {
      ws.release();
    }
  });
});

describe('workgroup memory', () => {
  // Bytes of each `var<workgroup>` declaration, array sizes evaluated from the module's constants
  // (override constants at their defaults).
  const declarations = (module: string): Map<string, number> => {
    const code = MODULES[module].replace(/\/\/[^\n]*/g, '');
    const constants = new Map([...code.matchAll(/\b(?:const|override)\s+(\w+)\s*(?::\s*u32)?\s*=\s*(\d+)u;/g)].map(([, name, value]) => [name, Number(value)]));
    const count = (expression: string) => {
      const numeric = expression.replace(/\b[A-Z_][A-Z0-9_]*\b/g, (name) => String(constants.get(name) ?? Number.NaN)).replace(/(\d)u\b/g, '$1');
      expect(numeric, expression).toMatch(/^[\d\s*+]+$/);
      return numeric.split('+').reduce((sum, term) => sum + term.split('*').reduce((p, v) => p * Number(v), 1), 0);
    };
    const bytes = (type: string): number => {
      const t = type.trim();
      if (t === 'f32' || t === 'u32') return 4;
      if (t === 'vec4<f32>') return 16;
      const array = /^array<(.*),([^,<>]+)>$/.exec(t);
      expect(array, t).not.toBeNull();
      return bytes(array![1]) * count(array![2]);
    };
    return new Map([...code.matchAll(/var<workgroup>\s+(\w+)\s*:\s*([^;]+);/g)].map(([, name, type]) => [name, bytes(type)]));
  };

  it("MATMUL_VARIANTS' workgroupBytes are the bytes of each kernel's own arrays and the epilogue's; 'pipelined' at each k step", () => {
    const plain = declarations('matmul');
    const wide = declarations('matmul_wide');
    const epilogue = plain.get('epilogueLanes')!;
    expect(epilogue).toBe(6 * 256 * 4);
    expect(MATMUL_VARIANTS.tiled.workgroupBytes).toBe(plain.get('tileA')! + plain.get('tileB')! + epilogue);
    expect(MATMUL_VARIANTS.wide.workgroupBytes).toBe(wide.get('wideA')! + wide.get('wideB')! + epilogue);
    expect(MATMUL_VARIANTS.pipelined.workgroupBytes).toBe(wide.get('stagedA')! + wide.get('stagedB')! + epilogue);
    expect(STAGED_BYTES_PER_K * PIPELINE_DEPTHS[0]).toBe(wide.get('stagedA')! + wide.get('stagedB')!);
    for (const variant of ['registers', 'subgroups'] as const) expect(MATMUL_VARIANTS[variant].workgroupBytes).toBe(0);
    expect([...declarations('matmul_subgroups').keys()]).toEqual([...plain.keys()]); // none of its own
  });
});
