"""Pixel losses: l1, l2 (mean squared error) and Charbonnier."""
import torch
from torch import nn
from torch.nn import functional as F

from ..options.schema import TRAIN
from ..utils.errors import RwsrError

PIXEL_CRITERIA = TRAIN["pixel_criterion"].choices


def charbonnier(x, y, eps=1e-6):
    """mean(sqrt((x - y)^2 + eps)): a smooth L1. Mean, not the official sum, so the weight does
    not depend on batch and patch size."""
    diff = x - y
    return torch.sqrt(diff * diff + eps).mean()


class PixelLoss(nn.Module):
    def __init__(self, criterion="l1"):
        super().__init__()
        if criterion not in PIXEL_CRITERIA:
            raise RwsrError(f"pixel_criterion: unknown {criterion!r}; valid: {', '.join(PIXEL_CRITERIA)}")
        self.criterion = criterion

    def forward(self, x, y):
        if self.criterion == "l1":
            return F.l1_loss(x, y)
        if self.criterion == "l2":
            return F.mse_loss(x, y)
        return charbonnier(x, y)
