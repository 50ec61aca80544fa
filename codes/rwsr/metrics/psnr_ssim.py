"""PSNR and SSIM on 8-bit RGB images, as reported in SR papers.

Definitions follow the MATLAB code used by the SR literature (and BasicSR):
the border of `crop_border` pixels is ignored, Y is BT.601 luma as MATLAB's
rgb2ycbcr computes it (not rounded), SSIM uses an 11x11 Gaussian window with
sigma 1.5 over the valid region and is averaged over channels.
"""
import cv2
import numpy as np

from ..utils import color

_SSIM_SIGMA = 1.5
_SSIM_RADIUS = 5  # 11x11 window
_DATA_RANGE = 255.0


def rgb_to_y(img):
    """Luma (float64, [16, 235] for inputs in [0, 255]) of an HxWx3 RGB image."""
    return color.rgb_to_y(img, value_range=_DATA_RANGE)


def _prepare(img1, img2, crop_border, test_y_channel):
    """Check shapes, crop the border, optionally take Y; returns float64 arrays."""
    img1, img2 = np.asarray(img1), np.asarray(img2)
    if img1.shape != img2.shape:
        raise ValueError(f"image shapes differ: {img1.shape} vs {img2.shape}")
    for img in (img1, img2):
        if img.dtype != np.uint8:
            raise TypeError(f"expected uint8 images, got {img.dtype}")
    if crop_border:
        if 2 * crop_border >= min(img1.shape[:2]):
            raise ValueError(f"crop_border {crop_border} leaves nothing of a {img1.shape[1]}x{img1.shape[0]} image")
        img1 = img1[crop_border:-crop_border, crop_border:-crop_border, ...]
        img2 = img2[crop_border:-crop_border, crop_border:-crop_border, ...]
    if test_y_channel:
        return rgb_to_y(img1), rgb_to_y(img2)
    return img1.astype(np.float64), img2.astype(np.float64)


def calculate_psnr(img1, img2, crop_border=0, test_y_channel=False):
    """PSNR in dB of two uint8 HxWx3 (or HxW) images; inf when they are equal."""
    img1, img2 = _prepare(img1, img2, crop_border, test_y_channel)
    mse = np.mean((img1 - img2) ** 2)
    if mse == 0:
        return float("inf")
    return float(10.0 * np.log10(_DATA_RANGE ** 2 / mse))


def _gaussian_window():
    kernel = cv2.getGaussianKernel(2 * _SSIM_RADIUS + 1, _SSIM_SIGMA)
    return kernel @ kernel.T


def _ssim_single_channel(img1, img2, window):
    """Mean SSIM map of one channel over the positions where the window fits."""
    c1 = (0.01 * _DATA_RANGE) ** 2
    c2 = (0.03 * _DATA_RANGE) ** 2
    r = _SSIM_RADIUS

    def local_mean(img):
        return cv2.filter2D(img, -1, window)[r:-r, r:-r]

    mu1, mu2 = local_mean(img1), local_mean(img2)
    var1 = local_mean(img1 * img1) - mu1 ** 2
    var2 = local_mean(img2 * img2) - mu2 ** 2
    cov = local_mean(img1 * img2) - mu1 * mu2
    ssim_map = ((2 * mu1 * mu2 + c1) * (2 * cov + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (var1 + var2 + c2))
    return float(ssim_map.mean())


def calculate_ssim(img1, img2, crop_border=0, test_y_channel=False):
    """SSIM (Wang et al. 2004) of two uint8 images, averaged over channels."""
    img1, img2 = _prepare(img1, img2, crop_border, test_y_channel)
    if min(img1.shape[:2]) <= 2 * _SSIM_RADIUS:
        raise ValueError(f"SSIM needs images of at least {2 * _SSIM_RADIUS + 1}x{2 * _SSIM_RADIUS + 1} pixels, got {img1.shape[:2]}")
    window = _gaussian_window()
    if img1.ndim == 2:
        return _ssim_single_channel(img1, img2, window)
    scores = [_ssim_single_channel(img1[..., c], img2[..., c], window) for c in range(img1.shape[2])]
    return float(np.mean(scores))
