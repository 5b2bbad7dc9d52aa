#!/usr/bin/env python3
"""The Net-Trim ADMM iteration in PyTorch on CUDA: the same port as bench/numpy_admm.py (same
shapes, normalization and unfused steps), for comparing the WebGPU path with a PyTorch port on
the same NVIDIA GPU. Prints one JSON object like numpy_admm.py.

usage: python3 bench/torch_admm.py N M P [--iterations 20] [--repeats 5] [--dtype float32|tf32|float64] [--device cuda|cpu]
(tf32: float32 arrays with the matrix products on TF32 tensor cores, torch's "high" precision.)
(N counts the bias column.) Meant for torch with CUDA; --device defaults to cuda when available,
else cpu (for checking the script against numpy_admm.py only). The problem is drawn with numpy's
generator exactly as numpy_admm.py draws it, so both scripts solve the same problem bit for bit.
"""
import argparse, json, time
import numpy as np
import torch
from admm_timing import timed  # bench/admm_timing.py, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("N", type=int); parser.add_argument("M", type=int); parser.add_argument("P", type=int)
parser.add_argument("--iterations", type=int, default=20)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--dtype", default="float32")
parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
args = parser.parse_args()
dt = torch.float32 if args.dtype == "tf32" else getattr(torch, args.dtype)
dev = torch.device(args.device)
# float32: no TF32, the products are IEEE float32 as ours; tf32: 10-bit mantissas in the products.
torch.set_float32_matmul_precision("high" if args.dtype == "tf32" else "highest")

# A dense ReLU layer on nonnegative inputs, paper orientation: X is N×P, Y is M×P. Drawn in numpy,
# line for line as numpy_admm.py (same seed, same generator), then moved to the device.
rng = np.random.default_rng(args.N * 7 + args.M * 13 + args.P)
X = np.maximum(rng.standard_normal((args.N, args.P)), 0)
X[-1, :] = 1.0  # bias row
W = rng.standard_normal((args.N, args.M)) / np.sqrt(args.N)
Y = np.maximum(W.T @ X + 0.01, 0)
c0 = float(0.3 * np.sqrt(np.max(np.sum(X * X, axis=1))))
X, Y = (torch.from_numpy(X / c0).to(dev, dt), torch.from_numpy(Y / c0).to(dev, dt))
omega = Y > 1e-6 / c0
eps = 0.05 * torch.linalg.norm(Y)
rho = 10.0

def sync():
    if dev.type == "cuda":
        torch.cuda.synchronize()

sync(); t = time.perf_counter()
Ainv = torch.linalg.inv(X @ X.T + torch.eye(args.N, dtype=dt, device=dev))
sync(); setup = time.perf_counter() - t

W1 = torch.zeros(args.M, args.P, dtype=dt, device=dev); U1 = torch.zeros_like(W1)
W2 = torch.zeros(args.N, args.M, dtype=dt, device=dev); W3 = torch.zeros_like(W2); U2 = torch.zeros_like(W2)
zero = torch.zeros((), dtype=dt, device=dev)

def iteration():
    global W1, W2, W3, U1, U2
    Z = W3.T @ X - U1
    D = torch.where(omega, Z - Y, zero)
    shrink = eps / torch.clamp(torch.linalg.norm(D), min=eps)  # stays on the GPU: no host sync
    W1 = torch.where(omega, Y + D * shrink, torch.minimum(Z, zero))
    T = W3 - U2
    W2 = torch.sign(T) * torch.clamp(torch.abs(T) - 1 / rho, min=0)
    W3 = Ainv @ (X @ (W1 + U1).T + W2 + U2)
    U1 = U1 + W1 - W3.T @ X
    U2 = U2 + W2 - W3

def products():
    a = W3.T @ X
    b = X @ (W1 + U1).T
    return a, b

def all_products():
    """The two products with X and the solve's (N²·M): the iteration without its elementwise steps."""
    a = W3.T @ X
    b = Ainv @ (X @ (W1 + U1).T)
    return a, b

(it, prod, allp), (ratio, ratio_all) = timed((iteration, products, all_products), args.repeats, args.iterations, sync)
flops = 2 * 2 * args.M * args.N * args.P
print(json.dumps({
    "torch": torch.__version__, "dtype": args.dtype,
    "device": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
    "secondsPerIteration": it, "productsWithXSecondsPerIteration": prod,
    "iterationToMatmulRatio": ratio, "allProductsSecondsPerIteration": allp,
    "iterationToAllProductsRatio": ratio_all, "matmulGflops": flops / prod / 1e9, "setupSeconds": setup,
}))
