// Products in ONNX graphs: activations that exporters write as several nodes, and gates.
// PyTorch writes SiLU as x·Sigmoid(x), Hardswish before opset 14 as x·HardSigmoid(x) (α = 1/6,
// β = ½), GELU before opset 20 as (x·(Erf(x/√2) + 1))·½, Mish before opset 18 as
// x·Tanh(Softplus(x)) and Softsign as x / (Abs(x) + 1); the tanh GELU (approximate='tanh', GPT-2's
// gelu_new) as ½·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))). findFusions recognizes them before
// the graph is read: the pattern's last node becomes one activation layer reading x, the others
// are skipped (each inner tensor must be read by the pattern alone). A Mul left over is a gate:
// two computed tensors of one shape, or an image times one value per channel (squeeze-and-
// excitation: x · Sigmoid(Conv(GlobalAveragePool(x)))). The squeeze's 1×1 Convs on the pooled
// [C, 1, 1] tensor are dense layers (squeezeConv), so that their programs are dense ones.
import { ACTIVATION_DEFAULTS } from '../../network/cpuOps.js';
import type { ActivationFunction } from '../../network/types.js';
import { listText, shapeText, type AttributeProto } from './common.js';
import type { Handler, ImportContext } from './context.js';
import { addDense, denseBias } from './denseOps.js';
import { broadcastTerms } from './maskOps.js';
import { constantAffine, foldShapeValues } from './affineOps.js';
import { isPooled, isSequence, layoutOf, sameAs, scalar, type GraphReader, type NetTensor } from './graphReader.js';

/** Ops read only inside a fused pattern, and which (their own error says so). */
export const FUSED_PARTS: Readonly<Record<string, string>> = {
  Erf: 'inside GELU as PyTorch writes it ((x·(Erf(x/√2) + 1))·½)',
  Abs: 'inside softsign as PyTorch writes it (x / (Abs(x) + 1))',
};

/** A node that becomes an activation of `input`, or one inside such a pattern (skipped). */
export type Fusion = { fn: ActivationFunction; input: string } | 'inner';

const near = (value: number | null, want: number) => value !== null && Math.abs(value - want) <= 1e-6 * Math.abs(want);

