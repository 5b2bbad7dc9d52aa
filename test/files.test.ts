import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { MAX_PATH_BYTES, MAX_READ_BYTES, readInputFile, readNpyFile, resolveListedFile, writeFilesAtomically } from '../src/io/files.js';
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
    await expect(readNpyFile(dir)).rejects.toThrow(new InputError(`${dir}: expected a regular file, found a directory`));
  });

  it('refuses a device or a named pipe before reading a byte (no endless read, no blocking open)', async () => {
    await expect(readNpyFile('/dev/zero')).rejects.toThrow(new InputError('/dev/zero: expected a regular file, found a character device'));
    const fifo = join(dir, 'pipe.npy');
    execFileSync('mkfifo', [fifo]);
    await expect(readNpyFile(fifo)).rejects.toThrow(new InputError(`${fifo}: expected a regular file, found a named pipe`));
  });

  it('refuses a path with a NUL byte or longer than the file system takes, as bad input', async () => {
    await expect(readNpyFile(`${dir}/a\0b.npy`)).rejects.toThrow(new InputError('input file: expected a file path, found one with a NUL byte'));
    await expect(readNpyFile(`${dir}/${'x'.repeat(MAX_PATH_BYTES)}.npy`)).rejects.toThrow(/^input file: expected a path of at most 4096 bytes, found \d+$/);
  });
});

describe('readInputFile: large files', () => {
  it('reads a file in parts (Node takes at most 2 GiB a read call; the default part is 1 GiB)', async () => {
    const path = join(dir, 'model.onnx.data');
    const data = Uint8Array.from({ length: 10_001 }, (_, i) => (i * 7) % 251);
    await writeFile(path, data);
    expect(new Uint8Array(await readInputFile(path, { chunkBytes: 4096 }))).toEqual(data);
  });

  it('refuses a file over 4 GiB (Node\'s largest buffer) before reading, naming it and its size', async () => {
    const path = join(dir, 'huge.onnx.data');
    await writeFile(path, new Uint8Array(0));
    await truncate(path, MAX_READ_BYTES + 1);
    await expect(readInputFile(path)).rejects.toThrow(new InputError(`${path}: ${MAX_READ_BYTES + 1} bytes: expected at most ${MAX_READ_BYTES} (4 GiB, the largest buffer Node holds)`));
  });
});

describe('weight shards listed in a model file', () => {
  it('resolve inside the model\'s folder to a regular file, with its size', async () => {
    await mkdir(join(dir, 'model'));
    await writeFile(join(dir, 'model', 'w.bin'), new Uint8Array(12));
    expect(await resolveListedFile(join(dir, 'model'), './w.bin', 'm.json')).toEqual({ path: join(dir, 'model', 'w.bin'), size: 12 });
  });

  it('refuse paths out of the folder (by .., an absolute path or a link), devices and folders', async () => {
    const model = join(dir, 'model');
    await mkdir(join(model, 'sub'), { recursive: true });
    await writeFile(join(dir, 'outside.bin'), 'x');
    await symlink(join(dir, 'outside.bin'), join(model, 'link.bin'));
    await symlink('/dev/zero', join(model, 'zero.bin'));
    const outside = `expected a file inside the model's folder ${model}, found`;
    await expect(resolveListedFile(model, '../outside.bin', 'm.json')).rejects.toThrow(`m.json: weightsManifest path '../outside.bin': ${outside} ${join(dir, 'outside.bin')}`);
    await expect(resolveListedFile(model, 'link.bin', 'm.json')).rejects.toThrow(`m.json: weightsManifest path 'link.bin': ${outside} ${join(dir, 'outside.bin')}`);
    await expect(resolveListedFile(model, '../../../dev/zero', 'm.json')).rejects.toThrow(`${outside} /dev/zero`);
    await expect(resolveListedFile(model, 'zero.bin', 'm.json')).rejects.toThrow(`${outside} /dev/zero`);
    await expect(resolveListedFile(model, '/etc/passwd', 'm.json')).rejects.toThrow("m.json: weightsManifest path '/etc/passwd': expected a path relative to the model's folder, found an absolute path");
    await expect(resolveListedFile(model, 'sub', 'm.json')).rejects.toThrow("m.json: weightsManifest path 'sub': expected a regular file, found a directory");
    await expect(resolveListedFile(model, 'a\0b', 'm.json')).rejects.toThrow(InputError);
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
