// Which channels unit removal (removeUnits.ts) keeps: those the network's output depends on.
// Channels tied together (a residual sum's inputs, a concat's pieces, …) form one set of a
// union-find; a set is live when it is fixed (the network input and output, a softmax, …) or when
// a kept output of a dense/conv layer reads a member through a nonzero weight. Reads are followed
// from the output backwards only through kept outputs, so an input read only by units that go goes
// too (the least fixed point: a residual channel that only feeds itself does not keep itself).
//
// A grouped (not depthwise) conv must keep as many input and output channels in every group it
// keeps: a group whose inputs and outputs all go is dropped (fewer groups), and the others keep
// the largest count any of them needs, the extra channels held live (which may keep more upstream).
import { NETWORK_INPUT, type NetworkGraph } from '../network/graph.js';
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../network/types.js';

const channelsOf = (shape: readonly number[]) => shape[shape.length - 1];

/** The union-find of (tensor, channel) pairs; tensor NETWORK_INPUT is the input. */
export class ChannelSets {
  readonly base = new Map<number, number>();
  readonly parent: Int32Array;
  /** Read by a kept output's weights (set by liveSets). */
  readonly read: Uint8Array;
  /** By set (union-find root): the first layer whose kept outputs read a member (liveSets), else −1. */
  readonly readBy: Int32Array;
  /** Fixed: input, output, softmax, anything that mixes channels. */
  readonly fixed: Uint8Array;

  constructor(readonly graph: NetworkGraph, inputShape: readonly number[]) {
    let total = 0;
    for (let t = NETWORK_INPUT; t < graph.outputShapes.length; t++) {
      this.base.set(t, total);
      total += channelsOf(t === NETWORK_INPUT ? inputShape : graph.outputShapes[t]);
    }
    this.parent = Int32Array.from({ length: total }, (_, i) => i);
    this.read = new Uint8Array(total);
    this.readBy = new Int32Array(total).fill(-1);
    this.fixed = new Uint8Array(total);
  }

  node = (tensor: number, channel: number) => this.base.get(tensor)! + channel;
  count = (tensor: number) => (this.base.get(tensor + 1) ?? this.parent.length) - this.base.get(tensor)!;

  find(i: number): number {
    while (this.parent[i] !== i) i = this.parent[i] = this.parent[this.parent[i]];
    return i;
  }

  union(a: number, b: number): void {
    const [ra, rb] = [this.find(a), this.find(b)];
    if (ra !== rb) this.parent[ra] = rb;
  }

  fix(tensor: number): void {
    for (let c = 0; c < this.count(tensor); c++) this.fixed[this.node(tensor, c)] = 1;
  }
}

/** Layers of one source whose output channel c is their input channel c (tied whole in removal). */
export const CHANNELWISE: ReadonlySet<Layer['kind']> = new Set(['relu', 'activation', 'batchnorm', 'maxpool2d', 'avgpool2d', 'globalavgpool', 'globalmaxpool', 'upsample', 'insertzeros']);

/** A conv with 1 < groups < inChannels (not plain, not depthwise): its channels go in balanced groups. */
/** A conv of several groups, not depthwise. */
export type GroupedConv = Conv2DLayer & { groups: number };

export const isGroupedConv = (layer: Layer): layer is GroupedConv =>
  layer.kind === 'conv2d' && (layer.groups ?? 1) > 1 && layer.groups !== layer.inChannels;

/** A dense layer or a plain or grouped conv: its weights say which inputs it reads (a depthwise conv's are tied instead). */
export const readsByWeights = (layer: Layer): layer is DenseLayer | Conv2DLayer =>
  layer.kind === 'dense' || (layer.kind === 'conv2d' && ((layer.groups ?? 1) === 1 || isGroupedConv(layer)));

/**
 * Visits each input channel of a dense layer or a plain or grouped conv that a live output
 * (`liveOut`) reads through a nonzero weight, skipping those `done` says are read already. Row by
 * row, so that memory is read in order and a row stops at its first nonzero.
 */
function scanReads(layer: DenseLayer | Conv2DLayer, liveOut: Uint8Array, done: (channel: number) => boolean, visit: (channel: number) => void): void {
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  const groups = layer.kind === 'conv2d' ? (layer.groups ?? 1) : 1;
  const rows = (layer.kind === 'dense' ? layer.inputs : layer.inChannels) / groups;
  const perOut = outputs / groups;
  const taps = layer.kind === 'dense' ? 1 : layer.kernelSize[0] * layer.kernelSize[1];
  for (let g = 0; g < groups; g++) {
    let any = false;
    for (let f = g * perOut; f < (g + 1) * perOut && !any; f++) any = liveOut[f] === 1;
    if (!any) continue;
    for (let r = 0; r < rows; r++) {
      const channel = g * rows + r;
      if (done(channel)) continue;
      read: for (let k = 0; k < taps; k++) {
        const start = (k * rows + r) * outputs;
        for (let f = g * perOut; f < (g + 1) * perOut; f++)
          if (liveOut[f] && layer.kernel[start + f] !== 0) {
            visit(channel);
            break read;
          }
      }
    }
  }
}

