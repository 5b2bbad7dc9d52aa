import { chmodSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import commonjs from '@rollup/plugin-commonjs';
import nodeResolve from '@rollup/plugin-node-resolve';
import typescript from '@rollup/plugin-typescript';
import { wgsl } from './build/wgsl-plugin.mjs';

// Node keeps its dependencies external; the browser bundle must not touch Node built-ins.
const nodeExternal = (id) => /^node:/.test(id) || ['webgpu', 'commander', 'cli-progress', '@tensorflow/tfjs', 'onnx-proto', 'onnxruntime-node', 'bullmq', 'ioredis', 'fflate'].includes(id);

/** The demo's folder; `--environment NET_TRIM_WEB_OUT:dir` builds it elsewhere (the browser tests do). */
const webOut = process.env.NET_TRIM_WEB_OUT || 'dist/web';

/** Files copied unchanged into the demo's folder: the page itself and the bundled MNIST models. */
const WEB_ASSETS = {
  'index.html': 'web/index.html',
  'style.css': 'web/style.css',
  'models/mnist-mlp/model.json': 'test/fixtures/mnist-mlp/model.json',
  'models/mnist-mlp/weights.bin': 'test/fixtures/mnist-mlp/weights.bin',
  'models/mnist-cnn/model.json': 'test/fixtures/mnist-cnn/model.json',
  'models/mnist-cnn/weights.bin': 'test/fixtures/mnist-cnn/weights.bin',
  'models/mnist-mlp.onnx': 'test/fixtures/mnist-mlp.onnx',
  'models/mnist-samples.npy': 'test/fixtures/mnist-samples.npy',
  'models/mnist-labels.npy': 'test/fixtures/mnist-labels.npy',
};

function copyAssets(assets) {
  return {
    name: 'copy-assets',
    buildStart() {
      for (const source of Object.values(assets)) this.addWatchFile(source);
    },
    generateBundle() {
      for (const [fileName, source] of Object.entries(assets)) this.emitFile({ type: 'asset', fileName, source: readFileSync(source) });
    },
  };
}

/** Resolves an import to a file of ours instead (e.g. a slimmer TF.js for the demo). */
function alias(map) {
  return {
    name: 'alias',
    resolveId(id) {
      return map[id] ? resolve(map[id]) : null;
    },
  };
}

/** `import version from 'virtual:net-trim-version'`: the package's version, for reports. */
function packageVersion() {
  const id = 'virtual:net-trim-version';
  return {
    name: 'package-version',
    resolveId: (source) => (source === id ? `\0${id}` : null),
    load: (source) => (source === `\0${id}` ? `export default ${JSON.stringify(JSON.parse(readFileSync('package.json', 'utf8')).version)};` : null),
  };
}

/**
 * The command's chunk executable (npm sets the bit when it links `bin` at install; a rebuild would
 * otherwise leave `npx net-trim` with "Permission denied").
 */
function executable(chunkName) {
  return {
    name: 'executable',
    writeBundle(options, bundle) {
      for (const chunk of Object.values(bundle)) if (chunk.type === 'chunk' && chunk.name === chunkName) chmodSync(join(options.dir, chunk.fileName), 0o755);
    },
  };
}

const configs = [
  {
    input: { index: 'src/node.ts', cli: 'src/cli/main.ts', internals: 'src/internalsNode.ts' },
    output: { dir: 'dist/node', format: 'es', sourcemap: true, banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '') },
    external: nodeExternal,
    plugins: [wgsl(), typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist/node' }), executable('cli')],
  },
  {
    // The library for web pages (ESM, for bundlers: TF.js, onnx-proto and fflate stay imports).
    input: 'src/index.ts',
    output: { file: 'dist/browser/index.js', format: 'es', sourcemap: true },
    // `webgpu` is only imported when there is no navigator.gpu (i.e. in Node).
    external: ['webgpu', '@tensorflow/tfjs', 'onnx-proto', 'fflate'],
    plugins: [wgsl(), typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist/browser' })],
  },
  {
    // The demo page (web/): everything bundled, TF.js and the protobuf codec included, so it runs
    // offline from any static server (`npm run serve`). The worker is a module worker beside app.js.
    input: { app: 'web/src/app.ts', worker: 'web/src/worker.ts' },
    output: { dir: webOut, format: 'es', chunkFileNames: '[name]-[hash].js' },
    external: ['webgpu'],
    onwarn(warning, warn) {
      // protobufjs's optional-require shim and TF.js's `this` at module scope are harmless here.
      if (warning.code === 'EVAL' || warning.code === 'THIS_IS_UNDEFINED' || warning.code === 'CIRCULAR_DEPENDENCY') return;
      warn(warning);
    },
    plugins: [
      wgsl(),
      alias({ '@tensorflow/tfjs': 'web/src/tfjs-lite.ts' }),
      packageVersion(),
      nodeResolve({ browser: true, preferBuiltins: false }),
      commonjs(),
      typescript({ tsconfig: './web/tsconfig.json', noEmit: false, declaration: false, outDir: webOut, sourceMap: false, include: ['web/src/**/*.ts', 'src/**/*.ts'] }),
      copyAssets(WEB_ASSETS),
    ],
  },
];

// `rollup -c --environment NET_TRIM_BUILD:web` builds the demo alone (npm run test:browser).
export default process.env.NET_TRIM_BUILD === 'web' ? configs.filter((c) => c.output.dir === webOut) : configs;
