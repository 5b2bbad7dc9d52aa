#!/usr/bin/env node
// Prints the WebGPU adapter Dawn finds (exit 0), or why there is none (exit 3): run.sh's check
// before the suite, so a missing loader or driver shows as one line, not a failed benchmark.
// Also prints what the adapter offers only with Dawn's unsafe APIs allowed (experimental features
// such as chromium-experimental-subgroup-matrix, and its matrix configurations), for issue 17's
// question of what this Dawn exposes on the GPU.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.error('probe: no WebGPU adapter');
  process.exit(3);
}
const { vendor, architecture, device, description, subgroupMinSize, subgroupMaxSize } = adapter.info;
console.log(`probe: ${[vendor, architecture, device, description].filter(Boolean).join(' ')}; subgroups ${subgroupMinSize}–${subgroupMaxSize} wide`);
const unsafe = await create(['enable-dawn-features=allow_unsafe_apis']).requestAdapter({ powerPreference: 'high-performance' });
if (unsafe) {
  const extra = [...unsafe.features].filter((f) => !adapter.features.has(f)).sort();
  console.log(`probe: with allow_unsafe_apis also: ${extra.join(', ') || 'nothing'}; subgroup matrix configurations: ${JSON.stringify(unsafe.info.subgroupMatrixConfigs ?? null)}`);
}
process.exit(0);
