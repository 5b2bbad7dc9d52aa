"""Trains and exports the Keras 3 ONNX fixtures (see keras-onnx-fixtures.mjs, which runs this).

usage: keras_onnx_fixtures.py DATA_DIR OUT_DIR [NAME...]   (only those; fixtures.json keeps the others)
"""
import json
import logging
import os
import sys
import warnings

os.environ["KERAS_BACKEND"] = "torch"  # Keras 3 exports ONNX through torch.onnx with this backend
warnings.filterwarnings("ignore")
logging.disable(logging.WARNING)

import keras  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from keras import layers  # noqa: E402

data_dir, out_dir, only = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out_dir, exist_ok=True)
torch.set_num_threads(2)
keras.utils.set_random_seed(20261206)


def load(name):
    x = np.load(os.path.join(data_dir, f"{name}-x.npy"))
    return x, np.load(os.path.join(data_dir, f"{name}-y.npy")).astype(np.int64)


train_x, train_y = load("train")
test_x, test_y = load("test")


def mlp():
    i = keras.Input((784,))
    x = layers.Dense(64, activation="relu")(i)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(i, layers.Dense(10, activation="softmax")(x))


def cnn():
    """Conv2D + ReLU, MaxPooling2D, Conv2D 'same' + BatchNormalization + ReLU, MaxPooling2D, Conv2D + ReLU, GlobalAveragePooling2D, softmax."""
    i = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, activation="relu")(i)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(16, 3, padding="same")(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(24, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(i, layers.Dense(10, activation="softmax")(x))


def functional():
    """Stride-2 'same' conv, a depthwise ReLU6 branch added back, a Concatenate, AveragePooling2D, Flatten, a GELU Dense."""
    i = keras.Input((28, 28, 1))
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(i)
    y = layers.DepthwiseConv2D(3, padding="same")(x)
    y = layers.ReLU(6.0)(y)
    y = layers.Conv2D(8, 1)(y)
    x = layers.Add()([x, y])
    z = layers.Conv2D(4, 1, activation="relu")(x)
    x = layers.Concatenate()([x, z])
    x = layers.AveragePooling2D(2)(x)
    x = layers.Flatten()(x)
    x = layers.Dense(16, activation="gelu")(x)
    return keras.Model(i, layers.Dense(10)(x))


def text():
    """Token ids of any length (the sequence axis open): Embedding, Conv1D + ReLU, GlobalAveragePooling1D, a ReLU Dense, logits."""
    i = keras.Input((None,), dtype="int32")
    x = layers.Embedding(196, 16)(i)
    x = layers.Conv1D(16, 3, padding="same", activation="relu")(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dense(32, activation="relu")(x)
    return keras.Model(i, layers.Dense(10)(x))


train_tokens, test_tokens = np.load(os.path.join(data_dir, "train-tokens.npy")), np.load(os.path.join(data_dir, "test-tokens.npy"))
path = os.path.join(out_dir, "fixtures.json")
summary = json.load(open(path))["models"] if only and os.path.exists(path) else {}
models = [("mlp", mlp, (784,), 3), ("cnn", cnn, (28, 28, 1), 6), ("functional", functional, (28, 28, 1), 4), ("text", text, None, 8)]
for name, build, shape, epochs in [m for m in models if not only or m[0] in only]:
    model = build()
    model.compile(optimizer=keras.optimizers.Adam(0.003), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=name in ("functional", "text")), metrics=["accuracy"])
    inputs = (lambda x, tokens: tokens) if shape is None else (lambda x, tokens: x.reshape(-1, *shape))
    model.fit(inputs(train_x, train_tokens), train_y, batch_size=32, epochs=epochs, verbose=0, shuffle=True)
    accuracy = float(np.mean(np.argmax(model.predict(inputs(test_x, test_tokens), verbose=0), 1) == test_y))
    path = os.path.join(out_dir, f"{name}.onnx")
    model.export(path, format="onnx", verbose=False)
    summary[name] = {"parameters": int(model.count_params()), "epochs": epochs, "test_accuracy": accuracy, "bytes": os.path.getsize(path)}
    print(name, summary[name], flush=True)

with open(os.path.join(out_dir, "fixtures.json"), "w") as f:
    json.dump({"keras": keras.__version__, "torch": torch.__version__, "models": summary}, f, indent=2)
    f.write("\n")
