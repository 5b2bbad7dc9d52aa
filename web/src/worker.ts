// The demo's pruning worker: loads the model and samples, prunes on this worker's WebGPU device
// (or the float64 CPU backend), and posts progress, the results and the files to download. The
// page's thread only draws, so it stays responsive during a solve. One job at a time; a 'cancel'
// aborts it at the solver's next check (every 50 iterations).
import * as tf from '@tensorflow/tfjs';
import {
  acquireGpu,
  exportSparse,
  fileSizes,
  GpuError,
  InputError,
  labelsForModel,
  labelsForSamples,
  checkNetwork,
  describeNetwork,
  formatNetworkSummary,
  loadModel,
  prunableLayers,
  quantizeAsWritten,
  readNpy,
  readSamples,
  samplesForModel,
  shapesOfSamples,
  tokenVocabulary,
  type GpuRuntime,
  type LoadedModel,
  type Network,
  type NpyArray,
} from '../../src/index.js';
import { resultFields, type PruneReportDocument } from '../../src/report/document.js';
import { deploymentReport, runPrune, serializeRun } from '../../src/report/pruneRun.js';
import { renderPruneReport } from '../../src/report/html.js';
import version from 'virtual:net-trim-version';
import type { FromWorker, InputSummary, JobInput, LayerInfo, PruneOutcome, PruneSettings, ToWorker } from './protocol.js';

const scope = self as unknown as { postMessage(message: FromWorker, transfer?: Transferable[]): void; onmessage: ((event: MessageEvent<ToWorker>) => void) | null };
const post = (message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer);

// TF.js only (de)serializes weights here: its CPU backend copies float32 exactly (no WebGL textures).
const tfReady = tf.setBackend('cpu');

let gpu: Promise<GpuRuntime> | null = null;
function getGpu(): Promise<GpuRuntime> {
  gpu ??= acquireGpu().catch((error) => {
    gpu = null;
    throw error;
  });
  return gpu;
}

const running = new Map<number, AbortController>();

/** The device this worker prunes on; the reason in browser terms when there is none. */
async function probeGpu(): Promise<GpuRuntime> {
  const webgpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!webgpu) throw new GpuError('navigator.gpu is not available in this browser (or not in its workers)');
  if (!(await webgpu.requestAdapter({ powerPreference: 'high-performance' })))
    throw new GpuError('navigator.gpu.requestAdapter() found no adapter: WebGPU is disabled or not supported on this device');
  return getGpu();
}

scope.onmessage = (event) => {
  const message = event.data;
  switch (message.type) {
    case 'probe':
      probeGpu().then(
        (g) => post({ type: 'gpu', ok: true, adapter: g.adapterDescription }),
        (error) => post({ type: 'gpu', ok: false, message: errorMessage(error) }),
      );
      break;
    case 'inspect':
      readInput(message.input, message.maxSamples).then(
        (input) => post({ type: 'inspected', id: message.id, input: input.summary }),
        (error) => post(errorReply(message.id, error)),
      );
      break;
    case 'prune':
      void prune(message.id, message.input, message.settings);
      break;
    case 'cancel':
      running.get(message.id)?.abort(new DOMException('cancelled by the user', 'AbortError'));
      break;
  }
};

function errorMessage(error: unknown): string {
  return String((error as Error)?.message ?? error);
}

function errorReply(id: number, error: unknown): FromWorker {
  const kind = error instanceof InputError ? 'input' : error instanceof GpuError ? 'gpu' : 'other';
  return { type: 'error', id, kind, message: errorMessage(error) };
}

function nonzeros(values: ArrayLike<number> | null): number {
  let n = 0;
  if (values) for (let i = 0; i < values.length; i++) if (values[i] !== 0) n++;
  return n;
}

function layerInfos(network: Network): LayerInfo[] {
  return prunableLayers(network).map(({ layer, program }) => ({
    name: layer.name,
    kind: layer.kind,
    program,
    shape: layer.kind === 'dense' ? `${layer.inputs} → ${layer.units}` : `${layer.kernelSize.join('×')}×${layer.inChannels} → ${layer.filters}`,
    nonzeros: nonzeros(layer.kernel) + nonzeros(layer.bias),
  }));
}

interface Samples {
  data: Float32Array | Float64Array;
  count: number;
  labels?: Int32Array;
}

interface ReadInput {
  model: LoadedModel;
  /** The samples the pruning sees: the first maxSamples. */
  samples: Samples;
  /** The rest of the file, with labels: accuracy on inputs the pruning did not see (as the CLI). */
  heldOut: Samples | null;
  summary: InputSummary;
  sources: { samples: string; labels: string | null };
}

const isFloat = (a: NpyArray) => a.dtype === 'float32' || a.dtype === 'float64';

