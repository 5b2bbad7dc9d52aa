// Property-based tests (fast-check) over the three parsers: generated and mutated .npy files,
// model.json + weight shards, and .onnx files. Each case must end in success or one clean
// InputError (harness.ts). FUZZ_SCALE multiplies the case counts (npm run test:fuzz: 25×).
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import onnxProto from 'onnx-proto';
import { afterAll, describe, expect, it } from 'vitest';
import { parseNpy, serializeNpy } from '../../src/io/npy.js';
import { InputError } from '../../src/errors.js';
import { parseOnnxModel, parseOnnxModelWithData } from '../../src/io/onnxModel.js';
import { parseTfjsModel } from '../../src/io/tfjsModel.js';
import { convNeXtBlock, convTransposeDecoder, sequenceConvNeXt, sequenceNet, shuffleNetBlock, uNet } from '../helpers/dagGraphs.js';
import { mutated, Outcomes, runs } from './harness.js';

const FIXTURES = new URL('../fixtures/', import.meta.url).pathname;
const { onnx } = onnxProto;

const hex = (bytes: Uint8Array) => Buffer.from(bytes.subarray(0, 200)).toString('hex') + (bytes.length > 200 ? `… (${bytes.length} bytes)` : '');

describe('fuzz: .npy', () => {
  const outcomes = new Outcomes('npy');
  afterAll(() => outcomes.report());

  // Headers written by hand: shapes with huge, negative or non-integer sizes, odd descr and flags.
  const header = fc.record({
    descr: fc.constantFrom("'<f4'", "'<f8'", "'<i4'", "'<i8'", "'>f4'", "'|u1'", "'<f2'", "'O'", '1', "''"),
    fortran: fc.constantFrom('False', 'True', '0', "'no'"),
    shape: fc.array(fc.oneof(fc.nat({ max: 20 }), fc.constantFrom(-1, 2 ** 31, 2 ** 53, 1e300, 10 ** 13)), { maxLength: 5 }).map((dims) => `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`),
    extra: fc.constantFrom('', " 'x': 1,", " 'shape': (1,),"),
    data: fc.uint8Array({ maxLength: 256 }),
    version: fc.constantFrom(1, 2, 3, 9),
  });
  const handWritten = header.map(({ descr, fortran, shape, extra, data, version }) => {
    const text = `{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': ${shape},${extra} }`.padEnd(118, ' ') + '\n';
    const lengthBytes = version === 1 ? 2 : 4;
    const head = new Uint8Array(8 + lengthBytes);
    head.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    if (version === 1) new DataView(head.buffer).setUint16(8, text.length, true);
    else new DataView(head.buffer).setUint32(8, text.length, true);
    return Uint8Array.from([...head, ...new TextEncoder().encode(text), ...data]);
  });
  const valid = fc
    .record({ dtype: fc.constantFrom('float32', 'float64') as fc.Arbitrary<'float32' | 'float64'>, dims: fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 3 }) })
    .map(({ dtype, dims }) => {
      const count = dims.reduce((a, b) => a * b, 1);
      const data = dtype === 'float32' ? new Float32Array(count).map(Math.random) : new Float64Array(count).map(Math.random);
      return serializeNpy({ shape: dims, dtype, data });
    });
  const cases = fc.oneof(fc.uint8Array({ maxLength: 300 }), handWritten, valid.chain(mutated), valid);

  it(`${runs(4000)} generated and mutated files end in an array or one clean InputError`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (bytes) => {
        await outcomes.run(() => parseNpy(bytes, 'fuzz.npy'), () => `fuzz.npy = ${hex(bytes)}`);
      }),
      { numRuns: runs(4000), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});

