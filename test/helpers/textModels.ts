// What the text-model tests share (test/fixtures/torch2: their .npz samples are the first 64 text
// digits, so the digits' labels are theirs): a structured prune from the CLI with those labels.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { readSamplesFile } from '../../src/io/files.js';
import { shapesOfSamples } from '../../src/io/inputSizes.js';
import type { NpyArray } from '../../src/io/npy.js';
import { bytesOf, npyHeader, rawNpy } from './npyBytes.js';
import { runCli } from './cli.js';

/** The report and the written model of a prune that succeeded. */
export interface TextPrune {
  /** report.json, parsed: the tests read its fields by name. */
  report: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  model: Uint8Array;
  stdout: string;
}

/**
 * `net-trim prune MODEL --samples S --labels (the 64 digits') --max-samples COUNT --structured
 * --epsilon-gain 0.1 --max-iterations 300 --backend cpu` and `extra`, in a folder removed after.
 */
export async function pruneTextStructured(model: string, samples: string, labels: Int32Array, count: number, extra: string[] = []): Promise<TextPrune> {
  const out = await mkdtemp(join(tmpdir(), 'net-trim-text-'));
  try {
    const labelsFile = join(out, 'labels.npy');
    await writeFile(labelsFile, rawNpy(npyHeader('<i4', '(64,)'), bytesOf(Int32Array.from(labels.subarray(0, 64)))));
    const target = join(out, 'pruned');
    const args = ['prune', model, '--samples', samples, '--labels', labelsFile, '--max-samples', String(count), '--structured', '--epsilon-gain', '0.1', '--max-iterations', '300', ...extra, '--backend', 'cpu', '--out', target];
    const { code, stdout, stderr } = await runCli(args);
    expect(code, stderr).toBe(0);
    return { report: JSON.parse(await readFile(join(target, 'report.json'), 'utf8')), model: new Uint8Array(await readFile(join(target, 'model.onnx'))), stdout };
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

/**
 * The mask samples (test/fixtures/torch2/text-mask-samples.npz: input_ids and attention_mask of 49
 * tokens, the last 0–19 padding) as the decoder and DeBERTa tests feed them: onnxruntime's outputs
 * sample by sample (batch 1), and the packed network input cut to `tokens`.
 */
export class MaskSamples {
  static readonly NAMES = ['input_ids', 'attention_mask'];
  static readonly T = 49;

  private constructor(readonly path: string, readonly arrays: Map<string, NpyArray>) {}

  static async read(path: string): Promise<MaskSamples> {
    return new MaskSamples(path, (await readSamplesFile(path)) as Map<string, NpyArray>);
  }

  /** Sample p's first `tokens` ids and mask as onnxruntime's int64 feeds (batch 1). */
  feeds(p: number, tokens = MaskSamples.T): Record<string, ort.Tensor> {
    const T = MaskSamples.T;
    return Object.fromEntries(MaskSamples.NAMES.map((name) => [name, new ort.Tensor('int64', (this.arrays.get(name)!.data as BigInt64Array).slice(p * T, p * T + tokens), [1, tokens])]));
  }

  /** onnxruntime's first output for the first `count` samples cut to `tokens`, one run each. */
  async runtimeOutputs(model: string | Uint8Array, count: number, tokens = MaskSamples.T): Promise<Float32Array> {
    const session = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 3 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 3 });
    const outputs: number[] = [];
    for (let p = 0; p < count; p++) outputs.push(...((await session.run(this.feeds(p, tokens)))[session.outputNames[0]].data as Float32Array));
    await session.release();
    return Float32Array.from(outputs);
  }

  /** The first `count` samples cut to `tokens`, packed (ids, then mask); `unmasked`: every mask value 1. */
  packed(count: number, tokens: number, unmasked = false): Float32Array {
    const out = new Float32Array(count * 2 * tokens);
    for (let p = 0; p < count; p++)
      MaskSamples.NAMES.forEach((name, k) => {
        const values = this.arrays.get(name)!.data as BigInt64Array;
        for (let t = 0; t < tokens; t++) out[(p * 2 + k) * tokens + t] = k === 1 && unmasked ? 1 : Number(values[p * MaskSamples.T + t]);
      });
    return out;
  }
}

/**
 * The torch2 text fixtures' folder and their mask samples (test/fixtures/torch2), with the input
 * sizes the samples fix: what the decoder, DeBERTa and heads tests start from.
 */
export async function maskFixtures(fixtures: string) {
  const dir = join(fixtures, 'torch2');
  const samplesPath = join(dir, 'text-mask-samples.npz');
  const mask = await MaskSamples.read(samplesPath);
  return { dir, samplesPath, mask, arrays: mask.arrays, sizes: { samples: shapesOfSamples(mask.arrays) } };
}
