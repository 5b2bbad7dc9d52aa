// How the proximal and epilogue kernels class the entries of a program's P×M arrays (the
// solver's sides, solver/problem.ts), as the `linear` uniform of both:
//   'relu'   (0): Ω where Y > 0; elsewhere below V (0 when V is not bound);
//   'linear' (1): every entry in Ω;
//   'sided'  (2): V ≥ SIDED_BOUND marks Ω; V ≤ −SIDED_BOUND an entry that stays above its bound,
//                 held in Y; any other entry stays below V (a clipped ReLU, or an offset).
export type EntryClasses = 'relu' | 'linear' | 'sided';

export const ENTRY_CLASS_CODES: Record<EntryClasses, number> = { relu: 0, linear: 1, sided: 2 };

/** The marker value, written once here: the WGSL constant comes from it (SIDED_PRELUDE). */
const SIDED_BOUND_TEXT = '1e30';
export const SIDED_BOUND = Number(SIDED_BOUND_TEXT);

/** Prepended to proximal.wgsl and epilogue.wgsl. */
export const SIDED_PRELUDE = `const SIDED_BOUND: f32 = ${SIDED_BOUND_TEXT};\n`;
