"""Running a one-channel generator (trained with `color: Y`) on RGB images.

Training with `color: Y` feeds the generator BT.601 luma in the studio range, as MATLAB's
rgb2ycbcr computes it (rwsr.utils.color). At test time the RGB image is converted to YCbCr, the
generator super-resolves Y, the chroma planes are upscaled bicubically, and the result is
converted back: the classic way to apply a luma model to colour photos. Gray images come in as
three equal channels and come back gray (Cb = Cr = 128/255 throughout).
"""
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..archs import generator_outputs

# MATLAB rgb2ycbcr for RGB in [0, 1]: ycbcr = OFFSET + MATRIX @ rgb (rows Y, Cb, Cr).
_MATRIX = np.array([[65.481, 128.553, 24.966], [-37.797, -74.203, 112.0], [112.0, -93.786, -18.214]]) / 255.0
_OFFSET = np.array([16.0, 128.0, 128.0]) / 255.0


class LumaGenerator(nn.Module):
    """RGB (N x 3 x H x W in [0, 1]) -> RGB at `scale`, the wrapped generator seeing only Y."""

    in_channels = 3

    def __init__(self, net, scale):
        super().__init__()
        self.net, self.scale = net, int(scale)
        self.register_buffer("to_ycbcr", torch.tensor(_MATRIX, dtype=torch.float32), persistent=False)
        self.register_buffer("to_rgb", torch.tensor(np.linalg.inv(_MATRIX), dtype=torch.float32), persistent=False)
        self.register_buffer("offset", torch.tensor(_OFFSET, dtype=torch.float32).view(1, 3, 1, 1), persistent=False)

    def forward(self, rgb):
        ycbcr = torch.einsum("ij,njhw->nihw", self.to_ycbcr.to(rgb.dtype), rgb) + self.offset.to(rgb.dtype)
        luma = generator_outputs(self.net(ycbcr[:, :1]))[0]
        chroma = ycbcr[:, 1:]
        if self.scale != 1:
            chroma = F.interpolate(chroma, scale_factor=self.scale, mode="bicubic", align_corners=False)
        sr = torch.cat([luma.to(chroma.dtype), chroma], dim=1) - self.offset.to(chroma.dtype)
        return torch.einsum("ij,njhw->nihw", self.to_rgb.to(sr.dtype), sr)
