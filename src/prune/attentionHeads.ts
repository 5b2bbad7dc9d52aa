// Attention heads as units: a head that no layer reads any more (all rows of the output
// projection that read its values are zero, as structured pruning leaves them) goes from the
// network whole: its columns of the query, key and value projections, its slice of every tensor
// between them (the scores, the softmax, the layout ops) and its rows of the output projection.
//
// A head is an index of the batch axis of a `matmul` (attention's Q·Kᵀ and P·V are batched over
// heads). Head labels spread value by value from there through the layers that move or map values
// one to one (reshape, rearrange, elementwise and per-row layers) until they reach the dense/conv
// layers that make the projections and read the merged heads. A value two heads meet in ties
// them (grouped-query attention's query heads sharing a key head go together); a tensor no
// weight computes that several heads read through a broadcast (an attention mask) is not a
// head's. Every tensor carrying heads must hold each head on one axis (then it shrinks along
// it); anything else keeps all heads.
import { NETWORK_INPUT, type NetworkGraph } from '../network/graph.js';
import type { Layer, Network, RearrangeLayer } from '../network/types.js';
import { inputRead, shrinkLayer } from './shrinkLayer.js';

const product = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** The heads of a network: per tensor (layer output), its axis of heads and the head of each index on it. */
export interface HeadMap {
  /** By layer index: the axis its output holds heads on and each index's head (a root id), or undefined. */
  tensors: ({ axis: number; heads: Int32Array } | undefined)[];
  /** Heads that must stay (read outside the heads' layers, or held by a tensor not on one axis). */
  fixed: Set<number>;
  /** All heads (root ids), in the order first met. */
  all: number[];
}

class Roots {
  readonly parent: number[] = [];
  add(): number {
    this.parent.push(this.parent.length);
    return this.parent.length - 1;
  }
  find(i: number): number {
    while (this.parent[i] !== i) i = this.parent[i] = this.parent[this.parent[i]];
    return i;
  }
  union(a: number, b: number): boolean {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra === rb) return false;
    this.parent[Math.max(ra, rb)] = Math.min(ra, rb);
    return true;
  }
}

/** Layers whose output value i is computed from input value i of each same-shaped input (and nothing else of theirs). */
const ELEMENTWISE = new Set(['relu', 'activation', 'batchnorm', 'add', 'mul', 'softmax', 'layernorm']);

/** Whether every input value is read by at most one output value (no broadcast). */
function injective(layer: RearrangeLayer, inputs: number): boolean {
  const seen = new Uint8Array(inputs);
  for (const k of layer.indices) if (k >= 0 && seen[k]++) return false;
  return true;
}

/**
 * Labels are kept value by value: past this many values (268 MB) of the tensors heads pass through
 * per sample, heads are not looked for (a BERT-base beyond about 256 tokens).
 */
export const HEAD_LABEL_BUDGET = 2 ** 26;
const OVER_BUDGET = new Error('head labels over budget');

/** The heads of `network` (see the file header); null when it has no batched matmul, or too many values to label (HEAD_LABEL_BUDGET). */
export function headMap(network: Network, graph: NetworkGraph, budget = HEAD_LABEL_BUDGET): HeadMap | null {
  try {
    return labelHeads(network, graph, budget);
  } catch (error) {
    if (error === OVER_BUDGET) return null;
    throw error;
  }
}

