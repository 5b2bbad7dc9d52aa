// Node-only helpers for ONNX model files: read and parse with errors naming the path, and write a
// (pruned) network back into its model atomically (temporary file, then rename).
import { readFile } from 'node:fs/promises';
import { InputError } from '../errors.js';
import type { Network } from '../network/types.js';
import { writeFilesAtomically } from './files.js';
import { parseOnnxModel, writeOnnxModel, type OnnxModelHandle } from './onnxModel.js';

const READ_ERRORS: Record<string, string> = {
  ENOENT: 'file not found',
  EISDIR: 'cannot read: is a directory, expected a file',
  ENOTDIR: 'cannot read: a parent of the path is not a directory',
  EACCES: 'cannot read: permission denied',
  EPERM: 'cannot read: permission denied',
};

/** Reads and parses an ONNX model file; every error names `path`. */
export async function loadOnnxModelFile(path: string): Promise<OnnxModelHandle> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    const reason = READ_ERRORS[(error as NodeJS.ErrnoException).code ?? ''];
    if (reason) throw new InputError(`${path}: ${reason}`);
    throw new Error(`${path}: cannot read: ${(error as Error).message}`, { cause: error });
  }
  return parseOnnxModel(bytes, path);
}

/**
 * Writes the model of `handle` with the weights of `network` (see writeOnnxModel) to `path`,
 * through a temporary file and a rename, so `path` is never left half-written.
 */
export async function saveOnnxModelFile(handle: OnnxModelHandle, network: Network, path: string): Promise<void> {
  const bytes = writeOnnxModel(handle, network);
  await writeFilesAtomically([{ path, bytes }]);
}
