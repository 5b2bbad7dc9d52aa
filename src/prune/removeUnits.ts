// Physical removal (issue 16): after pruning, a neuron or channel that no layer reads any more
// (its row of the next dense kernel, or its slice of the next conv's kernel, is all zeros) is taken
// out of the layer that produces it and out of every layer on the way (BatchNorm, activations,
// pools, flatten), so the written model has fewer units and filters and does less work. The
// result computes exactly what the pruned network computes: only values nobody reads go.
//
// Channels are tied when they must go together: an elementwise op's input and output channel c,
// every input of a residual Add or a gating Mul at channel c (and the output's c), a Concat's input channel and its
// place in the output, a depthwise conv's input channel and its outputs, a flatten's features and
// the channel they came from. A tied set goes only when no kept output reads any of its members
// (liveChannels.ts), and never when it touches the network's input or output or a softmax. A
// grouped conv keeps as many channels in each of its groups, and drops groups whole.
// Units with all-zero weights first hand their constant output to their reader's bias
// (foldConstants.ts), which makes them unread. Attention heads nobody reads go first, whole
// (attentionHeads.ts), and count as units.
import { networkGraph, NETWORK_INPUT, type NetworkGraph } from '../network/graph.js';
import { foldConstantUnits } from './foldConstants.js';
import type { Conv2DLayer, Layer, Network, RearrangeLayer } from '../network/types.js';
import { shrinkLayer } from './shrinkLayer.js';
import { CHANNELWISE, ChannelSets, isGroupedConv, liveSets, readsByWeights, type GroupedConv } from './liveChannels.js';
import { headMap, removeHeads } from './attentionHeads.js';

export interface UnitRemoval {
  /** The network with the unread units removed (the input network is not modified). */
  network: Network;
  /** By layer name, for each layer whose output lost channels: the channels kept (ascending, original numbering). */
  kept: Map<string, Int32Array>;
  /** Each dense/conv layer's units or filters (an embedding's dimensions), before and after. */
  layers: { name: string; kind: 'dense' | 'conv2d' | 'embedding'; before: number; after: number }[];
  /** Units (neurons, channels) of the dense/conv layers that could go (not the output, not fixed): before and after. */
  unitsBefore: number;
  unitsAfter: number;
  /** What held units back, in words (a residual sum, a grouped conv), and the heads each attention kept. */
  notes: string[];
  /** Attention heads that could go (attentionHeads.ts), before and after; counted in unitsBefore/After too. Absent: none. */
  heads?: { before: number; after: number };
  /** By layer name, each layer whose output lost heads on an axis other than the last: its new shape. */
  shapes?: Map<string, number[]>;
}

/** Ties channels across each layer, and marks what is fixed. */
function tieChannels(network: Network, sets: ChannelSets): void {
  const { graph } = sets;
  const node = sets.node;
  const union = (a: number, b: number) => sets.union(a, b);
  sets.fix(NETWORK_INPUT);
  sets.fix(network.layers.length - 1);
  network.layers.forEach((layer, i) => {
    const sources = graph.sources[i];
    const source = sources[0];
    const same = () => {
      for (let c = 0; c < sets.count(i); c++) union(node(source, c), node(i, c));
    };
    if (CHANNELWISE.has(layer.kind)) return same();
    switch (layer.kind) {
      case 'dense':
        break; // what its weights read: liveSets
      case 'conv2d': {
        // A depthwise conv's outputs come from one input channel each; other convs' reads: liveSets.
        const groups = layer.groups ?? 1;
        if (groups > 1 && groups === layer.inChannels) {
          const multiplier = layer.filters / groups;
          for (let f = 0; f < layer.filters; f++) union(node(source, Math.floor(f / multiplier)), node(i, f));
        }
        break;
      }
      case 'add':
      case 'mul': // a gate's channel c (one value per channel, or the same shape) scales x's channel c
        for (const s of sources) for (let c = 0; c < sets.count(i); c++) union(node(s, c), node(i, c));
        break;
      case 'concat': {
        let offset = 0;
        for (const s of sources) {
          for (let c = 0; c < sets.count(s); c++) union(node(s, c), node(i, offset + c));
          offset += sets.count(s);
        }
        break;
      }
      case 'rearrange': {
        // A crop or a token picked keeps each channel a channel: tie output channel c to the one
        // input channel it reads (rearrangeChannels). Else all stays, and so it does with constants
        // added (a class token, a position embedding: the written model's constants keep their size).
        const map = layer.offset ? null : rearrangeChannels(layer, sets.count(source), sets.count(i));
        if (!map) {
          sets.fix(source);
          sets.fix(i);
        } else map.forEach((from, c) => from >= 0 && union(node(source, from), node(i, c)));
        break;
      }
      case 'embedding':
        // Its vectors' dimensions are its own (the input's ids are fixed): each goes when unread.
        break;
      case 'lasttoken':
        // Output channel c is the token's channel c (its second source, the ids, is fixed).
        same();
        break;
      case 'flatten': {
        // NHWC: feature k of the flattened [H, W, C] comes from channel k mod C.
        const channels = sets.count(source);
        for (let k = 0; k < sets.count(i); k++) union(node(source, k % channels), node(i, k));
        break;
      }
      default:
        // softmax, and anything that mixes channels: all of it stays.
        for (const s of sources) sets.fix(s);
        sets.fix(i);
    }
  });
}

