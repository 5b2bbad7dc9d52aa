// Runs the built `net-trim` command (dist/node/cli.js; `npm test` builds it before vitest runs).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../dist/node/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliOptions {
  cwd?: string;
  runtimeDir?: string;
  /** Extra environment variables (on top of this process's). */
  env?: NodeJS.ProcessEnv;
}

export interface StartedCli {
  child: ChildProcessWithoutNullStreams;
  /** What was written so far. */
  output(): { stdout: string; stderr: string };
  /** Resolves once stderr contains `text`. */
  stderrContains(text: string): Promise<void>;
  done: Promise<CliRun>;
}

/** Starts the command and gives access to it while it runs (e.g. to send a signal). */
export function startCli(args: string[], options: CliOptions = {}): StartedCli {
  const env: NodeJS.ProcessEnv = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? options.runtimeDir, ...options.env };
  delete env.NET_TRIM_DEBUG; // its stack traces would break the one-line error contract
  const child = spawn(process.execPath, [CLI, ...args], { cwd: options.cwd, env });
  let stdout = '';
  let stderr = '';
  const waiting: Array<{ text: string; resolve: () => void }> = [];
  child.stdout.on('data', (chunk) => (stdout += chunk));
  child.stderr.on('data', (chunk) => {
    stderr += chunk;
    for (const w of waiting.filter((w) => stderr.includes(w.text))) {
      waiting.splice(waiting.indexOf(w), 1);
      w.resolve();
    }
  });
  const done = new Promise<CliRun>((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return {
    child,
    output: () => ({ stdout, stderr }),
    stderrContains: (text) =>
      stderr.includes(text)
        ? Promise.resolve()
        : Promise.race([
            new Promise<void>((resolve) => waiting.push({ text, resolve })),
            done.then((run) => {
              throw new Error(`the command ended (code ${run.code}) before writing '${text}' to stderr: ${run.stderr}`);
            }),
          ]),
    done,
  };
}

export function runCli(args: string[], options: CliOptions = {}): Promise<CliRun> {
  return startCli(args, options).done;
}
