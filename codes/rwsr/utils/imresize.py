"""MATLAB-compatible bicubic resizing (`imresize(img, scale, 'bicubic')`).

Follows MATLAB's algorithm: cubic kernel with a = -0.5, the kernel widened by
1/scale when downscaling (antialiasing), output size ceil(in * scale), source
coordinates u = x / scale + 0.5 * (1 - 1 / scale) and mirrored indices at the
borders. Rows are resized first, then columns (MATLAB's order for equal
scales). Each dimension is a banded matrix product: the weights are computed
once per (length, scale) and applied by BLAS in row blocks (numpy) or as two
dense matrix products (torch: batched, any device). No Python loop runs over
output pixels.
"""
import functools
import math

import numpy as np

from .errors import RwsrError

_BLOCK_ROWS = 64  # output rows per dense block of the banded resize matrix


def cubic(x):
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's 'bicubic')."""
    absx = np.abs(x)
    absx2 = absx * absx
    absx3 = absx2 * absx
    near = (1.5 * absx3 - 2.5 * absx2 + 1.0) * (absx <= 1)
    far = (-0.5 * absx3 + 2.5 * absx2 - 4.0 * absx + 2.0) * ((absx > 1) & (absx <= 2))
    return near + far


def output_length(in_length, scale):
    return int(math.ceil(in_length * scale))


def _check_scale(scale):
    try:
        value = float(scale)
    except (TypeError, ValueError):
        raise RwsrError(f"imresize scale {scale!r}: not a number; use a positive factor such as 0.25", 2) from None
    if not math.isfinite(value) or value <= 0:
        raise RwsrError(f"imresize scale {scale!r}: must be a positive finite factor such as 0.25", 2)
    return value


@functools.lru_cache(maxsize=64)
def resize_weights(in_length, scale, out_length=None):
    """(indices, weights) of shape (out_length, taps) for one dimension.

    Output pixel j is sum_t weights[j, t] * input[indices[j, t]] (0-based).
    out_length: MATLAB's imresize(img, [rows cols]) form, where scale is out_length / in_length;
    by default ceil(in_length * scale).
    """
    scale = _check_scale(scale)
    if in_length < 1:
        raise RwsrError("imresize: cannot resize an empty image", 2)
    out_length = output_length(in_length, scale) if out_length is None else int(out_length)
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = np.arange(1, out_length + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)  # 1-based source coordinate
    left = np.floor(u - kernel_width / 2.0)
    taps = int(math.ceil(kernel_width)) + 2
    indices = left[:, None] + np.arange(taps, dtype=np.float64)[None, :]
    distance = u[:, None] - indices
    weights = scale * cubic(scale * distance) if antialias else cubic(distance)
    weights /= weights.sum(axis=1, keepdims=True)
    # MATLAB mirrors out-of-range indices: 1..n, n..1, repeated.
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    indices = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    used = np.any(weights != 0, axis=0)  # taps that are zero for every output
    indices = np.ascontiguousarray(indices[:, used])
    weights = np.ascontiguousarray(weights[:, used])
    indices.flags.writeable = False
    weights.flags.writeable = False
    return indices, weights


@functools.lru_cache(maxsize=64)
def resize_blocks(in_length, scale):
    """The banded resize matrix cut into dense row blocks.

    Returns tuples (out_start, out_stop, in_start, in_stop, matrix): output rows
    out_start:out_stop are matrix @ input[in_start:in_stop]. One small matrix
    product per block keeps BLAS busy without multiplying the band's zeros.
    """
    indices, weights = resize_weights(in_length, scale)
    blocks = []
    for start in range(0, indices.shape[0], _BLOCK_ROWS):
        idx, wts = indices[start:start + _BLOCK_ROWS], weights[start:start + _BLOCK_ROWS]
        low, high = int(idx.min()), int(idx.max()) + 1
        matrix = np.zeros((idx.shape[0], high - low), dtype=np.float64)
        rows = np.repeat(np.arange(idx.shape[0]), idx.shape[1])
        np.add.at(matrix, (rows, (idx - low).ravel()), wts.ravel())  # mirrored taps add up
        matrix.flags.writeable = False
        blocks.append((start, start + idx.shape[0], low, high, matrix))
    return tuple(blocks)


