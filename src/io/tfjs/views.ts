// A Keras Reshape is read only where it is a view a Network already has (browser-safe):
//   - a vector of C values as [1, 1, C]: the globally pooled tensor of squeeze-and-excitation
//     (EfficientNet: GlobalAveragePooling2D → Reshape((1, 1, C)) → Conv2D 1×1 → Conv2D 1×1 →
//     Multiply) and of MobileNet's head (→ Dropout → Conv2D 1×1 → Reshape((classes,))). Ours stays
//     [C]: a 1×1 Conv2D on it is a dense layer, a Multiply by it a per-channel gate;
//     A 1-D network's gate is the vector as [1, C] (GlobalAveragePooling1D → Reshape((1, C))).
//   - any tensor as one axis of all its values: a Flatten (channels-last order, as Keras).
// The written model's target_shape follows the network when channels are removed.
import { InputError } from '../../errors.js';
import type { Json } from '../tfjsCheck.js';

/** 'pooled': [C] viewed as [1, 1, C] ('pooled1d': as [1, C], a sequence's); 'flatten': any shape as [all its values]. */
export type ReshapeView = 'pooled' | 'pooled1d' | 'flatten';

const product = (shape: readonly number[]) => shape.reduce((p, n) => p * n, 1);

/** A Reshape's target_shape (Keras file) or targetShape (TF.js config). */
export function targetShapeField(config: Json): unknown {
  return config.target_shape ?? config.targetShape;
}

/**
 * The view a Reshape of a tensor of shape `input` (after the batch) is, and its output shape; an
 * InputError for any other Reshape. One −1 in the target stands for what the other sizes leave.
 */
export function reshapeView(config: Json, input: readonly number[], where: string): { view: ReshapeView; shape: number[] } {
  const target = targetShapeField(config);
  const expected = `[1, 1, C] or [1, C] of a vector of C values, or [N] of all N values (a flatten), for an input of shape [null, ${input.join(', ')}]`;
  const fail = (): never => {
    throw new InputError(`${where}: target_shape: expected ${expected}, found ${String(JSON.stringify(target) ?? 'nothing').slice(0, 60)}`);
  };
  // TF.js's own config writes the −1 as null.
  if (!Array.isArray(target) || target.length === 0 || !target.every((n) => n === null || (Number.isSafeInteger(n) && (n === -1 || n > 0)))) return fail();
  const sizes = target.map((n: number | null) => n ?? -1);
  const unknown = sizes.filter((n) => n === -1).length;
  const known = product(sizes.filter((n) => n !== -1));
  const total = product(input);
  if (unknown > 1 || total % known !== 0 || (unknown === 0 && known !== total)) return fail();
  const shape = sizes.map((n) => (n === -1 ? total / known : n));
  if (shape.length === 1) return { view: 'flatten', shape };
  if (input.length === 1 && shape.length === 3 && shape[0] === 1 && shape[1] === 1) return { view: 'pooled', shape };
  if (input.length === 1 && shape.length === 2 && shape[0] === 1) return { view: 'pooled1d', shape };
  return fail();
}

/** The target_shape a view writes for a source tensor of shape `source` (the network's, after channels were removed). */
export function viewTarget(view: ReshapeView, source: readonly number[]): number[] {
  const channels = source[source.length - 1];
  return view === 'pooled' ? [1, 1, channels] : view === 'pooled1d' ? [1, channels] : [product(source)];
}
