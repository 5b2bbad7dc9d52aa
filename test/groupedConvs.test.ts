// Grouped convs (ResNeXt's cardinality): unit removal drops a group whose outputs nobody reads
// (with the channels only it read) and keeps as many channels in every group it keeps; structured
// Net-Trim on a layer reading a grouped conv groups its inputs by the conv's groups. Fixture:
// test/fixtures/torch2/resnext.onnx (scripts/resnext_fixture.py: PyTorch 2's TorchScript export,
// BatchNorms folded into the grouped convs).
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import type { Conv2DLayer, Layer, Network } from '../src/network/types.js';
import { pruneNetwork } from '../src/prune/pruneNetwork.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { mnistFixtures, zeroInput } from './helpers/models.js';
import { relativeError, runOnnx } from './helpers/onnxGraphs.js';
import { gaussianSource, mulberry32 } from './helpers/random.js';

const { digits } = await mnistFixtures();
const path = new URL('./fixtures/torch2/resnext.onnx', import.meta.url).pathname;
const bytes = new Uint8Array(await readFile(path));
const count = 20;
const input = digits.slice(0, count * 784); // one channel: NCHW and NHWC agree

const conv = (network: Network, name: string) => network.layers.find((l) => l.name === name) as Conv2DLayer;
const body = (block: number, part: number) => `/blocks/blocks.${block}/body/body.${part}/body.${part}.0/Conv`;

describe('grouped convs', () => {
  it('a PyTorch ResNeXt (16 groups of 4 channels, BatchNorms folded) reads as onnxruntime computes it', async () => {
    const { network } = parseOnnxModel(bytes, path);
    expect(network.layers.filter((l) => l.kind === 'conv2d' && l.groups === 16)).toHaveLength(2);
    expect(relativeError(forwardCpu(network, input, count).output, await runOnnx(bytes, input, [count, 1, 28, 28]))).toBeLessThan(1e-5);
  });

  it('loses two groups of one block and an input of every group of the other; onnxruntime runs the written model', async () => {
    const handle = parseOnnxModel(bytes, path);
    const zeroed = structuredClone(handle.network);
    for (const group of [3, 10]) for (let c = 4 * group; c < 4 * group + 4; c++) zeroInput(conv(zeroed, body(0, 4)), c); // block 0: groups 3 and 10 unread
    zeroInput(conv(zeroed, body(1, 2)), 0); // block 1: the first input of every group
    const removal = removeUnreadUnits(zeroed);
    const shape = (name: string) => {
      const l = conv(removal.network, name);
      return [l.inChannels, l.filters, l.groups ?? 1];
    };
    expect(shape(body(0, 0))).toEqual([16, 56, 1]);
    expect(shape(body(0, 2))).toEqual([56, 56, 14]);
    expect(shape(body(0, 4))).toEqual([56, 32, 1]);
    expect(shape(body(1, 0))).toEqual([32, 48, 1]);
    expect(shape(body(1, 2))).toEqual([48, 64, 16]);
    expect(removal.notes).toContain(`conv2d '${body(0, 2)}': a grouped conv, groups 16 → 14, each 4 → 4 channels before and 4 → 4 after`);
    expect(removal.notes).toContain(`conv2d '${body(1, 2)}': a grouped conv, 16 groups, each 4 → 4 channels before and 3 → 4 after`);
    const expected = forwardCpu(zeroed, input, count).output;
    expect(relativeError(forwardCpu(removal.network, input, count).output, expected)).toBeLessThan(1e-6);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(written, input, [count, 1, 28, 28]), expected)).toBeLessThan(1e-5);
    const reread = parseOnnxModel(written, 'written.onnx').network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d' && (l.groups ?? 1) > 1);
    expect(reread.map((l) => l.groups)).toEqual([14, 16]);
  });

  it('structured Net-Trim on a layer reading a grouped conv zeroes whole groups, which then go', async () => {
    const normal = gaussianSource(mulberry32(17));
    const randoms = (n: number, scale: number) => Float32Array.from({ length: n }, () => scale * normal());
    const layer = (name: string, cin: number, cout: number, k: number, groups = 1): Conv2DLayer => ({
      kind: 'conv2d', name, kernel: randoms(k * k * (cin / groups) * cout, Math.sqrt(2 / (k * k * (cin / groups)))), kernelSize: [k, k], inChannels: cin, filters: cout,
      bias: randoms(cout, 0.1), strides: [1, 1], padding: 'same', activation: 'linear', ...(groups > 1 ? { groups } : {}),
    });
    const relu = (name: string): Layer => ({ kind: 'relu', name });
    const network: Network = { inputShape: [5, 5, 3], layers: [layer('c1', 3, 8, 1), relu('r1'), layer('grouped', 8, 8, 3, 4), relu('r2'), layer('c3', 8, 3, 1)] };
    // c3 barely reads group 1 (channels 2, 3) and channel 4 (group 2, whose channel 5 it reads fully).
    const c3 = conv(network, 'c3');
    for (const c of [2, 3, 4]) for (let f = 0; f < 3; f++) c3.kernel[c * 3 + f] *= 0.02;
    const samples = { data: randoms(80 * 75, 1), count: 80 };
    const result = await pruneNetwork(network, samples, { backend: 'cpu', structure: 'inputs', mode: 'parallel', epsilonGain: 0.05, exclude: ['c1', 'grouped'] });
    const pruned = conv(result.network, 'c3');
    const zeroRows = Array.from({ length: 8 }, (_, c) => c).filter((c) => [0, 1, 2].every((f) => pruned.kernel[c * 3 + f] === 0));
    expect(zeroRows).toEqual([2, 3]); // group 1 whole; channel 4 stays with its group
    const removal = removeUnreadUnits(result.network);
    expect(conv(removal.network, 'grouped')).toMatchObject({ inChannels: 6, filters: 6, groups: 3 });
    expect([...removal.kept.get('c1')!]).toEqual([0, 1, 4, 5, 6, 7]);
  });
});
