// The TypeScript side of a shader's interface, read from the WGSL itself: each uniform struct's
// fields (names, order, types) and each binding's number by variable name. Kernel wrappers pack
// uniforms and bind buffers by these names, so the WGSL is the one place where field order and
// binding numbers are written: reorder a struct or renumber a binding there and TS follows; rename
// one, or misspell a name in TS, and building the dispatch throws (every kernel is exercised by the
// tests) instead of a silently misread uniform. (Plain Errors: a mismatch is a bug here, not a GPU failure.)
import type { GpuRuntime } from './device.js';

export type Binding = GPUBuffer | GPUBufferBinding;

export interface StructField {
  name: string;
  type: string;
}

export interface BindingDeclaration {
  binding: number;
  group: number;
  /** 'uniform' or 'storage' (with its access mode, e.g. 'storage, read_write'). */
  space: string;
  /** The declared type: a struct name for a uniform, array<…> for storage. */
  type: string;
}

export interface ShaderInterface {
  structs: ReadonlyMap<string, readonly StructField[]>;
  /** Module-scope resource variables by name (WGSL names are unique per module). */
  bindings: ReadonlyMap<string, BindingDeclaration>;
}

/** The source without comments (line and block), so commented-out declarations do not count. */
const withoutComments = (code: string) => code.replace(/\/\*[\s\S]*?\*\//g, ' ').replace(/\/\/[^\n]*/g, '');

/** `text` split at its commas outside <…> (a field's type may be array<u32, 8>). */
function topLevelParts(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === '<') depth++;
    else if (text[i] === '>') depth--;
    else if (text[i] === ',' && depth === 0) {
      parts.push(text.slice(start, i));
      start = i + 1;
    }
  }
  return [...parts, text.slice(start)];
}

/** Parses the declarations a wrapper depends on (structs of scalar fields, @group/@binding variables). */
export function parseShaderInterface(code: string): ShaderInterface {
  const text = withoutComments(code);
  const structs = new Map<string, StructField[]>();
  for (const [, name, body] of text.matchAll(/\bstruct\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = topLevelParts(body)
      .map((f) => f.trim())
      .filter(Boolean)
      .map((f) => {
        const match = /^(\w+)\s*:\s*(.+)$/.exec(f);
        if (!match) throw new Error(`struct ${name}: cannot read the field '${f}'`);
        return { name: match[1], type: match[2].trim() };
      });
    structs.set(name, fields);
  }
  const bindings = new Map<string, BindingDeclaration>();
  for (const [, group, binding, space, name, type] of text.matchAll(/@group\((\d+)\)\s*@binding\((\d+)\)\s*var\s*<([^>]+)>\s*(\w+)\s*:\s*([^;]+);/g))
    bindings.set(name, { group: Number(group), binding: Number(binding), space: space.replace(/\s+/g, ' ').trim(), type: type.trim() });
  return { structs, bindings };
}

/** Field types a uniform may have here: 4-byte scalars, so field i sits at byte 4·i. */
const SCALAR_SETTERS: Record<string, (view: DataView, offset: number, value: number) => void> = {
  u32: (view, offset, value) => view.setUint32(offset, value, true),
  i32: (view, offset, value) => view.setInt32(offset, value, true),
  f32: (view, offset, value) => view.setFloat32(offset, value, true),
};

/**
 * One shader module: its WGSL (with whatever TS prepends), parsed once, and its pipelines. Tests
 * may create one to check a source's interface; wrappers create one per module at load.
 */
export class Shader {
  readonly interface: ShaderInterface;

  constructor(
    /** The pipeline cache's key for the module. */
    readonly name: string,
    readonly code: string,
  ) {
    this.interface = parseShaderInterface(code);
  }

  /** The cached compute pipeline of `entryPoint` with these override constants. */
  pipeline(runtime: GpuRuntime, entryPoint: string, constants: Record<string, number> = {}): GPUComputePipeline {
    return runtime.pipelines.get(this.name, this.code, entryPoint, constants);
  }

  /**
   * The bytes of uniform struct `struct` with every field given by name (16-byte padded, as a
   * uniform binding wants). Throws for a missing or unknown field, or a type it cannot pack.
   */
  uniforms(struct: string, values: Readonly<Record<string, number>>): ArrayBuffer {
    const fields = this.interface.structs.get(struct);
    if (!fields) throw new Error(`${this.name}: no struct ${struct} in the shader`);
    const unknown = Object.keys(values).filter((key) => !fields.some((f) => f.name === key));
    if (unknown.length) throw new Error(`${this.name}: struct ${struct} has no field ${unknown.join(', ')}`);
    const data = new ArrayBuffer(Math.ceil(Math.max(fields.length, 1) / 4) * 16);
    const view = new DataView(data);
    fields.forEach((field, i) => {
      const set = SCALAR_SETTERS[field.type];
      if (!set) throw new Error(`${this.name}: ${struct}.${field.name} is ${field.type}; only u32, i32 and f32 fields are packed`);
      const value = values[field.name];
      if (value === undefined) throw new Error(`${this.name}: ${struct}.${field.name} not given`);
      set(view, 4 * i, value);
    });
    return data;
  }

  /** The binding numbers of resources given by their WGSL variable names (for Workspace.dispatch). */
  resources(named: Readonly<Record<string, Binding>>): Record<number, Binding> {
    const out: Record<number, Binding> = {};
    for (const [name, resource] of Object.entries(named)) {
      const declaration = this.interface.bindings.get(name);
      if (!declaration) throw new Error(`${this.name}: no binding named ${name} in the shader`);
      out[declaration.binding] = resource;
    }
    return out;
  }
}
