// Llama-family decoders (Llama, Mistral, Qwen2, Phi-3 and the like): RMSNorm (PyTorch's nodes
// fused into a layernorm of `rms`, io/onnx/rmsNorm.ts), rotary position embeddings (x·cos +
// rotate_half(x)·sin: Slice, Neg, Concat and a mul by the tables, folded for the length read;
// TorchScript computes them by MatMul, Cos and Sin), grouped-query attention (repeat_kv's Expand of
// computed heads), a SiLU-gated MLP and the last real token. Fixtures (test/fixtures/torch2,
// scripts/torch2-fixtures.mjs): tiny random classifiers, Llama through dynamo, Qwen2 and Phi-3
// (whose rotary slices an empty pass-through part) through TorchScript, on the mask samples.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { forwardCpu, type Network } from '../src/index.js';
import type { LayerNormLayer } from '../src/network/types.js';
import { onnx } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnx/reader.js';
import { loadModelFile } from '../src/io/modelFiles.js';
import { samplesForModel } from '../src/io/samples.js';
import { layerNormForward } from '../src/network/cpuOps.js';
import { expectGpuForwardMatches, gpuForTests } from './helpers/gpu.js';
import { accuracyOf, mnistFixtures } from './helpers/models.js';
import { relativeError } from './helpers/onnxGraphs.js';
import { pruneTextStructured, maskFixtures } from './helpers/textModels.js';

const { fixtures, labels } = await mnistFixtures();
const gpu = await gpuForTests();
const { dir, samplesPath, mask, arrays, sizes } = await maskFixtures(fixtures);
const llama = join(dir, 'hf-llama-mask.onnx');
const qwen2 = join(dir, 'hf-qwen2-mask-torchscript.onnx');
const phi3 = join(dir, 'hf-phi3-mask-torchscript.onnx');
const COUNT = 12;

const norms = (network: Network) => network.layers.filter((l): l is LayerNormLayer => l.kind === 'layernorm');

describe('Llama-family decoders: read', () => {
  it('RMSNorm: x / √(mean(x²) + ε), scaled, nothing subtracted', () => {
    // [3, 4]: mean square 12.5; [1, −1]: 1.
    const out = layerNormForward(Float64Array.of(3, 4, 1, -1), [2, 1], [0, 0.5], 0.5, true);
    const a = 1 / Math.sqrt(12.5 + 0.5);
    const b = 1 / Math.sqrt(1 + 0.5);
    expect(Array.from(out)).toEqual([6 * a, 4 * a + 0.5, 2 * b, -b + 0.5].map((v) => expect.closeTo(v, 12)));
  });

  for (const [file, label] of [
    [llama, 'hf-llama-mask (dynamo: the rotary tables constants)'],
    [qwen2, 'hf-qwen2-mask-torchscript (the tables computed by MatMul, Cos and Sin)'],
    [phi3, 'hf-phi3-mask-torchscript (an empty slice joined)'],
  ])
    it(`${label} reads to what onnxruntime computes on padded samples`, async () => {
      const model = await loadModelFile(file, sizes);
      // Two per block and the final one, each an RMSNorm with the drawn weights.
      const rms = norms(model.network);
      expect(rms.map((l) => l.rms)).toEqual([true, true, true, true, true]);
      expect(rms.every((l) => l.scale.some((v) => v !== 1) && l.offset.every((v) => v === 0))).toBe(true);
      const samples = samplesForModel(arrays, model, samplesPath, { maxSamples: COUNT });
      const theirs = await mask.runtimeOutputs(file, COUNT);
      const ours = forwardCpu(model.network, samples.data, COUNT).output;
      expect(relativeError(ours, theirs)).toBeLessThan(1e-5);
      // The mean matters: a LayerNorm in its place computes other logits.
      const centred: Network = { ...model.network, layers: model.network.layers.map((l) => (l.kind === 'layernorm' ? { ...l, rms: undefined } : l)) };
      expect(relativeError(forwardCpu(centred, samples.data, COUNT).output, theirs)).toBeGreaterThan(0.01);
    });

  it('TorchScript exports at another length: the rotary tables fold for 30 tokens', async () => {
    for (const file of [qwen2, phi3]) {
      const short = await loadModelFile(file, { dims: { sequence_length: 30 } });
      expect(relativeError(forwardCpu(short.network, mask.packed(COUNT, 30), COUNT).output, await mask.runtimeOutputs(file, COUNT, 30))).toBeLessThan(1e-5);
    }
  });

  it('refuses an empty slice joined with more than one other tensor, naming the Concat', async () => {
    const model = onnx.ModelProto.decode(new Uint8Array(await readFile(phi3)));
    const concat = model.graph!.node!.find((n) => n.opType === 'Concat' && (n.input ?? []).some((i) => i.endsWith('Slice_4_output_0')))!;
    concat.input = [concat.input![0], concat.input![0], concat.input![1]];
    const bytes = new Uint8Array(onnx.ModelProto.encode(model).finish());
    expect(() => parseOnnxModel(bytes, 'p.onnx', { dims: { sequence_length: 49 } })).toThrow(/^p\.onnx: node \d+ \('[^']*Concat[^']*', op Concat\): joins 1 empty slices and 2 other inputs: expected one computed tensor beside them$/);
  });

  for (const file of [llama, qwen2])
    it.skipIf(!gpu)(`${file.split('/').pop()} on the GPU: outputs and every prunable layer's input and target equal the float64 pass`, async () => {
      const model = await loadModelFile(file, sizes);
      const { data } = samplesForModel(arrays, model, samplesPath, { maxSamples: 4 });
      await expectGpuForwardMatches(gpu!, model.network, data, 4);
    });
});

describe('Llama-family decoders: net-trim prune --structured', () => {
  // (Qwen2 prunes as Llama does: read above, its prune left out for time.)
  for (const file of [llama, phi3])
    it(`${file.split('/').pop()}: the gated MLPs narrower, the written model runs in onnxruntime to the reported discrepancy and accuracy`, async () => {
      const count = 16;
      const { report, model: bytes } = await pruneTextStructured(file, samplesPath, labels, count);
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      // Gate and up lose the same neurons (their product feeds down); Phi-3's fused gate_up_proj
      // loses them in pairs (its chunk's halves are multiplied). The residual stream keeps its
      // channels (RMSNorm reads them all).
      const layers: { before: number; after: number }[] = report.deployment.units.layers;
      if (file === phi3) {
        const fused = layers.filter((l) => l.before === 128);
        expect(fused).toHaveLength(2);
        expect(fused.every((l) => l.after % 2 === 0)).toBe(true);
        expect(Math.min(...fused.map((l) => l.after))).toBeLessThan(128);
      } else {
        const mlp = layers.filter((l) => l.before === 64);
        expect(mlp).toHaveLength(4);
        expect([mlp[0].after, mlp[2].after]).toEqual([mlp[1].after, mlp[3].after]);
        expect(Math.min(...mlp.map((l) => l.after))).toBeLessThan(64);
      }
      const pruned = await mask.runtimeOutputs(bytes, count);
      expect(accuracyOf(pruned, labels, count)).toBeCloseTo(report.accuracyAfter, 6);
      const measured = relativeError(pruned, await mask.runtimeOutputs(file, count));
      expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy);
    });
});
