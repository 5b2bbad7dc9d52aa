// Internal pieces exposed for the benchmarks in bench/ (not a stable API).
export { acquireGpu } from './gpu/device.js';
export { prepareLayerProblem } from './solver/problem.js';
export { CpuAdmmEngine } from './solver/cpuSolver.js';
export { GpuAdmmEngine } from './solver/gpu/gpuSolver.js';
export { admmIteration } from './solver/gpu/admmIteration.js';
export { designOf, materializePatches } from './solver/design.js';
export { programInput } from './prune/layerPrograms.js';
export { gpuMatmulCandidates, matmul, matmulDispatches, MATMUL_VARIANTS, pipelineDepth, tuneMatmul } from './gpu/kernels/matmul.js';
export { subgroupKernelsRun } from './gpu/kernels/subgroups.js';
export { spdInverseOfIdentityPlus } from './solver/spdInverse.js';
export { encodeDispatches, Workspace } from './gpu/workspace.js';
