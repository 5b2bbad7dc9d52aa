// One way to get a WebGPU device, in a browser (navigator.gpu) and in Node (Dawn through the
// `webgpu` package), with the adapter's real limits requested instead of the spec defaults.
import { GpuError, NoAdapterError } from '../errors.js';
import { BufferPool } from './bufferPool.js';
import type { MatmulVariant } from './kernels/matmulVariants.js';
import { PipelineCache } from './pipelineCache.js';

export interface GpuRuntime {
  device: GPUDevice;
  /** "vendor architecture device (description)" of the adapter, for reports. */
  adapterDescription: string;
  limits: GPUSupportedLimits;
  /** Optional features the adapter offers (shader-f16, subgroups, …), sorted; none is enabled. */
  adapterFeatures: readonly string[];
  buffers: BufferPool;
  pipelines: PipelineCache;
  /** The matmul kernel measured fastest on this device (tuneMatmul), or null before tuning. */
  matmulVariant: MatmulVariant | null;
  /** Whether the adapter is a CPU implementation of WebGPU/Vulkan (llvmpipe, SwiftShader, WARP). */
  software: boolean;
  /**
   * The subgroup width where the device has the 'subgroups' feature (enabled whenever offered)
   * and the adapter reports one fixed width; null otherwise, or once the subgroup kernels (which
   * need exactly 8) failed their check on this device (checkSubgroupKernels).
   */
  subgroupSize: number | null;
  /** Throws a GpuError if the device was lost or reported an uncaptured error. */
  assertHealthy(): void;
  destroy(): void;
}

/** Limits a Net-Trim solve benefits from: raised to what the adapter supports. */
const WANTED_LIMITS = [
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeWorkgroupStorageSize',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupsPerDimension',
] as const;

export const NO_ADAPTER_HINT =
  'no WebGPU adapter found: on Linux install Mesa\'s Vulkan driver (mesa-vulkan-drivers ≥ 25, see README), in a browser use one with WebGPU enabled, or use the cpu backend';

/** Features a kernel may use, enabled where the adapter offers them (shaders/matmul_subgroups.wgsl). */
const OPTIONAL_FEATURES: GPUFeatureName[] = ['subgroups'];

let dawnInstance: GPU | null = null;

/**
 * Dawn's options for Node from NET_TRIM_DAWN_FLAGS, separated by spaces: `adapter=<part of the
 * name>`, `backend=vulkan`, `enable-dawn-features=<toggle,toggle>` (Dawn's toggles, e.g.
 * allow_unsafe_apis,disable_robustness as bench/gpu/run.sh measures it).
 */
export function dawnFlags(value = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.NET_TRIM_DAWN_FLAGS): string[] {
  return (value ?? '').split(/\s+/).filter(Boolean);
}

async function findGpu(): Promise<GPU> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  try {
    const dawn = await import('webgpu');
    // Dawn's GPUBufferUsage, GPUMapMode, ... constants live in `globals`.
    Object.assign(globalThis, dawn.globals);
    // Keep the instance reachable: if it is garbage-collected, Dawn tears down the instance under
    // live devices and the process aborts ("std::system_error") at the next wait.
    dawnInstance ??= dawn.create(dawnFlags());
    return dawnInstance;
  } catch (error) {
    throw new NoAdapterError(`${NO_ADAPTER_HINT} (could not load the 'webgpu' package: ${(error as Error).message})`);
  }
}

/** The limits acquireGpu raises to the adapter's, which `limits` may cap. */
export type WantedLimit = (typeof WANTED_LIMITS)[number];

/**
 * A device with the adapter's best limits of WANTED_LIMITS, or at most `limits` of them (to run a
 * workload as a smaller device would: a browser's adapter, WebGPU's defaults).
 */
export async function acquireGpu(options: { powerPreference?: GPUPowerPreference; limits?: Partial<Record<WantedLimit, number>> } = {}): Promise<GpuRuntime> {
  const gpu = await findGpu();
  const adapter = await gpu.requestAdapter({ powerPreference: options.powerPreference ?? 'high-performance' }).catch((error: Error) => {
    // Dawn refuses an `adapter=` or `backend=` it cannot match, listing what there is.
    const listed = error.message.trim().replace(/:\s*\n\s*\*?\s*/g, ': ').replace(/\s*\n\s*\*?\s*/g, '; ');
    const flags = dawnFlags().join(' ');
    throw flags ? new GpuError(`Dawn found no adapter for NET_TRIM_DAWN_FLAGS='${flags}': ${listed}`) : new NoAdapterError(`${NO_ADAPTER_HINT} (${listed})`);
  });
  if (!adapter) throw new NoAdapterError(NO_ADAPTER_HINT);
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = Math.min(value, options.limits?.[name] ?? Infinity);
  }
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures });
  const info = adapter.info;
  const adapterDescription =
    [info.vendor, info.architecture, info.device, info.description && `(${info.description})`].filter(Boolean).join(' ') || 'unknown adapter';

  let failure: string | null = null;
  let destroyed = false;
  void device.lost.then((lost) => {
    if (!destroyed) failure = `WebGPU device lost (${lost.reason}): ${lost.message}`;
  });
  device.addEventListener('uncapturederror', (event) => {
    failure ??= `WebGPU error: ${(event as GPUUncapturedErrorEvent).error.message}`;
  });

  const buffers = new BufferPool(device);
  return {
    device,
    adapterDescription,
    limits: device.limits,
    adapterFeatures: [...adapter.features].map(String).sort(),
    buffers,
    pipelines: new PipelineCache(device),
    matmulVariant: null,
    software: isSoftwareAdapter(adapterDescription),
    subgroupSize: fixedSubgroupSize(device, info),
    assertHealthy() {
      if (failure) throw new GpuError(failure);
    },
    destroy() {
      destroyed = true;
      buffers.destroyAll();
      device.destroy();
    },
  };
}

function fixedSubgroupSize(device: GPUDevice, info: GPUAdapterInfo): number | null {
  const { subgroupMinSize, subgroupMaxSize } = info;
  if (!device.features.has('subgroups') || !subgroupMinSize || subgroupMinSize !== subgroupMaxSize) return null;
  return subgroupMinSize;
}

/** CPU implementations of WebGPU/Vulkan (Mesa llvmpipe/lavapipe, SwiftShader, WARP). */
const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|softpipe|swiftshader|microsoft basic render|\bwarp\b|software/i;

export function isSoftwareAdapter(adapterDescription: string): boolean {
  return SOFTWARE_ADAPTER.test(adapterDescription);
}

/**
 * Runs `body` inside validation and out-of-memory error scopes and turns a captured error into a
 * GpuError naming `what` (so a bad shape fails here, not as a silent wrong answer later).
 */
export async function withErrorScopes<T>(device: GPUDevice, what: string, body: () => T | Promise<T>): Promise<T> {
  device.pushErrorScope('out-of-memory');
  device.pushErrorScope('validation');
  let result: T;
  try {
    result = await body();
  } finally {
    const validation = await device.popErrorScope();
    const memory = await device.popErrorScope();
    const error = validation ?? memory;
    if (error) throw new GpuError(`${what}: ${error.message}`);
  }
  return result;
}
