// Wrapper of shaders/matmul.wgsl, and of matmul_wide.wgsl and matmul_subgroups.wgsl loaded after it.
import matmulSource from '../../../shaders/matmul.wgsl';
import subgroupsSource from '../../../shaders/matmul_subgroups.wgsl';
import wideSource from '../../../shaders/matmul_wide.wgsl';
import { GpuError } from '../../errors.js';
import { withErrorScopes, type GpuRuntime } from '../device.js';
import { epilogueBytesPerValue, epilogueResources, withEpilogue, type Epilogue } from './epilogue.js';
import { MATMUL_VARIANTS, PIPELINE_DEPTHS, REGISTER_BLOCK_COLUMNS, STAGED_BYTES_PER_K, type MatmulVariant } from './matmulVariants.js';
import { prefersSubgroupKernels, subgroupKernelWidth } from './subgroups.js';
import { Workspace, type Dispatch } from '../workspace.js';

export { MATMUL_VARIANTS, type MatmulVariant };

export interface MatmulSpec {
  label: string;
  /** op(A) is m×k: A is stored m×k, or k×m with transposeA. (A buffer, or a range of one.) */
  a: GPUBuffer | GPUBufferBinding;
  /** op(B) is k×n: B is stored k×n, or n×k with transposeB. */
  b: GPUBuffer | GPUBufferBinding;
  /** Written: m×n. Must not overlap a, b or addend. Absent when the epilogue only sums. */
  out?: GPUBuffer | GPUBufferBinding;
  /** Read when beta ≠ 0: m×n. */
  addend?: GPUBuffer | GPUBufferBinding;
  m: number;
  n: number;
  k: number;
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  beta?: number;
  /** Which kernel of shaders/matmul.wgsl to run; default: the tuned one (tuneMatmul), else matmulVariantFor(the adapter). */
  variant?: MatmulVariant;
  /** What the stores fuse (shaders/epilogue.wgsl); plain when absent. */
  epilogue?: Epilogue;
  /** The first partial-sum slot this dispatch's epilogue writes (after a previous chunk's). */
  slotOffset?: number;
  /** k slices for matmulDispatches (benchmarks, tests); default: planned from the shape and device. */
  slices?: number;
}


const VARIANTS = MATMUL_VARIANTS;
const shader = withEpilogue('matmul', matmulSource);
const wideShader = withEpilogue('matmul_wide', `${matmulSource}\n${wideSource}`);
const subgroupShader = withEpilogue('matmul_subgroups', `${matmulSource}\n${subgroupsSource}`, 'enable subgroups;\n');

/** The 128×128-tile kernels (shaders/matmul_wide.wgsl): they give way to 'tiled' on small outputs. */
const LARGE_TILE: readonly MatmulVariant[] = ['wide', 'pipelined'];
const shaderOf = (v: MatmulVariant) => (v === 'subgroups' ? subgroupShader : LARGE_TILE.includes(v) ? wideShader : shader);

/** 'pipelined''s workgroup memory at k step `depth` (its MATMUL_VARIANTS entry: at the first of PIPELINE_DEPTHS). */
const pipelinedBytes = (depth: number) => VARIANTS.pipelined.workgroupBytes - STAGED_BYTES_PER_K * (PIPELINE_DEPTHS[0] - depth);

/** 'pipelined''s k step on this device: the deepest of PIPELINE_DEPTHS whose stages fit its workgroup memory; null if none. */
export function pipelineDepth(runtime: GpuRuntime): number | null {
  return PIPELINE_DEPTHS.find((depth) => pipelinedBytes(depth) <= runtime.limits.maxComputeWorkgroupStorageSize) ?? null;
}

const fits = (runtime: GpuRuntime, v: MatmulVariant) =>
  v === 'pipelined' ? pipelineDepth(runtime) !== null : VARIANTS[v].workgroupBytes <= runtime.limits.maxComputeWorkgroupStorageSize;

