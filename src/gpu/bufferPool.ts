// Buffers pooled by size and usage (as tfjs-backend-webgpu's buffer manager): a solve asks for
// all its buffers up front and hands them back at the end, so repeated solves allocate nothing.
export class BufferPool {
  private readonly free = new Map<string, GPUBuffer[]>();
  private readonly used = new Set<GPUBuffer>();

  constructor(private readonly device: GPUDevice) {}

  /** Bytes are rounded up to 256 so near-equal sizes share buffers. */
  acquire(bytes: number, usage: GPUBufferUsageFlags, label?: string): GPUBuffer {
    const size = Math.max(256, Math.ceil(bytes / 256) * 256);
    const key = `${size}:${usage}`;
    const buffer = this.free.get(key)?.pop() ?? this.device.createBuffer({ size, usage, label });
    this.used.add(buffer);
    return buffer;
  }

  release(buffer: GPUBuffer): void {
    if (!this.used.delete(buffer)) return;
    const key = `${buffer.size}:${buffer.usage}`;
    let list = this.free.get(key);
    if (!list) this.free.set(key, (list = []));
    list.push(buffer);
  }

  /** Buffers handed out and not yet released (a leak check for tests). */
  get inUse(): number {
    return this.used.size;
  }

  destroyAll(): void {
    for (const list of this.free.values()) for (const b of list) b.destroy();
    for (const b of this.used) b.destroy();
    this.free.clear();
    this.used.clear();
  }
}
