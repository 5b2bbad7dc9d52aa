#!/usr/bin/env node
// Prints the WebGPU adapter Dawn finds (exit 0), or why there is none (exit 3): run.sh's check
// before the suite, so a missing loader or driver shows as one line, not a failed benchmark.
import { create, globals } from 'webgpu';

Object.assign(globalThis, globals);
const gpu = create([]);
const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
if (!adapter) {
  console.error('probe: no WebGPU adapter');
  process.exit(3);
}
const { vendor, architecture, device, description } = adapter.info;
console.log(`probe: ${[vendor, architecture, device, description].filter(Boolean).join(' ')}`);
process.exit(0);