/** The kernels tuneMatmul chooses between on a GPU: those whose workgroup memory the device has. */
export const gpuMatmulCandidates = (runtime: GpuRuntime): MatmulVariant[] => (['tiled', 'wide', 'pipelined'] as const).filter((v) => fits(runtime, v));

/**
 * The kernel for an untuned device: on CPU rasterizers 'subgroups' where it runs (1.5–1.9× the
 * 'registers' kernel on llvmpipe, bench/README.md), else 'registers'; 'tiled' on real GPUs.
 */
export function matmulVariantFor(runtime: GpuRuntime): MatmulVariant {
  if (!runtime.software) return 'tiled';
  return prefersSubgroupKernels(runtime) ? 'subgroups' : 'registers';
}

// How products are laid out on a GPU, from the k-split sweep on an H200 (bench/README.md, "On a
// real GPU"): splitting a product with a small output over k pays up to about 12 workgroups per
// multiprocessor (Xᵀ·B of LeNet's FC1 on 'wide': 1 slice 20 TFLOP/s, 4 slices 25, 16 slices 30);
// 'wide' needs enough output tiles of its own (a 785×300 output, 21 tiles: 13 TFLOP/s split 16
// ways, against 18 for 'tiled' split as much).
/** Workgroups a split product aims for (about 12 per multiprocessor of a 132-SM H200). */
const SPLIT_TARGET_GROUPS = 1536;
/** k per slice at least this: each slice's m·n stores stay ≤ 1/256 byte per FLOP. */
const MIN_SLICE_K = 512;
/** 'wide' and 'pipelined' give way to 'tiled' below this many workgroups (split or not) or output tiles of their own. */
const WIDE_MIN_GROUPS = 384;
const WIDE_MIN_TILES = 64;

interface MatmulPlan {
  variant: MatmulVariant;
  /** k per slice (a multiple of 16), and the slices: 1 unless split. */
  kSlice: number;
  slices: number;
}

/**
 * A variant's output tile on this device: 'subgroups' covers REGISTER_BLOCK_COLUMNS columns per
 * lane of the device's subgroup (64 at 8 lanes, 32 at 4); a GpuError where it cannot run.
 */
export function matmulTile(runtime: GpuRuntime, v: MatmulVariant): { entryPoint: string; tileRows: number; tileCols: number } {
  const { entryPoint, tileRows, tileCols, workgroupBytes } = VARIANTS[v];
  if (!fits(runtime, v)) {
    const least = v === 'pipelined' ? ` (${pipelinedBytes(PIPELINE_DEPTHS[PIPELINE_DEPTHS.length - 1])} at its shallower k step)` : '';
    throw new GpuError(`the '${v}' matmul kernel needs ${workgroupBytes} bytes of workgroup memory${least}; this device has ${runtime.limits.maxComputeWorkgroupStorageSize}`);
  }
  return { entryPoint, tileRows, tileCols: v === 'subgroups' ? REGISTER_BLOCK_COLUMNS * subgroupKernelWidth(runtime) : tileCols };
}

const tilesOf = (runtime: GpuRuntime, v: MatmulVariant, m: number, n: number) => {
  const { tileRows, tileCols } = matmulTile(runtime, v);
  return Math.ceil(n / tileCols) * Math.ceil(m / tileRows);
};

/**
 * The kernel and k slices of an m×n×k product. An explicitly requested variant is kept; otherwise
 * the device's (tuneMatmul), with the 128×128 tiles giving way to 'tiled' where their workgroups, even split,
 * would leave a GPU idle. Only `splittable` products (plain: no epilogue) are split, on GPUs only.
 */
