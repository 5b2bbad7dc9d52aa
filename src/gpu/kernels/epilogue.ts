// Wrapper of shaders/epilogue.wgsl: what a product fuses into its stores (the ADMM state's
// elementwise follow-ups and residual sums), and the Woodbury solve's T = B + E with the same.
import source from '../../../shaders/epilogue.wgsl';
import { Shader, type Binding } from '../shaderInterface.js';
import type { Dispatch, Workspace } from '../workspace.js';
import { SHADER_PRELUDE } from './channels.js';
import { ENTRY_CLASS_CODES, type EntryClasses } from './sides.js';

export type { Binding };

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

/** epilogueAfterResponse4 entry by entry: the epilogue without its three vec4 views. */
const SCALAR_RESPONSE4 = `fn epilogueAfterResponse4(index: u32, sums: ptr<function, EpilogueSums>) {
  for (var e = 0u; e < 4u; e++) { epilogueAfter(index + e, sums); }
}
`;
/** The sections that read through the views: epilogueAfterResponse4's, and the Woodbury pass. */
const VECTOR_VIEWS = /\/\/ vec4 views: begin[^\n]*\n[\s\S]*?\/\/ vec4 views: end\n/g;

/**
 * A kernel's module (named `name`) with the epilogue prepended (it declares `out`), after WGSL
 * `directives`; without `vectorViews`, its vec4 views are left out (reads: 'scalar' only).
 */
export function withEpilogue(name: string, kernel: string, directives = '', vectorViews = true): Shader {
  let sections = 0;
  const epilogue = vectorViews ? source : source.replace(VECTOR_VIEWS, () => (sections++ === 0 ? SCALAR_RESPONSE4 : ''));
  if (!vectorViews && sections !== 2) throw new Error(`shaders/epilogue.wgsl: expected 2 "vec4 views" sections, found ${sections}`);
  return new Shader(name, `${directives}${SHADER_PRELUDE}${epilogue}\n${kernel}`);
}

/** The epilogue on its own: woodbury_response, and the names of the bindings it declares. */
const woodbury = withEpilogue('woodbury', '');

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
 * epilogueRhs B, epilogueTarget Y, epilogueBound V), four at a time (epilogueAfterResponse4:
 * epilogueRhs4, epilogueTarget4, epilogueBound4, vec4 views of the same buffers), or both. A
 * dispatch must bind exactly what its entry point reads.
 */
export type EpilogueReads = 'scalar' | 'vector' | 'both';

/**
 * The epilogue's resources of a product's dispatch, by WGSL name (`out`, its uniforms, its
 * partial sums and the reads'): give them to the kernel's Shader.resources. The shader references
 * them whatever the kind (it is a uniform), so unused ones get placeholders (writable ones
 * distinct: writable bindings may not alias). `slotOffset` is the dispatch's first partial-sum
 * slot; `count` is woodbury_response's size.
 */
export function epilogueResources(
  ws: Workspace,
  e: Epilogue | undefined,
  o: { out?: Binding; slotOffset?: number; count?: number; reads?: EpilogueReads },
): Record<string, Binding> {
  if (storesOutput(e) && !o.out) throw new Error('a product that stores needs an output buffer');
  const reads = o.reads ?? 'scalar';
  const writable = (slot: number) => ws.placeholder(`unused writable binding ${slot}`, () => ws.storage(64, `unused writable binding ${slot}`));
  const operands = { rhs: ws.dummy as Binding, target: ws.dummy as Binding, bound: ws.dummy as Binding };
  if (e?.kind === 'response') Object.assign(operands, { rhs: e.responseRhs, target: e.targetY, bound: e.boundV ?? ws.dummy });
  if (e?.kind === 'feasibility') Object.assign(operands, { target: e.targetY, bound: e.boundV ?? ws.dummy });
  const resources: Record<string, Binding> = { out: o.out ?? writable(0), epiloguePartials: e?.partials.buffer ?? writable(1) };
  if (reads !== 'vector') Object.assign(resources, { epilogueRhs: operands.rhs, epilogueTarget: operands.target, epilogueBound: operands.bound });
  if (reads !== 'scalar') Object.assign(resources, { epilogueRhs4: operands.rhs, epilogueTarget4: operands.target, epilogueBound4: operands.bound });
  resources.epilogue = !e
    ? ws.placeholder('plain epilogue', () => ws.uniform(epilogueUniforms({ kind: 0, linear: 0, checked: 0, partialOffset: 0, partialStride: 0, count: 0, hasBound: 0 }), 'EpilogueParams (plain)'))
    : ws.uniform(
        epilogueUniforms({
          kind: KIND_CODES[e.kind],
          linear: 'classes' in e ? ENTRY_CLASS_CODES[e.classes] : 0,
          checked: e.kind === 'response' && e.checked ? 1 : 0,
          partialOffset: o.slotOffset ?? 0,
          partialStride: e.partials.stride,
          count: o.count ?? 0,
          hasBound: (e.kind === 'feasibility' || e.kind === 'response') && e.boundV ? 1 : 0,
        }),
        'EpilogueParams',
      );
  return resources;
}

/** The epilogue's uniforms (the struct is the same in every module it is prepended to). */
const epilogueUniforms = (values: Record<string, number>) => woodbury.uniforms('EpilogueParams', values);

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
  const pipeline = woodbury.pipeline(ws.runtime, 'woodbury_response');
  const resources = epilogueResources(ws, o.epilogue, { out: o.response, count: o.count, reads: 'vector' });
  return ws.dispatch('T = B + E', pipeline, woodbury.resources({ ...resources, correction: o.correction }), [woodburyGroups(o.count)], {
    bytes: 4 * o.count * 4,
    flops: 6 * o.count,
  });
}