/** The nodes of the graph's multi-node activations (see the file header), by node index. */
export function findFusions(reader: GraphReader, outputs: ReadonlySet<string>): Map<number, Fusion> {
  const producer = reader.producers;
  const op = (index: number | undefined) => reader.opType(index);
  const inputs = (index: number) => reader.nodes[index].input ?? [];
  /** The node computing `name` when it is an `opType` node read by node `reader` alone. */
  const innerNode = (name: string, opType: string, by: number): number | undefined => {
    const index = producer.get(name);
    const readers = reader.consumers.get(name) ?? [];
    return index !== undefined && op(index) === opType && !outputs.has(name) && readers.length === 1 && readers[0] === by && (reader.nodes[index].output ?? []).length === 1 ? index : undefined;
  };
  /** [the computed input, the other] of a two-input node, in both orders. */
  const orders = (index: number): Array<[string, string]> => {
    const [a, b] = inputs(index);
    return inputs(index).length === 2 ? [[a, b], [b, a]] : [];
  };
  const attribute = (index: number, name: string) => reader.nodes[index].attribute?.find((a) => a.name === name);
  const fusions = new Map<number, Fusion>();
  reader.nodes.forEach((_, m) => {
    if (op(m) === 'Div' && !fusions.has(m)) {
      // x / (Abs(x) + 1): softsign.
      const [x, d] = inputs(m);
      const add = inputs(m).length === 2 ? innerNode(d, 'Add', m) : undefined;
      const abs = add === undefined ? undefined : orders(add).filter(([, one]) => near(scalar(reader, one), 1)).map(([a]) => innerNode(a, 'Abs', add)).find((a) => a !== undefined);
      if (abs === undefined || inputs(abs)[0] !== x) return;
      for (const inner of [add!, abs]) fusions.set(inner, 'inner');
      fusions.set(m, { fn: 'softsign', input: x });
      return;
    }
    if (op(m) !== 'Mul' || fusions.has(m)) return;
    for (const [x, y] of orders(m)) {
      // x · Tanh(Softplus(x)): mish.
      const tanh = innerNode(y, 'Tanh', m);
      const softplus = tanh === undefined ? undefined : innerNode(inputs(tanh)[0], 'Softplus', tanh);
      if (softplus !== undefined && inputs(softplus)[0] === x) {
        for (const inner of [tanh!, softplus]) fusions.set(inner, 'inner');
        fusions.set(m, { fn: 'mish', input: x });
        return;
      }
      // x · Sigmoid(x), x · HardSigmoid(x)
      for (const [gateOp, fn] of [['Sigmoid', 'silu'], ['HardSigmoid', 'hardSwish']] as const) {
        const g = innerNode(y, gateOp, m);
        if (g === undefined || inputs(g)[0] !== x || (reader.nodes[g].attribute ?? []).some((a) => a.name !== 'alpha' && a.name !== 'beta')) continue;
        if (gateOp === 'HardSigmoid' && !(near(attribute(g, 'alpha')?.f ?? 0.2, 1 / 6) && near(attribute(g, 'beta')?.f ?? 0.5, 0.5))) continue;
        fusions.set(g, 'inner');
        fusions.set(m, { fn, input: x });
        return;
      }
      // (x · (Erf(x / √2) + 1)) · ½: m is the last Mul, y the ½.
      if (!near(scalar(reader, y), 0.5)) continue;
      const product = innerNode(x, 'Mul', m);
      if (product === undefined) continue;
      for (const [input, sum] of orders(product)) {
        const add = innerNode(sum, 'Add', product);
        if (add === undefined) continue;
        const erf = orders(add)
          .filter(([, one]) => near(scalar(reader, one), 1))
          .map(([e]) => innerNode(e, 'Erf', add))
          .find((e) => e !== undefined);
        const div = erf === undefined ? undefined : innerNode(inputs(erf)[0], 'Div', erf);
        if (div === undefined || inputs(div)[0] !== input || !near(scalar(reader, inputs(div)[1]), Math.SQRT2)) continue;
        for (const inner of [product, add, erf!, div]) fusions.set(inner, 'inner');
        fusions.set(m, { fn: 'gelu', input });
        return;
      }
    }
  });
  reader.nodes.forEach((_, t) => {
    if (op(t) === 'Tanh') findTanhGelu(t);
  });
  return fusions;

  /**
   * ½·x·(1 + Tanh(√(2/π)·(x + 0.044715·x³))) around the Tanh node `t`: x³ as Pow(x, 3) or x·(x·x),
   * the ½ on x first (GPT-2's gelu_new) or on the product last (PyTorch's approximate='tanh').
   */
  function findTanhGelu(t: number): void {
    const { alpha, beta } = ACTIVATION_DEFAULTS.geluTanh!;
    const constant = (index: number, want: number) => orders(index).filter(([, c]) => near(scalar(reader, c), want)).map(([a]) => a);
    const scaled = innerNode(inputs(t)[0], 'Mul', t);
    const add = scaled === undefined ? undefined : constant(scaled, alpha).map((a) => innerNode(a, 'Add', scaled)).find((a) => a !== undefined);
    if (add === undefined) return;
    for (const [x, term] of orders(add)) {
      const m = innerNode(term, 'Mul', add);
      const cubeName = m === undefined ? undefined : constant(m, beta!)[0];
      if (cubeName === undefined) continue;
      const pow = innerNode(cubeName, 'Pow', m!);
      const product = innerNode(cubeName, 'Mul', m!);
      const square = product === undefined ? undefined : orders(product).filter(([a]) => a === x).map(([, b]) => innerNode(b, 'Mul', product)).find((s) => s !== undefined);
      const cube =
        pow !== undefined && inputs(pow)[0] === x && near(scalar(reader, inputs(pow)[1]), 3) ? [pow]
        : square !== undefined && inputs(square).every((v) => v === x) ? [product!, square]
        : null;
      if (!cube) continue;
      // Downstream: Add(Tanh, 1), then x·that·½ in either grouping.
      const sole = (index: number) => {
        const readers = reader.consumers.get(reader.nodes[index].output?.[0] ?? '') ?? [];
        return readers.length === 1 && !outputs.has(reader.nodes[index].output?.[0] ?? '') ? readers[0] : undefined;
      };
      const plus = sole(t);
      if (plus === undefined || op(plus) !== 'Add' || !constant(plus, 1).includes(reader.nodes[t].output![0])) continue;
      const f = sole(plus);
      if (f === undefined || op(f) !== 'Mul') continue;
      const other = inputs(f).find((v) => v !== reader.nodes[plus].output![0]);
      const half = other === undefined ? undefined : innerNode(other, 'Mul', f);
      const inner = [t, scaled!, add, m!, ...cube, plus];
      const last = sole(f);
      if (other === x && last !== undefined && op(last) === 'Mul' && constant(last, 0.5).includes(reader.nodes[f].output![0])) {
        for (const n of [...inner, f]) fusions.set(n, 'inner');
        fusions.set(last, { fn: 'geluTanh', input: x });
      } else if (half !== undefined && constant(half, 0.5).includes(x)) {
        for (const n of [...inner, half]) fusions.set(n, 'inner');
        fusions.set(f, { fn: 'geluTanh', input: x });
      }
      return;
    }
  }
}

