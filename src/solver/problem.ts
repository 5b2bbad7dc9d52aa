// Validates solveLayer's options and turns them into one normalized float64 problem that both
// backends solve (net-trim.md §1 and the normalization at the top of §3).
import { InputError } from '../errors.js';
import { checkImagePatches, designOf, inputColumns, inputRows, isImagePatches, maxColumnNormSquared, type Design } from './design.js';
import type { Activation, Backend, LayerInput, Matrix, SolveLayerOptions, Tolerances } from './types.js';

/** Entries of Y above this are the active set Ω (the reference code's threshold); for a clipped ReLU, also below the upper clamp by this. */
export const ACTIVE_THRESHOLD = 1e-6;

/** The side of an entry of the program: in Ω (the ε-ball around Y), below its bound, above its bound. */
export const ON_SUPPORT = 0;
export const BELOW = 1;
export const ABOVE = 2;

export const DEFAULTS = {
  activation: 'relu' as Activation,
  epsilonGain: 0.05,
  bias: true,
  rho: 10,
  relaxation: 1.8,
  adaptiveRho: true,
  // relative 10⁻³: the residuals only propose a stop, the float64 certificate (the ε-ball with the
  // off-support excess in it, and the duality gap) decides; 10⁻⁴ cost conv layers 3–5× the
  // iterations for the same certificate (bench/README.md "Iterations").
  tolerances: { absolute: 1e-6, relative: 1e-3, feasibility: 1e-3, gap: 0.01 } as Tolerances,
  maxIterations: 20_000,
  checkEvery: 50,
  backend: 'webgpu' as Backend,
};

export interface LayerProblem {
  activation: Activation;
  bias: boolean;
  samples: number; // P
  inputs: number; // N without the bias column
  columns: number; // N1 = N (+1 with bias): rows of the weight matrix being solved for
  outputs: number; // M
  /** c0 = 0.3·max column norm of X (= 0.3·√max entry of XXᵀ); X, Y, V, ε are divided by it. */
  scale: number;
  /** The normalized input X/c0 (P×N1, bias column of 1/c0 last), as an operator. */
  design: Design;
  /**
   * P×M normalized target on Ω (minus the offset). Without `sides`: for 'relu' zero off Ω, so Ω
   * is exactly where Y > 0. With `sides`: the bound of the entries that must stay ABOVE it.
   */
  Y: Float64Array;
  /** P×M normalized bound of the entries that must stay BELOW it (minus the offset); null means 0. */
  V: Float64Array | null;
  /**
   * Each entry's side (ON_SUPPORT, BELOW, ABOVE) when Ω cannot be read off Y's sign (a clipped
   * ReLU, or an offset); null otherwise ('linear': all ON_SUPPORT; 'relu': Y > 0 or BELOW).
   */
  sides: Uint8Array | null;
  /** 'clip': the clamps. */
  clip: [number, number] | null;
  /** structure 'inputs': the group of each weight row (inputs, or input channels; the bias row its own), and their count. */
  groups: { ofRow: Int32Array; count: number; span: number } | null;
  epsilon: number; // original units
  epsilonScaled: number;
  rho: number;
  relaxation: number;
  adaptiveRho: boolean;
  tolerances: Tolerances;
  maxIterations: number;
  checkEvery: number;
  /** The caller's data; `design` here is X unnormalized (scale 1) for the report's checks. */
  original: { X: LayerInput; design: Design; Y: Matrix; V: Matrix | null; offset: Matrix | null };
}

function checkMatrix(m: Matrix | undefined, field: string): Matrix {
  if (!m || typeof m !== 'object') throw new InputError(`${field}: expected a matrix {rows, cols, data}, found ${m}`);
  const { rows, cols, data } = m;
  if (!Number.isInteger(rows) || !Number.isInteger(cols) || rows < 1 || cols < 1)
    throw new InputError(`${field}: expected positive integer rows and cols, found ${rows}×${cols}`);
  if (!(data instanceof Float32Array || data instanceof Float64Array))
    throw new InputError(`${field}: expected Float32Array or Float64Array data`);
  if (data.length !== rows * cols)
    throw new InputError(`${field}: expected ${rows}×${cols} = ${rows * cols} values, found ${data.length}`);
  for (let i = 0; i < data.length; i++) {
    if (!Number.isFinite(data[i]))
      throw new InputError(`${field}: expected finite values, found ${data[i]} at row ${Math.floor(i / cols)}, column ${i % cols}`);
  }
  return m;
}

function positive(value: number | undefined, fallback: number, field: string, integer = false): number {
  const v = value ?? fallback;
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v)))
    throw new InputError(`${field}: expected a positive ${integer ? 'integer' : 'number'}, found ${value}`);
  return v;
}