/** The model, samples and labels of a job, checked; every error names the file at fault. */
async function readInput(input: JobInput, maxSamples?: number): Promise<ReadInput> {
  await tfReady;
  let model: LoadedModel;
  let samplesArray: { name: string; array: NpyArray | Map<string, NpyArray> };
  let labelsArray: { name: string; array: NpyArray } | null = null;
  if ('urls' in input) {
    const { urls } = input;
    // The samples first: their shape fixes the input axes a model leaves open (a sequence length).
    samplesArray = { name: urls.samples, array: await readSamples(urls.samples) };
    model = await loadModel(urls.model, { sizes: { samples: shapesOfSamples(samplesArray.array) } });
    if (urls.labels) labelsArray = { name: urls.labels, array: await readNpy(urls.labels) };
  } else {
    const npyFiles = input.files.filter((f) => f.name.toLowerCase().endsWith('.npy'));
    const npzFiles = input.files.filter((f) => f.name.toLowerCase().endsWith('.npz'));
    const modelFiles = input.files.filter((f) => !npyFiles.includes(f) && !npzFiles.includes(f));
    const arrays = await Promise.all(npyFiles.map(async (f) => ({ name: f.name, array: await readNpy(f) })));
    if (npzFiles.length > 1) throw new InputError(`${npzFiles.map((f) => f.name).join(', ')}: expected one .npz of samples, found ${npzFiles.length}`);
    // An .npz holds the samples (one array per input of the model); an .npy beside it, the labels.
    if (npzFiles.length === 1 && arrays.length > 1) throw new InputError(`${arrays.map((a) => a.name).join(', ')}: expected at most one .npy of labels beside the samples ${npzFiles[0].name}, found ${arrays.length}`);
    const npz = npzFiles.length === 1 ? await readSamples(npzFiles[0]) : null;
    // The samples' shape fixes the input axes a model leaves open; of .npy files, samples have more axes than labels.
    const shaped = npz ?? arrays.find((a) => a.array.shape.length > 1)?.array;
    model = await loadModel(modelFiles, shaped ? { sizes: { samples: shapesOfSamples(shaped) } } : {});
    if (npz) return checkedInput(model, { name: npzFiles[0].name, array: npz }, arrays[0] ?? null, maxSamples);
    // A model of several inputs takes an .npz: samplesForModel says so, naming the .npy given.
    const parts = model.network.inputParts;
    const given = arrays.find((a) => a.array.shape.length > 1) ?? arrays[0];
    if (parts && given) samplesForModel(given.array, model, given.name);
    if (parts) throw new InputError(`${model.path}: expected an .npz of one array per model input (${parts.map((p) => p.name).join(', ')}) beside the model, found none`);
    // Samples are floats; a text model's token ids are integers too, told from labels (P,) by their axes.
    const tokens = tokenVocabulary(model.network) !== undefined;
    const isSamples = (a: NpyArray) => (tokens ? a.shape.length > 1 : isFloat(a));
    const floats = arrays.filter((a) => isSamples(a.array));
    const ints = arrays.filter((a) => !isSamples(a.array));
    const what = tokens ? '.npy of sample token ids (P, T)' : 'float32/float64 .npy of sample inputs';
    if (floats.length === 0)
      throw new InputError(
        `${arrays.length ? arrays.map((a) => a.name).join(', ') : model.path}: expected a ${what} beside the model, found ${arrays.length ? 'only labels (P,)' : 'no .npy file'}`,
      );
    if (floats.length > 1) throw new InputError(`${floats.map((a) => a.name).join(', ')}: expected one ${what}, found ${floats.length}`);
    if (ints.length > 1) throw new InputError(`${ints.map((a) => a.name).join(', ')}: expected at most one integer .npy of labels, found ${ints.length}`);
    samplesArray = floats[0];
    labelsArray = ints[0] ?? null;
  }
  return checkedInput(model, samplesArray, labelsArray, maxSamples);
}

/** The samples and labels read for `model`, checked against it. */
function checkedInput(model: LoadedModel, samplesArray: { name: string; array: NpyArray | Map<string, NpyArray> }, labelsArray: { name: string; array: NpyArray } | null, maxSamples?: number): ReadInput {
  const all = samplesForModel(samplesArray.array, model, samplesArray.name);
  const classes = checkNetwork(model.network).at(-1)!.reduce((a, b) => a * b, 1);
  if (labelsArray) labelsForModel(model.network, labelsArray.name);
  const labels = labelsArray ? labelsForSamples(labelsArray.array, labelsArray.name, all, classes) : undefined;
  const count = Math.min(all.count, maxSamples ?? all.count);
  const perSample = all.data.length / all.count;
  const samples = { data: all.data.subarray(0, count * perSample), count, total: all.count };
  return {
    model,
    samples: { ...samples, ...(labels ? { labels: labels.subarray(0, count) } : {}) },
    heldOut: labels && count < all.count ? { data: all.data.subarray(count * perSample), count: all.count - count, labels: labels.subarray(count) } : null,
    sources: { samples: samplesArray.name, labels: labelsArray?.name ?? null },
    summary: {
      model: {
        name: model.path,
        format: model.format,
        inputShape: model.network.inputShape,
        layers: layerInfos(model.network),
        graph: formatNetworkSummary(describeNetwork(model.network, model.imageLayout, model.partLayouts), model.notes),
      },
      samples: { name: samplesArray.name, count: samples.count, total: samples.total },
      labels: labelsArray ? { name: labelsArray.name } : null,
    },
  };
}

