"""One HR/LR training pair from one photo.

Source photos (the corrupted domain) are first downscaled by the clean-up
factor, which averages away most of their noise and compression artifacts;
target photos (the clean domain) are used as they are. Both are cropped from
the top left to a multiple of the scale and saved as HR; LR is the MATLAB
bicubic downscale of the saved 8-bit HR. Files are PNG named after the input's stem.
"""
import os

import numpy as np

from ..utils.errors import RwsrError
from ..utils.image_io import image_stem, modcrop, read_image, to_uint8, write_image
from ..utils.imresize import imresize, imresize_uint8, quantize_uint8
from .batch import TaskResult


def clean_up(img, factor):
    """Downscale a source photo: bicubic averaging removes most of its noise and artifacts."""
    if factor == 1:
        return to_uint8(img)
    values = img.astype(np.float64)
    if img.dtype == np.uint16:
        values /= 257.0  # to the 0-255 scale before resizing, rounded once at the end
    return quantize_uint8(imresize(values, 1.0 / factor))


def make_pair(path, role, hr_dir, lr_dir, cleanup, upscale, overwrite):
    """Write HR/<stem>.png and LR/<stem>.png for one photo (a worker task)."""
    name = image_stem(path) + ".png"
    hr_path, lr_path = os.path.join(hr_dir, name), os.path.join(lr_dir, name)
    if not overwrite and os.path.exists(hr_path) and os.path.exists(lr_path):
        return TaskResult(path, "existing")
    img = read_image(path)
    hr = clean_up(img, cleanup) if role == "source" else to_uint8(img)
    hr = modcrop(hr, upscale)
    if hr.shape[0] == 0 or hr.shape[1] == 0:
        raise RwsrError(f"{path}: too small ({img.shape[1]}x{img.shape[0]}) for clean-up /{cleanup:g} "
                        f"and x{upscale}")
    lr = imresize_uint8(hr, 1.0 / upscale)
    write_image(hr_path, hr)
    write_image(lr_path, lr)
    return TaskResult(path, "done")
