// The `net-trim` command's own description: the built executable, --help of every command (its
// defaults, its exit codes) and options that mean one thing under one name. The commands' work:
// cli.test.ts.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, runCli } from './helpers/cli.js';

let root: string;
let runtimeDir: string;
const runCliHere = (args: string[]) => runCli(args, { cwd: root, runtimeDir });

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: build it first (npm test runs rollup before vitest)`);
  root = await mkdtemp(join(tmpdir(), 'net-trim-cli-'));
  runtimeDir = await mkdtemp(join(tmpdir(), 'net-trim-xdg-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
  await rm(runtimeDir, { recursive: true, force: true });
});

describe('the built command', () => {
  it('runs as an executable, as `npx net-trim` runs it after any rebuild (the build marks it so)', async () => {
    const { execFile } = await import('node:child_process');
    const { stdout } = await new Promise<{ stdout: string }>((done, fail) =>
      execFile(CLI, ['--version'], (error, out) => (error ? fail(error) : done({ stdout: out }))),
    );
    expect(stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('describes each command the same way: lower case, no closing period', async () => {
    const run = await runCliHere(['--help']);
    const commands = run.stdout.split('Commands:')[1].split('Exit codes:')[0];
    const descriptions = [...commands.matchAll(/^ {2}(\w+)(?: \[options\])?(?: <\w+>)?(?: \[command\])? {2,}(.+(?:\n {20,}.+)*)/gm)].map(([, name, text]) => [name, text.replace(/\s+/g, ' ').trim()]);
    expect(descriptions.map(([name]) => name)).toEqual(['layer', 'prune', 'sweep', 'inspect', 'worker', 'help']);
    for (const [name, text] of descriptions) expect(text, name).toMatch(/^[a-z].*[^.]$/);
  });
});

describe('--help', () => {
  const help = async (...command: string[]) => {
    const run = await runCliHere([...command, '--help']);
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    return run.stdout;
  };
  /** Each option's entry (its line and the wrapped lines under it) as one line, by option name. */
  const entries = (text: string) => {
    const found = new Map<string, string>();
    let current: string | undefined;
    for (const line of text.split('\n')) {
      const option = line.match(/^ {2}(?:-\w, )?(--[a-z-]+)/);
      if (option) found.set((current = option[1]), line.trim());
      else if (current && /^ {3,}\S/.test(line)) found.set(current, `${found.get(current)} ${line.trim()}`);
      else current = undefined;
    }
    return found;
  };

  it('every command shows its defaults and the exit codes', async () => {
    const top = await help();
    for (const command of ['layer', 'prune', 'sweep']) expect(top).toMatch(new RegExp(`^ {2}${command} `, 'm'));
    const texts = { layer: await help('layer'), prune: await help('prune'), sweep: await help('sweep') };
    for (const text of [top, ...Object.values(texts)]) {
      expect(text).toMatch(/^Exit codes:$/m);
      for (const code of ['0', '1', '2', '3', '130']) expect(text).toMatch(new RegExp(`^ +${code} {2}\\S`, 'm'));
    }
    const layer = entries(texts.layer);
    expect(layer.get('--epsilon-gain')).toMatch(/\(default: 0\.05\)$/);
    expect(layer.get('--max-iterations')).toMatch(/\(default: 20000\)$/);
    expect(layer.get('--rho')).toMatch(/\(default: 10\)$/);
    for (const command of ['prune', 'sweep'] as const) {
      const options = entries(texts[command]);
      expect(options.get('--mode')).toMatch(/\(default: "cascade"\)$/);
      expect(options.get('--backend')).toMatch(/\(default: "auto"\)$/);
      expect(options.get('--gamma')).toMatch(/\(default: "1\.0488"\)$/);
      expect(options.get('--kappa')).toMatch(/\(default: "1"\)$/);
      expect(options.get('--rho')).toMatch(/\(default: "10"\)$/);
      expect(options.get('--max-iterations')).toMatch(/\(default: "20000"\)$/);
      expect(options.get('--tolerance')).toMatch(/\(default: "0\.001"\)$/);
    }
    expect(entries(texts.prune).get('--epsilon-gain')).toMatch(/\(default: "0\.05"\)$/);
    expect(entries(texts.sweep).get('--epsilon-gains')).toMatch(/\(default: "0\.01,0\.02,0\.03,0\.05,0\.08"\)$/);
  });

  it('options mean the same under the same name in every command', async () => {
    const prune = new Set(entries(await help('prune')).keys());
    const sweep = new Set(entries(await help('sweep')).keys());
    const layer = new Set(entries(await help('layer')).keys());
    prune.delete('--epsilon-gain');
    sweep.delete('--epsilon-gains');
    // What chooses, shapes or measures the one model prune writes (a sweep writes none).
    for (const only of ['--target-sparsity', '--max-accuracy-drop', '--remove-units', '--no-remove-units', '--latency', '--quantize']) expect(prune.delete(only), only).toBe(true);
    expect([...sweep].sort()).toEqual([...prune].sort());
    for (const shared of ['--epsilon-gain', '--backend', '--rho', '--max-iterations', '--tolerance', '--quiet', '--json', '--help']) expect(layer.has(shared), shared).toBe(true);
    for (const shared of ['--samples', '--labels', '--max-samples', '--mode', '--exclude', '--out']) expect(prune.has(shared), shared).toBe(true);
  });
});
