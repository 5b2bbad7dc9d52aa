// A network as the library reads it, for `net-trim inspect` and the page: every layer's op,
// parameters and output shape, and for each prunable layer the program it will get and what its
// solve costs, before anyone starts a long prune.
import { networkGraph, NETWORK_INPUT, prunableLayers, tokenVocabulary } from './graph.js';
import { partVocabulary } from './inputParts.js';
import { sampleShapes, sampleShapesText, type ImageLayout } from './sampleShapes.js';
import { shapeSize, windowGeometry } from './shapes.js';
import type { Layer, Network } from './types.js';

export interface LayerSummary {
  index: number;
  name: string;
  kind: Layer['kind'];
  /** The op's parameters in words, e.g. "3×3, stride 2, pads [1, 1, 1, 1], 16 groups". */
  details: string;
  /** The layers (or 'input') it reads. */
  reads: string[];
  outputShape: number[];
  /** Weights and biases (dense, conv2d), or per-channel parameters (batchnorm). */
  parameters: number;
  program: null | {
    kind: 'relu' | 'clip' | 'linear';
    /** Why this program, in words. */
    reason: string;
    /** Rows of the program per sample (output positions of a conv) and its columns (inputs, + 1 for the bias). */
    rowsPerSample: number;
    columns: number;
    /** A grouped conv is one program per group. */
    groups: number;
    /** Why --exclude may pay for this layer, or null. */
    excludeHint: string | null;
  };
}

export interface NetworkSummary {
  /** NHWC for images, as the network runs. */
  inputShape: number[];
  /** Several model inputs (network.inputParts): each by name with its shape, packed into inputShape. */
  inputs?: Array<{ name: string; shape: number[] }>;
  /** Several model outputs (network.outputParts): each by name with its shape, packed into outputShape. */
  outputs?: Array<{ name: string; shape: number[] }>;
  /** The sample arrays it takes, in words (sampleShapes: what --samples accepts). */
  samples: string;
  outputShape: number[];
  /** Every layer reads the one before it. */
  isChain: boolean;
  layers: LayerSummary[];
  prunableLayers: number;
  prunableWeights: number;
}

const shape = (s: readonly number[]) => `[${s.join(', ')}]`;

