"""Trains and exports the PyTorch fixtures (see torch-fixtures.mjs, which runs this).

usage: torch_fixtures.py DATA_DIR OUT_DIR
"""
import json
import os
import sys
import time

import numpy as np
import torch
from torch import nn

torch.manual_seed(20240611)
torch.set_num_threads(2)
data_dir, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)


def load(name):
    x = np.load(os.path.join(data_dir, f"{name}-x.npy")).reshape(-1, 1, 28, 28)
    y = np.load(os.path.join(data_dir, f"{name}-y.npy")).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


train_x, train_y = load("train")
test_x, test_y = load("test")


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


def accuracy(model, x, y):
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(model, epochs, lr):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(train_x))
        for i in range(0, len(order), 32):
            batch = order[i : i + 32]
            opt.zero_grad()
            loss_fn(model(train_x[batch]), train_y[batch]).backward()
            opt.step()
    model.eval()


# name, model, epochs, learning rate, opset
runs = [
    ("resnet", ResNet(), 5, 0.003, 13),
    ("mobilenet", MobileNet(), 12, 0.005, 17),
    ("mlp-batchnorm", MlpBatchNorm(), 3, 0.002, 13),
    ("mlp-activations", MlpActivations(), 3, 0.002, 17),
    # Built when their turn comes, so that the models above keep their initial weights.
    # Opset 13: SiLU, GELU and Hardswish are written as several nodes (Sigmoid·x, Erf, HardSigmoid·x).
    ("efficientnet", EfficientNet, 6, 0.005, 13),
    ("mlp-gelu", MlpGelu, 3, 0.002, 13),
]
summary = {}
for name, model, epochs, lr, opset in runs:
    if isinstance(model, type):
        model = model()
    started = time.time()
    train(model, epochs, lr)
    seconds = time.time() - started
    path = os.path.join(out_dir, f"{name}.onnx")
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), tmp, opset_version=opset, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, path)
    params = sum(p.numel() for p in model.parameters())
    summary[name] = {"parameters": params, "epochs": epochs, "opset": opset, "test_accuracy": accuracy(model, test_x, test_y), "seconds": round(seconds, 1), "bytes": os.path.getsize(path)}
    print(name, summary[name], flush=True)

with open(os.path.join(out_dir, "fixtures.json"), "w") as f:
    json.dump({"torch": torch.__version__, "test_digits": len(test_x), "models": summary}, f, indent=2)
    f.write("\n")
