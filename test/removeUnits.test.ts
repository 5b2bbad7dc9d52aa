// Physical removal of unread units (src/prune/removeUnits.ts): the smaller network computes what
// the pruned one computes, the tied channels (residual sums, concats, depthwise convs, flatten) go
// only together, and the written ONNX and TF.js models load in their runtimes with the same outputs.
import { describe, expect, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import * as tf from '@tensorflow/tfjs';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, DenseLayer, Layer, Network } from '../src/network/types.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { parseTfjsModel, writeTfjsModel } from '../src/io/tfjsModel.js';
import { GraphBuilder, int, relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { mobileNetBlock, resnetBlock } from './helpers/dagGraphs.js';
import { zeroInput } from './helpers/models.js';
import { gaussianSource, mulberry32 } from './helpers/random.js';

const normal = gaussianSource(mulberry32(7));
const randoms = (n: number, scale = 0.5) => Float32Array.from({ length: n }, () => scale * normal());

const named = (network: Network, name: string) => network.layers.find((l) => l.name === name)! as Layer;
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- dense or conv, read by field
const weighted = (network: Network, name: string) => named(network, name) as any;

/** Same outputs on random inputs: to 10 digits, or within `relative` (a bias that took constants is rounded to float32). */
function expectSameOutputs(a: Network, b: Network, samples = 5, relative?: number): void {
  const size = a.inputShape.reduce((p, n) => p * n, 1);
  const input = randoms(samples * size, 1);
  const x = forwardCpu(a, input, samples).output;
  const y = forwardCpu(b, input, samples).output;
  expect(y.length).toBe(x.length);
  if (relative !== undefined) expect(relativeError(y, x)).toBeLessThan(relative);
  else for (let i = 0; i < x.length; i++) expect(y[i]).toBeCloseTo(x[i], 10);
}

/** Zeroes every weight of `layer` into output unit (dense) or channel (conv) `unit`: it outputs its bias. */
function zeroOutput(layer: DenseLayer | Conv2DLayer, unit: number): void {
  const outputs = layer.kind === 'dense' ? layer.units : layer.filters;
  for (let i = unit; i < layer.kernel.length; i += outputs) layer.kernel[i] = 0;
}

const dense = (name: string, inputs: number, units: number, activation: DenseLayer['activation'] = 'relu', from?: string[]): DenseLayer => ({
  kind: 'dense', name, inputs, units, kernel: randoms(inputs * units), bias: randoms(units), activation, ...(from ? { from } : {}),
});
const conv = (name: string, cin: number, cout: number, k: number, o: { groups?: number; from?: string[] } = {}): Conv2DLayer => ({
  kind: 'conv2d', name, kernel: randoms(k * k * (cin / (o.groups ?? 1)) * cout), kernelSize: [k, k], inChannels: cin, filters: cout, bias: randoms(cout),
  strides: [1, 1], padding: 'same', activation: 'linear', ...(o.groups ? { groups: o.groups } : {}), ...(o.from ? { from: o.from } : {}),
});

/** A 4×4×2 input, a 3-channel conv, BatchNorm, ReLU, `pool` (to 2×2), flatten and a dense layer of 2. */
const convToDense = (pool: Layer): Network => ({
  inputShape: [4, 4, 2],
  layers: [conv('c1', 2, 3, 3), { kind: 'batchnorm', name: 'bn', scale: randoms(3), offset: randoms(3) }, { kind: 'relu', name: 'r' }, pool, { kind: 'flatten', name: 'f' }, dense('d', 12, 2, 'linear')],
});

describe('removeUnreadUnits', () => {
  it('takes an MLP neuron nobody reads out of its layer, its BatchNorm and the next kernel', () => {
    const network: Network = {
      inputShape: [5],
      layers: [dense('d1', 5, 6, 'linear'), { kind: 'batchnorm', name: 'bn', scale: randoms(6), offset: randoms(6) }, { kind: 'relu', name: 'r' }, dense('d2', 6, 4), dense('d3', 4, 3, 'softmax')],
    };
    for (const row of [1, 4]) zeroInput(weighted(network, 'd2'), row);
    zeroInput(weighted(network, 'd3'), 2);
    const removal = removeUnreadUnits(network);
    expect(weighted(removal.network, 'd1').units).toBe(4);
    expect(weighted(removal.network, 'd2').inputs).toBe(4);
    expect(weighted(removal.network, 'd2').units).toBe(3);
    expect((named(removal.network, 'bn') as { scale: Float32Array }).scale.length).toBe(4);
    expect([...removal.kept.get('d1')!]).toEqual([0, 2, 3, 5]);
    expect([...removal.kept.get('bn')!]).toEqual([0, 2, 3, 5]);
    expect(removal.unitsBefore).toBe(10); // d1 and d2; d3 is the output
    expect(removal.unitsAfter).toBe(7);
    expect(weighted(network, 'd1').units).toBe(6); // the input network is not modified
    expectSameOutputs(network, removal.network);
  });

  it('follows a conv channel through BatchNorm, ReLU, pool and flatten to the dense rows that read it', () => {
    const network = convToDense({ kind: 'maxpool2d', name: 'p', poolSize: [2, 2], strides: [2, 2], padding: 'valid' });
    // Channel 1 is read at three of the four pixels: it stays; then at none: it goes.
    const d = weighted(network, 'd');
    for (const pixel of [0, 1, 2]) zeroInput(d, pixel * 3 + 1);
    expect(removeUnreadUnits(network).kept.size).toBe(0);
    zeroInput(d, 3 * 3 + 1);
    const removal = removeUnreadUnits(network);
    expect(weighted(removal.network, 'c1').filters).toBe(2);
    expect(weighted(removal.network, 'd').inputs).toBe(8);
    expectSameOutputs(network, removal.network);
  });

  it('folds a unit with all-zero weights (a constant) into its reader\'s bias, then removes it', () => {
    const network: Network = {
      inputShape: [5],
      layers: [dense('d1', 5, 6, 'relu'), { kind: 'batchnorm', name: 'bn', scale: randoms(6), offset: randoms(6) }, dense('d2', 6, 4), dense('d3', 4, 3, 'softmax')],
    };
    const before = forwardCpu(network, randoms(5 * 7, 1), 7).output;
    zeroOutput(weighted(network, 'd1'), 2);
    const kernelBefore = Float32Array.from(weighted(network, 'd2').kernel);
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('d1')!]).toEqual([0, 1, 3, 4, 5]);
    expect(weighted(removal.network, 'd2').inputs).toBe(5);
    expect(removal.notes).toContain("'d1': 1 unit with all-zero weights (constant) folded into the bias of 'd2'");
    expect(weighted(network, 'd2').kernel).toEqual(kernelBefore); // the input network is not modified
    expectSameOutputs(network, removal.network, 5, 1e-6);
    expect(relativeError(forwardCpu(removal.network, randoms(5 * 7, 1), 7).output, before)).toBeGreaterThan(1e-3); // the zeroed unit mattered
  });

  it('folds a constant conv channel into a dense reader through BatchNorm, pool and flatten, and into a conv reader only without padding', () => {
    // The pool's border windows count padding: the constant channel's values vary by position.
    const toDense = convToDense({ kind: 'avgpool2d', name: 'p', poolSize: [3, 3], strides: [2, 2], padding: 'same', countIncludePad: true });
    zeroOutput(weighted(toDense, 'c1'), 1);
    const removal = removeUnreadUnits(toDense);
    expect(weighted(removal.network, 'c1').filters).toBe(2);
    expect(weighted(removal.network, 'd').inputs).toBe(8);
    expectSameOutputs(toDense, removal.network, 5, 1e-6);

    const toConv = (padding: Conv2DLayer['padding']): Network => {
      const network: Network = {
        inputShape: [5, 5, 2],
        layers: [conv('c1', 2, 3, 3), { kind: 'relu', name: 'r' }, { ...conv('c2', 3, 2, 3), padding }, { kind: 'flatten', name: 'f' }, dense('d', 50, 2, 'linear')],
      };
      zeroOutput(weighted(network, 'c1'), 0);
      return network;
    };
    const valid = toConv([0, 0, 0, 0]);
    // c2 without padding reads 3×3 valid windows: 3×3×2 features for d, which reads all 50 inputs only in 'same'.
    valid.layers[4] = dense('d', 18, 2, 'linear');
    const folded = removeUnreadUnits(valid);
    expect(weighted(folded.network, 'c1').filters).toBe(2);
    expect(weighted(folded.network, 'c2').inChannels).toBe(2);
    expectSameOutputs(valid, folded.network, 5, 1e-6);
    // With padding the channel's share varies near the borders: it stays.
    const padded = removeUnreadUnits(toConv('same'));
    expect(weighted(padded.network, 'c1').filters).toBe(3);
    expect(padded.notes.some((n) => n.includes('folded'))).toBe(false);
  });

  it('removes a residual sum channel only when no branch and no reader of the sum reads it', () => {
    const build = (): Network => ({
      inputShape: [3, 3, 2],
      layers: [
        conv('a', 2, 4, 3),
        { kind: 'relu', name: 'ra' },
        conv('b', 4, 4, 3),
        { kind: 'add', name: 'sum', from: ['ra', 'b'] },
        { kind: 'relu', name: 'rs' },
        conv('c', 4, 2, 1),
      ],
    });
    const partly = build();
    zeroInput(weighted(partly, 'c'), 1); // the sum's channel 1 is unread, but b reads ra's channel 1
    expect(removeUnreadUnits(partly).kept.size).toBe(0);
    expect(removeUnreadUnits(partly).notes).toContain("conv2d 'c': reads 1 channel of 'rs' no more, which stay (1 read by 'b' through tied channels)");
    const network = build();
    zeroInput(weighted(network, 'c'), 1);
    zeroInput(weighted(network, 'b'), 1);
    const removal = removeUnreadUnits(network);
    expect(weighted(removal.network, 'a').filters).toBe(3);
    expect(weighted(removal.network, 'b').inChannels).toBe(3);
    expect(weighted(removal.network, 'b').filters).toBe(3);
    expect(weighted(removal.network, 'c').inChannels).toBe(3);
    expect(removal.notes.some((n) => n.includes("'sum': 1 of 4"))).toBe(true);
    expectSameOutputs(network, removal.network);
  });

  it('removes a concat member and a depthwise group together (a grouped conv reading them keeps its groups even)', () => {
    const network: Network = {
      inputShape: [3, 3, 2],
      layers: [
        conv('a', 2, 2, 1),
        conv('b', 2, 3, 1, { from: ['input'] }),
        { kind: 'concat', name: 'cat', from: ['a', 'b'] },
        conv('dw', 5, 10, 3, { groups: 5 }),
        { kind: 'relu', name: 'r' },
        conv('pw', 10, 4, 1),
        conv('grouped', 4, 4, 1, { groups: 2 }),
      ],
    };
    // Depthwise outputs 6 and 7 come from concat channel 3 = b's channel 1.
    for (const row of [6, 7]) zeroInput(weighted(network, 'pw'), row);
    const removal = removeUnreadUnits(network);
    expect(weighted(removal.network, 'b').filters).toBe(2);
    expect(weighted(removal.network, 'dw')).toMatchObject({ inChannels: 4, filters: 8, groups: 4 });
    expect(weighted(removal.network, 'pw').inChannels).toBe(8);
    expect(weighted(removal.network, 'a').filters).toBe(2);
    expect(removal.notes.some((n) => n.includes("'grouped'"))).toBe(false); // unchanged: no note
    expectSameOutputs(network, removal.network);
    // One group's input 0 unread: the other group reads both of its own, so both stay.
    const uneven = structuredClone(network);
    for (const f of [0, 1]) weighted(uneven, 'grouped').kernel[f] = 0; // row 0 (channel 0), group 0's outputs
    expect(removeUnreadUnits(uneven).kept.has('pw')).toBe(false);
    expect(removeUnreadUnits(uneven).notes).toContain("conv2d 'grouped': a grouped conv, 2 groups, each 2 → 2 channels before and 2 → 2 after; 1 input channel nobody reads stays, as every group keeps as many");
    // Row 0 of every group (channels 0 and 2) unread: each group keeps one input.
    const even = structuredClone(network);
    zeroInput(weighted(even, 'grouped'), 0);
    const both = removeUnreadUnits(even);
    expect([...both.kept.get('pw')!]).toEqual([1, 3]);
    expect(weighted(both.network, 'grouped')).toMatchObject({ inChannels: 2, filters: 4, groups: 2 });
    expectSameOutputs(even, both.network);
  });

  it('keeps one unit of a layer nobody reads, and never touches the network input or output', () => {
    const network: Network = { inputShape: [3], layers: [dense('d1', 3, 2), dense('d2', 2, 2, 'linear')] };
    zeroInput(weighted(network, 'd1'), 0);
    for (const row of [0, 1]) zeroInput(weighted(network, 'd2'), row);
    const removal = removeUnreadUnits(network);
    expect(weighted(removal.network, 'd1')).toMatchObject({ inputs: 3, units: 1 });
    expect(weighted(removal.network, 'd2')).toMatchObject({ inputs: 1, units: 2 });
    expectSameOutputs(network, removal.network);
  });

  it('follows reads through kept units only: an input read only by a unit that goes goes too', () => {
    const network: Network = { inputShape: [4], layers: [dense('d1', 4, 5), dense('d2', 5, 4), dense('d3', 4, 2, 'linear')] };
    zeroInput(weighted(network, 'd3'), 1); // d2's unit 1 is unread
    const d2 = weighted(network, 'd2');
    for (let f = 0; f < 4; f++) if (f !== 1) d2.kernel[3 * 4 + f] = 0; // d1's unit 3 is read by d2's unit 1 only
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('d2')!]).toEqual([0, 2, 3]);
    expect([...removal.kept.get('d1')!]).toEqual([0, 1, 2, 4]);
    expectSameOutputs(network, removal.network);
  });

  it('removes a residual channel that only its own branch reads (nothing after the sum reads it)', () => {
    const network: Network = {
      inputShape: [3, 3, 2],
      layers: [conv('c0', 2, 4, 3), { kind: 'relu', name: 'r0' }, conv('ca', 4, 4, 1), { kind: 'add', name: 'sum', from: ['r0', 'ca'] }, conv('out', 4, 2, 1)],
    };
    zeroInput(weighted(network, 'out'), 1);
    const ca = weighted(network, 'ca');
    for (let f = 0; f < 4; f++) if (f !== 1) ca.kernel[1 * 4 + f] = 0; // channel 1 feeds only ca's channel 1: itself
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('c0')!]).toEqual([0, 2, 3]);
    expect(weighted(removal.network, 'ca')).toMatchObject({ inChannels: 3, filters: 3 });
    expectSameOutputs(network, removal.network);
  });

  it('drops a grouped conv\'s group whose outputs nobody reads, with the channels only it read', () => {
    const build = (): Network => ({
      inputShape: [4, 4, 3],
      layers: [conv('c1', 3, 8, 1), { kind: 'relu', name: 'r1' }, conv('grouped', 8, 8, 3, { groups: 4 }), { kind: 'relu', name: 'r2' }, conv('c3', 8, 3, 1)],
    });
    const network = build();
    for (const row of [2, 3]) zeroInput(weighted(network, 'c3'), row); // group 1's outputs
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get('c1')!]).toEqual([0, 1, 4, 5, 6, 7]);
    expect(weighted(removal.network, 'grouped')).toMatchObject({ inChannels: 6, filters: 6, groups: 3 });
    expect(weighted(removal.network, 'c3').inChannels).toBe(6);
    expect(removal.notes).toContain("conv2d 'grouped': a grouped conv, groups 4 → 3, each 2 → 2 channels before and 2 → 2 after");
    expectSameOutputs(network, removal.network);
    // One output of one group unread: the others keep two each, so it stays; one of every group: all go.
    const one = build();
    zeroInput(weighted(one, 'c3'), 0);
    expect(removeUnreadUnits(one).kept.size).toBe(0);
    const each = build();
    for (const row of [0, 2, 4, 6]) zeroInput(weighted(each, 'c3'), row);
    const halved = removeUnreadUnits(each);
    expect([...halved.kept.get('grouped')!]).toEqual([1, 3, 5, 7]);
    expect(weighted(halved.network, 'grouped')).toMatchObject({ inChannels: 8, filters: 4, groups: 4 });
    expect(halved.kept.has('c1')).toBe(false);
    expectSameOutputs(each, halved.network);
  });
});