export function prepareLayerProblem(options: SolveLayerOptions): LayerProblem {
  const activation = options.activation ?? DEFAULTS.activation;
  if (activation !== 'relu' && activation !== 'linear' && activation !== 'clip')
    throw new InputError(`activation: expected 'relu', 'clip' or 'linear', found '${activation}'`);
  const clip = activation === 'clip' ? (options.clip ?? [0, 6]) : null;
  if (clip && !(Array.isArray(clip) && clip.length === 2 && clip[0] < clip[1] && clip[0] < Infinity && Number.isFinite(clip[1])))
    throw new InputError(`clip: expected [lower, upper] with lower < upper, upper finite (lower may be -Infinity), found ${JSON.stringify(options.clip)}`);
  const X: LayerInput = options.X && isImagePatches(options.X) ? checkImagePatches(options.X, 'X') : checkMatrix(options.X as Matrix, 'X');
  const Y = checkMatrix(options.Y, 'Y');
  if (inputRows(X) !== Y.rows)
    throw new InputError(`Y: expected ${inputRows(X)} samples (rows) like X, found ${Y.rows}`);
  const V = activation !== 'linear' && options.V ? checkMatrix(options.V, 'V') : null;
  if (V && (V.rows !== Y.rows || V.cols !== Y.cols))
    throw new InputError(`V: expected the shape of Y (${Y.rows}×${Y.cols}), found ${V.rows}×${V.cols}`);
  const offset = options.offset ? checkMatrix(options.offset, 'offset') : null;
  if (offset && (offset.rows !== Y.rows || offset.cols !== Y.cols))
    throw new InputError(`offset: expected the shape of Y (${Y.rows}×${Y.cols}), found ${offset.rows}×${offset.cols}`);
  const [low, high] = activation === 'relu' ? [0, Infinity] : (clip ?? [-Infinity, Infinity]);
  if (activation !== 'linear') {
    for (let i = 0; i < Y.data.length; i++)
      if (Y.data[i] < low || Y.data[i] > high)
        throw new InputError(
          `Y: expected ${activation === 'relu' ? 'a ReLU output (no negative values)' : `a clipped output (values in [${low}, ${high}])`} for activation '${activation}', found ${Y.data[i]} at row ${Math.floor(i / Y.cols)}, column ${i % Y.cols}`,
        );
  }
  if (options.epsilon !== undefined && options.epsilonGain !== undefined)
    throw new InputError('epsilon: give either epsilon or epsilonGain, not both');
  for (const [field, v] of [['epsilon', options.epsilon], ['epsilonGain', options.epsilonGain]] as const)
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) throw new InputError(`${field}: expected a number ≥ 0, found ${v}`);
  const rho = positive(options.rho ?? options.warmStart?.rho, DEFAULTS.rho, options.rho === undefined && options.warmStart ? 'warmStart.rho' : 'rho');
  const relaxation = options.relaxation ?? DEFAULTS.relaxation;
  if (!(typeof relaxation === 'number' && relaxation > 0 && relaxation < 2))
    throw new InputError(`relaxation: expected a number in (0, 2), found ${options.relaxation}`);
  const maxIterations = positive(options.maxIterations, DEFAULTS.maxIterations, 'maxIterations', true);
  const checkEvery = positive(options.checkEvery, DEFAULTS.checkEvery, 'checkEvery', true);
  const tolerances: Tolerances = {
    absolute: positive(options.tolerances?.absolute, DEFAULTS.tolerances.absolute, 'tolerances.absolute'),
    relative: positive(options.tolerances?.relative, DEFAULTS.tolerances.relative, 'tolerances.relative'),
    feasibility: positive(options.tolerances?.feasibility, DEFAULTS.tolerances.feasibility, 'tolerances.feasibility'),
    gap: positive(options.tolerances?.gap, DEFAULTS.tolerances.gap, 'tolerances.gap'),
  };

  const bias = options.bias ?? DEFAULTS.bias;
  const P = inputRows(X);
  const N = inputColumns(X);
  const N1 = N + (bias ? 1 : 0);
  const M = Y.cols;

  // c0: the largest entry of XXᵀ sits on its diagonal, so it is the largest squared column norm.
  const maxColumnSq = Math.max(bias ? P : 0, maxColumnNormSquared(X));
  const scale = maxColumnSq > 0 ? 0.3 * Math.sqrt(maxColumnSq) : 1;

  // Sides: Ω strictly between the clamps (by ACTIVE_THRESHOLD), BELOW at the lower clamp, ABOVE at
  // the upper; the offset moves every target and bound into the layer's own terms.
  const sided = activation === 'clip' || (activation === 'relu' && offset !== null);
  const sides = sided ? new Uint8Array(P * M) : null;
  const Yn = new Float64Array(P * M);
  const Vn = V || sided ? new Float64Array(P * M) : null;
  let ySq = 0;
  for (let i = 0; i < Yn.length; i++) {
    const y = Y.data[i];
    const s = offset ? offset.data[i] : 0;
    ySq += y * y;
    if (activation === 'linear') Yn[i] = (y - s) / scale;
    else if (y > low + ACTIVE_THRESHOLD && y < high - ACTIVE_THRESHOLD) Yn[i] = (y - s) / scale;
    else if (y >= high - ACTIVE_THRESHOLD) {
      sides![i] = ABOVE;
      Yn[i] = ((V ? V.data[i] : high) - s) / scale;
    } else {
      if (sides) sides[i] = BELOW;
      if (Vn) Vn[i] = ((V ? V.data[i] : low) - s) / scale;
    }
  }
  if (options.warmStart) checkWarmStart(options.warmStart, N1, M, P);
  const structure = options.structure ?? 'weights';
  if (structure !== 'weights' && structure !== 'inputs') throw new InputError(`structure: expected 'weights' or 'inputs', found '${structure}'`);
  const inputChannels = options.inputChannels;
  if (inputChannels !== undefined && !(Number.isInteger(inputChannels) && inputChannels >= 1 && !isImagePatches(X) && N % inputChannels === 0))
    throw new InputError(`inputChannels: expected a whole number ≥ 1 dividing the dense input's ${N} columns (the channels of a flattened image), found ${inputChannels}`);
  const span = options.groupSpan ?? 1;
  const channelsIn = isImagePatches(X) ? X.channels : (inputChannels ?? N);
  if (!(Number.isInteger(span) && span >= 1 && channelsIn % span === 0))
    throw new InputError(`groupSpan: expected a whole number ≥ 1 dividing the ${channelsIn} input channels (a head's inputs), found ${span}`);
  const groups = structure === 'inputs' ? inputGroups(X, bias, inputChannels, span) : null;
  const epsilon = options.epsilon ?? (options.epsilonGain ?? DEFAULTS.epsilonGain) * Math.sqrt(ySq);

  return {
    activation,
    bias,
    samples: P,
    inputs: N,
    columns: N1,
    outputs: M,
    scale,
    design: designOf(X, bias, scale),
    Y: Yn,
    V: Vn,
    sides,
    clip,
    groups,
    epsilon,
    epsilonScaled: epsilon / scale,
    rho,
    relaxation,
    adaptiveRho: options.adaptiveRho ?? DEFAULTS.adaptiveRho,
    tolerances,
    maxIterations,
    checkEvery,
    original: { X, design: designOf(X, bias), Y, V, offset },
  };
}

