#!/usr/bin/env node
// Layer-solver benchmark: the same ADMM problems on our WebGPU path and the float64 CPU reference,
// side by side in one process. Usage:
//   npm run bench -- [--problems a,b] [--repeats 5] [--iterations 3] [--json out.json] [--readme]
// Times are medians over repeats; ratios compare numbers measured in this same run.
import { Command } from 'commander';
import { numpyBaseline, torchBaseline } from './baselines.mjs';
import { replaceReadmeTable, resultsTable, writeAtomically } from './lib.mjs';
import { measureGpu, median } from './measure.mjs';
import { DEFAULT_PROBLEMS, PROBLEMS, makeProblem, problemShape } from './problems.mjs';
import * as lib from '../dist/node/internals.js';

const program = new Command()
  .option('--problems <names>', `comma-separated, from: ${Object.keys(PROBLEMS).join(', ')}, or dense-<inputs>x<outputs>-P<samples>`, DEFAULT_PROBLEMS.join(','))
  .option('--lenet-samples <P>', 'samples of the lenet-fc1 problem', (v) => parseInt(v, 10), 55000)
  .option('--repeats <n>', 'timed repeats per measurement (median reported)', (v) => parseInt(v, 10), 5)
  .option('--iterations <n>', 'GPU iterations per timed submit', (v) => parseInt(v, 10), 3)
  .option('--cpu-repeats <n>', 'timed CPU iterations (the float64 reference is slow)', (v) => parseInt(v, 10), 2)
  .option('--check-every <k>', 'iterations between host round trips in a real solve', (v) => parseInt(v, 10), 50)
  .option('--no-cpu', 'skip the CPU reference')
  .option('--no-numpy', 'skip the numpy baseline (bench/numpy_admm.py; needs python3 with numpy)')
  .option('--torch', 'also run the PyTorch CUDA port (bench/torch_admm.py, float32, tf32 and float64; needs torch with CUDA)')
  .option('--json <file>', 'write results as JSON')
  .option('--readme [table]', 'replace a table in bench/README.md: results (default) or lenet')
  .parse();
const opts = program.opts();

const shapes = Object.fromEntries(opts.problems.split(',').map((name) => [name, problemShape(name)]));
for (const [name, shape] of Object.entries(shapes)) if (!shape) program.error(`--problems: unknown problem ${name} (see --help)`);

const results = [];
const gpu = await lib.acquireGpu();
const device = gpu.adapterDescription;
console.error(`device: ${device}`);
for (const [name, shape] of Object.entries(shapes)) {
  const problem = makeProblem(lib, shape.samples === 'lenet' ? { ...shape, samples: opts.lenetSamples } : shape);
  const { samples: P, columns: N, outputs: M } = problem;
  const gpuEntry = await measureGpu(lib, gpu, name, problem, opts);
  const { secondsPerIteration } = gpuEntry;
  results.push(gpuEntry);
  console.error(JSON.stringify(gpuEntry));

  if (opts.cpu) {
    let started = performance.now();
    const cpu = new lib.CpuAdmmEngine(problem);
    const cpuSetup = (performance.now() - started) / 1000;
    const times = [];
    for (let r = 0; r < opts.cpuRepeats; r++) {
      started = performance.now();
      await cpu.iterate(1);
      times.push((performance.now() - started) / 1000);
    }
    const cpuEntry = {
      problem: name,
      backend: 'cpu',
      device: 'CPU, float64 TypeScript reference (one thread)',
      N,
      M,
      P,
      secondsPerIteration: median(times),
      iterationGflops: gpuEntry.flopsPerIteration / median(times) / 1e9,
      speedupOfWebgpu: median(times) / secondsPerIteration,
      hostRoundTripsPerIteration: 0,
      setupSeconds: cpuSetup,
      repeats: opts.cpuRepeats,
    };
    results.push(cpuEntry);
    console.error(JSON.stringify(cpuEntry));
  }

  if (opts.torch) for (const entry of torchBaseline(name, N, M, P, { repeats: opts.repeats })) {
    entry.speedupOfWebgpu = entry.secondsPerIteration / secondsPerIteration;
    results.push(entry);
    console.error(JSON.stringify(entry));
  }

  if (opts.numpy) for (const entry of numpyBaseline(name, N, M, P, opts)) {
    entry.speedupOfWebgpu = entry.secondsPerIteration / secondsPerIteration;
    results.push(entry);
    console.error(JSON.stringify(entry));
  }
}
gpu.destroy();

const lines = resultsTable(
  results,
  `Device: ${device}. Medians of ${opts.repeats} repeats (GPU, ${opts.iterations} iterations per submit)${opts.cpu ? ` and ${opts.cpuRepeats} CPU iterations` : ''}, measured in one run on ${new Date().toISOString().slice(0, 10)}.`,
);
console.log(lines.join('\n'));

if (opts.json) writeAtomically(opts.json, JSON.stringify({ device, results }, null, 2) + '\n');
if (opts.readme) replaceReadmeTable(opts.readme === true ? 'results' : opts.readme, lines);
