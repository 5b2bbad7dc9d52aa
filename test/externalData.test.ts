// ONNX external data (src/io/onnx/externalData.ts): a model whose initializers live in a data file
// beside it (PyTorch ≥ 2.9's default, any model over 2 GiB). The bundled MLP with its weights moved
// out reads to the same network from Node and from a page's files; a reference that leaves the
// model's folder (.., an absolute path, a link out), names bytes the file lacks or disagrees with
// its tensor is an InputError naming the file and the field before anything is read; a model past
// protobuf's 2 GiB is written with a data file; and no output may land on a data file.
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadModel } from '../src/browser/sources.js';
import { InputError } from '../src/errors.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { EXTERNAL, onnx, type TensorProto } from '../src/io/onnx/common.js';
import { parseOnnxModel, parseOnnxModelWithData, writeOnnxModelFiles } from '../src/io/onnxModel.js';
import { runCli } from './helpers/cli.js';
import { mnistFixtures } from './helpers/models.js';

const { fixtures, samplesPath } = await mnistFixtures();
const original = new Uint8Array(readFileSync(join(fixtures, 'mnist-mlp.onnx')));
const inline = parseOnnxModel(original, 'mnist-mlp.onnx').network;

interface Externalized {
  model: Uint8Array;
  data: Uint8Array;
}

/**
 * The MLP with each float initializer's bytes moved to `location` (at 8-byte aligned offsets, as
 * `onnx.save_model(..., save_as_external_data=True)` lays them out); `edit` changes a reference.
 */
