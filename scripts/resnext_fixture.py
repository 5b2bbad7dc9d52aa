"""Trains and exports test/fixtures/torch2/resnext.onnx (torch-fixtures.mjs resnext runs this): a small
ResNeXt on the fixtures' MNIST split, its bottlenecks' 3x3 convs grouped (16 groups of 4 channels),
exported by PyTorch 2's TorchScript exporter (dynamo=False, opset 13) with a dynamic batch.

usage: resnext_fixture.py DATA_DIR OUT_DIR
"""
import json
import os
import sys

import torch
from torch import nn

from mnist_training import accuracy, train_on_split

torch.manual_seed(20261207)
torch.set_num_threads(2)
data_dir, out_dir = sys.argv[1], sys.argv[2]


def bn_conv(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout))


class Bottleneck(nn.Module):
    """1x1 reduce, grouped 3x3 (cardinality `groups`), 1x1 expand, plus the (projected) input."""

    def __init__(self, cin, width, cout, groups, stride):
        super().__init__()
        self.body = nn.Sequential(bn_conv(cin, width, 1), nn.ReLU(), bn_conv(width, width, 3, stride, groups), nn.ReLU(), bn_conv(width, cout, 1))
        self.shortcut = bn_conv(cin, cout, 1, stride) if stride != 1 or cin != cout else nn.Identity()

    def forward(self, x):
        return torch.relu(self.body(x) + self.shortcut(x))


class ResNeXt(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(bn_conv(1, 16, 3, 2), nn.ReLU())
        self.blocks = nn.Sequential(Bottleneck(16, 64, 32, 16, 2), Bottleneck(32, 64, 32, 16, 1))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, 10)

    def forward(self, x):
        return self.fc(torch.flatten(self.pool(self.blocks(self.stem(x))), 1))


model = ResNeXt()
epochs = 6
test_x, test_y, seconds = train_on_split(model, data_dir, epochs, 0.005)
test_accuracy = accuracy(model, test_x, test_y)
path = os.path.join(out_dir, "resnext.onnx")
torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), path + ".tmp", opset_version=13, dynamo=False, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
os.replace(path + ".tmp", path)
summary = {"torch": torch.__version__, "parameters": sum(p.numel() for p in model.parameters()), "epochs": epochs, "opset": 13, "test_accuracy": test_accuracy, "seconds": round(seconds, 1), "bytes": os.path.getsize(path)}
with open(os.path.join(out_dir, "resnext.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print("resnext", summary, flush=True)