describe('written with fewer units', () => {
  const input = (dims: number[], count: number) => randoms(count * dims.reduce((p, n) => p * n, 1), 1);

  async function onnxRoundTrip(bytes: Uint8Array, dims: number[], zero: (network: Network) => void) {
    const handle = parseOnnxModel(bytes, 'model.onnx');
    const zeroed = structuredClone(handle.network);
    zero(zeroed);
    const removal = removeUnreadUnits(zeroed);
    const x = input(dims, 4);
    const before = await runOnnx(writeOnnxModel(handle, zeroed), x, [4, ...dims]);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    const after = await runOnnx(written, x, [4, ...dims]);
    expect(relativeError(after, before)).toBeLessThan(1e-5);
    return { removal, reread: parseOnnxModel(written, 'written.onnx').network, written };
  }

  it('ONNX: a ResNet block loses a stem channel and a residual channel (folded BatchNorms, Add, view-flatten)', async () => {
    const { bytes, dims } = resnetBlock();
    const { removal, reread } = await onnxRoundTrip(bytes, dims, (network) => {
      const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
      const [, a, b, shortcut] = convs;
      zeroInput(a, 2);
      zeroInput(shortcut, 2); // the stem's channel 2 is read by nobody
      zeroInput(network.layers.find((l): l is DenseLayer => l.kind === 'dense')!, 3); // nor the sum's channel 3
      zeroInput(b, 3); // b reads a's channel 3 no more: a loses it too
    });
    const filters = reread.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d').map((l) => l.filters);
    expect(filters).toEqual([5, 7, 7, 7]);
    expect(removal.unitsAfter).toBe(removal.unitsBefore - 4);
  });

  it('ONNX: a MobileNet block loses a depthwise group through a Concat and a CHW flatten', async () => {
    const { bytes, dims } = mobileNetBlock();
    const { reread } = await onnxRoundTrip(bytes, dims, (network) => {
      const pointwise = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d')[2];
      const gemm = network.layers.find((l): l is DenseLayer => l.kind === 'dense')!;
      for (const row of [6, 7]) zeroInput(pointwise, row); // depthwise outputs of the stem's channel 3
      // The flattened concat (8 channels × 4 × 4, NHWC rows): channels 3 (stem) and 5 (pointwise 1).
      for (let pixel = 0; pixel < 16; pixel++) for (const c of [3, 5]) zeroInput(gemm, pixel * 8 + c);
    });
    const convs = reread.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect(convs.map((l) => [l.inChannels, l.filters, l.groups ?? 1])).toEqual([[3, 3, 1], [3, 6, 3], [6, 3, 1]]);
    expect(reread.layers.find((l): l is DenseLayer => l.kind === 'dense')!.inputs).toBe(6 * 16);
  });

  it('ONNX: a ResNeXt-style grouped conv loses a group and an input of every other group (onnxruntime runs it)', async () => {
    const g = new GraphBuilder(12);
    const reduce = g.node('Relu', [g.batchNorm(g.conv('input', 3, 8, 1, { bias: false }), 8)]);
    const grouped = g.node('Relu', [g.batchNorm(g.conv(reduce, 8, 8, 3, { pad: 1, group: 4, bias: false }), 8)]);
    const expand = g.batchNorm(g.conv(grouped, 8, 4, 1, { bias: false }), 4);
    const bytes = g.model([3, 6, 6], g.gemm(g.viewFlatten(g.node('GlobalAveragePool', [expand]), 13), 4, 3));
    const { reread, removal } = await onnxRoundTrip(bytes, [3, 6, 6], (network) => {
      const [, conv3x3, last] = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
      for (const row of [2, 3]) zeroInput(last, row); // group 1's outputs
      zeroInput(conv3x3, 0); // the first input of every group: channels 0, 4, 6 read by none
    });
    const convs = reread.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    expect(convs.map((l) => [l.inChannels, l.filters, l.groups ?? 1])).toEqual([[3, 3, 1], [3, 6, 3], [6, 4, 1]]);
    expect(removal.unitsAfter).toBe(removal.unitsBefore - 7);
  });

  it('ONNX: a RegNetY-style grouped conv with squeeze-and-excitation loses a group with its gates (onnxruntime runs it)', async () => {
    const g = new GraphBuilder(13);
    const reduce = g.node('Relu', [g.batchNorm(g.conv('input', 3, 8, 1, { bias: false }), 8)]);
    const grouped = g.node('Relu', [g.batchNorm(g.conv(reduce, 8, 8, 3, { pad: 1, group: 4, bias: false }), 8)]);
    const squeeze = g.node('Relu', [g.conv(g.node('GlobalAveragePool', [grouped]), 8, 2, 1)]);
    const gated = g.node('Mul', [grouped, g.node('Sigmoid', [g.conv(squeeze, 2, 8, 1)])]);
    const expand = g.batchNorm(g.conv(gated, 8, 4, 1, { bias: false }), 4);
    const bytes = g.model([3, 6, 6], g.gemm(g.viewFlatten(g.node('GlobalAveragePool', [expand]), 13), 4, 3));
    const { reread } = await onnxRoundTrip(bytes, [3, 6, 6], (network) => {
      // The squeeze and excitation 1×1 convs of the pooled vector read as dense layers.
      const [, , squeeze, , expand] = network.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'conv2d' || l.kind === 'dense');
      for (const row of [2, 3]) {
        zeroInput(squeeze, row); // the squeeze reads group 1's channels no more
        zeroInput(expand, row); // nor does the expand conv after the gate
      }
    });
    const sizes = reread.layers.flatMap((l) => (l.kind === 'conv2d' ? [[l.inChannels, l.filters, l.groups ?? 1]] : l.kind === 'dense' ? [[l.inputs, l.units]] : []));
    expect(sizes).toEqual([[3, 6, 1], [6, 6, 3], [6, 2], [2, 6], [6, 4, 1], [4, 3]]);
  });

  it('ONNX: a BatchNormalization kept as a layer (after a ReLU) loses the removed channel', async () => {
    const g = new GraphBuilder(11);
    const hidden = g.batchNorm(g.node('Relu', [g.gemm('input', 6, 8)]), 8);
    const bytes = g.model([6], g.node('Softmax', [g.gemm(hidden, 8, 3)], [int('axis', -1)]));
    const { reread } = await onnxRoundTrip(bytes, [6], (network) => zeroInput(network.layers.filter((l): l is DenseLayer => l.kind === 'dense')[1], 5));
    const bn = reread.layers.find((l) => l.kind === 'batchnorm') as { scale: Float32Array };
    expect(bn.scale.length).toBe(7);
  });

  it('TF.js: the bundled CNN and MLP lose units, and TF.js runs the written model like the pruned one', async () => {
    for (const [path, shape] of [['test/fixtures/mnist-cnn/model.json', [28, 28, 1]], ['test/fixtures/mnist-mlp/model.json', [784]]] as const) {
      const json = JSON.parse(await readFile(path, 'utf8'));
      const weights = await readFile(path.replace('model.json', 'weights.bin'));
      const handle = await parseTfjsModel(json, new Uint8Array(weights).buffer, path);
      const zeroed = structuredClone(handle.network);
      const layers = zeroed.layers.filter((l): l is DenseLayer | Conv2DLayer => l.kind === 'dense' || l.kind === 'conv2d');
      // Every other input of the second weighted layer, and of the third if it is dense (the flatten's rows by channel).
      const second = layers[1];
      const rows = second.kind === 'dense' ? second.inputs : second.inChannels;
      for (let r = 0; r < rows; r += 2) zeroInput(second, r);
      const removal = removeUnreadUnits(zeroed);
      expect(removal.unitsAfter).toBeLessThan(removal.unitsBefore);
      const written = await writeTfjsModel(handle, removal.network, removal.kept);
      const model = await tf.loadLayersModel(tf.io.fromMemory({ ...JSON.parse(written.modelJson), weightData: written.weightData.buffer, weightSpecs: JSON.parse(written.modelJson).weightsManifest[0].weights }));
      const x = input([...shape], 3);
      const output = model.predict(tf.tensor(x, [3, ...shape])) as tf.Tensor;
      const got = (await output.data()) as Float32Array;
      tf.dispose(output);
      model.dispose();
      const expected = forwardCpu(zeroed, x, 3).output;
      expect(relativeError(got, expected)).toBeLessThan(1e-4);
      const first = (JSON.parse(written.modelJson).modelTopology.model_config?.config.layers ?? JSON.parse(written.modelJson).modelTopology.config.layers) as { class_name: string; config: { units?: number; filters?: number } }[];
      const size = first.find((l) => l.class_name === (layers[0].kind === 'dense' ? 'Dense' : 'Conv2D'))!.config;
      expect(size.units ?? size.filters).toBe(Math.floor(rows / 2));
    }
  });
});
