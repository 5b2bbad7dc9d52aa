#!/usr/bin/env python3
"""The Net-Trim ADMM iteration (net-trim.md section 3) in numpy: the baseline bench/run.mjs times
beside the WebGPU path. Same shapes, same normalization, same unfused elementwise steps as a
straightforward port. Prints one JSON object.

usage: python3 bench/numpy_admm.py N M P [--iterations 3] [--repeats 5] [--dtype float64|float32]
(N counts the bias column.) Install numpy with Debian's python3-numpy or pip.
"""
import argparse, json, os, time
import numpy as np
from admm_timing import timed  # bench/admm_timing.py, beside this script

parser = argparse.ArgumentParser()
parser.add_argument("N", type=int); parser.add_argument("M", type=int); parser.add_argument("P", type=int)
parser.add_argument("--iterations", type=int, default=3)
parser.add_argument("--repeats", type=int, default=5)
parser.add_argument("--dtype", default="float64")
args = parser.parse_args()
dt = np.dtype(args.dtype)
rng = np.random.default_rng(args.N * 7 + args.M * 13 + args.P)

# A dense ReLU layer on nonnegative inputs, paper orientation: X is N×P, Y is M×P.
X = np.maximum(rng.standard_normal((args.N, args.P)), 0)
X[-1, :] = 1.0  # bias row
W = rng.standard_normal((args.N, args.M)) / np.sqrt(args.N)
Y = np.maximum(W.T @ X + 0.01, 0)
c0 = 0.3 * np.sqrt(np.max(np.sum(X * X, axis=1)))
X, Y = (X / c0).astype(dt), (Y / c0).astype(dt)
omega = Y > 1e-6 / c0
eps = 0.05 * np.linalg.norm(Y)
rho = 10.0

t = time.perf_counter()
Ainv = np.linalg.inv(X @ X.T + np.eye(args.N, dtype=dt)).astype(dt)
setup = time.perf_counter() - t

W1 = np.zeros((args.M, args.P), dt); U1 = np.zeros_like(W1)
W2 = np.zeros((args.N, args.M), dt); W3 = np.zeros_like(W2); U2 = np.zeros_like(W2)

def iteration():
    global W1, W2, W3, U1, U2
    Z = W3.T @ X - U1
    D = np.where(omega, Z - Y, 0)
    shrink = eps / max(np.linalg.norm(D), eps)
    W1 = np.where(omega, Y + D * shrink, np.minimum(Z, 0))
    T = W3 - U2
    W2 = np.sign(T) * np.maximum(np.abs(T) - 1 / rho, 0)
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

(it, prod, allp), (ratio, ratio_all) = timed((iteration, products, all_products), args.repeats, args.iterations)
flops = 2 * 2 * args.M * args.N * args.P
print(json.dumps({
    "numpy": np.__version__, "dtype": args.dtype,
    "openblasCoretype": os.environ.get("OPENBLAS_CORETYPE"),
    "secondsPerIteration": it, "productsWithXSecondsPerIteration": prod,
    "iterationToMatmulRatio": ratio, "allProductsSecondsPerIteration": allp,
    "iterationToAllProductsRatio": ratio_all, "matmulGflops": flops / prod / 1e9, "setupSeconds": setup,
}))
