// Node-only helpers for ONNX model files: read and parse with errors naming the path, and write a
// (pruned) network back into its model atomically (temporary file, then rename).
import type { Network } from '../network/types.js';
import { readInputFile, writeFilesAtomically } from './files.js';
import { parseOnnxModel, writeOnnxModel, type OnnxModelHandle } from './onnxModel.js';

/** Reads and parses an ONNX model file; every error names `path`. */
export async function loadOnnxModelFile(path: string): Promise<OnnxModelHandle> {
  return parseOnnxModel(await readInputFile(path), path);
}

/**
 * Writes the model of `handle` with the weights of `network` (see writeOnnxModel) to `path`,
 * through a temporary file and a rename, so `path` is never left half-written.
 */
export async function saveOnnxModelFile(handle: OnnxModelHandle, network: Network, path: string): Promise<void> {
  const bytes = writeOnnxModel(handle, network);
  await writeFilesAtomically([{ path, bytes }]);
}
