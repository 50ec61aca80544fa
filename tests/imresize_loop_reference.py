"""A deliberately plain MATLAB bicubic imresize: one output pixel at a time.

Written from the algorithm's definition (2-D weights per pixel, mirrored
borders), independent of rwsr.utils.imresize, for tests and the benchmark.
"""
import math

import numpy as np


def _kernel(x):
    x = abs(x)
    if x <= 1:
        return 1.5 * x ** 3 - 2.5 * x ** 2 + 1
    if x <= 2:
        return -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2
    return 0.0


def _mirror(k, n):
    """1-based index k folded into 1..n the way MATLAB pads (edge pixel repeated)."""
    while k < 1 or k > n:
        k = 1 - k if k < 1 else 2 * n + 1 - k
    return k


def _taps(out_index, n, scale):
    """0-based source indices and normalised weights of 0-based output index."""
    width = 4.0 / scale if scale < 1 else 4.0
    u = (out_index + 1) / scale + 0.5 * (1 - 1 / scale)
    first = math.floor(u - width / 2)
    indices, weights = [], []
    for k in range(first, first + math.ceil(width) + 2):
        weight = scale * _kernel(scale * (u - k)) if scale < 1 else _kernel(u - k)
        indices.append(_mirror(k, n) - 1)
        weights.append(weight)
    total = sum(weights)
    return np.array(indices), np.array(weights) / total


def imresize_loop(img, scale):
    img = np.asarray(img, dtype=np.float64)
    gray = img.ndim == 2
    if gray:
        img = img[:, :, None]
    height, width = img.shape[:2]
    out_h, out_w = math.ceil(height * scale), math.ceil(width * scale)
    row_taps = [_taps(i, height, scale) for i in range(out_h)]
    col_taps = [_taps(j, width, scale) for j in range(out_w)]
    out = np.zeros((out_h, out_w, img.shape[2]))
    for i, (rows, row_weights) in enumerate(row_taps):
        for j, (cols, col_weights) in enumerate(col_taps):
            window = img[np.ix_(rows, cols)]
            out[i, j] = np.einsum("a,b,abc->c", row_weights, col_weights, window)
    return out[:, :, 0] if gray else out
