// What every fuzz case must end in: success, or an InputError whose message is one printable
// line in the project's words (no TF.js or JavaScript internals); never another exception, a hang
// (a per-case timeout), or a large allocation. Outcomes are counted per message kind and written
// to test-results/fuzz/<parser>.json for the record.
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { expect } from 'vitest';
import { InputError } from '../../src/errors.js';

/**
 * Bytes with mutations: flipped bytes, a cut, a splice of random bytes, or an appended tail.
 * `tail`: the flips also aim at the last `tail` bytes (a zip's central directory).
 */
export function mutated(base: Uint8Array, tail = 0): fc.Arbitrary<Uint8Array> {
  const at = fc.nat({ max: Math.max(0, base.length - 1) });
  const flipAt = tail > 0 ? fc.oneof(at, fc.nat({ max: Math.min(tail, base.length - 1) }).map((k) => base.length - 1 - k)) : at;
  return fc.oneof(
    fc.array(fc.tuple(flipAt, fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }).map((flips) => {
      const out = Uint8Array.from(base);
      for (const [i, v] of flips) out[i] = v;
      return out;
    }),
    at.map((n) => base.slice(0, n)),
    fc.tuple(at, fc.uint8Array({ maxLength: 64 })).map(([n, bytes]) => Uint8Array.from([...base.slice(0, n), ...bytes, ...base.slice(n + bytes.length)])),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => Uint8Array.from([...base, ...tail])),
  );
}

/** Cases per property: the base count, times FUZZ_SCALE (npm run test:fuzz runs 25×). */
export const runs = (base: number) => Math.max(1, Math.round(base * Number(process.env.FUZZ_SCALE ?? 1)));

const INTERNALS = /Cannot read propert|is not a function|is not iterable|Invalid typed array length|Invalid array length|Maximum call stack|undefined \(reading|of undefined|of null|\[object Object\]/;
/** Array buffers a case may leave behind (its input is a few kB to a few MB). */
const MAX_ARRAY_BUFFERS = 768 * 2 ** 20;

export class Outcomes {
  private readonly counts = new Map<string, number>();
  cases = 0;
  constructor(readonly parser: string) {}

  /**
   * Runs one case: `body` must resolve, or reject with a clean InputError, within `timeoutMs`.
   * `describeInput` says what the case was, for the failure message.
   */
  async run(body: () => unknown, describeInput: () => string, timeoutMs = 10_000): Promise<void> {
    this.cases++;
    // FUZZ_LOG=file: each case is written there before it runs (a case that never returns is the last line).
    if (process.env.FUZZ_LOG) appendFileSync(process.env.FUZZ_LOG, `${this.parser} ${this.cases}: ${describeInput()}\n`);
    let timer: NodeJS.Timeout | undefined;
    const hang = new Promise<'hang'>((resolve) => (timer = setTimeout(() => resolve('hang'), timeoutMs)));
    let kind: string;
    try {
      const result = await Promise.race([Promise.resolve().then(body), hang]);
      if (result === 'hang') throw new Error(`${this.parser}: no answer within ${timeoutMs} ms for ${describeInput()}`);
      kind = 'accepted';
    } catch (error) {
      if (!(error instanceof InputError)) throw new Error(`${this.parser}: ${describeInput()} ended in ${(error as Error)?.stack ?? error}, expected success or an InputError`);
      const message = error.message;
      expect(message, describeInput()).not.toMatch(/[\u0000-\u001f\u007f]/);
      expect(message, describeInput()).not.toMatch(INTERNALS);
      kind = kindOf(message);
    } finally {
      clearTimeout(timer);
    }
    const buffers = process.memoryUsage().arrayBuffers;
    expect(buffers, `${describeInput()}: ${buffers} bytes of array buffers held after the case`).toBeLessThan(MAX_ARRAY_BUFFERS);
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
  }

  /** Writes the counts and prints one line. */
  report(): Record<string, number> {
    const counts = Object.fromEntries([...this.counts].sort((a, b) => b[1] - a[1]));
    const folder = join(new URL('../../test-results/fuzz/', import.meta.url).pathname);
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, `${this.parser}.json`), JSON.stringify({ parser: this.parser, cases: this.cases, outcomes: counts }, null, 2) + '\n');
    const refused = this.cases - (this.counts.get('accepted') ?? 0);
    console.log(`fuzz ${this.parser}: ${this.cases} cases, ${this.counts.get('accepted') ?? 0} accepted, ${refused} refused with an InputError (${this.counts.size - (this.counts.has('accepted') ? 1 : 0)} kinds of message)`);
    return counts;
  }
}

/** A message's kind: its field and expectation, without the file name, what was found, numbers and quoted values. */
function kindOf(message: string): string {
  return message
    .replace(/^[^:]*: /, '')
    .replace(/,? found .*$/, '')
    .replace(/'[^']*'|"[^"]*"|\[[^\]]*\]/g, '…')
    .replace(/\d+(\.\d+)?(e[+-]?\d+)?/g, 'N')
    .slice(0, 90);
}
