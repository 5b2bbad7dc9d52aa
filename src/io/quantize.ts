// --quantize (prune, and the demo page): a TF.js model written with its dense and conv weights quantized as
// tensorflowjs_converter's --quantize_float16/uint16/uint8 store them (a half, a quarter of the
// bytes), and pruned knowing it: each layer kept as trained is rounded first, each pruned layer as
// it is solved, so that in cascade every layer is fitted to the outputs of the quantized layers
// before it, and the report's numbers are the written model's.
import { InputError } from '../errors.js';
import type { LoadedModel } from './loadedModel.js';
import { storageFor } from '../network/storage.js';

export const QUANTIZE_DTYPES = ['float16', 'uint16', 'uint8'] as const;
export type QuantizeDtype = (typeof QUANTIZE_DTYPES)[number];

/** The --quantize value, checked (before anything is loaded). */
export function quantizeDtype(raw: string | undefined): QuantizeDtype | undefined {
  if (raw === undefined || (QUANTIZE_DTYPES as readonly string[]).includes(raw)) return raw as QuantizeDtype | undefined;
  throw new InputError(`--quantize: expected ${QUANTIZE_DTYPES.join(', ')}, found '${raw}'`);
}

/** Marks every dense and conv layer of the model to be stored as `dtype` when written (the values are rounded by pruneNetwork); a note says so. */
export function quantizeAsWritten(model: LoadedModel, dtype: QuantizeDtype): void {
  if (model.format !== 'tfjs')
    throw new InputError(`--quantize: expected a TF.js model (model.json), found ${model.format === 'onnx' ? 'an ONNX model' : model.format}: an ONNX model is written in the precision it was read in (float16 stays float16; onnxconverter-common's convert_float_to_float16 halves a float32 one before pruning)`);
  for (const layer of model.network.layers)
    if (layer.kind === 'dense' || layer.kind === 'conv2d') layer.storage = { kernel: storageFor(dtype), bias: storageFor(dtype) };
  const grid = dtype === 'float16' ? 'rounded to the nearest half' : `on a grid of its own values with zero exact (${dtype === 'uint8' ? 255 : 65535} steps, as tensorflowjs_converter --quantize_${dtype} makes it)`;
  model.notes = [...(model.notes ?? []), `--quantize ${dtype}: every dense and conv kernel and bias written as ${dtype}, ${grid}; layers kept as trained are rounded first and each pruned layer as it is solved, so each layer is fitted to the quantized layers before it and the numbers after are the written model's (other weights, such as a BatchNormalization's, stay as read)`];
}
