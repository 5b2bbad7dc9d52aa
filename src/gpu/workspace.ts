// The buffers, uniforms and dispatches of one GPU job, acquired up front and released together.
import { GpuError } from '../errors.js';
import type { GpuRuntime } from './device.js';

/** One compute dispatch, fully bound at setup, so encoding it later allocates nothing. */
export interface Dispatch {
  label: string;
  pipeline: GPUComputePipeline;
  bindGroup: GPUBindGroup;
  workgroups: [number, number, number];
  /** Compulsory memory traffic (each operand read or written once) and floating-point work. */
  cost: DispatchCost;
}

export interface DispatchCost {
  bytes: number;
  flops: number;
}

/** Encodes `dispatches` into an open pass (the benchmarks build their own passes; the engine uses submitSteps). */
export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) encodeDispatch(pass, d);
}

function encodeDispatch(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(...d.workgroups);
}

/** A buffer-to-buffer copy between dispatches (it ends the compute pass before it). */
export interface Copy {
  copy: GPUBuffer;
  to: GPUBuffer;
  bytes: number;
}

export type Step = Dispatch | Copy;

/**
 * Encodes `steps` in order into one command buffer and submits it: consecutive dispatches share
 * one compute pass, a copy goes between passes. The one place the solver, the kernels' tuning
 * and the forward pass reach the queue.
 */
export function submitSteps(device: GPUDevice, steps: Iterable<Step>, label = 'net-trim'): void {
  const encoder = device.createCommandEncoder({ label });
  let pass: GPUComputePassEncoder | null = null;
  for (const step of steps) {
    if ('copy' in step) {
      pass?.end();
      pass = null;
      encoder.copyBufferToBuffer(step.copy, 0, step.to, 0, step.bytes);
    } else {
      pass ??= encoder.beginComputePass({ label });
      encodeDispatch(pass, step);
    }
  }
  pass?.end();
  device.queue.submit([encoder.finish()]);
}

const STORAGE = 0x80 | 0x04 | 0x08; // STORAGE | COPY_SRC | COPY_DST (constants also exist in Node without globals)
const UNIFORM = 0x40 | 0x08; // UNIFORM | COPY_DST
const READBACK = 0x01 | 0x08; // MAP_READ | COPY_DST
const MAP_READ_MODE = 0x1;

export class Workspace {
  private readonly owned: GPUBuffer[] = [];
  private readonly placeholders = new Map<string, GPUBuffer>();

  constructor(readonly runtime: GpuRuntime) {}

  get device(): GPUDevice {
    return this.runtime.device;
  }

  /** A zeroed storage buffer of `floats` f32 values (pooled buffers may hold an earlier job's data). */
  storage(floats: number, label: string): GPUBuffer {
    const buffer = this.allocate(floats, label);
    this.device.queue.writeBuffer(buffer, 0, new Float32Array(buffer.size / 4));
    return buffer;
  }

  /** A storage buffer holding `values` as f32, written once: only the padding after them is zeroed (kernels read it as vec4). */
  upload(values: ArrayLike<number>, label: string): GPUBuffer {
    const buffer = this.allocate(values.length, label);
    const data = new Float32Array(buffer.size / 4);
    data.set(values);
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  private allocate(floats: number, label: string): GPUBuffer {
    const bytes = Math.max(4, floats * 4);
    const limit = Math.min(this.runtime.limits.maxStorageBufferBindingSize, this.runtime.limits.maxBufferSize);
    if (bytes > limit)
      throw new GpuError(
        `${label} needs ${(bytes / 2 ** 20).toFixed(1)} MiB, more than one storage binding (or buffer) holds on this device (${(limit / 2 ** 20).toFixed(1)} MiB); use fewer inputs or outputs, or the cpu backend`,
      );
    const buffer = this.runtime.buffers.acquire(bytes, STORAGE, label);
    this.owned.push(buffer);
    return buffer;
  }

  /** A uniform buffer holding `data` (rewrite it with queue.writeBuffer to change parameters). */
  uniform(data: ArrayBuffer, label = 'uniforms'): GPUBuffer {
    const buffer = this.runtime.buffers.acquire(data.byteLength, UNIFORM, label);
    this.owned.push(buffer);
    this.device.queue.writeBuffer(buffer, 0, data);
    return buffer;
  }

  /** A mappable buffer to read `bytes` back into. */
  readbackBuffer(bytes: number): GPUBuffer {
    const buffer = this.runtime.buffers.acquire(bytes, READBACK, 'readback');
    this.owned.push(buffer);
    return buffer;
  }

  /** A placeholder for a binding a dispatch does not read (WebGPU wants every binding bound). */
  get dummy(): GPUBuffer {
    return this.placeholder('unused binding', () => this.storage(64, 'unused binding'));
  }

  /** One buffer per key for this workspace's lifetime. */
  placeholder(key: string, make: () => GPUBuffer): GPUBuffer {
    let buffer = this.placeholders.get(key);
    if (!buffer) this.placeholders.set(key, (buffer = make()));
    return buffer;
  }

  dispatch(
    label: string,
    pipeline: GPUComputePipeline,
    resources: Record<number, GPUBuffer | GPUBufferBinding>,
    workgroups: [number, number?, number?],
    cost: DispatchCost,
  ): Dispatch {
    const entries = Object.entries(resources).map(([binding, resource]) => ({
      binding: Number(binding),
      resource: 'buffer' in resource && !('mapState' in resource) ? (resource as GPUBufferBinding) : { buffer: resource as GPUBuffer },
    }));
    const size: [number, number, number] = [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1];
    // WebGPU rejects a larger dispatch only as an uncaptured validation error at submit (and some
    // implementations then skip it silently): fail here, naming the kernel.
    const limit = this.runtime.limits.maxComputeWorkgroupsPerDimension;
    if (size.some((n) => n > limit))
      throw new GpuError(`${label}: a dispatch of ${size.join('×')} workgroups exceeds this device's ${limit} per dimension (maxComputeWorkgroupsPerDimension)`);
    const bindGroup = this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    return { label, pipeline, bindGroup, workgroups: size, cost };
  }

  /** Submits `steps` (dispatches, copies) as one command buffer: see submitSteps. */
  submit(steps: Iterable<Step>, label?: string): void {
    submitSteps(this.device, steps, label);
  }

  /** Copies `floats` values of `buffer` to the host (a round trip: never inside the ADMM loop). */
  async read(buffer: GPUBuffer, floats: number): Promise<Float32Array> {
    const staging = this.readbackBuffer(floats * 4);
    this.submit([{ copy: buffer, to: staging, bytes: floats * 4 }], 'read back');
    return mapAndCopy(staging, floats);
  }

  /** Bytes of every buffer this workspace holds (storage, uniform and readback). */
  get bytes(): number {
    return this.owned.reduce((sum, b) => sum + b.size, 0);
  }

  release(): void {
    for (const b of this.owned) this.runtime.buffers.release(b);
    this.owned.length = 0;
    this.placeholders.clear();
  }
}

export async function mapAndCopy(staging: GPUBuffer, floats: number): Promise<Float32Array> {
  await staging.mapAsync(MAP_READ_MODE, 0, Math.ceil((floats * 4) / 8) * 8);
  const copy = new Float32Array(staging.getMappedRange(0, Math.ceil((floats * 4) / 8) * 8).slice(0, floats * 4));
  staging.unmap();
  return copy;
}