function externalize(location: string, edit: (entries: Map<string, string>, tensor: TensorProto, k: number) => void = () => {}): Externalized {
  const model = onnx.ModelProto.decode(original);
  const parts: Uint8Array[] = [];
  let offset = 0;
  model.graph!.initializer!.forEach((tensor, k) => {
    if (tensor.dataType !== 1) return;
    const raw = tensor.rawData?.length ? tensor.rawData : new Uint8Array(Float32Array.from(tensor.floatData ?? []).buffer);
    const padding = (8 - (offset % 8)) % 8;
    parts.push(new Uint8Array(padding), raw);
    offset += padding;
    const entries = new Map([['location', location], ['offset', String(offset)], ['length', String(raw.length)]]);
    offset += raw.length;
    edit(entries, tensor, k);
    tensor.rawData = new Uint8Array(0);
    tensor.floatData = [];
    tensor.dataLocation = EXTERNAL;
    tensor.externalData = [...entries].map(([key, value]) => ({ key, value }));
  });
  const data = new Uint8Array(offset);
  parts.reduce((at, part) => (data.set(part, at), at + part.length), 0);
  return { model: onnx.ModelProto.encode(model).finish(), data };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'net-trim-external-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Writes the model (and its data file at `dataPath`, relative to a fresh folder) and loads it. */
async function load(files: Externalized, dataPath: string | null = 'mlp.onnx.data'): Promise<{ folder: string; path: string; load: () => ReturnType<typeof loadModelFile> }> {
  const folder = await mkdtemp(join(dir, 'm-'));
  const path = join(folder, 'mlp.onnx');
  await writeFile(path, files.model);
  if (dataPath) await writeFile(join(folder, dataPath), files.data);
  return { folder, path, load: () => loadModelFile(path) };
}

describe('ONNX external data', () => {
  it('reads to the network the same model holds inside, from files or a page', async () => {
    const files = externalize('mlp.onnx.data');
    const { path, load: read } = await load(files);
    const model = await read();
    expect(model.network).toEqual(inline);
    expect(model.files).toEqual([path, `${path}.data`]);
    const page = await loadModel([{ name: 'mlp.onnx', bytes: files.model }, { name: 'mlp.onnx.data', bytes: files.data }]);
    expect(page.network).toEqual(inline);
    // The pruned model is written as one file: its data inside, none external.
    const [written] = await model.serialize(model.network);
    expect(parseOnnxModel(written.bytes, 'written.onnx').network).toEqual(inline);
  });

  it('reads only the ranges its tensors name: a data file past 4 GiB (Node\'s largest buffer) loads, and writes back', async () => {
    const files = externalize('mlp.onnx.data');
    const { path, load: read } = await load(files);
    // Sparse: the tensors' bytes, then holes to 4 GiB + 1 (the file is never read whole).
    await truncate(`${path}.data`, 2 ** 32 + 1);
    const model = await read();
    expect(model.network).toEqual(inline);
    const [written] = await model.serialize(model.network);
    expect(parseOnnxModel(written.bytes, 'written.onnx').network).toEqual(inline);
  });

  it('without its data file: an error naming the file, from Node, from a page and from bytes', async () => {
    const files = externalize('weights/mlp.bin');
    const { path, load: read } = await load(files, null);
    await expect(read()).rejects.toThrow(new RegExp(`${join(path, '..', 'weights', 'mlp.bin').replaceAll('/', '\\/')}.*an external data file listed in`));
    await expect(loadModel([{ name: 'mlp.onnx', bytes: files.model }])).rejects.toThrow(/mlp\.onnx: its tensors' data is in the external data file 'weights\/mlp\.bin', which is not among the files \(mlp\.onnx\): add it beside the model/);
    await expect(loadModel(files.model, { name: 'mlp.onnx' })).rejects.toThrow(/which a single file cannot provide/);
    expect(() => parseOnnxModel(files.model, 'mlp.onnx')).toThrow(/mlp\.onnx: initializer '.+': its data is in the external data file 'weights\/mlp\.bin'/);
  });

  it.each([
    ['a parent folder', '../mlp.onnx.data', /external_data 'location' '\.\.\/mlp\.onnx\.data': expected a file inside the model's folder, found '\.\.'/],
    ['an absolute path', '/etc/hostname', /external_data 'location' '\/etc\/hostname': expected a path relative to the model's folder, found an absolute path/],
    ['a Windows path', 'C:\\weights.bin', /expected a path relative to the model's folder, found an absolute path/],
    ['no location', '', /external_data 'location': expected a file name, found none/],
  ])('refuses a location in %s before reading anything', async (_, location, message) => {
    const { path, load: read } = await load(externalize(location));
    const error = await read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message.startsWith(path)).toBe(true);
  });

  it('refuses a data file that is a link out of the model\'s folder', async () => {
    const files = externalize('mlp.onnx.data');
    const outside = join(dir, 'outside.data');
    await writeFile(outside, files.data);
    const { folder, load: read } = await load(files, null);
    await symlink(outside, join(folder, 'mlp.onnx.data'));
    await expect(read()).rejects.toThrow(/external_data 'location' 'mlp\.onnx\.data': expected a file inside the model's folder .*, found .*outside\.data/);
  });

  it('refuses a data file that is a folder', async () => {
    const { folder, load: read } = await load(externalize('weights'), null);
    await mkdir(join(folder, 'weights'));
    await expect(read()).rejects.toThrow(/external_data 'location' 'weights': expected a regular file, found a directory/);
  });

  it('checks every range against the file and the tensor before reading', async () => {
    // The data file cut short: its size against the furthest range, named in the message.
    const files = externalize('mlp.onnx.data');
    const short = await load({ ...files, data: files.data.subarray(0, files.data.length - 4) });
    await expect(short.load()).rejects.toThrow(new RegExp(`mlp\\.onnx\\.data: expected at least ${files.data.length} bytes \\(the furthest tensor's offset \\+ length in .*mlp\\.onnx\\), found ${files.data.length - 4}`));
    // A length that is not its tensor's size.
    const length = await load(externalize('mlp.onnx.data', (entries, _, k) => k === 0 && entries.set('length', String(Number(entries.get('length')) - 4))));
    await expect(length.load()).rejects.toThrow(/initializer '.+': external_data 'length' \d+: expected \d+ bytes for float32 of shape \[\d+, \d+\]/);
    // Offsets and lengths that are not whole numbers of bytes.
    for (const bad of ['-8', '1e3', '0x10', '99999999999999999'])
      await expect((await load(externalize('mlp.onnx.data', (entries, _, k) => k === 0 && entries.set('offset', bad)))).load()).rejects.toThrow(new RegExp(`external_data 'offset' '${bad}': expected a whole number of bytes`));
    // Offset and length default to 0 and the tensor's size: a file of one tensor needs neither.
    const first = externalize('mlp.onnx.data', (entries, _, k) => {
      if (k !== 0) return;
      entries.delete('offset');
      entries.delete('length');
    });
    expect((await (await load(first)).load()).network).toEqual(inline);
  });

  it('writes a model past the inline limit (2 GiB; here 1 000 bytes) as the model and one data file onnxruntime reads', async () => {
    const files = externalize('mlp.onnx.data');
    const handle = await parseOnnxModelWithData(files.model, 'mlp.onnx', async () => files.data);
    const written = writeOnnxModelFiles(handle, handle.network, undefined, 'model.onnx', 1000);
    expect(written.map((f) => f.name)).toEqual(['model.onnx', 'model.onnx.data']);
    const folder = await mkdtemp(join(dir, 'w-'));
    for (const f of written) await writeFile(join(folder, f.name), f.bytes);
    const stored = onnx.ModelProto.decode(written[0].bytes).graph!.initializer!.filter((t) => t.dataLocation === EXTERNAL);
    expect(stored.length).toBeGreaterThan(0);
    for (const t of stored) expect(Number(t.externalData!.find((e) => e.key === 'offset')!.value) % 4096).toBe(0);
    expect((await loadModelFile(join(folder, 'model.onnx'))).network).toEqual(inline);
    const input = new ort.Tensor('float32', new Float32Array(784).map((_, i) => Math.sin(i)), [1, 784]);
    const run = async (model: string | Uint8Array) => {
      const session = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
      return (await session.run({ [session.inputNames[0]]: input }))[session.outputNames[0]].data;
    };
    expect(await run(join(folder, 'model.onnx'))).toEqual(await run(original));
    // Under the limit: one file, the data inside.
    expect(writeOnnxModelFiles(handle, handle.network).map((f) => f.name)).toEqual(['model.onnx']);
    // Past one data file's limit (2 GiB; here 1 000 bytes: each tensor fills one), the next tensors go to the next file.
    const split = writeOnnxModelFiles(handle, handle.network, undefined, 'model.onnx', 1000, 1000);
    expect(split.map((f) => f.name)).toEqual(['model.onnx', 'model.onnx.data', ...stored.slice(1).map((_, k) => `model.onnx.data.${k + 1}`)]);
    const parts = await mkdtemp(join(dir, 'w-'));
    for (const f of split) await writeFile(join(parts, f.name), f.bytes);
    expect((await loadModelFile(join(parts, 'model.onnx'))).network).toEqual(inline);
    expect(await run(join(parts, 'model.onnx'))).toEqual(await run(original));
  });

  it('no output lands on a data file: prune refuses an --out where one would, and leaves it as it was', async () => {
    // The data file in a subfolder, named as one of prune's outputs, and --out that subfolder.
    const files = externalize('out/report.json');
    const folder = await mkdtemp(join(dir, 'm-'));
    const path = join(folder, 'mlp.onnx');
    await writeFile(path, files.model);
    await mkdir(join(folder, 'out'));
    const data = join(folder, 'out', 'report.json');
    await writeFile(data, files.data);
    const before = await stat(data);
    const { code, stderr } = await runCli(['prune', path, '--samples', samplesPath, '--max-samples', '20', '--backend', 'cpu', '--out', join(folder, 'out')]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--out .*report\.json: refusing to write there: it is the input file/);
    expect(new Uint8Array(await readFile(data))).toEqual(files.data);
    expect((await stat(data)).mtimeMs).toBe(before.mtimeMs);
  });
});
