import { readFileSync } from 'node:fs';

/** dist/node/cli.js and src/cli/*.ts both sit two levels below the package root. */
export function packageVersion(): string {
  try {
    return JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
