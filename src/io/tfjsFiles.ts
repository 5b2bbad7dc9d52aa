// Node-only file helpers for TF.js Layers models: model.json and its weight shards in, model.json
// and one weights.bin out (written atomically). The format itself is in tfjsModel.ts.
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import type { Network } from '../network/types.js';
import { readInputFile, resolveListedFile, writeFilesAtomically } from './files.js';
import type { InputSizes } from './inputSizes.js';
import { checkTfjsModelJson, parseTfjsModel, writeTfjsModel, type TfjsModelHandle } from './tfjsModel.js';

/** A model.json is topology and a manifest: larger than this, it is not one. */
const MAX_MODEL_JSON_BYTES = 64 * 2 ** 20;

/**
 * Reads a TF.js Layers model from its model.json and the weight shards it lists (paths relative
 * to the model.json's folder, concatenated in manifest order). The model.json's structure is
 * checked first, and every shard must be a regular file inside the model's folder whose sizes add
 * up to what the manifest declares, before a byte of them is read. Every error names the file.
 * `files` receives the real paths of the shards.
 */
export async function loadTfjsModelFile(modelJsonPath: string, files: string[] = [], sizes?: InputSizes): Promise<TfjsModelHandle> {
  const text = (await readInputFile(modelJsonPath, { maxBytes: MAX_MODEL_JSON_BYTES })).toString('utf8');
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${modelJsonPath}: expected a JSON model.json (TF.js Layers format), found malformed JSON: ${(error as Error).message}`);
  }
  const { bytes, paths, specs } = checkTfjsModelJson(modelJson, modelJsonPath, sizes);
  const folder = dirname(modelJsonPath);
  const shards = [];
  for (const listed of paths) shards.push(await resolveListedFile(folder, listed, modelJsonPath));
  const total = shards.reduce((n, shard) => n + shard.size, 0);
  if (total !== bytes)
    throw new InputError(`${modelJsonPath}: weightsManifest: expected ${bytes} bytes of weight data for ${specs.length} weights, found ${total} in ${paths.map((p) => `'${p}'`).join(', ') || 'no files'}`);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    const data = await readInputFile(shard.path, { context: ` (a weight shard listed in ${modelJsonPath})` });
    if (offset + data.length > total) throw new InputError(`${shard.path}: grew while being read (a weight shard listed in ${modelJsonPath})`);
    weightData.set(data, offset);
    offset += data.length;
    files.push(shard.path);
  }
  return parseTfjsModel(modelJson, weightData.buffer, modelJsonPath, sizes);
}

/**
 * Writes the model read as `handle` with `network`'s weights to `outDir`/model.json and
 * `outDir`/weights.bin, each through a temporary file and a rename. Returns the two paths.
 */
export async function saveTfjsModelFiles(handle: TfjsModelHandle, network: Network, outDir: string): Promise<{ modelJsonPath: string; weightsPath: string }> {
  const { modelJson, weightData } = await writeTfjsModel(handle, network);
  const modelJsonPath = join(outDir, 'model.json');
  const weightsPath = join(outDir, 'weights.bin');
  await writeFilesAtomically([
    { path: weightsPath, bytes: weightData },
    { path: modelJsonPath, bytes: new TextEncoder().encode(modelJson) },
  ]);
  return { modelJsonPath, weightsPath };
}
