// Nodes the GraphReader reads past (their readers read their input instead): Casts that change
// nothing here, and the wrap of a negative index Keras writes before an embedding's Gather.
import { BOOL, FLOAT, INT32, INT64, isDefaultDomain, toInt, type GraphProto } from './common.js';
import type { GraphReader } from './graphReader.js';

/**
 * Casts to float32 of float32 tensors change nothing (Keras's ONNX export writes one after
 * nearly every op): their readers read the Cast's input instead, so the patterns around them
 * (a MatMul's bias Add, a conv's Transposes) match. So do Casts between int32 and int64 (ids,
 * masks and shape values fit both), and the wrap of a negative index Keras writes before an
 * embedding's Gather, Where(x < 0, x + V, x), on an int graph input: its values are checked to
 * be at least 0 (ids, masks). The element types come from the inputs, the constants and each
 * op's rule (shape ops make int64, comparisons bool; others keep their first input's); a Cast
 * whose input type is unknown, or that computes a graph output, stays.
 */
export function readPast(reader: GraphReader, graph: GraphProto): void {
  const types = new Map<string, number>();
  for (const input of graph.input ?? []) if (input.name && input.type?.tensorType?.elemType) types.set(input.name, input.type.tensorType.elemType);
  for (const [name, constant] of reader.consts) types.set(name, constant.tensor.dataType ?? 0);
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const rename = new Map<string, string>();
  const intInputs = new Set((graph.input ?? []).filter((i) => [INT32, INT64].includes(i.type?.tensorType?.elemType ?? 0)).map((i) => i.name ?? ''));
  const uses = new Map<string, number>();
  for (const node of reader.nodes) for (const name of node.input ?? []) uses.set(name, (uses.get(name) ?? 0) + 1);
  const made = new Map<string, number>();
  reader.nodes.forEach((node, index) => {
    if (reader.constNodes.has(index)) return;
    const inputs = (node.input ?? []).map((name) => rename.get(name) ?? name);
    node.input = inputs;
    const op = isDefaultDomain(node.domain) ? (node.opType ?? '') : '';
    const attribute = (name: string) => (node.attribute ?? []).find((a) => a.name === name);
    const first = types.get(inputs[0] ?? '');
    const type =
      op === 'Cast' ? toInt(attribute('to')?.i ?? 0)
      : ['Shape', 'Size', 'ArgMax', 'ArgMin', 'NonZero'].includes(op) ? INT64
      : ['Equal', 'Less', 'Greater', 'LessOrEqual', 'GreaterOrEqual', 'Not', 'And', 'Or', 'Xor', 'IsNaN', 'IsInf'].includes(op) ? BOOL
      : op === 'Where' ? types.get(inputs[1] ?? '')
      : op === 'ConstantOfShape' ? (attribute('value')?.t?.dataType ?? FLOAT)
      : op === '' ? undefined
      : first;
    const isInt = (t: number | undefined) => t === INT32 || t === INT64;
    if (op === 'Cast' && (type === FLOAT ? first === FLOAT : isInt(type) && isInt(first)) && inputs[0] && !outputs.has(node.output?.[0] ?? '')) {
      rename.set(node.output![0], inputs[0]);
      reader.skipped.add(index);
      return;
    }
    const wrap = op === 'Where' ? negativeWrap(reader, inputs, made, uses, intInputs) : null;
    if (wrap && !outputs.has(node.output?.[0] ?? '')) {
      rename.set(node.output![0], inputs[2]);
      for (const skip of [index, ...wrap]) reader.skipped.add(skip);
      return;
    }
    for (const name of node.output ?? []) if (name) made.set(name, index);
    if (type !== undefined) for (const name of node.output ?? []) if (name) types.set(name, type);
  });
}

/**
 * Where(x < 0, x + V, x) of an int graph input x (Keras's `take` wrapping negative indices, each
 * part read only here): the Less and Add nodes, else null.
 */
function negativeWrap(reader: GraphReader, [condition, wrapped, x]: string[], made: ReadonlyMap<string, number>, uses: ReadonlyMap<string, number>, intInputs: ReadonlySet<string>): number[] | null {
  const less = made.get(condition ?? '');
  const add = made.get(wrapped ?? '');
  if (!intInputs.has(x) || less === undefined || add === undefined || uses.get(condition) !== 1 || uses.get(wrapped) !== 1) return null;
  const [a, zero] = reader.nodes[less].input ?? [];
  const addends = reader.nodes[add].input ?? [];
  const lessOk = reader.opType(less) === 'Less' && a === x && reader.intScalar(zero ?? '') === 0;
  const addOk = reader.opType(add) === 'Add' && addends.length === 2 && addends.includes(x) && reader.intScalar(addends.find((n) => n !== x) ?? '') !== null;
  return lessOk && addOk ? [less, add] : null;
}
