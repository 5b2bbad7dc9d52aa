// Node-only file helpers: reading .npy inputs with errors that name the path, and writing a set
// of outputs so that a failure never leaves a half-written file under a final name.
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, open, readFile, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { InputError } from '../errors.js';
import { parseNpy, type NpyArray, type ParseNpyOptions } from './npy.js';

type FileAction = 'read' | 'write';

/** A short reason for the common file-system errors, or null for the unexpected ones. */
function describeFsError(error: unknown, action: FileAction): string | null {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'ENOENT':
      return action === 'read' ? 'file not found' : 'its directory does not exist';
    case 'EISDIR':
      return 'is a directory, expected a file';
    case 'ENOTDIR':
      return 'a parent of the path is not a directory';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on the device';
    default:
      return null;
  }
}

/** A file-system error as an Error naming `path`: an InputError where the user can fix it. */
function pathError(path: string, action: FileAction, error: unknown): Error {
  const reason = describeFsError(error, action);
  if (reason === 'file not found') return new InputError(`${path}: file not found`);
  if (reason) return new InputError(`${path}: cannot ${action}: ${reason}`);
  return new Error(`${path}: cannot ${action}: ${(error as Error).message}`, { cause: error });
}

/**
 * Reads an input file; a failure is an error naming `path` (an InputError where the user can fix
 * it), with `context` appended, e.g. " (a weight shard listed in model.json)".
 */
export async function readInputFile(path: string, context = ''): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    const failure = pathError(path, 'read', error);
    if (failure instanceof InputError) throw new InputError(failure.message + context);
    throw failure;
  }
}

/** Reads and parses a .npy file; every error names `path`. */
export async function readNpyFile(path: string, options: ParseNpyOptions = {}): Promise<NpyArray> {
  return parseNpy(await readInputFile(path), path, options);
}

export interface FileToWrite {
  path: string;
  bytes: Uint8Array;
}

/**
 * Writes every file to a temporary name in its target's directory (so the rename cannot cross a
 * file system), synced to disk, then renames them all into place. If any write fails, the
 * temporary files are removed and no target is touched. Each rename is atomic; the set is not
 * (a failure between two renames, e.g. a vanished directory, leaves the earlier ones done).
 */
export async function writeFilesAtomically(files: readonly FileToWrite[]): Promise<void> {
  const pending: { temp: string; path: string }[] = [];
  try {
    for (const { path, bytes } of files) {
      const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      let handle;
      try {
        // 'wx': never reuse (or follow a link at) an existing name.
        handle = await open(temp, 'wx');
        pending.push({ temp, path });
        await handle.writeFile(bytes);
        await handle.sync();
      } catch (error) {
        throw pathError(path, 'write', error);
      } finally {
        await handle?.close();
      }
    }
    while (pending.length > 0) {
      const { temp, path } = pending[0];
      try {
        await rename(temp, path);
      } catch (error) {
        throw pathError(path, 'write', error);
      }
      pending.shift();
    }
  } finally {
    // Only the files not renamed into place are left here (all of them after a write failure).
    await Promise.all(pending.map(({ temp }) => rm(temp, { force: true })));
  }
}

/**
 * Checks, before any long computation, that `path` could be written: its directory exists and is
 * writable, and the path is not a directory. Throws an InputError naming the path otherwise.
 */
export async function assertWritable(path: string): Promise<void> {
  try {
    await access(dirname(path), constants.W_OK);
  } catch (error) {
    throw pathError(path, 'write', error);
  }
  const existing = await stat(path).catch(() => null);
  if (existing?.isDirectory()) throw new InputError(`${path}: cannot write: is a directory, expected a file`);
}