/** A Mul: by a constant (affineOps.ts), or of two computed tensors: a gate (see the file header). */
export const mul: Handler = (ctx, index) => {
  const { reader } = ctx;
  reader.attributes(index, []);
  const names = reader.nodes[index].input ?? [];
  if (names.length !== 2) throw reader.nodeError(index, `has ${names.length} inputs: expected 2`);
  if (foldShapeValues(ctx, index, 'Mul') || constantAffine(ctx, index, 'Mul')) return;
  // Tokens [batch, T, D] too (channels-last), by a tensor of their shape (mean pooling's h · mask).
  const [a, b] = [ctx.net(index, 0, { sequence: true, channelsLast: true }), ctx.net(index, 1, { sequence: true, channelsLast: true })];
  const same = layoutOf(a) === layoutOf(b);
  // The gate has the image's rank: [C, 1, 1] on [C, H, W], [C, 1] on a sequence [C, L].
  const isGate = (image: typeof a, gate: typeof a) => !image.channelsLast && !gate.channelsLast && image.ours.length === 3 && isPooled(gate) && gate.ours[0] === image.dims[0] && gate.dims.length === image.dims.length;
  const [x, gate] = same || isGate(a, b) ? [a, b] : isGate(b, a) ? [b, a] : [null, null];
  // Tokens times one value per token (DeBERTa's embeddings · mask[:, :, None]): that value repeated over the channels.
  const terms = !x || !gate ? broadcastTerms(ctx, index, [a, b]) : null;
  if (terms) return void ctx.emit(index, { kind: 'mul', name: reader.layerName(index) }, terms, sameAs(terms[0]));
  if (!x || !gate)
    throw reader.nodeError(index, `multiplies tensors of shapes [batch, ${a.dims.join(', ')}] and [batch, ${b.dims.join(', ')}]: expected one shape, or an image [batch, C, H, W] by a gate [batch, C, 1, 1] (a sequence [batch, C, L] by [batch, C, 1])`);
  ctx.emit(index, { kind: 'mul', name: reader.layerName(index) }, [x, gate], sameAs(x));
};

/**
 * A Conv on a globally pooled [C, 1, 1] tensor (ours: [C]): with a 1×1 kernel, one group and no
 * padding it is a dense layer; its weights stay the Conv's ([units, C, 1, 1]).
 */
export function squeezeConv(ctx: ImportContext, index: number, x: NetTensor, attrs: Map<string, AttributeProto>): void {
  const { reader } = ctx;
  const C = x.ours[0];
  const groups = reader.intAttribute(index, attrs, 'group', 1);
  const pads = reader.intsAttribute(index, attrs, 'pads') ?? [];
  const autoPad = reader.stringAttribute(index, attrs, 'auto_pad', 'NOTSET');
  const weight = reader.constInput(index, 1, 'weight');
  const { dims, values } = reader.weightValues(index, weight, 'weight');
  // After a sequence's pool: a Conv1d, weight [units, C, 1].
  const ones = isSequence(x) ? [1] : [1, 1];
  const where = `reads the pooled [batch, ${C}, ${ones.join(', ')}] tensor`;
  if (shapeText(dims) !== shapeText([dims[0], C, ...ones]) || groups !== 1)
    throw reader.nodeError(index, `${where} with weight '${weight.root}' of shape ${shapeText(dims)} in ${groups} group${groups > 1 ? 's' : ''}: expected [units, ${C}, ${ones.join(', ')}] in one group (a 1×1 conv, as squeeze-and-excitation)`);
  if (pads.some((p) => p !== 0) || !['NOTSET', '', 'VALID', 'SAME_UPPER', 'SAME_LOWER'].includes(autoPad))
    throw reader.nodeError(index, `${where} with pads=${listText(pads)}: expected no padding (the output stays 1×1)`);
  const units = dims[0];
  const biasConst = reader.optionalConstInput(index, 2, 'bias');
  const bias = biasConst ? denseBias(reader, index, biasConst, units) : null;
  addDense(ctx, index, x, { op: 'Conv', weight: weight.root, biasName: biasConst?.root ?? null, transB: true, values, bias, inputs: C, units });
}
