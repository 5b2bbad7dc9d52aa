// The library's browser-safe API (no Node built-ins). Node adds file helpers in ./node.ts.
export { solveLayer } from './solver/solveLayer.js';
export type * from './solver/types.js';
export { InputError, GpuError } from './errors.js';
export { acquireGpu, type GpuRuntime } from './gpu/device.js';
export { parseNpy, serializeNpy, npyToMatrix, assertFinite } from './io/npy.js';
export type { NpyArray, NpyData, NpyDtype, NpyFloatArray, ParseNpyOptions } from './io/npy.js';
