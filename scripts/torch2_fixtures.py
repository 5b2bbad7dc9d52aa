"""Exports test/fixtures/torch2 with PyTorch 2's default exporter (see torch2-fixtures.mjs, which runs this).

usage: torch2_fixtures.py OUT_DIR
"""
import json
import logging
import os
import sys
import warnings

import torch

from torch_models import ConvNeXt, Conv1dNet, ResNet, TextCNN, TextGpt, ViT

warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)
out_dir = sys.argv[1]
os.makedirs(out_dir, exist_ok=True)

# name, model, example input. Untrained (seeded): the import tests compare with onnxruntime.
image, steps, ids = torch.zeros(1, 1, 28, 28), torch.zeros(1, 28, 28), torch.zeros(1, 49, dtype=torch.long)
torch.manual_seed(2026)
runs = [("resnet", ResNet, image), ("convnext", ConvNeXt, image), ("conv1d", Conv1dNet, steps), ("vit", ViT, image), ("text-cnn", TextCNN, ids), ("text-gpt", TextGpt, ids)]
summary = {}
for name, build, example in runs:
    model = build().eval()
    path = os.path.join(out_dir, f"{name}.onnx")
    # As a user calls it: torch.onnx.export's defaults (dynamo, a fixed batch of 1, the weights in NAME.onnx.data).
    torch.onnx.export(model, (example,), path, dynamo=True, input_names=["input"], output_names=["logits"])
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data")}
    print(name, summary[name], flush=True)

# Hugging Face models (transformers 5), tiny and untrained, their classification logits: what a user
# of BertForSequenceClassification, DistilBertForSequenceClassification or ViTForImageClassification exports.
import transformers  # noqa: E402


class Logits(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, x):
        return self.model(x).logits


torch.manual_seed(2027)
text = dict(vocab_size=196, num_labels=10)
hf_runs = [
    ("hf-bert", lambda: transformers.BertForSequenceClassification(transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, **text)), ids),
    ("hf-distilbert", lambda: transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64, **text)), ids),
    ("hf-vit", lambda: transformers.ViTForImageClassification(transformers.ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, num_labels=10)), image),
]
for name, build, example in hf_runs:
    model = Logits(build()).eval()
    path = os.path.join(out_dir, f"{name}.onnx")
    torch.onnx.export(model, (example,), path, dynamo=True, input_names=["input"], output_names=["logits"])
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data")}
    print(name, summary[name], flush=True)

