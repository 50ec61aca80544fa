"""Any image through an RGB generator without losing data: gray, gray+alpha, RGB, RGBA; 8 or 16 bits.

The colour channels run through the network in float32 (a 16-bit image never passes through 8
bits); gray is replicated to RGB on the way in and taken back as BT.601 luma on the way out. The
alpha channel is upscaled separately: MATLAB bicubic (`bicubic`, the default) or through the
network as a gray image (`model`, Real-ESRGAN's choice: sharper edges, one more forward). The
result has the input's layout and bit depth. `outscale` resizes the network's output with MATLAB
bicubic to round(outscale x input size).
"""
import math

import numpy as np
import torch

from ..utils.errors import RwsrError
from ..utils.image_io import color_part, has_alpha, to_uint8
from ..utils.imresize import imresize_torch_to

ALPHA_MODES = ("bicubic", "model")
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # BT.601, as OpenCV's RGB -> gray


def array_to_tensor(img):
    """HxW or HxWxC uint8/uint16 array -> 1xCxHxW float32 tensor in [0, 1]."""
    scale = np.float32(65535.0 if img.dtype == np.uint16 else 255.0)
    planes = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(planes).astype(np.float32) / scale).unsqueeze(0)


def tensor_to_array(tensor, dtype):
    """1xCxHxW float tensor in [0, 1] -> HxWxC (HxW for C = 1) array of dtype (uint8/uint16), rounded."""
    peak = 65535.0 if dtype == np.uint16 else 255.0
    values = tensor[0].detach().float().clamp(0, 1).mul_(peak).round_()
    values = values.to(torch.uint8) if dtype == np.uint8 else values.to(torch.int32)
    array = values.permute(1, 2, 0).cpu().numpy().astype(dtype, copy=False)
    return array[..., 0] if array.shape[2] == 1 else array


def rgb_to_gray(tensor):
    weights = torch.tensor(LUMA_WEIGHTS, dtype=tensor.dtype, device=tensor.device).view(1, 3, 1, 1)
    return (tensor * weights).sum(dim=1, keepdim=True)


def output_size(height, width, outscale):
    """round(outscale x size), halves up, at least 1 pixel."""
    return max(1, math.floor(height * outscale + 0.5)), max(1, math.floor(width * outscale + 0.5))


def check_settings(alpha, outscale):
    """(alpha mode, outscale as float or None); bad values are one-line errors (exit 2)."""
    if alpha not in ALPHA_MODES:
        raise RwsrError(f"--alpha {alpha}: unknown; use one of {', '.join(ALPHA_MODES)}", exit_code=2)
    if outscale is None:
        return alpha, None
    value = float(outscale)
    if not math.isfinite(value) or value <= 0:
        raise RwsrError(f"--outscale {outscale}: must be a positive number such as 3.5", exit_code=2)
    return alpha, value


class ImageUpscaler:
    """Super-resolve numpy images of any layout with an SRInference (or anything with run and scale)."""

    def __init__(self, inference, alpha="bicubic", outscale=None):
        self.inference = inference
        self.alpha, self.outscale = check_settings(alpha, outscale)

    @property
    def scale(self):
        """Output size / input size (the model's factor, or outscale)."""
        return self.outscale or self.inference.scale

    def target_size(self, height, width):
        if self.outscale is None:
            return height * self.inference.scale, width * self.inference.scale
        return output_size(height, width, self.outscale)

    def _through_model(self, planes, size):
        """SR of a 1- or 3-channel float tensor in [0, 1]; gray planes go through as replicated RGB."""
        gray = planes.shape[1] == 1
        sr = self.inference.run(planes.expand(-1, 3, -1, -1) if gray else planes)
        sr = rgb_to_gray(sr) if gray else sr  # weights sum to 1: stays in [0, 1]
        if tuple(sr.shape[-2:]) != tuple(size):
            sr = imresize_torch_to(sr.float(), *size).clamp_(0.0, 1.0)  # bicubic overshoots
        return sr

    @torch.inference_mode()
    def run_tensor(self, lr):
        """SR of a 1x3xHxW float RGB tensor in [0, 1] (datasets of option files) as HxWx3 uint8."""
        return tensor_to_array(self._through_model(lr, self.target_size(*lr.shape[-2:])), np.uint8)

    @torch.inference_mode()
    def run(self, img):
        """Super-resolve an HxW / HxWx2 / HxWx3 / HxWx4 uint8 or uint16 image; same layout and dtype out."""
        if img.dtype not in (np.uint8, np.uint16):
            raise RwsrError(f"expected a uint8 or uint16 image, got {img.dtype}")
        size = self.target_size(*img.shape[:2])
        color = self._through_model(array_to_tensor(color_part(img)), size)
        if not has_alpha(img):
            return tensor_to_array(color, img.dtype)
        alpha = array_to_tensor(img[:, :, -1])
        if self.alpha == "model":
            alpha = self._through_model(alpha, size)
        else:
            alpha = imresize_torch_to(alpha, *size).clamp_(0.0, 1.0)
        return tensor_to_array(torch.cat([color.cpu(), alpha.cpu()], dim=1), img.dtype)


def measurement_image(img):
    """What PSNR/SSIM/NIQE see: the colour channels rounded to 8 bits (HxW gray or HxWx3 RGB)."""
    return to_uint8(color_part(img))


def matching_gt(gt, sr_measured):
    """GT (any layout) in the layout of the measured SR image: gray <-> RGB as needed, 8 bits."""
    gt = measurement_image(gt)
    if sr_measured.ndim == 2 and gt.ndim == 3:
        luma = gt.astype(np.float64) @ np.array(LUMA_WEIGHTS)
        return np.clip(np.floor(luma + 0.5), 0, 255).astype(np.uint8)
    if sr_measured.ndim == 3 and gt.ndim == 2:
        return np.repeat(gt[:, :, None], 3, axis=2)
    return gt
