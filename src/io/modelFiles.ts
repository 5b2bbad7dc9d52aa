// One entry point for model files (Node): the format is chosen by extension, and the pruned model
// is produced in the same format it came in, as bytes the caller writes atomically with the rest.
import { extname } from 'node:path';
import { InputError } from '../errors.js';
import type { Network } from '../network/types.js';
import { loadOnnxModelFile } from './onnxFiles.js';
import { writeOnnxModel } from './onnxModel.js';
import { loadTfjsModelFile } from './tfjsFiles.js';
import { writeTfjsModel } from './tfjsModel.js';

export interface LoadedModel {
  format: 'tfjs' | 'onnx';
  path: string;
  network: Network;
  /** Image samples as the format's users hold them: ONNX (PyTorch) is NCHW, TF.js NHWC. */
  imageLayout: 'nchw' | 'nhwc';
  /** The model with `network`'s weights, as files named relative to the output folder. */
  serialize(network: Network): Promise<Array<{ name: string; bytes: Uint8Array }>>;
}

export async function loadModelFile(path: string): Promise<LoadedModel> {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') {
    const handle = await loadTfjsModelFile(path);
    return {
      format: 'tfjs',
      path,
      network: handle.network,
      imageLayout: 'nhwc',
      async serialize(network) {
        const { modelJson, weightData } = await writeTfjsModel(handle, network);
        return [
          { name: 'model.json', bytes: new TextEncoder().encode(modelJson) },
          { name: 'weights.bin', bytes: weightData },
        ];
      },
    };
  }
  if (extension === '.onnx') {
    const handle = await loadOnnxModelFile(path);
    return {
      format: 'onnx',
      path,
      network: handle.network,
      imageLayout: 'nchw',
      async serialize(network) {
        return [{ name: 'model.onnx', bytes: writeOnnxModel(handle, network) }];
      },
    };
  }
  throw new InputError(`${path}: expected a TF.js Layers model (model.json) or an ONNX model (.onnx), found extension '${extension || '(none)'}'`);
}