describe('fuzz: TF.js model.json and weights', () => {
  const outcomes = new Outcomes('tfjs');
  afterAll(() => outcomes.report());
  const mlp = JSON.parse(readFileSync(`${FIXTURES}mnist-mlp/model.json`, 'utf8'));
  const mlpWeights = readFileSync(`${FIXTURES}mnist-mlp/weights.bin`);
  // A small functional model (what Keras users save), to mutate its graph.
  const functional = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Model',
      config: {
        name: 'f',
        layers: [
          { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 6], name: 'in' }, inbound_nodes: [] },
          { name: 'a', class_name: 'Dense', config: { name: 'a', units: 4, activation: 'relu', use_bias: true }, inbound_nodes: [[['in', 0, 0, {}]]] },
          { name: 'd', class_name: 'Dropout', config: { name: 'd', rate: 0.5 }, inbound_nodes: [[['a', 0, 0, {}]]] },
          { name: 'b', class_name: 'Dense', config: { name: 'b', units: 3, activation: 'softmax', use_bias: true }, inbound_nodes: [[['d', 0, 0, {}]]] },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['b', 0, 0]],
      },
    },
    weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'a/kernel', shape: [6, 4], dtype: 'float32' }, { name: 'a/bias', shape: [4], dtype: 'float32' }, { name: 'b/kernel', shape: [4, 3], dtype: 'float32' }, { name: 'b/bias', shape: [3], dtype: 'float32' }] }],
  };
  const functionalWeights = new Uint8Array(new Float32Array(24 + 4 + 12 + 3).map((_, i) => Math.sin(i)).buffer);
  // keras.applications' layers: a Normalization (TF.js has none), a pooled vector as [1, 1, C] read by a 1×1 Conv2D, back to [C], a Rescaling, a Softmax.
  const call = (name: string) => [[[name, 0, 0, {}]]];
  const views = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Functional',
      config: {
        name: 'v',
        layers: [
          { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 2, 2, 3], name: 'in' }, inbound_nodes: [] },
          { name: 'n', class_name: 'Normalization', config: { name: 'n', axis: -1, mean: null, variance: null }, inbound_nodes: call('in') },
          { name: 'p', class_name: 'GlobalAveragePooling2D', config: { name: 'p' }, inbound_nodes: call('n') },
          { name: 'r', class_name: 'Reshape', config: { name: 'r', target_shape: [1, 1, 3] }, inbound_nodes: call('p') },
          { name: 'c', class_name: 'Conv2D', config: { name: 'c', filters: 2, kernel_size: [1, 1], activation: 'sigmoid', use_bias: true }, inbound_nodes: call('r') },
          { name: 'f', class_name: 'Reshape', config: { name: 'f', target_shape: [-1] }, inbound_nodes: call('c') },
          { name: 's', class_name: 'Rescaling', config: { name: 's', scale: 0.5, offset: 1 }, inbound_nodes: call('f') },
          { name: 'o', class_name: 'Softmax', config: { name: 'o', axis: -1 }, inbound_nodes: call('s') },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['o', 0, 0]],
      },
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'n/mean', shape: [3], dtype: 'float32' },
          { name: 'n/variance', shape: [3], dtype: 'float32' },
          { name: 'n/count', shape: [], dtype: 'int32' },
          { name: 'c/kernel', shape: [1, 1, 3, 2], dtype: 'float32' },
          { name: 'c/bias', shape: [2], dtype: 'float32' },
        ],
      },
    ],
  };
  const viewsWeights = new Uint8Array(new Float32Array([0.1, 0.2, 0.3, 1, 2, 3, 0, ...Array.from({ length: 8 }, (_, i) => Math.cos(i))]).buffer);
  new Int32Array(viewsWeights.buffer, 24, 1)[0] = 100;
  // A 1-D network on a sequence [6, 2]: a causal dilated Conv1D, MaxPooling1D, SE through Reshape((1, C)) and a 1×1 Conv1D, GlobalMaxPooling1D.
  const sequence = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Functional',
      config: {
        name: 's',
        layers: [
          { name: 'in', class_name: 'InputLayer', config: { batch_input_shape: [null, 6, 2], name: 'in' }, inbound_nodes: [] },
          { name: 'c', class_name: 'Conv1D', config: { name: 'c', filters: 3, kernel_size: [3], padding: 'causal', dilation_rate: [2], activation: 'relu', use_bias: true }, inbound_nodes: call('in') },
          { name: 'm', class_name: 'MaxPooling1D', config: { name: 'm', pool_size: [2] }, inbound_nodes: call('c') },
          { name: 'p', class_name: 'GlobalAveragePooling1D', config: { name: 'p' }, inbound_nodes: call('m') },
          { name: 'r', class_name: 'Reshape', config: { name: 'r', target_shape: [1, 3] }, inbound_nodes: call('p') },
          { name: 'g', class_name: 'Conv1D', config: { name: 'g', filters: 3, kernel_size: [1], activation: 'sigmoid', use_bias: true }, inbound_nodes: call('r') },
          { name: 'x', class_name: 'Multiply', config: { name: 'x' }, inbound_nodes: [[['m', 0, 0, {}], ['g', 0, 0, {}]]] },
          { name: 'q', class_name: 'GlobalMaxPooling1D', config: { name: 'q' }, inbound_nodes: call('x') },
          { name: 'o', class_name: 'Dense', config: { name: 'o', units: 2, use_bias: true }, inbound_nodes: call('q') },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['o', 0, 0]],
      },
    },
    weightsManifest: [
      {
        paths: ['w.bin'],
        weights: [
          { name: 'c/kernel', shape: [3, 2, 3], dtype: 'float32' },
          { name: 'c/bias', shape: [3], dtype: 'float32' },
          { name: 'g/kernel', shape: [1, 3, 3], dtype: 'float32' },
          { name: 'g/bias', shape: [3], dtype: 'float32' },
          { name: 'o/kernel', shape: [3, 2], dtype: 'float32' },
          { name: 'o/bias', shape: [2], dtype: 'float32' },
        ],
      },
    ],
  };
  const sequenceWeights = new Uint8Array(Float32Array.from({ length: 41 }, (_, i) => Math.sin(i)).buffer);
  // A text model: int32 ids [4] → Embedding(5, 2) → GlobalAveragePooling1D → Dense.
  const text = {
    format: 'layers-model',
    modelTopology: {
      class_name: 'Model',
      config: {
        name: 'text',
        layers: [
          { name: 'in', class_name: 'InputLayer', config: { name: 'in', batch_input_shape: [null, 4], dtype: 'int32' }, inbound_nodes: [] },
          { name: 'e', class_name: 'Embedding', config: { name: 'e', input_dim: 5, output_dim: 2, mask_zero: false }, inbound_nodes: call('in') },
          { name: 'p', class_name: 'GlobalAveragePooling1D', config: { name: 'p' }, inbound_nodes: call('e') },
          { name: 'o', class_name: 'Dense', config: { name: 'o', units: 2, use_bias: true }, inbound_nodes: call('p') },
        ],
        input_layers: [['in', 0, 0]],
        output_layers: [['o', 0, 0]],
      },
    },
    weightsManifest: [{ paths: ['w.bin'], weights: [{ name: 'e/embeddings', shape: [5, 2], dtype: 'float32' }, { name: 'o/kernel', shape: [2, 2], dtype: 'float32' }, { name: 'o/bias', shape: [2], dtype: 'float32' }] }],
  };
  const textWeights = new Uint8Array(Float32Array.from({ length: 16 }, (_, i) => Math.cos(i)).buffer);
  const bases = { mlp: [mlp, mlpWeights], functional: [functional, functionalWeights], views: [views, viewsWeights], sequence: [sequence, sequenceWeights], text: [text, textWeights] } as const;

  /** Every path into a JSON value (objects' keys and arrays' indices). */
  function paths(value: unknown, prefix: (string | number)[] = [], out: (string | number)[][] = []): (string | number)[][] {
    out.push(prefix);
    if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out));
    else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) if (k !== 'weights' || prefix.length < 3) paths(v, [...prefix, k], out);
    return out;
  }
  const names = fc.constantFrom('in', 'a', 'b', 'd', 'n', 'p', 'r', 'c', 'dense_1', 'dense_2', 'x\u001b[31m', '', 'a\nb');
  const replacement = fc.oneof(
    fc.jsonValue({ maxDepth: 2 }),
    names,
    fc.constantFrom(null, -1, 0, 1e9, 2 ** 40, 1.5, [null, 1e9], [], {}, [[['a', 0, 0, {}]]], [[['b', 0, 0, {}]]], [['a', 1, 0]], 'relu', 'channels_first', 'valid', 'same', 'TimeDistributed', 'Embedding', { class_name: 'Dense', config: { units: 2 } }, [1, 1, -1], [-1, -1], [3, 1, 1], [1, 1, 1e9], [[['in', 0, 0, {}]]], [3, 3]),
  );
  type Edit = { kind: 'set' | 'delete' | 'duplicate'; at: number; value: unknown };
  const edit: fc.Arbitrary<Edit> = fc.record({ kind: fc.constantFrom('set', 'set', 'delete', 'duplicate') as fc.Arbitrary<Edit['kind']>, at: fc.nat(), value: replacement });

  function applyEdits(base: object, edits: Edit[]): unknown {
    let json: unknown = structuredClone(base);
    for (const { kind, at, value } of edits) {
      const all = paths(json);
      const path = all[at % all.length];
      if (path.length === 0) {
        json = kind === 'set' ? structuredClone(value) : json;
        continue;
      }
      const parent = path.slice(0, -1).reduce((o: any, k) => o[k], json) as any;
      const key = path.at(-1)!;
      if (kind === 'set') parent[key] = structuredClone(value); // a copy: a model.json read from text has no shared or cyclic parts
      else if (kind === 'delete') Array.isArray(parent) ? parent.splice(key as number, 1) : delete parent[key];
      else if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(parent[key as number]));
      else parent[`${key}`] = structuredClone(parent[key]);
    }
    return json;
  }

  const cases = fc.record({
    base: fc.constantFrom('mlp', 'functional', 'views', 'sequence', 'text'),
    edits: fc.array(edit, { minLength: 1, maxLength: 3 }),
    weights: fc.constantFrom('same', 'short', 'long'),
  });

  it('the unmutated bases read (the mutations start from valid models)', async () => {
    for (const [model, weights] of Object.values(bases)) {
      const handle = await parseTfjsModel(structuredClone(model), weights.buffer.slice(weights.byteOffset, weights.byteOffset + weights.byteLength) as ArrayBuffer, 'base/model.json');
      expect(handle.network.layers.length).toBeGreaterThan(1);
    }
  });

  it(`${runs(3000)} mutated models end in a Network or one clean InputError, in seconds`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ base, edits, weights }) => {
        const [model, original] = bases[base];
        const json = applyEdits(model, edits);
        const data = weights === 'same' ? original : weights === 'short' ? original.subarray(0, original.length - 4) : Uint8Array.from([...original.subarray(0, 64), ...original, 0, 0, 0, 0]);
        const buffer = data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength) as ArrayBuffer;
        await outcomes.run(() => parseTfjsModel(json, buffer, 'fuzz/model.json'), () => `${base} with ${JSON.stringify(edits).slice(0, 400)} (weights ${weights})`);
      }),
      { numRuns: runs(3000), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});

