// Progress of the layer solves on stderr: a bar per layer on a terminal (cli-progress), plain log
// lines otherwise (pipes, CI logs), nothing with --quiet. stdout is left to the summary or --json.
//
// A bar fills as the solve approaches its stopping test: the larger of the two residual/tolerance
// ratios, on a log scale from its first value down to 1 (full when the layer is done). Iteration
// counts alone would say little: most layers stop far below the iteration limit.
import cliProgress from 'cli-progress';
import type { SolveProgress } from '../solver/types.js';

export type ProgressStyle = 'bars' | 'lines' | 'none';

export interface LayerDone {
  nonzerosBefore: number;
  nonzerosAfter: number;
  iterations: number;
  /** Of `iterations`, those of a float64 finish on the CPU (0: none; absent from older workers' events). */
  float64FinishIterations?: number;
  converged: boolean;
  seconds: number;
}

export interface Progress {
  /** A label before every layer name, e.g. "g=0.03" in a sweep ('' for none). */
  setContext(context: string): void;
  start(name: string, position: number, total: number): void;
  update(name: string, progress: SolveProgress): void;
  done(name: string, event: LayerDone): void;
  /** A line of text, above the bars on a terminal. */
  log(line: string): void;
  stop(): void;
}

export function progressStyle(quiet: boolean | undefined, stream: NodeJS.WriteStream = process.stderr): ProgressStyle {
  if (quiet) return 'none';
  return stream.isTTY && process.env.TERM !== 'dumb' ? 'bars' : 'lines';
}

const sci = (v: number) => (Number.isFinite(v) ? v.toExponential(1) : String(v));
const count = (n: number) => Math.round(n).toLocaleString('en-US');
const percent = (after: number, before: number) => (before ? `${((100 * after) / before).toFixed(1)}%` : '–');

/** How far the stopping test is from passing, 0 (at the start) to 1 (passed). */
class ConvergenceMeter {
  private first = NaN;
  private best = 0;
  fraction(p: SolveProgress): number {
    const ratio = Math.max(p.primalResidual / p.primalTolerance, p.dualResidual / p.dualTolerance);
    if (!Number.isFinite(ratio)) return this.best;
    if (Number.isNaN(this.first)) this.first = Math.max(ratio, 1.0001);
    const f = ratio <= 1 ? 0.99 : Math.log(this.first / ratio) / Math.log(this.first);
    this.best = Math.min(0.99, Math.max(this.best, f));
    return this.best;
  }
}

const noProgress: Progress = { setContext() {}, start() {}, update() {}, done() {}, log() {}, stop() {} };

export function createProgress(style: ProgressStyle, stream: NodeJS.WriteStream = process.stderr): Progress {
  if (style === 'none') return noProgress;
  if (style === 'lines') return lineProgress(stream);
  return barProgress(stream);
}

function lineProgress(stream: NodeJS.WriteStream): Progress {
  // One line per layer at most every LINE_INTERVAL ms of solving, plus its start and end.
  const LINE_INTERVAL = 5000;
  let context = '';
  const layers = new Map<string, { label: string; lastLine: number }>();
  const write = (line: string) => stream.write(`${line}\n`);
  return {
    setContext(c) {
      context = c;
    },
    start(name, position, total) {
      const label = `[${context ? `${context} ` : ''}${position + 1}/${total} ${name}]`;
      layers.set(name, { label, lastLine: performance.now() });
      write(`${label} solving`);
    },
    update(name, p) {
      const layer = layers.get(name);
      if (!layer || performance.now() - layer.lastLine < LINE_INTERVAL) return;
      layer.lastLine = performance.now();
      write(
        `${layer.label} iteration ${p.iteration}: primal residual ${sci(p.primalResidual)} (tolerance ${sci(p.primalTolerance)}), dual ${sci(p.dualResidual)} (tolerance ${sci(p.dualTolerance)}), rho ${p.rho}, ${p.seconds.toFixed(1)} s`,
      );
    },
    done(name, e) {
      const label = layers.get(name)?.label ?? `[${name}]`;
      write(
        `${label} ${e.converged ? 'converged' : 'NOT converged'} after ${e.iterations} iterations${e.float64FinishIterations ? ` (the last ${e.float64FinishIterations} in float64 on the CPU)` : ''} in ${e.seconds.toFixed(1)} s: nonzeros ${count(e.nonzerosBefore)} -> ${count(e.nonzerosAfter)} (${percent(e.nonzerosAfter, e.nonzerosBefore)})`,
      );
    },
    log: write,
    stop() {},
  };
}

interface BarPayload {
  label: string;
  detail: string;
  seconds: number;
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  const TOTAL = 1000;
  const multibar = new cliProgress.MultiBar(
    {
      stream,
      hideCursor: true,
      clearOnComplete: false,
      autopadding: true,
      barsize: 20,
      fps: 8,
      format: (options, params, payload: BarPayload) => {
        const size = options.barsize ?? 20;
        const filled = Math.round(params.progress * size);
        const bar = '█'.repeat(filled) + '░'.repeat(size - filled);
        // Most important first: a narrow terminal cuts the end of the line.
        return `${payload.label} ${bar} ${payload.seconds.toFixed(1).padStart(5)} s  ${payload.detail}`;
      },
    },
    cliProgress.Presets.shades_classic,
  );
  let context = '';
  let labelWidth = 0;
  const bars = new Map<string, { bar: cliProgress.SingleBar; label: string; meter: ConvergenceMeter; started: number }>();
  const key = (name: string) => `${context}\u0000${name}`;
  return {
    setContext(c) {
      context = c;
    },
    start(name, position, total) {
      const label = `${context ? `${context} ` : ''}${position + 1}/${total} ${name}`;
      labelWidth = Math.max(labelWidth, label.length);
      const bar = multibar.create(TOTAL, 0, { label: label.padEnd(labelWidth), detail: 'starting', seconds: 0 } satisfies BarPayload);
      bars.set(key(name), { bar, label, meter: new ConvergenceMeter(), started: performance.now() });
    },
    update(name, p) {
      const entry = bars.get(key(name));
      if (!entry) return;
      const detail = `it ${p.iteration}  primal ${sci(p.primalResidual)} (tol ${sci(p.primalTolerance)})  dual ${sci(p.dualResidual)} (tol ${sci(p.dualTolerance)})  rho ${p.rho}`;
      entry.bar.update(Math.round(TOTAL * entry.meter.fraction(p)), {
        label: entry.label.padEnd(labelWidth),
        detail,
        seconds: (performance.now() - entry.started) / 1000,
      } satisfies BarPayload);
    },
    done(name, e) {
      const entry = bars.get(key(name));
      if (!entry) return;
      const detail = `it ${e.iterations}  ${e.converged ? 'converged' : 'NOT converged'}  nonzeros ${count(e.nonzerosBefore)} -> ${count(e.nonzerosAfter)} (${percent(e.nonzerosAfter, e.nonzerosBefore)})`;
      entry.bar.update(TOTAL, { label: entry.label.padEnd(labelWidth), detail, seconds: (performance.now() - entry.started) / 1000 } satisfies BarPayload);
    },
    log(line) {
      multibar.log(`${line}\n`);
    },
    stop() {
      multibar.stop();
    },
  };
}
