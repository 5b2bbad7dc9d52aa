// measureLatency on the bundled MNIST MLP in TF.js and onnxruntime: the result's structure and
// statistics, the defaults, cancellation and the errors for models that do not load. No timing
// assertions: how fast either model runs depends on the machine.
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importOnnxRuntime, measureLatency, type LatencyModel } from '../src/io/latency.js';
import { latencyModel } from '../src/io/latencyFiles.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { parseOnnxModel, writeOnnxModelFiles } from '../src/io/onnxModel.js';
import type { Network } from '../src/network/types.js';

const file = (name: string, path: string) => ({ name, bytes: new Uint8Array(readFileSync(path)) });
const tfjsFiles = [file('model.json', 'test/fixtures/mnist-mlp/model.json'), file('weights.bin', 'test/fixtures/mnist-mlp/weights.bin')];
const onnxFiles = [file('mnist-mlp.onnx', 'test/fixtures/mnist-mlp.onnx')];

/** The model with every other kernel weight zeroed, written back in its own format (as a pruned model is). */
async function halved(path: string): Promise<LatencyModel['files']> {
  const loaded = await loadModelFile(path);
  const network: Network = {
    ...loaded.network,
    layers: loaded.network.layers.map((l) => (l.kind === 'dense' ? { ...l, kernel: l.kernel.map((v, i) => (i % 2 ? 0 : v)) } : l)),
  };
  return loaded.serialize(network);
}

const before = (format: 'tfjs' | 'onnx'): LatencyModel => ({ label: 'before', format, files: format === 'tfjs' ? tfjsFiles : onnxFiles });

