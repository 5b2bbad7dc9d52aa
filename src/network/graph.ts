// The network as a graph (types.ts): which layers each layer reads and is read by, every tensor's
// shape, validated once; and which layers Net-Trim prunes, with the program each one gets.
import { InputError } from '../errors.js';
import { DEFAULT_INPUT_NAME, type Conv2DLayer, type DenseLayer, type Network } from './types.js';
import { LayerShapeError, layerOutputShape } from './shapes.js';
import { checkInputParts, checkOutputParts } from './inputParts.js';
import { sourceNames } from './sources.js';

export { sourceNames };

/** The network input's index in `sources`. */
export const NETWORK_INPUT = -1;

export interface NetworkGraph {
  /** For each layer, the indices of the layers it reads, in order (NETWORK_INPUT for the input). */
  sources: number[][];
  /** For each layer, the layers that read its output (a layer reading it twice is listed twice). */
  consumers: number[][];
  /** One sample's output shape of each layer. */
  outputShapes: number[][];
  /** One sample's shape of each tensor a layer reads (by `sources`). */
  inputShapes: number[][][];
  /** One sample's output shape of the network (the last layer's). */
  outputShape: number[];
  /** Every layer reads just the one before it. */
  isChain: boolean;
}

const isPositiveInteger = (v: unknown) => Number.isInteger(v) && (v as number) >= 1;

/**
 * Validates the graph and every layer and returns its structure. Throws an InputError naming
 * `source`, the layer's index and name and the problem, e.g.
 * "model.json: layer 3 'dense_1' (dense): dense expects 800 inputs but receives 784".
 */
export function networkGraph(network: Network, source = 'network'): NetworkGraph {
  const { inputShape, layers } = network;
  if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every(isPositiveInteger))
    throw new InputError(`${source}: inputShape must be a non-empty list of positive integers (found ${JSON.stringify(inputShape)})`);
  if (!Array.isArray(layers) || layers.length === 0) throw new InputError(`${source}: the network has no layers`);
  const inputName = network.inputName ?? DEFAULT_INPUT_NAME;
  const indexOf = new Map<string, number>([[inputName, NETWORK_INPUT]]);
  const graph: NetworkGraph = { sources: [], consumers: layers.map(() => []), outputShapes: [], inputShapes: [], outputShape: [], isChain: true };
  const shapeOf = (i: number) => (i === NETWORK_INPUT ? inputShape : graph.outputShapes[i]);
  layers.forEach((layer, i) => {
    const label = `${source}: layer ${i} '${layer?.name}' (${layer?.kind})`;
    if (typeof layer?.name !== 'string' || layer.name === '') throw new InputError(`${source}: layer ${i} (${layer?.kind}) has no name`);
    if (indexOf.has(layer.name))
      throw new InputError(`${label}: ${layer.name === inputName ? `the network input has this name` : 'another layer has the same name'}`);
    if (layer.from !== undefined && !(Array.isArray(layer.from) && layer.from.length > 0 && layer.from.every((n) => typeof n === 'string')))
      throw new InputError(`${label}: from must be a non-empty list of layer names (found ${JSON.stringify(layer.from)})`);
    const sources = sourceNames(layers, i, inputName).map((name) => {
      const index = indexOf.get(name);
      if (index === undefined) {
        const later = layers.findIndex((l, j) => j >= i && l?.name === name);
        throw new InputError(
          later >= 0
            ? `${label}: reads '${name}', which is layer ${later}: expected every layer after the layers it reads (is there a cycle?)`
            : `${label}: reads '${name}', which is neither a layer nor the network input '${inputName}'`,
        );
      }
      return index;
    });
    const idsPart = (k: number) => network.inputParts?.some((p) => p.values === 'ids' && p.name === layers[k].name);
    if (layer.kind === 'embedding' && sources[0] !== NETWORK_INPUT && !idsPart(sources[0]))
      throw new InputError(`${label}: an embedding reads the network input (token ids)${network.inputParts ? ' or an input part of ids' : ''}, found '${layers[sources[0]].name}'`);
    if (layer.kind === 'lasttoken' && (sources.length !== 2 || (sources[1] !== NETWORK_INPUT && !idsPart(sources[1]))))
      throw new InputError(`${label}: lasttoken reads a tensor and then the token ids (the network input${network.inputParts ? ' or an input part of ids' : ''}), found ${sources.map((s) => `'${s === NETWORK_INPUT ? inputName : layers[s].name}'`).join(', ')}`);
    if (sources.length !== 1 || sources[0] !== i - 1) graph.isChain = false;
    graph.sources.push(sources);
    for (const s of sources) if (s !== NETWORK_INPUT) graph.consumers[s].push(i);
    const shapes = sources.map(shapeOf);
    graph.inputShapes.push(shapes);
    try {
      graph.outputShapes.push(layerOutputShape(layer, shapes));
    } catch (error) {
      if (error instanceof LayerShapeError) throw new InputError(`${label}: ${error.message}`);
      throw error;
    }
    indexOf.set(layer.name, i);
  });
  const last = layers.length - 1;
  // Token ids are indices, not values: a layer that computes with them is a mistake.
  checkInputParts(network, source);
  checkOutputParts(network, source, graph.outputShapes[last].reduce((a, b) => a * b, 1));
  // (A lasttoken reads ids too, to find the last token: never as values.)
  const readers = layers.filter((_, i) => graph.sources[i].includes(NETWORK_INPUT));
  const other = readers.find((l) => l.kind !== 'embedding' && l.kind !== 'lasttoken');
  const picks = readers.find((l) => l.kind === 'lasttoken');
  if (picks && !readers.some((l) => l.kind === 'embedding'))
    throw new InputError(`${source}: layer '${picks.name}' (lasttoken) reads the network input as token ids, but no embedding reads it: expected the ids an embedding reads`);
  if (other && readers.some((l) => l.kind === 'embedding'))
    throw new InputError(`${source}: layer '${other.name}' (${other.kind}) reads the network input, which holds token ids (an embedding reads it): expected only embeddings to read it`);
  layers.forEach((layer, i) => {
    if (i !== last && graph.consumers[i].length === 0)
      throw new InputError(`${source}: layer ${i} '${layer.name}' (${layer.kind}): its output is read by no layer and is not the network output (the last layer, '${layers[last].name}')`);
  });
  graph.outputShape = graph.outputShapes[last];
  return graph;
}

