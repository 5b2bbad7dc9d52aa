// `net-trim inspect`: the graph and each prunable layer's program, before a long prune.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { GraphBuilder } from './helpers/onnxGraphs.js';

const fixtures = new URL('./fixtures/', import.meta.url).pathname;
let out: string;
beforeAll(async () => {
  out = await mkdtemp(join(tmpdir(), 'net-trim-inspect-'));
});
afterAll(async () => {
  await rm(out, { recursive: true, force: true });
});

describe('net-trim inspect', () => {
  it('prints the ResNet graph, its residual programs and when --exclude pays', async () => {
    const run = await runCli(['inspect', join(fixtures, 'torch/resnet.onnx')]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toContain('16 layers, a graph (branches and joins); 7 prunable layers with 8522 weights');
    expect(run.stdout).toContain("program: relu — ReLU after the residual sum '/block1/Add' (offset: '/block1/shortcut/shortcut.0/Conv'); 196 rows per sample × 145 columns");
    expect(run.stdout).toContain('/block2/Add  add → [14, 14, 16] ← /block2/b/b.0/Conv + /block1/Relu_1');
    expect(run.stdout).toContain("hint: 784 rows per sample for 80 weights: the slowest program for the least gain; --exclude '/stem/stem.0/Conv' pays");
    // The sample arrays --samples takes: PyTorch's NCHW first (one channel: the others are the same numbers).
    expect(run.stdout).toContain('input [28, 28, 1] → output [10];');
    expect(run.stdout).toContain('samples: (P, 1, 28, 28) NCHW or (P, 28, 28, 1) NHWC or (P, 784) flattened');
  });

  it('names the sample shapes of each format: NHWC for TF.js images, features for vectors', async () => {
    const cnn = JSON.parse((await runCli(['inspect', join(fixtures, 'mnist-cnn/model.json'), '--json'])).stdout);
    expect(cnn.samples).toBe('(P, 28, 28, 1) NHWC or (P, 784) flattened');
    const mlp = JSON.parse((await runCli(['inspect', join(fixtures, 'mnist-mlp.onnx'), '--json'])).stdout);
    expect(mlp.samples).toBe('(P, 784)');
  });

  it('--json: programs (clipped ReLU for ReLU6, one per group for depthwise) and the folded BatchNorms', async () => {
    const mobile = JSON.parse((await runCli(['inspect', join(fixtures, 'torch/mobilenet.onnx'), '--json'])).stdout);
    const depthwise = mobile.layers.find((l: any) => l.name === '/features/features.2/features.2.0/features.2.0.0/Conv');
    expect(depthwise.details).toContain('8 groups (depthwise)');
    expect(depthwise.program).toMatchObject({ kind: 'clip', reason: 'clipped ReLU [0, 6]', groups: 8, rowsPerSample: 196, columns: 10 });
    const mlp = JSON.parse((await runCli(['inspect', join(fixtures, 'torch/mlp-batchnorm.onnx'), '--json'])).stdout);
    expect(mlp.notes).toHaveLength(2);
    expect(mlp.notes[0]).toMatch(/BatchNormalization\) is folded into layer '\/body\/body\.0\/Gemm' \(exact/);
    expect(mlp.layers.map((l: any) => l.kind)).toEqual(['flatten', 'dense', 'relu', 'dense', 'relu', 'dense']);
  });

  it('attention: the heads each output projection reads merged, and whether structured pruning can remove them', async () => {
    const vit = join(fixtures, 'torch/vit.onnx');
    expect((await runCli(['inspect', vit])).stdout).toContain("attention: 8 heads, read merged by '/encoder/layers.0/self_attn/Gemm' (4), '/encoder/layers.1/self_attn/Gemm' (4); --structured can remove whole heads");
    const json = JSON.parse((await runCli(['inspect', vit, '--json'])).stdout);
    expect(json.attention).toEqual({ heads: 8, fixed: 0, readers: [{ layer: '/encoder/layers.0/self_attn/Gemm', heads: 4 }, { layer: '/encoder/layers.1/self_attn/Gemm', heads: 4 }] });
    const llama = await runCli(['inspect', join(fixtures, 'torch2/hf-llama-mask.onnx'), '--samples', join(fixtures, 'torch2/text-mask-samples.npz')]);
    expect(llama.stdout).toContain("attention: 8 query heads in 4 units (those sharing a key head go together), read merged by 'node_linear_3' (4), 'node_linear_10' (4)");
    // No attention, no line.
    expect((await runCli(['inspect', join(fixtures, 'mnist-mlp.onnx')])).stdout).not.toContain('attention:');
  });

  it('grouped convs: each with its groups, and what structured pruning can remove (not depthwise ones)', async () => {
    const resnext = join(fixtures, 'torch2/resnext.onnx');
    const body = (block: number) => `/blocks/blocks.${block}/body/body.2/body.2.0/Conv`;
    expect((await runCli(['inspect', resnext])).stdout).toContain(`grouped convs: '${body(0)}' (16 groups of 4 → 4 channels), '${body(1)}' (16 groups of 4 → 4 channels); --structured removes a group whole when nothing reads its outputs, else only as many channels from every group`);
    const json = JSON.parse((await runCli(['inspect', resnext, '--json'])).stdout);
    expect(json.groupedConvs).toEqual([0, 1].map((b) => ({ layer: body(b), groups: 16, inputsPerGroup: 4, outputsPerGroup: 4 })));
    expect((await runCli(['inspect', join(fixtures, 'torch/mobilenet.onnx')])).stdout).not.toContain('grouped convs:');
  });

  it('a graph with a cycle: exit 2, one line naming the node, nothing printed on stdout', async () => {
    // a = relu(b), b = relu(a), output = input + b.
    const g = new GraphBuilder(5);
    g.nodes.push({ name: 'a', opType: 'Relu', input: ['b'], output: ['a'] }, { name: 'b', opType: 'Relu', input: ['a'], output: ['b'] });
    const sum = g.node('Add', ['input', 'b']);
    const path = join(out, 'cycle.onnx');
    await writeFile(path, g.model([4], sum));
    const run = await runCli(['inspect', path]);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).toMatch(/cycle\.onnx: node 0 \('a', op Relu\): is on a cycle of the graph/);
  });
});