function planOf(ws: Workspace, spec: Pick<MatmulSpec, 'm' | 'n' | 'k' | 'variant' | 'slices'>, splittable: boolean): MatmulPlan {
  const { m, n, k } = spec;
  const device = ws.runtime.matmulVariant ?? matmulVariantFor(ws.runtime);
  const slicesFor = (v: MatmulVariant) =>
    !splittable ? 1
    : spec.slices !== undefined ? Math.max(1, Math.min(spec.slices, Math.ceil(k / 16)))
    : ws.runtime.software ? 1
    : Math.max(1, Math.min(Math.ceil(SPLIT_TARGET_GROUPS / tilesOf(ws.runtime, v, m, n)), Math.floor(k / MIN_SLICE_K)));
  let variant = spec.variant ?? device;
  if (!spec.variant && LARGE_TILE.includes(variant)) {
    const tiles = tilesOf(ws.runtime, variant, m, n);
    if (tiles < WIDE_MIN_TILES || tiles * slicesFor(variant) < WIDE_MIN_GROUPS) variant = 'tiled';
  }
  const kSlice = Math.ceil(Math.ceil(k / slicesFor(variant)) / 16) * 16;
  return { variant, kSlice, slices: Math.ceil(k / kSlice) };
}

/**
 * The most rows (m) one product may have on this device: its kernel covers tileRows rows per
 * workgroup along dispatch y, and a dispatch has at most maxComputeWorkgroupsPerDimension per
 * dimension. Unless a variant is requested, the smallest tile planOf may choose ('wide' gives way
 * to 'tiled' on small outputs). Callers that split over rows (dense chunks, the forward pass)
 * stay within it; anything larger fails in Workspace.dispatch.
 */
export function matmulMaxRows(runtime: GpuRuntime, requested?: MatmulVariant): number {
  const variant = requested ?? runtime.matmulVariant ?? matmulVariantFor(runtime);
  const tileRows = !requested && LARGE_TILE.includes(variant) ? VARIANTS.tiled.tileRows : VARIANTS[variant].tileRows;
  return tileRows * runtime.limits.maxComputeWorkgroupsPerDimension;
}

/** out = alpha·op(A)·op(B) + beta·addend in one dispatch (never split). Reads a, b, addend; writes out. */
export function matmul(ws: Workspace, spec: MatmulSpec): Dispatch {
  const plan = planOf(ws, spec, false);
  return kernelDispatch(ws, spec, { ...plan, kSlice: spec.k, slices: 1 });
}

/**
 * The same product as matmul(), split over k on a GPU when its output alone launches too few
 * workgroups (a plain product only): the slices go to a scratch buffer of this workspace (shared by
 * its split products of one size, which run one after another) and a second dispatch sums them.
 */
export function matmulDispatches(ws: Workspace, spec: MatmulSpec): Dispatch[] {
  const plan = planOf(ws, spec, !spec.epilogue);
  if (plan.slices === 1) return [kernelDispatch(ws, spec, plan)];
  const { m, n } = spec;
  const floats = plan.slices * m * n;
  const slices = ws.placeholder(`matmul k slices ${floats}`, () => ws.storage(floats, 'matmul k slices'));
  const split = kernelDispatch(ws, { ...spec, out: slices, addend: undefined, alpha: 1, beta: 0, label: `${spec.label} (${plan.slices} k slices)` }, plan);
  const beta = spec.beta ?? 0;
  const pipeline = shader.pipeline(ws.runtime, 'matmul_slices');
  const sum = ws.dispatch(
    `${spec.label} (sum of k slices)`,
    pipeline,
    shader.resources({ params: uniformsOf(ws, spec, plan.kSlice), a: slices, addend: spec.addend ?? ws.dummy, out: spec.out! }),
    [Math.max(1, Math.min(Math.ceil((m * n) / 256), 4096))],
    { bytes: 4 * m * n * (plan.slices + 1 + (beta !== 0 ? 1 : 0)), flops: plan.slices * m * n },
  );
  return [split, sum];
}

