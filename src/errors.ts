/**
 * Bad input from the user (a file, a field, an option). The CLI prints its message as one line
 * and exits with code 2; nothing is written.
 */
export class InputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InputError';
  }
}

/** The GPU failed (no adapter, device lost, validation or out-of-memory error). */
export class GpuError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GpuError';
  }
}
