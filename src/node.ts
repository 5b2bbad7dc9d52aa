// The library for Node: the browser-safe API plus file helpers.
export * from './index.js';
export { readNpyFile, readSamplesFile, writeFilesAtomically, assertWritable, type FileToWrite } from './io/files.js';
export { loadModelFile, loadModelForSamples, type LoadedModel } from './io/modelFiles.js';
export { loadTfjsModelFile, saveTfjsModelFiles } from './io/tfjsFiles.js';
export { loadOnnxModelFile, saveOnnxModelFile } from './io/onnxFiles.js';
export { measureLatency, type LatencyModel, type LatencyOptions, type LatencyResult, type LatencyRow } from './io/latency.js';
import { invertOnWorkerThreads } from './solver/parallelSpdInverse.js';

// Large layers' setup inverts A on every core of the machine.
invertOnWorkerThreads();
