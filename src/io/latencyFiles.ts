// Node only: a model's files as measureLatency takes them. An ONNX model with data files (past
// 2 GiB of weights) is written to a temporary folder, whose path onnxruntime loads: given bytes
// it cannot read data beside them.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import type { LatencyModel, LatencyRuntime } from './latency.js';

/** The model to measure, and a cleanup that removes what was written for it (call it when done). */
export async function latencyModel(label: string, format: LatencyRuntime, files: { name: string; bytes: Uint8Array }[]): Promise<{ model: LatencyModel; cleanup: () => Promise<void> }> {
  if (format !== 'onnx' || files.length < 2) return { model: { label, format, files }, cleanup: async () => {} };
  const dir = await mkdtemp(join(tmpdir(), 'net-trim-latency-'));
  const cleanup = () => rm(dir, { recursive: true, force: true });
  try {
    for (const f of files) await writeFile(join(dir, basename(f.name)), f.bytes);
    const main = files.find((f) => f.name.toLowerCase().endsWith('.onnx')) ?? files[0];
    return { model: { label, format, files: [], path: join(dir, basename(main.name)) }, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
