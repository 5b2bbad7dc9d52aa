// The `net-trim` command: wires the subcommands and turns every failure into one stderr line and
// a documented exit code.
import * as tf from '@tensorflow/tfjs';
import { Command, CommanderError } from 'commander';
import { GpuError, InputError, NoAdapterError, printable } from '../errors.js';
import { installCancelHandlers } from './cancel.js';
import { addInspectCommand } from './inspect.js';
import { addLayerCommand } from './layer.js';
import { addPruneCommand } from './prune.js';
import { addSweepCommand } from './sweep.js';
import { addWorkerCommand } from './worker.js';
import { packageVersion } from './version.js';
import { invertOnWorkerThreads } from '../solver/parallelSpdInverse.js';

// Large layers' setup inverts A on every core of the machine.
invertOnWorkerThreads();

// TF.js only parses and writes model files here; its console banner about tfjs-node would mislead.
tf.enableProdMode();

const EXIT_OK = 0;
const EXIT_FAILURE = 1;
const EXIT_BAD_INPUT = 2;
const EXIT_GPU = 3;
const EXIT_CANCELLED = 130;

const EXIT_CODES_HELP = `
Exit codes:
    0  success
    1  unexpected failure (set NET_TRIM_DEBUG=1 for the stack trace)
    2  bad input: usage, options or input files (nothing is written)
    3  GPU failure, e.g. no WebGPU adapter (nothing is written; --backend cpu avoids the GPU)
  130  cancelled with Ctrl-C (SIGINT) or SIGTERM (nothing is written)`;

const NO_ADAPTER_HINT = "(no WebGPU adapter: on Linux install Mesa's Vulkan driver (mesa-vulkan-drivers >= 25), or pass --backend cpu)";
const GPU_FAILURE_HINT = '(pass --backend cpu to solve on the CPU instead)';

function createProgram(): Command {
  const program = new Command('net-trim')
    .description('Net-Trim: layer-wise convex pruning of trained ReLU networks, on WebGPU or the CPU.')
    .version(packageVersion())
    // Throw instead of exiting, so that usage errors get exit code 2 like other bad input.
    .exitOverride()
    .configureOutput({ outputError: (message, write) => write(`net-trim: ${oneLine(message.replace(/^error: /, ''))} (see --help)\n`) });
  // Subcommands created by program.command() inherit the settings above.
  addLayerCommand(program);
  addPruneCommand(program);
  addSweepCommand(program);
  addInspectCommand(program);
  addWorkerCommand(program);
  for (const command of [program, ...program.commands]) command.addHelpText('after', EXIT_CODES_HELP);
  return program;
}

/** The message as one printable line: the contract of stderr on failure. */
function oneLine(text: string): string {
  return printable(text.trim());
}

/** What to do about a GPU failure, unless the message already says it. */
function gpuHint(error: GpuError): string {
  if (error.message.includes('--backend cpu')) return '';
  if (error instanceof NoAdapterError) return /mesa/i.test(error.message) ? '' : ` ${NO_ADAPTER_HINT}`;
  return ` ${GPU_FAILURE_HINT}`;
}

/** Prints the error and returns the exit code. */
function reportError(error: unknown): number {
  // Commander already printed its message (or the help/version text).
  if (error instanceof CommanderError) return error.exitCode === 0 ? EXIT_OK : EXIT_BAD_INPUT;
  const debug = Boolean(process.env.NET_TRIM_DEBUG);
  const stack = debug && error instanceof Error && error.stack ? `${error.stack}\n` : '';
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof Error && error.name === 'AbortError') {
    process.stderr.write(`net-trim: ${oneLine(message)}\n`);
    return EXIT_CANCELLED;
  }
  if (error instanceof Error && error.name === 'RedisUnreachableError') {
    // A distributed run's Redis went away: the message says which and for how long; no stack to ask for.
    process.stderr.write(`net-trim: ${oneLine(message)}\n${stack}`);
    return EXIT_FAILURE;
  }
  if (error instanceof InputError) {
    process.stderr.write(`net-trim: ${oneLine(message)}\n${stack}`);
    return EXIT_BAD_INPUT;
  }
  if (error instanceof GpuError) {
    process.stderr.write(`net-trim: ${oneLine(message)}${gpuHint(error)}\n${stack}`);
    return EXIT_GPU;
  }
  process.stderr.write(`net-trim: ${oneLine(message)}${debug ? '' : ' (set NET_TRIM_DEBUG=1 for the stack trace)'}\n${stack}`);
  return EXIT_FAILURE;
}

async function main(argv: readonly string[]): Promise<number> {
  // A worker handles its signals itself: the job in progress goes back to the queue (cli/worker.ts).
  if (argv[2] !== 'worker') installCancelHandlers();
  try {
    await createProgram().parseAsync([...argv]);
    return EXIT_OK;
  } catch (error) {
    return reportError(error);
  }
}

const exitCode = await main(process.argv);
// Exit explicitly (a WebGPU instance can keep the event loop alive after the solve), but only once
// what was printed has been flushed: pipes are asynchronous on some platforms.
await Promise.all([process.stdout, process.stderr].map((stream) => new Promise((done) => stream.write('', done))));
process.exit(exitCode);