# The same BERT through the TorchScript exporter (dynamo=False, what Hugging Face Optimum calls):
# a dynamic batch, shape computations on the ids, the weights inside.
torch.manual_seed(2028)
model = Logits(hf_runs[0][1]()).eval()
path = os.path.join(out_dir, "hf-bert-torchscript.onnx")
torch.onnx.export(model, (ids,), path, dynamo=False, opset_version=17, input_names=["input"], output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
summary["hf-bert-torchscript"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-bert-torchscript", summary["hf-bert-torchscript"], flush=True)

# The ConvNeXt again with a dynamic batch (dynamic_shapes): its pooled head's as_strided then
# indexes from Range(0, batch), shape arithmetic the reader folds at batch 1.
torch.manual_seed(2029)
model = ConvNeXt().eval()
path = os.path.join(out_dir, "convnext-dynamic.onnx")
torch.onnx.export(model, (torch.zeros(2, 1, 28, 28),), path, dynamo=True, input_names=["input"], output_names=["logits"], dynamic_shapes=({0: torch.export.Dim("batch")},))
summary["convnext-dynamic"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data")}
print("convnext-dynamic", summary["convnext-dynamic"], flush=True)

# Hugging Face models taking an attention mask beside the ids (and token types), as users export
# them: input_ids [batch, T] and attention_mask [batch, T] (1 for a token, 0 for padding). Larger
# initial weights than transformers' 0.02, so that padding changes the logits visibly.
import zipfile  # noqa: E402

import numpy as np  # noqa: E402


class Masked(torch.nn.Module):
    def __init__(self, model, types=False):
        super().__init__()
        self.model, self.types = model, types

    def forward(self, ids, mask, types=None):
        return self.model(input_ids=ids, attention_mask=mask, **({"token_type_ids": types} if self.types else {})).logits


torch.manual_seed(2030)
big = dict(vocab_size=196, num_labels=10, initializer_range=0.3)
bert = lambda: transformers.BertForSequenceClassification(transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, **big))
distil = lambda: transformers.DistilBertForSequenceClassification(transformers.DistilBertConfig(dim=32, n_layers=2, n_heads=2, hidden_dim=64, max_position_embeddings=64, **big))
mask = torch.ones(1, 49, dtype=torch.long)
mask[0, 40:] = 0
names = ["input_ids", "attention_mask"]
for name, build, dynamo, types in [("hf-bert-mask", bert, True, False), ("hf-distilbert-mask", distil, True, False), ("hf-bert-mask-torchscript", bert, False, True)]:
    model = Masked(build(), types).eval()
    path = os.path.join(out_dir, f"{name}.onnx")
    inputs = names + (["token_type_ids"] if types else [])
    example = (ids, mask) + ((torch.zeros(1, 49, dtype=torch.long),) if types else ())
    if dynamo:
        torch.onnx.export(model, example, path, dynamo=True, input_names=inputs, output_names=["logits"])
    else:  # Optimum's exporter: TorchScript, the batch and the sequence length open, the weights inside
        axes = {0: "batch_size", 1: "sequence_length"}
        torch.onnx.export(model, example, path, dynamo=False, opset_version=17, input_names=inputs, output_names=["logits"], dynamic_axes={**{n: axes for n in inputs}, "logits": {0: "batch_size"}})
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), **({"data_bytes": os.path.getsize(path + ".data")} if dynamo else {})}
    print(name, summary[name], flush=True)

# A sentence-embedding model as its ONNX is published (Optimum's feature-extraction export, what
# sentence-transformers' ONNX backend loads): BertModel without its pooler, the token embeddings
# last_hidden_state [batch, T, 32] the output, the batch and the sequence length open.
class Features(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask, types):
        return self.model(input_ids=ids, attention_mask=mask, token_type_ids=types).last_hidden_state


model = Features(transformers.BertModel(transformers.BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=64, vocab_size=196, initializer_range=0.3), add_pooling_layer=False)).eval()
path = os.path.join(out_dir, "hf-bert-features.onnx")
inputs = names + ["token_type_ids"]
axes = {0: "batch_size", 1: "sequence_length"}
torch.onnx.export(model, (ids, mask, torch.zeros(1, 49, dtype=torch.long)), path, dynamo=False, opset_version=17, input_names=inputs, output_names=["last_hidden_state"], dynamic_axes={**{n: axes for n in inputs}, "last_hidden_state": axes})
summary["hf-bert-features"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-bert-features", summary["hf-bert-features"], flush=True)


# The same model with sentence-transformers' mean pooling in the graph (how tutorials export a
# sentence embedder as one model): the token embeddings times the mask, summed over the tokens,
# over the mask's count (at least 1e-9). Its output sentence_embedding [batch, 32].
class MeanPooled(torch.nn.Module):
    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, ids, mask, types):
        hidden = self.features(ids, mask, types)
        weights = mask.unsqueeze(-1).expand(hidden.size()).float()
        return torch.sum(hidden * weights, 1) / torch.clamp(weights.sum(1), min=1e-9)