function labelHeads(network: Network, graph: NetworkGraph, budget: number): HeadMap | null {
  const { layers } = network;
  if (!layers.some((l) => l.kind === 'matmul')) return null;
  const roots = new Roots();
  const labels: (Int32Array | undefined)[] = layers.map(() => undefined);
  let changed = false;
  const labelsOf = (t: number) => {
    if (!labels[t] && (budget -= product(graph.outputShapes[t])) < 0) throw OVER_BUDGET;
    return (labels[t] ??= new Int32Array(product(graph.outputShapes[t])).fill(-1));
  };
  const set = (t: number, v: number, head: number) => {
    if (t === NETWORK_INPUT || head < 0) return;
    const l = labelsOf(t);
    if (l[v] < 0) {
      l[v] = head;
      changed = true;
    } else if (roots.union(l[v], head)) changed = true;
  };
  const link = (a: number, va: number, b: number, vb: number) => {
    if (a === NETWORK_INPUT || b === NETWORK_INPUT) return;
    const la = labels[a]?.[va] ?? -1;
    const lb = labels[b]?.[vb] ?? -1;
    if (la >= 0) set(b, vb, la);
    if (lb >= 0) set(a, va, lb);
  };
  // Seeds: each matmul's batch index, on its output and both inputs.
  layers.forEach((layer, i) => {
    if (layer.kind !== 'matmul') return;
    const [B] = graph.outputShapes[i];
    const ids = Array.from({ length: B }, () => roots.add());
    for (const t of [i, ...graph.sources[i]]) {
      if (t === NETWORK_INPUT) continue;
      const per = product(graph.outputShapes[t]) / B;
      for (let v = 0; v < per * B; v++) set(t, v, ids[Math.floor(v / per)]);
    }
  });
  // Labels go back through a rearrange that reads each value once, or that repeats a computed
  // tensor (grouped-query attention's keys and values, repeated per query head: those heads are
  // tied), but not through one repeating what no weight computes (an attention mask, a constant).
  const weighted: boolean[] = [];
  layers.forEach((l, i) => (weighted[i] = l.kind === 'dense' || l.kind === 'conv2d' || l.kind === 'embedding' || graph.sources[i].some((s) => s !== NETWORK_INPUT && weighted[s])));
  const backward = layers.map((l, i) => {
    const s = graph.sources[i][0];
    return l.kind === 'rearrange' && s !== NETWORK_INPUT && (weighted[s] || injective(l, product(graph.inputShapes[i][0])));
  });
  do {
    changed = false;
    layers.forEach((layer, i) => {
      const sources = graph.sources[i];
      const size = product(graph.outputShapes[i]);
      if (ELEMENTWISE.has(layer.kind) || layer.kind === 'reshape') {
        for (const s of sources) if (s !== NETWORK_INPUT && product(graph.outputShapes[s]) === size && (labels[s] || labels[i])) for (let v = 0; v < size; v++) link(s, v, i, v);
      } else if (layer.kind === 'concat') {
        // Along the last axis: output value (position, offset + c) is source k's (position, c).
        const channels = graph.outputShapes[i][graph.outputShapes[i].length - 1];
        let offset = 0;
        graph.inputShapes[i].forEach((shape, k) => {
          const width = shape[shape.length - 1];
          if (sources[k] !== NETWORK_INPUT && (labels[i] || labels[sources[k]]))
            for (let v = 0; v < size; v++) {
              const c = (v % channels) - offset;
              if (c >= 0 && c < width) link(sources[k], Math.floor(v / channels) * width + c, i, v);
            }
          offset += width;
        });
      } else if (layer.kind === 'rearrange' && (labels[i] || labels[sources[0]])) {
        const s = sources[0];
        for (let v = 0; v < size; v++) {
          const from = layer.indices[v];
          if (from < 0 || s === NETWORK_INPUT) continue;
          const l = labels[s]?.[from] ?? -1;
          if (l >= 0) set(i, v, l);
          const here = labels[i]?.[v] ?? -1;
          if (backward[i] && here >= 0) set(s, from, here);
        }
      }
    });
  } while (changed);

  const fixed = new Set<number>();
  const all = new Set<number>();
  const tensors = labels.map((l, t) => {
    if (!l) return undefined;
    const rootsHere = new Set<number>();
    for (const v of l) if (v >= 0) rootsHere.add(roots.find(v));
    rootsHere.forEach((r) => all.add(r));
    const onAxis = l.every((v) => v >= 0) ? headAxis(l, graph.outputShapes[t], roots) : null;
    // Fixed: not on one axis, made by a layer that cannot drop them, or combined with the network input (which keeps its shape).
    const withInput = !['rearrange', 'dense', 'conv2d'].includes(layers[t].kind) && graph.sources[t].includes(NETWORK_INPUT);
    if (!onAxis || withInput || !shrinkable(layers[t], t, onAxis.axis, graph)) rootsHere.forEach((r) => fixed.add(r));
    return onAxis ?? undefined;
  });
  // Heads read outside: by a layer that neither carries them on nor reads them as channels (dense/conv).
  layers.forEach((layer, i) => {
    for (const s of graph.sources[i]) {
      if (s === NETWORK_INPUT || !labels[s]) continue;
      const lastAxis = graph.outputShapes[s].length - 1;
      if (layer.kind === 'dense' || layer.kind === 'conv2d') {
        if (tensors[s]?.axis === lastAxis && (layer.kind === 'dense' || (layer.groups ?? 1) === 1)) continue;
      } else if (layer.kind === 'rearrange' || layer.kind === 'matmul' || layer.kind === 'concat' || ((ELEMENTWISE.has(layer.kind) || layer.kind === 'reshape') && product(graph.outputShapes[s]) === product(graph.outputShapes[i]))) continue;
      for (const v of labels[s]!) if (v >= 0) fixed.add(roots.find(v));
    }
  });
  const last = labels[layers.length - 1];
  if (last) for (const v of last) if (v >= 0) fixed.add(roots.find(v));
  return { tensors, fixed, all: [...all] };
}

