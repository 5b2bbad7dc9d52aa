// Inference latency of models side by side (Node only), measured the way they are deployed: the
// model files as written, loaded by their own runtime (TF.js for model.json + weights.bin,
// onnxruntime-node with its default CPU execution provider for .onnx), one predict/run per batch
// with the output read back. A pruned model keeps its dense layout, so these runtimes do the same
// work on it: the measurement shows that, rather than the MAC count suggesting otherwise.
//
// Noise: the models of one runtime and batch size run in interleaved rounds (A B, then B A, …),
// so a slow stretch of the machine hits both; the result keeps medians and quartiles, not means.
// Runtimes are measured one after the other, not interleaved: onnxruntime's worker threads spin
// for a while after each run and would slow a TF.js run that follows.
import * as tf from '@tensorflow/tfjs';
import { silenceNodeBackendHint } from './tfjs/quiet.js';
import type { InferenceSession } from 'onnxruntime-node';
import { InputError } from '../errors.js';
import { floatToHalf } from '../network/half.js';

type OnnxRuntime = typeof import('onnxruntime-node');

export type LatencyRuntime = 'tfjs' | 'onnx';

export interface LatencyModel {
  label: string;
  format: LatencyRuntime;
  /** tfjs: model.json and the weight files it lists (weights.bin); onnx: the .onnx file, its data inside. */
  files: { name: string; bytes: Uint8Array }[];
  /** onnx: the model file on disk instead of `files`, its data files beside it (any size; latencyFiles.ts writes them). */
  path?: string;
}

export interface LatencyOptions {
  /** One sample's shape in the runtime's own layout: NHWC for tfjs, what the ONNX graph input declares (NCHW) for onnx. */
  inputShape: number[];
  /** Batch sizes (default [1, 64]). */
  batches?: number[];
  /** Timed runs per model and batch size (default 30). */
  repeats?: number;
  /** Untimed runs per model and batch size first (default 3): lazy initialisation, caches. */
  warmup?: number;
  /** Checked between runs: the promise rejects with its reason. */
  signal?: AbortSignal;
  /** The input holds token ids below this (a text model's embedding): random ids, int64 for onnx. */
  vocabulary?: number;
  /**
   * A model of several inputs (network.inputParts), in the order their values follow one
   * another in `inputShape` ([their total]): each by name with its runtime shape per sample.
   * Inputs: random ids below `vocabulary`, masks of ones (every token real), random floats.
   */
  inputs?: LatencyInput[];
}

export interface LatencyInput {
  name: string;
  shape: number[];
  values: 'ids' | 'mask' | 'float';
  vocabulary?: number;
}

export interface ModelLatency {
  label: string;
  medianMs: number;
  /** First and third quartiles of the run times. */
  q1Ms: number;
  q3Ms: number;
  runs: number;
}

export interface LatencyRow {
  runtime: LatencyRuntime;
  /** What ran the models: TF.js's backend (tf.getBackend()), or onnxruntime's execution provider. */
  backend: string;
  /** The runtime's version. */
  version: string;
  batch: number;
  /** The models of this runtime, in the order given. */
  models: ModelLatency[];
  /** The second model's median over the first's (after / before); null with one model. */
  ratio: number | null;
}

export interface LatencyResult {
  inputShape: number[];
  repeats: number;
  warmup: number;
  /** One row per runtime (in the order the models name them) and batch size. */
  rows: LatencyRow[];
  /** Batch sizes left out, and why (a model exported for one batch size only). */
  notes: string[];
}

/** One loaded model: prepare() makes a batch's input once (not timed) and returns a run. */
interface Runner {
  backend: string;
  version: string;
  /** The only batch size the model's input takes, when it declares one. */
  fixedBatch: number | null;
  prepare(data: Float32Array, batch: number): { run(): Promise<void>; dispose(): void };
  dispose(): Promise<void>;
}

