// What loading a model gives, in Node (modelFiles.ts: paths) and in browsers (browser/sources.ts:
// Files, URLs, bytes): everything after loading is the same code in both.
import type { Resizing } from './onnx/writer.js';
import type { ImageLayout } from '../network/sampleShapes.js';
import type { Network } from '../network/types.js';

export interface LoadedModel {
  format: 'tfjs' | 'onnx';
  /** The file name or URL it was read from (for messages and reports). */
  path: string;
  /** Every file read for it (model.json and its shards, or the .onnx), where it came from files: outputs must avoid them. */
  files: string[];
  network: Network;
  /** Image samples as the format's users hold them: ONNX (PyTorch) is NCHW, TF.js NHWC. */
  imageLayout: ImageLayout;
  /** With several inputs (network.inputParts): each one's layout, in that order. */
  partLayouts?: readonly ImageLayout[];
  /** What the import changed, in words (e.g. BatchNormalizations folded into the layer before them). */
  notes?: string[];
  /**
   * The model with `network`'s weights, as files named relative to an output folder. `removed`:
   * the channels each layer kept (by name) when `network` has fewer than the model, and the new
   * shapes of layers that lost attention heads (removeUnreadUnits' result).
   */
  serialize(network: Network, removed?: ReadonlyMap<string, Int32Array> | Resizing): Promise<Array<{ name: string; bytes: Uint8Array }>>;
}