function uniformsOf(ws: Workspace, spec: MatmulSpec, kSlice: number): GPUBuffer {
  const beta = spec.beta ?? 0;
  if (beta !== 0 && !spec.addend) throw new Error(`${spec.label}: beta ≠ 0 needs an addend`);
  const transposes = { transposeA: spec.transposeA ? 1 : 0, transposeB: spec.transposeB ? 1 : 0 };
  return ws.uniform(shader.uniforms('Params', { m: spec.m, n: spec.n, k: spec.k, alpha: spec.alpha ?? 1, beta, kSlice, ...transposes }), 'matmul Params');
}

function kernelDispatch(ws: Workspace, spec: MatmulSpec, plan: MatmulPlan): Dispatch {
  const variant = matmulTile(ws.runtime, plan.variant);
  // The register kernels take the transposes from their uniform: one pipeline (see shaders/matmul.wgsl).
  const constants: Record<string, number> =
    plan.variant === 'registers' ? {}
    : plan.variant === 'subgroups' ? { SUBGROUP_WIDTH: subgroupKernelWidth(ws.runtime) }
    : { TRANSPOSE_A: spec.transposeA ? 1 : 0, TRANSPOSE_B: spec.transposeB ? 1 : 0, ...(plan.variant === 'pipelined' ? { PIPE_K: pipelineDepth(ws.runtime)! } : {}) };
  const pipeline = shaderOf(plan.variant).pipeline(ws.runtime, variant.entryPoint, constants);
  const beta = spec.beta ?? 0;
  return ws.dispatch(
    spec.label,
    pipeline,
    shader.resources({ ...epilogueResources(ws, spec.epilogue, { out: spec.out, slotOffset: spec.slotOffset }), params: uniformsOf(ws, spec, plan.kSlice), a: spec.a, b: spec.b, addend: spec.addend ?? ws.dummy }),
    [Math.ceil(spec.n / variant.tileCols), Math.ceil(spec.m / variant.tileRows), plan.slices],
    {
      bytes: 4 * (spec.m * spec.k + spec.k * spec.n + spec.m * spec.n * (plan.slices + (beta !== 0 ? 1 : 0))) + spec.m * spec.n * epilogueBytesPerValue(spec.epilogue),
      flops: 2 * spec.m * spec.n * spec.k,
    },
  );
}

/** Partial-sum slots an m×n product's epilogue writes (one per invocation of 'registers', per workgroup otherwise). */
export function matmulSlots(ws: Workspace, m: number, n: number, requested?: MatmulVariant): number {
  const { variant } = planOf(ws, { m, n, k: 1, variant: requested }, false);
  const groups = tilesOf(ws.runtime, variant, m, n);
  // The register kernels: one slot per lane, REGISTER_BLOCK_COLUMNS of the tile's columns each.
  return variant === 'registers' || variant === 'subgroups' ? groups * (matmulTile(ws.runtime, variant).tileCols / REGISTER_BLOCK_COLUMNS) : groups;
}

const tuning = new WeakMap<GpuRuntime, Promise<MatmulVariant>>();
const subgroupChecks = new WeakMap<GpuRuntime, Promise<void>>();

/**
 * Before a device prefers the subgroup kernels (prefersSubgroupKernels), checks matmul_subgroups
 * once on a small product of integers (exact in f32) against the same product computed here: the
 * subgroup kernels (the conv ones too) rely on a workgroup of SUBGROUP_WIDTH invocations being one
 * whole subgroup, which Vulkan and D3D12 do not promise. If it disagrees or fails, runtime.subgroupSize becomes null and the
 * register kernels are used. Called by tuneMatmul and forwardGpu; a no-op elsewhere.
 */
export function checkSubgroupKernels(runtime: GpuRuntime): Promise<void> {
  if (!prefersSubgroupKernels(runtime)) return Promise.resolve();
  let pending = subgroupChecks.get(runtime);
  if (!pending) {
    pending = subgroupKernelAgrees(runtime).then((agrees) => {
      if (!agrees) runtime.subgroupSize = null;
    });
    subgroupChecks.set(runtime, pending);
  }
  return pending;
}