function detailsOf(layer: Layer, inputShape: readonly number[]): string {
  switch (layer.kind) {
    case 'dense':
      return `${layer.inputs} → ${layer.units}${layer.activation !== 'linear' ? `, ${layer.activation}` : ''}${layer.bias ? '' : ', no bias'}`;
    case 'conv2d': {
      const g = windowGeometry(layer, inputShape);
      const pads = Array.isArray(layer.padding) ? `pads ${shape(layer.padding)}` : layer.padding;
      const groups = (layer.groups ?? 1) > 1 ? `, ${layer.groups} groups${layer.groups === layer.inChannels ? ' (depthwise)' : ''}` : '';
      const dilated = layer.dilations && layer.dilations.some((d) => d !== 1) ? `, dilation ${layer.dilations.join('×')}` : '';
      return `${layer.kernelSize.join('×')}, ${layer.inChannels} → ${layer.filters}, stride ${layer.strides.join('×')}, ${pads} (top ${g.padTop}, left ${g.padLeft})${groups}${dilated}${layer.activation !== 'linear' ? `, ${layer.activation}` : ''}${layer.bias ? '' : ', no bias'}`;
    }
    case 'maxpool2d':
    case 'avgpool2d':
      return `${layer.poolSize.join('×')}, stride ${layer.strides.join('×')}, ${Array.isArray(layer.padding) ? `pads ${shape(layer.padding)}` : layer.padding}${layer.kind === 'avgpool2d' && layer.countIncludePad ? ', padding counted' : ''}`;
    case 'activation': {
      const params = [layer.min !== undefined ? `min ${layer.min}` : '', layer.max !== undefined ? `max ${layer.max}` : '', layer.alpha !== undefined ? `alpha ${layer.alpha}` : '', layer.beta !== undefined ? `beta ${layer.beta}` : ''].filter(Boolean);
      return `${layer.fn}${params.length ? ` (${params.join(', ')})` : ''}`;
    }
    case 'batchnorm':
      // BatchNorms left unfolded, arithmetic with constants, Keras's Rescaling and Normalization.
      return `${layer.scale.length} channels, scale·x + offset per channel`;
    case 'layernorm':
      // ε as written (an f32 attribute reads 1e-6 as 9.99999997e-7).
      return `${layer.rms ? 'RMSNorm ' : ''}over ${layer.scale.length} channels, ε ${Number(layer.epsilon.toPrecision(6))}`;
    case 'groupnorm':
      return `${layer.groups === layer.scale.length ? 'instance norm' : `${layer.groups} groups`} of ${layer.scale.length} channels, ε ${Number(layer.epsilon.toPrecision(6))}`;
    case 'insertzeros':
      return `zeros between pixels, stride ${layer.strides.join('×')} (a transposed conv's input)`;
    case 'upsample':
      return `${layer.mode ?? 'nearest'}, ×${layer.scale.join('×')}`;
    case 'gather': {
      const channels = inputShape[inputShape.length - 1];
      const { indices } = layer;
      const range = indices.every((c, k) => c === indices[0] + k);
      return range ? `channels ${indices[0]}–${indices[indices.length - 1]} of ${channels}` : `${indices.length} of ${channels} channels reordered (${indices.slice(0, 6).join(', ')}${indices.length > 6 ? ', …' : ''})`;
    }
    case 'rearrange': {
      const moved = layer.indices.some((k, i) => k !== i) || layer.indices.length !== shapeSize(inputShape);
      return [moved ? `values moved to ${shape(layer.shape)}` : '', layer.offset ? 'a constant added' : ''].filter(Boolean).join(', ');
    }
    case 'reshape':
      return `viewed as ${shape(layer.shape)}`;
    case 'matmul':
      return `product of two computed tensors, ${inputShape[0]} batched`;
    case 'lasttoken':
      return `the token at the last id that is not padding (id ${layer.pad})`;
    case 'embedding':
      return layer.positions
        ? `${layer.vocabulary} positions to vectors of ${layer.dims} (RoBERTa's, from the ids: padding id ${layer.positions.pad} at row ${layer.positions.start}, the other tokens counted from ${layer.positions.start + 1})`
        : `${layer.vocabulary} token ids to vectors of ${layer.dims}`;
    default:
      return '';
  }
}

/** The sample arrays the network takes, in words: one array, or an .npz of one per input part. */
function samplesText(network: Network, imageLayout: ImageLayout, vocabulary: number | undefined, partLayouts?: readonly ImageLayout[]): string {
  const ints = '(int64, int32, uint8 or whole floats)';
  if (!network.inputParts) return sampleShapesText(sampleShapes(network.inputShape, imageLayout)) + (vocabulary === undefined ? '' : ` token ids from 0 to ${vocabulary - 1} ${ints}`);
  const arrays = network.inputParts.map((part, k) => {
    const shapes = sampleShapesText(sampleShapes(part.shape, partLayouts?.[k] ?? imageLayout));
    const values = part.values === 'ids' ? ` token ids from 0 to ${(partVocabulary(network, part) ?? 1) - 1} ${ints}` : part.values === 'mask' ? ' a mask of 0 and 1 (int64, int32, uint8, bool or floats)' : '';
    return `${part.name}: ${shapes}${values}`;
  });
  return `an .npz of ${arrays.join('; ')} (np.savez(path, ${network.inputParts.map((p) => `${p.name}=…`).join(', ')}))`;
}

