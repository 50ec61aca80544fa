"""Iterative back-projection: make the SR image consistent with its LR input.

As in the official code's idea: downscale SR by the scale factor, take the
error against the LR image, upscale the error and add it back. MATLAB bicubic
(with antialiasing) is used both ways, as for the training data.
"""
from ..utils.imresize import imresize_torch


def back_project(sr, lr, scale, iterations=1, weight=1.0):
    """Return SR (NxCxsHxsW in [0, 1]) corrected against LR (NxCxHxW in [0, 1])."""
    sr = sr.float()
    lr = lr.to(sr.device, sr.dtype)
    for _ in range(iterations):
        error = lr - imresize_torch(sr, 1.0 / scale)
        sr = (sr + weight * imresize_torch(error, float(scale))).clamp_(0.0, 1.0)
    return sr
