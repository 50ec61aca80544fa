"""Per-image filtering of a batch in one grouped convolution, and unsharp masking."""
import functools

import torch
import torch.nn.functional as F


def _pad(images, pad):
    """Border of `pad` pixels for a same-size filter.

    Reflection needs more pixels than the padding; tiny images (a strong downscale of a small
    crop) fall back to repeating the border."""
    mode = "reflect" if pad < min(images.shape[-2:]) else "replicate"
    return F.pad(images, (pad, pad, pad, pad), mode=mode)


def filter_per_image(images, kernels):
    """images (B, C, H, W), kernels (B, K, K) with K odd: image b filtered by kernel b, same size.

    The batch becomes B*C groups of one channel, so the whole batch is one conv2d call. The
    kernels are point-symmetric, so correlation (conv2d) equals convolution.
    """
    batch, channels, height, width = images.shape
    size = kernels.shape[-1]
    padded = _pad(images, size // 2).reshape(1, batch * channels, height + size - 1, width + size - 1)
    weight = kernels.to(images.dtype).repeat_interleave(channels, dim=0).unsqueeze(1)
    return F.conv2d(padded, weight, groups=batch * channels).view(batch, channels, height, width)


def gaussian_kernel_1d(radius, sigma, dtype=torch.float32, device=None):
    axis = torch.arange(-radius, radius + 1, dtype=torch.float64)
    weights = torch.exp(-axis ** 2 / (2 * sigma ** 2))
    return (weights / weights.sum()).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=32)
def _blur_matrix(length, radius, sigma, dtype, device):
    """(length, length) matrix of a 1-D Gaussian with reflected borders (repeated when the side is not longer
    than the radius): row j weighs the inputs of output j. A separable blur is then two matrix products, much
    faster on CPUs than a 51-tap depthwise convolution."""
    identity = torch.eye(length, dtype=torch.float64).view(length, 1, length)
    padded = F.pad(identity, (radius, radius), mode="reflect" if radius < length else "replicate")
    taps = gaussian_kernel_1d(radius, sigma, torch.float64).view(1, 1, -1)
    responses = F.conv1d(padded, taps)[:, 0, :]       # responses[i, j]: output j of the unit input i
    return responses.t().contiguous().to(dtype=dtype, device=device)


def separable_blur(images, radius, sigma):
    """The same Gaussian on every channel (columns, then rows), borders reflected."""
    height, width = images.shape[-2:]
    rows = _blur_matrix(height, radius, sigma, images.dtype, images.device)
    cols = _blur_matrix(width, radius, sigma, images.dtype, images.device)
    return rows @ images @ cols.t()


# Real-ESRGAN's sharpening of the ground truth: a 51-tap Gaussian (OpenCV's sigma for that
# size, 0.3 * (25 - 1) + 0.8), half the detail added back, only where the detail exceeds
# 10 gray levels, with a blurred mask so that the sharpened areas fade in.
USM_RADIUS = 25
USM_SIGMA = 0.3 * (USM_RADIUS - 1) + 0.8
USM_WEIGHT = 0.5
USM_THRESHOLD = 10 / 255


def usm_sharpen(images, weight=USM_WEIGHT, threshold=USM_THRESHOLD):
    """Unsharp masking of a (B, C, H, W) batch in [0, 1]; the result stays in [0, 1]."""
    blurred = separable_blur(images, USM_RADIUS, USM_SIGMA)
    detail = images - blurred
    mask = (detail.abs() > threshold).to(images.dtype)
    soft_mask = separable_blur(mask, USM_RADIUS, USM_SIGMA)
    sharp = (images + weight * detail).clamp(0, 1)
    return soft_mask * sharp + (1 - soft_mask) * images


__all__ = ["filter_per_image", "separable_blur", "usm_sharpen", "gaussian_kernel_1d"]
