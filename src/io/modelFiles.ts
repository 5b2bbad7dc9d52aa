// One entry point for model files (Node): the format is chosen by extension, and the pruned model
// is produced in the same format it came in, as bytes the caller writes atomically with the rest.
import { extname } from 'node:path';
import { InputError } from '../errors.js';
import { readSamplesFile } from './files.js';
import { shapesOfSamples, type InputSizes } from './inputSizes.js';
import type { NpyArray } from './npy.js';
import type { LoadedModel } from './loadedModel.js';
import { loadOnnxModelFile } from './onnxFiles.js';
import { onnxImportNotes, writeOnnxModelFiles } from './onnxModel.js';
import { resizingOf } from './onnx/writer.js';
import { loadTfjsModelFile } from './tfjsFiles.js';
import { tfjsImportNotes, writeTfjsModel } from './tfjsModel.js';

export type { LoadedModel };

/** The files a pruned model of this format is written as (LoadedModel.serialize). */
export function modelFileNames(format: LoadedModel['format']): string[] {
  return format === 'tfjs' ? ['model.json', 'weights.bin'] : ['model.onnx', 'model.onnx.data'];
}

export async function loadModelFile(path: string, sizes?: InputSizes): Promise<LoadedModel> {
  const extension = extname(path).toLowerCase();
  if (extension === '.json') {
    const shards: string[] = [];
    const handle = await loadTfjsModelFile(path, shards, sizes);
    return {
      format: 'tfjs',
      path,
      files: [path, ...shards],
      network: handle.network,
      imageLayout: handle.sampleLayout,
      ...(handle.partLayouts ? { partLayouts: handle.partLayouts } : {}),
      notes: tfjsImportNotes(handle),
      async serialize(network, removed) {
        const { modelJson, weightData } = await writeTfjsModel(handle, network, resizingOf(removed).kept);
        return [
          { name: 'model.json', bytes: new TextEncoder().encode(modelJson) },
          { name: 'weights.bin', bytes: weightData },
        ];
      },
    };
  }
  if (extension === '.onnx') {
    const handle = await loadOnnxModelFile(path, sizes);
    return {
      format: 'onnx',
      path,
      files: [path, ...handle.dataFiles],
      network: handle.network,
      imageLayout: handle.sampleLayout,
      ...(handle.partLayouts ? { partLayouts: handle.partLayouts } : {}),
      notes: onnxImportNotes(handle),
      async serialize(network, removed) {
        return writeOnnxModelFiles(handle, network, removed);
      },
    };
  }
  const how = CONVERT[extension];
  throw new InputError(`${path}: expected a TF.js Layers model (model.json) or an ONNX model (.onnx), found extension '${extension || '(none)'}'${how ? `: ${how}` : ''}`);
}

/** What to do with the model files people have that are neither. */
const CONVERT: Record<string, string> = {
  '.keras': "a Keras 3 model: export it as ONNX (model.export('model.onnx', format='onnx')) and prune that",
  '.h5': 'a Keras model: convert it (tensorflowjs_converter --input_format keras model.h5 out/) and prune out/model.json',
  '.pt': "a PyTorch file: export the model as ONNX (torch.onnx.export(model, (example,), 'model.onnx')) and prune that",
  '.pth': "a PyTorch file: export the model as ONNX (torch.onnx.export(model, (example,), 'model.onnx')) and prune that",
  '.pb': 'a TensorFlow graph: convert the SavedModel to ONNX (python -m tf2onnx.convert --saved-model dir --output model.onnx) and prune that',
  '.tflite': 'a TensorFlow Lite model: prune the model it was converted from (as ONNX or TF.js)',
};

/**
 * The samples file and the model read for it: the samples first, since their shape fixes the
 * input axes the model leaves open (a sequence length); `dims` sizes them by name instead.
 */
export async function loadModelForSamples(path: string, samplesPath: string, dims?: Readonly<Record<string, number>>): Promise<{ model: LoadedModel; arrays: NpyArray | Map<string, NpyArray> }> {
  const arrays = await readSamplesFile(samplesPath);
  return { model: await loadModelFile(path, { dims, samples: shapesOfSamples(arrays) }), arrays };
}
