// The float64 forward pass on the CPU: the reference for forwardGpu, and where Net-Trim gets each
// prunable layer's input and target activations when no GPU is used (or the graph branches).
// Layers run in the network's order; a tensor is dropped once its last reader ran. Tensors are samples-major
// NHWC (types.ts); kernels are Keras layouts (dense N×M, conv HWIO).
import { InputError } from '../errors.js';
import { activationFunction, affineForward, concatForward, convForward, denseForward, embeddingRows, lastTokenForward, tableRows, gateForward, gatherForward, groupNormForward, insertZerosForward, matmulForward, rearrangeForward, upsampleForward, globalPoolForward, layerNormForward, poolForward, reluInPlace, softmaxForward, sumForward } from './cpuOps.js';
import { checkPartValues } from './inputParts.js';
import { badTokenId, NETWORK_INPUT, networkGraph, prunableLayers, tokenVocabulary, type PrunableLayer } from './graph.js';
import { shapeSize, upsampleInput, windowGeometry } from './shapes.js';
import type { Conv2DLayer, DenseLayer, Network } from './types.js';

type FloatArray = Float32Array | Float64Array;

/** Replacement weights for a dense/conv2d layer (e.g. its pruned kernel), same layout as the layer's. */
export interface LayerWeights {
  kernel: FloatArray;
  /** null: no bias (even if the layer has one). */
  bias: FloatArray | null;
}

export interface ForwardOptions {
  /** Also return every prunable layer's input and target activations (ForwardResult.collected). */
  collect?: boolean;
  /** Weights to use instead of the network's, by layer index (dense/conv2d layers only). */
  overrides?: ReadonlyMap<number, LayerWeights>;
}

/** A prunable layer's activations on the P samples (see PrunableLayer). */
export interface CollectedLayer<T extends FloatArray = FloatArray> {
  index: number;
  name: string;
  program: 'relu' | 'clip' | 'linear';
  /** P × inputs (dense) or P×H×W×C (conv), samples-major. */
  input: T;
  inputShape: number[];
  /** P × units or P×Ho×Wo×cout: post-ReLU for 'relu' programs, the pre-activation for 'linear'. */
  target: T;
  targetShape: number[];
  /** For a layer feeding a residual Add: the sum of the Add's other inputs (the program's offset), like target. */
  offset?: T;
}

/**
 * The network's response on P samples. Arrays may be shared between fields (one layer's target is
 * often the next one's input; `logits` is `output` when the network does not end in a softmax):
 * treat them as read-only.
 */
export interface ForwardResult<T extends FloatArray = FloatArray> {
  samples: number;
  /** The output before a final softmax (fused or a softmax layer), P × outputs. */
  logits: T;
  /** The network's final output, softmax included. */
  output: T;
  /** One sample's output shape (that of logits too). */
  outputShape: number[];
  /** By layer index, for every prunable layer when `collect` is set; empty otherwise. */
  collected: Map<number, CollectedLayer<T>>;
}

/** Checks `input` holds `samples` samples of the network's input shape. */
export function checkForwardInput(network: Network, input: FloatArray, samples: number): void {
  if (!(input instanceof Float32Array || input instanceof Float64Array)) throw new InputError('input must be a Float32Array or Float64Array');
  if (!Number.isInteger(samples) || samples < 0) throw new InputError(`samples must be a non-negative integer (found ${samples})`);
  const size = shapeSize(network.inputShape);
  if (input.length !== samples * size)
    throw new InputError(`input has ${input.length} values, expected ${samples} samples × ${size} (input shape [${network.inputShape.join(', ')}]) = ${samples * size}`);
  // Token ids index a table, on the GPU too: one out of range must not read past it.
  checkPartValues(network, input, samples);
  const vocabulary = tokenVocabulary(network);
  if (vocabulary !== undefined) {
    const bad = badTokenId(input, vocabulary);
    if (bad >= 0) throw new InputError(`input: token id ${input[bad]} in sample ${Math.floor(bad / size)} at position ${bad % size}: expected a whole number from 0 to ${vocabulary - 1} (the embedding's vocabulary)`);
  }
}

/** The weights each dense/conv2d layer uses: its own, or an override (validated against the layer). */
export function resolveWeights(network: Network, overrides?: ReadonlyMap<number, LayerWeights>): Map<number, LayerWeights> {
  const weights = new Map<number, LayerWeights>();
  network.layers.forEach((layer, i) => {
    if (layer.kind === 'dense' || layer.kind === 'conv2d') weights.set(i, { kernel: layer.kernel, bias: layer.bias });
  });
  for (const [index, w] of overrides ?? []) {
    const layer = network.layers[index];
    if (!weights.has(index)) throw new InputError(`overrides: layer ${index} is not a dense or conv2d layer`);
    const l = layer as DenseLayer | Conv2DLayer;
    const units = l.kind === 'dense' ? l.units : l.filters;
    if (w.kernel.length !== l.kernel.length) throw new InputError(`overrides: layer ${index} '${l.name}' needs ${l.kernel.length} kernel values, found ${w.kernel.length}`);
    if (w.bias && w.bias.length !== units) throw new InputError(`overrides: layer ${index} '${l.name}' needs ${units} bias values, found ${w.bias.length}`);
    weights.set(index, w);
  }
  return weights;
}

/**
 * Runs `network` on `samples` samples in float64. `input` is samples-major with the network's
 * input shape per sample. Throws an InputError for an inconsistent network or input.
 */
