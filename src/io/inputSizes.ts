// Sizes for the input axes a model leaves open besides the batch: an ONNX export's dynamic
// `sequence_length` (Optimum's default), an image's height and width, a Keras Input(shape=(None,)).
// The network is a graph of fixed sizes, so each open axis is fixed when the model is read: by
// name (--dim sequence_length=128), or by the samples' own shape. The written model keeps the
// axes open: only weights change there. Browser-safe.
import { InputError } from '../errors.js';
import type { NpyArray } from './npy.js';

export interface InputSizes {
  /** By the axis's name in the model (ONNX's dim_param: 'sequence_length'), its size. */
  dims?: Readonly<Record<string, number>>;
  /**
   * One sample's shape per model input (the samples' arrays less their first axis, in the model's
   * layout): an .npz's arrays by name, or one array for a model of one input (shapesOfSamples).
   */
  samples?: ReadonlyMap<string, readonly number[]> | readonly number[];
}

/** An axis as a model declares it: a size, a name (ONNX's dim_param), or null (unnamed, unknown). */
export type DeclaredAxis = number | string | null;

/** An axis fixed when read: its name (or `input:axis` when unnamed), size and where the size came from. */
export interface FixedAxis {
  name: string;
  size: number;
  from: 'given' | 'samples';
}

/** The sample shapes in `samples` (what readSamplesFile or readSamples returns), for InputSizes.samples. */
export function shapesOfSamples(samples: NpyArray | ReadonlyMap<string, NpyArray>): InputSizes['samples'] {
  if (samples instanceof Map) return new Map([...(samples as ReadonlyMap<string, NpyArray>)].map(([name, array]) => [name, array.shape.slice(1)]));
  return (samples as NpyArray).shape.slice(1);
}

const axisText = (axis: DeclaredAxis) => (axis === null ? '?' : String(axis));

/**
 * Each input's axes after the first (the batch) with its open axes fixed from `sizes`; `fixed`
 * lists what was fixed. Errors name `source`, the input and the axis: an open axis with no size,
 * a name in `sizes.dims` the model does not have (or that names a batch axis), two sizes for
 * one name.
 */
export function fixOpenAxes(source: string, inputs: ReadonlyArray<{ name: string; axes: readonly DeclaredAxis[] }>, sizes: InputSizes = {}): { dims: number[][]; fixed: FixedAxis[] } {
  const given = sizes.dims ?? {};
  // An unnamed axis goes by `input:axis` (a Keras input [null, null]: 'tokens:1').
  const keyOf = (input: string, axis: DeclaredAxis, k: number) => (typeof axis === 'string' ? axis : `${input}:${k + 1}`);
  const named = new Set(inputs.flatMap((i) => i.axes.slice(1).flatMap((a, k) => (typeof a === 'number' ? [] : [keyOf(i.name, a, k)]))));
  for (const [name, size] of Object.entries(given)) {
    if (!Number.isSafeInteger(size) || size < 1) throw new InputError(`${source}: axis '${name}': expected a size of at least 1, found ${size}`);
    if (named.has(name)) continue;
    const batch = inputs.some((i) => i.axes[0] === name);
    const open = named.size ? [...named].map((n) => `'${n}'`).join(', ') : 'none besides the batch';
    throw new InputError(`${source}: axis '${name}': expected one of the model's open input axes (${open}), found ${batch ? 'the batch axis (the number of samples sets it)' : 'no axis of that name'}`);
  }
  const fixed = new Map<string, FixedAxis & { by: string }>();
  for (const [name, size] of Object.entries(given)) fixed.set(name, { name, size, from: 'given', by: 'given' });
  // By the input's name; a model of one input takes one array, or an .npz of one by any name (as samplesForModel does).
  const map = sizes.samples instanceof Map ? (sizes.samples as ReadonlyMap<string, readonly number[]>) : null;
  const only = inputs.length !== 1 ? undefined : map ? (map.size === 1 ? [...map.values()][0] : undefined) : (sizes.samples as readonly number[] | undefined);
  // The samples' sizes first, from every input (an axis the samples of a later input fix).
  for (const input of inputs) {
    const shape = map?.get(input.name) ?? only;
    // A sample shape of another rank fixes nothing: the samples' own check reports it where they are read.
    if (!shape || shape.length !== input.axes.length - 1) continue;
    input.axes.slice(1).forEach((axis, k) => {
      const key = keyOf(input.name, axis, k);
      const size = shape[k];
      const known = fixed.get(key);
      if (typeof axis === 'number' || (known && known.from === 'given') || !Number.isSafeInteger(size) || size < 1) return;
      if (known && known.size !== size) throw new InputError(`${source}: axis '${key}': the samples give it ${known.size} in '${known.by}' and ${size} in '${input.name}': expected one size`);
      fixed.set(key, { name: key, size, from: 'samples', by: input.name });
    });
  }
  const dims = inputs.map((input) =>
    input.axes.slice(1).map((axis, k) => {
      if (typeof axis === 'number') return axis;
      const key = keyOf(input.name, axis, k);
      const known = fixed.get(key);
      if (known) return known.size;
      throw new InputError(
        `${source}: input '${input.name}' has shape [${input.axes.map(axisText).join(', ')}]: axis ${k + 1} ('${key}') is open: expected its size given (--dim ${key}=SIZE, or the dims option) or samples whose shape fixes it`,
      );
    }),
  );
  return { dims, fixed: [...fixed.values()].map(({ name, size, from }) => ({ name, size, from })) };
}

/** In words, for inspect and the report: which axes were fixed at what. */
export function fixedAxesNote(fixed: readonly FixedAxis[]): string[] {
  if (!fixed.length) return [];
  const list = fixed.map((a) => `'${a.name}' at ${a.size} (${a.from === 'given' ? 'given' : 'from the samples'})`).join(', ');
  const one = fixed.length === 1;
  return [`the model's open input ${one ? 'axis' : 'axes'} ${list} ${one ? 'is' : 'are'} read at ${one ? 'that size' : 'those sizes'}; the written model keeps ${one ? 'it' : 'them'} open`];
}
