// The forward pass on the GPU, in f32: every layer of the graph runs as dispatches in the
// network's order (dense products through matmul), samples are processed in chunks small enough
// that each activation fits in one storage binding, with one submit and one readback of the
// returned arrays per chunk.
import { GpuError, InputError } from '../errors.js';
import { withErrorScopes, type GpuRuntime } from '../gpu/device.js';
import { insertZeros, upsample } from '../gpu/kernels/upsample.js';
import { batchedMatmul, embedding, lastToken, positionRows, rearrange } from '../gpu/kernels/tokens.js';
import { groupNorm } from '../gpu/kernels/groupnorm.js';
import { biasActivation, concatChannels, conv2d, gate, gatherChannels, layerNorm, globalPool, pointwise, pool2d, relu, softmax } from '../gpu/kernels/forward.js';
import { add } from '../gpu/kernels/proximal.js';
import { checkSubgroupKernels, matmul, matmulMaxRows } from '../gpu/kernels/matmul.js';
import { mapAndCopy, Workspace, type Dispatch } from '../gpu/workspace.js';
import { ACTIVATION_DEFAULTS, embeddingRows, tableRows } from './cpuOps.js';
import { checkForwardInput, resolveWeights, type CollectedLayer, type ForwardOptions, type ForwardResult } from './forwardCpu.js';
import { NETWORK_INPUT, networkGraph, prunableLayers } from './graph.js';
import { shapeSize, upsampleInput, windowGeometry } from './shapes.js';
import { UPSAMPLE_MODES, type Network, type RearrangeLayer } from './types.js';

/** The largest finite f32: a clip without a bound clamps at it (WGSL need not keep infinities). */
const F32_MAX = 3.4028234663852886e38;

/** out = the sum of `parts` (two or more) over `count` values: the first two, then one at a time into out. */
function sumDispatches(ws: Workspace, count: number, parts: Activation[], out: Activation, scratch: Activation | null): Dispatch[] {
  // A dispatch may not read and write one buffer: partial sums of three or more parts alternate
  // between `out` and `scratch`, the last one in `out`.
  const steps = parts.length - 1;
  const target = (k: number) => ((steps - 1 - k) % 2 === 0 ? out : scratch!).buffer;
  return parts.slice(1).map((part, k) => add(ws, { count, left: k === 0 ? parts[0].buffer : target(k - 1), right: part.buffer, sum: target(k) }));
}

export interface ForwardGpuOptions extends ForwardOptions {
  /** At most this many samples per chunk (default: as many as the storage binding limit allows). */
  maxChunkSamples?: number;
}

/** An activation on the GPU: a buffer holding chunk × `perSample` floats (or the network input). */
interface Activation {
  buffer: GPUBuffer;
  perSample: number;
}

/** A returned array: read back chunk by chunk from `source` (or copied from the host input). */
interface Readout {
  source: Activation;
  result: Float32Array;
  staging: GPUBuffer | null;
}

/**
 * Runs `network` on `samples` samples on the GPU (f32). Same result as forwardCpu (logits, output,
 * and with `collect` each prunable layer's input and target), as Float32Arrays. Throws an
 * InputError for an inconsistent network or input, a GpuError if the GPU fails.
 */