/**
 * Validates the network and returns the shapes of a chain's tensors: entry i is the input shape
 * of layer i (its first input, in a graph), the last entry (index layers.length) the network's
 * output shape.
 */
export function checkNetwork(network: Network, source = 'network'): number[][] {
  const graph = networkGraph(network, source);
  return [...graph.inputShapes.map((shapes) => shapes[0]), graph.outputShape];
}


/** The vocabulary of a network whose input holds token ids (the smallest of its embeddings'); undefined for other networks. */
export function tokenVocabulary(network: Network): number | undefined {
  const inputName = network.inputName ?? DEFAULT_INPUT_NAME;
  // (A network of input parts has its ids in parts: inputParts.ts checks them.)
  // (An embedding of positions reads the ids too, but its rows are the tokens' positions: shapes.ts bounds them.)
  const sizes = network.layers.flatMap((l, i) => (l.kind === 'embedding' && !l.positions && sourceNames(network.layers, i, inputName).includes(inputName) ? [l.vocabulary] : []));
  return sizes.length ? Math.min(...sizes) : undefined;
}

/** The position of the first value of `ids` that is not a token id below `vocabulary` (a whole number ≥ 0), or −1. */
export function badTokenId(ids: ArrayLike<number>, vocabulary: number): number {
  for (let i = 0; i < ids.length; i++) if (!(Number.isInteger(ids[i]) && ids[i] >= 0 && ids[i] < vocabulary)) return i;
  return -1;
}

/** The (first) input shape of every layer (entry i for layer i), after validating the network. */
export function layerInputShapes(network: Network): number[][] {
  return networkGraph(network).inputShapes.map((shapes) => shapes[0]);
}

export type PrunableKind = DenseLayer | Conv2DLayer;

