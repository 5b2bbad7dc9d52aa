// The sample arrays a network takes (--samples, the page's samples, samplesForModel): one
// definition for the check, its message and `net-trim inspect`.

/**
 * How the model's users hold samples: ONNX (PyTorch) NCHW images or NCL sequences, TF.js NHWC
 * images or NLC sequences. A sequence of L steps runs as the image [1, L, C].
 */
export type ImageLayout = 'nchw' | 'nhwc' | 'ncl' | 'nlc';

export interface SampleShape {
  /** One sample's shape (the array is (P, ...shape)). */
  shape: number[];
  /** Channels first (NCHW, NCL), converted to the network's channels-last on loading. */
  nchw: boolean;
  /** In words: 'NCHW', 'NHWC', 'NCL', 'NLC', 'flattened' (images, sequences) or '' (other inputs). */
  layout: string;
}

/**
 * The per-sample shapes accepted for a network input of `inputShape` (NHWC for images, [1, L, C]
 * for sequences): the users' layout first, and, where it is unambiguous (one channel, or not an
 * image), the network's own shape and the flattened vector.
 */
export function sampleShapes(inputShape: readonly number[], layout: ImageLayout): SampleShape[] {
  const image = inputShape.length === 3;
  const [h, w, c] = inputShape;
  const size = inputShape.reduce((a, b) => a * b, 1);
  if (image && h === 1 && (layout === 'ncl' || layout === 'nlc')) {
    const first = layout === 'ncl' ? { shape: [c, w], nchw: true, layout: 'NCL' } : { shape: [w, c], nchw: false, layout: 'NLC' };
    return c === 1 ? [first, { shape: [size], nchw: false, layout: 'flattened' }] : [first];
  }
  const shapes: SampleShape[] = [];
  const channelsFirst = layout === 'nchw' || layout === 'ncl';
  if (image && channelsFirst) shapes.push({ shape: [c, h, w], nchw: true, layout: 'NCHW' });
  if (!(image && channelsFirst && c !== 1)) shapes.push({ shape: [...inputShape], nchw: false, layout: image ? 'NHWC' : '' });
  if (inputShape.length > 1 && (!image || c === 1)) shapes.push({ shape: [size], nchw: false, layout: image ? 'flattened' : '' });
  return shapes;
}

/** The shapes as text: "(P, 1, 28, 28) NCHW or (P, 28, 28, 1) NHWC or (P, 784) flattened". */
export const sampleShapesText = (shapes: readonly SampleShape[]): string => shapes.map((s) => `(P, ${s.shape.join(', ')})${s.layout ? ` ${s.layout}` : ''}`).join(' or ');
