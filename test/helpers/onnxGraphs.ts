// Small ONNX graphs built node by node for tests (PyTorch-style names and layouts: NCHW, OIHW,
// Gemm transB = 1), seeded random weights, and running them in onnxruntime-node.
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseOnnxModel } from '../../src/io/onnxModel.js';
import { gaussianSource, mulberry32 } from './random.js';

const { onnx } = onnxProto;
type Attribute = OnnxTypes.IAttributeProto;

export const ints = (name: string, values: number[]): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INTS, ints: values });
export const int = (name: string, value: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.INT, i: value });
export const float = (name: string, value: number): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value });
export const str = (name: string, value: string): Attribute => ({ name, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(value) });

/** Builds a graph: each helper adds nodes and returns the output tensor's name. */
export class GraphBuilder {
  readonly nodes: OnnxTypes.INodeProto[] = [];
  readonly initializers: OnnxTypes.ITensorProto[] = [];
  private readonly normal: () => number;
  private count = 0;

  constructor(seed: number) {
    this.normal = gaussianSource(mulberry32(seed));
  }

  private fresh(base: string): string {
    return `${base}_${this.count++}`;
  }

  weight(dims: number[], scale: number, name = this.fresh('w'), offset = 0): string {
    const size = dims.reduce((a, b) => a * b, 1);
    const values = Float32Array.from({ length: size }, () => offset + scale * this.normal());
    this.initializers.push({ name, dims, dataType: 1, rawData: new Uint8Array(values.buffer) });
    return name;
  }

  /** An int64 vector, or a scalar when `scalar` (a Gather index). */
  int64(values: number[], scalar = false, name = this.fresh('shape')): string {
    const data = new BigInt64Array(values.map(BigInt));
    this.initializers.push({ name, dims: scalar ? [] : [values.length], dataType: 7, rawData: new Uint8Array(data.buffer) });
    return name;
  }

  scalar(value: number, name = this.fresh('scalar')): string {
    this.initializers.push({ name, dims: [], dataType: 1, rawData: new Uint8Array(Float32Array.of(value).buffer) });
    return name;
  }

  node(op: string, inputs: string[], attribute: Attribute[] = [], name = this.fresh(`/${op.toLowerCase()}/${op}`)): string {
    const output = `${name}_output`;
    this.nodes.push({ name, opType: op, input: inputs, output: [output], attribute });
    return output;
  }

  /** A node with `outputs` outputs (Split), their names. */
  nodeOutputs(op: string, inputs: string[], outputs: number, attribute: Attribute[] = [], name = this.fresh(`/${op.toLowerCase()}/${op}`)): string[] {
    const names = Array.from({ length: outputs }, (_, k) => `${name}_output_${k}`);
    this.nodes.push({ name, opType: op, input: inputs, output: names, attribute });
    return names;
  }

  /** Conv with PyTorch-style explicit pads ([top, left, bottom, right]) and He-scaled weights. */
  conv(x: string, cin: number, cout: number, k: number, o: { stride?: number; pad?: number; group?: number; bias?: boolean; dilation?: number } = {}): string {
    const group = o.group ?? 1;
    const w = this.weight([cout, cin / group, k, k], Math.sqrt(2 / ((cin / group) * k * k)));
    const inputs = o.bias === false ? [x, w] : [x, w, this.weight([cout], 0.1)];
    const p = o.pad ?? 0;
    return this.node('Conv', inputs, [ints('kernel_shape', [k, k]), ints('strides', [o.stride ?? 1, o.stride ?? 1]), ints('pads', [p, p, p, p]), int('group', group), ints('dilations', [o.dilation ?? 1, o.dilation ?? 1])]);
  }

  /** Conv1d on [batch, C, L] (weight [cout, cin / group, k], 1-D attributes), He-scaled. */
  conv1d(x: string, cin: number, cout: number, k: number, o: { stride?: number; pad?: number; group?: number; bias?: boolean; dilation?: number } = {}): string {
    const group = o.group ?? 1;
    const w = this.weight([cout, cin / group, k], Math.sqrt(2 / ((cin / group) * k)));
    const inputs = o.bias === false ? [x, w] : [x, w, this.weight([cout], 0.1)];
    const p = o.pad ?? 0;
    return this.node('Conv', inputs, [ints('kernel_shape', [k]), ints('strides', [o.stride ?? 1]), ints('pads', [p, p]), int('group', group), ints('dilations', [o.dilation ?? 1])]);
  }

