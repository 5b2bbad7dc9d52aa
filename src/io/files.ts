// Node-only file helpers: reading inputs (regular files only, their size known before a byte is
// read, weight shards kept inside their model's folder) with errors that name the path, and
// writing a set of outputs so that a failure never leaves a half-written file under a final name
// and no output ever lands on an input (outputGuard.ts).
import { randomBytes } from 'node:crypto';
import { constants, rmdirSync, rmSync, type Stats } from 'node:fs';
import { access, open, realpath, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { InputError } from '../errors.js';
import { parseNpy, type NpyArray, type ParseNpyOptions } from './npy.js';
import { isZip, parseNpz } from './npz.js';

/** The longest path accepted (Linux's PATH_MAX); longer ones, and NUL bytes, are refused up front. */
export const MAX_PATH_BYTES = 4096;

/** Refuses a path the file system would reject or misread: a NUL byte, or longer than MAX_PATH_BYTES. */
export function checkPathText(path: string, what: string): void {
  if (path.length === 0) throw new InputError(`${what}: expected a file path, found an empty string`);
  if (path.includes('\0')) throw new InputError(`${what}: expected a file path, found one with a NUL byte`);
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_PATH_BYTES) throw new InputError(`${what}: expected a path of at most ${MAX_PATH_BYTES} bytes, found ${bytes}`);
}

/** What a non-regular file is, for messages. */
export function fileKind(info: Stats): string {
  if (info.isDirectory()) return 'a directory';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isFIFO()) return 'a named pipe';
  if (info.isSocket()) return 'a socket';
  return 'not a regular file';
}

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
    case 'ENAMETOOLONG':
      return 'a name in the path is longer than the file system allows';
    case 'ELOOP':
      return 'too many levels of symbolic links';
    case 'ENXIO':
    case 'ENODEV':
      return 'not a file that can be opened';
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

/** `error` (a file-system failure reading `path`) as an Error naming it, with `context` appended. */
function readError(path: string, error: unknown, context: string): Error {
  if (error instanceof InputError) return new InputError(error.message + context);
  const failure = pathError(path, 'read', error);
  return failure instanceof InputError ? new InputError(failure.message + context) : failure;
}

/** The largest file read whole (Node's Buffer limit), and the most one read call asks for. */
export const MAX_READ_BYTES = 2 ** 32;
const READ_CHUNK = 2 ** 30;

export interface ReadInputOptions {
  /** Appended to every message, e.g. " (a weight shard listed in model.json)". */
  context?: string;
  /** Refuse files larger than this (a file format whose files are never that large). */
  maxBytes?: number;
  /** The most one read call asks for (default 1 GiB; Node takes at most 2 GiB a call). */
  chunkBytes?: number;
}

/**
 * Opens an input file, which must be a regular file (after links): a device, pipe or directory is
 * refused before a byte is read (a pipe is opened without blocking); `read` gets it and its size
 * when opened. A failure is an error naming `path` (an InputError where the user can fix it).
 */
async function withInputFile<T>(path: string, options: ReadInputOptions, read: (handle: FileHandle, size: number) => Promise<T>): Promise<T> {
  const context = options.context ?? '';
  checkPathText(path, `input file${context}`);
  let handle;
  try {
    handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    throw readError(path, error, context);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw new InputError(`${path}: expected a regular file, found ${fileKind(info)}`);
    return await read(handle, info.size);
  } catch (error) {
    throw readError(path, error, context);
  } finally {
    await handle.close();
  }
}

/** Reads an input file whole (withInputFile's checks): exactly the size it has when opened, at most 4 GiB. */
export function readInputFile(path: string, options: ReadInputOptions = {}): Promise<Buffer> {
  return withInputFile(path, options, async (handle, size) => {
    if (options.maxBytes !== undefined && size > options.maxBytes) throw new InputError(`${path}: expected at most ${options.maxBytes} bytes, found ${size}`);
    if (size > MAX_READ_BYTES) throw new InputError(`${path}: ${size} bytes: expected at most ${MAX_READ_BYTES} (4 GiB, the largest buffer Node holds)`);
    const bytes = Buffer.allocUnsafe(size);
    await readAt(handle, path, bytes, 0, options.chunkBytes);
    return bytes;
  });
}

/** Fills `bytes` from `position` of an open file, in parts (one read call takes at most 2 GiB). */
async function readAt(handle: FileHandle, path: string, bytes: Uint8Array, position: number, chunk = READ_CHUNK): Promise<void> {
  let filled = 0;
  while (filled < bytes.length) {
    const { bytesRead } = await handle.read(bytes, filled, Math.min(bytes.length - filled, chunk), position + filled);
    if (bytesRead === 0) throw new InputError(`${path}: expected ${position + bytes.length} bytes, found ${position + filled}: the file shrank while being read`);
    filled += bytesRead;
  }
}

/**
 * Reads byte ranges of an input file (withInputFile's checks; it must hold them all): what a file
 * too large to hold whole gives its tensors (an ONNX data file past 4 GiB). Each range at most
 * 4 GiB; in the order given.
 */
