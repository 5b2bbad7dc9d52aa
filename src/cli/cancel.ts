// Ctrl-C (SIGINT) or SIGTERM cancels the command: the solve in progress stops at its next
// convergence check, nothing is written, and the command exits with code 130. A second signal
// exits at once.
export class CancelledError extends Error {
  constructor(signal: string) {
    super(`cancelled by ${signal}: nothing was written`);
    this.name = 'AbortError';
  }
}

const controller = new AbortController();

/** Aborted when the user cancels; pass it to every long computation. */
export const cancelSignal: AbortSignal = controller.signal;

export function installCancelHandlers(): void {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (controller.signal.aborted) process.exit(130);
      controller.abort(new CancelledError(signal));
    });
  }
}