/** onnxruntime-node, or an Error saying how to get it (it is not needed for anything else). */
export async function importOnnxRuntime(load: () => Promise<OnnxRuntime> = () => import('onnxruntime-node')): Promise<OnnxRuntime> {
  try {
    return await load();
  } catch (error) {
    const code = (error as { code?: unknown })?.code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND')
      throw new Error('measuring ONNX models needs onnxruntime-node, which is not installed: run `npm install onnxruntime-node`');
    throw new Error(`onnxruntime-node is installed but does not load: ${firstLine(error)}`);
  }
}

const firstLine = (error: unknown) => String((error as Error)?.message ?? error).split('\n')[0];

const sameName = (file: string, listed: string) => file === listed || file.split(/[\\/]/).pop() === listed.split('/').pop();

const isFixed = (d: unknown): d is number => typeof d === 'number' && d > 0;

/**
 * Checks the runtime's declared input shape against one sample's (null / symbolic dimensions
 * match anything) and returns the batch size it fixes, if it does.
 */
function checkInputShape(where: string, declaredWithBatch: readonly (number | string | null)[], inputShape: number[]): number | null {
  const declared = declaredWithBatch.slice(1);
  const fits = declared.length === inputShape.length && declared.every((d, i) => !isFixed(d) || d === inputShape[i]);
  if (!fits)
    throw new InputError(
      `${where}: the model's input is ${JSON.stringify(declared)} per sample, the inputShape given is ${JSON.stringify(inputShape)} ` +
        `(give it in the runtime's own layout: NHWC for tfjs, NCHW for onnx; measure models of different layouts in separate calls)`,
    );
  return isFixed(declaredWithBatch[0]) ? declaredWithBatch[0] : null;
}

async function tfjsRunner(model: LatencyModel, inputShape: number[], parts?: LatencyInput[]): Promise<Runner> {
  const where = `${model.label} (tfjs)`;
  const jsonFile = model.files.find((f) => f.name.toLowerCase().endsWith('.json'));
  if (!jsonFile) throw new InputError(`${where}: expected a model.json among the files, found ${model.files.map((f) => `'${f.name}'`).join(', ') || 'none'}`);
  let json: { modelTopology?: unknown; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; format?: string };
  try {
    json = JSON.parse(new TextDecoder().decode(jsonFile.bytes));
  } catch (error) {
    throw new InputError(`${where}: ${jsonFile.name} is not JSON: ${firstLine(error)}`);
  }
  if (!json || typeof json !== 'object' || !json.modelTopology || !Array.isArray(json.weightsManifest))
    throw new InputError(`${where}: ${jsonFile.name}: expected a TF.js Layers model.json (modelTopology and weightsManifest)`);
  // The weight files in manifest order, concatenated: what tf.io.fromMemory takes.
  const shards = json.weightsManifest.flatMap((group) =>
    (group.paths ?? []).map((listed) => {
      const file = model.files.find((f) => sameName(f.name, listed));
      if (!file) throw new InputError(`${where}: ${jsonFile.name} lists the weight file '${listed}', which is not among the files given (${model.files.map((f) => f.name).join(', ')})`);
      return file.bytes;
    }),
  );
  const weightData = new Uint8Array(shards.reduce((n, s) => n + s.length, 0));
  shards.reduce((offset, s) => (weightData.set(s, offset), offset + s.length), 0);
  let layersModel: tf.LayersModel;
  try {
    const weightSpecs = json.weightsManifest.flatMap((group) => group.weights);
    layersModel = await tf.loadLayersModel(tf.io.fromMemory({ modelTopology: json.modelTopology as object, weightSpecs, weightData: weightData.buffer, format: json.format }));
  } catch (error) {
    throw new InputError(`${where}: TF.js cannot load the model: ${firstLine(error)}`);
  }
  // The model's inputs in its own order, each with the part it takes (its values' place in a sample).
  const inputs = (parts ?? [{ name: layersModel.inputs[0]?.sourceLayer.name ?? '', shape: inputShape, values: 'float' as const }]).map((part) => ({ ...part, size: part.shape.reduce((a, b) => a * b, 1), start: 0 }));
  inputs.reduce((start, input) => ((input.start = start), start + input.size), 0);
  const total = inputs.reduce((s, i) => s + i.size, 0);
  let fixedBatch: number | null = null;
  let fed: typeof inputs;
  try {
    if (layersModel.inputs.length !== inputs.length) throw new InputError(`${where}: expected a model with ${inputs.length === 1 ? 'one input' : `${inputs.length} inputs`}, found ${layersModel.inputs.length}`);
    fed = layersModel.inputs.map((symbolic, k) => {
      const name = symbolic.sourceLayer.name;
      const input = parts ? inputs.find((i) => i.name === name) : inputs[0];
      if (!input) throw new InputError(`${where}: input '${name}': expected one of ${inputs.map((i) => `'${i.name}'`).join(', ')}`);
      fixedBatch = checkInputShape(parts ? `${where}: input '${name}'` : where, layersModel.inputs[k].shape, input.shape) ?? fixedBatch;
      return input;
    });
  } catch (error) {
    layersModel.dispose();
    throw error;
  }
  await tf.ready();
  return {
    backend: tf.getBackend(),
    version: tf.version.tfjs,
    fixedBatch,
    prepare(data, batch) {
      // Each input's values, sample by sample; token ids as the int32 an Embedding's input holds.
      const tensors = fed.map((input) => {
        const values = new Float32Array(batch * input.size);
        for (let p = 0; p < batch; p++) values.set(data.subarray(p * total + input.start, p * total + input.start + input.size), p * input.size);
        return input.values === 'ids' ? tf.tensor(Int32Array.from(values), [batch, ...input.shape], 'int32') : tf.tensor(values, [batch, ...input.shape], 'float32');
      });
      return {
        async run() {
          const output = layersModel.predict(tensors.length === 1 ? tensors[0] : tensors);
          const outputs = Array.isArray(output) ? output : [output];
          // Reading the output back is part of an inference (and what makes a lazy backend compute).
          for (const tensor of outputs) await tensor.data();
          tf.dispose(outputs);
        },
        dispose: () => tf.dispose(tensors),
      };
    },
    async dispose() {
      layersModel.dispose();
    },
  };
}

