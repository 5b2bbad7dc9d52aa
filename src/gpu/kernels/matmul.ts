// Wrapper of shaders/matmul.wgsl.
import source from '../../../shaders/matmul.wgsl';
import { packUniforms, type Dispatch, type Workspace } from '../workspace.js';

export interface MatmulSpec {
  label: string;
  /** op(A) is m×k: A is stored m×k, or k×m with transposeA. */
  a: GPUBuffer;
  /** op(B) is k×n: B is stored k×n, or n×k with transposeB. */
  b: GPUBuffer;
  /** Written: m×n. Must not be a, b or addend. */
  out: GPUBuffer;
  /** Read when beta ≠ 0: m×n. */
  addend?: GPUBuffer;
  m: number;
  n: number;
  k: number;
  transposeA?: boolean;
  transposeB?: boolean;
  alpha?: number;
  beta?: number;
}

const TILE = 64;

/** out = alpha·op(A)·op(B) + beta·addend. Reads a, b, addend; writes out. */
export function matmul(ws: Workspace, spec: MatmulSpec): Dispatch {
  const pipeline = ws.runtime.pipelines.get('matmul', source, 'matmul', {
    TRANSPOSE_A: spec.transposeA ? 1 : 0,
    TRANSPOSE_B: spec.transposeB ? 1 : 0,
  });
  const beta = spec.beta ?? 0;
  if (beta !== 0 && !spec.addend) throw new Error(`${spec.label}: beta ≠ 0 needs an addend`);
  const uniforms = ws.uniform(
    packUniforms([['u32', spec.m], ['u32', spec.n], ['u32', spec.k], ['f32', spec.alpha ?? 1], ['f32', beta]]),
  );
  return ws.dispatch(
    spec.label,
    pipeline,
    { 0: uniforms, 1: spec.a, 2: spec.b, 3: spec.addend ?? ws.dummy, 4: spec.out },
    [Math.ceil(spec.n / TILE), Math.ceil(spec.m / TILE)],
    { bytes: 4 * (spec.m * spec.k + spec.k * spec.n + spec.m * spec.n * (beta !== 0 ? 2 : 1)), flops: 2 * spec.m * spec.n * spec.k },
  );
}
