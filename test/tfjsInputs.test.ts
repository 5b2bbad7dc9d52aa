// model.json files that are not what they claim (an unsupported layer, a shard too short, sizes
// the file does not hold): an InputError naming the file and the field, before anything is
// allocated; and what loading leaves behind. The loader's happy paths: tfjsModel.test.ts.
import { mkdtemp, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { SUPPORTED_DESCRIPTION } from '../src/io/tfjsCheck.js';
import { loadTfjsModelFile } from '../src/io/tfjsFiles.js';
import { parseTfjsModel } from '../src/io/tfjsModel.js';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures');
const MLP = join(FIXTURES, 'mnist-mlp', 'model.json');

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'net-trim-tfjs-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('bad inputs raise an InputError naming the file', () => {
  /** A copy of the MLP fixture in `dir`, with model.json edited by `edit`. */
  async function mlpCopy(edit: (json: any) => void = () => {}): Promise<string> {
    const json = JSON.parse(await readFile(MLP, 'utf8'));
    edit(json);
    const path = join(dir, 'model.json');
    await writeFile(path, JSON.stringify(json));
    await writeFile(join(dir, 'weights.bin'), await readFile(join(FIXTURES, 'mnist-mlp', 'weights.bin')));
    return path;
  }

  it('an unsupported layer class', async () => {
    const path = await mlpCopy((json) => {
      json.modelTopology.config.layers[1].class_name = 'Conv3D';
    });
    await expect(loadTfjsModelFile(path)).rejects.toThrow(
      new InputError(`${path}: layer 1 ('dense_2'): unsupported layer class 'Conv3D': ${SUPPORTED_DESCRIPTION}`),
    );
  });

  it('an unsupported activation', async () => {
    const path = await mlpCopy((json) => {
      json.modelTopology.config.layers[0].config.activation = 'gelu_new';
    });
    await expect(loadTfjsModelFile(path)).rejects.toThrow(/layer 0 \('dense_1'\): activation: expected one of relu, linear, softmax, relu6, .*found "gelu_new"/);
  });

  it('a leaky ReLU layer', async () => {
    const path = await mlpCopy((json) => {
      json.modelTopology.config.layers.splice(1, 0, { class_name: 'ReLU', config: { name: 'leaky', negative_slope: 0.1 } });
    });
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: layer 1 ('leaky'): ReLU negative_slope: expected 0 (a plain relu), found 0.1`));
  });

  it('a missing weight shard, naming the shard', async () => {
    const path = await mlpCopy();
    await unlink(join(dir, 'weights.bin'));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${join(dir, 'weights.bin')}: file not found (a weight shard listed in ${path})`));
  });

  it('a missing model.json', async () => {
    const path = join(dir, 'nothing.json');
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: file not found`));
  });

  it('malformed JSON', async () => {
    const path = join(dir, 'model.json');
    await writeFile(path, '{"modelTopology": {');
    const error = await loadTfjsModelFile(path).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(InputError);
    expect((error as Error).message).toMatch(new RegExp(`^${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: expected a JSON model\\.json \\(TF\\.js Layers format\\), found malformed JSON: `));
    expect((error as Error).message).not.toContain('\n');
  });

  it('JSON that is not a Layers model', async () => {
    const path = join(dir, 'model.json');
    await writeFile(path, JSON.stringify({ format: 'graph-model', modelTopology: {}, weightsManifest: [] }));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: format: expected 'layers-model' (a TF.js Layers model), found "graph-model"`));
    await writeFile(path, JSON.stringify([1, 2]));
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: expected a JSON object (a TF.js Layers model.json), found an array`));
  });

  it('a weight file of the wrong length', async () => {
    const path = await mlpCopy();
    await truncate(join(dir, 'weights.bin'), 210600 - 4);
    await expect(loadTfjsModelFile(path)).rejects.toThrow(
      new InputError(`${path}: weightsManifest: expected 210600 bytes of weight data for 6 weights, found 210596 in 'weights.bin'`),
    );
  });

  it('a manifest that does not match the model (a missing weight)', async () => {
    const path = await mlpCopy((json) => {
      const weights = json.weightsManifest[0].weights;
      weights.splice(weights.length - 1, 1); // drop dense_3/bias
    });
    await truncate(join(dir, 'weights.bin'), 210600 - 40);
    // Found before TF.js allocates anything: every weight a layer creates must be in the manifest.
    await expect(loadTfjsModelFile(path)).rejects.toThrow(new InputError(`${path}: weightsManifest: expected a weight 'dense_3/bias' of shape [10] for layer 2, found none`));
  });

  it('parseTfjsModel names the given source', async () => {
    const json = JSON.parse(await readFile(MLP, 'utf8'));
    json.modelTopology.config.layers[2].class_name = 'Conv3D';
    await expect(parseTfjsModel(json, new ArrayBuffer(210600), 'upload/model.json')).rejects.toThrow(/^upload\/model\.json: layer 2 \('dense_3'\): unsupported layer class 'Conv3D'/);
  });
});
