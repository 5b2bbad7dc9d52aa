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

from mnist_training import fit, load_digits

torch.manual_seed(20240611)
torch.set_num_threads(2)
data_dir, out_dir = sys.argv[1], sys.argv[2]
os.makedirs(out_dir, exist_ok=True)


train_x, train_y = load_digits(data_dir, "train")
test_x, test_y = load_digits(data_dir, "test")


from torch_models import *  # noqa: E402,F401,F403 (the models; defining them draws no random numbers)


def accuracy(model, x, y, shape):
    with torch.no_grad():
        return (model(x.view(-1, *shape)).argmax(1) == y).float().mean().item()


def train(model, epochs, lr, shape, inputs=None):
    """inputs: the training digits viewed as `shape`, or given (token ids)."""
    fit(model, train_x.view(-1, *shape) if inputs is None else inputs, train_y, epochs, lr)


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
    # Opset 13: x.chunk(2, 1) as two Slices, the shuffle as Reshape, Transpose, Reshape. Opset 17: LayerNormalization.
    ("shufflenet", ShuffleNet, 6, 0.005, 13),
    ("convnext", ConvNeXt, 6, 0.003, 17),
    # A sequence [batch, 28, 28] (NCL): Conv1d, BatchNorm1d, MaxPool1d, AdaptiveAvgPool1d.
    ("conv1d", Conv1dNet, 6, 0.005, 13, (28, 28)),
    # Transformer encoders: nn.MultiheadAttention's export (its batch axis moved and merged with the heads).
    ("vit", ViT, 8, 0.003, 17),
    ("sequence-transformer", SequenceTransformer, 8, 0.003, 13, (28, 28)),
]
summary = {}
for name, model, epochs, lr, opset, *rest in runs:
    shape = rest[0] if rest else (1, 28, 28)
    if isinstance(model, type):
        model = model()
    started = time.time()
    train(model, epochs, lr, shape)
    seconds = time.time() - started
    path = os.path.join(out_dir, f"{name}.onnx")
    tmp = path + ".tmp"
    torch.onnx.export(model, torch.zeros(1, *shape), tmp, opset_version=opset, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(tmp, path)
    params = sum(p.numel() for p in model.parameters())
    summary[name] = {"parameters": params, "epochs": epochs, "opset": opset, "test_accuracy": accuracy(model, test_x, test_y, shape), "seconds": round(seconds, 1), "bytes": os.path.getsize(path)}
    print(name, summary[name], flush=True)

# Untrained, after the trained ones (their weights stay as they were): read by the import tests only.
torch.manual_seed(7)
path = os.path.join(out_dir, "timm-attention.onnx")
torch.onnx.export(TimmViT().eval(), torch.zeros(1, 1, 28, 28), path + ".tmp", opset_version=13, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
os.replace(path + ".tmp", path)
path = os.path.join(out_dir, "deit-attention.onnx")
torch.onnx.export(DeiT().eval(), torch.zeros(1, 1, 28, 28), path + ".tmp", opset_version=13, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
os.replace(path + ".tmp", path)
path = os.path.join(out_dir, "causal-transformer.onnx")
torch.onnx.export(CausalTransformer().eval(), torch.zeros(1, 28, 28), path + ".tmp", opset_version=13, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
os.replace(path + ".tmp", path)


path = os.path.join(out_dir, "resnet-generator.onnx")
torch.onnx.export(ResnetGenerator().eval(), torch.zeros(1, 3, 32, 32), path + ".tmp", opset_version=13, input_names=["input"], output_names=["image"], dynamic_axes={"input": {0: "batch"}, "image": {0: "batch"}})
os.replace(path + ".tmp", path)



# Text models (nn.Embedding): digits read as 49 token ids (mnist-split.mjs digitTokens), int64 as PyTorch holds them.
def load_tokens(name):
    return torch.from_numpy(np.load(os.path.join(data_dir, f"{name}-tokens.npy")).astype(np.int64))


train_ids, test_ids = load_tokens("train"), load_tokens("test")
torch.manual_seed(49)
for name, build, epochs, lr in [("text-bag", TextBag, 8, 0.005), ("text-cnn", TextCNN, 6, 0.003), ("text-transformer", TextTransformer, 8, 0.003), ("text-gpt", TextGpt, 8, 0.003)]:
    if name == "text-gpt":
        torch.manual_seed(50)  # its own seed: the models before keep their weights
    model = build()
    started = time.time()
    train(model, epochs, lr, None, train_ids)
    seconds = time.time() - started
    path = os.path.join(out_dir, f"{name}.onnx")
    torch.onnx.export(model, torch.zeros(1, 49, dtype=torch.long), path + ".tmp", opset_version=13, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    os.replace(path + ".tmp", path)
    with torch.no_grad():
        test_accuracy = (model(test_ids).argmax(1) == test_y).float().mean().item()
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "epochs": epochs, "opset": 13, "test_accuracy": test_accuracy, "seconds": round(seconds, 1), "bytes": os.path.getsize(path)}
    print(name, summary[name], flush=True)

with open(os.path.join(out_dir, "fixtures.json"), "w") as f:
    json.dump({"torch": torch.__version__, "test_digits": len(test_x), "models": summary}, f, indent=2)
    f.write("\n")