export interface PrunableLayer {
  /** Position of the dense/conv2d layer in network.layers. */
  index: number;
  layer: PrunableKind;
  /**
   * 'relu': the layer's output (or the residual sum it feeds) goes through a ReLU (fused, or its
   * one reader is a relu layer) and the post-ReLU output is the target; 'clip': the same through a
   * clipped ReLU (ReLU6, Clip(lo, hi)); 'linear': a pre-activation is the target.
   */
  program: 'relu' | 'clip' | 'linear';
  /** 'clip': the clamps [lo, hi] (lo may be −Infinity). */
  clip?: [number, number];
  /** Why this program, in words (inspect shows it). */
  reason: string;
  /**
   * The layer whose output is the target: `index` itself (fused relu, linear, or the pre-softmax
   * logits of a fused softmax), the relu layer reading it, or the residual Add it feeds.
   */
  targetIndex: number;
  /**
   * When the target is a residual Add's output (z = Wᵀx + b + s): the other layers the Add reads,
   * whose sum s is the program's offset (from the network being pruned, in cascade).
   */
  offsetSources: number[];
  /** One sample's input shape ([N] dense, [H, W, C] conv) and target shape ([M], [Ho, Wo, cout]). */
  inputShape: number[];
  outputShape: number[];
}

/** The dense and conv2d layers in order, with their Net-Trim program (see PrunableLayer). */
export function prunableLayers(network: Network, graph: NetworkGraph = networkGraph(network)): PrunableLayer[] {
  const layers = network.layers;
  const result: PrunableLayer[] = [];
  const last = layers.length - 1;
  const soleReader = (i: number) => (graph.consumers[i].length === 1 ? graph.consumers[i][0] : -1);
  const named = (i: number) => (i < 0 ? 'the input' : `'${layers[i].name}'`);
  layers.forEach((layer, index) => {
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') return;
    const base = { index, layer, inputShape: graph.inputShapes[index][0], outputShape: graph.outputShapes[index] };
    if (layer.activation === 'relu') return void result.push({ ...base, program: 'relu', reason: 'fused ReLU', targetIndex: index, offsetSources: [] });
    if (layer.activation === 'softmax') return void result.push({ ...base, program: 'linear', reason: 'logits (fused softmax)', targetIndex: index, offsetSources: [] });
    // Through a residual sum: z = Wᵀx + b + (the Add's other inputs).
    let at = index;
    let offsetSources: number[] = [];
    let via = '';
    const first = soleReader(index);
    if (first >= 0 && layers[first].kind === 'add') {
      const sources = graph.sources[first];
      offsetSources = sources.filter((_, k) => k !== sources.indexOf(index));
      at = first;
      via = ` after the residual sum '${layers[first].name}' (offset: ${offsetSources.map(named).join(' + ')})`;
    }
    const readerIndex = soleReader(at);
    const reader = readerIndex >= 0 ? layers[readerIndex] : null;
    if (reader?.kind === 'relu') return void result.push({ ...base, program: 'relu', reason: `ReLU${via}`, targetIndex: readerIndex, offsetSources });
    if (reader?.kind === 'activation' && reader.fn === 'clip') {
      const [lo, hi] = [reader.min ?? -Infinity, reader.max ?? Infinity];
      if (lo === 0 && hi === Infinity) return void result.push({ ...base, program: 'relu', reason: `ReLU (clip at 0)${via}`, targetIndex: readerIndex, offsetSources });
      if (hi < Infinity) return void result.push({ ...base, program: 'clip', clip: [lo, hi], reason: `clipped ReLU [${lo}, ${hi}]${via}`, targetIndex: readerIndex, offsetSources });
    }
    const reason =
      at !== index ? `linear on the residual sum '${layers[at].name}' (offset: ${offsetSources.map(named).join(' + ')})`
      : index === last ? 'linear (the network output)'
      : graph.consumers[index].length > 1 ? `linear (read by ${graph.consumers[index].length} layers)`
      : reader?.kind === 'activation' ? `linear on pre-activations (followed by ${reader.fn})`
      : reader?.kind === 'softmax' ? 'logits (softmax)'
      : `linear (followed by ${reader?.kind})`;
    result.push({ ...base, program: 'linear', reason, targetIndex: at, offsetSources });
  });
  return result;
}