/** Nonzero fraction of a rows×cols kernel (its dense/conv matrix) in a grid of at most 128×128 cells. */
function sparsityPattern(kernel: Float32Array, rows: number, cols: number): { rows: number; cols: number; density: Float32Array } {
  const gr = Math.min(rows, 128);
  const gc = Math.min(cols, 128);
  const counts = new Float32Array(gr * gc);
  const totals = new Float32Array(gr * gc);
  for (let r = 0; r < rows; r++) {
    const cr = Math.floor((r * gr) / rows);
    for (let c = 0; c < cols; c++) {
      const cell = cr * gc + Math.floor((c * gc) / cols);
      totals[cell]++;
      if (kernel[r * cols + c] !== 0) counts[cell]++;
    }
  }
  for (let i = 0; i < counts.length; i++) counts[i] /= totals[i] || 1;
  return { rows: gr, cols: gc, density: counts };
}

/** For a dense layer on a square image (e.g. 784 = 28²): how many outputs each input pixel still feeds. */
function inputUsage(kernel: Float32Array, rows: number, cols: number): { width: number; counts: Float32Array; outputs: number } | null {
  const width = Math.round(Math.sqrt(rows));
  if (width * width !== rows || width < 4) return null;
  const counts = new Float32Array(rows);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) if (kernel[r * cols + c] !== 0) counts[r]++;
  return { width, counts, outputs: cols };
}

