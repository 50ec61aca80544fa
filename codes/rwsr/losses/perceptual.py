"""Perceptual losses: distance of VGG19 features, or LPIPS."""
import torch
from torch import nn
from torch.nn import functional as F

from ..archs.lpips_net import LPIPSNetwork
from ..archs.vgg import VGGFeatureExtractor
from ..options.schema import TRAIN
from ..utils.errors import RwsrError

# The VGG distances of train.feature_criterion (its other choice, lpips, is LPIPSLoss).
FEATURE_CRITERIA = tuple(c for c in TRAIN["feature_criterion"].choices if c != "lpips")


class FeatureLoss(nn.Module):
    """criterion(VGG19_layer(x), VGG19_layer(target)); target features carry no gradient."""

    def __init__(self, criterion="l1", layer="conv5_4", pretrained=True, weights_dir=None, download=True):
        super().__init__()
        if criterion not in FEATURE_CRITERIA:
            raise RwsrError(f"feature_criterion: unknown {criterion!r} for the VGG loss; "
                            f"valid: {', '.join(FEATURE_CRITERIA)} (or lpips through LPIPSLoss)")
        self.distance = F.l1_loss if criterion == "l1" else F.mse_loss
        self.vgg = VGGFeatureExtractor(layer=layer, pretrained=pretrained, weights_dir=weights_dir, download=download)

    def forward(self, x, target):
        with torch.no_grad():
            target_features = self.vgg(target)
        return self.distance(self.vgg(x), target_features)


class LPIPSLoss(nn.Module):
    """Mean LPIPS (AlexNet) distance between x and target, both RGB in [0, 1]."""

    def __init__(self, pretrained=True, weights_dir=None, download=True):
        super().__init__()
        self.lpips = LPIPSNetwork(pretrained=pretrained, weights_dir=weights_dir, download=download)

    def forward(self, x, target):
        return self.lpips(x, target).mean()
