// TF.js models quantized to uint8 or uint16 (tensorflowjs_converter --quantize_uint8/16: each
// weight's integers with a scale and a minimum, 4× or 2× fewer bytes than float32): read as TF.js
// reads them, pruned with each new kernel and bias put on a grid of its own with zero exact, and
// written back quantized, at the size given (float32, 4× the bytes, was the bug). TF.js itself runs
// every file written; the quantized copies come from a transcription of the converter's code.
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { forwardCpu, loadModelFile, removeUnreadUnits } from '../src/node.js';
import type { Conv2DLayer } from '../src/network/types.js';
import { layerNonzeros } from '../src/prune/layerPrograms.js';
import { runCli } from './helpers/cli.js';
import { mnistFixtures, tfjsPredict, zeroInput } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { storages, storedCopy, storedTypes, toGrid, type Manifest } from './helpers/tfjsStored.js';

const { fixtures, samplesPath, labelsPath, digits } = await mnistFixtures();
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'net-trim-tfjs-quantized-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

const all = () => true;
const manifest = async (modelJson: string) => (JSON.parse(await readFile(modelJson, 'utf8')) as Manifest).weightsManifest.flatMap((g) => g.weights);
const predict = (modelJson: string, count: number) => tfjsPredict(modelJson, digits, count, [28, 28, 1]);

/** Writes `network` into the model read from `path`, in out/`name`/, and returns its model.json. */
async function written(path: string, name: string): Promise<string> {
  const model = await loadModelFile(path);
  const [json, bin] = await model.serialize(model.network);
  await mkdir(join(out, name));
  await writeFile(join(out, name, 'model.json'), json.bytes);
  await writeFile(join(out, name, bin.name), bin.bytes);
  return join(out, name, 'model.json');
}

