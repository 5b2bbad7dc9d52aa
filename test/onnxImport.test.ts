// ONNX import of hand-built graphs as PyTorch's exporter writes them: the right Network (pads →
// 'same', OIHW → HWIO, Gemm transB, CHW rows after a Flatten), weights written back in PyTorch's
// layouts, bad models refused as one-line InputErrors, and atomic file load/save.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { loadOnnxModelFile, saveOnnxModelFile } from '../src/io/onnxFiles.js';
import { networkToOnnx, parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import type { Conv2DLayer, DenseLayer, Network } from '../src/network/types.js';
import { float, int, ints } from './helpers/onnxGraphs.js';
import {
  SAMPLES, cnn, forward, initializer, randomArray, randomInput, relativeError, runOnnx, weighted, zeroSome,
} from './helpers/onnxReference.js';
import { gaussianSource, mulberry32 } from './helpers/random.js';

const { onnx } = onnxProto;

// ---------------------------------------------------------------------------------------------
// Hand-built ONNX graphs (as PyTorch's exporter writes them)

type NodeSpec = [name: string, op: string, inputs: string[], outputs: string[], attributes?: OnnxTypes.IAttributeProto[]];

function floatTensor(name: string, dims: number[], values: Float32Array, raw: boolean): OnnxTypes.ITensorProto {
  return raw
    ? { name, dims, dataType: 1, rawData: new Uint8Array(values.buffer.slice(0)) }
    : { name, dims, dataType: 1, floatData: Array.from(values) };
}

function tensorInfo(name: string, dims: (number | string)[]): OnnxTypes.IValueInfoProto {
  return {
    name,
    type: { tensorType: { elemType: 1, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  };
}

function buildModel(
  nodes: NodeSpec[],
  initializers: OnnxTypes.ITensorProto[],
  inputDims: (number | string)[],
  options: { listInitializersAsInputs?: boolean; opset?: number } = {},
): Uint8Array {
  const lastOutput = nodes[nodes.length - 1][3][0];
  const model: OnnxTypes.IModelProto = {
    irVersion: 7,
    producerName: 'pytorch',
    producerVersion: '2.1.0',
    opsetImport: [{ domain: '', version: options.opset ?? 13 }],
    graph: {
      name: 'main_graph',
      node: nodes.map(([name, opType, input, output, attribute]) => ({ name, opType, input, output, attribute: attribute ?? [] })),
      initializer: initializers,
      input: [
        tensorInfo('input.1', inputDims),
        ...(options.listInitializersAsInputs ? initializers.map((t) => tensorInfo(t.name!, t.dims!.map(Number))) : []),
      ],
      output: [tensorInfo(lastOutput, ['batch_size', 3])],
    },
  };
  return Uint8Array.from(onnx.ModelProto.encode(model).finish());
}

interface TorchWeights {
  conv: Float32Array; // OIHW [4, 2, 3, 3]
  convBias: Float32Array;
  fc1: Float32Array; // [10, 36] (transB = 1)
  fc1Bias: Float32Array;
  fc2: Float32Array; // [10, 3] (MatMul)
  fc2Bias: Float32Array;
}

function torchWeights(seed: number): TorchWeights {
  const normal = gaussianSource(mulberry32(seed));
  return {
    conv: randomArray(72, 0.3, normal),
    convBias: randomArray(4, 0.3, normal),
    fc1: randomArray(360, 0.2, normal),
    fc1Bias: randomArray(10, 0.3, normal),
    fc2: randomArray(30, 0.3, normal),
    fc2Bias: randomArray(3, 0.3, normal),
  };
}

/**
 * [N, 2, 6, 6] → Conv 3×3 pads 1 (= 'same') → Relu → MaxPool 2 → Flatten (or Reshape [0, -1]) →
 * Gemm transB=1 → Relu → Dropout → MatMul + Add (bias first) → Softmax(axis 1).
 */
function torchModel(w: TorchWeights, flatten: 'Flatten' | 'Reshape', listInitializersAsInputs = false): Uint8Array {
  const nodes: NodeSpec[] = [
    ['/conv1/Conv', 'Conv', ['input.1', 'conv1.weight', 'conv1.bias'], ['/conv1/Conv_output_0'], [
      ints('dilations', [1, 1]), int('group', 1), ints('kernel_shape', [3, 3]), ints('pads', [1, 1, 1, 1]), ints('strides', [1, 1]),
    ]],
    ['/relu/Relu', 'Relu', ['/conv1/Conv_output_0'], ['/relu/Relu_output_0']],
    ['/pool/MaxPool', 'MaxPool', ['/relu/Relu_output_0'], ['/pool/MaxPool_output_0'], [
      int('ceil_mode', 0), ints('kernel_shape', [2, 2]), ints('pads', [0, 0, 0, 0]), ints('strides', [2, 2]),
    ]],
    flatten === 'Flatten'
      ? ['/Flatten', 'Flatten', ['/pool/MaxPool_output_0'], ['/Flatten_output_0'], [int('axis', 1)]]
      : ['/Reshape', 'Reshape', ['/pool/MaxPool_output_0', '/Constant_output_0'], ['/Flatten_output_0']],
    ['/fc1/Gemm', 'Gemm', ['/Flatten_output_0', 'fc1.weight', 'fc1.bias'], ['/fc1/Gemm_output_0'], [
      float('alpha', 1), float('beta', 1), int('transB', 1),
    ]],
    ['/relu_1/Relu', 'Relu', ['/fc1/Gemm_output_0'], ['/relu_1/Relu_output_0']],
    ['/dropout/Dropout', 'Dropout', ['/relu_1/Relu_output_0'], ['/dropout/Dropout_output_0']],
    ['/fc2/MatMul', 'MatMul', ['/dropout/Dropout_output_0', 'onnx::MatMul_21'], ['/fc2/MatMul_output_0']],
    ['/fc2/Add', 'Add', ['fc2.bias', '/fc2/MatMul_output_0'], ['/fc2/Add_output_0']],
    ['/softmax/Softmax', 'Softmax', ['/fc2/Add_output_0'], ['output'], [int('axis', 1)]],
  ];
  if (flatten === 'Reshape') {
    const shape: OnnxTypes.ITensorProto = { dims: [2], dataType: 7, int64Data: [0, -1] };
    nodes.unshift(['/Constant', 'Constant', [], ['/Constant_output_0'], [{ name: 'value', type: onnx.AttributeProto.AttributeType.TENSOR, t: shape }]]);
  }
  const initializers = [
    floatTensor('conv1.weight', [4, 2, 3, 3], w.conv, true),
    floatTensor('conv1.bias', [4], w.convBias, false),
    floatTensor('fc1.weight', [10, 36], w.fc1, true),
    floatTensor('fc1.bias', [10], w.fc1Bias, true),
    floatTensor('onnx::MatMul_21', [10, 3], w.fc2, false),
    floatTensor('fc2.bias', [3], w.fc2Bias, true),
  ];
  return buildModel(nodes, initializers, ['batch_size', 2, 6, 6], { listInitializersAsInputs });
}

const TORCH_NETWORK_SHAPE: Network = { inputShape: [6, 6, 2], layers: [] };

describe('importing a PyTorch-style graph', () => {
  for (const flatten of ['Flatten', 'Reshape'] as const) {
    it(`Conv pads [1,1,1,1] → 'same', OIHW → HWIO, Gemm transB=1, ${flatten} rows CHW → HWC, MatMul+Add, Dropout skipped`, async () => {
      const w = torchWeights(flatten === 'Flatten' ? 70 : 71);
      const bytes = torchModel(w, flatten, flatten === 'Reshape');
      const { network } = parseOnnxModel(bytes, 'model.onnx');
      expect(network.inputShape).toEqual([6, 6, 2]);
      expect(network.layers.map((l) => `${l.kind}:${l.name}`)).toEqual([
        'conv2d:/conv1/Conv',
        'relu:/relu/Relu',
        'maxpool2d:/pool/MaxPool',
        `flatten:/${flatten}`,
        'dense:/fc1/Gemm',
        'relu:/relu_1/Relu',
        'dense:/fc2/MatMul',
        'softmax:/softmax/Softmax',
      ]);
      const convLayer = network.layers[0] as Conv2DLayer;
      expect(convLayer).toMatchObject({ kernelSize: [3, 3], inChannels: 2, filters: 4, strides: [1, 1], padding: 'same', activation: 'linear' });
      expect(convLayer.bias).toEqual(w.convBias);
      for (let o = 0; o < 4; o++) {
        for (let i = 0; i < 2; i++) {
          for (let y = 0; y < 3; y++) {
            for (let x = 0; x < 3; x++) expect(convLayer.kernel[((y * 3 + x) * 2 + i) * 4 + o]).toBe(w.conv[((o * 2 + i) * 3 + y) * 3 + x]);
          }
        }
      }
      expect(network.layers[2]).toMatchObject({ poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
      const fc1 = network.layers[4] as DenseLayer;
      expect(fc1).toMatchObject({ inputs: 36, units: 10, activation: 'linear' });
      expect(fc1.bias).toEqual(w.fc1Bias);
      // Our row (h·3 + w)·4 + c is ONNX feature c·9 + h·3 + w, and fc1.weight is [units, features].
      for (let h = 0; h < 3; h++) {
        for (let x = 0; x < 3; x++) {
          for (let c = 0; c < 4; c++) {
            for (let m = 0; m < 10; m++) expect(fc1.kernel[((h * 3 + x) * 4 + c) * 10 + m]).toBe(w.fc1[m * 36 + c * 9 + h * 3 + x]);
          }
        }
      }
      const fc2 = network.layers[6] as DenseLayer;
      expect(fc2).toMatchObject({ inputs: 10, units: 3 });
      expect(fc2.kernel).toEqual(w.fc2);
      expect(fc2.bias).toEqual(w.fc2Bias);
      // The imported network computes what onnxruntime computes.
      const input = randomInput(TORCH_NETWORK_SHAPE, 72);
      const actual = await runOnnx(bytes, TORCH_NETWORK_SHAPE, input);
      expect(relativeError(actual, forward(network, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
    });
  }

  it('writes modified weights back in the PyTorch layouts (transB=1, OIHW, CHW rows)', async () => {
    const bytes = torchModel(torchWeights(73), 'Flatten');
    const handle = parseOnnxModel(bytes, 'model.onnx');
    const modified = zeroSome(handle.network);
    const written = writeOnnxModel(handle, modified);
    expect(initializer(written, 'fc1.weight').dims).toEqual([10, 36]);
    expect(initializer(written, 'conv1.weight').dims).toEqual([4, 2, 3, 3]);
    const input = randomInput(TORCH_NETWORK_SHAPE, 74);
    const actual = await runOnnx(written, TORCH_NETWORK_SHAPE, input);
    expect(relativeError(actual, forward(modified, input, SAMPLES))).toBeLessThanOrEqual(1e-4);
    const written2 = onnx.ModelProto.decode(written);
    expect(written2.producerName).toBe('pytorch');
    expect(written2.graph!.node!.map((n) => n.name)).toEqual(onnx.ModelProto.decode(bytes).graph!.node!.map((n) => n.name));
  });
});

// ---------------------------------------------------------------------------------------------
// Bad models

function expectInputError(action: () => unknown, ...fragments: string[]): string {
  let error: unknown;
  try {
    action();
  } catch (caught) {
    error = caught;
  }
  expect(error).toBeInstanceOf(InputError);
  const message = (error as Error).message;
  expect(message).not.toContain('\n');
  for (const fragment of fragments) expect(message).toContain(fragment);
  return message;
}

/** input [N, 2, 6, 6] → the given nodes (the last one's output is the graph output). */
function smallModel(nodes: NodeSpec[], initializers: OnnxTypes.ITensorProto[] = [], inputDims: (number | string)[] = ['N', 2, 6, 6]): Uint8Array {
  return buildModel(nodes, initializers, inputDims);
}

const zeros = (n: number) => new Float32Array(n);

describe('parseOnnxModel rejects unsupported models with one-line InputErrors', () => {
  it('an unsupported op', () => {
    const bytes = smallModel([['/conv1/Conv', 'Conv', ['input.1', 'w'], ['a']], ['/erf', 'Erf', ['a'], ['b_out']]], [floatTensor('w', [4, 2, 3, 3], zeros(72), true)]);
    const message = expectInputError(() => parseOnnxModel(bytes, 'model.onnx'));
    expect(message).toMatch(/^model\.onnx: node 1 \('\/erf', op Erf\): op 'Erf' is not supported: supported are Gemm, MatMul, Add, Mul, Sub, Div, Conv, ConvTranspose, BatchNormalization, Relu, Clip, .*, and Erf inside GELU as PyTorch writes it \(\(x·\(Erf\(x\/√2\) \+ 1\)\)·½\)$/);
  });

  it('a group count that does not divide the channels', () => {
    const bytes = smallModel([['/conv2/Conv', 'Conv', ['input.1', 'w'], ['c'], [int('group', 3)]]], [floatTensor('w', [3, 1, 3, 3], zeros(27), true)]);
    const message = expectInputError(() => parseOnnxModel(bytes, 'model.onnx'));
    expect(message).toBe("model.onnx: node 0 ('/conv2/Conv', op Conv): attribute group=3: expected a positive divisor of the 2 input channels");
  });

  it('a cycle, a missing tensor, a node off the path to the output', () => {
    const weights = [floatTensor('wa', [72, 3], zeros(216), true), floatTensor('wb', [3, 3], zeros(9), true)];
    const cycle = smallModel(
      [
        ['/flatten/Flatten', 'Flatten', ['input.1'], ['f']],
        ['/fc_a/Gemm', 'Gemm', ['f', 'wa'], ['a']],
        ['/sum/Add', 'Add', ['a', 'b'], ['s']],
        ['/fc_b/Gemm', 'Gemm', ['s', 'wb'], ['b']],
        ['/out', 'Relu', ['s'], ['out']],
      ],
      weights,
    );
    expectInputError(() => parseOnnxModel(cycle, 'model.onnx'), "model.onnx: node 2 ('/sum/Add', op Add): is on a cycle of the graph");
    const missing = smallModel([['/flatten/Flatten', 'Flatten', ['input.1'], ['f']], ['/sum/Add', 'Add', ['f', 'nowhere'], ['out']]], []);
    expectInputError(() => parseOnnxModel(missing, 'model.onnx'), "model.onnx: node 1 ('/sum/Add', op Add): reads 'nowhere', which no node computes");
    const dead = smallModel([['/r', 'Relu', ['input.1'], ['r']], ['/dead', 'Relu', ['input.1'], ['d']], ['/out', 'Relu', ['r'], ['out']]], []);
    expectInputError(() => parseOnnxModel(dead, 'model.onnx'), "node 1 ('/dead', op Relu): does not contribute to the graph output 'out'");
  });

  it('truncated bytes', () => {
    const bytes = torchModel(torchWeights(80), 'Flatten');
    const cuts = Array.from({ length: 60 }, (_, i) => Math.floor((i * bytes.length) / 60));
    for (const cut of cuts) {
      const message = expectInputError(() => parseOnnxModel(bytes.subarray(0, cut), 'model.onnx'));
      expect(message.startsWith('model.onnx: ')).toBe(true);
    }
    expectInputError(() => parseOnnxModel(bytes.subarray(0, bytes.length - 7), 'model.onnx'), 'model.onnx: ', 'truncated');
  });

  it('other unsupported attributes and shapes', () => {
    const conv = (attributes: OnnxTypes.IAttributeProto[]) =>
      smallModel([['/c/Conv', 'Conv', ['input.1', 'w'], ['c'], attributes]], [floatTensor('w', [4, 2, 3, 3], zeros(72), true)]);
    // pads that are neither zero nor TF 'same' (stride 2 on 6: TF pads [0,0,1,1]) are kept as given, [top, left, bottom, right].
    expect(parseOnnxModel(conv([ints('pads', [1, 1, 1, 1]), ints('strides', [2, 2])]), 'm.onnx').network.layers[0]).toMatchObject({ padding: [1, 1, 1, 1] });
    expectInputError(() => parseOnnxModel(conv([ints('pads', [1, 1, 1])]), 'm.onnx'), "m.onnx: node 0 ('/c/Conv', op Conv): attribute pads=[1,1,1]: expected 4 values");
    // ... and the TF 'same' pads read as 'same'.
    const same = parseOnnxModel(conv([ints('pads', [0, 0, 1, 1]), ints('strides', [2, 2])]), 'm.onnx').network.layers[0];
    expect(same).toMatchObject({ padding: 'same', strides: [2, 2] });
    const autoPad = { name: 'auto_pad', type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode('SAME_UPPER') };
    expect(parseOnnxModel(conv([autoPad]), 'm.onnx').network.layers[0]).toMatchObject({ padding: 'same' });
    expect(parseOnnxModel(conv([ints('dilations', [2, 1])]), 'm.onnx').network.layers[0]).toMatchObject({ dilations: [2, 1] });
    expectInputError(() => parseOnnxModel(conv([ints('dilations', [2, 0])]), 'm.onnx'), 'attribute dilations=[2,0]: expected 2 positive values');
    // Gemm transA, and a Gemm straight on an image.
    const gemm = (attributes: OnnxTypes.IAttributeProto[], flatten: boolean) =>
      smallModel(
        [
          ...(flatten ? [['/f', 'Flatten', ['input.1'], ['f']] as NodeSpec] : []),
          ['/g/Gemm', 'Gemm', [flatten ? 'f' : 'input.1', 'w'], ['g'], attributes],
        ],
        [floatTensor('w', [72, 3], zeros(216), true)],
      );
    expectInputError(() => parseOnnxModel(gemm([int('transA', 1)], true), 'm.onnx'), "node 1 ('/g/Gemm', op Gemm): unsupported attribute transA=1: expected 0");
    expectInputError(() => parseOnnxModel(gemm([], false), 'm.onnx'), "node 0 ('/g/Gemm', op Gemm)", 'expected [batch, features]');
    // A weight of the wrong shape, a non-float weight.
    expectInputError(
      () => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']], ['/g', 'MatMul', ['f', 'w'], ['g']]], [floatTensor('w', [70, 3], zeros(210), true)]), 'm.onnx'),
      "node 1 ('/g', op MatMul): weight 'w' has shape [70, 3]: expected [72, M]",
    );
    const int64Weight: OnnxTypes.ITensorProto = { name: 'w', dims: [72, 3], dataType: 7, int64Data: Array(216).fill(0) };
    expectInputError(
      () => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']], ['/g', 'MatMul', ['f', 'w'], ['g']]], [int64Weight]), 'm.onnx'),
      "weight 'w': expected float32, found int64",
    );
    // A flattened image as the graph output (feature order would differ).
    expectInputError(() => parseOnnxModel(smallModel([['/f', 'Flatten', ['input.1'], ['f']]]), 'm.onnx'), 'm.onnx: ', 'flattened image');
    // Softmax of an image, MaxPool ceil_mode 2, AveragePool ceil_mode counting the partial windows' padding.
    expectInputError(() => parseOnnxModel(smallModel([['/s', 'Softmax', ['input.1'], ['s']]]), 'm.onnx'), "node 0 ('/s', op Softmax)", 'expected [batch, features]');
    expectInputError(
      () => parseOnnxModel(smallModel([['/p', 'MaxPool', ['input.1'], ['p'], [ints('kernel_shape', [2, 2]), int('ceil_mode', 2)]]]), 'm.onnx'),
      'attribute ceil_mode=2: expected 0 or 1',
    );
    expectInputError(
      () => parseOnnxModel(smallModel([['/p', 'AveragePool', ['input.1'], ['p'], [ints('kernel_shape', [3, 3]), ints('strides', [2, 2]), int('ceil_mode', 1), int('count_include_pad', 1)]]]), 'm.onnx'),
      "node 0 ('/p', op AveragePool): ceil_mode=1 with count_include_pad=1 adds partial windows: expected count_include_pad=0 or windows that fit",
    );
    // A 5-D input (a 3-D one is a sequence: sequenceModels.test.ts).
    expectInputError(() => parseOnnxModel(smallModel([['/r', 'Relu', ['input.1'], ['r']]], [], ['N', 2, 6, 6, 6]), 'm.onnx'), "m.onnx: input 'input.1' has shape [N, 2, 6, 6, 6]: expected [batch, C, H, W] (NCHW image), [batch, C, L] (NCL sequence), [batch, T, F] (frames or tokens: the batch first) or [batch, features]");
  });
});

// ---------------------------------------------------------------------------------------------

describe('loadOnnxModelFile / saveOnnxModelFile', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'net-trim-onnx-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads, and saves a modified network atomically', async () => {
    const network = cnn(90);
    const source = join(dir, 'model.onnx');
    await writeFile(source, networkToOnnx(network));
    const handle = await loadOnnxModelFile(source);
    expect(handle.source).toBe(source);
    const modified = zeroSome(handle.network);
    const target = join(dir, 'pruned.onnx');
    await saveOnnxModelFile(handle, modified, target);
    expect(new Uint8Array(await readFile(target))).toEqual(writeOnnxModel(handle, modified));
    const reloaded = await loadOnnxModelFile(target);
    expect(weighted(reloaded.network).map((l) => l.kernel)).toEqual(weighted(modified).map((l) => l.kernel));
  });

  it('names the path of a missing or invalid file', async () => {
    const missing = join(dir, 'missing.onnx');
    await expect(loadOnnxModelFile(missing)).rejects.toThrow(new InputError(`${missing}: file not found`));
    const bad = join(dir, 'bad.onnx');
    await writeFile(bad, new Uint8Array([0xff, 0xff, 0xff]));
    await expect(loadOnnxModelFile(bad)).rejects.toThrow(InputError);
    await expect(loadOnnxModelFile(bad)).rejects.toThrow(bad);
  });
});