/**
 * For each output channel of a rearrange (its last axis, `outputs` of them), the input channel
 * (of `inputs`) every value of it reads (−1: constants only); null when a channel reads several.
 */
function rearrangeChannels(layer: RearrangeLayer, inputs: number, outputs: number): Int32Array | null {
  const map = new Int32Array(outputs).fill(-1);
  for (let i = 0; i < layer.indices.length; i++) {
    const from = layer.indices[i];
    if (from < 0) continue;
    const c = i % outputs;
    if (map[c] === -1) map[c] = from % inputs;
    else if (map[c] !== from % inputs) return null;
  }
  return map;
}

/** The channels of `tensor` kept: those whose tied set is read or fixed. */
function keptChannels(sets: ChannelSets, live: Uint8Array, tensor: number): Int32Array {
  const kept: number[] = [];
  for (let c = 0; c < sets.count(tensor); c++) if (live[sets.find(sets.node(tensor, c))]) kept.push(c);
  return Int32Array.from(kept);
}

/**
 * Removes every neuron and channel nobody reads, after folding constant ones into their readers'
 * biases (see the file header). Exact: the result computes the same outputs as `network` (up to the
 * float32 rounding of a bias that took constants).
 */
export function removeUnreadUnits(pruned: Network, graph: NetworkGraph = networkGraph(pruned), options: { heads?: boolean } = {}): UnitRemoval {
  const heads = options.heads === false ? null : removeHeads(pruned, graph);
  if (!heads) {
    const removal = removeUnreadChannels(pruned, graph);
    return { ...removal, ...(options.heads === false ? {} : headCount(pruned, graph, removal)) };
  }
  const result = removeUnreadChannels(heads.network, networkGraph(heads.network));
  // Channels cut twice: the second list indexes the first's.
  for (const [name, first] of heads.kept) {
    const second = result.kept.get(name);
    result.kept.set(name, second ? Int32Array.from(second, (k) => first[k]) : first);
  }
  const before = new Map(pruned.layers.map((l) => [l.name, l.kind === 'dense' ? l.units : l.kind === 'conv2d' ? l.filters : 0]));
  for (const entry of result.layers) entry.before = before.get(entry.name) ?? entry.before;
  return {
    ...result,
    ...(heads.shapes.size ? { shapes: heads.shapes } : {}),
    heads: { before: heads.headsBefore, after: heads.headsAfter },
    unitsBefore: result.unitsBefore + heads.headsBefore,
    unitsAfter: result.unitsAfter + heads.headsAfter,
    notes: [...heads.notes, ...result.notes],
  };
}

/** Attention heads that could go, as units (none go). */
function headCount(network: Network, graph: NetworkGraph, removal: UnitRemoval): Partial<UnitRemoval> {
  const map = headMap(network, graph);
  const free = map ? map.all.filter((h) => !map.fixed.has(h)).length : 0;
  return free ? { heads: { before: free, after: free }, unitsBefore: removal.unitsBefore + free, unitsAfter: removal.unitsAfter + free } : {};
}

