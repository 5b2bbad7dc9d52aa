// The built library imported by a program of its own (not vitest's process, whose TF.js runs in
// its test mode): what such a program sees on its console and in its TF.js.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const MLP = join(root, 'test', 'fixtures', 'mnist-mlp', 'model.json');

describe('the library in a program of its own', () => {
  it('reads and writes a TF.js model without TF.js\'s "install our node backend" hint, leaving TF.js\'s flags alone', () => {
    const index = join(root, 'dist', 'node', 'index.js');
    const script = `import * as tf from '@tensorflow/tfjs';
      import { loadTfjsModelFile, writeTfjsModel } from ${JSON.stringify(index)};
      const handle = await loadTfjsModelFile(${JSON.stringify(MLP)});
      await writeTfjsModel(handle, handle.network);
      console.log('ok', tf.env().getBool('PROD'));`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', cwd: root });
    expect(run.stdout.trim()).toBe('ok false');
    expect(run.stderr).not.toMatch(/node backend|tfjs-node/);
  });
});
