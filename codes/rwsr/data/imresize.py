"""MATLAB-compatible bicubic resizing (`imresize(img, scale, 'bicubic')`).

Follows MATLAB's algorithm: cubic kernel with a = -0.5, the kernel widened by
1/scale when downscaling (antialiasing), output size ceil(in * scale), source
coordinates u = x / scale + 0.5 * (1 - 1 / scale) and mirrored indices at the
borders. Rows are resized first, then columns (MATLAB's order for equal
scales). Each dimension is one weighted sum over a few taps: the weights and
source indices are computed once per (length, scale), so there is no Python
loop over output pixels.
"""
import functools
import math

import numpy as np

from ..utils.errors import RwsrError


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
def resize_weights(in_length, scale):
    """(indices, weights) of shape (out_length, taps) for one dimension.

    Output pixel j is sum_t weights[j, t] * input[indices[j, t]] (0-based).
    """
    scale = _check_scale(scale)
    if in_length < 1:
        raise RwsrError("imresize: cannot resize an empty image", 2)
    out_length = output_length(in_length, scale)
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


def _resize_axis(arr, axis, scale):
    """Resize arr along axis 0 or 1 (tap by tap: a gather and a multiply-add)."""
    indices, weights = resize_weights(arr.shape[axis], scale)
    weights = weights.astype(arr.dtype, copy=False)
    out_shape = list(arr.shape)
    out_shape[axis] = indices.shape[0]
    out = np.zeros(out_shape, dtype=arr.dtype)
    column_shape = (-1,) + (1,) * (arr.ndim - 1) if axis == 0 else (1, -1) + (1,) * (arr.ndim - 2)
    for tap in range(indices.shape[1]):
        out += weights[:, tap].reshape(column_shape) * np.take(arr, indices[:, tap], axis=axis)
    return out


def imresize(img, scale):
    """MATLAB bicubic resize of an HxW or HxWxC array by `scale`.

    Returns float (float32 for float32 input, float64 otherwise) on the input's
    value range, unrounded: 0-255 values stay on 0-255.
    """
    img = np.asarray(img)
    if img.ndim not in (2, 3):
        raise RwsrError(f"imresize: expected an HxW or HxWxC image, got shape {img.shape}", 2)
    scale = _check_scale(scale)
    dtype = np.float32 if img.dtype == np.float32 else np.float64
    out = _resize_axis(img.astype(dtype, copy=False), 0, scale)
    return _resize_axis(out, 1, scale)


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


def resize_matrix(in_length, scale):
    """Dense (out_length, in_length) float64 matrix of one dimension's resize."""
    indices, weights = resize_weights(in_length, scale)
    matrix = np.zeros((indices.shape[0], in_length), dtype=np.float64)
    rows = np.repeat(np.arange(indices.shape[0]), indices.shape[1])
    np.add.at(matrix, (rows, indices.ravel()), weights.ravel())  # mirrored taps add up
    return matrix


def imresize_torch(x, scale):
    """MATLAB bicubic resize of a float tensor [..., H, W] on its own device.

    Two matrix products (rows, then columns), batched over the leading
    dimensions; half-precision input is computed in float32 and cast back.
    """
    import torch  # imported here: the preprocessing scripts need numpy only

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