export function readInputRanges(path: string, ranges: ReadonlyArray<{ offset: number; length: number }>, options: ReadInputOptions = {}): Promise<Uint8Array[]> {
  return withInputFile(path, options, async (handle, size) => {
    const end = ranges.reduce((most, r) => Math.max(most, r.offset + r.length), 0);
    if (size < end) throw new InputError(`${path}: expected at least ${end} bytes, found ${size}`);
    const big = ranges.find((r) => r.length > MAX_READ_BYTES);
    if (big) throw new InputError(`${path}: a range of ${big.length} bytes: expected at most ${MAX_READ_BYTES} (4 GiB, the largest buffer Node holds)`);
    const out: Uint8Array[] = [];
    for (const r of ranges) {
      const bytes = new Uint8Array(r.length);
      await readAt(handle, path, bytes, r.offset, options.chunkBytes);
      out.push(bytes);
    }
    return out;
  });
}

/** Reads and parses a .npy file; every error names `path`. */
export async function readNpyFile(path: string, options: ParseNpyOptions = {}): Promise<NpyArray> {
  return parseNpy(await readInputFile(path), path, options);
}

/** A samples file: one .npy array, or an .npz archive's arrays by name (a model of several inputs). */
export async function readSamplesFile(path: string): Promise<NpyArray | Map<string, NpyArray>> {
  const bytes = await readInputFile(path);
  return isZip(bytes) ? parseNpz(bytes, path) : parseNpy(bytes, path);
}

/**
 * A data file `listed` in the model file `listedIn` (a TF.js weight shard, an ONNX external data
 * file): relative to `folder`, and, after every link is followed, a regular file inside that
 * folder. Returns its real path and size, so the sizes the model file declares can be checked
 * before it is read. `field` names where the model lists it.
 */
export async function resolveListedFile(
  folder: string,
  listed: string,
  listedIn: string,
  field = 'weightsManifest path',
  kind = 'a weight shard',
): Promise<{ path: string; size: number }> {
  const what = `${listedIn}: ${field}`;
  checkPathText(listed, what);
  if (isAbsolute(listed)) throw new InputError(`${what} '${listed}': expected a path relative to the model's folder, found an absolute path`);
  const path = join(folder, listed);
  let real: string;
  let realFolder: string;
  try {
    [realFolder, real] = [await realpath(folder), await realpath(path)];
  } catch (error) {
    throw readError(path, error, ` (${kind} listed in ${listedIn})`);
  }
  const inside = relative(realFolder, real);
  if (inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || isAbsolute(inside))
    throw new InputError(`${what} '${listed}': expected a file inside the model's folder ${realFolder}, found ${real}`);
  const info = await stat(real);
  if (!info.isFile()) throw new InputError(`${what} '${listed}': expected a regular file, found ${fileKind(info)}`);
  return { path: real, size: info.size };
}

export interface FileToWrite {
  path: string;
  bytes: Uint8Array;
}

/** Temporary files written and not yet renamed into place or removed, for a forced exit to remove. */
const pendingTemporaryFiles = new Set<string>();
/** Folders made for outputs not yet written, outermost first (outputGuard.ts's makeFolder). */
export const pendingFolders: string[] = [];

/**
 * Removes, synchronously, every temporary file a write in progress holds and the folders made for
 * it (a process exiting on a second Ctrl-C, or a write that outlasts the grace after the first).
 */
export function removePendingTemporaryFiles(): void {
  for (const temp of pendingTemporaryFiles) rmSync(temp, { force: true });
  pendingTemporaryFiles.clear();
  for (const folder of pendingFolders.splice(0).reverse()) {
    try {
      rmdirSync(folder);
    } catch {
      // not empty or gone: leave it
    }
  }
}

/**
 * Writes every file to a temporary name in its target's directory (so the rename cannot cross a
 * file system), synced to disk, then renames them all into place. If any write fails, or `signal`
 * is aborted before the renames, the temporary files are removed and no target is touched. Each
 * rename is atomic; the set is not (a failure between two renames, e.g. a vanished directory,
 * leaves the earlier ones done).
 */
export async function writeFilesAtomically(files: readonly FileToWrite[], signal?: AbortSignal): Promise<void> {
  const pending: { temp: string; path: string }[] = [];
  try {
    for (const { path, bytes } of files) {
      signal?.throwIfAborted();
      const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
      let handle;
      try {
        // 'wx': never reuse (or follow a link at) an existing name.
        handle = await open(temp, 'wx');
        pending.push({ temp, path });
        pendingTemporaryFiles.add(temp);
        await handle.writeFile(bytes);
        await handle.sync();
      } catch (error) {
        throw pathError(path, 'write', error);
      } finally {
        await handle?.close();
      }
    }
    signal?.throwIfAborted();
    while (pending.length > 0) {
      const { temp, path } = pending[0];
      try {
        await rename(temp, path);
      } catch (error) {
        throw pathError(path, 'write', error);
      }
      pending.shift();
      pendingTemporaryFiles.delete(temp);
    }
  } finally {
    // Only the files not renamed into place are left here (all of them after a write failure).
    await Promise.all(pending.map(({ temp }) => rm(temp, { force: true })));
    for (const { temp } of pending) pendingTemporaryFiles.delete(temp);
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