/** removeUnreadUnits without heads: neurons and channels. */
function removeUnreadChannels(pruned: Network, graph: NetworkGraph): UnitRemoval {
  const { network, folds } = foldConstantUnits(pruned, graph);
  const sets = new ChannelSets(graph, network.inputShape);
  tieChannels(network, sets);
  const live = liveSets(network, sets);
  const fixedSet = new Uint8Array(sets.parent.length);
  for (let n = 0; n < live.length; n++) if (sets.fixed[n]) fixedSet[sets.find(n)] = 1;
  const layers = network.layers;
  const kept = layers.map((_, i) => keptChannels(sets, live, i));
  const keptOf = (t: number) => (t === NETWORK_INPUT ? null : kept[t].length === sets.count(t) ? null : kept[t]);

  const result: UnitRemoval = { network: { ...network, layers: [] }, kept: new Map(), layers: [], unitsBefore: 0, unitsAfter: 0, notes: [] };
  for (const f of folds) result.notes.push(`'${f.from}': ${f.units} ${f.units === 1 ? 'unit' : 'units'} with all-zero weights (constant) folded into the bias of '${f.into}'`);
  const whole: string[] = [];
  layers.forEach((layer, i) => {
    const out = keptOf(i);
    const input = keptOf(graph.sources[i][0]);
    if (out) result.kept.set(layer.name, out);
    result.network.layers.push(out || input ? shrinkLayer(layer, input, out, sets.count(i), sets.count(graph.sources[i][0])) : layer);
    if (layer.kind === 'embedding') result.layers.push({ name: layer.name, kind: layer.kind, before: layer.dims, after: out ? out.length : layer.dims });
    if (layer.kind === 'dense' || layer.kind === 'conv2d') {
      const before = sets.count(i);
      const after = out ? out.length : before;
      result.layers.push({ name: layer.name, kind: layer.kind, before, after });
      let free = false;
      for (let c = 0; c < before && !free; c++) free = !fixedSet[sets.find(sets.node(i, c))];
      if (free) {
        result.unitsBefore += before;
        result.unitsAfter += after;
      }
      // Inputs this layer no longer reads that stay anyway, and why: another layer reads them
      // (through tied channels), they are fixed, or held (a grouped conv's balance, a last channel).
      const source = graph.sources[i][0];
      const why = new Map<string, number>();
      for (let c = 0; c < sets.count(source); c++) {
        const n = sets.node(source, c);
        const root = sets.find(n);
        if (sets.read[n] || !live[root]) continue;
        const by = sets.readBy[root];
        const reason = by >= 0 && by !== i ? `read by '${layers[by].name}' through tied channels`
          : by === i ? 'tied to channels it still reads'
          : fixedSet[root] ? 'tied to the network input or output or to a layer that mixes channels'
          : "held to keep a grouped conv's groups even or a layer's last channel";
        why.set(reason, (why.get(reason) ?? 0) + 1);
      }
      const unreadKept = [...why.values()].reduce((a, b) => a + b, 0);
      const shrunk = result.network.layers[i] as Conv2DLayer;
      if (isGroupedConv(layer) && (unreadKept || shrunk !== layer)) result.notes.push(groupedNote(layer, shrunk, unreadKept));
      else if (unreadKept && readsByWeights(layer)) result.notes.push(unreadNote(layer, source === NETWORK_INPUT ? null : layers[source].name, why));
    }
    if (layer.kind === 'add') {
      const channels = sets.count(i);
      const removed = channels - (out ? out.length : channels);
      // Sums that keep every channel (a transformer's whole residual stream) get one note together.
      if (removed === 0) whole.push(`'${layer.name}'`);
      else result.notes.push(`residual sum '${layer.name}': ${removed} of ${channels} channels removed (${SUM_RULE})`);
    }
  });
  if (whole.length) result.notes.push(`${whole.length === 1 ? `residual sum ${whole[0]} keeps` : `${whole.length} residual sums keep`} all their channels (${SUM_RULE})${whole.length > 1 ? `: ${whole.join(', ')}` : ''}`);
  return result;
}

/** "dense 'fc': reads 15 channels of 'flatten' no more, which stay (13 read by 'block2/a' through tied channels, 2 …)". */
function unreadNote(layer: Layer, source: string | null, why: Map<string, number>): string {
  const count = [...why.values()].reduce((a, b) => a + b, 0);
  if (source === null) return `${layer.kind} '${layer.name}': reads ${count} input features of the network input no more, which stay (the model input keeps its shape)`;
  const reasons = [...why].map(([reason, n]) => `${n} ${reason}`).join(', ');
  return `${layer.kind} '${layer.name}': reads ${count} ${count === 1 ? 'channel' : 'channels'} of '${source}' no more, which stay (${reasons})`;
}

/** What became of a grouped conv's groups, and the channels nobody reads it keeps to balance them. */
function groupedNote(before: GroupedConv, after: Conv2DLayer, held: number): string {
  const per = (layer: Conv2DLayer) => `${layer.inChannels / (layer.groups ?? 1)} → ${layer.filters / (layer.groups ?? 1)}`;
  const groups = before.groups === after.groups ? `${before.groups} groups` : `groups ${before.groups} → ${after.groups}`;
  const balance = held ? `; ${held} input ${held === 1 ? 'channel' : 'channels'} nobody reads ${held === 1 ? 'stays' : 'stay'}, as every group keeps as many` : '';
  return `conv2d '${before.name}': a grouped conv, ${groups}, each ${per(before)} channels before and ${per(after)} after${balance}`;
}

const SUM_RULE = 'a channel of a sum goes only when no reader of the sum or of its inputs reads it';
