"""The timing protocol bench/numpy_admm.py and bench/torch_admm.py share (the same as
bench/measure.mjs for the WebGPU path): every repeat times each function back to back, and the
ratios are medians of each repeat's own ratios, because the machine's speed drifts between
repeats on shared hosts, less within one."""
import statistics
import time


def timed(functions, repeats, iterations, sync=lambda: None):
    """Seconds per call of each function (medians over repeats of `iterations` calls), and the
    median per-repeat ratio of the first to each of the others."""
    def once(fn):
        sync(); t = time.perf_counter()
        for _ in range(iterations):
            fn()
        sync(); return (time.perf_counter() - t) / iterations
    for fn in functions:  # warm-up (BLAS threads; on CUDA cuBLAS handles and kernel selection)
        fn()
    sync()
    rows = [[once(fn) for fn in functions] for _ in range(repeats)]
    # statistics.median as np.median: the mean of the middle two for an even count
    medians = [statistics.median(column) for column in zip(*rows)]
    return medians, [statistics.median([row[0] / row[k] for row in rows]) for k in range(1, len(functions))]