/** The axis whose index alone gives each value's head (the one with most heads), or null. */
function headAxis(labels: Int32Array, shape: readonly number[], roots: Roots): { axis: number; heads: Int32Array } | null {
  let best: { axis: number; heads: Int32Array; count: number } | null = null;
  let stride = 1;
  for (let axis = shape.length - 1; axis >= 0; axis--) {
    const n = shape[axis];
    const heads = new Int32Array(n).fill(-1);
    let ok = true;
    for (let v = 0; v < labels.length && ok; v++) {
      const k = Math.floor(v / stride) % n;
      const r = roots.find(labels[v]);
      if (heads[k] < 0) heads[k] = r;
      else ok = heads[k] === r;
    }
    stride *= n;
    if (!ok) continue;
    const count = new Set(heads).size;
    if (!best || count > best.count || (count === best.count && axis < best.axis)) best = { axis, heads, count };
  }
  return best && { axis: best.axis, heads: best.heads };
}

/** Whether the layer making tensor t can drop indices of `axis`. */
function shrinkable(layer: Layer, t: number, axis: number, graph: NetworkGraph): boolean {
  const lastAxis = graph.outputShapes[t].length - 1;
  switch (layer.kind) {
    case 'dense':
      return axis === lastAxis;
    case 'conv2d':
      return axis === lastAxis && (layer.groups ?? 1) === 1;
    case 'softmax':
    case 'layernorm':
    case 'concat':
      return axis !== lastAxis;
    case 'activation':
      return !layer.slopes;
    case 'mul':
      return graph.inputShapes[t].every((s) => product(s) === product(graph.outputShapes[t]));
    case 'matmul':
      return axis === 0;
    case 'relu':
    case 'batchnorm':
    case 'add':
    case 'rearrange':
    case 'reshape':
      return true;
    default:
      return false;
  }
}

/** For a dense/conv layer reading merged heads: each input channel's head, when each head is a run of equal length (the solver's groups). */
export function headGroups(map: HeadMap, graph: NetworkGraph, layer: number): { span: number; count: number } | null {
  const source = graph.sources[layer][0];
  const here = source === NETWORK_INPUT ? undefined : map.tensors[source];
  if (!here || here.axis !== graph.outputShapes[source].length - 1) return null;
  const { heads } = here;
  let span = 1;
  while (span < heads.length && heads[span] === heads[0]) span++;
  if (span === heads.length || heads.length % span !== 0) return null;
  for (let c = 0; c < heads.length; c++) {
    const run = c - (c % span);
    if (heads[c] !== heads[run] || (run > 0 && heads[run] === heads[run - 1])) return null;
  }
  return { span, count: heads.length / span };
}