def _resize_leading_axis(arr2d, scale):
    """Resize axis 0 of a 2-D array (axis 1 holds every column and channel)."""
    blocks = resize_blocks(arr2d.shape[0], scale)
    out = np.empty((blocks[-1][1], arr2d.shape[1]), dtype=arr2d.dtype)
    for out_start, out_stop, in_start, in_stop, matrix in blocks:
        np.matmul(matrix.astype(arr2d.dtype, copy=False), arr2d[in_start:in_stop], out=out[out_start:out_stop])
    return out


def imresize(img, scale):
    """MATLAB bicubic resize of an HxW or HxWxC array by `scale`.

    Returns float (float32 for float32 input, float64 otherwise) on the input's
    value range, unrounded: 0-255 values stay on 0-255.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise RwsrError(f"imresize: expected an HxW or HxWxC image, got shape {img.shape}", 2)
    if img.shape[0] == 0 or img.shape[1] == 0:
        raise RwsrError("imresize: cannot resize an empty image", 2)
    scale = _check_scale(scale)
    dtype = np.float32 if img.dtype == np.float32 else np.float64
    height, width = img.shape[:2]
    channels = img.shape[2:]
    rows = _resize_leading_axis(img.astype(dtype, copy=False).reshape(height, -1), scale)
    rows = rows.reshape((-1, width) + channels)
    columns = np.moveaxis(rows, 1, 0).reshape(width, -1)  # a copy that makes columns contiguous
    out = _resize_leading_axis(columns, scale).reshape((-1, rows.shape[0]) + channels)
    return np.ascontiguousarray(np.moveaxis(out, 0, 1))


def round_half_away(x):
    """Round to the nearest integer, halves away from zero (MATLAB's round)."""
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def quantize_uint8(x):
    """Float 0-255 values to uint8 as MATLAB converts them: rounded, saturated."""
    return np.clip(round_half_away(x), 0, 255).astype(np.uint8)


def imresize_uint8(img, scale):
    """MATLAB's uint8 result: bicubic resize, rounded half away from zero, saturated."""
    img = np.asarray(img)
    if img.dtype != np.uint8:
        raise RwsrError(f"imresize_uint8: expected a uint8 image, got {img.dtype}", 2)
    return quantize_uint8(imresize(img, scale))


def resize_matrix(in_length, scale, out_length=None):
    """Dense (out_length, in_length) float64 matrix of one dimension's resize."""
    indices, weights = resize_weights(in_length, scale, out_length)
    matrix = np.zeros((indices.shape[0], in_length), dtype=np.float64)
    rows = np.repeat(np.arange(indices.shape[0]), indices.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())  # mirrored taps add up
    return matrix


def imresize_torch(x, scale):
    """MATLAB bicubic resize of a float tensor [..., H, W] on its own device.

    Two matrix products (rows, then columns), batched over the leading
    dimensions; half-precision input is computed in float32 and cast back.
    """
    import torch  # imported here: the data-preparation commands need numpy only

    if x.dim() < 2:
        raise RwsrError(f"imresize_torch: expected a tensor [..., H, W], got shape {tuple(x.shape)}", 2)
    scale = _check_scale(scale)
    out_dtype = x.dtype if x.is_floating_point() else torch.float32
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    work = x.to(work_dtype)
    rows = torch.from_numpy(resize_matrix(x.shape[-2], scale)).to(device=x.device, dtype=work_dtype)
    cols = torch.from_numpy(resize_matrix(x.shape[-1], scale)).to(device=x.device, dtype=work_dtype)
    out = torch.matmul(torch.matmul(rows, work), cols.transpose(0, 1))
    return out.to(out_dtype)


def imresize_torch_to(x, height, width):
    """MATLAB's imresize(img, [height width], 'bicubic') of a float tensor [..., H, W]: each
    dimension resized by its own factor out / in to exactly the size asked."""
    import torch

    if x.dim() < 2 or height < 1 or width < 1:
        raise RwsrError(f"imresize_torch_to: cannot resize shape {tuple(x.shape)} to {height}x{width}", 2)
    out_dtype = x.dtype if x.is_floating_point() else torch.float32
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    in_h, in_w = x.shape[-2], x.shape[-1]
    rows = resize_matrix(in_h, height / in_h, height)
    cols = resize_matrix(in_w, width / in_w, width)
    rows = torch.from_numpy(rows).to(device=x.device, dtype=work_dtype)
    cols = torch.from_numpy(cols).to(device=x.device, dtype=work_dtype)
    return torch.matmul(torch.matmul(rows, x.to(work_dtype)), cols.transpose(0, 1)).to(out_dtype)