export function forwardCpu(network: Network, input: FloatArray, samples: number, options: ForwardOptions = {}): ForwardResult<Float64Array> {
  const graph = networkGraph(network);
  checkForwardInput(network, input, samples);
  const weights = resolveWeights(network, options.overrides);
  const targets = options.collect ? prunableLayers(network, graph) : [];
  const layers = network.layers;
  const last = layers.length - 1;
  const networkInput = Float64Array.from(input);
  const values: Array<Float64Array | null> = layers.map(() => null);
  const remaining = graph.consumers.map((readers) => readers.length);
  const preActivations = new Map<number, Float64Array>(); // a dense/conv layer's output before its fused softmax
  const read = (i: number) => (i === NETWORK_INPUT ? networkInput : values[i]!);
  let logits: Float64Array | null = null;
  const collected = new Map<number, CollectedLayer<Float64Array>>();
  const offsets = new Map<number, Float64Array>(); // by prunable layer, computed when its residual sum runs
  const collect = (t: PrunableLayer) => {
    const offset = offsets.get(t.index);
    collected.set(t.index, {
      index: t.index,
      name: t.layer.name,
      program: t.program,
      input: inputsOf.get(t.index)!,
      inputShape: t.inputShape,
      target: preActivations.get(t.targetIndex) ?? read(t.targetIndex),
      targetShape: graph.outputShapes[t.targetIndex],
      ...(offset ? { offset } : {}),
    });
  };
  const inputsOf = new Map<number, Float64Array>(); // a prunable layer's input, kept until its target ran
  const byTarget = new Map<number, PrunableLayer[]>();
  for (const t of targets) byTarget.set(t.targetIndex, [...(byTarget.get(t.targetIndex) ?? []), t]);

  for (const [i, layer] of layers.entries()) {
    const inputs = graph.sources[i].map(read);
    const x = inputs[0];
    const inShape = graph.inputShapes[i][0];
    let out: Float64Array;
    switch (layer.kind) {
      case 'dense':
      case 'conv2d': {
        const w = weights.get(i)!;
        const pre =
          layer.kind === 'dense'
            ? denseForward(x, samples, layer.inputs, layer.units, w)
            : convForward(x, samples, windowGeometry(layer, inShape), layer.filters, layer.groups ?? 1, w);
        if (layer.activation === 'relu') out = reluInPlace(pre);
        else if (layer.activation === 'softmax') {
          preActivations.set(i, pre);
          out = softmaxForward(pre, layer.kind === 'dense' ? layer.units : layer.filters);
          if (i === last) logits = pre;
        } else out = pre;
        break;
      }
      case 'relu':
        out = reluInPlace(Float64Array.from(x));
        break;
      case 'activation': {
        const f = activationFunction(layer);
        const perSample = shapeSize(inShape);
        out = x.map((v, i) => f(v, i % perSample));
        break;
      }
      case 'maxpool2d':
      case 'avgpool2d':
        out = poolForward(x, samples, windowGeometry(layer, inShape), layer.kind === 'maxpool2d' ? 'max' : 'avg', layer.kind === 'avgpool2d' && layer.countIncludePad);
        break;
      case 'globalavgpool':
      case 'globalmaxpool':
        out = globalPoolForward(x, samples, inShape, layer.kind === 'globalmaxpool' ? 'max' : 'avg');
        break;
      case 'batchnorm':
        out = affineForward(x, layer.scale, layer.offset);
        break;
      case 'add':
        out = sumForward(inputs);
        break;
      case 'mul':
        out = gateForward(inputs[0], inputs[1], samples);
        break;
      case 'concat':
        out = concatForward(inputs, graph.inputShapes[i].map((s) => s[s.length - 1]));
        break;
      case 'layernorm':
        out = layerNormForward(x, layer.scale, layer.offset, layer.epsilon, layer.rms);
        break;
      case 'groupnorm':
        out = groupNormForward(x, samples, inShape[0] * inShape[1], layer.groups, layer.scale, layer.offset, layer.epsilon);
        break;
      case 'gather':
        out = gatherForward(x, inShape[inShape.length - 1], layer.indices);
        break;
      case 'insertzeros':
        out = insertZerosForward(x, samples, inShape, layer.strides);
        break;
      case 'upsample':
        out = upsampleForward(x, samples, upsampleInput(inShape), layer.scale, layer.mode);
        break;
      case 'rearrange':
        out = rearrangeForward(x, samples, layer.indices, layer.offset);
        break;
      case 'matmul':
        out = matmulForward(x, inputs[1], samples, inShape, graph.inputShapes[i][1][2]);
        break;
      case 'embedding':
        out = embeddingRows(tableRows(x, inShape[0], layer.positions), layer.table, layer.dims, new Float64Array(x.length * layer.dims));
        break;
      case 'lasttoken':
        out = lastTokenForward(x, inputs[1], samples, inShape[1], inShape[2], layer.pad);
        break;
      case 'flatten':
      case 'reshape':
        out = x;
        break;
      case 'softmax':
        out = softmaxForward(x, inShape[inShape.length - 1]);
        if (i === last) logits = x;
        break;
    }
    values[i] = out;
    if (targets.some((t) => t.index === i)) inputsOf.set(i, x);
    // The residual sum's other inputs, before they are dropped.
    for (const t of targets) if (t.offsetSources.length && graph.consumers[t.index][0] === i) offsets.set(t.index, sumForward(t.offsetSources.map(read)));
    // A layer's program is known once its target ran (its offset's sources come before the Add).
    for (const t of byTarget.get(i) ?? []) collect(t);
    for (const s of graph.sources[i]) if (s !== NETWORK_INPUT && --remaining[s] === 0) values[s] = null;
  }
  const output = values[last]!;
  return { samples, logits: logits ?? output, output, outputShape: graph.outputShape, collected };
}
