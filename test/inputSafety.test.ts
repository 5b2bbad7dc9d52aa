// Inputs are never overwritten, read from outside their model, or read forever: the command
// refuses with exit code 2 and one line naming the file, before any solve, and leaves every
// input byte for byte as it was (net-trim prune and layer on the bundled MNIST MLP).
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, link, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runCli, type CliRun } from './helpers/cli.js';

const FIXTURES = new URL('./fixtures/', import.meta.url).pathname;
let root: string;
let model: string; // a copy of the MLP fixture's folder
let samples: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'net-trim-safety-'));
  samples = join(root, 'samples.npy');
  await copyFile(join(FIXTURES, 'mnist-samples.npy'), samples);
});
afterAll(() => rm(root, { recursive: true, force: true }));

let case_ = 0;
beforeEach(async () => {
  model = join(root, `model-${++case_}`);
  await mkdir(model);
  for (const name of ['model.json', 'weights.bin']) await copyFile(join(FIXTURES, 'mnist-mlp', name), join(model, name));
});

const digest = async (path: string) => createHash('sha256').update(await readFile(path)).digest('hex');

/** Runs prune on `modelJson` (default: the copy's) with `args`, and checks every listed input is unchanged. */
async function prune(args: string[], inputs: string[] = [join(model, 'model.json'), join(model, 'weights.bin'), samples]): Promise<CliRun> {
  const before = await Promise.all(inputs.map(digest));
  const run = await runCli(['prune', '--samples', samples, '--max-samples', '20', '--backend', 'cpu', '--max-iterations', '50', '--quiet', ...args], { cwd: root });
  expect(await Promise.all(inputs.map(digest))).toEqual(before);
  return run;
}

/** Exit code 2 with one stderr line matching `message`. */
function refused(run: CliRun, message: RegExp | string): void {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.trimEnd().split('\n');
  expect(lines.filter((l) => !l.startsWith('Warning: ')), run.stderr).toHaveLength(1);
  expect(lines.at(-1)).toMatch(message);
}