export async function forwardGpu(
  runtime: GpuRuntime,
  network: Network,
  input: Float32Array | Float64Array,
  samples: number,
  options: ForwardGpuOptions = {},
): Promise<ForwardResult<Float32Array>> {
  const graph = networkGraph(network);
  checkForwardInput(network, input, samples);
  const weights = resolveWeights(network, options.overrides);
  const targets = options.collect ? prunableLayers(network, graph) : [];
  const layers = network.layers;
  const outputShape = graph.outputShape;
  if (options.maxChunkSamples !== undefined && !(Number.isInteger(options.maxChunkSamples) && options.maxChunkSamples >= 1))
    throw new InputError(`maxChunkSamples must be a positive integer (found ${options.maxChunkSamples})`);

  // Chunk size: the largest per-sample activation (a softmax's input and output have the same size) must fit one binding.
  const largest = Math.max(shapeSize(network.inputShape), ...graph.outputShapes.map(shapeSize));
  const limit = Math.min(runtime.limits.maxStorageBufferBindingSize, runtime.limits.maxBufferSize);
  const fit = Math.floor(limit / (4 * largest));
  if (fit < 1)
    throw new GpuError(`one sample's activation has ${largest} values, more than one storage binding holds on this device (${(limit / 2 ** 20).toFixed(1)} MiB); use the cpu backend`);
  // A dense layer's product has one row per sample: at most what one matmul dispatch covers.
  const chunk = Math.max(1, Math.min(fit, matmulMaxRows(runtime), options.maxChunkSamples ?? Infinity, samples));

  const inputSize = shapeSize(network.inputShape);
  await checkSubgroupKernels(runtime); // before any product picks its kernel
  const ws = new Workspace(runtime);
  try {
    return await withErrorScopes(runtime.device, 'running the network on the GPU', async () => {
      const inputActivation: Activation = { buffer: ws.storage(chunk * inputSize, 'network input'), perSample: inputSize };
      const activation = (perSample: number, label: string): Activation => ({ buffer: ws.storage(chunk * perSample, label), perSample });

      // Build the layer graph once: buffers for a full chunk, dispatches as functions of the chunk's sample count.
      const steps: Array<(n: number) => Dispatch[]> = [];
      const hostWrites: Array<(start: number, n: number) => void> = []; // per chunk, before its dispatches
      const outputs: Activation[] = [];
      const preActivations = new Map<number, Activation>(); // a dense/conv layer's output before its fused softmax
      const read = (s: number) => (s === NETWORK_INPUT ? inputActivation : outputs[s]);
      let logitsSource: Activation | null = null;
      const last = layers.length - 1;
      for (const [i, layer] of layers.entries()) {
        const sources = graph.sources[i].map(read);
        const cur = sources[0];
        const inShape = graph.inputShapes[i][0];
        const outSize = shapeSize(graph.outputShapes[i]);
        let out: Activation;
        switch (layer.kind) {
          case 'dense':
          case 'conv2d': {
            const w = weights.get(i)!;
            const kernel = ws.upload(w.kernel, `${layer.name} kernel`);
            const bias = w.bias ? ws.upload(w.bias, `${layer.name} bias`) : null;
            const units = layer.kind === 'dense' ? layer.units : layer.filters;
            const fusedRelu = layer.activation === 'relu';
            const linearOut = activation(outSize, layer.name);
            if (layer.kind === 'dense') {
              const { inputs } = layer;
              steps.push((n) => [
                matmul(ws, { label: layer.name, a: cur.buffer, b: kernel, out: linearOut.buffer, m: n, n: units, k: inputs }),
                ...(bias || fusedRelu ? [biasActivation(ws, { rows: n, units, bias, relu: fusedRelu, data: linearOut.buffer })] : []),
              ]);
            } else {
              const geometry = windowGeometry(layer, inShape);
              steps.push((n) => [conv2d(ws, { samples: n, geometry, filters: units, groups: layer.groups ?? 1, input: cur.buffer, kernel, bias, relu: fusedRelu, output: linearOut.buffer })]);
            }
            if (layer.activation === 'softmax') {
              preActivations.set(i, linearOut);
              const probabilities = (out = activation(outSize, `${layer.name} softmax`));
              steps.push((n) => [softmax(ws, { rows: (n * outSize) / units, cols: units, input: linearOut.buffer, output: probabilities.buffer })]);
              if (i === last) logitsSource = linearOut;
            } else out = linearOut;
            break;
          }
          case 'relu': {
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [relu(ws, { count: n * outSize, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'activation': {
            const result = (out = activation(outSize, layer.name));
            const [a, b] = layer.fn === 'clip' ? [Math.max(layer.min ?? -F32_MAX, -F32_MAX), Math.min(layer.max ?? F32_MAX, F32_MAX)] : [layer.alpha ?? ACTIVATION_DEFAULTS[layer.fn]?.alpha ?? 0, layer.beta ?? ACTIVATION_DEFAULTS[layer.fn]?.beta ?? 0];
            // PReLU: its slopes per channel (or per value of a sample: then `channels` is the sample's size).
            const slopes = layer.slopes ? ws.upload(layer.slopes, `${layer.name} slopes`) : undefined;
            const channels = layer.slopes?.length;
            steps.push((n) => [pointwise(ws, { count: n * outSize, op: layer.fn, a, b, channels, scale: slopes, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'batchnorm': {
            const result = (out = activation(outSize, layer.name));
            const [scale, offset] = [ws.upload(layer.scale, `${layer.name} scale`), ws.upload(layer.offset, `${layer.name} offset`)];
            steps.push((n) => [pointwise(ws, { count: n * outSize, op: 'affine', channels: layer.scale.length, scale, offset, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'maxpool2d':
          case 'avgpool2d': {
            const geometry = windowGeometry(layer, inShape);
            const mode = layer.kind === 'maxpool2d' ? 'max' : layer.countIncludePad ? 'averageWithPadding' : 'average';
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [pool2d(ws, { samples: n, geometry, mode, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'globalavgpool':
          case 'globalmaxpool': {
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [globalPool(ws, { samples: n, positions: inShape[0] * inShape[1], channels: inShape[2], mode: layer.kind === 'globalmaxpool' ? 'max' : 'avg', input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'add': {
            const result = (out = activation(outSize, layer.name));
            const scratch = sources.length > 2 ? activation(outSize, `${layer.name} partial sum`) : null;
            steps.push((n) => sumDispatches(ws, n * outSize, sources, result, scratch));
            break;
          }
          case 'mul': {
            const result = (out = activation(outSize, layer.name));
            const [input, gateSource] = sources;
            const gateSize = shapeSize(graph.inputShapes[i][1]);
            steps.push((n) => [gate(ws, { samples: n, perSample: outSize, gateSize, input: input.buffer, gate: gateSource.buffer, output: result.buffer })]);
            break;
          }
          case 'concat': {
            const result = (out = activation(outSize, layer.name));
            const widths = graph.inputShapes[i].map((shape) => shape[shape.length - 1]);
            const total = widths.reduce((t, w) => t + w, 0);
            const positions = outSize / total;
            const offsets = widths.map((_, k) => widths.slice(0, k).reduce((t, w) => t + w, 0));
            steps.push((n) => sources.map((part, k) => concatChannels(ws, { positions: n * positions, width: widths[k], total, offset: offsets[k], part: part.buffer, output: result.buffer })));
            break;
          }
          case 'layernorm': {
            const result = (out = activation(outSize, layer.name));
            const [scale, offset] = [ws.upload(layer.scale, `${layer.name} scale`), ws.upload(layer.offset, `${layer.name} offset`)];
            const channels = layer.scale.length;
            steps.push((n) => [layerNorm(ws, { positions: (n * outSize) / channels, channels, epsilon: layer.epsilon, rms: layer.rms === true, input: cur.buffer, scale, offset, output: result.buffer })]);
            break;
          }
          case 'groupnorm': {
            const result = (out = activation(outSize, layer.name));
            const [scale, offset] = [ws.upload(layer.scale, `${layer.name} scale`), ws.upload(layer.offset, `${layer.name} offset`)];
            const [positions, channels] = [inShape[0] * inShape[1], inShape[2]];
            steps.push((n) => [groupNorm(ws, { samples: n, positions, channels, groups: layer.groups, epsilon: layer.epsilon, input: cur.buffer, scale, offset, output: result.buffer })]);
            break;
          }
          case 'gather': {
            const result = (out = activation(outSize, layer.name));
            const channels = inShape[inShape.length - 1];
            const indices = ws.upload(layer.indices, `${layer.name} indices`);
            const positions = outSize / layer.indices.length;
            steps.push((n) => [gatherChannels(ws, { positions: n * positions, channels, width: layer.indices.length, input: cur.buffer, indices, output: result.buffer })]);
            break;
          }
          case 'insertzeros': {
            const result = (out = activation(outSize, layer.name));
            const [inH, inW, channels] = inShape;
            steps.push((n) => [insertZeros(ws, { samples: n, inH, inW, channels, strides: layer.strides, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'upsample': {
            const result = (out = activation(outSize, layer.name));
            const [inH, inW, channels] = upsampleInput(inShape);
            steps.push((n) => [upsample(ws, { samples: n, inH, inW, channels, scale: layer.scale, mode: UPSAMPLE_MODES.indexOf(layer.mode ?? 'nearest'), input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'rearrange': {
            const result = (out = activation(outSize, layer.name));
            const inSize = shapeSize(inShape);
            const indices = ws.upload(layer.indices, `${layer.name} indices`);
            const offset = ws.upload(layer.offset ?? new Float32Array(outSize), `${layer.name} offset`);
            steps.push((n) => [rearrange(ws, { samples: n, inSize, outSize, input: cur.buffer, indices, offset, output: result.buffer })]);
            break;
          }
          case 'matmul': {
            const result = (out = activation(outSize, layer.name));
            const [batch, m, k] = inShape;
            const b = sources[1];
            steps.push((n) => [batchedMatmul(ws, { samples: n, batch, m, k, n: graph.inputShapes[i][1][2], a: cur.buffer, b: b.buffer, output: result.buffer })]);
            break;
          }
          case 'embedding': {
            const result = (out = activation(outSize, layer.name));
            const tokens = inShape[0];
            const { positions } = layer;
            if (layer.table.length * 4 <= limit) {
              const table = ws.upload(layer.table, `${layer.name} table`);
              const rows = positions ? activation(tokens, `${layer.name} positions`) : cur;
              steps.push((n) => [
                ...(positions ? [positionRows(ws, { samples: n, tokens, ...positions, ids: cur.buffer, rows: rows.buffer })] : []),
                embedding(ws, { samples: n, tokens, dims: layer.dims, ids: rows.buffer, table, output: result.buffer }),
              ]);
            } else {
              // A table no binding holds (GPT-2's 50 257 × 768 is 154 MB): the rows looked up on the host, written per chunk.
              // The ids are the network input's, or an input part's (its rearrange's indices into each sample).
              const source = graph.sources[i][0];
              const part = source === NETWORK_INPUT ? null : (layers[source] as RearrangeLayer).indices;
              hostWrites.push((start, n) => {
                const ids = part
                  ? Float32Array.from({ length: n * tokens }, (_, k) => input[(start + Math.floor(k / tokens)) * inputSize + part[k % tokens]])
                  : input.subarray(start * tokens, (start + n) * tokens);
                runtime.device.queue.writeBuffer(result.buffer, 0, embeddingRows(tableRows(ids, tokens, positions), layer.table, layer.dims, new Float32Array(ids.length * layer.dims)));
              });
            }
            break;
          }
          case 'lasttoken': {
            const result = (out = activation(outSize, layer.name));
            const ids = sources[1];
            steps.push((n) => [lastToken(ws, { samples: n, tokens: inShape[1], channels: inShape[2], pad: layer.pad, input: cur.buffer, ids: ids.buffer, output: result.buffer })]);
            break;
          }
          case 'flatten':
          case 'reshape':
            out = cur;
            break;
          case 'softmax': {
            const cols = inShape[inShape.length - 1];
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [softmax(ws, { rows: (n * outSize) / cols, cols, input: cur.buffer, output: result.buffer })]);
            if (i === last) logitsSource = cur;
            break;
          }
        }
        outputs.push(out);
      }
      // A residual layer's offset: the other inputs of its sum, added up on the GPU when there are several.
      const offsetSources = new Map<number, Activation>();
      for (const t of targets) {
        if (!t.offsetSources.length) continue;
        const parts = t.offsetSources.map(read);
        if (parts.length === 1) offsetSources.set(t.index, parts[0]);
        else {
          const size = shapeSize(graph.outputShapes[t.index]);
          const sum = activation(size, `${t.layer.name} offset`);
          const scratch = parts.length > 2 ? activation(size, `${t.layer.name} partial offset`) : null;
          steps.push((n) => sumDispatches(ws, n * size, parts, sum, scratch));
          offsetSources.set(t.index, sum);
        }
      }
      const x = outputs[last];
      const outputSource = x;
      logitsSource ??= outputSource;

      // One readout per distinct activation returned; the network input comes from the host.
      const readouts = new Map<GPUBuffer, Readout>();
      const readout = (source: Activation): Float32Array => {
        let r = readouts.get(source.buffer);
        if (!r) {
          const isInput = source === inputActivation;
          r = {
            source,
            result: isInput ? Float32Array.from(input) : new Float32Array(samples * source.perSample),
            staging: isInput ? null : ws.readbackBuffer(chunk * source.perSample * 4),
          };
          readouts.set(source.buffer, r);
        }
        return r.result;
      };
      const logits = readout(logitsSource);
      const output = readout(outputSource);
      const collected = new Map<number, CollectedLayer<Float32Array>>();
      for (const t of targets) {
        const offset = offsetSources.get(t.index);
        collected.set(t.index, {
          index: t.index,
          name: t.layer.name,
          program: t.program,
          input: readout(read(graph.sources[t.index][0])),
          inputShape: t.inputShape,
          target: readout(preActivations.get(t.targetIndex) ?? outputs[t.targetIndex]),
          targetShape: graph.outputShapes[t.targetIndex],
          ...(offset ? { offset: readout(offset) } : {}),
        });
      }
      const pending = [...readouts.values()].filter((r) => r.staging);

      const dispatchSets = new Map<number, Dispatch[]>(); // at most two: full chunks and the remainder
      for (let start = 0; start < samples; start += chunk) {
        const n = Math.min(chunk, samples - start);
        let dispatches = dispatchSets.get(n);
        if (!dispatches) dispatchSets.set(n, (dispatches = steps.flatMap((step) => step(n))));
        const slice = input.subarray(start * inputSize, (start + n) * inputSize);
        const values = (slice instanceof Float32Array ? slice : Float32Array.from(slice)) as Float32Array<ArrayBuffer>;
        runtime.device.queue.writeBuffer(inputActivation.buffer, 0, values);
        for (const write of hostWrites) write(start, n);
        ws.submit([...dispatches, ...pending.map((r) => ({ copy: r.source.buffer, to: r.staging!, bytes: n * r.source.perSample * 4 }))], 'forward pass');
        await Promise.all(
          pending.map(async (r) => r.result.set(await mapAndCopy(r.staging!, n * r.source.perSample), start * r.source.perSample)),
        );
      }
      runtime.assertHealthy();
      return { samples, logits, output, outputShape, collected };
    });
  } finally {
    ws.release();
  }
}
