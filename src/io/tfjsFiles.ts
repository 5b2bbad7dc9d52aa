// Node-only file helpers for TF.js Layers models: model.json and its weight shards in, model.json
// and one weights.bin out (written atomically). The format itself is in tfjsModel.ts.
import { dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import type { Network } from '../network/types.js';
import { readInputFile, writeFilesAtomically } from './files.js';
import { parseTfjsModel, shardPaths, writeTfjsModel, type TfjsModelHandle } from './tfjsModel.js';

/**
 * Reads a TF.js Layers model from its model.json and the weight shards it lists (paths relative
 * to the model.json's folder, concatenated in manifest order). Every error names the file.
 */
export async function loadTfjsModelFile(modelJsonPath: string): Promise<TfjsModelHandle> {
  const text = (await readInputFile(modelJsonPath)).toString('utf8');
  let modelJson: unknown;
  try {
    modelJson = JSON.parse(text);
  } catch (error) {
    throw new InputError(`${modelJsonPath}: expected a JSON model.json (TF.js Layers format), found malformed JSON: ${(error as Error).message}`);
  }
  const folder = dirname(modelJsonPath);
  const shards: Buffer[] = [];
  for (const shard of shardPaths(modelJson)) shards.push(await readInputFile(join(folder, shard), ` (a weight shard listed in ${modelJsonPath})`));
  const total = shards.reduce((n, b) => n + b.length, 0);
  const weightData = new Uint8Array(total);
  let offset = 0;
  for (const shard of shards) {
    weightData.set(shard, offset);
    offset += shard.length;
  }
  return parseTfjsModel(modelJson, weightData.buffer, modelJsonPath);
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
