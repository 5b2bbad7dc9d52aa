"""Trains and exports the float16 fixtures (torch-fixtures.mjs half runs this): a small ResNet
(conv-BN-ReLU stem, one residual block with a strided 1x1 projection, global average pool, a
linear classifier) trained in float32 on the fixtures' MNIST split, then converted with
`model.half()` the way users make a half-precision model, and exported twice:
  - half-resnet.onnx: PyTorch 2's default exporter (dynamo=True, opset 18), float16 in and out;
  - half-resnet-io32.onnx: the TorchScript exporter (dynamo=False, opset 13, a dynamic batch) of
    the same model wrapped as `net(x.half()).float()`: float32 in and out, Casts at the edges.

usage: half_fixture.py DATA_DIR OUT_DIR
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


def bn_conv(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(bn_conv(1, 8, 3, 2), nn.ReLU())
        self.body = nn.Sequential(bn_conv(8, 16, 3, 2), nn.ReLU(), bn_conv(16, 16, 3))
        self.shortcut = bn_conv(8, 16, 1, 2)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.relu(self.body(x) + self.shortcut(x))
        return self.fc(x.mean((2, 3)))


class Float32Edges(nn.Module):
    """The float16 model behind float32 input and output (what keeps a caller's arrays as they are)."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x.half()).float()


model = Net()
epochs = 4
test_x, test_y, seconds = train_on_split(model, data_dir, epochs, 0.005)
float_accuracy = accuracy(model, test_x, test_y)
model.half()
half_accuracy = accuracy(model, test_x.half(), test_y)

summary = {"torch": torch.__version__, "parameters": sum(p.numel() for p in model.parameters()), "epochs": epochs, "test_accuracy_float32": float_accuracy, "test_accuracy_float16": half_accuracy, "seconds": round(seconds, 1), "models": {}}
exports = [
    ("half-resnet.onnx", model, torch.zeros(1, 1, 28, 28, dtype=torch.float16), dict(dynamo=True, opset_version=18)),
    ("half-resnet-io32.onnx", Float32Edges(model), torch.zeros(1, 1, 28, 28), dict(dynamo=False, opset_version=13, dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})),
]
for name, module, example, options in exports:
    path = os.path.join(out_dir, name)
    for stale in (path, path + ".data"):
        if os.path.exists(stale):
            os.remove(stale)
    torch.onnx.export(module, (example,), path, input_names=["input"], output_names=["logits"], **options)
    summary["models"][name] = {"opset": options["opset_version"], "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data") if os.path.exists(path + ".data") else 0}
with open(os.path.join(out_dir, "half-resnet.json"), "w") as f:
    json.dump(summary, f, indent=2)
    f.write("\n")
print("half", summary, flush=True)
