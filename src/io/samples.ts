// Sample inputs and labels for a loaded model, from parsed .npy arrays: the checks and the layout
// conversion of --samples/--labels, shared by the CLI, the library and the demo page (browser-safe).
import { InputError } from '../errors.js';
import { sampleShapes, sampleShapesText, type ImageLayout } from '../network/sampleShapes.js';
import { badTokenId, tokenVocabulary } from '../network/graph.js';
import type { Network } from '../network/types.js';
import type { NpyArray } from './npy.js';

export interface ModelSamples {
  /** count samples of the network's input shape, samples-major, NHWC for images. */
  data: Float32Array | Float64Array;
  count: number;
  /** Samples in the array (count is at most this: `maxSamples`). */
  total: number;
}

const same = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((v, i) => v === b[i]);

/**
 * The samples of `array` (from `source`, named in messages) as the network's input: one of
 * sampleShapes (images as the model's users hold them: NCHW for ONNX, NHWC for TF.js; flattened
 * where unambiguous). NCHW is converted to the network's NHWC. `maxSamples` keeps the first n.
 * Values must be finite.
 */
export function samplesForModel(
  array: NpyArray,
  model: { network: Network; imageLayout: ImageLayout },
  source: string,
  options: { maxSamples?: number } = {},
): ModelSamples {
  const vocabulary = tokenVocabulary(model.network);
  // Integer images are not guessed at: the model was trained on some scaling of them (x / 255, a
  // mean and deviation), which only its user knows. Token ids are integers (any dtype holds them).
  if (vocabulary === undefined && array.dtype !== 'float32' && array.dtype !== 'float64')
    throw new InputError(`${source}: descr: expected float32 or float64 samples (integer images: scale them as the model was trained, e.g. x / 255, and save them as float32), found ${array.dtype}`);
  const data = array.data instanceof BigInt64Array ? Float64Array.from(array.data, Number) : (array.data as Float32Array | Float64Array | Int32Array | Uint8Array);
  const inputShape = model.network.inputShape;
  const perSample = inputShape.reduce((a, b) => a * b, 1);
  const [all, ...rest] = array.shape;
  const accepted = sampleShapes(inputShape, model.imageLayout);
  const expected = sampleShapesText(accepted);
  const found = `(${array.shape.join(', ')})`;
  if (all === undefined || all < 1) throw new InputError(`${source}: shape: expected ${expected} with P ≥ 1, found ${found}`);
  const count = Math.min(all, options.maxSamples ?? all);
  const match = accepted.find((s) => same(rest, s.shape));
  if (!match) throw new InputError(`${source}: shape: expected ${expected} to match the model's input, found ${found}`);
  let out: Float32Array | Float64Array;
  if (vocabulary !== undefined) {
    // Ids as f32 (exact: the vocabulary is below 2^24), checked here so the message names the file.
    const ids = data.subarray(0, count * perSample);
    const bad = badTokenId(ids, vocabulary); // before f32 rounds 1.0000001 to an id
    out = Float32Array.from(ids);
    if (bad >= 0)
      throw new InputError(`${source}: data: expected token ids, whole numbers from 0 to ${vocabulary - 1} (the embedding's vocabulary), found ${data[bad]} in sample ${Math.floor(bad / perSample)} at position ${bad % perSample}`);
    return { data: out, count, total: all };
  }
  if (match.nchw) {
    // ONNX users hold NCHW images; the network runs NHWC.
    const [h, w, c] = inputShape;
    out = new Float32Array(count * perSample);
    for (let p = 0; p < count; p++)
      for (let ch = 0; ch < c; ch++)
        for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((p * h + y) * w + x) * c + ch] = data[((p * c + ch) * h + y) * w + x];
  } else out = (data as Float32Array | Float64Array).subarray(0, count * perSample); // floats: checked above
  for (let i = 0; i < out.length; i++)
    if (!Number.isFinite(out[i])) throw new InputError(`${source}: data: expected finite values, found ${out[i]} in sample ${Math.floor(i / perSample)}`);
  return { data: out, count, total: all };
}

/**
 * Integer class labels for the samples: uint8, int32 or int64 of shape (total,), one per sample
 * of the samples file, each a class of the model (0 to classes − 1, when `classes` is given); the
 * first `count` are returned (as samplesForModel keeps the first samples).
 */
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