describe('measureLatency', () => {
  it('times before and after in both runtimes at each batch size', async () => {
    const models: LatencyModel[] = [
      before('tfjs'),
      { label: 'after', format: 'tfjs', files: await halved('test/fixtures/mnist-mlp/model.json') },
      before('onnx'),
      { label: 'after', format: 'onnx', files: await halved('test/fixtures/mnist-mlp.onnx') },
    ];
    const result = await measureLatency(models, { inputShape: [784], batches: [1, 4], repeats: 3, warmup: 1 });
    expect(result).toMatchObject({ inputShape: [784], repeats: 3, warmup: 1, notes: [] });
    expect(result.rows.map((r) => [r.runtime, r.batch])).toEqual([
      ['tfjs', 1],
      ['tfjs', 4],
      ['onnx', 1],
      ['onnx', 4],
    ]);
    for (const row of result.rows) {
      expect(row.models.map((m) => m.label)).toEqual(['before', 'after']);
      for (const m of row.models) {
        expect(m.runs).toBe(3);
        expect(Number.isFinite(m.medianMs) && m.medianMs > 0, `${row.runtime} ${row.batch} ${m.label}: ${m.medianMs}`).toBe(true);
        expect(m.q1Ms).toBeLessThanOrEqual(m.medianMs);
        expect(m.q3Ms).toBeGreaterThanOrEqual(m.medianMs);
        expect(m.q1Ms).toBeGreaterThan(0);
      }
      expect(row.ratio).toBeCloseTo(row.models[1].medianMs / row.models[0].medianMs, 12);
      expect(row.version).toMatch(/^\d+\.\d+/);
    }
    // TF.js reports the backend it chose (in Node without tfjs-node: its JavaScript 'cpu' backend).
    expect(result.rows[0].backend).toBe(tf.getBackend());
    expect(result.rows[2].backend).toBe('cpu');
  });

  it('runs 30 timed rounds at batch sizes 1 and 64 by default; one model has no ratio', async () => {
    const result = await measureLatency([before('onnx')], { inputShape: [784] });
    expect(result).toMatchObject({ repeats: 30, warmup: 3 });
    expect(result.rows.map((r) => [r.batch, r.models[0].runs, r.ratio])).toEqual([
      [1, 30, null],
      [64, 30, null],
    ]);
  });

  it('loads an ONNX model with its data in files beside it: by its path, and written files through a temporary folder', async () => {
    const handle = parseOnnxModel(onnxFiles[0].bytes, 'mnist-mlp.onnx');
    // Limits of 1 000 bytes: the weights go to model.onnx.data, .data.1, … (as past 2 GiB).
    const written = writeOnnxModelFiles(handle, handle.network, undefined, 'model.onnx', 1000, 1000);
    expect(written.length).toBeGreaterThan(2);
    const dir = mkdtempSync(join(tmpdir(), 'latency-test-'));
    const temporary = await latencyModel('files', 'onnx', written);
    try {
      for (const f of written) writeFileSync(join(dir, f.name), f.bytes);
      expect(existsSync(temporary.model.path!)).toBe(true);
      const models: LatencyModel[] = [temporary.model, { label: 'path', format: 'onnx', files: [], path: join(dir, 'model.onnx') }];
      const result = await measureLatency(models, { inputShape: [784], batches: [2], repeats: 2, warmup: 0 });
      expect(result.rows[0].models.map((m) => [m.label, m.runs])).toEqual([['files', 2], ['path', 2]]);
      // Files with data files and no path: refused by name (onnxruntime given bytes cannot find the data).
      await expect(measureLatency([{ label: 'alone', format: 'onnx', files: written }], { inputShape: [784], batches: [1], repeats: 1, warmup: 0 })).rejects.toThrow(/alone \(onnx\): expected one \.onnx file \(its data inside\) or a path, found 'model\.onnx', 'model\.onnx\.data'/);
    } finally {
      await temporary.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
    expect(existsSync(temporary.model.path!)).toBe(false);
    // One file: measured from its bytes, nothing written.
    expect((await latencyModel('one', 'onnx', onnxFiles)).model).toEqual({ label: 'one', format: 'onnx', files: onnxFiles });
  });

  it('leaves out the batch sizes a model exported for one batch size cannot take', async () => {
    const json = new TextDecoder().decode(tfjsFiles[0].bytes).replace('"batch_input_shape":[null,784]', '"batch_input_shape":[1,784]');
    expect(json).toContain('[1,784]');
    const fixed: LatencyModel = { label: 'fixed', format: 'tfjs', files: [{ name: 'model.json', bytes: new TextEncoder().encode(json) }, tfjsFiles[1]] };
    const result = await measureLatency([before('tfjs'), fixed], { inputShape: [784], batches: [1, 4], repeats: 2 });
    expect(result.rows.map((r) => [r.batch, r.models.map((m) => m.runs)])).toEqual([[1, [2, 2]]]);
    expect(result.notes).toEqual(["tfjs: batch size 4 left out: 'fixed' takes batch size 1 only"]);
  });

  it('rejects at once with an aborted signal, and soon when aborted while measuring', async () => {
    const aborted = AbortSignal.abort(new Error('stop'));
    await expect(measureLatency([before('tfjs')], { inputShape: [784], signal: aborted })).rejects.toThrow('stop');
    // 10 000 runs take seconds; the signal fires after 50 ms. TF.js's CPU backend never yields on
    // its own, so this also checks that timers get to run between runs (else it resolves).
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const models = [before('tfjs'), { ...before('tfjs'), label: 'again' }];
    await expect(measureLatency(models, { inputShape: [784], batches: [1], repeats: 5000, signal: controller.signal })).rejects.toMatchObject({ name: 'AbortError' });
  });

  it('says which model does not load, and why', async () => {
    const measure = (model: LatencyModel, inputShape = [784]) => measureLatency([model], { inputShape, repeats: 1, warmup: 0 });
    await expect(measure({ label: 'pruned', format: 'tfjs', files: [tfjsFiles[0]] })).rejects.toThrow(
      /^pruned \(tfjs\): model\.json lists the weight file 'weights\.bin', which is not among the files given \(model\.json\)$/,
    );
    await expect(measure({ label: 'pruned', format: 'tfjs', files: [tfjsFiles[1]] })).rejects.toThrow(/pruned \(tfjs\): expected a model\.json among the files, found 'weights\.bin'/);
    await expect(measure({ label: 'pruned', format: 'tfjs', files: [{ name: 'model.json', bytes: new TextEncoder().encode('{"modelTopology": 1') }, tfjsFiles[1]] })).rejects.toThrow(
      /pruned \(tfjs\): model\.json is not JSON/,
    );
    const truncated = { name: 'weights.bin', bytes: tfjsFiles[1].bytes.subarray(0, 1000) };
    await expect(measure({ label: 'pruned', format: 'tfjs', files: [tfjsFiles[0], truncated] })).rejects.toThrow(/pruned \(tfjs\): TF\.js cannot load the model/);
    await expect(measure({ label: 'pruned', format: 'onnx', files: [{ name: 'model.onnx', bytes: new Uint8Array([1, 2, 3, 4]) }] })).rejects.toThrow(
      /pruned \(onnx\): onnxruntime cannot load model\.onnx: /,
    );
    await expect(measure({ label: 'pruned', format: 'onnx', files: [] })).rejects.toThrow(/pruned \(onnx\): expected one \.onnx file \(its data inside\) or a path, found none/);
    // An input shape the model does not take, in each runtime.
    await expect(measure(before('tfjs'), [28, 28, 1])).rejects.toThrow(/before \(tfjs\): the model's input is \[784\] per sample, the inputShape given is \[28,28,1\]/);
    await expect(measure(before('onnx'), [785])).rejects.toThrow(/before \(onnx\): the model's input is \[784\] per sample, the inputShape given is \[785\]/);
    await expect(measureLatency([], { inputShape: [784] })).rejects.toThrow(/at least one model/);
    await expect(measureLatency([before('onnx')], { inputShape: [784], batches: [0] })).rejects.toThrow(/batches must be/);
  });

  it('asks for onnxruntime-node when it is not installed', async () => {
    const missing = Object.assign(new Error("Cannot find package 'onnxruntime-node'"), { code: 'ERR_MODULE_NOT_FOUND' });
    await expect(importOnnxRuntime(() => Promise.reject(missing))).rejects.toThrow(/needs onnxruntime-node.*npm install onnxruntime-node/);
    await expect(importOnnxRuntime(() => Promise.reject(new Error('libonnxruntime.so: cannot open\nmore')))).rejects.toThrow(
      /^onnxruntime-node is installed but does not load: libonnxruntime\.so: cannot open$/,
    );
    expect((await importOnnxRuntime()).InferenceSession).toBeDefined();
  });
});
