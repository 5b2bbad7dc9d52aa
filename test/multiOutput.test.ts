// Models of several outputs (torchvision's segmentation models return 'out' and 'aux'; a sentence
// embedder its token and sentence embeddings): each output is flattened (ours, NHWC) and a concat
// layer packs them into the network output (network.outputParts), so the pruning keeps them all.
// A two-headed conv net reads to what onnxruntime computes for both heads, prunes without labels,
// and the written model keeps its two outputs.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { forwardCpu } from '../src/index.js';
import { onnx } from '../src/io/onnx/common.js';
import { parseOnnxModel } from '../src/io/onnxModel.js';
import { labelsForModel } from '../src/io/samples.js';
import { describeNetwork, formatNetworkSummary } from '../src/network/describe.js';
import { forwardGpu } from '../src/network/forwardGpu.js';
import { runCli } from './helpers/cli.js';
import { gpuForTests } from './helpers/gpu.js';
import { bytesOf, npyHeader, rawNpy } from './helpers/npyBytes.js';
import { GraphBuilder, imageSamples, nchwToNhwc, relativeError } from './helpers/onnxGraphs.js';

const gpu = await gpuForTests();
const COUNT = 10;

/** Input [3, 8, 8] → conv 6 + ReLU → a 1×1 conv head 'output' [4, 8, 8] and a pooled Gemm head `cls` [5]. */
function twoHeads(same = false): { bytes: Uint8Array; cls: string } {
  const g = new GraphBuilder(11);
  const trunk = g.node('Relu', [g.conv('input', 3, 6, 3, { pad: 1 })]);
  const cls = g.gemm(g.node('Flatten', [g.node('GlobalAveragePool', [trunk])]), 6, 5);
  const seg = g.conv(trunk, 6, 4, 1);
  const model = onnx.ModelProto.decode(g.model([3, 8, 8], seg, 13));
  const graph = model.graph!;
  graph.output!.push({ name: same ? 'output' : cls, type: { tensorType: { elemType: 1, shape: { dim: [{ dimParam: 'batch' }, { dimValue: 5 }] } } } });
  return { bytes: onnx.ModelProto.encode(model).finish(), cls };
}

/** onnxruntime's two outputs for NCHW `x`, packed as ours: the map NHWC and flattened, then the class scores. */
async function runtimePacked(bytes: Uint8Array, x: Float32Array, count: number, cls: string): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(bytes, { logSeverityLevel: 3 });
  const out = await session.run({ input: new ort.Tensor('float32', x, [count, 3, 8, 8]) });
  expect(session.outputNames).toEqual(['output', cls]);
  const map = nchwToNhwc(out.output.data as Float32Array, count, 4, 8, 8);
  const scores = out[cls].data as Float32Array;
  const packed = new Float32Array(count * (256 + 5));
  for (let p = 0; p < count; p++) {
    packed.set(map.subarray(p * 256, (p + 1) * 256), p * 261);
    packed.set(scores.subarray(p * 5, (p + 1) * 5), p * 261 + 256);
  }
  return packed;
}

describe('models of several outputs', () => {
  const { bytes, cls } = twoHeads();
  const samples = imageSamples([3, 8, 8], COUNT, 4);

  it('pack their outputs, flattened, into one: what onnxruntime computes for both, on the CPU and the GPU', async () => {
    const { network } = parseOnnxModel(bytes, 'two.onnx');
    expect(network.outputParts).toEqual([
      { name: 'output', shape: [8, 8, 4] },
      { name: cls, shape: [5] },
    ]);
    expect(network.layers.slice(-2).map((l) => l.kind)).toEqual(['flatten', 'concat']);
    expect(formatNetworkSummary(describeNetwork(network, 'nchw'), [])[0]).toMatch(new RegExp(`^input \\[8, 8, 3\\] → outputs output \\[8, 8, 4\\], ${cls.replace(/[/]/g, '\\/')} \\[5\\];`));
    const ours = forwardCpu(network, samples.ours, COUNT).output;
    expect(relativeError(ours, await runtimePacked(bytes, samples.nchw, COUNT, cls))).toBeLessThan(1e-5);
    if (gpu) expect(relativeError((await forwardGpu(gpu, network, samples.ours, COUNT)).output, ours)).toBeLessThan(1e-5);
  });

  it('refuse labels (accuracy scores one output) and one tensor given as two outputs', () => {
    const { network } = parseOnnxModel(bytes, 'two.onnx');
    expect(() => labelsForModel(network, 'labels.npy')).toThrow(`labels.npy: expected no labels for a model of 2 outputs ('output', '${cls}'): accuracy scores one output; prune without labels (the outputs' discrepancy is reported)`);
    expect(() => parseOnnxModel(twoHeads(true).bytes, 'same.onnx')).toThrow(/^same\.onnx: graph outputs: expected one or more, each named once, found 'output', 'output'$/);
  });

  it('net-trim prune --structured: the written model keeps both outputs, its discrepancy in onnxruntime the reported one', async () => {
    const out = await mkdtemp(join(tmpdir(), 'net-trim-outputs-'));
    try {
      const count = 40;
      const many = imageSamples([3, 8, 8], count, 6);
      const [modelPath, samplesPath, labelsPath] = [join(out, 'two.onnx'), join(out, 'x.npy'), join(out, 'y.npy')];
      await writeFile(modelPath, bytes);
      await writeFile(samplesPath, rawNpy(npyHeader('<f4', `(${count}, 3, 8, 8)`), bytesOf(many.nchw)));
      await writeFile(labelsPath, rawNpy(npyHeader('<i4', `(${count},)`), bytesOf(new Int32Array(count))));
      const labelled = await runCli(['prune', modelPath, '--samples', samplesPath, '--labels', labelsPath, '--backend', 'cpu', '--out', join(out, 'refused')]);
      expect(labelled.code).toBe(2);
      expect(labelled.stderr).toContain("y.npy: expected no labels for a model of 2 outputs");
      const { code, stderr } = await runCli(['prune', modelPath, '--samples', samplesPath, '--structured', '--epsilon-gain', '0.2', '--max-iterations', '300', '--backend', 'cpu', '--out', join(out, 'pruned')]);
      expect(code, stderr).toBe(0);
      const report = JSON.parse(await readFile(join(out, 'pruned', 'report.json'), 'utf8'));
      expect(report.nonzerosAfter).toBeLessThan(report.nonzerosBefore);
      const written = new Uint8Array(await readFile(join(out, 'pruned', 'model.onnx')));
      const measured = relativeError(await runtimePacked(written, many.nchw, count, cls), await runtimePacked(bytes, many.nchw, count, cls));
      expect(measured).toBeGreaterThan(0);
      expect(Math.abs(measured - report.relativeDiscrepancy)).toBeLessThan(1e-4 * report.relativeDiscrepancy + 1e-6);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