describe('fuzz: ONNX', () => {
  const outcomes = new Outcomes('onnx');
  afterAll(() => outcomes.report());
  // PyTorch's EfficientNet (SiLU and squeeze-and-excitation as several nodes, shared initializers), ShuffleNet's split and
  // shuffle, ConvNeXt's channels-last stretches (LayerNorm as nine nodes).
  // Keras 3's NHWC export (Casts, channels-last biases, BatchNormalization as arithmetic) and BERT through the TorchScript exporter
  // (with an attention mask and token types: three inputs; its sequence length open, fixed by the samples' shape), and
  // RoBERTa's and GPT-2's the same way (positions and the last real token computed from the ids).
  const sizes = { samples: new Map([['input_ids', [49]], ['attention_mask', [49]], ['token_type_ids', [49]]]) };
  const bases = [...['mnist-mlp.onnx', 'mnist-cnn.onnx', 'torch/efficientnet.onnx', 'torch/timm-attention.onnx', 'torch/causal-transformer.onnx', 'torch/text-bag.onnx', 'torch/resnet-generator.onnx', 'keras-onnx/functional.onnx', 'keras-onnx/cnn.onnx', 'torch2/hf-bert-torchscript.onnx', 'torch2/hf-bert-mask-torchscript.onnx', 'torch2/hf-roberta-mask-torchscript.onnx', 'torch2/hf-gpt2-mask-torchscript.onnx', 'torch2/hf-qwen2-mask-torchscript.onnx', 'torch2/hf-phi3-mask-torchscript.onnx', 'torch2/hf-deberta-mask-torchscript.onnx'].map((name) => new Uint8Array(readFileSync(FIXTURES + name))), shuffleNetBlock().bytes, convNeXtBlock(13).bytes, sequenceNet().bytes, sequenceConvNeXt().bytes, uNet().bytes, convTransposeDecoder().bytes];

  /** Structure-aware edits: decode, change a dims list, an attribute, a name or an input shape, encode. */
  const huge = fc.constantFrom(0, -1, 1, 3, 1e13, 2 ** 31, 2 ** 53);
  const structural = fc
    .record({ base: fc.nat({ max: bases.length - 1 }), what: fc.constantFrom('initializer dims', 'attribute ints', 'input dims', 'input axis name', 'extra output', 'node name', 'op type', 'node inputs', 'raw data'), at: fc.nat(), value: huge, text: fc.constantFrom('\n', '\u001b[2J', 'Gemm', 'Conv', 'Add', 'Mul', 'Sigmoid', 'Pad', 'ReduceMean', 'Shape', 'Split', 'Slice', 'Transpose', 'Reshape', 'LayerNormalization', 'ReduceMean', 'ReduceSum', 'Reciprocal', 'Div', 'Pow', 'Sqrt', 'CumSum', 'Not', 'Equal', 'ArgMax', 'GatherND', 'Flatten', 'Neg', 'Abs', 'Log', 'Cos', 'Sin', 'Expand', 'Tile', 'Sign', 'Ceil', 'If', 'GatherElements', 'GlobalMaxPool', 'Squeeze', 'Unsqueeze', 'MaxPool', 'Resize', 'Upsample', 'ConvTranspose', 'Gather', '', 'x'.repeat(300)) })
    .map(({ base, what, at, value, text }) => {
      const model = onnx.ModelProto.decode(bases[base]);
      const graph = model.graph!;
      const pick = <T,>(list: T[] | null | undefined): T | undefined => (list && list.length ? list[at % list.length] : undefined);
      if (what === 'initializer dims') {
        const t = pick(graph.initializer);
        if (t) t.dims = [value, ...(t.dims ?? []).slice(1)];
      } else if (what === 'attribute ints') {
        const a = pick(graph.node?.flatMap((n) => n.attribute ?? []));
        if (a) a.ints = [value, value];
      } else if (what === 'input dims') {
        const d = pick(graph.input?.[0]?.type?.tensorType?.shape?.dim);
        if (d) d.dimValue = value;
      } else if (what === 'extra output') {
        // Another graph output: a tensor some node computes (several outputs are packed), or any name.
        const n = pick(graph.node);
        graph.output = [...(graph.output ?? []), { name: value === 0 ? text : (n?.output?.[0] ?? text) }];
      } else if (what === 'input axis name') {
        const d = pick(graph.input?.flatMap((i) => i.type?.tensorType?.shape?.dim ?? []));
        if (d) {
          delete (d as { dimValue?: unknown }).dimValue;
          d.dimParam = text;
        }
      } else if (what === 'node name') {
        const n = pick(graph.node);
        if (n) n.name = text;
      } else if (what === 'op type') {
        const n = pick(graph.node);
        if (n) n.opType = text;
      } else if (what === 'node inputs') {
        const n = pick(graph.node);
        if (n) n.input = [text, ...(n.input ?? []).slice(1)];
      } else {
        const t = pick(graph.initializer);
        if (t) t.rawData = new Uint8Array(Math.abs(value) % 97);
      }
      return onnx.ModelProto.encode(model).finish();
    });
  const cases = fc.oneof(fc.constantFrom(...bases).chain(mutated), structural, fc.uint8Array({ maxLength: 200 }));

  it(`${runs(3000)} mutated models end in a Network or one clean InputError`, { timeout: 900_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async (bytes) => {
        await outcomes.run(() => parseOnnxModel(bytes, 'fuzz.onnx', sizes), () => `fuzz.onnx = ${hex(bytes)}`);
      }),
      { numRuns: runs(3000), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});

describe('fuzz: ONNX external data', () => {
  const outcomes = new Outcomes('onnx-external');
  afterAll(() => outcomes.report());
  // PyTorch 2's exports: the weights in NAME.onnx.data. References edited (a location that leaves
  // the folder or names nothing, offsets and lengths out of range or not numbers), the model and
  // the data file mutated; the data file is there for its own location only.
  const bases = ['resnet', 'vit', 'hf-distilbert'].map((name) => ({
    name,
    model: new Uint8Array(readFileSync(`${FIXTURES}torch2/${name}.onnx`)),
    data: new Uint8Array(readFileSync(`${FIXTURES}torch2/${name}.onnx.data`)),
  }));
  const location = fc.constantFrom('../x.onnx.data', '/etc/hostname', 'C:\\w.bin', '', 'a\u0000b', '\u001b[2J', 'x'.repeat(5000), 'sub/../x.onnx.data', 'other.data');
  const number = fc.constantFrom('0', '-1', '1e3', '0x10', '', ' 1', '18446744073709551616', '9007199254740993', '4', '1024', '7');
  const edited = fc
    .record({ base: fc.nat({ max: bases.length - 1 }), at: fc.nat(), key: fc.constantFrom('location', 'offset', 'length', 'checksum'), location, number, drop: fc.boolean() })
    .map(({ base, at, key, location, number, drop }) => {
      const model = onnx.ModelProto.decode(bases[base].model);
      const external = (model.graph!.initializer ?? []).filter((t) => t.dataLocation === 1);
      const t = external[at % external.length];
      const kept = (t.externalData ?? []).filter((e) => e.key !== key);
      t.externalData = drop ? kept : [...kept, { key, value: key === 'location' ? location : number }];
      return { base, bytes: onnx.ModelProto.encode(model).finish() };
    });
  const mutatedModel = fc.nat({ max: bases.length - 1 }).chain((base) => mutated(bases[base].model).map((bytes) => ({ base, bytes })));
  const cases = fc.tuple(fc.oneof(edited, mutatedModel), fc.boolean()).chain(([{ base, bytes }, cut]) =>
    (cut ? mutated(bases[base].data) : fc.constant(bases[base].data)).map((data) => ({ base, bytes, data })),
  );

  it(`${runs(1000)} edited references and data files end in a Network or one clean InputError`, { timeout: 600_000 }, async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ base, bytes, data }) => {
        const own = `${bases[base].name}.onnx.data`;
        const file = async (name: string) => {
          if (name !== own) throw new InputError(`fuzz.onnx: no external data file '${name}' beside it`);
          return data;
        };
        await outcomes.run(() => parseOnnxModelWithData(bytes, 'fuzz.onnx', file), () => `fuzz.onnx = ${hex(bytes)}, its data ${data.length} bytes`);
      }),
      { numRuns: runs(1000), seed: Number(process.env.FUZZ_SEED ?? 14) },
    );
  });
});