/** The ONNX tensor types an input may take, and the typed array each is made of. */
const ORT_TYPES = { float32: (d: Float32Array) => d, float16: (d: Float32Array) => Uint16Array.from(d, floatToHalf), int64: (d: Float32Array) => BigInt64Array.from(d, (v) => BigInt(v)), int32: (d: Float32Array) => Int32Array.from(d), bool: (d: Float32Array) => Uint8Array.from(d) } as const;
type OrtType = keyof typeof ORT_TYPES;

async function onnxRunner(model: LatencyModel, inputShape: number[], parts?: LatencyInput[]): Promise<Runner> {
  const where = `${model.label} (onnx)`;
  // onnxruntime given bytes cannot read data files beside them: such a model comes by its path.
  const file = model.path ? { name: model.path, bytes: null } : model.files.length === 1 ? model.files[0] : null;
  if (!file) throw new InputError(`${where}: expected one .onnx file (its data inside) or a path, found ${model.files.map((f) => `'${f.name}'`).join(', ') || 'none'}`);
  const ort = await importOnnxRuntime();
  let session: InferenceSession;
  try {
    // Default session options (CPU execution provider, all graph optimisations): as deployed.
    session = await (file.bytes ? ort.InferenceSession.create(file.bytes, { logSeverityLevel: 3 }) : ort.InferenceSession.create(file.name, { logSeverityLevel: 3 }));
  } catch (error) {
    throw new InputError(`${where}: onnxruntime cannot load ${file.name}: ${firstLine(error)}`);
  }
  // The graph's inputs: one, or several in the order of `parts` (their values one after another per sample).
  const inputs = (parts ?? [{ name: session.inputNames[0], shape: inputShape }]).map((part) => ({ ...part, type: 'float32' as OrtType, size: part.shape.reduce((a, b) => a * b, 1) }));
  let fixedBatch: number | null = null;
  try {
    if (session.inputNames.length !== inputs.length) throw new InputError(`${where}: expected a model with ${inputs.length === 1 ? 'one input' : `${inputs.length} inputs`}, found ${session.inputNames.length}`);
    for (const input of inputs) {
      const k = session.inputNames.indexOf(input.name);
      if (k < 0) throw new InputError(`${where}: expected an input '${input.name}', found ${session.inputNames.map((n) => `'${n}'`).join(', ')}`);
      const metadata = session.inputMetadata[k];
      if (!metadata?.isTensor) continue;
      if (!(metadata.type in ORT_TYPES) || (metadata.type === 'bool' && !parts))
        throw new InputError(`${where}: input '${input.name}': expected float32 or float16 (or int64 or int32 token ids${parts ? ', or an int or bool mask' : ''}), found ${metadata.type}`);
      input.type = metadata.type as OrtType;
      if (metadata.shape.length > 0) fixedBatch = checkInputShape(parts ? `${where}: input '${input.name}'` : where, metadata.shape, input.shape) ?? fixedBatch;
    }
  } catch (error) {
    await session.release();
    throw error;
  }
  const total = inputs.reduce((s, i) => s + i.size, 0);
  return {
    backend: 'cpu',
    version: ort.env.versions.node ?? ort.env.versions.common,
    fixedBatch,
    prepare(data, batch) {
      // Each input's values, sample by sample, as the graph declares them (ids and masks hold whole numbers then).
      let start = 0;
      const tensors = inputs.map((input) => {
        const values = new Float32Array(batch * input.size);
        for (let p = 0; p < batch; p++) values.set(data.subarray(p * total + start, p * total + start + input.size), p * input.size);
        start += input.size;
        return [input.name, new ort.Tensor(input.type, ORT_TYPES[input.type](values), [batch, ...input.shape])] as const;
      });
      const feeds = Object.fromEntries(tensors);
      return {
        async run() {
          const outputs = await session.run(feeds);
          for (const tensor of Object.values(outputs)) tensor.dispose();
        },
        dispose: () => tensors.forEach(([, t]) => t.dispose()),
      };
    },
    dispose: () => session.release(),
  };
}