describe('no output lands on an input', () => {
  it('--out given as a link to the model\'s folder', async () => {
    const out = join(root, `out-link-${case_}`);
    await symlink(model, out);
    refused(await prune([join(model, 'model.json'), '--out', out]), /--out: refusing to write into the model's own folder/);
  });

  it('the model given through a linked parent, --out its real folder', async () => {
    const linked = join(root, `linked-${case_}`);
    await symlink(model, linked);
    refused(await prune([join(linked, 'model.json'), '--out', model]), /--out: refusing to write into the model's own folder/);
  });

  it('an output name that is a hard link to an input (same inode, other folder)', async () => {
    const out = join(root, `out-hard-${case_}`);
    await mkdir(out);
    await link(join(model, 'weights.bin'), join(out, 'weights.bin'));
    refused(await prune([join(model, 'model.json'), '--out', out]), new RegExp(`^net-trim: --out ${out}/weights.bin: refusing to write there: it is the input file .*weights.bin`));
  });

  it('an output name that is a link to the samples file', async () => {
    const out = join(root, `out-samples-${case_}`);
    await mkdir(out);
    await symlink(samples, join(out, 'report.json'));
    refused(await prune([join(model, 'model.json'), '--out', out]), new RegExp(`refusing to write there: it is the input file ${samples}`));
  });

  it('layer: --out-weights a link to the --input file', async () => {
    const x = join(root, 'x.npy');
    await copyFile(join(FIXTURES, 'mnist-samples.npy'), x);
    const weights = join(root, `w-${case_}.npy`);
    await symlink(x, weights);
    const before = await digest(x);
    const run = await runCli(['layer', '--input', x, '--target', x, '--out-weights', weights], { cwd: root });
    expect(await digest(x)).toBe(before);
    expect(run.code, run.stderr).toBe(2);
  });
});

describe('weight shards stay inside the model\'s folder', () => {
  async function withShard(path: string): Promise<string> {
    const json = JSON.parse(await readFile(join(model, 'model.json'), 'utf8'));
    json.weightsManifest[0].paths = [path];
    await writeFile(join(model, 'model.json'), JSON.stringify(json));
    return join(model, 'model.json');
  }

  it('a shard in a sibling folder, --out that folder: refused at loading, the shard untouched', async () => {
    const shared = join(root, `shared-${case_}`);
    await mkdir(shared);
    await copyFile(join(model, 'weights.bin'), join(shared, 'weights.bin'));
    const modelJson = await withShard(`../shared-${case_}/weights.bin`);
    refused(await prune([modelJson, '--out', shared], [modelJson, join(shared, 'weights.bin')]), /weightsManifest path '\.\.\/shared-\d+\/weights\.bin': expected a file inside the model's folder/);
  });

  it("'../../../dev/zero' (read forever before): refused at once", async () => {
    const started = performance.now();
    refused(await prune([await withShard('../../../../../../../../dev/zero'), '--out', join(root, 'never')]), /expected a file inside the model's folder .*, found \/dev\/zero/);
    expect(performance.now() - started).toBeLessThan(20_000);
    expect(existsSync(join(root, 'never'))).toBe(false);
  });

  it('a NUL byte or an overlong path: bad input (exit 2), not a crash', async () => {
    refused(await prune([await withShard('weights\u0000.bin'), '--out', join(root, 'never')]), /weightsManifest path: expected a file path, found one with a NUL byte/);
    refused(await prune([await withShard('w'.repeat(5000)), '--out', join(root, 'never')]), /weightsManifest path: expected a path of at most 4096 bytes, found 5000/);
  });
});

describe('nothing is read or made forever', () => {
  it('--samples /dev/zero and a named pipe are refused before reading', async () => {
    const run = (samplesPath: string) => runCli(['prune', join(model, 'model.json'), '--samples', samplesPath, '--out', join(root, 'never')], { cwd: root });
    refused(await run('/dev/zero'), '/dev/zero: expected a regular file, found a character device');
    const fifo = join(root, `pipe-${case_}.npy`);
    execFileSync('mkfifo', [fifo]);
    refused(await run(fifo), `${fifo}: expected a regular file, found a named pipe`);
  });

  it.skipIf(process.getuid?.() !== 0)('--out /proc/x as root: refused before solving (a recursive mkdir used to spin)', async () => {
    const started = performance.now();
    refused(await prune([join(model, 'model.json'), '--out', '/proc/net-trim-x/out']), /^net-trim: --out \/proc\/net-trim-x\/out: cannot create the folder \/proc\/net-trim-x: /);
    expect(performance.now() - started).toBeLessThan(20_000);
  });

  it('a functional model whose inbound_nodes form a cycle or name a missing layer: refused, naming the layer', async () => {
    const layer = (name: string, units: number, inbound: string) => ({
      name,
      class_name: 'Dense',
      config: { name, units, activation: 'relu', use_bias: false },
      inbound_nodes: [[[inbound, 0, 0, {}]]],
    });
    const functional = (layers: object[]) => ({
      format: 'layers-model',
      modelTopology: {
        class_name: 'Model',
        config: {
          name: 'm',
          layers: [{ name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 4], name: 'in' }, inbound_nodes: [] }, ...layers],
          input_layers: [['in', 0, 0]],
          output_layers: [['b', 0, 0]],
        },
      },
      weightsManifest: [{ paths: ['weights.bin'], weights: [{ name: 'a/kernel', shape: [4, 4], dtype: 'float32' }, { name: 'b/kernel', shape: [4, 4], dtype: 'float32' }] }],
    });
    await writeFile(join(model, 'weights.bin'), new Uint8Array(2 * 16 * 4));
    for (const [layers, message] of [
      [[layer('a', 4, 'b'), layer('b', 4, 'a')], /layer 1 \('a'\): inbound_nodes: expected layers that do not depend on this one, found a cycle through 'b'/],
      [[layer('a', 4, 'in'), layer('b', 4, 'gone')], /layer 2 \('b'\): inbound_nodes\[0\]\[0\]: expected the name of a layer of the model, found 'gone'/],
      [[layer('a', 4, 'in'), { ...layer('b', 4, 'a'), inbound_nodes: [[['a', 0]]] }], /layer 2 \('b'\): inbound_nodes\[0\]\[0\]: expected \["<layer name>", 0, 0, \{\}\]/],
    ] as const) {
      await writeFile(join(model, 'model.json'), JSON.stringify(functional([...layers])));
      refused(await prune([join(model, 'model.json'), '--out', join(root, 'never')]), message);
    }
  });
});

describe('samples, labels and gains: one consistent answer each', () => {
  const npy = (dtype: string, shape: number[], bytes: Uint8Array) => {
    const header = `{'descr': '${dtype}', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`.padEnd(117, ' ') + '\n';
    return Uint8Array.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0, ...new TextEncoder().encode(header), ...bytes]);
  };

  it('integer samples (uint8 images, int32) get the same message: scale them as the model was trained, save float32', async () => {
    for (const [dtype, size] of [['|u1', 1], ['<i4', 4]] as const) {
      const path = join(root, `int-samples-${size}.npy`);
      await writeFile(path, npy(dtype, [3, 784], new Uint8Array(3 * 784 * size)));
      const run = await runCli(['prune', join(model, 'model.json'), '--samples', path, '--out', join(root, 'never')], { cwd: root });
      refused(run, new RegExp(`${path}: descr: expected float32 or float64 samples \\(integer images: scale them as the model was trained, e\\.g\\. x / 255, and save them as float32\\), found ${size === 1 ? 'uint8' : 'int32'}$`));
    }
  });

  it('labels outside the model\'s classes are refused, naming the first; uint8 labels are read', async () => {
    const labels = join(root, 'labels.npy');
    const values = new Uint8Array(20).fill(3);
    values[7] = 10; // the MLP has 10 outputs: classes 0-9
    await writeFile(labels, npy('|u1', [20], values));
    const fewSamples = join(root, 'few.npy');
    const samplesBytes = new Float32Array(20 * 784).fill(0.5);
    await writeFile(fewSamples, npy('<f4', [20, 784], new Uint8Array(samplesBytes.buffer)));
    const run = await runCli(['prune', join(model, 'model.json'), '--samples', fewSamples, '--labels', labels, '--out', join(root, 'never')], { cwd: root });
    refused(run, `${labels}: data: expected class labels from 0 to 9 (the model has 10 outputs), found 10 at index 7`);
  });

  it('--epsilon-gain 0 is allowed with a warning that says what it asks for', async () => {
    const run = await runCli(['prune', join(model, 'model.json'), '--samples', samples, '--epsilon-gain', '0', '--out', join(model, 'model.json')], { cwd: root });
    expect(run.stderr).toContain('net-trim: warning: --epsilon-gain 0 asks for the trained outputs exactly');
    expect(run.code).toBe(2); // the output path here is the model file: refused after the warning
  });
});
