// First run on a fresh machine against a warm one (issue 17 item 3), side by side: the CLI's
// prune of a bundled model, alternately with Mesa's shader cache off (MESA_SHADER_CACHE_DISABLE:
// every pipeline compiled again, as on a fresh machine) and on (compiled code from disk), after one
// run that fills the cache. Prints medians and their ratio; --json writes them.
// Only Mesa's drivers (lavapipe) read that variable: on another adapter both columns are warm.
//   node bench/firstRun.mjs [--model mlp|cnn] [--repeats 3] [--json file]   (after npm run build)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command } from 'commander';
import { writeAtomically } from './lib.mjs';
import { median } from './measure.mjs';

const root = fileURLToPath(new URL('..', import.meta.url));
const MODELS = {
  // The README's `npm start`.
  mlp: ['test/fixtures/mnist-mlp/model.json', '500'],
  cnn: ['test/fixtures/mnist-cnn/model.json', '20'],
};
const opts = new Command()
  .option('--model <name>', `one of ${Object.keys(MODELS).join(', ')}`, 'mlp')
  .option('--repeats <n>', 'fresh and warm runs each (median reported)', (v) => parseInt(v, 10), 3)
  .option('--json <file>', 'write the results here')
  .parse()
  .opts();
if (!MODELS[opts.model]) throw new Error(`--model: expected one of ${Object.keys(MODELS).join(', ')}, got ${opts.model}`);
const [model, samples] = MODELS[opts.model];

function prune(fresh) {
  const out = mkdtempSync(join(tmpdir(), 'net-trim-first-run-'));
  const args = ['dist/node/cli.js', 'prune', model, '--samples', 'test/fixtures/mnist-samples.npy', '--labels', 'test/fixtures/mnist-labels.npy',
    '--max-samples', samples, '--epsilon-gain', '0.04', '--out', join(out, 'model'), '--quiet'];
  const env = { ...process.env, ...(fresh ? { MESA_SHADER_CACHE_DISABLE: 'true' } : {}) };
  const started = performance.now();
  const run = spawnSync(process.execPath, args, { cwd: root, env, encoding: 'utf8' });
  const seconds = (performance.now() - started) / 1000;
  rmSync(out, { recursive: true, force: true });
  if (run.status !== 0) throw new Error(`prune exited ${run.status}: ${run.stderr}`);
  return seconds;
}

prune(false); // fills the cache
const fresh = [];
const warm = [];
for (let r = 0; r < opts.repeats; r++) {
  fresh.push(prune(true));
  warm.push(prune(false));
  console.log(`repeat ${r + 1}: fresh ${fresh[r].toFixed(2)} s, warm ${warm[r].toFixed(2)} s`);
}
const result = { model: opts.model, repeats: opts.repeats, freshSeconds: median(fresh), warmSeconds: median(warm), ratio: median(fresh) / median(warm), fresh, warm };
console.log(`${opts.model}: fresh ${result.freshSeconds.toFixed(2)} s, warm ${result.warmSeconds.toFixed(2)} s (medians of ${opts.repeats}); fresh ÷ warm ${result.ratio.toFixed(2)}`);
if (opts.json) writeAtomically(opts.json, `${JSON.stringify({ date: new Date().toISOString(), ...result }, null, 2)}\n`);
