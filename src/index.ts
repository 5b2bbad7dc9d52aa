// The library's browser-safe API (no Node built-ins). Node adds file helpers in ./node.ts.
export { solveLayer } from './solver/solveLayer.js';
export type * from './solver/types.js';
export { InputError, GpuError, NoAdapterError } from './errors.js';
export { acquireGpu, type GpuRuntime } from './gpu/device.js';
export { parseNpy, serializeNpy, npyToMatrix, assertFinite } from './io/npy.js';
export { parseNpz, isZip } from './io/npz.js';
export { shapesOfSamples, type InputSizes, type FixedAxis } from './io/inputSizes.js';
export type { NpyArray, NpyData, NpyDtype, NpyFloatArray, ParseNpyOptions } from './io/npy.js';
export type {
  Network,
  InputPart,
  OutputPart,
  Layer,
  DenseLayer,
  Conv2DLayer,
  ReluLayer,
  ActivationLayer,
  ActivationFunction,
  MaxPool2DLayer,
  AvgPool2DLayer,
  GlobalAvgPoolLayer,
  BatchNormLayer,
  AddLayer,
  ConcatLayer,
  FlattenLayer,
  EmbeddingLayer,
  PositionRule,
  LastTokenLayer,
  SoftmaxLayer,
  Padding,
  AffineGrid,
  WeightStorage,
  LayerStorage,
} from './network/types.js';
export type { Activation as LayerActivation } from './network/types.js';
export { checkNetwork, networkGraph, prunableLayers, tokenVocabulary } from './network/graph.js';
export { describeNetwork, formatNetworkSummary, type LayerSummary, type NetworkSummary } from './network/describe.js';
export { forwardCpu } from './network/forwardCpu.js';
export { forwardGpu } from './network/forwardGpu.js';
export { pruneNetwork, DEFAULT_EPSILON_GAIN, DEFAULT_GAMMA, DEFAULT_KAPPA } from './prune/pruneNetwork.js';
export type { PruneOptions, PruneResult, LayerPruneReport, PruneMode } from './prune/pruneNetwork.js';
export { pruneToTarget, searchGain, prunedSparsity, type TargetOptions, type TargetResult, type Trial } from './prune/targetSparsity.js';
export { removeUnreadUnits, type UnitRemoval } from './prune/removeUnits.js';
export { runPrune, serializeRun, unitSparsity, deploymentReport, type PruneRun, type PruneRunOptions, type DeploymentReport, type SearchReport } from './report/pruneRun.js';
export { networkCost, type NetworkCost, type CostCounts, type LayerCost } from './network/cost.js';
export { withSparseInitializers, type SparseTensorEntry } from './io/onnx/sparse.js';
export { fileSizes } from './io/fileSizes.js';
export { parseTfjsModel, writeTfjsModel } from './io/tfjsModel.js';
export { parseOnnxModel, parseOnnxModelWithData, writeOnnxModel, writeOnnxModelFiles, networkToOnnx } from './io/onnxModel.js';
export { exportSparse } from './io/sparseExport.js';
export { affineGrid, dequantize, quantize, storeAs, storeLayerWeights } from './network/storage.js';
export { quantizeAsWritten, quantizeDtype, QUANTIZE_DTYPES, type QuantizeDtype } from './io/quantize.js';
export { halfBytes, halfToFloat, floatToHalf, roundToHalf } from './network/half.js';
// Models and samples from File/Blob/ArrayBuffer/Response/URL (browsers; Node too): the
// counterparts of loadModelFile and readNpyFile, returning the same LoadedModel and NpyArray.
export { loadModel, readNpy, readSamples, readBytes } from './browser/sources.js';
export type { ByteSource, ModelSource, NamedSource, SourceOptions, LoadedModel } from './browser/sources.js';
export { samplesForModel, labelsForModel, labelsForSamples, type ModelSamples } from './io/samples.js';