path = os.path.join(out_dir, "hf-bert-mean-pooled.onnx")
torch.onnx.export(MeanPooled(model), (ids, mask, torch.zeros(1, 49, dtype=torch.long)), path, dynamo=False, opset_version=17, input_names=inputs, output_names=["sentence_embedding"], dynamic_axes={**{n: axes for n in inputs}, "sentence_embedding": {0: "batch_size"}})
summary["hf-bert-mean-pooled"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-bert-mean-pooled", summary["hf-bert-mean-pooled"], flush=True)


# Both, as Optimum exports a sentence-transformers model (`--library sentence_transformers`): two
# outputs, token_embeddings [batch, T, 32] and sentence_embedding [batch, 32].
class Sentence(MeanPooled):
    def forward(self, ids, mask, types):
        hidden = self.features(ids, mask, types)
        weights = mask.unsqueeze(-1).expand(hidden.size()).float()
        return hidden, torch.sum(hidden * weights, 1) / torch.clamp(weights.sum(1), min=1e-9)


path = os.path.join(out_dir, "hf-bert-sentence.onnx")
torch.onnx.export(Sentence(model), (ids, mask, torch.zeros(1, 49, dtype=torch.long)), path, dynamo=False, opset_version=17, input_names=inputs, output_names=["token_embeddings", "sentence_embedding"], dynamic_axes={**{n: axes for n in inputs}, "token_embeddings": axes, "sentence_embedding": {0: "batch_size"}})
summary["hf-bert-sentence"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-bert-sentence", summary["hf-bert-sentence"], flush=True)

# The dynamo BERT with the batch and the sequence length open (torch.export's dynamic_shapes): its
# mask's index grids built from aranges of both, broadcast by a Max, joined by a Concat.
model = Masked(bert()).eval()
path = os.path.join(out_dir, "hf-bert-mask-dynamic.onnx")
batch, sequence = torch.export.Dim("batch"), torch.export.Dim("sequence", max=64)
torch.onnx.export(model, (ids.repeat(2, 1), mask.repeat(2, 1)), path, dynamo=True, input_names=names, output_names=["logits"], dynamic_shapes=({0: batch, 1: sequence}, {0: batch, 1: sequence}))
summary["hf-bert-mask-dynamic"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data")}
print("hf-bert-mask-dynamic", summary["hf-bert-mask-dynamic"], flush=True)

# Their samples (np.savez's format, with a fixed time stamp so the file reproduces): the text
# fixtures' digits as 49 tokens, each sample's last 0 to 19 tokens padding (id 0, mask 0), and
# token types 0 then 1.
tokens = np.load(os.path.join(out_dir, "..", "text-samples.npy"))[:64].astype(np.int64)
lengths = 49 - (np.arange(len(tokens)) * 7) % 20
attention = (np.arange(49)[None, :] < lengths[:, None]).astype(np.int64)
arrays = {"input_ids": tokens * attention, "attention_mask": attention, "token_type_ids": (np.arange(49)[None, :] >= 25).astype(np.int64).repeat(len(tokens), 0)}
with zipfile.ZipFile(os.path.join(out_dir, "text-mask-samples.npz"), "w", zipfile.ZIP_STORED) as archive:
    for key, array in arrays.items():
        with archive.open(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as entry:
            np.lib.format.write_array(entry, array, allow_pickle=False)


# RoBERTa (XLM-R and CamemBERT share its embeddings): its position ids are computed in the graph
# from the ids, cumsum(ids != pad) * (ids != pad) + pad (pad_token_id 1), and its token types are a
# buffer gathered at them. Through dynamo (a fixed batch of 1) and TorchScript (Optimum's: the batch
# and the sequence length open).
torch.manual_seed(2031)
roberta = lambda: transformers.RobertaForSequenceClassification(transformers.RobertaConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=66, pad_token_id=1, **big))
for name, dynamo in [("hf-roberta-mask", True), ("hf-roberta-mask-torchscript", False)]:
    model = Masked(roberta()).eval()
    path = os.path.join(out_dir, f"{name}.onnx")
    if dynamo:
        torch.onnx.export(model, (ids + 3, mask), path, dynamo=True, input_names=names, output_names=["logits"])
    else:
        axes = {0: "batch_size", 1: "sequence_length"}
        torch.onnx.export(model, (ids + 3, mask), path, dynamo=False, opset_version=17, input_names=names, output_names=["logits"], dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch_size"}})
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), **({"data_bytes": os.path.getsize(path + ".data")} if dynamo else {})}
    print(name, summary[name], flush=True)

# MPNet's token embeddings (what sentence-transformers' all-mpnet-base-v2 publishes, through
# Optimum's exporter): RoBERTa's positions, and a relative-position bias on the attention scores
# whose buckets (Neg, Abs, Log of the position differences, Min, Where) fold for the length read.
class TokenEmbeddings(torch.nn.Module):
    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, ids, mask):
        return self.model(input_ids=ids, attention_mask=mask).last_hidden_state


torch.manual_seed(2033)
model = TokenEmbeddings(transformers.MPNetModel(transformers.MPNetConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64, max_position_embeddings=66, vocab_size=196, pad_token_id=1, initializer_range=0.3), add_pooling_layer=False)).eval()
path = os.path.join(out_dir, "hf-mpnet-features.onnx")
axes = {0: "batch_size", 1: "sequence_length"}
torch.onnx.export(model, (ids + 3, mask), path, dynamo=False, opset_version=17, input_names=names, output_names=["last_hidden_state"], dynamic_axes={**{n: axes for n in names}, "last_hidden_state": axes})
summary["hf-mpnet-features"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-mpnet-features", summary["hf-mpnet-features"], flush=True)

# GPT2ForSequenceClassification through TorchScript (Optimum's exporter): the logits of the last
# real token, argmax(arange(T) * (ids != pad)), pad_token_id 0 as the mask samples pad.
torch.manual_seed(2032)
model = Masked(transformers.GPT2ForSequenceClassification(transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, pad_token_id=0, **big))).eval()
path = os.path.join(out_dir, "hf-gpt2-mask-torchscript.onnx")
axes = {0: "batch_size", 1: "sequence_length"}
torch.onnx.export(model, (ids + 3, mask), path, dynamo=False, opset_version=17, input_names=names, output_names=["logits"], dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch_size"}})
summary["hf-gpt2-mask-torchscript"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path)}
print("hf-gpt2-mask-torchscript", summary["hf-gpt2-mask-torchscript"], flush=True)

