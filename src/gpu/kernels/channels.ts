// The named scalar channels: slot c of the GPU `scalars` buffer and channel c of the partial sums
// (c·stride + slot) that reductions.wgsl's sumPartials adds into it. Written once here: the WGSL
// constants (CHANNEL_R1, …) come from CHANNEL_PRELUDE, prepended to the shaders that read or
// write them, and the engine reads scalars by the same names (r1 … u2 are its ResidualSums).
//   distance          ‖(Z − Y)_Ω‖², Z = W3ᵀX − U1: the next projection's norm (every iteration)
//   r1 … u1           ‖W1 − T‖², ‖ΔT‖², ‖W1‖², ‖T‖², ‖U1‖² (a block's last iteration, P×M side)
//   r2 … u2           ‖W2 − W3‖², ‖ΔW3‖², ‖W2‖², ‖W3‖², ‖U2‖² (the same, N×M side)
//   activeSq, offSupportExcessSq   the answer's violations ‖(XW2 − Y)_Ω‖², Σ (XW2 − V − limit)₊² on Ωᶜ
// The response-side channels 0..5 are also the indices of the epilogue's per-invocation sums, and
// r2..u2 are consecutive in that order (weightResidualPartials writes r2..w3 as one vec4; its
// const_assert says so).
import { SIDED_PRELUDE } from './sides.js';

export const CHANNELS = {
  distance: 0,
  r1: 1,
  s1: 2,
  w1: 3,
  t: 4,
  u1: 5,
  r2: 6,
  s2: 7,
  w2: 8,
  w3: 9,
  u2: 10,
  activeSq: 11,
  offSupportExcessSq: 12,
} as const;

export type Channel = keyof typeof CHANNELS;

/** Floats in `scalars` (and channels in a partial-sums buffer). */
export const SCALAR_CHANNELS = Object.keys(CHANNELS).length;

/** The WGSL name of a channel: `activeSq` → CHANNEL_ACTIVE_SQ. */
export const wgslChannelName = (name: Channel): string => `CHANNEL_${name.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`;

export const CHANNEL_PRELUDE = Object.entries(CHANNELS)
  .map(([name, c]) => `const ${wgslChannelName(name as Channel)}: u32 = ${c}u;\n`)
  .join('');

/** The constants TS defines for the proximal, reductions and epilogue shaders, prepended to them. */
export const SHADER_PRELUDE = SIDED_PRELUDE + CHANNEL_PRELUDE;
