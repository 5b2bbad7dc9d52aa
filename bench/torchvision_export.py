"""Exports torchvision's architectures (random weights, eval mode) to ONNX for bench/torchvision.mjs.

usage: torchvision_export.py OUT_DIR SIZE OPSET NAME...

OPSET 'dynamo': PyTorch 2's default exporter (torch.onnx.export(..., dynamo=True)) as a user calls
it: a fixed batch of 1, the weights in NAME.onnx.data beside the model.
"""
import contextlib
import os
import sys

import torch
import torch.library

# PyPI's torchvision links CUDA torch; with the CPU wheel its C ops do not load and registering
# their fake kernels fails at import. The models need none of them.
register_fake = torch.library.register_fake
torch.library.register_fake = lambda *args, **kwargs: (lambda f: f)
import torchvision  # noqa: E402

torch.library.register_fake = register_fake

out_dir, size, opset, names = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4:]
dynamo = opset == "dynamo"
torch.manual_seed(0)


class Segmentation(torch.nn.Module):
    """A torchvision segmentation model's per-pixel class scores (its 'out', [batch, classes, H, W])."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x)["out"]


for name in names:
    if name.startswith(("fcn_", "deeplabv3_", "lraspp_")):
        kwargs = {"weights_backbone": None} | ({} if name.startswith("lraspp_") else {"aux_loss": False})
        model = Segmentation(getattr(torchvision.models.segmentation, name)(weights=None, **kwargs)).eval()
    elif name.startswith("vit_"):
        # A vision transformer at the bench's image size (its position embedding sized to match).
        model = getattr(torchvision.models, name)(weights=None, image_size=size).eval()
        # torchvision starts the head at zero: logits of 0 whatever the network computes would compare as equal.
        torch.nn.init.normal_(model.heads.head.weight, std=0.02)
    else:
        kwargs = {"aux_logits": False, "init_weights": True} if name in ("googlenet", "inception_v3") else {}
        model = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    path = os.path.join(out_dir, f"{name}.onnx")
    # Under no_grad, nn.MultiheadAttention takes its fused fast path (aten::_native_multi_head_attention), which torch 1.13 cannot export.
    if dynamo:
        torch.onnx.export(model, (torch.zeros(1, 3, size, size),), path, dynamo=True, input_names=["input"], output_names=["logits"])
    else:
        with torch.no_grad() if not name.startswith("vit_") else contextlib.nullcontext():
            torch.onnx.export(model, torch.zeros(1, 3, size, size), path, opset_version=int(opset), input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    data = path + ".data"
    print(name, sum(p.numel() for p in model.parameters()), os.path.getsize(path) + (os.path.getsize(data) if os.path.exists(data) else 0), flush=True)