/** The heads nobody reads: not fixed, and every dense/conv reading them has only zeros for their channels. */
export function unreadHeads(network: Network, graph: NetworkGraph, map: HeadMap): Set<number> {
  const read = new Set(map.fixed);
  network.layers.forEach((layer, i) => {
    if (layer.kind !== 'dense' && layer.kind !== 'conv2d') return;
    const s = graph.sources[i][0];
    const here = s === NETWORK_INPUT ? undefined : map.tensors[s];
    if (!here) return;
    here.heads.forEach((h, c) => !read.has(h) && inputRead(layer, c) && read.add(h));
  });
  return new Set(map.all.filter((h) => !read.has(h)));
}

export interface HeadRemoval {
  network: Network;
  /** By layer name, each layer whose output lost channels (its last axis): the channels kept. */
  kept: Map<string, Int32Array>;
  /** By layer name, each layer whose output lost heads on another axis: its new shape. */
  shapes: Map<string, number[]>;
  /** Heads of the network (those that could go: not fixed) before and after. */
  headsBefore: number;
  headsAfter: number;
  notes: string[];
}

/** Flat index in `shape` of each flat index of the shape with `axis` cut to `kept`. */
function keptValues(shape: readonly number[], axis: number, kept: Int32Array): Int32Array {
  const inner = product(shape.slice(axis + 1));
  const outer = product(shape.slice(0, axis));
  const out = new Int32Array(outer * kept.length * inner);
  let n = 0;
  for (let o = 0; o < outer; o++) for (const k of kept) for (let j = 0; j < inner; j++) out[n++] = (o * shape[axis] + k) * inner + j;
  return out;
}

/** "attention heads read by conv2d 'o_proj': 4 → 2", in query heads (the batch of the product the layer reads) and, when they go in groups (grouped-query), groups too. */
function headNote(network: Network, graph: NetworkGraph, map: HeadMap, layer: number, gone: Set<number>): string {
  const roots = new Set(map.tensors[graph.sources[layer][0]]!.heads);
  const kept = [...roots].filter((h) => !gone.has(h)).length;
  const queries = queryHeads(network, graph, map, layer);
  const name = `${network.layers[layer].kind} '${network.layers[layer].name}'`;
  if (queries === roots.size || queries % roots.size !== 0) return `attention heads read by ${name}: ${roots.size} → ${kept}`;
  const per = queries / roots.size;
  return `attention heads read by ${name}: ${queries} → ${kept * per} (${roots.size} groups of ${per} sharing a key head → ${kept})`;
}

/** The query heads a dense/conv layer reads merged: the batch of the product it reads through layout ops, else its heads. */
function queryHeads(network: Network, graph: NetworkGraph, map: HeadMap, layer: number): number {
  let t = graph.sources[layer][0];
  for (let step = 0; step < 8 && t !== NETWORK_INPUT && (network.layers[t].kind === 'rearrange' || network.layers[t].kind === 'reshape'); step++) t = graph.sources[t][0];
  return t !== NETWORK_INPUT && network.layers[t].kind === 'matmul' ? graph.outputShapes[t][0] : new Set(map.tensors[graph.sources[layer][0]]!.heads).size;
}