async function prune(id: number, input: JobInput, settings: PruneSettings): Promise<void> {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    post({ type: 'status', id, text: 'Reading the model and samples' });
    const { model, samples, heldOut, summary, sources } = await readInput(input, settings.maxSamples);
    if (settings.quantize) quantizeAsWritten(model, settings.quantize);
    const runtime = settings.backend === 'webgpu' ? await getGpu() : undefined;
    const adapter = runtime?.adapterDescription ?? 'CPU (float64 reference)';
    controller.signal.throwIfAborted();
    post({ type: 'started', id, input: summary, adapter });

    let run = await runPrune(model.network, samples, {
      mode: settings.mode,
      epsilonGain: settings.epsilonGain,
      ...(settings.structured ? { structure: 'inputs' as const } : {}),
      ...(settings.targetSparsity !== undefined ? { targetSparsity: settings.targetSparsity, heldOut } : {}),
      ...(settings.maxAccuracyDrop !== undefined ? { maxAccuracyDrop: settings.maxAccuracyDrop / 100, heldOut } : {}),
      onTrial: (t) => post({ type: 'status', id, text: `Searching the gain: ${Number(t.gain.toPrecision(3))} removes ${(100 * t.sparsity).toFixed(1)}%` }),
      backend: settings.backend,
      gpu: runtime,
      solver: settings.maxIterations ? { maxIterations: settings.maxIterations } : undefined,
      signal: controller.signal,
      onLayerStart: ({ name, position, total }) => post({ type: 'layer-start', id, name, position, total }),
      onLayerDone: (e) => post({ type: 'layer-done', id, name: e.name, nonzerosBefore: e.nonzerosBefore, nonzerosAfter: e.nonzerosAfter, iterations: e.iterations, converged: e.converged, seconds: e.seconds }),
      onProgress: (p) =>
        post({
          type: 'progress',
          id,
          name: p.name,
          iteration: p.iteration,
          primalResidual: p.primalResidual,
          dualResidual: p.dualResidual,
          primalTolerance: p.primalTolerance,
          dualTolerance: p.dualTolerance,
          rho: p.rho,
          seconds: p.seconds,
        }),
    });

    const { result } = run;
    post({ type: 'status', id, text: 'Writing the pruned model' });
    const serialized = await serializeRun(run, (network, resizing) => model.serialize(network, resizing));
    run = serialized.run;
    const modelFiles = serialized.files;
    const sparse = exportSparse(run.written);
    if (heldOut) post({ type: 'status', id, text: `Accuracy on the ${heldOut.count} held-out samples` });
    // The same report as `net-trim prune` writes (report.json, and report.html rendered from it).
    const report: PruneReportDocument = {
      report: 'net-trim prune',
      version,
      createdAt: new Date().toISOString(),
      model: { path: model.path, format: model.format, ...(model.notes?.length ? { notes: model.notes } : {}) },
      samples: { path: sources.samples, count: samples.count },
      labels: sources.labels,
      options: {
        mode: settings.mode,
        epsilonGain: settings.epsilonGain,
        structured: settings.structured,
        ...(settings.quantize ? { quantize: settings.quantize } : {}),
        ...(settings.targetSparsity !== undefined ? { targetSparsity: settings.targetSparsity } : {}),
        ...(settings.maxAccuracyDrop !== undefined ? { maxAccuracyDrop: settings.maxAccuracyDrop } : {}),
        backend: settings.backend,
        ...(settings.maxSamples ? { maxSamples: settings.maxSamples } : {}),
        ...(settings.maxIterations ? { maxIterations: settings.maxIterations } : {}),
        userAgent: navigator.userAgent,
      },
      backend: settings.backend,
      adapter,
      ...resultFields(model.network, result, { heldOut, modelFiles: modelFiles.map((f) => f.name), sparse }),
      deployment: deploymentReport(model.network, run, await fileSizes([...modelFiles, { name: 'weights.sparse.safetensors', bytes: sparse.bytes }])),
    };
    const encode = (text: string) => copyOut(new TextEncoder().encode(text));
    const files: PruneOutcome['files'] = [
      ...modelFiles.map((f) => ({ name: f.name, type: f.name.endsWith('.json') ? 'application/json' : 'application/octet-stream', bytes: copyOut(f.bytes) })),
      { name: 'weights.sparse.safetensors', type: 'application/octet-stream', bytes: copyOut(sparse.bytes) },
      { name: 'report.json', type: 'application/json', bytes: encode(JSON.stringify(report, null, 2) + '\n') },
      { name: 'report.html', type: 'text/html', bytes: encode(renderPruneReport(report)) },
    ];
    const byName = new Map(result.network.layers.map((l) => [l.name, l]));
    // The input-pixel map only means something for a dense layer reading the image itself.
    const [first] = result.network.layers.filter((l) => l.kind === 'dense' || l.kind === 'conv2d');
    const inputShape = result.network.inputShape;
    const imageInput = inputShape.length === 1 || (inputShape.length === 3 && inputShape[2] === 1);
    const outcome: PruneOutcome = {
      summary: {
        mode: result.mode,
        nonzerosBefore: result.nonzerosBefore,
        nonzerosAfter: result.nonzerosAfter,
        relativeDiscrepancy: result.relativeDiscrepancy,
        accuracyBefore: result.accuracyBefore ?? null,
        accuracyAfter: result.accuracyAfter ?? null,
        heldOut: report.heldOut,
        samples: samples.count,
        seconds: result.seconds,
        adapter,
        units: run.removal && { before: run.removal.unitsBefore, after: run.removal.unitsAfter },
        search: run.search && run.search.message,
      },
      layers: result.layers.map((l) => {
        const layer = byName.get(l.name);
        const kernel = layer && (layer.kind === 'dense' || layer.kind === 'conv2d') ? layer.kernel : new Float32Array(0);
        const cols = layer?.kind === 'dense' ? layer.units : layer?.kind === 'conv2d' ? layer.filters : 1;
        return {
          name: l.name,
          nonzerosBefore: l.nonzerosBefore,
          nonzerosAfter: l.nonzerosAfter,
          epsilon: l.epsilon,
          achievedDiscrepancy: l.achievedDiscrepancy,
          consistencyBound: l.consistencyBound,
          relativeDualityGap: l.relativeDualityGap,
          iterations: l.iterations,
          converged: l.converged,
          seconds: l.seconds,
          pattern: sparsityPattern(kernel, kernel.length / cols, cols),
          inputUsage: layer?.kind === 'dense' && layer === first && imageInput ? inputUsage(kernel, kernel.length / cols, cols) : null,
        };
      }),
      files,
    };
    const buffers = outcome.layers.flatMap((l) => [l.pattern.density.buffer, ...(l.inputUsage ? [l.inputUsage.counts.buffer] : [])]);
    post({ type: 'done', id, outcome }, [...files.map((f) => f.bytes), ...(buffers as ArrayBuffer[])]);
  } catch (error) {
    if (controller.signal.aborted) post({ type: 'cancelled', id });
    else post(errorReply(id, error));
    if (error instanceof GpuError && gpu) {
      // A lost or failed device: the next run acquires a fresh one.
      const failed = gpu;
      gpu = null;
      failed.then((g) => g.destroy(), () => {});
    }
  } finally {
    running.delete(id);
  }
}


/** A standalone ArrayBuffer of the bytes (transferable to the page). */
function copyOut(bytes: Uint8Array): ArrayBuffer {
  return bytes.slice().buffer as ArrayBuffer;
}