# The same through dynamo (torch.onnx.export's default): its Conv1Ds view tokens as [-1, C] and back
# by constant shapes, its last token is a GatherND at [0, it], and its dropouts say training_mode
# true (onnxruntime's default optimizations run them as inference).
torch.manual_seed(2034)
model = Masked(transformers.GPT2ForSequenceClassification(transformers.GPT2Config(n_embd=32, n_layer=2, n_head=2, n_positions=64, pad_token_id=0, **big))).eval()
path = os.path.join(out_dir, "hf-gpt2-mask.onnx")
torch.onnx.export(model, (ids + 3, mask), path, dynamo=True, input_names=names, output_names=["logits"])
summary["hf-gpt2-mask"] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), "data_bytes": os.path.getsize(path + ".data")}
print("hf-gpt2-mask", summary["hf-gpt2-mask"], flush=True)

# Llama-family classifiers (Llama, Mistral, Qwen2 and the like share these parts): RMSNorm written
# as Pow, ReduceMean, Add, Sqrt, Reciprocal (or Div), Mul; rotary position embeddings (x·cos +
# rotate_half(x)·sin: the tables constants under dynamo, computed from inv_freq by MatMul, Cos and
# Sin under TorchScript); grouped-query attention (2 key-value heads for 4 query heads: repeat_kv's
# Expand); a SiLU-gated MLP; the last real token's logits (pad_token_id 0). The norms' weights are
# drawn (they are ones at init, and dynamo would share one tensor for all). Phi-3 through
# TorchScript slices an empty "pass-through" part (x[..., rotary_dim:] of a full rotary) and joins it.
def decoder(config_class, model_class, seed, **extra):
    torch.manual_seed(seed)
    config = config_class(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64, pad_token_id=0, attn_implementation="eager", **big, **extra)
    model = Masked(model_class(config)).eval()
    with torch.no_grad():
        for key, parameter in model.named_parameters():
            if "norm" in key:
                parameter.uniform_(0.5, 1.5)
    return model


