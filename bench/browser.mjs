#!/usr/bin/env node
// The WebGPU path timed inside a web page: the same problems and measurements as bench/run.mjs
// (bench/problems.mjs, bench/measure.mjs), run in headless Chromium on its own WebGPU adapter
// (SwiftShader on machines without a GPU: a second device beside Dawn-on-Vulkan in Node).
// Usage (after npm ci; needs Chromium, see README):
//   node bench/browser.mjs [--problems a,b] [--repeats 5] [--iterations 3] [--json f] [--readme]
// It bundles src/internals.ts for the browser into test-results/bench-browser/, serves that
// folder on 127.0.0.1 and reads the results back from the page.
import { Command } from 'commander';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup } from 'rollup';
import commonjs from '@rollup/plugin-commonjs';
import nodeResolve from '@rollup/plugin-node-resolve';
import typescript from '@rollup/plugin-typescript';
import { chromium } from 'playwright-core';
import { wgsl } from '../build/wgsl-plugin.mjs';
import { startServer } from '../web/serve.mjs';
import { replaceReadmeTable, resultsTable, writeAtomically } from './lib.mjs';
import { PROBLEMS, problemShape } from './problems.mjs';

// SwiftShader runs 20–40× slower than lavapipe here: the smaller problems by default.
const DEFAULT_PROBLEMS = ['dense-300x100-P10000', 'dense-784x300-P500', 'conv-3x3x8x16-P400'];

const program = new Command()
  .option('--problems <names>', `comma-separated, from: ${Object.keys(PROBLEMS).join(', ')}, or dense-<inputs>x<outputs>-P<samples>`, DEFAULT_PROBLEMS.join(','))
  .option('--repeats <n>', 'timed repeats per measurement (median reported)', (v) => parseInt(v, 10), 5)
  .option('--iterations <n>', 'GPU iterations per timed submit', (v) => parseInt(v, 10), 3)
  .option('--check-every <k>', 'iterations between host round trips in a real solve', (v) => parseInt(v, 10), 50)
  .option('--chromium <path>', 'the browser to run', process.env.CHROMIUM_PATH ?? '/usr/bin/chromium')
  .option('--json <file>', 'write results as JSON')
  .option('--readme', 'replace the browser table in bench/README.md')
  .parse();
const opts = program.opts();
const shapes = Object.fromEntries(opts.problems.split(',').map((name) => [name, problemShape(name)]));
for (const [name, shape] of Object.entries(shapes)) if (!shape || shape.samples === 'lenet') program.error(`--problems: unknown problem ${name} (lenet-fc1 runs in Node only; see --help)`);

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'test-results', 'bench-browser');
mkdirSync(out, { recursive: true });
console.error('bundling src/internals.ts for the browser …');
const bundle = await rollup({
  input: join(root, 'src/internals.ts'),
  external: ['webgpu'], // imported only where there is no navigator.gpu
  plugins: [wgsl(), nodeResolve({ browser: true, preferBuiltins: false }), commonjs(), typescript({ tsconfig: join(root, 'tsconfig.json'), declaration: false, outDir: out, sourceMap: false })],
  onwarn: (warning, warn) => (warning.code === 'CIRCULAR_DEPENDENCY' ? undefined : warn(warning)),
});
await bundle.write({ dir: out, format: 'es', entryFileNames: 'internals.js' });
await bundle.close();
for (const file of ['problems.mjs', 'measure.mjs']) copyFileSync(join(root, 'bench', file), join(out, file));
writeFileSync(join(out, 'index.html'), '<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>net-trim bench</title>\n');

const server = await startServer({ root: out, port: 0 });
const browser = await chromium.launch({ executablePath: opts.chromium, args: ['--headless=new', '--no-sandbox', '--enable-unsafe-webgpu', '--no-first-run', '--disable-background-networking'] });
let results;
let device;
try {
  const page = await browser.newPage();
  page.on('console', (message) => console.error(`[page] ${message.text()}`));
  page.setDefaultTimeout(0);
  await page.goto(new URL('index.html', server.url).href);
  ({ device, results } = await page.evaluate(
    async ({ shapes, repeats, iterations, checkEvery }) => {
      const lib = await import(new URL('./internals.js', location.href).href);
      const { makeProblem } = await import(new URL('./problems.mjs', location.href).href);
      const { measureGpu } = await import(new URL('./measure.mjs', location.href).href);
      const gpu = await lib.acquireGpu();
      const results = [];
      try {
        for (const [name, shape] of Object.entries(shapes)) {
          const entry = await measureGpu(lib, gpu, name, makeProblem(lib, shape), { repeats, iterations, checkEvery });
          console.log(JSON.stringify(entry));
          results.push(entry);
        }
      } finally {
        gpu.destroy();
      }
      return { device: `${gpu.adapterDescription}, in ${navigator.userAgent.match(/(Headless)?Chrome\/[\d.]+/)?.[0] ?? navigator.userAgent}`, results };
    },
    { shapes, repeats: opts.repeats, iterations: opts.iterations, checkEvery: opts.checkEvery },
  ));
} finally {
  await browser.close();
  await server.close();
}

const lines = resultsTable(
  results.map((r) => ({ ...r, backend: 'webgpu in Chromium' })),
  `Device: ${device}. Medians of ${opts.repeats} repeats (${opts.iterations} iterations per submit), measured in one run on ${new Date().toISOString().slice(0, 10)}.`,
);
console.log(lines.join('\n'));
if (opts.json) writeAtomically(opts.json, JSON.stringify({ device, results }, null, 2) + '\n');
if (opts.readme) replaceReadmeTable('browser', lines);
