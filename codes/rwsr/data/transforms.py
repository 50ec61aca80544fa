"""Pure image operations used by the datasets (numpy HxWxC float32 in [0, 1]).

Randomness comes in as a numpy Generator, so every augmentation is a function
of the generator's seed alone.
"""
import numpy as np
import torch

from ..utils import color
from ..utils.image_io import to_float32
from ..utils.imresize import imresize

# LR pixels kept around an on-the-fly crop so that the bicubic kernel (4 * scale HR pixels wide)
# never reaches the cut; the crop then equals the same window of the whole image's LR.
_RESIZE_MARGIN = 3


def random_crop_box(rng, lq_height, lq_width, lq_size):
    """Top-left corner (LR pixels) of a random lq_size x lq_size window."""
    top = int(rng.integers(0, lq_height - lq_size + 1))
    left = int(rng.integers(0, lq_width - lq_size + 1))
    return top, left


def crop(img, top, left, size):
    return img[top: top + size, left: left + size]


def bicubic_downscale(gt, scale):
    """MATLAB bicubic LR of a float image, clipped to [0, 1] like a saved image."""
    return np.clip(imresize(gt, 1.0 / scale), 0.0, 1.0).astype(np.float32)


def bicubic_lr_crop(gt, top, left, lq_size, scale):
    """Window (top, left, lq_size) of the LR of a uint8/uint16 HR, without resizing the whole image."""
    lq_height, lq_width = gt.shape[0] // scale, gt.shape[1] // scale
    top0, left0 = max(top - _RESIZE_MARGIN, 0), max(left - _RESIZE_MARGIN, 0)
    bottom = min(top + lq_size + _RESIZE_MARGIN, lq_height)
    right = min(left + lq_size + _RESIZE_MARGIN, lq_width)
    region = to_float32(gt[top0 * scale: bottom * scale, left0 * scale: right * scale])
    return crop(bicubic_downscale(region, scale), top - top0, left - left0, lq_size)


def draw_flips(rng, use_flip, use_rot):
    """(hflip, vflip, transpose) as the official augment: flip, then 90-degree rotations."""
    hflip = bool(use_flip and rng.random() < 0.5)
    vflip = bool(use_rot and rng.random() < 0.5)
    transpose = bool(use_rot and rng.random() < 0.5)
    return hflip, vflip, transpose


def apply_flips(img, flips):
    hflip, vflip, transpose = flips
    if hflip:
        img = img[:, ::-1]
    if vflip:
        img = img[::-1]
    if transpose:
        img = img.transpose(1, 0, 2)
    return img


def rgb_to_y(img):
    """HxWx3 RGB float in [0, 1] -> HxWx1 BT.601 luma in [16/255, 235/255]."""
    return color.rgb_to_y(img)[:, :, None].astype(np.float32)


def to_tensor(img):
    """HxWxC float32 array -> contiguous CxHxW tensor."""
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1), dtype=np.float32))
