// Wrapper of shaders/matmul.wgsl.
import matmulSource from '../../../shaders/matmul.wgsl';
import { isSoftwareAdapter, type GpuRuntime } from '../device.js';
import { epilogueBytesPerValue, epiloguePipeline, epilogueResources, type Epilogue } from './epilogue.js';
import { encodeDispatches, packUniforms, Workspace, type Dispatch } from '../workspace.js';

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
}


/**
 * 'tiled': 64×64 tiles staged through workgroup memory (the right design on GPUs).
 * 'registers': 16×64 tiles, a 16×8 register block per invocation and direct global loads, no
 * workgroup memory or barriers (about 4× faster on llvmpipe, where each workgroup is SIMD lanes of
 * one CPU thread and barriers/workgroup memory buy nothing).
 */
export type MatmulVariant = 'tiled' | 'registers';

const VARIANTS: Record<MatmulVariant, { entryPoint: string; tileRows: number; tileCols: number }> = {
  tiled: { entryPoint: 'matmul', tileRows: 64, tileCols: 64 },
  registers: { entryPoint: 'matmul_registers', tileRows: 16, tileCols: 64 },
};

/** The faster kernel for an adapter: 'registers' on CPU rasterizers, 'tiled' on real GPUs. */
export function matmulVariantFor(adapterDescription: string): MatmulVariant {
  return isSoftwareAdapter(adapterDescription) ? 'registers' : 'tiled';
}

/** out = alpha·op(A)·op(B) + beta·addend. Reads a, b, addend; writes out. */
export function matmul(ws: Workspace, spec: MatmulSpec): Dispatch {
  const variant = VARIANTS[variantOf(ws, spec.variant)];
  const pipeline = epiloguePipeline(ws, 'matmul', matmulSource, variant.entryPoint, {
    TRANSPOSE_A: spec.transposeA ? 1 : 0,
    TRANSPOSE_B: spec.transposeB ? 1 : 0,
  });
  const beta = spec.beta ?? 0;
  if (beta !== 0 && !spec.addend) throw new Error(`${spec.label}: beta ≠ 0 needs an addend`);
  const uniforms = ws.uniform(
    packUniforms([['u32', spec.m], ['u32', spec.n], ['u32', spec.k], ['f32', spec.alpha ?? 1], ['f32', beta]]),
  );
  return ws.dispatch(
    spec.label,
    pipeline,
    { ...epilogueResources(ws, spec.epilogue, { out: spec.out, slotOffset: spec.slotOffset }), 0: uniforms, 1: spec.a, 2: spec.b, 3: spec.addend ?? ws.dummy },
    [Math.ceil(spec.n / variant.tileCols), Math.ceil(spec.m / variant.tileRows)],
    {
      bytes: 4 * (spec.m * spec.k + spec.k * spec.n + spec.m * spec.n * (beta !== 0 ? 2 : 1)) + spec.m * spec.n * epilogueBytesPerValue(spec.epilogue),
      flops: 2 * spec.m * spec.n * spec.k,
    },
  );
}

function variantOf(ws: Workspace, requested?: MatmulVariant): MatmulVariant {
  return requested ?? ws.runtime.matmulVariant ?? matmulVariantFor(ws.runtime.adapterDescription);
}

/** Partial-sum slots an m×n product's epilogue writes (one per invocation, or per workgroup for 'tiled'). */
export function matmulSlots(ws: Workspace, m: number, n: number, requested?: MatmulVariant): number {
  const name = variantOf(ws, requested);
  const groups = Math.ceil(n / VARIANTS[name].tileCols) * Math.ceil(m / VARIANTS[name].tileRows);
  return name === 'registers' ? groups * 8 : groups;
}

const tuning = new WeakMap<GpuRuntime, Promise<MatmulVariant>>();

/**
 * Times both kernels once per device on a layer-sized product (512×256 outputs, k = 512; medians
 * of 3) and keeps the faster in runtime.matmulVariant, which matmul() then uses. The adapter-name
 * guess is only the fallback for untuned devices: drivers differ more than their names say.
 * A variant already set on the runtime is kept.
 */
export function tuneMatmul(runtime: GpuRuntime): Promise<MatmulVariant> {
  if (runtime.matmulVariant) return Promise.resolve(runtime.matmulVariant); // measured already, or chosen by the caller
  let pending = tuning.get(runtime);
  if (!pending) {
    pending = measureVariants(runtime).then((best) => (runtime.matmulVariant = best));
    tuning.set(runtime, pending);
  }
  return pending;
}

async function measureVariants(runtime: GpuRuntime): Promise<MatmulVariant> {
  const [m, n, k] = [512, 256, 512];
  const ws = new Workspace(runtime);
  try {
    const a = ws.upload(Float32Array.from({ length: m * k }, (_, i) => ((i * 7) % 13) / 13), 'tuning A');
    const b = ws.upload(Float32Array.from({ length: k * n }, (_, i) => ((i * 5) % 11) / 11), 'tuning B');
    const out = ws.storage(m * n, 'tuning out');
    const seconds: Record<MatmulVariant, number> = { tiled: Infinity, registers: Infinity };
    for (const variant of Object.keys(VARIANTS) as MatmulVariant[]) {
      const dispatch = matmul(ws, { label: `tuning ${variant}`, a, b, out, m, n, k, variant });
      const run = async () => {
        const started = performance.now();
        const encoder = runtime.device.createCommandEncoder();
        const pass = encoder.beginComputePass();
        encodeDispatches(pass, [dispatch, dispatch]);
        pass.end();
        runtime.device.queue.submit([encoder.finish()]);
        await runtime.device.queue.onSubmittedWorkDone();
        return performance.now() - started;
      };
      await run(); // compiles the pipeline
      const times = [await run(), await run(), await run()].sort((x, y) => x - y);
      seconds[variant] = times[1];
    }
    return seconds.registers < seconds.tiled ? 'registers' : 'tiled';
  } finally {
    ws.release();
  }
}
