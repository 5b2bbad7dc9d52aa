// ShuffleNet V2's channel split (Slice, Split) and channel shuffle (Reshape, Transpose, Reshape)
// read as gather layers: the indices the shuffle writes, structured pruning that shrinks a
// branch's inner channels and leaves the gathered ones, and one-line errors for what is not a
// split or a shuffle; PixelShuffle and PixelUnshuffle (DepthToSpace, SpaceToDepth, the Reshape →
// Transpose → Reshape of pixel_unshuffle) as rearranges. Import, both prunes and the GPU forward
// pass: dagModels.test.ts's list.
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { parseOnnxModel, writeOnnxModel } from '../src/io/onnxModel.js';
import { describeNetwork } from '../src/network/describe.js';
import { forwardCpu } from '../src/network/forwardCpu.js';
import { gatherForward } from '../src/network/cpuOps.js';
import type { Conv2DLayer, GatherLayer } from '../src/network/types.js';
import { removeUnreadUnits } from '../src/prune/removeUnits.js';
import { shuffleNetBlock } from './helpers/dagGraphs.js';
import { GraphBuilder, imageSamples, int, ints, nchwToNhwc, relativeError, runOnnx, str } from './helpers/onnxGraphs.js';

const samples = (count: number, seed: number) => imageSamples([3, 6, 6], count, seed);

describe('ShuffleNet units read as gathers', () => {
  it('the split as two channel ranges (Slice) and two outputs (Split), the shuffle as output channel k = input (k mod 2)·4 + ⌊k/2⌋', () => {
    const { network } = parseOnnxModel(shuffleNetBlock().bytes, 's.onnx');
    const gathers = network.layers.filter((l): l is GatherLayer => l.kind === 'gather');
    expect(gathers.map((l) => l.indices)).toEqual([[0, 1, 2, 3], [4, 5, 6, 7], [0, 4, 1, 5, 2, 6, 3, 7], [0, 1, 2, 3], [4, 5, 6, 7], [0, 4, 1, 5, 2, 6, 3, 7]]);
    // The Split's two outputs are two layers with their own names.
    expect(gathers[3].name).not.toBe(gathers[4].name);
    const details = describeNetwork(network, 'nchw').layers.filter((l) => l.kind === 'gather').map((l) => l.details);
    expect(details.slice(0, 3)).toEqual(['channels 0–3 of 8', 'channels 4–7 of 8', '8 of 8 channels reordered (0, 4, 1, 5, 2, 6, …)']);
  });

  it('gatherForward picks channels per position (a test of the float64 op on its own)', () => {
    const x = Float64Array.from([10, 11, 12, 20, 21, 22]); // two positions of three channels
    expect([...gatherForward(x, 3, [2, 0, 0])]).toEqual([12, 10, 10, 22, 20, 20]);
  });
});

describe('a Split with an output nobody reads', () => {
  it('reads the parts that are read, and computes what onnxruntime computes', async () => {
    const g = new GraphBuilder(5);
    const x = g.node('Relu', [g.conv('input', 3, 8, 3, { pad: 1 })]);
    const [a, , c] = g.nodeOutputs('Split', [x, g.int64([2, 3, 3])], 3, [int('axis', 1)]);
    const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [g.node('Concat', [a, c], [int('axis', 1)])])], [int('axis', 1)]), 5, 2);
    const bytes = g.model([3, 6, 6], out);
    const { network } = parseOnnxModel(bytes, 'split.onnx');
    expect(network.layers.filter((l): l is GatherLayer => l.kind === 'gather').map((l) => l.indices)).toEqual([[0, 1], [5, 6, 7]]);
    const { nchw, ours } = samples(2, 8);
    expect(relativeError(forwardCpu(network, ours, 2).output, await runOnnx(bytes, nchw, [2, 3, 6, 6]))).toBeLessThan(1e-5);
  });
});

describe('structured pruning through a shuffle', () => {
  it("removes a branch's inner channel with its filters; the channels a gather reads or writes stay; onnxruntime runs the written model", async () => {
    const c = shuffleNetBlock();
    const handle = parseOnnxModel(c.bytes, 's.onnx');
    const network = structuredClone(handle.network);
    const convs = network.layers.filter((l): l is Conv2DLayer => l.kind === 'conv2d');
    // convs: stem, branch 1 (1×1, depthwise, 1×1), branch 2 (1×1, depthwise, 1×1).
    const [stem, inner, , outer] = convs;
    // The last 1×1 conv of branch 1 no longer reads depthwise channel 1: it goes, with the first 1×1 conv's filter 1.
    outer.kernel.fill(0, 1 * 4, 2 * 4);
    // The stem's channel 5 (read by the Slice's gather) stays even when nobody reads it downstream.
    const removal = removeUnreadUnits(network);
    expect([...removal.kept.get(inner.name)!]).toEqual([0, 2, 3]);
    expect(removal.kept.has(stem.name)).toBe(false);
    expect(removal.kept.has(outer.name)).toBe(false);
    const { nchw, ours } = samples(3, 4);
    const want = forwardCpu(network, ours, 3).output;
    expect(relativeError(forwardCpu(removal.network, ours, 3).output, want)).toBeLessThan(1e-12);
    const written = writeOnnxModel(handle, removal.network, removal.kept);
    expect(relativeError(await runOnnx(written, nchw, [3, ...c.dims]), want)).toBeLessThan(1e-5);
  });
});

