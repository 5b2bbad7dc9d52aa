/**
 * A message as one printable line: control characters (newlines, escape sequences from a node
 * name in a model file, …) are shown as escapes instead of moving the cursor or splitting lines.
 */
export function printable(message: string): string {
  return message.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    const code = c.charCodeAt(0);
    if (c === '\n') return '\\n';
    if (c === '\t') return '\\t';
    if (c === '\r') return '\\r';
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
  });
}

/**
 * Bad input from the user (a file, a field, an option). The CLI prints its message as one line
 * and exits with code 2; nothing is written. Names taken from input files may hold any character:
 * the message is kept printable (see printable()).
 */
export class InputError extends Error {
  constructor(message: string) {
    super(printable(message));
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

/**
 * No WebGPU adapter at all (no driver, no `webgpu` package): `--backend auto` falls back to the
 * CPU on it. A setting that picks none (NET_TRIM_DAWN_FLAGS) is a plain GpuError: it is to be fixed.
 */
export class NoAdapterError extends GpuError {
  constructor(message: string) {
    super(message);
    this.name = 'NoAdapterError';
  }
}