function checkWarmStart(state: SolveLayerOptions['warmStart'] & object, columns: number, outputs: number, samples: number): void {
  const sizes = { W3: columns * outputs, W2: columns * outputs, U2: columns * outputs, U1: samples * outputs } as const;
  for (const [key, size] of Object.entries(sizes) as Array<[keyof typeof sizes, number]>) {
    const values: unknown = state[key];
    if (!(values instanceof Float32Array || values instanceof Float64Array) || values.length !== size)
      throw new InputError(
        `warmStart.${key}: expected ${size} values (${key === 'U1' ? `${samples} samples` : `${columns} weight rows`} × ${outputs} outputs), found ${ArrayBuffer.isView(values) ? (values as Float32Array).length : typeof values}: warm starts need a problem of the same shape`,
      );
  }
}

/** The side of entry i (ON_SUPPORT, BELOW or ABOVE). */
export function entrySide(problem: LayerProblem, i: number): number {
  if (problem.sides) return problem.sides[i];
  return problem.activation === 'linear' || problem.Y[i] > 0 ? ON_SUPPORT : BELOW;
}

/**
 * How far a response passes entry i's off-support bound (normalized units): above V (0 without
 * V), or below Y on an ABOVE entry. Not for ON_SUPPORT entries.
 */
export function offSupportExcess(problem: LayerProblem, i: number, response: number): number {
  return entrySide(problem, i) === ABOVE ? problem.Y[i] - response : response - (problem.V ? problem.V[i] : 0);
}

/** Ω membership of entry i of the normalized target. */
export function isActive(problem: LayerProblem, i: number): boolean {
  return entrySide(problem, i) === ON_SUPPORT;
}

/**
 * The input group of each weight row: row r of a conv's (kh·kw·cin) rows reads channel r mod cin;
 * a dense row is its input, or with `inputChannels` C (a flattened NHWC image) channel r mod C;
 * the bias row is the last group. With `span` d > 1, d channels in a run are one group (an attention
 * head): row r's group is ⌊r / d⌋ mod (channels / d).
 */
export function inputGroups(X: LayerInput, bias: boolean, inputChannels?: number, span = 1): { ofRow: Int32Array; count: number; span: number } {
  const inputs = inputColumns(X);
  const channels = (isImagePatches(X) ? X.channels : (inputChannels ?? inputs)) / span;
  const ofRow = new Int32Array(inputs + (bias ? 1 : 0));
  for (let r = 0; r < inputs; r++) ofRow[r] = Math.floor(r / span) % channels;
  if (bias) ofRow[inputs] = channels;
  return { ofRow, count: channels + (bias ? 1 : 0), span };
}

/** Σ_g ‖W_g‖₂ over the rows' groups of an N1×M matrix, and the group norms. */
export function groupNorms(groups: { ofRow: Int32Array; count: number }, W: ArrayLike<number>, M: number): Float64Array {
  const sq = new Float64Array(groups.count);
  for (let r = 0; r < groups.ofRow.length; r++) {
    let s = 0;
    for (let m = 0; m < M; m++) s += W[r * M + m] ** 2;
    sq[groups.ofRow[r]] += s;
  }
  return sq.map(Math.sqrt);
}