/** `batch` samples of several inputs, each sample's values one input after another: random ids, masks of ones, random floats. */
function partsData(inputs: LatencyInput[], batch: number, random: () => number): Float32Array {
  const values: number[] = [];
  for (let p = 0; p < batch; p++)
    for (const input of inputs)
      for (let i = 0; i < input.shape.reduce((a, b) => a * b, 1); i++) values.push(input.values === 'ids' ? Math.floor(random() * (input.vocabulary ?? 1)) : input.values === 'mask' ? 1 : random());
  return Float32Array.from(values);
}

/** Uniform numbers in [0, 1) from a 32-bit seed (mulberry32): the same inputs every call. */
function mulberry32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The q-quantile of sorted values, interpolated between neighbours. */
function quantile(sorted: number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const low = Math.floor(at);
  const high = Math.min(low + 1, sorted.length - 1);
  return sorted[low] + (sorted[high] - sorted[low]) * (at - low);
}

/** Lets timers and signal handlers run (TF.js's CPU backend never yields on its own). */
// (globalThis: this Node-only file is also type-checked with the page's DOM types, which lack setImmediate.)
const yieldToEventLoop = () => new Promise<void>((resolve) => (globalThis as unknown as { setImmediate: (f: () => void) => void }).setImmediate(resolve));

const isCount = (v: unknown, min: number) => Number.isInteger(v) && (v as number) >= min;

/**
 * Measures each model's inference latency per batch size (see the file's comment for how), after
 * loading every model; rejects with an InputError for a model that does not load or whose input
 * does not match `inputShape`, and with the signal's reason when aborted.
 */