  /** ConvTranspose (weight [cin, cout, k, k]) with pads p on every side and output_padding `extra`. */
  convTranspose(x: string, cin: number, cout: number, k: number, o: { stride?: number; pad?: number; extra?: number; bias?: boolean } = {}): string {
    const w = this.weight([cin, cout, k, k], Math.sqrt(2 / (cin * k * k)));
    const inputs = o.bias === false ? [x, w] : [x, w, this.weight([cout], 0.1)];
    const [p, s, e] = [o.pad ?? 0, o.stride ?? 1, o.extra ?? 0];
    return this.node('ConvTranspose', inputs, [ints('kernel_shape', [k, k]), ints('strides', [s, s]), ints('pads', [p, p, p, p]), ints('output_padding', [e, e])]);
  }

  batchNorm(x: string, channels: number): string {
    const params = [this.weight([channels], 0.2, undefined, 1), this.weight([channels], 0.2), this.weight([channels], 0.2)];
    const variance = Float32Array.from({ length: channels }, () => 0.5 + Math.abs(this.normal()));
    const name = this.fresh('var');
    this.initializers.push({ name, dims: [channels], dataType: 1, rawData: new Uint8Array(variance.buffer) });
    return this.node('BatchNormalization', [x, ...params, name], [float('epsilon', 1e-5)]);
  }

  gemm(x: string, inputs: number, units: number): string {
    return this.node('Gemm', [x, this.weight([units, inputs], Math.sqrt(2 / inputs)), this.weight([units], 0.1)], [int('transB', 1)]);
  }

  /** PyTorch's x.view(x.size(0), -1): Shape → Gather → Unsqueeze → Concat → Reshape. */
  viewFlatten(x: string, opset: number): string {
    const shape = this.node('Shape', [x]);
    const batch = this.node('Gather', [shape, this.int64([0], true)], [int('axis', 0)]);
    const unsqueezed = opset >= 13 ? this.node('Unsqueeze', [batch, this.int64([0])]) : this.node('Unsqueeze', [batch], [ints('axes', [0])]);
    const target = this.node('Concat', [unsqueezed, this.int64([-1])], [int('axis', 0)]);
    return this.node('Reshape', [x, target]);
  }

  model(inputDims: number[], output: string, opset = 13): Uint8Array {
    const info = (name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto => ({
      name,
      type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
    });
    this.nodes[this.nodes.length - 1].output = ['output'];
    const nodes = this.nodes.map((n) => ({ ...n, input: (n.input ?? []).map((i) => (i === output ? 'output' : i)) }));
    const model: OnnxTypes.IModelProto = {
      irVersion: 8,
      producerName: 'pytorch',
      producerVersion: '1.13.1',
      opsetImport: [{ domain: '', version: opset }],
      graph: { name: 'main_graph', node: nodes, initializer: this.initializers, input: [info('input', ['batch', ...inputDims])], output: [info('output', ['batch', '?'])] },
    };
    return Uint8Array.from(onnx.ModelProto.encode(model).finish());
  }
}

/** The model's output on NCHW (or [batch, features]) input. */
export async function runOnnx(bytes: Uint8Array, input: Float32Array, dims: number[]): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const result = await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', input, dims) });
  return result[session.outputNames[0]].data as Float32Array;
}

/** `count` seeded uniform [0, 1) samples of ONNX dims [C, H, W]: NCHW for onnxruntime, NHWC for our network. */
export function imageSamples(dims: [number, number, number], count: number, seed: number): { nchw: Float32Array; ours: Float32Array } {
  const rand = mulberry32(seed);
  const nchw = Float32Array.from({ length: count * dims[0] * dims[1] * dims[2] }, () => rand());
  return { nchw, ours: nchwToNhwc(nchw, count, ...dims) };
}

/** NCHW → NHWC of `count` samples of [C, H, W]. */
export function nchwToNhwc(x: Float32Array, count: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let n = 0; n < count; n++)
    for (let k = 0; k < c; k++) for (let i = 0; i < h * w; i++) out[(n * h * w + i) * c + k] = x[(n * c + k) * h * w + i];
  return out;
}

export function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0;
  let den = 0;
  for (let i = 0; i < a.length; i++) {
    num += (a[i] - b[i]) ** 2;
    den += b[i] ** 2;
  }
  return Math.sqrt(num / Math.max(den, 1e-30));
}

/** The one-line InputError parseOnnxModel gives `bytes` read as `source`; the test fails when it reads them. */
export function importError(bytes: Uint8Array, source = 'm.onnx'): string {
  try {
    parseOnnxModel(bytes, source);
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return (error as Error).message;
  }
  throw new Error('expected an InputError');
}
