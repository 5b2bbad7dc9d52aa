// TF.js models whose weights are stored as float16 (tensorflowjs_converter --quantize_float16:
// manifest entries with `quantization: { dtype: 'float16' }`, half the bytes): read as TF.js reads
// them, pruned with each new weight rounded to a half, and written back as float16, not float32
// (a pruned model twice the size of the one given was the bug). TF.js itself is the oracle.
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, loadModelFile } from '../src/node.js';
import { runCli } from './helpers/cli.js';
import { mnistFixtures, tfjsPredict } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { storages, storedCopy, storedTypes, toHalves } from './helpers/tfjsStored.js';

const { fixtures, samplesPath, labelsPath, digits } = await mnistFixtures();
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'net-trim-tfjs-half-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const halfCopy = (name: string, which: (weight: string) => boolean) => storedCopy(fixtures, 'mnist-cnn', out, name, toHalves(which));

describe('TF.js models stored as float16', () => {
  it('read as TF.js computes them, marked float16, with a note', async () => {
    const path = await halfCopy('all', () => true);
    const model = await loadModelFile(path);
    const half = { kernel: 'float16', bias: 'float16' };
    expect(storages(model.network)).toEqual({ conv_1: half, conv_2: half, dense_out: half });
    expect(model.notes).toContain("6 weights stored as float16 (TF.js's float16 quantization): read in float32, written back as float16, each pruned weight rounded to the nearest half as it replaces the trained one");
    const ours = forwardCpu(model.network, digits.subarray(0, 200 * 784), 200).output;
    expect(relativeError(ours, await tfjsPredict(path, digits, 200, [28, 28, 1]))).toBeLessThan(1e-5);
  });

  it('net-trim prune writes them as float16 again, half the bytes, with the report computed on the weights written', async () => {
    const path = await halfCopy('pruned-in', () => true);
    const dir = join(out, 'pruned');
    const run = await runCli(['prune', path, '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '100', '--quiet', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const written = join(dir, 'model.json');
    expect((await storedTypes(written)).every(([, type]) => type === 'float16')).toBe(true);
    expect((await readFile(join(dir, 'weights.bin'))).length).toBe((await readFile(join(out, 'pruned-in', 'weights.bin'))).length);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
    // TF.js runs the file as our network does; the reported discrepancy is that network's (without
    // the rounding in pruneNetwork it is the unrounded weights', off by 2.4e-5 against 1e-8).
    const network = (await loadModelFile(written)).network;
    const ours = forwardCpu(network, digits.subarray(0, 100 * 784), 100).output;
    expect(relativeError(ours, await tfjsPredict(written, digits, 100, [28, 28, 1]))).toBeLessThan(1e-5);
    // On the logits, before the softmax, as the report measures it.
    const trained = forwardCpu((await loadModelFile(path)).network, digits.subarray(0, 100 * 784), 100).logits;
    const discrepancy = relativeError(forwardCpu(network, digits.subarray(0, 100 * 784), 100).logits, trained);
    expect(Math.abs(discrepancy - report.relativeDiscrepancy) / discrepancy).toBeLessThan(2e-6);
  });

  it('a model with some weights stored as float16: those written as float16, the rest as float32', async () => {
    const path = await halfCopy('mixed', (name) => name.startsWith('conv_1/') || name === 'dense_out/kernel');
    const model = await loadModelFile(path);
    expect(storages(model.network)).toEqual({ conv_1: { kernel: 'float16', bias: 'float16' }, dense_out: { kernel: 'float16' } });
    const [json] = await model.serialize(model.network);
    const file = join(out, 'mixed-out', 'model.json');
    await mkdir(join(out, 'mixed-out'));
    await writeFile(file, json.bytes);
    expect(await storedTypes(file)).toEqual([['conv_1/kernel', 'float16'], ['conv_1/bias', 'float16'], ['conv_2/kernel', 'float32'], ['conv_2/bias', 'float32'], ['dense_out/kernel', 'float16'], ['dense_out/bias', 'float32']]);
  });
});
