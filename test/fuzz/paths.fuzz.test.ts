// Property-based tests of the path rules: any shard path a model file may list resolves inside the
// model's folder to a regular file or is refused; any output path either is refused or resolves to
// a place that is none of the inputs (by real path or inode), through links, `..` and hard links.
import { existsSync, realpathSync, statSync } from 'node:fs';
import { link, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveListedFile } from '../../src/io/files.js';
import { OutputGuard } from '../../src/io/outputGuard.js';
import { Outcomes, runs } from './harness.js';

let root: string;
let model: string;
beforeAll(async () => {
  root = realpathSync(await mkdtemp(join(tmpdir(), 'net-trim-fuzz-paths-')));
  model = join(root, 'model');
  await mkdir(join(model, 'sub'), { recursive: true });
  await writeFile(join(model, 'w.bin'), new Uint8Array(8));
  await writeFile(join(model, 'sub', 'v.bin'), new Uint8Array(4));
  await writeFile(join(root, 'outside.bin'), new Uint8Array(4));
  await writeFile(join(root, 'samples.npy'), new Uint8Array(4));
  await symlink(join(root, 'outside.bin'), join(model, 'out-link'));
  await symlink('/dev/zero', join(model, 'zero'));
  await symlink('..', join(model, 'up'));
  await symlink(join(model, 'w.bin'), join(model, 'w-link'));
  await mkdir(join(root, 'out'));
  await symlink(model, join(root, 'model-link'));
  await link(join(model, 'w.bin'), join(root, 'out', 'hard.bin'));
  await symlink(join(root, 'samples.npy'), join(root, 'out', 'samples-link'));
});
afterAll(() => rm(root, { recursive: true, force: true }));

const components = ['w.bin', 'sub', 'v.bin', 'out-link', 'zero', 'up', 'w-link', '..', '.', '', 'model', 'model-link', 'out', 'hard.bin', 'samples-link', 'samples.npy', 'new', 'a\u0000b', 'x'.repeat(300)];
const relativePath = fc.oneof(
  fc.array(fc.constantFrom(...components), { minLength: 1, maxLength: 6 }).map((parts) => parts.join('/')),
  fc.string({ maxLength: 40 }),
  fc.constantFrom('/etc/passwd', '/dev/zero', '../../../../../../dev/zero', 'w'.repeat(5000)),
);

describe('fuzz: weight shard paths', () => {
  const outcomes = new Outcomes('shard paths');
  afterAll(() => outcomes.report());

  it(`${runs(1500)} listed paths resolve inside the model's folder to a regular file, or are refused`, { timeout: 300_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(relativePath, async (listed) => {
        await outcomes.run(async () => {
          const { path, size } = await resolveListedFile(model, listed, 'm.json');
          const inside = relative(model, path);
          expect(inside === '' || inside === '..' || inside.startsWith(`..${sep}`) || inside.startsWith(sep), `${listed} → ${path}`).toBe(false);
          expect(statSync(path).isFile()).toBe(true);
          expect(statSync(path).size).toBe(size);
        }, () => JSON.stringify(listed));
      }),
      { numRuns: runs(1500), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});

describe('fuzz: output paths', () => {
  const outcomes = new Outcomes('output paths');
  afterAll(() => outcomes.report());

  it(`${runs(1500)} output paths are refused or land on no input`, { timeout: 300_000 }, async () => {
    const inputs = [join(model, 'w.bin'), join(model, 'sub', 'v.bin'), join(root, 'samples.npy')];
    const guard = await OutputGuard.of(inputs);
    const identities = inputs.map((p) => ({ real: realpathSync(p), ino: statSync(p).ino }));
    await fc.assert(
      fc.asyncProperty(relativePath, async (target) => {
        await outcomes.run(async () => {
          const real = await guard.check(join(root, target), '--out');
          expect(identities.map((i) => i.real), target).not.toContain(real);
          if (existsSync(real)) expect(identities.map((i) => i.ino), target).not.toContain(statSync(real).ino);
        }, () => JSON.stringify(target));
      }),
      { numRuns: runs(1500), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});
