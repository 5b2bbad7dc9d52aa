import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { readNpyFile, writeFilesAtomically } from '../src/io/files.js';
import { serializeNpy } from '../src/io/npy.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'net-trim-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const encode = (text: string) => new TextEncoder().encode(text);

describe('readNpyFile', () => {
  it('reads a .npy file', async () => {
    const path = join(dir, 'a.npy');
    await writeFile(path, serializeNpy({ shape: [2], dtype: 'float64', data: Float64Array.from([1, 2]) }));
    expect([...(await readNpyFile(path)).data]).toEqual([1, 2]);
  });

  it('reports a missing file as "<path>: file not found"', async () => {
    const path = join(dir, 'missing.npy');
    await expect(readNpyFile(path)).rejects.toThrow(new InputError(`${path}: file not found`));
  });

  it('reports a directory with its path', async () => {
    await expect(readNpyFile(dir)).rejects.toThrow(new InputError(`${dir}: cannot read: is a directory, expected a file`));
  });

  it('names the path in parse errors', async () => {
    const path = join(dir, 'bad.npy');
    await writeFile(path, 'not numpy');
    await expect(readNpyFile(path)).rejects.toThrow(`${path}: magic: expected`);
  });
});

describe('writeFilesAtomically', () => {
  it('writes every file and leaves no temporary file', async () => {
    await writeFile(join(dir, 'b.txt'), 'old');
    await writeFilesAtomically([
      { path: join(dir, 'a.txt'), bytes: encode('first') },
      { path: join(dir, 'b.txt'), bytes: encode('second') },
    ]);
    expect((await readdir(dir)).sort()).toEqual(['a.txt', 'b.txt']);
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('first');
    expect(await readFile(join(dir, 'b.txt'), 'utf8')).toBe('second');
  });

  it('on a failed write, touches no target and removes its temporary files', async () => {
    await writeFile(join(dir, 'a.txt'), 'old');
    const missingDirectory = join(dir, 'missing', 'c.txt');
    await expect(
      writeFilesAtomically([
        { path: join(dir, 'a.txt'), bytes: encode('new') },
        { path: join(dir, 'b.txt'), bytes: encode('new') },
        { path: missingDirectory, bytes: encode('new') },
      ]),
    ).rejects.toThrow(new InputError(`${missingDirectory}: cannot write: its directory does not exist`));
    expect(await readdir(dir)).toEqual(['a.txt']);
    expect(await readFile(join(dir, 'a.txt'), 'utf8')).toBe('old');
  });

  it('on a failed rename, removes the temporary files not yet renamed', async () => {
    // A directory in the way of the second target: its temporary file is written, its rename fails.
    await mkdir(join(dir, 'b.txt'));
    await expect(
      writeFilesAtomically([
        { path: join(dir, 'a.txt'), bytes: encode('new') },
        { path: join(dir, 'b.txt'), bytes: encode('new') },
      ]),
    ).rejects.toThrow(join(dir, 'b.txt'));
    expect((await readdir(dir)).filter((name) => name.endsWith('.tmp'))).toEqual([]);
  });
});
