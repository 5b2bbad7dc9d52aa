// Strict parsing of option values, shared by the subcommands. Commander hands over strings;
// each helper returns undefined for an absent option and throws an InputError naming the option
// ("--rho: expected a number > 0, found 'abc'") for a bad one.
import { InputError } from '../errors.js';

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function invalid(option: string, expected: string, raw: string): never {
  throw new InputError(`${option}: expected ${expected}, found '${raw}'`);
}

function parseDecimal(raw: string, option: string, expected: string): number {
  const text = raw.trim();
  const value = Number(text);
  if (!DECIMAL.test(text) || !Number.isFinite(value)) invalid(option, expected, raw);
  return value;
}

export function nonNegativeNumber(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const expected = 'a number >= 0';
  const value = parseDecimal(raw, option, expected);
  if (value < 0) invalid(option, expected, raw);
  return value;
}

export function positiveNumber(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const expected = 'a number > 0';
  const value = parseDecimal(raw, option, expected);
  if (value <= 0) invalid(option, expected, raw);
  return value;
}

export function positiveInteger(raw: string | undefined, option: string): number | undefined {
  if (raw === undefined) return undefined;
  const expected = 'a positive integer';
  const value = parseDecimal(raw, option, expected);
  if (!Number.isSafeInteger(value) || value < 1) invalid(option, expected, raw);
  return value;
}

export function oneOf<T extends string>(raw: string | undefined, option: string, allowed: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  const quoted = allowed.map((a) => `'${a}'`);
  const list = quoted.length <= 2 ? quoted.join(' or ') : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`;
  if (!(allowed as readonly string[]).includes(raw)) invalid(option, list, raw);
  return raw as T;
}

/** A repeatable option's values, in order (commander's argParser for `--dim a=1 --dim b=2`). */
export const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

/** --dim NAME=SIZE (repeated or comma-separated): sizes for a model's open input axes, by name. */
export function axisSizes(raw: readonly string[] | undefined, option = '--dim'): Record<string, number> | undefined {
  if (!raw || raw.length === 0) return undefined;
  const sizes: Record<string, number> = {};
  for (const part of raw.flatMap((r) => r.split(','))) {
    const at = part.lastIndexOf('=');
    const name = part.slice(0, at).trim();
    if (at < 0 || !name) invalid(option, "NAME=SIZE (an input axis's name and its size, e.g. sequence_length=128)", part);
    if (Object.hasOwn(sizes, name)) invalid(option, `one size for '${name}'`, raw.join(','));
    sizes[name] = positiveInteger(part.slice(at + 1), `${option} ${name}`)!;
  }
  return sizes;
}
