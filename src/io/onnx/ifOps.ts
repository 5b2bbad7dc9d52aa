// ONNX's If, when its condition folds for the shapes read (TorchScript's export of DeBERTa's
// `if query_layer.size(-2) != key_layer.size(-2)`: never, in self-attention): the branch taken,
// when it passes on tensors of the graph (an Identity of one, or one named as its output), is
// those tensors. A branch that computes is refused. Its subgraphs read outer tensors by name, not
// through the node's inputs: `exposeOuterReads` lists them as inputs of the reader's copy of the
// node (the writer writes the file's own), so they are computed first and kept.
import type { GraphProto } from './common.js';
import type { Handler } from './context.js';

/** The tensors a subgraph (and the subgraphs inside it) reads from outside itself. */
function outerReads(graph: GraphProto): string[] {
  const made = new Set([...(graph.initializer ?? []).map((t) => t.name ?? ''), ...(graph.input ?? []).map((i) => i.name ?? '')]);
  const reads: string[] = [];
  for (const node of graph.node ?? []) {
    const inner = (node.attribute ?? []).flatMap((a) => (a.g ? outerReads(a.g) : []));
    for (const name of [...(node.input ?? []), ...inner]) if (name && !made.has(name)) reads.push(name);
    for (const name of node.output ?? []) made.add(name);
  }
  for (const output of graph.output ?? []) if (output.name && !made.has(output.name)) reads.push(output.name);
  return [...new Set(reads)];
}

/** The names an If's branches read from outside, as written: the node reads them after its condition (readPast may rename those). */
const outerOf = new WeakMap<object, string[]>();

/** Each If node of `graph` reads, after its condition, what its branches read from outside (see the file header). */
export function exposeOuterReads(graph: GraphProto): void {
  for (const node of graph.node ?? []) {
    if (node.opType !== 'If' || (node.domain && node.domain !== 'ai.onnx')) continue;
    const condition = node.input?.[0] ?? '';
    const outer = [...new Set((node.attribute ?? []).flatMap((a) => (a.g ? outerReads(a.g) : [])))].filter((name) => name !== condition);
    outerOf.set(node, outer);
    node.input = [condition, ...outer];
  }
}

/** If with a folded condition: the outputs of the branch taken, outer tensors passed on. */
export const ifNode: Handler = (ctx, index) => {
  const { reader } = ctx;
  const attrs = reader.attributes(index, ['then_branch', 'else_branch']);
  const condition = ctx.staticValues(index, 0, 'cond');
  if (condition.length !== 1 || typeof condition[0] !== 'number')
    throw reader.nodeError(index, `condition ${JSON.stringify(condition)}: expected one value known for the input shape (a comparison of sizes)`);
  const taken = condition[0] ? 'then_branch' : 'else_branch';
  const branch = attrs.get(taken)?.g;
  const outputs = reader.nodes[index].output ?? [];
  const passes = new Map((branch?.node ?? []).map((n) => [n.output?.[0] ?? '', n.opType === 'Identity' && n.input?.length === 1 ? n.input[0] : null]));
  const sources = (branch?.output ?? []).map((o) => (passes.has(o.name ?? '') ? passes.get(o.name ?? '') : o.name) ?? null);
  if (!branch || sources.length !== outputs.length || sources.some((s) => s === null))
    throw reader.nodeError(index, `${taken} (taken: the condition is ${condition[0]}) computes with ${(branch?.node ?? []).length} nodes: expected a branch that passes on tensors of the graph (an Identity of each)`);
  const node = reader.nodes[index];
  outputs.forEach((output, k) => {
    // The name the node reads it by (a Cast read past renames it).
    const at = outerOf.get(node)?.indexOf(sources[k]!) ?? -1;
    const source = at >= 0 ? (node.input?.[at + 1] ?? '') : sources[k]!;
    const tensor = ctx.tensors.get(source);
    const constant = reader.consts.get(source);
    if (tensor) ctx.alias(index, tensor, k);
    else if (constant) reader.consts.set(output, constant);
    else throw reader.nodeError(index, `${taken} passes on '${source}': expected a tensor computed before it`);
  });
};