describe('what is not a channel split or shuffle is refused naming the node', () => {
  function errorOf(build: (g: GraphBuilder, x: string) => string): string {
    const g = new GraphBuilder(3);
    const x = g.node('Relu', [g.conv('input', 3, 8, 3, { pad: 1 })]);
    const out = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [build(g, x)])], [int('axis', 1)]), 8, 2);
    try {
      parseOnnxModel(g.model([3, 6, 6], out), 'bad.onnx');
    } catch (e) {
      expect(e).toBeInstanceOf(InputError);
      return (e as Error).message;
    }
    return 'no error';
  }
  it('a Slice with a step, of the channels or of the height (a crop has step 1)', () => {
    expect(errorOf((g, x) => g.node('Concat', [g.node('Slice', [x, g.int64([0]), g.int64([8]), g.int64([1]), g.int64([2])]), g.node('Slice', [x, g.int64([1]), g.int64([8]), g.int64([1]), g.int64([2])])], [int('axis', 1)]))).toMatch(
      /node \d+ \('\/slice\/Slice_\d+', op Slice\): starts \[0\], ends \[8\], axes \[1\]: expected one range of channels \(axis 1, step 1\), or ranges of H and W \(a crop, step 1\), of a computed tensor/,
    );
    expect(errorOf((g, x) => g.node('Slice', [x, g.int64([0]), g.int64([3]), g.int64([2]), g.int64([2])]))).toMatch(/op Slice\): starts \[0\], ends \[3\], axes \[2\]: expected one range of channels/);
  });

  it('a Split whose sizes do not add up to the channels', () => {
    expect(errorOf((g, x) => g.node('Concat', g.nodeOutputs('Split', [x, g.int64([3, 4])], 2, [int('axis', 1)]), [int('axis', 1)]))).toMatch(/op Split\): split \[3,4\]: expected 2 positive sizes adding up to the 8 channels/);
  });

  it('a shuffle whose groups do not divide the channels, and a chain that does not end in an image', () => {
    const shuffle = (g: GraphBuilder, x: string, first: number[], perm: number[], back = [0, -1, 6, 6]) => g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [x, g.int64(first)])], [ints('perm', perm)]), g.int64(back)]);
    expect(errorOf((g, x) => shuffle(g, x, [0, 3, 3, 6, 6], [0, 2, 1, 3, 4]))).toMatch(/op Reshape\): shape \[0,3,3,6,6\]: expected a channel shuffle of \[batch, 8, 6, 6\]/);
    expect(errorOf((g, x) => shuffle(g, x, [0, 2, 4, 6, 6], [0, 1, 2, 4, 3], [0, -1]))).toMatch(/op Reshape\): shape \[1,288\] after perm \[0,1,2,4,3\] of \[1, 2, 4, 6, 6\]: expected an image \[batch, C, H, W\]/);
  });
});

describe('PixelShuffle and PixelUnshuffle (super-resolution): channels moved to blocks of pixels and back', () => {
  /** conv → DepthToSpace (PyTorch's CRD, or DCR) → conv → pixel_unshuffle as PyTorch writes it, or SpaceToDepth → conv. */
  const model = (mode: 'CRD' | 'DCR', unshuffle: 'chain' | 'op') => {
    const g = new GraphBuilder(7);
    const up = g.node('DepthToSpace', [g.conv('input', 3, 8, 3, { pad: 1 })], [int('blocksize', 2), str('mode', mode)]); // [2, 12, 12]
    const c = g.conv(up, 2, 4, 3, { pad: 1 });
    const down =
      unshuffle === 'op' ? g.node('SpaceToDepth', [c], [int('blocksize', 2)])
      : g.node('Reshape', [g.node('Transpose', [g.node('Reshape', [c, g.int64([-1, 4, 6, 2, 6, 2])])], [ints('perm', [0, 1, 3, 5, 2, 4])]), g.int64([-1, 16, 6, 6])]);
    return g.model([3, 6, 6], g.conv(down, 16, 2, 1), 13);
  };
  const x = samples(5, 3);
  for (const [mode, unshuffle] of [['CRD', 'chain'], ['DCR', 'op']] as const)
    it(`DepthToSpace ${mode}, pixel_unshuffle ${unshuffle === 'op' ? 'as SpaceToDepth' : 'as Reshape, Transpose, Reshape'}: what onnxruntime computes`, async () => {
      const bytes = model(mode, unshuffle);
      const { network } = parseOnnxModel(bytes, 'p.onnx');
      expect(network.layers.map((l) => l.kind)).toEqual(['conv2d', 'rearrange', 'conv2d', 'rearrange', 'conv2d']);
      const theirs = await runOnnx(bytes, x.nchw, [5, 3, 6, 6]);
      expect(relativeError(forwardCpu(network, x.ours, 5).output, nchwToNhwc(theirs, 5, 2, 6, 6))).toBeLessThan(1e-5);
    });
});