/**
 * The live sets (indexed by union-find root) of `sets`, whose ties and fixed channels are set:
 * every set the fixed ones depend on through kept outputs' weights, every layer's output keeping
 * at least one channel, grouped convs balanced. Marks `sets.read` for the channels kept outputs read.
 */
export function liveSets(network: Network, sets: ChannelSets): Uint8Array {
  const total = sets.parent.length;
  const { graph } = sets;
  // Each set's members, as linked lists.
  const first = new Int32Array(total).fill(-1);
  const next = new Int32Array(total);
  const tensorOf = new Int32Array(total);
  for (const [t, start] of sets.base) for (let c = 0; c < sets.count(t); c++) tensorOf[start + c] = t;
  for (let n = total - 1; n >= 0; n--) {
    const r = sets.find(n);
    next[n] = first[r];
    first[r] = n;
  }
  const live = new Uint8Array(total);
  const reader = (t: number) => (t !== NETWORK_INPUT && readsByWeights(network.layers[t]) ? (network.layers[t] as DenseLayer | Conv2DLayer) : null);
  // Readers with outputs newly live: their weights are scanned again (in rounds, not per output).
  const dirty = new Set<number>();
  const keep = (n: number) => {
    const r = sets.find(n);
    if (live[r]) return;
    live[r] = 1;
    for (let m = first[r]; m >= 0; m = next[m]) if (reader(tensorOf[m])) dirty.add(tensorOf[m]);
  };
  const spread = () => {
    while (dirty.size) {
      const layers = [...dirty];
      dirty.clear();
      for (const i of layers) {
        const layer = reader(i)!;
        const source = graph.sources[i][0];
        const liveOut = Uint8Array.from({ length: sets.count(i) }, (_, f) => live[sets.find(sets.node(i, f))]);
        scanReads(layer, liveOut, (c) => sets.read[sets.node(source, c)] === 1, (c) => {
          sets.read[sets.node(source, c)] = 1;
          const r = sets.find(sets.node(source, c));
          if (sets.readBy[r] < 0) sets.readBy[r] = i;
          keep(sets.node(source, c));
        });
      }
    }
  };
  for (let n = 0; n < total; n++) if (sets.fixed[n]) keep(n);
  for (let changed = true; changed; ) {
    spread();
    changed = false;
    // A tensor nobody reads at all keeps one channel, so every layer keeps a shape (its one unit
    // then carries a value nobody reads: the network's output is constant in it).
    network.layers.forEach((_, i) => {
      let any = false;
      for (let c = 0; c < sets.count(i) && !any; c++) any = live[sets.find(sets.node(i, c))] === 1;
      if (!any) {
        keep(sets.node(i, 0));
        changed = true;
      }
    });
    if (!changed)
      network.layers.forEach((layer, i) => {
        if (isGroupedConv(layer) && balanceGroups(layer, graph.sources[i][0], i, sets, live, keep)) changed = true;
      });
  }
  return live;
}

/** Holds live the channels a grouped conv needs for every group it keeps to have as many; whether any were. */
function balanceGroups(layer: GroupedConv, source: number, index: number, sets: ChannelSets, live: Uint8Array, keep: (n: number) => void): boolean {
  const groups = layer.groups;
  const perIn = layer.inChannels / groups;
  const perOut = layer.filters / groups;
  const isLive = (t: number, c: number) => live[sets.find(sets.node(t, c))] === 1;
  const count = (t: number, g: number, per: number) => {
    let n = 0;
    for (let c = g * per; c < (g + 1) * per; c++) if (isLive(t, c)) n++;
    return n;
  };
  const kept = Array.from({ length: groups }, (_, g) => ({ inputs: count(source, g, perIn), outputs: count(index, g, perOut) }));
  const inputs = Math.max(1, ...kept.map((k) => k.inputs));
  const outputs = Math.max(1, ...kept.map((k) => k.outputs));
  let held = false;
  kept.forEach((k, g) => {
    if (k.inputs + k.outputs === 0) return; // the group goes whole
    const hold = (t: number, per: number, need: number) => {
      for (let c = g * per; c < (g + 1) * per && need > 0; c++)
        if (!isLive(t, c)) {
          keep(sets.node(t, c));
          held = true;
          need--;
        }
    };
    hold(source, perIn, inputs - k.inputs);
    hold(index, perOut, outputs - k.outputs);
  });
  return held;
}

/**
 * For structured pruning of layer `index` (dense, or a conv of one group) when it reads a grouped
 * conv's outputs (through per-channel layers): that conv's outputs per group, so that its input
 * groups are the conv's groups and whole groups go (a lone channel could go only if every group
 * lost one). Else undefined.
 */
export function groupedConvSpan(network: Network, graph: NetworkGraph, index: number): number | undefined {
  const layer = network.layers[index];
  if (layer.kind !== 'dense' && !(layer.kind === 'conv2d' && (layer.groups ?? 1) === 1)) return undefined;
  let t = graph.sources[index][0];
  while (t !== NETWORK_INPUT && CHANNELWISE.has(network.layers[t].kind) && graph.sources[t].length === 1) t = graph.sources[t][0];
  const producer = t === NETWORK_INPUT ? null : network.layers[t];
  return producer && isGroupedConv(producer) ? producer.filters / producer.groups : undefined;
}
