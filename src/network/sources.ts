// Which tensors a layer reads, by name: one definition for the graph check (graph.ts) and the
// input parts' check (inputParts.ts), which graph.ts calls.
import type { Layer } from './types.js';

/** The tensors layer i reads, by name: its `from`, else the layer before it (the input for the first). */
export function sourceNames(layers: readonly Layer[], i: number, inputName: string): string[] {
  return layers[i].from ?? [i === 0 ? inputName : layers[i - 1].name];
}
