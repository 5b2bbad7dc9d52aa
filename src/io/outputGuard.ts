// No output may land on an input. A command names its input files (the model, its weight shards,
// the samples, the labels); each output path is then compared with them after every link and
// `..` is resolved, by real path and by inode (a hard link, or a folder reached twice through a
// symlink, is the same file under another name). The check runs before the solves, so a clash
// costs nothing, and again just before writing, against the folders as they are then.
import { lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { InputError } from '../errors.js';
import { checkPathText } from './files.js';

interface Identity {
  path: string;
  real: string;
  dev: number;
  ino: number;
}

async function identityOf(path: string): Promise<Identity | null> {
  try {
    const real = await realpath(path);
    const info = await stat(real);
    return { path, real, dev: info.dev, ino: info.ino };
  } catch {
    return null;
  }
}

/** How many missing folders an output path may add below its nearest existing one. */
const MAX_NEW_FOLDERS = 64;

/**
 * The real path `path` will have once its missing folders are made: the real path of its nearest
 * existing ancestor (after links), then the missing names. `option` names it in errors.
 */
export async function realPathToBe(path: string, option: string): Promise<{ real: string; existing: string; missing: string[] }> {
  checkPathText(path, option);
  let existing = resolve(path);
  const missing: string[] = [];
  while (!(await lstat(existing).catch(() => null))) {
    const parent = dirname(existing);
    if (parent === existing) break;
    missing.unshift(basename(existing));
    existing = parent;
    if (missing.length > MAX_NEW_FOLDERS) throw new InputError(`${option} ${path}: expected at most ${MAX_NEW_FOLDERS} folders to create, found more`);
  }
  let real: string;
  try {
    real = await realpath(existing);
  } catch {
    throw new InputError(`${option} ${path}: cannot resolve ${existing} (a link to nowhere, or no permission)`);
  }
  return { real: join(real, ...missing), existing, missing };
}

export class OutputGuard {
  private constructor(private readonly inputs: Identity[]) {}

  /** The guard of these input files (those that do not exist are not inputs to protect). */
  static async of(inputs: ReadonlyArray<string | undefined>): Promise<OutputGuard> {
    const identities = await Promise.all(inputs.filter((p): p is string => p !== undefined).map(identityOf));
    return new OutputGuard(identities.filter((i): i is Identity => i !== null));
  }

  /**
   * Throws an InputError naming `option` if writing `target` would replace an input file (same
   * real path) or write onto one (same inode, e.g. a hard link); returns the real path to write.
   */
  async check(target: string, option: string): Promise<string> {
    const { real: folder } = await realPathToBe(dirname(resolve(target)), option);
    const real = join(folder, basename(target));
    const existing = await identityOf(real);
    for (const input of this.inputs) {
      if (input.real === real || (existing && existing.dev === input.dev && existing.ino === input.ino))
        throw new InputError(`${option} ${target}: refusing to write there: it is the input file ${input.path}${input.real !== input.path ? ` (${input.real})` : ''}; choose another output`);
    }
    return real;
  }
}

/**
 * Refuses (InputError naming `option`) an output folder that resolves to one of `forbidden` (the
 * model's own folder), after links; returns its real path to be.
 */
export async function refuseFolders(dir: string, option: string, forbidden: ReadonlyArray<{ folder: string; reason: string }>): Promise<string> {
  const { real } = await realPathToBe(dir, option);
  for (const { folder, reason } of forbidden) {
    const other = await realpath(folder).catch(() => resolve(folder));
    if (other === real) throw new InputError(`${option}: refusing to write into ${reason} (${real}): choose another folder`);
  }
  return real;
}

/**
 * Makes `dir` and its missing parents one at a time (a recursive mkdir can spin on file systems
 * such as /proc), refusing with an InputError naming `option` what cannot be made. Returns the
 * folders it made, outermost first (to remove if what goes in them fails).
 */
export async function makeFolder(dir: string, option: string): Promise<string[]> {
  const made: string[] = [];
  const { existing, missing } = await realPathToBe(dir, option);
  const info = await stat(existing).catch(() => null);
  if (!info?.isDirectory()) throw new InputError(`${option} ${dir}: expected a folder, found a file at ${existing}`);
  let path = existing;
  for (const name of missing) {
    path = join(path, name);
    try {
      await mkdir(path);
      made.push(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' && (await stat(path).catch(() => null))?.isDirectory()) continue;
      throw new InputError(`${option} ${dir}: cannot create the folder ${path}: ${code ?? (error as Error).message}`);
    }
  }
  return made;
}
