// Node-only helpers for ONNX model files: read (with external data files) and parse with errors naming the path, and write a
// (pruned) network back into its model atomically (temporary file, then rename).
import type { Network } from '../network/types.js';
import { dirname } from 'node:path';
import { InputError } from '../errors.js';
import { readInputFile, readInputRanges, resolveListedFile, writeFilesAtomically } from './files.js';
import { rangeKey } from './onnx/externalData.js';
import type { InputSizes } from './inputSizes.js';
import { parseOnnxModelWithData, writeOnnxModel, type OnnxModelHandle } from './onnxModel.js';

/**
 * Reads and parses an ONNX model file and the external data files its tensors name (each inside
 * the model's folder, after links, and at least as long as its tensors' ranges before a byte of it
 * is read); every error names `path`. `dataFiles` holds the data files' real paths. `sizes`: for
 * input axes the model leaves open (inputSizes.ts).
 */
export async function loadOnnxModelFile(path: string, sizes?: InputSizes): Promise<OnnxModelHandle & { dataFiles: string[] }> {
  const folder = dirname(path);
  const dataFiles: string[] = [];
  const handle = await parseOnnxModelWithData(await readInputFile(path), path, async (location, needed, ranges) => {
    const file = await resolveListedFile(folder, location, path, "external_data 'location'", 'an external data file');
    if (file.size < needed)
      throw new InputError(`${file.path}: expected at least ${needed} bytes (the furthest tensor's offset + length in ${path}), found ${file.size}`);
    dataFiles.push(file.path);
    // Only the bytes the tensors read, by range: no limit on the file's size, none read twice.
    const context = ` (an external data file of ${path})`;
    const parts = await readInputRanges(file.path, ranges, { context });
    return new Map(ranges.map((r, k) => [rangeKey(r.offset, r.length), parts[k]]));
  }, sizes);
  return { ...handle, dataFiles };
}

/**
 * Writes the model of `handle` with the weights of `network` (see writeOnnxModel) to `path`,
 * through a temporary file and a rename, so `path` is never left half-written.
 */
export async function saveOnnxModelFile(handle: OnnxModelHandle, network: Network, path: string): Promise<void> {
  const bytes = writeOnnxModel(handle, network);
  await writeFilesAtomically([{ path, bytes }]);
}
