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
