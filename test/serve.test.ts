// The demo server (web/serve.mjs) answers every request and keeps running: files that vanish,
// cannot be opened, are pipes, folders or links out of its folder get a 4xx, not a crash.
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../web/serve.mjs';

let root: string;
let server: { url: string; close: () => Promise<void> };
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'net-trim-serve-'));
  await mkdir(join(root, 'web'));
  await writeFile(join(root, 'web', 'index.html'), '<p>demo</p>');
  await writeFile(join(root, 'web', 'app.js'), 'console.log(1)');
  await writeFile(join(root, 'secret.txt'), 'outside');
  await symlink(join(root, 'secret.txt'), join(root, 'web', 'leak.txt'));
  await symlink(join(root, 'web', 'gone.js'), join(root, 'web', 'dangling.js'));
  await mkdir(join(root, 'web', 'folder'));
  execFileSync('mkfifo', [join(root, 'web', 'pipe.js')]);
  server = await startServer({ root: join(root, 'web'), port: 0 });
});
afterAll(async () => {
  await server?.close();
  await rm(root, { recursive: true, force: true });
});

const get = async (path: string) => {
  const response = await fetch(new URL(path, server.url));
  return { status: response.status, text: await response.text() };
};

describe('npm run serve', () => {
  it('serves files of its folder', async () => {
    expect(await get('/')).toEqual({ status: 200, text: '<p>demo</p>' });
    expect(await get('/app.js')).toEqual({ status: 200, text: 'console.log(1)' });
  });

  it('answers links out of its folder, dangling links, folders, pipes and traversals with 4xx, and keeps serving', async () => {
    expect((await get('/leak.txt')).status).toBe(403);
    expect((await get('/dangling.js')).status).toBe(404);
    expect((await get('/folder')).status).toBe(404);
    expect((await get('/pipe.js')).status).toBe(404);
    const traversal = await get('/%2e%2e/secret.txt'); // fetch resolves it to /secret.txt: not in the folder
    expect([403, 404]).toContain(traversal.status);
    expect(traversal.text).not.toContain('outside');
    expect((await get('/missing.js')).status).toBe(404);
    expect(await get('/app.js')).toEqual({ status: 200, text: 'console.log(1)' });
  });

  it('survives a file removed while requests for it come in', async () => {
    const requests = Array.from({ length: 20 }, (_, i) => get(i % 2 ? '/app.js' : '/index.html'));
    await rm(join(root, 'web', 'app.js'));
    const answers = await Promise.all(requests);
    for (const { status } of answers) expect([200, 404]).toContain(status);
    expect(await get('/')).toEqual({ status: 200, text: '<p>demo</p>' });
  });
});