/** What `inspect` says of a network's attention: each layer reading merged heads and how many, and the heads that must stay. */
export function attentionSummary(network: Network, graph: NetworkGraph): { heads: number; fixed: number; readers: Array<{ layer: string; heads: number }> } | null {
  const map = headMap(network, graph);
  if (!map || map.all.length === 0) return null;
  const readers = network.layers.flatMap((layer, i) => {
    const s = graph.sources[i][0];
    if ((layer.kind !== 'dense' && layer.kind !== 'conv2d') || s === NETWORK_INPUT || !map.tensors[s]) return [];
    return [{ layer: layer.name, heads: queryHeads(network, graph, map, i) }];
  });
  return { heads: map.all.length, fixed: map.fixed.size, readers };
}

/** The network without the heads nobody reads (unreadHeads), or null when none goes. */
export function removeHeads(network: Network, graph: NetworkGraph): HeadRemoval | null {
  const map = headMap(network, graph);
  if (!map) return null;
  const gone = unreadHeads(network, graph, map);
  // An attention whose every head is unread keeps one (its output then is its bias), so that each layer keeps a shape.
  for (const t of map.tensors) if (t && t.heads.every((h) => gone.has(h))) gone.delete(t.heads[0]);
  const free = map.all.filter((h) => !map.fixed.has(h)).length;
  if (gone.size === 0) return null;
  const keptOn = map.tensors.map((t) => {
    if (!t || !t.heads.some((h) => gone.has(h))) return null;
    return Int32Array.from([...t.heads].flatMap((h, k) => (gone.has(h) ? [] : [k])));
  });
  const result: HeadRemoval = { network: { ...network, layers: [] }, kept: new Map(), shapes: new Map(), headsBefore: free, headsAfter: free - gone.size, notes: [] };
  network.layers.forEach((layer, i) => {
    const source = graph.sources[i][0];
    const out = keptOn[i];
    const input = source === NETWORK_INPUT ? null : keptOn[source];
    const shape = graph.outputShapes[i];
    const axis = map.tensors[i]?.axis ?? -1;
    if (out && axis === shape.length - 1) result.kept.set(layer.name, out);
    else if (out) result.shapes.set(layer.name, shape.map((n, a) => (a === axis ? out.length : n)));
    if ((layer.kind === 'dense' || layer.kind === 'conv2d') && input) result.notes.push(headNote(network, graph, map, i, gone));
    if (!out && !input) return void result.network.layers.push(layer);
    const inAxis = source === NETWORK_INPUT ? -1 : (map.tensors[source]?.axis ?? -1);
    const channelsIn = source === NETWORK_INPUT ? network.inputShape[network.inputShape.length - 1] : graph.outputShapes[source][graph.outputShapes[source].length - 1];
    switch (layer.kind) {
      case 'dense':
      case 'conv2d':
      case 'batchnorm':
        result.network.layers.push(shrinkLayer(layer, input && inAxis === graph.inputShapes[i][0].length - 1 ? input : null, axis === shape.length - 1 ? out : null, shape[shape.length - 1], channelsIn));
        return;
      case 'reshape':
        result.network.layers.push({ ...layer, shape: out ? shape.map((n, a) => (a === axis ? out.length : n)) : layer.shape });
        return;
      case 'rearrange': {
        const values = out ? keptValues(shape, axis, out) : Int32Array.from({ length: product(shape) }, (_, k) => k);
        const inShape = graph.inputShapes[i][0];
        const position = new Int32Array(product(inShape)).fill(-1);
        (input ? keptValues(inShape, inAxis, input) : Int32Array.from(position, (_, k) => k)).forEach((old, k) => (position[old] = k));
        const indices = Int32Array.from(values, (o) => {
          const from = layer.indices[o];
          if (from < 0) return -1;
          if (position[from] < 0) throw new Error(`removeHeads: rearrange '${layer.name}' reads a value of a head that goes`);
          return position[from];
        });
        const offset = layer.offset && Float32Array.from(values, (o) => layer.offset![o]);
        result.network.layers.push({ ...layer, indices, offset, shape: out ? shape.map((n, a) => (a === axis ? out.length : n)) : layer.shape });
        return;
      }
      default:
        result.network.layers.push(layer);
    }
  });
  return result;
}
