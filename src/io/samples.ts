// Sample inputs and labels for a loaded model, from parsed .npy arrays: the checks and the layout
// conversion of --samples/--labels, shared by the CLI, the library and the demo page (browser-safe).
import { InputError } from '../errors.js';
import { sampleShapes, sampleShapesText, type ImageLayout } from '../network/sampleShapes.js';
import { badTokenId, tokenVocabulary } from '../network/graph.js';
import type { InputPart, Network } from '../network/types.js';
import { badPartValue, partExpectation } from '../network/inputParts.js';
import type { NpyArray } from './npy.js';

export interface ModelSamples {
  /** count samples of the network's input shape, samples-major, NHWC for images. */
  data: Float32Array | Float64Array;
  count: number;
  /** Samples in the array (count is at most this: `maxSamples`). */
  total: number;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

type Layouts = { network: Network; imageLayout: ImageLayout; partLayouts?: readonly ImageLayout[] };

/**
 * The samples of `input` (from `source`, named in messages) as the network's input: an array of
 * one of sampleShapes (images as the model's users hold them: NCHW for ONNX, NHWC for TF.js;
 * flattened where unambiguous; NCHW is converted to the network's NHWC), or an .npz's arrays. A
 * model of several inputs (network.inputParts) takes one array per input, by its name (np.savez
 * of input_ids=…, attention_mask=…; others are left), each of P samples; they are packed sample
 * by sample.
 * `maxSamples` keeps the first n. Values must be finite (token ids whole and in the vocabulary, a
 * mask 0 or 1).
 */
export function samplesForModel(input: NpyArray | ReadonlyMap<string, NpyArray>, model: Layouts, source: string, options: { maxSamples?: number } = {}): ModelSamples {
  const parts = model.network.inputParts;
  const arrays = input instanceof Map ? (input as ReadonlyMap<string, NpyArray>) : null;
  if (!parts) {
    if (arrays && arrays.size !== 1) throw new InputError(`${source}: expected one array for the model's one input, found ${arrays.size} (${[...arrays.keys()].map((k) => `'${k}'`).join(', ')})`);
    const [name, array] = arrays ? [...arrays][0] : ['', input as NpyArray];
    const vocabulary = tokenVocabulary(model.network);
    const kind = vocabulary === undefined ? 'float' : 'ids';
    return partValues(array, model.network.inputShape, model.imageLayout, kind, arrays ? `${source}: ${name}` : source, options.maxSamples, (values) => {
      const bad = kind === 'ids' ? badTokenId(values, vocabulary!) : Array.prototype.findIndex.call(values, (v: number) => !Number.isFinite(v));
      return bad < 0 ? null : { bad, expected: kind === 'ids' ? `token ids, whole numbers from 0 to ${vocabulary! - 1} (the embedding's vocabulary)` : 'finite values' };
    });
  }
  const names = parts.map((p) => `'${p.name}'`).join(', ');
  if (!arrays) throw new InputError(`${source}: expected an .npz of one array per model input (${names}: np.savez(path, ${parts.map((p) => `${p.name}=…`).join(', ')})), found one array`);
  // Arrays the model does not take are left (a tokenizer's token_type_ids for a DistilBERT).
  const each = parts.map((part, k) => {
    const array = arrays.get(part.name);
    if (!array) throw new InputError(`${source}: expected an array '${part.name}' (the model's inputs: ${names}), found ${[...arrays.keys()].map((n) => `'${n}'`).join(', ')}`);
    return partValues(array, part.shape, model.partLayouts?.[k] ?? model.imageLayout, part.values, `${source}: ${part.name}`, options.maxSamples, (values) => {
      const bad = badPartValue(model.network, part, values);
      return bad < 0 ? null : { bad, expected: partExpectation(model.network, part) };
    });
  });
  const totals = new Set(each.map((e) => e.total));
  if (totals.size > 1) throw new InputError(`${source}: shape: expected the same number of samples P in every array, found ${parts.map((p, k) => `${each[k].total} in '${p.name}'`).join(', ')}`);
  const count = each[0].count;
  const sizes = parts.map((p) => p.shape.reduce((a, b) => a * b, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  const data = new Float32Array(count * total);
  let start = 0;
  each.forEach((e, k) => {
    for (let p = 0; p < count; p++) data.set(e.data.subarray(p * sizes[k], (p + 1) * sizes[k]), p * total + start);
    start += sizes[k];
  });
  return { data, count, total: each[0].total };
}

type Check = (values: ArrayLike<number>) => { bad: number; expected: string } | null;

/** One array's first samples as values of our `shape` (NCHW converted), checked by `check`. */
function partValues(array: NpyArray, shape: number[], layout: ImageLayout, kind: InputPart['values'], source: string, maxSamples: number | undefined, check: Check): ModelSamples {
  // Integer images are not guessed at: the model was trained on some scaling of them (x / 255, a
  // mean and deviation), which only its user knows. Token ids and masks are integers (any dtype holds them).
  if (kind === 'float' && array.dtype !== 'float32' && array.dtype !== 'float64')
    throw new InputError(`${source}: descr: expected float32 or float64 samples (integer images: scale them as the model was trained, e.g. x / 255, and save them as float32), found ${array.dtype}`);
  const data = array.data instanceof BigInt64Array ? Float64Array.from(array.data, Number) : (array.data as Float32Array | Float64Array | Int32Array | Uint8Array);
  const perSample = shape.reduce((a, b) => a * b, 1);
  const [all, ...rest] = array.shape;
  const accepted = sampleShapes(shape, layout);
  const expected = sampleShapesText(accepted);
  const found = `(${array.shape.join(', ')})`;
  if (all === undefined || all < 1) throw new InputError(`${source}: shape: expected ${expected} with P ≥ 1, found ${found}`);
  const count = Math.min(all, maxSamples ?? all);
  const match = accepted.find((s) => same(rest, s.shape));
  if (!match) throw new InputError(`${source}: shape: expected ${expected} to match the model's input, found ${found}`);
  let out: Float32Array | Float64Array;
  if (kind !== 'float') {
    // Ids and masks as f32 (exact: the vocabulary is below 2^24), checked before f32 rounds 1.0000001 to an id.
    const values = data.subarray(0, count * perSample);
    const problem = check(values);
    if (problem) throw new InputError(`${source}: data: expected ${problem.expected}, found ${data[problem.bad]} in sample ${Math.floor(problem.bad / perSample)} at position ${problem.bad % perSample}`);
    return { data: Float32Array.from(values), count, total: all };
  }
  if (match.nchw) {
    // ONNX users hold NCHW images; the network runs NHWC.
    const [h, w, c] = shape;
    out = new Float32Array(count * perSample);
    for (let p = 0; p < count; p++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((p * h + y) * w + x) * c + ch] = data[((p * c + ch) * h + y) * w + x];
  } else out = (data as Float32Array | Float64Array).subarray(0, count * perSample); // floats: checked above
  const problem = check(out);
  if (problem) throw new InputError(`${source}: data: expected ${problem.expected}, found ${out[problem.bad]} in sample ${Math.floor(problem.bad / perSample)}`);
  return { data: out, count, total: all };
}

/**
 * Integer class labels for the samples: uint8, int32 or int64 of shape (total,), one per sample
 * of the samples file, each a class of the model (0 to classes − 1, when `classes` is given); the
 * first `count` are returned (as samplesForModel keeps the first samples).
 */
/** Labels score one output: a model of several (network.outputParts) takes none, said naming the labels file. */
export function labelsForModel(network: Network, source: string): void {
  const parts = network.outputParts;
  if (parts) throw new InputError(`${source}: expected no labels for a model of ${parts.length} outputs (${parts.map((p) => `'${p.name}'`).join(', ')}): accuracy scores one output; prune without labels (the outputs' discrepancy is reported)`);
}

export function labelsForSamples(array: NpyArray, source: string, samples: { total: number; count: number }, classes?: number): Int32Array {
  const { total, count } = samples;
  if (array.dtype !== 'int32' && array.dtype !== 'int64' && array.dtype !== 'uint8')
    throw new InputError(`${source}: descr: expected uint8, int32 or int64 labels, found ${array.dtype}`);
  if (array.shape.length !== 1 || array.shape[0] !== total)
    throw new InputError(`${source}: shape: expected (${total},) labels, one per sample, found (${array.shape.join(', ')})`);
  const labels = Int32Array.from((array.data as ArrayLike<number | bigint>) as ArrayLike<number>, (v) => Number(v));
  if (classes !== undefined) {
    const bad = labels.findIndex((v) => v < 0 || v >= classes);
    if (bad >= 0) throw new InputError(`${source}: data: expected class labels from 0 to ${classes - 1} (the model has ${classes} outputs), found ${labels[bad]} at index ${bad}`);
  }
  return labels.subarray(0, count);
}
