// Ctrl-C (SIGINT) or SIGTERM cancels the command and nothing is written: the step in progress
// (a forward pass, a layer's setup, a block of GPU iterations, or 50 ms of CPU iterations) ends,
// the command exits with code 130, and the temporary files of a write in progress are removed.
// If that takes longer than a second (a GPU still busy with a long block), or a second signal
// comes, the process removes those files itself and exits 130 at once.
import { removePendingTemporaryFiles } from '../io/files.js';

export class CancelledError extends Error {
  constructor(signal: string) {
    super(`cancelled by ${signal}: nothing was written`);
    this.name = 'AbortError';
  }
}

const controller = new AbortController();

/** Aborted when the user cancels; pass it to every long computation. */
export const cancelSignal: AbortSignal = controller.signal;

/** How long the command may take to stop on its own after a signal. */
const GRACE_MS = 1000;

function exitNow(signal: string): never {
  removePendingTemporaryFiles();
  process.stderr.write(`net-trim: cancelled by ${signal}: nothing was written\n`);
  process.exit(130);
}

export function installCancelHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) exitNow(signal);
      controller.abort(new CancelledError(signal));
      setTimeout(() => exitNow(signal), GRACE_MS).unref();
    });
  }
}

/**
 * `NET_TRIM_TRACE=1`: one stderr line as each phase of a command starts ("net-trim: trace:
 * forward pass"), for tests that signal in a given phase and for seeing where time goes.
 */
export function trace(phase: string): void {
  if (process.env.NET_TRIM_TRACE) process.stderr.write(`net-trim: trace: ${phase}\n`);
}