axes = {0: "batch_size", 1: "sequence_length"}


def export_masked(name, model, dynamo):
    """A classifier of ids and mask through dynamo (a fixed batch of 1) or TorchScript (Optimum's open axes), into the summary."""
    path = os.path.join(out_dir, f"{name}.onnx")
    if dynamo:
        torch.onnx.export(model, (ids + 3, mask), path, dynamo=True, input_names=names, output_names=["logits"])
    else:
        torch.onnx.export(model, (ids + 3, mask), path, dynamo=False, opset_version=17, input_names=names, output_names=["logits"], dynamic_axes={**{n: axes for n in names}, "logits": {0: "batch_size"}})
    summary[name] = {"parameters": sum(p.numel() for p in model.parameters()), "bytes": os.path.getsize(path), **({"data_bytes": os.path.getsize(path + ".data")} if dynamo else {})}
    print(name, summary[name], flush=True)


for name, build, dynamo in [
    ("hf-llama-mask", lambda: decoder(transformers.LlamaConfig, transformers.LlamaForSequenceClassification, 2040), True),
    ("hf-qwen2-mask-torchscript", lambda: decoder(transformers.Qwen2Config, transformers.Qwen2ForSequenceClassification, 2041), False),
    ("hf-phi3-mask-torchscript", lambda: decoder(transformers.Phi3Config, transformers.Phi3ForSequenceClassification, 2042), False),
]:
    export_masked(name, build(), dynamo)

# DeBERTa-v3 (DebertaV2ForSequenceClassification with v3's configuration: log-bucketed relative
# positions, shared attention keys, no absolute positions): its embeddings times the mask per
# token, the mask's outer product over the scores, and disentangled attention, the query and key
# projections of the (normalized) relative-position embeddings gathered at each token pair's
# bucket. Through dynamo (the buckets folded) and TorchScript (computed: Sign, Abs, Log, Ceil,
# Clip, and an If on the query and key lengths).
torch.manual_seed(2043)
deberta = transformers.DebertaV2Config(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4, max_position_embeddings=64, pad_token_id=0, relative_attention=True, position_buckets=16, pos_att_type=["p2c", "c2p"], max_relative_positions=-1, position_biased_input=False, norm_rel_ebd="layer_norm", share_att_key=True, **big)
for name, dynamo in [("hf-deberta-mask", True), ("hf-deberta-mask-torchscript", False)]:
    export_masked(name, Masked(transformers.DebertaV2ForSequenceClassification(deberta)).eval(), dynamo)

# Their samples: the same digit tokens (never id 1), 0 to 19 tokens of padding (id 1, mask 0) after
# them, or before them in every third sample (a tokenizer's padding_side='left': the positions shift).
left = np.arange(len(tokens)) % 3 == 2
at = np.arange(49)[None, :]
attention = np.where(left[:, None], at >= 49 - lengths[:, None], at < lengths[:, None]).astype(np.int64)
shifted = np.array([np.roll(row, 49 - n) if l else row for row, n, l in zip(tokens, lengths, left)])
arrays = {"input_ids": np.where(attention == 1, shifted, 1), "attention_mask": attention}
with zipfile.ZipFile(os.path.join(out_dir, "text-roberta-samples.npz"), "w", zipfile.ZIP_STORED) as archive:
    for key, array in arrays.items():
        with archive.open(zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0)), "w") as entry:
            np.lib.format.write_array(entry, array, allow_pickle=False)

with open(os.path.join(out_dir, "fixtures.json"), "w") as f:
    import onnxscript

    json.dump({"torch": torch.__version__, "onnxscript": onnxscript.__version__, "transformers": transformers.__version__, "models": summary}, f, indent=2)
    f.write("\n")
