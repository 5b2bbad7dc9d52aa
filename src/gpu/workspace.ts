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

export function encodeDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const d of dispatches) {
    pass.setPipeline(d.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(...d.workgroups);
  }
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
    const bytes = Math.max(4, floats * 4);
    const limit = Math.min(this.runtime.limits.maxStorageBufferBindingSize, this.runtime.limits.maxBufferSize);
    if (bytes > limit)
      throw new GpuError(
        `${label} needs ${(bytes / 2 ** 20).toFixed(1)} MiB, more than one storage binding (or buffer) holds on this device (${(limit / 2 ** 20).toFixed(1)} MiB); use fewer inputs or outputs, or the cpu backend`,
      );
    const buffer = this.runtime.buffers.acquire(bytes, STORAGE, label);
    this.owned.push(buffer);
    this.device.queue.writeBuffer(buffer, 0, new Float32Array(buffer.size / 4));
    return buffer;
  }

  upload(values: ArrayLike<number>, label: string): GPUBuffer {
    const buffer = this.storage(values.length, label);
    this.device.queue.writeBuffer(buffer, 0, Float32Array.from(values));
    return buffer;
  }

  /** A uniform buffer holding `data` (rewrite it with queue.writeBuffer to change parameters). */
  uniform(data: ArrayBuffer): GPUBuffer {
    const buffer = this.runtime.buffers.acquire(data.byteLength, UNIFORM, 'uniforms');
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
    const bindGroup = this.device.createBindGroup({ label, layout: pipeline.getBindGroupLayout(0), entries });
    return { label, pipeline, bindGroup, workgroups: [workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1], cost };
  }

  /** Copies `floats` values of `buffer` to the host (a round trip: never inside the ADMM loop). */
  async read(buffer: GPUBuffer, floats: number): Promise<Float32Array> {
    const staging = this.readbackBuffer(floats * 4);
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, 0, staging, 0, floats * 4);
    this.device.queue.submit([encoder.finish()]);
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

/** Packs a uniform struct of u32/f32 fields (each 4 bytes, in declaration order), padded to 16 bytes. */
export function packUniforms(fields: ReadonlyArray<['u32' | 'f32', number]>): ArrayBuffer {
  const data = new ArrayBuffer(Math.ceil(Math.max(fields.length, 1) / 4) * 16);
  const view = new DataView(data);
  fields.forEach(([type, value], i) => {
    if (type === 'u32') view.setUint32(i * 4, value, true);
    else view.setFloat32(i * 4, value, true);
  });
  return data;
}
