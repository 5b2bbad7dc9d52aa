// RMSNorm as PyTorch writes it (Llama, Mistral, Qwen2, T5: no ONNX op below opset 23):
// Pow(x, 2) → ReduceMean over the last axis (keepdims; axes an attribute, or an input from opset
// 18) → Add ε → Sqrt → Reciprocal (dynamo's rsqrt) or Div(1, ·) (TorchScript), times x, or x
// divided by the Sqrt; then, usually, times the weight (a Cast between them read past). Found before
// the graph is read (as layoutOps.ts finds LayerNorm's nodes), it becomes one layernorm layer of
// `rms` at its last node; the others are skipped.
import type { GraphReader } from './graphReader.js';
import { scalar } from './graphReader.js';
import { meanOverLastAxis, type LayerNormFusion } from './layoutOps.js';

/** The RMSNorms of the graph by node index (none inside `layerNorms`): their last node's fusion, the nodes inside 'inner'. */
export function findRmsNorms(reader: GraphReader, outputs: ReadonlySet<string>, layerNorms: ReadonlyMap<number, LayerNormFusion>): Map<number, LayerNormFusion> {
  const op = (index: number | undefined) => reader.opType(index);
  const inputs = (index: number) => reader.nodes[index].input ?? [];
  const output = (index: number) => reader.nodes[index].output?.[0] ?? '';
  /** The one node reading node `index`'s output (none when it is a graph output or read twice). */
  const only = (index: number): number | undefined => {
    const name = output(index);
    const readers = reader.consumers.get(name) ?? [];
    return outputs.has(name) || readers.length !== 1 ? undefined : readers[0];
  };
  const found = new Map<number, LayerNormFusion>();
  reader.nodes.forEach((_, p) => {
    if (op(p) !== 'Pow' || scalar(reader, inputs(p)[1]) !== 2) return;
    const x = inputs(p)[0];
    const v = only(p);
    if (v === undefined || op(v) !== 'ReduceMean' || !meanOverLastAxis(reader, v)) return;
    const a = only(v);
    const eps = a === undefined || op(a) !== 'Add' ? undefined : inputs(a).find((n) => n !== output(v));
    const epsilon = eps === undefined ? null : scalar(reader, eps);
    const s = a === undefined ? undefined : only(a);
    if (epsilon === null || s === undefined || op(s) !== 'Sqrt') return;
    const r = only(s);
    if (r === undefined) return;
    // 1/√ then a product with x, or x divided by √.
    const inverse = op(r) === 'Reciprocal' || (op(r) === 'Div' && inputs(r)[1] === output(s) && scalar(reader, inputs(r)[0]) === 1);
    const m = inverse ? only(r) : r;
    const normalized = m !== undefined && (inverse ? op(m) === 'Mul' && [...inputs(m)].sort().join() === [x, output(r)].sort().join() : op(m) === 'Div' && inputs(m)[0] === x && inputs(m)[1] === output(s));
    if (!normalized) return;
    const inner = [p, v, a!, s, ...(inverse ? [r] : [])];
    // Times the weight, a constant, perhaps after a Cast back to the input's type.
    let last = m;
    let next = only(m);
    if (next !== undefined && op(next) === 'Cast') {
      const after = only(next);
      if (after !== undefined && op(after) === 'Mul' && inputs(after).some((n) => reader.consts.has(n))) {
        inner.push(m);
        last = next;
        next = after;
      }
    }
    const weight = next !== undefined && op(next) === 'Mul' ? inputs(next).find((n) => n !== output(last) && reader.consts.has(n)) : undefined;
    if (weight !== undefined) {
      inner.push(last);
      last = next!;
    }
    // A LayerNorm's own x − mean(x) normalized this way is that LayerNorm's (layoutOps.ts).
    if ([...inner, last].some((node) => layerNorms.has(node))) return;
    for (const part of inner) found.set(part, 'inner');
    found.set(last, { input: x, scale: weight ?? null, bias: null, epsilon, rms: true });
  });
  return found;
}
