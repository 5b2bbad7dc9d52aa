"""The PyTorch models of the test fixtures (torch_fixtures.py trains and exports them with PyTorch 1.13;
torch2_fixtures.py exports some with PyTorch 2's default exporter). Defining them draws no random numbers."""
import torch
from torch import nn


def bn_conv(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.a = bn_conv(cin, cout, 3, stride)
        self.b = bn_conv(cout, cout, 3)
        self.shortcut = bn_conv(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.b(torch.relu(self.a(x))) + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = bn_conv(1, 8, 3)
        self.block1 = BasicBlock(8, 16, 2)
        self.block2 = BasicBlock(16, 16, 1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.block2(self.block1(torch.relu(self.stem(x))))
        x = self.pool(x)
        return self.fc(x.view(x.size(0), -1))


def separable(cin, cout, stride):
    return nn.Sequential(bn_conv(cin, cin, 3, stride, groups=cin), nn.ReLU6(), bn_conv(cin, cout, 1), nn.ReLU6())


class MobileNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(bn_conv(1, 8, 3, 2), nn.ReLU6(), separable(8, 16, 1), separable(16, 32, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        x = self.pool(self.features(x))
        return self.fc(x.view(x.size(0), -1))


class MlpBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(784, 64), nn.BatchNorm1d(64), nn.ReLU(), nn.Linear(64, 32), nn.BatchNorm1d(32), nn.ReLU(), nn.Linear(32, 10))

    def forward(self, x):
        return self.body(x.view(x.size(0), -1))


class MlpActivations(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.LeakyReLU(0.1), nn.Linear(64, 32), nn.Hardswish(), nn.Linear(32, 10))

    def forward(self, x):
        return self.body(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels, squeezed):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.reduce = nn.Conv2d(channels, squeezed, 1)
        self.expand = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        return x * torch.sigmoid(self.expand(nn.functional.silu(self.reduce(self.pool(x)))))


class MBConv(nn.Module):
    """EfficientNet's block: 1x1 expansion, depthwise 3x3, squeeze-and-excitation, 1x1 projection."""

    def __init__(self, cin, cout, expand, stride):
        super().__init__()
        wide = cin * expand
        self.body = nn.Sequential(
            bn_conv(cin, wide, 1), nn.SiLU(), bn_conv(wide, wide, 3, stride, groups=wide), nn.SiLU(), SqueezeExcite(wide, max(1, cin // 4)), bn_conv(wide, cout, 1)
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class EfficientNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(bn_conv(1, 8, 3, 2), nn.SiLU(), MBConv(8, 16, 2, 2), MBConv(16, 16, 2, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class MlpGelu(nn.Module):
    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(784, 64), nn.GELU(), nn.Linear(64, 32), nn.Hardswish(), nn.Linear(32, 10))

    def forward(self, x):
        return self.body(x)


def channel_shuffle(x, groups):
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, -1, h, w)


class ShuffleUnit(nn.Module):
    """ShuffleNet V2's unit: stride 1 splits the channels (one half through the branch), stride 2 runs both halves' branches on the input."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.stride = stride
        half = cout // 2
        into = cin if stride == 2 else half
        self.branch2 = nn.Sequential(bn_conv(into, half, 1), nn.ReLU(), bn_conv(half, half, 3, stride, groups=half), bn_conv(half, half, 1), nn.ReLU())
        self.branch1 = nn.Sequential(bn_conv(cin, cin, 3, stride, groups=cin), bn_conv(cin, half, 1), nn.ReLU()) if stride == 2 else None

    def forward(self, x):
        if self.stride == 1:
            a, b = x.chunk(2, dim=1)
            out = torch.cat((a, self.branch2(b)), dim=1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), dim=1)
        return channel_shuffle(out, 2)


class ShuffleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(bn_conv(1, 8, 3, 2), nn.ReLU(), ShuffleUnit(8, 16, 2), ShuffleUnit(16, 16, 1), ShuffleUnit(16, 16, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class LayerNorm2d(nn.LayerNorm):
    """torchvision's: a LayerNorm over the channels of an NCHW tensor, through channels-last."""

    def forward(self, x):
        return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class ConvNeXtBlock(nn.Module):
    """torchvision's CNBlock: depthwise 7x7, channels-last LayerNorm, Linear 4C, GELU, Linear C, layer scale, residual."""

    def __init__(self, channels):
        super().__init__()
        self.depthwise = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        self.norm = nn.LayerNorm(channels, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(channels, 4 * channels), nn.GELU(), nn.Linear(4 * channels, channels))
        self.layer_scale = nn.Parameter(torch.full((channels, 1, 1), 0.5))

    def forward(self, x):
        y = self.mlp(self.norm(self.depthwise(x).permute(0, 2, 3, 1))).permute(0, 3, 1, 2)
        return x + self.layer_scale * y


class ConvNeXt(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 8, 2, 2), LayerNorm2d(8, eps=1e-6), ConvNeXtBlock(8), LayerNorm2d(8, eps=1e-6), nn.Conv2d(8, 16, 2, 2), ConvNeXtBlock(16)
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Sequential(LayerNorm2d(16, eps=1e-6), nn.Flatten(1), nn.Linear(16, 10))

    def forward(self, x):
        return self.head(self.pool(self.features(x)))


def bn_conv1d(cin, cout, k, stride=1, groups=1, dilation=1):
    return nn.Sequential(nn.Conv1d(cin, cout, k, stride, dilation * (k // 2), dilation, groups, bias=False), nn.BatchNorm1d(cout))


class Conv1dNet(nn.Module):
    """A 1-D CNN on a digit read as a sequence [batch, 28, 28] (channels: its rows, steps: its columns), as sensor and audio models are."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(bn_conv1d(28, 16, 5), nn.ReLU(), nn.MaxPool1d(2))
        self.block = nn.Sequential(bn_conv1d(16, 16, 3, groups=16), nn.ReLU(), bn_conv1d(16, 16, 1))
        self.down = nn.Sequential(bn_conv1d(16, 24, 3, stride=2, dilation=2), nn.ReLU())
        self.fc = nn.Linear(24, 10)

    def forward(self, x):
        x = self.stem(x)
        x = self.down(torch.relu(x + self.block(x)))
        return self.fc(nn.functional.adaptive_avg_pool1d(x, 1).flatten(1))


class ViT(nn.Module):
    """A vision transformer: 7x7 patches (16 tokens) and a class token, a learned position embedding,
    two pre-norm nn.TransformerEncoderLayers (nn.MultiheadAttention, GELU), the class token's head."""

    def __init__(self, dim=32, heads=4, layers=2):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 7, 7)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(0.02 * torch.randn(1, 17, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        tokens = self.patch(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls.expand(x.shape[0], -1, -1), tokens], 1) + self.pos
        return self.head(self.norm(self.encoder(tokens))[:, 0])


class SequenceTransformer(nn.Module):
    """A transformer on a digit read as 28 steps of 28 features [batch, T, F] (as sensor and text
    models are): a Linear embedding, a position embedding, a post-norm encoder layer (ReLU), the mean over the steps."""

    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.embed = nn.Linear(28, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, 28, dim))
        self.encoder = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        return self.head(self.encoder(self.embed(x) + self.pos).mean(1))


class TimmAttention(nn.Module):
    """timm's Attention: one qkv Linear reshaped to [batch, N, 3, heads, d], permuted, unbind(0); q·kᵀ·scale, softmax, ·v."""

    def __init__(self, dim, heads):
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        attention = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attention @ v).transpose(1, 2).reshape(B, N, C))


class TimmViT(nn.Module):
    """A ViT as timm writes its blocks (x + attn(norm(x)), x + mlp(norm(x))), untrained: the import tests' oracle is onnxruntime."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.patch = nn.Conv2d(1, dim, 7, 7)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 17, dim))
        self.norm1, self.attn, self.norm2 = nn.LayerNorm(dim), TimmAttention(dim, heads), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))
        self.head = nn.Linear(dim, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat((self.cls.expand(t.shape[0], -1, -1), t), dim=1) + self.pos
        t = t + self.attn(self.norm1(t))
        t = t + self.mlp(self.norm2(t))
        return self.head(t[:, 0])


class CausalTransformer(nn.Module):
    """A decoder-style encoder layer on 28 steps: a causal mask (−inf above the diagonal, added to the scores), the last step's head; untrained."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.embed = nn.Linear(28, dim)
        self.encoder = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.head = nn.Linear(dim, 10)
        self.register_buffer("mask", torch.triu(torch.full((28, 28), float("-inf")), 1))

    def forward(self, x):
        return self.head(self.encoder(self.embed(x), src_mask=self.mask)[:, -1])


class DeiT(nn.Module):
    """DeiT's two tokens (class and distillation, both heads averaged), LayerScale, and an attention
    whose scale comes from the tensor's size (q.size(-1) ** -0.5: Shape, Cast, Pow in the graph); untrained."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads = heads
        self.patch = nn.Conv2d(1, dim, 7, 7)
        self.cls, self.dist = nn.Parameter(torch.randn(1, 1, dim)), nn.Parameter(torch.randn(1, 1, dim))
        self.pos = nn.Parameter(torch.randn(1, 18, dim))
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.gamma = nn.Parameter(0.1 * torch.randn(dim))
        self.head, self.head_dist = nn.Linear(dim, 10), nn.Linear(dim, 10)

    def forward(self, x):
        t = self.patch(x).flatten(2).transpose(1, 2)
        t = torch.cat((self.cls.expand(t.shape[0], -1, -1), self.dist.expand(t.shape[0], -1, -1), t), dim=1) + self.pos
        B, N, C = t.shape
        q, k, v = self.qkv(self.norm(t)).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        scores = (q * q.size(-1) ** -0.5) @ k.transpose(-2, -1)
        t = t + self.gamma * self.proj((scores.softmax(-1) @ v).transpose(1, 2).reshape(B, N, C))
        return (self.head(t[:, 0]) + self.head_dist(t[:, 1])) / 2


class ResnetGenerator(nn.Module):
    """CycleGAN's and pix2pix's ResNet generator (and fast style transfer's): ReflectionPad2d, InstanceNorm2d,
    stride-2 convs down, residual blocks, ConvTranspose2d up, Tanh; image to image."""

    def __init__(self, ngf=8, blocks=2):
        super().__init__()

        def block(c):
            return nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c), nn.ReLU(True), nn.ReflectionPad2d(1), nn.Conv2d(c, c, 3), nn.InstanceNorm2d(c))

        self.head = nn.Sequential(nn.ReflectionPad2d(3), nn.Conv2d(3, ngf, 7), nn.InstanceNorm2d(ngf), nn.ReLU(True))
        self.down = nn.Sequential(*[m for k in (1, 2) for m in (nn.Conv2d(ngf * k, ngf * 2 * k, 3, 2, 1), nn.InstanceNorm2d(ngf * 2 * k), nn.ReLU(True))])
        self.blocks = nn.ModuleList([block(ngf * 4) for _ in range(blocks)])
        self.up = nn.Sequential(*[m for k in (4, 2) for m in (nn.ConvTranspose2d(ngf * k, ngf * k // 2, 3, 2, 1, output_padding=1), nn.InstanceNorm2d(ngf * k // 2), nn.ReLU(True))])
        self.tail = nn.Sequential(nn.ReplicationPad2d(3), nn.Conv2d(ngf, 3, 7), nn.Tanh())

    def forward(self, x):
        x = self.down(self.head(x))
        for b in self.blocks:
            x = x + b(x)
        return self.tail(self.up(x))


class TextBag(nn.Module):
    """A bag of embeddings (fastText; Keras's text tutorial): nn.Embedding, the mean over the tokens, an MLP."""

    def __init__(self, vocab=196, dim=32):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, ids):
        return self.mlp(self.embed(ids).mean(1))


class TextCNN(nn.Module):
    """Kim's CNN for sentences: nn.Embedding, transposed to [batch, dim, T], Conv1d + ReLU, the max over time, a Linear."""

    def __init__(self, vocab=196, dim=24):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.conv = nn.Conv1d(dim, 48, 3, padding=1)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.head = nn.Linear(48, 10)

    def forward(self, ids):
        return self.head(self.pool(torch.relu(self.conv(self.embed(ids).transpose(1, 2)))).flatten(1))


class TextTransformer(nn.Module):
    """A BERT-like encoder: token embeddings scaled by the square root of the width, learned positions, a pre-norm encoder layer (GELU), the mean."""

    def __init__(self, vocab=196, dim=32, heads=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.pos = nn.Parameter(0.02 * torch.randn(1, 49, dim))
        self.encoder = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, 10)

    def forward(self, ids):
        return self.head(self.norm(self.encoder(self.embed(ids) * 32**0.5 + self.pos)).mean(1))


class CausalSelfAttention(nn.Module):
    """nanoGPT's attention: one c_attn Linear split in q, k, v, heads by view and transpose, the causal mask a
    `tril(ones)` buffer applied by masked_fill(-inf) (torch 1.13 has no scaled_dot_product_attention)."""

    def __init__(self, dim, heads, tokens):
        super().__init__()
        self.c_attn, self.c_proj, self.heads = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim), heads
        self.register_buffer("bias", torch.tril(torch.ones(tokens, tokens)).view(1, 1, tokens, tokens))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(C, dim=2)
        q, k, v = (t.view(B, T, self.heads, C // self.heads).transpose(1, 2) for t in (q, k, v))
        att = (q @ k.transpose(-2, -1)) * (1.0 / k.size(-1) ** 0.5)
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf")).softmax(dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))


class GptBlock(nn.Module):
    def __init__(self, dim, heads, tokens):
        super().__init__()
        self.ln_1, self.attn, self.ln_2 = nn.LayerNorm(dim), CausalSelfAttention(dim, heads, tokens), nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TextGpt(nn.Module):
    """A nanoGPT-style decoder classifying from its last token: wte, learned positions, two causal blocks, ln_f, a head."""

    def __init__(self, vocab=196, dim=32, heads=4, tokens=49):
        super().__init__()
        self.wte, self.wpe = nn.Embedding(vocab, dim), nn.Parameter(0.02 * torch.randn(1, tokens, dim))
        self.blocks = nn.Sequential(*[GptBlock(dim, heads, tokens) for _ in range(2)])
        self.ln_f, self.head = nn.LayerNorm(dim), nn.Linear(dim, 10)

    def forward(self, ids):
        return self.head(self.ln_f(self.blocks(self.wte(ids) + self.wpe))[:, -1, :])