/** What `net-trim inspect` prints: the graph and every prunable layer's program; `imageLayout`: how the model's users hold image samples. */
export function describeNetwork(network: Network, imageLayout: ImageLayout, partLayouts?: readonly ImageLayout[]): NetworkSummary {
  const graph = networkGraph(network);
  const vocabulary = tokenVocabulary(network);
  const programs = new Map(prunableLayers(network, graph).map((t) => [t.index, t]));
  const inputName = network.inputName ?? 'input';
  let prunableWeights = 0;
  const layers = network.layers.map((layer, index): LayerSummary => {
    const inputShape = graph.inputShapes[index][0];
    const parameters =
      layer.kind === 'dense' || layer.kind === 'conv2d' ? layer.kernel.length + (layer.bias?.length ?? 0)
      : layer.kind === 'batchnorm' ? 2 * layer.scale.length
      : layer.kind === 'embedding' ? layer.table.length
      : 0;
    const t = programs.get(index);
    let program: LayerSummary['program'] = null;
    if (t) {
      prunableWeights += parameters;
      const conv = t.layer.kind === 'conv2d' ? t.layer : null;
      const groups = conv?.groups ?? 1;
      const rowsPerSample = conv ? t.outputShape[0] * t.outputShape[1] : 1;
      const columns = (conv ? conv.kernelSize[0] * conv.kernelSize[1] * (conv.inChannels / groups) : t.inputShape[0]) + (t.layer.bias ? 1 : 0);
      // A conv with few weights and many output positions: its program has rows·P for few columns
      // to prune (the first conv of an image network), slow for the least gain.
      const excludeHint =
        conv && rowsPerSample >= 100 && parameters <= 2000 && rowsPerSample * columns > 20 * parameters
          ? `${rowsPerSample} rows per sample for ${parameters} weights: the slowest program for the least gain; --exclude '${t.layer.name}' pays unless every weight counts`
          : null;
      program = { kind: t.program, reason: t.reason, rowsPerSample, columns, groups, excludeHint };
    }
    return {
      index,
      name: layer.name,
      kind: layer.kind,
      details: detailsOf(layer, inputShape),
      reads: graph.sources[index].map((s) => (s === NETWORK_INPUT ? inputName : network.layers[s].name)),
      outputShape: graph.outputShapes[index],
      parameters,
      program,
    };
  });
  const inputs = network.inputParts?.map((p) => ({ name: p.name, shape: p.shape }));
  const outputs = network.outputParts?.map((p) => ({ name: p.name, shape: p.shape }));
  return { inputShape: network.inputShape, ...(inputs ? { inputs } : {}), ...(outputs ? { outputs } : {}), samples: samplesText(network, imageLayout, vocabulary, partLayouts), outputShape: graph.outputShape, isChain: graph.isChain, layers, prunableLayers: programs.size, prunableWeights };
}

/** The summary as text lines (the CLI's and the page's). */
export function formatNetworkSummary(summary: NetworkSummary, notes: readonly string[] = []): string[] {
  const lines = [
    `${summary.inputs ? `inputs ${summary.inputs.map((i) => `${i.name} ${shape(i.shape)}`).join(', ')}` : `input ${shape(summary.inputShape)}`} → ${summary.outputs ? `outputs ${summary.outputs.map((o) => `${o.name} ${shape(o.shape)}`).join(', ')}` : `output ${shape(summary.outputShape)}`}; ${summary.layers.length} layers, ${summary.isChain ? 'a chain' : 'a graph (branches and joins)'}; ${summary.prunableLayers} prunable layers with ${summary.prunableWeights} weights`,
    `samples: ${summary.samples}`,
  ];
  for (const l of summary.layers) {
    const reads = l.index > 0 && l.reads.length === 1 && l.reads[0] === summary.layers[l.index - 1].name ? '' : ` ← ${l.reads.join(' + ')}`;
    lines.push(`  ${String(l.index).padStart(3)}  ${l.name}  ${l.kind}${l.details ? ` ${l.details}` : ''} → ${shape(l.outputShape)}${l.parameters ? `, ${l.parameters} params` : ''}${reads}`);
    if (l.program) {
      const p = l.program;
      lines.push(`         program: ${p.kind} — ${p.reason}; ${p.rowsPerSample} row${p.rowsPerSample > 1 ? 's' : ''} per sample × ${p.columns} columns${p.groups > 1 ? `, one program per group (${p.groups})` : ''}`);
      if (p.excludeHint) lines.push(`         hint: ${p.excludeHint}`);
    }
  }
  for (const note of notes) lines.push(`note: ${note}`);
  return lines;
}