export async function measureLatency(models: LatencyModel[], options: LatencyOptions): Promise<LatencyResult> {
  silenceNodeBackendHint();
  const { inputShape, batches = [1, 64], repeats = 30, warmup = 3, signal, vocabulary, inputs } = options;
  if (!Array.isArray(models) || models.length === 0) throw new InputError('latency: expected at least one model');
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => isCount(d, 1)))
    throw new InputError(`latency: inputShape must be a non-empty list of positive integers (found ${JSON.stringify(inputShape)})`);
  if (!Array.isArray(batches) || batches.length === 0 || !batches.every((b) => isCount(b, 1)))
    throw new InputError(`latency: batches must be a non-empty list of positive integers (found ${JSON.stringify(batches)})`);
  if (!isCount(repeats, 1)) throw new InputError(`latency: repeats must be a positive integer (found ${repeats})`);
  if (!isCount(warmup, 0)) throw new InputError(`latency: warmup must be an integer ≥ 0 (found ${warmup})`);
  for (const model of models)
    if (model?.format !== 'tfjs' && model?.format !== 'onnx') throw new InputError(`latency: model '${model?.label}': format must be 'tfjs' or 'onnx' (found ${JSON.stringify(model?.format)})`);
  signal?.throwIfAborted();

  const runners: Runner[] = [];
  try {
    for (const model of models) {
      runners.push(await (model.format === 'tfjs' ? tfjsRunner(model, inputShape, inputs) : onnxRunner(model, inputShape, inputs)));
      signal?.throwIfAborted();
    }
    const sampleSize = inputShape.reduce((a, b) => a * b, 1);
    const runtimes = [...new Set(models.map((m) => m.format))];
    const rows: LatencyRow[] = [];
    const notes: string[] = [];
    for (const runtime of runtimes) {
      const members = models.flatMap((model, i) => (model.format === runtime ? [i] : []));
      for (const batch of batches) {
        // Left out rather than failed: PyTorch exports often take batch size 1 only.
        const fixed = members.find((i) => runners[i].fixedBatch !== null && runners[i].fixedBatch !== batch);
        if (fixed !== undefined) {
          notes.push(`${runtime}: batch size ${batch} left out: '${models[fixed].label}' takes batch size ${runners[fixed].fixedBatch} only`);
          continue;
        }
        // The same seeded inputs for every model of this batch size.
        const random = mulberry32(0x6e7472 + batch);
        const data = inputs ? partsData(inputs, batch, random) : Float32Array.from({ length: batch * sampleSize }, vocabulary ? () => Math.floor(random() * vocabulary) : random);
        const prepared = members.map((i) => runners[i].prepare(data, batch));
        const times: number[][] = members.map(() => []);
        try {
          for (let round = 0; round < warmup + repeats; round++) {
            const order = round % 2 === 0 ? members.keys() : [...members.keys()].reverse();
            for (const k of order) {
              await yieldToEventLoop();
              signal?.throwIfAborted();
              const start = performance.now();
              await prepared[k].run();
              const elapsed = performance.now() - start;
              if (round >= warmup) times[k].push(elapsed);
            }
          }
        } finally {
          for (const p of prepared) p.dispose();
        }
        const stats = members.map((i, k): ModelLatency => {
          const sorted = [...times[k]].sort((a, b) => a - b);
          return { label: models[i].label, medianMs: quantile(sorted, 0.5), q1Ms: quantile(sorted, 0.25), q3Ms: quantile(sorted, 0.75), runs: sorted.length };
        });
        const { backend, version } = runners[members[0]];
        rows.push({ runtime, backend, version, batch, models: stats, ratio: stats.length > 1 ? stats[1].medianMs / stats[0].medianMs : null });
      }
    }
    return { inputShape: [...inputShape], repeats, warmup, rows, notes };
  } finally {
    for (const runner of runners) await runner.dispose();
  }
}
