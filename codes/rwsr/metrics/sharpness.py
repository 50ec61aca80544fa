"""A sharpness figure for SR outputs: mean gradient energy of the luma.

Perceptual SR adds high frequencies that PSNR penalises; the mean squared finite difference of
the luma says how much of them an output has, next to the HR truth's own value (more than HR
means invented texture or noise, much less means blur).
"""
import numpy as np

from .psnr_ssim import rgb_to_y


def mean_gradient_energy(img):
    """mean(dx^2 + dy^2) of the luma, with forward differences on the (H-1) x (W-1) grid.

    img: HxWx3 RGB (luma: BT.601 Y as in PSNR-Y, 16-235 scale) or HxW gray (0-255), uint8 or float.
    """
    img = np.asarray(img)
    luma = rgb_to_y(img) if img.ndim == 3 else img.astype(np.float64)
    if luma.ndim != 2 or min(luma.shape) < 2:
        raise ValueError(f"expected an image of at least 2x2 pixels, got shape {img.shape}")
    dx = luma[:-1, 1:] - luma[:-1, :-1]
    dy = luma[1:, :-1] - luma[:-1, :-1]
    return float(np.mean(dx * dx + dy * dy))
