// Several model inputs in one network input (types.ts: InputPart): a sample holds each part's
// values one after another, and the rearrange layer named after a part reads them. The parts are
// validated with the graph; their values (ids below a vocabulary, a mask of 0 and 1, finite
// numbers) whenever samples arrive.
import { InputError } from '../errors.js';
import { sourceNames } from './sources.js';
import { DEFAULT_INPUT_NAME, type InputPart, type Layer, type Network } from './types.js';

const size = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Each part with the first position of its values in a sample of the network input. */
export function partRanges(parts: readonly InputPart[]): Array<{ part: InputPart; start: number; size: number }> {
  let start = 0;
  return parts.map((part) => {
    const range = { part, start, size: size(part.shape) };
    start += range.size;
    return range;
  });
}

/** The layers that read the layer named `name`. */
function readersOf(layers: readonly Layer[], name: string): Layer[] {
  return layers.filter((_, i) => sourceNames(layers, i, '').includes(name));
}

/**
 * Checks network.inputParts: two or more, named uniquely, their values filling the input [N]; each
 * read by the rearrange layer of its name, which takes exactly its values; an ids part read only
 * by embeddings. Throws an InputError naming `source` and the part.
 */
/** The output parts: two or more, named, their sizes making up the output (`outputSize`) in order, the last layer a concat of one layer per part. */
export function checkOutputParts(network: Network, source: string, outputSize: number): void {
  const parts = network.outputParts;
  if (parts === undefined) return;
  if (!Array.isArray(parts) || parts.length < 2) throw new InputError(`${source}: outputParts: expected two or more parts (omit it for one output), found ${JSON.stringify(parts)}`);
  const names = new Set<string>();
  let total = 0;
  for (const [k, part] of parts.entries()) {
    const label = `${source}: outputParts[${k}] '${part?.name}'`;
    if (typeof part?.name !== 'string' || !part.name || names.has(part.name)) throw new InputError(`${label}: expected a name no other part has`);
    names.add(part.name);
    if (!Array.isArray(part.shape) || !part.shape.length || !part.shape.every((d) => Number.isInteger(d) && d >= 1)) throw new InputError(`${label}: shape: expected positive integers, found ${JSON.stringify(part.shape)}`);
    total += part.shape.reduce((a, b) => a * b, 1);
  }
  const last = network.layers[network.layers.length - 1];
  const sources = sourceNames(network.layers, network.layers.length - 1, network.inputName ?? DEFAULT_INPUT_NAME);
  if (total !== outputSize || last?.kind !== 'concat' || sources.length !== parts.length)
    throw new InputError(`${source}: outputParts: expected the last layer a concat of the ${parts.length} parts' ${total} values, found ${last?.kind ?? 'no layer'} '${last?.name}' of ${sources.length} sources and ${outputSize} values`);
}

export function checkInputParts(network: Network, source: string): void {
  const parts = network.inputParts;
  if (parts === undefined) return;
  const inputName = network.inputName ?? DEFAULT_INPUT_NAME;
  if (!Array.isArray(parts) || parts.length < 2) throw new InputError(`${source}: inputParts: expected two or more parts (omit it for one input), found ${JSON.stringify(parts)}`);
  const names = new Set<string>();
  for (const [k, part] of parts.entries()) {
    const label = `${source}: inputParts[${k}] '${part?.name}'`;
    if (typeof part?.name !== 'string' || !part.name || names.has(part.name)) throw new InputError(`${label}: expected a name no other part has`);
    names.add(part.name);
    if (!Array.isArray(part.shape) || !part.shape.length || !part.shape.every((d) => Number.isInteger(d) && d >= 1)) throw new InputError(`${label}: shape: expected positive integers, found ${JSON.stringify(part.shape)}`);
    if (!['ids', 'mask', 'float'].includes(part.values)) throw new InputError(`${label}: values: expected 'ids', 'mask' or 'float', found ${JSON.stringify(part.values)}`);
  }
  const ranges = partRanges(parts);
  const total = ranges.reduce((s, r) => s + r.size, 0);
  if (network.inputShape.length !== 1 || network.inputShape[0] !== total)
    throw new InputError(`${source}: inputShape ${JSON.stringify(network.inputShape)}: expected [${total}], the parts' values one after another`);
  for (const { part, start, size: n } of ranges) {
    const label = `${source}: input part '${part.name}'`;
    const at = network.layers.findIndex((l) => l.name === part.name);
    const layer = network.layers[at];
    const from = layer ? sourceNames(network.layers, at, inputName) : [];
    if (layer?.kind !== 'rearrange' || from.length !== 1 || from[0] !== inputName || layer.offset !== null || layer.indices.length !== n || !layer.indices.every((v, i) => v === start + i))
      throw new InputError(`${label}: expected a rearrange layer of its name taking values ${start} to ${start + n - 1} of the network input '${inputName}'`);
    if (part.values === 'ids') {
      const other = readersOf(network.layers, part.name).find((l) => l.kind !== 'embedding' && l.kind !== 'lasttoken');
      if (other) throw new InputError(`${label} holds token ids: expected only embeddings (and a lasttoken, for where the tokens end) to read it, found layer '${other.name}' (${other.kind})`);
    }
  }
  const direct = readersOf(network.layers, inputName).find((l) => !names.has(l.name));
  if (direct) throw new InputError(`${source}: layer '${direct.name}' (${direct.kind}) reads the network input '${inputName}', which holds input parts: expected only the parts' rearrange layers to read it`);
}

/** The vocabulary of the embeddings that read an ids part (the smallest), or undefined when none does. */
export function partVocabulary(network: Network, part: InputPart): number | undefined {
  const sizes = readersOf(network.layers, part.name).flatMap((l) => (l.kind === 'embedding' && !l.positions ? [l.vocabulary] : []));
  return sizes.length ? Math.min(...sizes) : undefined;
}

/** What part values must be, in words. */
export function partExpectation(network: Network, part: InputPart): string {
  if (part.values === 'mask') return 'a mask, 0 or 1';
  if (part.values === 'float') return 'finite values';
  const vocabulary = partVocabulary(network, part) ?? 1;
  return `token ids, whole numbers from 0 to ${vocabulary - 1} (the embedding's vocabulary)`;
}

/** The position of the first of `values` (a part's, sample after sample) that `part` does not allow, or −1. */
export function badPartValue(network: Network, part: InputPart, values: ArrayLike<number>): number {
  const vocabulary = part.values === 'ids' ? (partVocabulary(network, part) ?? Infinity) : 0;
  const ok =
    part.values === 'mask' ? (v: number) => v === 0 || v === 1
    : part.values === 'float' ? Number.isFinite
    : (v: number) => Number.isInteger(v) && v >= 0 && v < vocabulary;
  for (let i = 0; i < values.length; i++) if (!ok(values[i])) return i;
  return -1;
}

/** Checks every part's values in `input` (count samples of the packed input): an InputError naming the part, the sample and the position. */
export function checkPartValues(network: Network, input: ArrayLike<number>, count: number): void {
  const parts = network.inputParts;
  if (!parts) return;
  const total = size(network.inputShape);
  for (const { part, start, size: n } of partRanges(parts)) {
    for (let p = 0; p < count; p++) {
      const values = Array.prototype.slice.call(input, p * total + start, p * total + start + n) as number[];
      const bad = badPartValue(network, part, values);
      if (bad >= 0) throw new InputError(`input part '${part.name}': ${values[bad]} in sample ${p} at position ${bad}: expected ${partExpectation(network, part)}`);
    }
  }
}