describe('TF.js models quantized to uint8 and uint16', () => {
  it('read as TF.js computes them, each layer with its grid; written back unchanged, byte for byte', async () => {
    const path = await storedCopy(fixtures, 'mnist-cnn', out, 'uint8', toGrid('uint8', all));
    const model = await loadModelFile(path);
    const specs = await manifest(path);
    const grid = (name: string) => ({ ...specs.find((w) => w.name === name)!.quantization });
    expect(storages(model.network)).toEqual({
      conv_1: { kernel: grid('conv_1/kernel'), bias: grid('conv_1/bias') },
      conv_2: { kernel: grid('conv_2/kernel'), bias: grid('conv_2/bias') },
      dense_out: { kernel: grid('dense_out/kernel'), bias: grid('dense_out/bias') },
    });
    expect((model.notes ?? []).some((n) => n.startsWith("6 weights quantized to uint8 (TF.js's affine quantization, q·scale + min): read in float32, written back as uint8"))).toBe(true);
    const ours = forwardCpu(model.network, digits.subarray(0, 200 * 784), 200).output;
    expect(relativeError(ours, await predict(path, 200))).toBeLessThan(1e-5);
    const again = await written(path, 'uint8-again');
    expect(await manifest(again)).toEqual(specs);
    expect((await readFile(join(out, 'uint8-again', 'weights.bin'))).equals(await readFile(join(out, 'uint8', 'weights.bin')))).toBe(true);
  });

  it('net-trim prune writes uint8 again at the size given, zeros exact, and the report is computed on the weights written', async () => {
    const path = await storedCopy(fixtures, 'mnist-cnn', out, 'pruned-in', toGrid('uint8', all));
    const dir = join(out, 'pruned');
    const run = await runCli(['prune', path, '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '100', '--quiet', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const file = join(dir, 'model.json');
    expect((await storedTypes(file)).every(([, type]) => type === 'uint8')).toBe(true);
    expect((await readFile(join(dir, 'weights.bin'))).length).toBe((await readFile(join(out, 'pruned-in', 'weights.bin'))).length);
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    const network = (await loadModelFile(file)).network;
    // The zeros are the file's: the nonzeros reported (kernels and biases) are those TF.js reads.
    const nonzeros = network.layers.reduce((n, l) => n + (l.kind === 'dense' || l.kind === 'conv2d' ? layerNonzeros(l) : 0), 0);
    expect(report.nonzerosAfter).toBe(nonzeros);
    expect(nonzeros).toBeLessThan(report.nonzerosBefore);
    expect(relativeError(forwardCpu(network, digits.subarray(0, 100 * 784), 100).output, await predict(file, 100))).toBeLessThan(1e-5);
    // On the logits, as the report measures: without the rounding in pruneNetwork the file is not
    // even uint8 (the writer finds the new weights on no grid and keeps them float32).
    const trained = forwardCpu((await loadModelFile(path)).network, digits.subarray(0, 100 * 784), 100).logits;
    const discrepancy = relativeError(forwardCpu(network, digits.subarray(0, 100 * 784), 100).logits, trained);
    expect(Math.abs(discrepancy - report.relativeDiscrepancy) / discrepancy).toBeLessThan(2e-6);
    // The sparse export holds the same integers, on the grids the file has.
    const sparse = await readFile(join(dir, 'weights.sparse.safetensors'));
    const header = JSON.parse(sparse.subarray(8, 8 + Number(sparse.readBigUInt64LE(0))).toString());
    expect(header['conv_2.kernel.values'].dtype).toBe('U8');
    const specs = await manifest(file);
    expect(JSON.parse(header.__metadata__['conv_2.kernel']).quantization).toEqual({ dtype: 'uint8', ...specs.find((w) => w.name === 'conv_2/kernel')!.quantization });
  });

  it('BatchNormalizations folded into uint16 convs: the folds rounded to their grids as read, so TF.js runs the file as the network computes', async () => {
    const path = await storedCopy(fixtures, 'keras/functional', out, 'functional-uint16', toGrid('uint16', all));
    const model = await loadModelFile(path);
    const folded = (model.notes ?? []).filter((n) => n.includes('is folded into layer') && n.includes('its products rounded as read to the uint16 grid the file will hold'));
    expect(folded.length).toBeGreaterThan(0);
    const file = await written(path, 'functional-again');
    expect((await storedTypes(file)).filter(([, type]) => type !== 'uint16')).toEqual([]);
    const ours = forwardCpu(model.network, digits.subarray(0, 100 * 784), 100).output;
    expect(relativeError(ours, await predict(file, 100))).toBeLessThan(1e-5);
    // And the folds moved the model by about a uint16 step, no more.
    expect(relativeError(ours, await predict(path, 100))).toBeLessThan(1e-3);
  });

  it('removing a channel keeps the grids (the kept integers are on them): uint8 still, as TF.js computes', async () => {
    const path = await storedCopy(fixtures, 'mnist-cnn', out, 'removed', toGrid('uint8', all));
    const model = await loadModelFile(path);
    const network = structuredClone(model.network);
    zeroInput(network.layers.find((l) => l.name === 'conv_2') as Conv2DLayer, 3); // conv_1's channel 3 is read no more
    const removal = removeUnreadUnits(network);
    expect(removal.kept.get('conv_1')).toHaveLength(7);
    const [json, bin] = await model.serialize(removal.network, removal);
    await mkdir(join(out, 'removed-out'));
    await writeFile(join(out, 'removed-out', 'model.json'), json.bytes);
    await writeFile(join(out, 'removed-out', bin.name), bin.bytes);
    const file = join(out, 'removed-out', 'model.json');
    expect((await storedTypes(file)).every(([, type]) => type === 'uint8')).toBe(true);
    expect(relativeError(forwardCpu(removal.network, digits.subarray(0, 100 * 784), 100).output, await predict(file, 100))).toBeLessThan(1e-5);
  });

  it('kernels quantized, biases not (--quantize_uint8 "*/kernel"): each written as it was', async () => {
    const path = await storedCopy(fixtures, 'mnist-cnn', out, 'kernels', toGrid('uint8', (name) => name.endsWith('/kernel')));
    const file = await written(path, 'kernels-again');
    expect(await storedTypes(file)).toEqual([['conv_1/kernel', 'uint8'], ['conv_1/bias', 'float32'], ['conv_2/kernel', 'uint8'], ['conv_2/bias', 'float32'], ['dense_out/kernel', 'uint8'], ['dense_out/bias', 'float32']]);
  });

  it('prune --quantize uint8 writes a float32 model as uint8, the layer kept as trained rounded too, with the report the written model\'s', async () => {
    const path = join(fixtures, 'mnist-cnn', 'model.json');
    const dir = join(out, 'quantize');
    const run = await runCli(['prune', path, '--samples', samplesPath, '--labels', labelsPath, '--max-samples', '100', '--exclude', 'conv_1', '--quantize', 'uint8', '--quiet', '--out', dir]);
    expect(run.code, run.stderr).toBe(0);
    const file = join(dir, 'model.json');
    expect((await storedTypes(file)).every(([, type]) => type === 'uint8')).toBe(true);
    expect((await readFile(join(dir, 'weights.bin'))).length).toBe(5258); // a quarter of 21 032
    const report = JSON.parse(await readFile(join(dir, 'report.json'), 'utf8'));
    expect(report.nonzerosBefore).toBe(5258); // the trained float32 model's
    expect(report.model.notes.some((n: string) => n.startsWith('--quantize uint8: every dense and conv kernel and bias written as uint8'))).toBe(true);
    const network = (await loadModelFile(file)).network;
    expect(relativeError(forwardCpu(network, digits.subarray(0, 100 * 784), 100).output, await predict(file, 100))).toBeLessThan(1e-5);
    // The discrepancy reported is the written model's, conv_1 rounded too (without storeOtherLayers the file's conv_1 is float32).
    const trained = forwardCpu((await loadModelFile(path)).network, digits.subarray(0, 100 * 784), 100).logits;
    const discrepancy = relativeError(forwardCpu(network, digits.subarray(0, 100 * 784), 100).logits, trained);
    expect(Math.abs(discrepancy - report.relativeDiscrepancy) / discrepancy).toBeLessThan(2e-6);
    const refused = await runCli(['prune', join(fixtures, 'mnist-cnn.onnx'), '--samples', samplesPath, '--quantize', 'uint8', '--out', join(out, 'onnx-quantize')]);
    expect([refused.code, refused.stderr.trim()]).toEqual([2, expect.stringMatching(/^net-trim: --quantize: expected a TF\.js model \(model\.json\), found an ONNX model/)]);
    const unknown = await runCli(['prune', path, '--samples', samplesPath, '--quantize', 'int4', '--out', join(out, 'int4')]);
    expect([unknown.code, unknown.stderr.trim()]).toEqual([2, "net-trim: --quantize: expected float16, uint16, uint8, found 'int4'"]);
  });

  it('a uint8 weight without its grid: an error naming the file, the weight and the field', async () => {
    const path = await storedCopy(fixtures, 'mnist-cnn', out, 'no-scale', (w, values) => {
      const q = toGrid('uint8', (name) => name === 'conv_2/kernel')(w, values);
      if (q) delete w.quantization!.scale;
      return q;
    });
    await expect(loadModelFile(path)).rejects.toThrow(/no-scale\/model\.json: weightsManifest\[0\]\.weights\[2\] \('conv_2\/kernel'\): quantization\.scale: expected a finite number above 0 \(uint8 values are q·scale \+ min\), found nothing/);
  });
});
