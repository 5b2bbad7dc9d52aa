// The checked fields of a model.json (browser-safe): each rejection is an InputError
// "<where>: <field>: expected …, found …".
import { InputError } from '../../errors.js';

export type Json = Record<string, unknown>;

export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A found value for a message: short, one line. */
export function describe(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (Array.isArray(value)) return 'an array';
  if (value === null) return 'null';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Largest size of one dimension in any layer's input or output. */
export const MAX_DIMENSION = 1 << 24;

export const fail = (where: string, expectation: string): never => {
  throw new InputError(`${where}: expected ${expectation}`);
};

export function positiveInt(value: unknown, where: string, field: string, max = MAX_DIMENSION): number {
  if (!Number.isSafeInteger(value) || (value as number) < 1 || (value as number) > max) fail(`${where}: ${field}`, `an integer from 1 to ${max}, found ${describe(value)}`);
  return value as number;
}

export function pair(value: unknown, where: string, field: string, fallback?: [number, number]): [number, number] {
  if ((value === undefined || value === null) && fallback) return fallback;
  const list = typeof value === 'number' ? [value, value] : value;
  if (!Array.isArray(list) || list.length !== 2) return fail(`${where}: ${field}`, `two positive integers, found ${describe(value)}`);
  return [positiveInt(list[0], where, field, 4096), positiveInt(list[1], where, field, 4096)];
}

export function oneOfStrings(value: unknown, allowed: readonly string[], where: string, field: string, fallback: string): string {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string' || !allowed.includes(value)) fail(`${where}: ${field}`, `one of ${allowed.map((a) => `'${a}'`).join(', ')}, found ${describe(value)}`);
  return value as string;
}

/** A 1-D layer's size: a positive integer or a list of one (Keras writes [k]). */
export function single(value: unknown, where: string, field: string, fallback?: number): number {
  if ((value === undefined || value === null) && fallback !== undefined) return fallback;
  const list = typeof value === 'number' ? [value] : value;
  if (!Array.isArray(list) || list.length !== 1) return fail(`${where}: ${field}`, `a positive integer or a list of one, found ${describe(value)}`);
  return positiveInt(list[0], where, field, 4096);
}

/**
 * A layer's class and config with TimeDistributed(Dense) unwrapped: a Dense applied to each step is
 * what a Dense on a sequence computes (its weights are the wrapper's: 'name/kernel', 'name/bias').
 * Keys as model.json writes them (class_name) or as TF.js's getConfig gives them (className).
 */
export function unwrapped(className: string, config: Json, where: string): [string, Json] {
  if (className !== 'TimeDistributed') return [className, config];
  const inner = config.layer;
  const innerClass = isObject(inner) ? (inner.class_name ?? inner.className) : undefined;
  if (!isObject(inner) || innerClass !== 'Dense' || !isObject(inner.config))
    fail(`${where}: layer`, `a Dense inside TimeDistributed (a Dense on each step), found ${describe(innerClass ?? inner)}`);
  return ['Dense', (inner as Json).config as Json];
}
