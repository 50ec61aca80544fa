"""Gradient-exclusion loss between the two EDL branches: this project's extension, off by default.

After the gradient exclusion loss of Zhang et al. (CVPR 2018): at every scale s and for x and y
image gradients g, the loss is mean(tanh(l_p |g(y_p)|) * tanh(l_1 |g(y_1)|)) with
l_p = sqrt(||g(y_1)|| / ||g(y_p)||) per image (Frobenius norms) and l_1 = 1; scales come from
2x average pooling. It is small when the branches put edges in different places.
l_p only balances the two magnitudes, so it is treated as a constant (no gradient through it).
"""
import torch
from torch import nn
from torch.nn import functional as F

from ..utils.errors import RwsrError

EPS = 1e-6


def image_gradients(img):
    """Forward differences along x (width) and y (height)."""
    return img[..., :, 1:] - img[..., :, :-1], img[..., 1:, :] - img[..., :-1, :]


def _exclusion_term(grad_p, grad_1):
    grad_p, grad_1 = grad_p.float(), grad_1.float()  # norms of large images overflow in fp16
    norm_p = grad_p.detach().flatten(1).norm(dim=1)
    norm_1 = grad_1.detach().flatten(1).norm(dim=1)
    lam_p = torch.sqrt(norm_1 / (norm_p + EPS)).view(-1, *([1] * (grad_p.dim() - 1)))
    return (torch.tanh(lam_p * grad_p.abs()) * torch.tanh(grad_1.abs())).mean()


class ExclusionLoss(nn.Module):
    # The generator outputs it compares (a train.losses entry's loss(output, gt) is the default).
    inputs = ("y_p", "y_1")

    def __init__(self, scales=3):
        super().__init__()
        if scales < 1:
            raise RwsrError(f"train.exclusion_scales: {scales} must be at least 1")
        self.scales = scales

    def forward(self, y_p, y_1):
        total = y_p.new_zeros(())
        for scale in range(self.scales):
            if scale:
                if min(y_p.shape[-2:]) < 4:
                    break  # too small for another halving and a gradient
                y_p, y_1 = F.avg_pool2d(y_p, 2), F.avg_pool2d(y_1, 2)
            for grad_p, grad_1 in zip(image_gradients(y_p), image_gradients(y_1)):
                if grad_p.numel():  # a one-pixel-high (or -wide) image has no gradient along that axis
                    total = total + _exclusion_term(grad_p, grad_1)
        return total
