// The sample arrays a network takes (--samples, the page's samples, samplesForModel): one
// definition for the check, its message and `net-trim inspect`.

/** How the model's users hold image samples: ONNX (PyTorch) NCHW, TF.js NHWC. */
export type ImageLayout = 'nchw' | 'nhwc';

export interface SampleShape {
  /** One sample's shape (the array is (P, ...shape)). */
  shape: number[];
  /** An NCHW image, converted to the network's NHWC on loading. */
  nchw: boolean;
  /** In words: 'NCHW', 'NHWC', 'flattened' (images) or '' (other inputs). */
  layout: string;
}

/**
 * The per-sample shapes accepted for a network input of `inputShape` (NHWC for images): an image
 * in the users' layout, and, where it is unambiguous (one channel, or not an image), the network's
 * own shape and the flattened vector.
 */
export function sampleShapes(inputShape: readonly number[], layout: ImageLayout): SampleShape[] {
  const image = inputShape.length === 3;
  const [h, w, c] = inputShape;
  const shapes: SampleShape[] = [];
  if (image && layout === 'nchw') shapes.push({ shape: [c, h, w], nchw: true, layout: 'NCHW' });
  if (!(image && layout === 'nchw' && c !== 1)) shapes.push({ shape: [...inputShape], nchw: false, layout: image ? 'NHWC' : '' });
  if (inputShape.length > 1 && (!image || c === 1)) shapes.push({ shape: [inputShape.reduce((a, b) => a * b, 1)], nchw: false, layout: image ? 'flattened' : '' });
  return shapes;
}

/** The shapes as text: "(P, 1, 28, 28) NCHW or (P, 28, 28, 1) NHWC or (P, 784) flattened". */
export const sampleShapesText = (shapes: readonly SampleShape[]): string => shapes.map((s) => `(P, ${s.shape.join(', ')})${s.layout ? ` ${s.layout}` : ''}`).join(' or ');
