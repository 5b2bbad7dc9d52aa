// Types of serve.mjs (a plain script run by `npm run serve`), for the tests that start it.
export const DEFAULT_ROOT: string;
/** Serves `root` (default: dist/web) over HTTP; port 0 picks a free one. */
export function startServer(options?: { root?: string; host?: string; port?: number }): Promise<{ url: string; close(): Promise<void> }>;
