// Writes test/fixtures/torch/*.onnx: small MNIST models trained and exported by PyTorch
// (Debian's python3-torch 1.13, `torch.onnx.export` in eval mode), the architectures users
// export: a ResNet (BasicBlocks, stride-2 padding=1 downsampling with a 1×1 projection shortcut,
// BN, global average pool), a MobileNet (depthwise + pointwise, BN, ReLU6), an MLP with
// BatchNorm1d after the dynamic-batch view flatten, an MLP with LeakyReLU and Hardswish, an
// EfficientNet (MBConv blocks: SiLU, squeeze-and-excitation), an MLP with GELU and Hardswish
// (opset 13: written as several nodes), a ShuffleNet V2 (channel split and shuffle) and a ConvNeXt
// (channels-last LayerNorm and MLP, layer scale), and a 1-D CNN on digits read as sequences
// [batch, 28, 28] (Conv1d, BatchNorm1d, MaxPool1d, a depthwise residual block, AdaptiveAvgPool1d),
// and transformer encoders (nn.TransformerEncoderLayer): a ViT (patches, class token, position
// embedding) and a transformer on 28 steps of 28 features; then, untrained, timm's attention
// (timm-attention.onnx), DeiT's two tokens, LayerScale and a scale from the size
// (deit-attention.onnx), a causal mask (causal-transformer.onnx) and CycleGAN's ResNet generator
// (resnet-generator.onnx: ReflectionPad2d, InstanceNorm2d, ConvTranspose2d, ReplicationPad2d,
// Tanh; image to image), for the import tests; and
// text models (nn.Embedding) on digits read as 49 tokens (mnist-split.mjs digitTokens): a bag of
// embeddings, a 1-D CNN, a transformer and a nanoGPT-style causal decoder.
// Node writes the fixtures' MNIST split (mnist-split.mjs) to a temporary folder; Python trains
// on its 6000 training digits and measures on its 3000 test digits; the held-out samples
// (test/fixtures/mnist-samples.npy; as tokens, text-samples.npy) are used by neither.
//   node scripts/torch-fixtures.mjs        (needs /usr/bin/python3 with torch; CI does not run it)
//   TORCH_PYTHON=… node scripts/torch-fixtures.mjs resnext   (test/fixtures/torch2/resnext.onnx: a
//   ResNeXt with grouped convs, trained on the same split by PyTorch 2; resnext_fixture.py)
//   TORCH_PYTHON=… node scripts/torch-fixtures.mjs half   (test/fixtures/torch2/half-resnet*.onnx:
//   a ResNet trained so, then `model.half()`, by both of PyTorch 2's exporters; half_fixture.py)
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { digitTokens, DIGIT_TOKENS, mnistSplit, npy } from './mnist-split.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { trainSet, testSet, samples } = mnistSplit();
// The held-out digits (mnist-samples.npy) as token ids: the text models' --samples, with mnist-labels.npy.
writeFileSync(join(ROOT, 'test', 'fixtures', 'text-samples.npy'), npy(digitTokens(samples.x, samples.count), [samples.count, DIGIT_TOKENS], '<i4'));
const dir = mkdtempSync(join(tmpdir(), 'torch-fixtures-'));
try {
  for (const [name, set] of [['train', trainSet], ['test', testSet]]) {
    writeFileSync(join(dir, `${name}-x.npy`), npy(set.x, [set.count, 784], '<f4'));
    writeFileSync(join(dir, `${name}-y.npy`), npy(set.labels, [set.count], '<i4'));
    writeFileSync(join(dir, `${name}-tokens.npy`), npy(digitTokens(set.x, set.count), [set.count, DIGIT_TOKENS], '<i4'));
  }
  // `resnext`, `half`: only those fixtures in test/fixtures/torch2, by TORCH_PYTHON (PyTorch 2, as torch2-fixtures.mjs).
  const only = process.argv[2];
  const run = only === 'resnext' || only === 'half'
    ? spawnSync(process.env.TORCH_PYTHON ?? 'python3', [join(ROOT, 'scripts', `${only}_fixture.py`), dir, join(ROOT, 'test', 'fixtures', 'torch2')], { stdio: 'inherit' })
    : spawnSync('/usr/bin/python3', [join(ROOT, 'scripts', 'torch_fixtures.py'), dir, join(ROOT, 'test', 'fixtures', 'torch')], { stdio: 'inherit' });
  process.exitCode = run.status ?? 1;
} finally {
  rmSync(dir, { recursive: true, force: true });
}
