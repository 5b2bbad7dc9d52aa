// ConvTranspose (PyTorch's ConvTranspose2d/1d: U-Net and autoencoder decoders, GAN generators) as
// the layers of ours that compute it: zeros between the input's pixels (an insertzeros layer, for
// strides above 1), then an ordinary conv of stride 1 with the kernel flipped and the padding
// k − 1 − pad on each side (+ output_padding at the bottom and right). The conv is Net-Trim's to
// prune; the writer puts its kernel back in ConvTranspose's [cin, cout, kh, kw] layout.
import type { Conv2DLayer } from '../../network/types.js';
import { listText, shapeText, transposedToHwio } from './common.js';
import type { Handler } from './context.js';
import { isSequence, windowOutput } from './graphReader.js';
import { liftedAttributes, stridesOf } from './windowOps.js';

export const convTranspose: Handler = (ctx, index) => {
  const { reader } = ctx;
  const given = reader.attributes(index, ['auto_pad', 'dilations', 'group', 'kernel_shape', 'output_padding', 'pads', 'strides']);
  const x = ctx.net(index, 0, { sequence: true });
  const [C, H, W] = reader.requireImage(index, x);
  const sequence = isSequence(x);
  const attrs = sequence ? liftedAttributes(reader, index, given) : given;
  const autoPad = reader.stringAttribute(index, attrs, 'auto_pad', 'NOTSET');
  const groups = reader.intAttribute(index, attrs, 'group', 1);
  const dilations = reader.intsAttribute(index, attrs, 'dilations') ?? [];
  if ((autoPad !== 'NOTSET' && autoPad !== '' && autoPad !== 'VALID') || groups !== 1 || dilations.some((d) => d !== 1))
    throw reader.nodeError(index, `auto_pad ${autoPad}, group ${groups}, dilations ${listText(dilations)}: expected explicit pads, one group and no dilation`);
  const weight = reader.constInput(index, 1, 'weight');
  const { dims: given4d, values } = reader.weightValues(index, weight, 'weight');
  const wDims = !sequence ? given4d : given4d.length === 3 ? [given4d[0], given4d[1], 1, given4d[2]] : [];
  if (wDims.length !== 4 || wDims[0] !== C)
    throw reader.nodeError(index, `weight '${weight.root}' has shape ${shapeText(given4d)}: expected ${sequence ? `[${C}, cout, k]` : `[${C}, cout, kh, kw]`} (ConvTranspose's [cin, cout, …], ${C} input channels)`);
  const [, cout, kh, kw] = wDims;
  const strides = stridesOf(reader, index, attrs);
  const pads = reader.intsAttribute(index, attrs, 'pads') ?? [0, 0, 0, 0];
  const extra = sequence ? [0, ...(reader.intsAttribute(index, given, 'output_padding') ?? [0])] : (reader.intsAttribute(index, attrs, 'output_padding') ?? [0, 0]);
  // The equivalent conv's padding: k − 1 − pad before, k − 1 − pad + output_padding after.
  const padding: [number, number, number, number] = [kh - 1 - pads[0], kw - 1 - pads[1], kh - 1 - pads[2] + extra[0], kw - 1 - pads[3] + extra[1]];
  if (pads.length !== 4 || extra.length !== 2 || padding.some((p) => p < 0) || extra.some((e, d) => e < 0 || e >= strides[d]))
    throw reader.nodeError(index, `pads ${listText(pads)}, output_padding ${listText(extra)} for a ${kh}×${kw} kernel at stride ${strides.join('×')}: expected each pad at most k − 1 and output_padding below the stride`);
  // Output rows past the last input's reach (output_padding beyond the kernel) would be the bias alone: the solver's patches refuse such windows.
  if (padding[2] >= kh || padding[3] >= kw)
    throw reader.nodeError(index, `output_padding ${listText(extra)} with pads ${listText(pads)} for a ${kh}×${kw} kernel: expected the last output rows and columns within the kernel's reach (output_padding at most the end pad)`);
  const name = reader.layerName(index);
  let source = x;
  if (strides[0] > 1 || strides[1] > 1)
    source = ctx.emit(index, { kind: 'insertzeros', name: reader.uniqueName(`${name}:zeros`), strides }, [x], windowOutput(x, C, (H - 1) * strides[0] + 1, (W - 1) * strides[1] + 1));
  const biasConst = reader.optionalConstInput(index, 2, 'bias');
  const bias = biasConst ? reader.weightValues(index, biasConst, 'bias').values : null;
  if (bias && bias.length !== cout) throw reader.nodeError(index, `bias '${biasConst!.root}': expected ${cout} values`);
  const outH = (H - 1) * strides[0] + 1 + padding[0] + padding[2] - kh + 1;
  const outW = (W - 1) * strides[1] + 1 + padding[1] + padding[3] - kw + 1;
  const layer: Conv2DLayer = {
    kind: 'conv2d', name, kernel: transposedToHwio(values, C, cout, kh, kw), kernelSize: [kh, kw], inChannels: C, filters: cout, bias, strides: [1, 1],
    padding: padding.every((p) => p === 0) ? 'valid' : padding, activation: 'linear',
  };
  ctx.emit(index, layer, [source], windowOutput(x, cout, outH, outW));
  const output = reader.nodes[index].output?.[0] ?? '';
  reader.bindings.push({
    kind: 'conv2d', op: 'ConvTranspose', layer: name, node: reader.describe(index), output, weight: weight.root, bias: biasConst?.root ?? null, weightReader: index, biasReader: biasConst ? index : null,
    filters: cout, inChannels: C, groups: 1, kernelSize: [kh, kw], foldedBatchNorm: null, ...(sequence ? { sequence: true as const } : {}),
  });
};
