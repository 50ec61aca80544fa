"""BT.601 luma (Y of YCbCr, studio range) as MATLAB's rgb2ycbcr and the official bgr2ycbcr compute it.

Y = 16 + (65.481 R + 128.553 G + 24.966 B) for RGB in [0, 1], on the 0-255 scale.
"""
import numpy as np

Y_WEIGHTS = (65.481 / 255.0, 128.553 / 255.0, 24.966 / 255.0)  # per unit of RGB on the output's scale
Y_OFFSET = 16.0 / 255.0  # for images in [0, 1]; 16 on the 0-255 scale


def rgb_to_y(img, value_range=1.0):
    """Luma (float64, HxW) of an HxWx3 RGB image whose values span [0, value_range]."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an HxWx3 RGB image, got shape {img.shape}")
    return img @ np.array(Y_WEIGHTS) + Y_OFFSET * value_range
