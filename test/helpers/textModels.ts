// What the text-model tests share (test/fixtures/torch2: their .npz samples are the first 64 text
// digits, so the digits' labels are theirs): a structured prune from the CLI with those labels.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
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
