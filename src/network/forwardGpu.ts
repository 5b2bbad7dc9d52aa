// The forward pass on the GPU, in f32: every layer runs as a dispatch (dense products through
// matmul), samples are processed in chunks small enough that each activation fits in one storage
// binding, with one submit and one readback of the returned arrays per chunk.
import { GpuError, InputError } from '../errors.js';
import { withErrorScopes, type GpuRuntime } from '../gpu/device.js';
import { biasActivation, conv2d, maxPool2d, relu, softmax } from '../gpu/kernels/forward.js';
import { matmul } from '../gpu/kernels/matmul.js';
import { encodeDispatches, mapAndCopy, Workspace, type Dispatch } from '../gpu/workspace.js';
import { checkForwardInput, resolveWeights, type CollectedLayer, type ForwardOptions, type ForwardResult } from './forwardCpu.js';
import { checkNetwork, networkGraph, prunableLayers, type PrunableLayer } from './graph.js';
import { shapeSize, windowGeometry } from './shapes.js';
import type { Network } from './types.js';

const GPU_KINDS = new Set(['dense', 'conv2d', 'relu', 'maxpool2d', 'flatten', 'softmax']);

/**
 * Why forwardGpu cannot run `network`, or null when it can: the GPU pass covers chains of dense,
 * conv2d (groups 1), relu, maxpool2d, flatten and softmax layers; other graphs run in float64 on
 * the CPU (forwardCpu), which pruneNetwork then uses for its forward passes.
 */
export function gpuForwardGap(network: Network): string | null {
  if (!networkGraph(network).isChain) return 'the network branches (a layer reads a tensor other than the previous layer’s output)';
  const other = network.layers.find((l) => !GPU_KINDS.has(l.kind) || (l.kind === 'conv2d' && (l.groups ?? 1) !== 1));
  return other ? `layer '${other.name}' (${other.kind}${other.kind === 'conv2d' ? `, ${other.groups} groups` : ''}) has no GPU forward kernel yet` : null;
}

export interface ForwardGpuOptions extends ForwardOptions {
  /** At most this many samples per chunk (default: as many as the storage binding limit allows). */
  maxChunkSamples?: number;
}

/** matmul covers 64 rows per workgroup and a dispatch has at most 65 535 workgroups per dimension. */
const MAX_MATMUL_ROWS = 65535 * 64;

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
  const shapes = checkNetwork(network);
  const gap = gpuForwardGap(network);
  if (gap) throw new InputError(`forwardGpu: ${gap}; use forwardCpu for this network`);
  checkForwardInput(network, input, samples);
  const weights = resolveWeights(network, options.overrides);
  const targets = options.collect ? prunableLayers(network) : [];
  const layers = network.layers;
  const outputShape = shapes[layers.length];
  if (options.maxChunkSamples !== undefined && !(Number.isInteger(options.maxChunkSamples) && options.maxChunkSamples >= 1))
    throw new InputError(`maxChunkSamples must be a positive integer (found ${options.maxChunkSamples})`);

  // Chunk size: the largest per-sample activation (a softmax's input and output have the same size) must fit one binding.
  const largest = Math.max(...shapes.map(shapeSize));
  const limit = Math.min(runtime.limits.maxStorageBufferBindingSize, runtime.limits.maxBufferSize);
  const fit = Math.floor(limit / (4 * largest));
  if (fit < 1)
    throw new GpuError(`one sample's activation has ${largest} values, more than one storage binding holds on this device (${(limit / 2 ** 20).toFixed(1)} MiB); use the cpu backend`);
  const chunk = Math.max(1, Math.min(fit, MAX_MATMUL_ROWS, options.maxChunkSamples ?? Infinity, samples));

  const inputSize = shapeSize(network.inputShape);
  const ws = new Workspace(runtime);
  try {
    return await withErrorScopes(runtime.device, 'running the network on the GPU', async () => {
      const inputActivation: Activation = { buffer: ws.storage(chunk * inputSize, 'network input'), perSample: inputSize };
      const activation = (perSample: number, label: string): Activation => ({ buffer: ws.storage(chunk * perSample, label), perSample });

      // Build the layer graph once: buffers for a full chunk, dispatches as functions of the chunk's sample count.
      const steps: Array<(n: number) => Dispatch[]> = [];
      const byTargetIndex = new Map<number, PrunableLayer>(targets.map((t) => [t.targetIndex, t]));
      const byIndex = new Map<number, PrunableLayer>(targets.map((t) => [t.index, t]));
      const collectedSources = new Map<number, { input: Activation; target?: Activation }>();
      let logitsSource: Activation | null = null;
      let x = inputActivation;
      for (const [i, layer] of layers.entries()) {
        const inShape = shapes[i];
        const outSize = shapeSize(shapes[i + 1]);
        const cur = x;
        let out: Activation;
        let pre: Activation | null = null; // a dense/conv layer's output before a fused softmax
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
              steps.push((n) => [conv2d(ws, { samples: n, geometry, filters: units, input: cur.buffer, kernel, bias, relu: fusedRelu, output: linearOut.buffer })]);
            }
            if (layer.activation === 'softmax') {
              pre = linearOut;
              const probabilities = (out = activation(outSize, `${layer.name} softmax`));
              steps.push((n) => [softmax(ws, { rows: (n * outSize) / units, cols: units, input: linearOut.buffer, output: probabilities.buffer })]);
            } else out = linearOut;
            break;
          }
          case 'relu': {
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [relu(ws, { count: n * outSize, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'maxpool2d': {
            const geometry = windowGeometry(layer, inShape);
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [maxPool2d(ws, { samples: n, geometry, input: cur.buffer, output: result.buffer })]);
            break;
          }
          case 'flatten':
            out = cur;
            break;
          case 'softmax': {
            const cols = inShape[inShape.length - 1];
            const result = (out = activation(outSize, layer.name));
            steps.push((n) => [softmax(ws, { rows: (n * outSize) / cols, cols, input: cur.buffer, output: result.buffer })]);
            pre = cur;
            break;
          }
          default:
            throw new InputError(`forwardGpu: layer '${layer.name}' (${layer.kind}) has no GPU forward kernel`);
        }
        if (i === layers.length - 1 && pre) logitsSource = pre;
        if (byIndex.has(i)) collectedSources.set(i, { input: cur, target: pre ?? out });
        const owner = byTargetIndex.get(i);
        if (owner && owner.index !== i) collectedSources.get(owner.index)!.target = out;
        x = out;
      }
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
        const s = collectedSources.get(t.index)!;
        collected.set(t.index, {
          index: t.index,
          name: t.layer.name,
          program: t.program,
          input: readout(s.input),
          inputShape: t.inputShape,
          target: readout(s.target!),
          targetShape: t.outputShape,
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
        const encoder = runtime.device.createCommandEncoder({ label: 'forward pass' });
        const pass = encoder.beginComputePass();
        encodeDispatches(pass, dispatches);
        pass.end();
        for (const r of pending) encoder.copyBufferToBuffer(r.source.buffer, 0, r.staging!, 0, n * r.source.perSample * 4);
        runtime.device.queue.submit([encoder.finish()]);
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