async function subgroupKernelAgrees(runtime: GpuRuntime): Promise<boolean> {
  const [m, n, k] = [19, 70, 23]; // a tile and a part in each direction
  const a = Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 9) - 4);
  const b = Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 7) - 3);
  const ws = new Workspace(runtime);
  try {
    const out = ws.storage(m * n, 'subgroup check out');
    const product = matmul(ws, { label: 'subgroup check', a: ws.upload(a, 'subgroup check A'), b: ws.upload(b, 'subgroup check B'), out, m, n, k, variant: 'subgroups' });
    const got = await withErrorScopes(runtime.device, 'checking the subgroup matmul', async () => {
      ws.submit([product], 'subgroup check');
      return ws.read(out, m * n);
    });
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let sum = 0;
        for (let p = 0; p < k; p++) sum += a[i * k + p] * b[p * n + j];
        if (got[i * n + j] !== sum) return false;
      }
    return true;
  } catch {
    return false;
  } finally {
    ws.release();
  }
}

/**
 * On a GPU, times the GPU kernels (gpuMatmulCandidates) once per device on a large layer's two
 * products, as X·W and Xᵀ·B of an iteration (A·B: 8192×1024×1024; AᵀA: 1024×1024×8192, split over
 * k as planned; medians of 3) and keeps the fastest in runtime.matmulVariant, which matmul() then
 * uses: drivers differ more than their names say. On a software adapter it chooses 'subgroups' (once
 * checkSubgroupKernels has passed) or 'registers' without compiling the others (a workgroup-memory
 * pipeline takes llvmpipe most of a minute to compile and is 4× slower there). A variant already
 * set on the runtime is kept.
 */
export function tuneMatmul(runtime: GpuRuntime): Promise<MatmulVariant> {
  if (runtime.matmulVariant) return Promise.resolve(runtime.matmulVariant); // measured already, or chosen by the caller
  if (runtime.software) return checkSubgroupKernels(runtime).then(() => (runtime.matmulVariant ??= matmulVariantFor(runtime)));
  let pending = tuning.get(runtime);
  if (!pending) {
    pending = measureMatmulVariants(runtime).then((best) => (runtime.matmulVariant = best));
    tuning.set(runtime, pending);
  }
  return pending;
}

/** tuneMatmul's measurement: the fastest of gpuMatmulCandidates on A·B and AᵀA with A m×k, B k×n (tests use small sizes). */
export async function measureMatmulVariants(runtime: GpuRuntime, [m, n, k] = [8192, 1024, 1024]): Promise<MatmulVariant> {
  const ws = new Workspace(runtime);
  try {
    const a = ws.upload(Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 13) / 13), 'tuning A');
    const b = ws.upload(Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 11) / 11), 'tuning B');
    const out = ws.storage(m * n, 'tuning out');
    const seconds: Partial<Record<MatmulVariant, number>> = {};
    const candidates = gpuMatmulCandidates(runtime);
    for (const variant of candidates) {
      // A·B, and AᵀA (a k×k output over m: split over k as the iteration's Xᵀ·B is).
      const products = [
        matmul(ws, { label: `tuning ${variant}`, a, b, out, m, n, k, variant }),
        ...matmulDispatches(ws, { label: `tuning ${variant}, transposed`, a, b: a, out, m: k, n: k, k: m, transposeA: true, variant }),
      ];
      const run = async () => {
        const started = performance.now();
        ws.submit(products, 'tuning');
        await runtime.device.queue.onSubmittedWorkDone();
        return performance.now() - started;
      };
      await run(); // compiles the pipeline
      const times = [await run(), await run(), await run()].sort((x, y) => x - y);
      seconds[variant] = times[1];
    }
    return candidates.reduce((best, v) => (seconds[v]! < seconds[best]! ? v : best));
  } finally {
    ws.release();
  }
}
