"""The fixtures' MNIST split (written by torch-fixtures.mjs) and their training loop, shared by
torch_fixtures.py, resnext_fixture.py and half_fixture.py."""
import os
import time

import numpy as np
import torch
from torch import nn


def load_digits(data_dir, name):
    """The split's `name` digits as [n, 1, 28, 28] float32 and their int64 labels."""
    x = np.load(os.path.join(data_dir, f"{name}-x.npy")).reshape(-1, 1, 28, 28)
    y = np.load(os.path.join(data_dir, f"{name}-y.npy")).astype(np.int64)
    return torch.from_numpy(x), torch.from_numpy(y)


def fit(model, x, y, epochs, lr):
    """Adam on batches of 32 in a seeded order (one randperm per epoch), then eval mode."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(x))
        for i in range(0, len(order), 32):
            batch = order[i : i + 32]
            opt.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            opt.step()
    model.eval()


def train_on_split(model, data_dir, epochs, lr):
    """Fits `model` to the split's training digits; returns the test digits, their labels and the seconds it took."""
    train_x, train_y = load_digits(data_dir, "train")
    test_x, test_y = load_digits(data_dir, "test")
    started = time.time()
    fit(model, train_x, train_y, epochs, lr)
    return test_x, test_y, time.time() - started


def accuracy(model, x, y):
    """The share of `x` that `model` classifies as `y`."""
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()
