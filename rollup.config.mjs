import typescript from '@rollup/plugin-typescript';
import { wgsl } from './build/wgsl-plugin.mjs';

// Node keeps its dependencies external; the browser bundle must not touch Node built-ins.
const nodeExternal = (id) => /^node:/.test(id) || ['webgpu', 'commander', '@tensorflow/tfjs', 'onnx-proto'].includes(id);

export default [
  {
    input: { index: 'src/node.ts', cli: 'src/cli/main.ts', internals: 'src/internals.ts' },
    output: { dir: 'dist/node', format: 'es', sourcemap: true, banner: (chunk) => (chunk.name === 'cli' ? '#!/usr/bin/env node' : '') },
    external: nodeExternal,
    plugins: [wgsl(), typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist/node' })],
  },
  {
    input: 'src/index.ts',
    output: { file: 'dist/browser/index.js', format: 'es', sourcemap: true },
    // `webgpu` is only imported when there is no navigator.gpu (i.e. in Node).
    external: ['webgpu', '@tensorflow/tfjs', 'onnx-proto'],
    plugins: [wgsl(), typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist/browser' })],
  },
];
