// Wrapper of shaders/epilogue.wgsl: what a product fuses into its stores (the ADMM state's
// elementwise follow-ups and residual sums), and the Woodbury solve's T = B + E with the same.
import source from '../../../shaders/epilogue.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';
import { ENTRY_CLASS_CODES, SIDED_PRELUDE, type EntryClasses } from './sides.js';

export type Binding = GPUBuffer | GPUBufferBinding;

/** Where fused sums go: channel c, slot s at c·stride + (the dispatch's slot offset) + s. */
export interface PartialSlots {
  buffer: GPUBuffer;
  stride: number;
}

/**
 * See shaders/epilogue.wgsl for the sums each kind adds and the channels it uses. `A` is how the
 * rows×M arrays it reads are held: buffers for one dispatch, or a layer's chunked arrays.
 */
export type Epilogue<A = Binding> = { partials: PartialSlots } & (
  | { kind: 'response'; responseRhs: A; targetY: A; classes: EntryClasses; checked: boolean; /** sided only */ boundV: A | null }
  | { kind: 'squares' }
  | { kind: 'feasibility'; targetY: A; boundV: A | null; classes: EntryClasses }
);

const KIND_CODES: Record<Epilogue['kind'], number> = { response: 1, squares: 2, feasibility: 3 };

/** The cached pipeline of `entryPoint` in `kernel` (named `name`), with the epilogue prepended (it declares `out`). */
export function epiloguePipeline(ws: Workspace, name: string, kernel: string, entryPoint: string, constants: Record<string, number> = {}): GPUComputePipeline {
  return ws.runtime.pipelines.get(name, `${SIDED_PRELUDE}${source}\n${kernel}`, entryPoint, constants);
}

/** Whether the product writes `out` (squares only sums). */
export const storesOutput = (e: Epilogue | undefined): boolean => e?.kind !== 'squares';

/** Extra bytes per output value the epilogue reads or writes (for the dispatch cost counts). */
export function epilogueBytesPerValue(e: Epilogue | undefined): number {
  if (!e) return 0;
  if (e.kind === 'response') return (e.checked ? 16 : 12) + (e.boundV ? 4 : 0); // T (again), B, Y; W1; V
  if (e.kind === 'feasibility') return e.boundV ? 12 : 8; // the response again, Y, V
  return -4; // nothing stored
}

/**
 * How an entry point reads the epilogue's rows×M operands: one entry at a time (epilogueAfter:
 * bindings 41 B, 42 Y, 43 V), four at a time (epilogueAfterResponse4: 46 B, 47 Y, 48 V, vec4
 * views of the same buffers), or both. A dispatch must bind exactly what its entry point reads.
 */
export type EpilogueReads = 'scalar' | 'vector' | 'both';

/**
 * Bindings 4 (`out`), 40, 44 and the reads' bindings of a product's dispatch. The shader
 * references them whatever the kind (it is a uniform), so unused ones get placeholders (writable
 * ones distinct: writable bindings may not alias). `slotOffset` is the dispatch's first
 * partial-sum slot; `count` is woodbury_response's size.
 */
export function epilogueResources(
  ws: Workspace,
  e: Epilogue | undefined,
  o: { out?: Binding; slotOffset?: number; count?: number; reads?: EpilogueReads },
): Record<number, Binding> {
  if (storesOutput(e) && !o.out) throw new Error('a product that stores needs an output buffer');
  const reads = o.reads ?? 'scalar';
  const writable = (slot: number) => ws.placeholder(`unused writable binding ${slot}`, () => ws.storage(64, `unused writable binding ${slot}`));
  const operands: Record<number, Binding> = { 41: ws.dummy, 42: ws.dummy, 43: ws.dummy };
  if (e?.kind === 'response') Object.assign(operands, { 41: e.responseRhs, 42: e.targetY, 43: e.boundV ?? ws.dummy });
  if (e?.kind === 'feasibility') Object.assign(operands, { 42: e.targetY, 43: e.boundV ?? ws.dummy });
  const resources: Record<number, Binding> = { 4: o.out ?? writable(0), 44: writable(1) };
  if (reads !== 'vector') Object.assign(resources, operands);
  if (reads !== 'scalar') Object.assign(resources, { 46: operands[41], 47: operands[42], 48: operands[43] });
  if (!e) {
    resources[40] = ws.placeholder('plain epilogue', () => ws.uniform(packUniforms([['u32', 0]])));
    return resources;
  }
  resources[40] = ws.uniform(
    packUniforms([
      ['u32', KIND_CODES[e.kind]],
      ['u32', 'classes' in e ? ENTRY_CLASS_CODES[e.classes] : 0],
      ['u32', e.kind === 'response' && e.checked ? 1 : 0],
      ['u32', o.slotOffset ?? 0],
      ['u32', e.partials.stride],
      ['u32', o.count ?? 0],
      ['u32', (e.kind === 'feasibility' || e.kind === 'response') && e.boundV ? 1 : 0],
    ]),
  );
  resources[44] = e.partials.buffer;
  return resources;
}

/** The same epilogue with each rows×M array replaced by `part(array)` (one chunk's buffer). */
export function mapEpilogue<A, B>(e: Epilogue<A>, part: (array: A) => B): Epilogue<B> {
  if (e.kind === 'response') return { ...e, responseRhs: part(e.responseRhs), targetY: part(e.targetY), boundV: e.boundV && part(e.boundV) };
  if (e.kind === 'feasibility') return { ...e, targetY: part(e.targetY), boundV: e.boundV && part(e.boundV) };
  return e;
}

const WORKGROUP = 256;
/** woodburyResponse's workgroups at most: 16 384 invocations, each summing into its own slot. */
const MAX_GROUPS = 64;

/** At least 16 groups of four entries per invocation: the partial sums stay under 1/64 of the entries (×14 channels). */
const woodburyGroups = (count: number): number => Math.max(1, Math.min(Math.ceil(count / (64 * WORKGROUP)), MAX_GROUPS));

/** Partial-sum slots woodburyResponse uses for `count` values (one per invocation). */
export const woodburyResponseSlots = (count: number): number => woodburyGroups(count) * WORKGROUP;

/** T = B + E (the Woodbury solve's response), with the response epilogue. Reads B, E, Y (and W1 in T when checked); writes T. */
export function woodburyResponse(
  ws: Workspace,
  o: { count: number; correction: GPUBuffer; response: GPUBuffer; epilogue: Epilogue & { kind: 'response' } },
): Dispatch {
  const pipeline = epiloguePipeline(ws, 'woodbury', '', 'woodbury_response');
  const resources = epilogueResources(ws, o.epilogue, { out: o.response, count: o.count, reads: 'vector' });
  return ws.dispatch('T = B + E', pipeline, { ...resources, 45: o.correction }, [woodburyGroups(o.count)], {
    bytes: 4 * o.count * 4,
    flops: 6 * o.count,
  });
}
